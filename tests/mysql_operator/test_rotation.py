"""The password rotation: its Job, its script (run with a stand-in server), its protocol."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from mysqlfakes import NASTY_PASSWORD, SEED_PASSWORD, FakeKube, install_stand_ins, seed_cr

from mysql_operator import NotReady
from mysql_operator._rotation import (
    DIGEST_ANNOTATION,
    ROTATE_SCRIPT,
    PasswordRotation,
    RotationPhase,
)
from mysql_operator._secret import PASSWORD_KEY, PENDING_KEY, CredentialsSecret

NEW = NASTY_PASSWORD.encode()
OLD = SEED_PASSWORD.encode()
JOB = "rotate-mysql-instance-job"


def _rotation(fake_kube: FakeKube, current: bytes = OLD) -> PasswordRotation:
    cr = seed_cr()
    secret = CredentialsSecret(cr, fake_kube)
    fake_kube.put(secret.manifest(current))
    return PasswordRotation(cr, fake_kube, secret)


def _data(fake_kube: FakeKube) -> dict[str, bytes]:
    stored = fake_kube.stored("Secret", "mysql-instance-credentials")["data"]
    return {k: base64.b64decode(v) for k, v in stored.items()}


def test_manifest_has_no_password() -> None:
    cr = seed_cr(password=NASTY_PASSWORD)
    rotation = PasswordRotation(cr, FakeKube(), CredentialsSecret(cr, FakeKube()))
    manifest = rotation.manifest(NEW)
    text = json.dumps(manifest, ensure_ascii=False)
    assert NASTY_PASSWORD not in text
    assert base64.b64encode(NEW).decode() not in text
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
            if "valueFrom" in e}
    assert refs == {
        "CURRENT_PASSWORD": {"name": "mysql-instance-credentials", "key": PASSWORD_KEY},
        "NEW_PASSWORD": {"name": "mysql-instance-credentials", "key": PENDING_KEY},
    }
    assert manifest["metadata"]["name"] == JOB
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == cr.uid
    assert manifest["metadata"]["annotations"][DIGEST_ANNOTATION].startswith("hmac-sha256:")
    assert manifest["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [3]


async def test_in_sync_does_nothing(fake_kube: FakeKube) -> None:
    progress = await _rotation(fake_kube).run(OLD)
    assert progress.phase is RotationPhase.IN_SYNC
    assert ("Job", JOB) not in fake_kube.kinds()


async def test_a_rotation_end_to_end(fake_kube: FakeKube) -> None:
    rotation = _rotation(fake_kube)
    assert (await rotation.run(NEW)).phase is RotationPhase.RUNNING
    assert _data(fake_kube) == {PASSWORD_KEY: OLD, PENDING_KEY: NEW}
    assert (await rotation.run(NEW)).phase is RotationPhase.RUNNING
    fake_kube.finish_job(JOB, succeeded=True,
                         message='{"result": "rotated", "authenticated": "current"}')
    progress = await rotation.run(NEW)
    assert progress.phase is RotationPhase.ROTATED
    assert "current password" in progress.message
    assert _data(fake_kube) == {PASSWORD_KEY: NEW}
    assert ("Job", JOB) not in fake_kube.kinds()
    assert (await rotation.run(NEW)).phase is RotationPhase.IN_SYNC


async def test_pending_never_changes_under_a_running_job(fake_kube: FakeKube) -> None:
    rotation = _rotation(fake_kube)
    await rotation.run(NEW)
    assert (await rotation.run(b"third")).phase is RotationPhase.RUNNING
    assert _data(fake_kube)[PENDING_KEY] == NEW
    fake_kube.finish_job(JOB, succeeded=True, message='{"result": "rotated"}')
    assert (await rotation.run(b"third")).phase is RotationPhase.ROTATED
    assert _data(fake_kube) == {PASSWORD_KEY: NEW}
    # Then on to the third password.
    assert (await rotation.run(b"third")).phase is RotationPhase.RUNNING
    assert _data(fake_kube) == {PASSWORD_KEY: NEW, PENDING_KEY: b"third"}


async def test_a_crash_after_promotion_only_cleans_up(fake_kube: FakeKube) -> None:
    rotation = _rotation(fake_kube)
    await rotation.run(NEW)
    fake_kube.finish_job(JOB, succeeded=True, message='{"result": "rotated"}')
    await rotation._secret.promote(NEW)
    with pytest.raises(NotReady, match="removed the finished Job"):
        await rotation.run(NEW)
    assert (await rotation.run(NEW)).phase is RotationPhase.IN_SYNC


async def test_a_refused_rotation_changes_nothing_and_is_reported_once(
    fake_kube: FakeKube,
) -> None:
    rotation = _rotation(fake_kube)
    await rotation.run(NEW)
    fake_kube.finish_job(JOB, succeeded=False,
                         message='{"result": "unauthenticated", "authenticated": "none"}')
    first = await rotation.run(NEW)
    assert first.phase is RotationPhase.REFUSED
    assert first.new
    again = await rotation.run(NEW)
    assert again.phase is RotationPhase.REFUSED
    assert not again.new
    assert _data(fake_kube)[PASSWORD_KEY] == OLD
    # A new password is a new attempt.
    with pytest.raises(NotReady, match="changed again"):
        await rotation.run(b"other")
    assert (await rotation.run(b"other")).phase is RotationPhase.RUNNING
    assert _data(fake_kube)[PENDING_KEY] == b"other"


async def test_an_unreachable_server_is_retried(fake_kube: FakeKube) -> None:
    rotation = _rotation(fake_kube)
    await rotation.run(NEW)
    fake_kube.finish_job(JOB, succeeded=False, message="cannot reach the server")
    with pytest.raises(NotReady, match="retrying") as caught:
        await rotation.run(NEW)
    assert caught.value.delay == 30
    assert ("Job", JOB) not in fake_kube.kinds()


# The script, with a stand-in `mysql` that plays a server holding one password.

FAKE_MYSQL = r"""#!/bin/sh
# Stand-in server: the password it accepts is in $STATE; SQL arrives on stdin.
echo "$*" >> "$CALLS"
case "$*" in *--execute=*) ;; *) cat > "$SQL" ;; esac
if [ "$MYSQL_PWD" != "$(cat "$STATE")" ]; then
  echo "ERROR 1045 (28000): Access denied for user 'root'" >&2; exit 1
fi
case "$*" in *--execute=*) exit 0 ;; esac
printf '%s' "$NEW_PASSWORD" > "$STATE"
"""


def _run_script(tmp_path: Path, server: bytes, current: bytes, new: bytes,
                unreachable: int = 0) -> tuple[int, dict[str, str], str, str]:
    install_stand_ins(tmp_path / "bin", mysql=FAKE_MYSQL)
    bin_dir = tmp_path / "bin"
    (tmp_path / "state").write_bytes(server)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(tmp_path / "state"), "CALLS": str(tmp_path / "calls"),
        "SQL": str(tmp_path / "sql"), "TERMINATION_LOG": str(tmp_path / "term"),
        "MYSQL_HOST": "mysql-instance", "MYSQL_PORT": "3306",
        "PINGS": str(tmp_path / "pings"), "UNREACHABLE": str(unreachable),
    }
    envb = {k.encode(): v.encode() for k, v in env.items()}
    envb[b"CURRENT_PASSWORD"] = current
    envb[b"NEW_PASSWORD"] = new
    done = subprocess.run(["sh", "-c", ROTATE_SCRIPT], env=envb, capture_output=True,
                          check=False)
    term = tmp_path / "term"
    summary = json.loads(term.read_text()) if term.exists() else {}
    sql = (tmp_path / "sql").read_text() if (tmp_path / "sql").exists() else ""
    calls = (tmp_path / "calls").read_text()
    return done.returncode, summary, sql, calls


def test_script_rotates_with_the_current_password(tmp_path: Path) -> None:
    code, summary, sql, calls = _run_script(tmp_path, OLD, OLD, NEW)
    assert code == 0
    assert summary == {"result": "rotated", "authenticated": "current"}
    assert (tmp_path / "state").read_bytes() == NEW
    # The password reaches SQL only as hex digits, quoted by the server.
    assert f"QUOTE(X'{NEW.hex()}')" in sql
    assert "'root'@'localhost'" in sql.replace("''", "'")
    assert NASTY_PASSWORD not in sql
    assert NASTY_PASSWORD not in calls  # never on a command line


def test_script_finishes_a_half_done_rotation(tmp_path: Path) -> None:
    code, summary, _, _ = _run_script(tmp_path, NEW, OLD, NEW)
    assert code == 0
    assert summary["authenticated"] == "new"


def test_script_waits_for_the_server(tmp_path: Path) -> None:
    code, summary, _, _ = _run_script(tmp_path, OLD, OLD, NEW, unreachable=2)
    assert code == 0
    assert summary["result"] == "rotated"
    assert len((tmp_path / "pings").read_text().splitlines()) == 3


def test_script_refuses_when_neither_password_works(tmp_path: Path) -> None:
    code, summary, sql, _ = _run_script(tmp_path, b"something else", OLD, NEW)
    assert code == 3
    assert summary["result"] == "unauthenticated"
    assert sql == ""
    assert (tmp_path / "state").read_bytes() == b"something else"
