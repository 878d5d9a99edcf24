"""The backup and restore Jobs: manifests, scripts (run for real), state machines."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mysqlfakes import NASTY_PASSWORD, SEED_PASSWORD, FakeKube, install_stand_ins, seed_cr

from mysql_operator import BackupJob, JobPhase, NotReady, RestoreFailed, RestoreJob
from mysql_operator._jobs import (
    ATTEMPT_ANNOTATION,
    BACKUP_SCRIPT,
    MAX_BACKUP_RETRY_DELAY,
    PASSWORD_FALLBACK,
    RESTORE_SCRIPT,
    SERVER_WAIT_ATTEMPTS,
    WAIT_FOR_SERVER,
    backup_retry_delay,
    dump_time,
    job_phase,
)
from mysql_operator._model import OWNER_UID_ANNOTATION

UID = "11111111-2222-3333-4444-555555555555"


def _pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("job_class", [BackupJob, RestoreJob])
def test_job_manifest(fake_kube: FakeKube, job_class: type[BackupJob | RestoreJob]) -> None:
    job = job_class(seed_cr(), fake_kube).manifest()
    assert job["metadata"]["labels"]["app"] == "mysql-instance"
    assert job["metadata"]["labels"]["otus.homework/instance"] == "mysql-instance"
    assert job["spec"]["backoffLimit"] <= 3
    pod = _pod_spec(job)
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == "mysql:5.7"
    assert container["command"][:2] == ["sh", "-c"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["volumes"] == [
        {"name": "backup", "persistentVolumeClaim": {"claimName": "backup-mysql-instance-pvc"}}]
    env = {e["name"]: e for e in container["env"]}
    assert env["MYSQL_PWD"]["valueFrom"] == {
        "secretKeyRef": {"name": "mysql-instance-credentials", "key": "password"}}
    assert env["MYSQL_HOST"]["value"] == "mysql-instance"
    assert env["MYSQL_DATABASE"]["value"] == "otus-database"


@pytest.mark.parametrize("job_class", [BackupJob, RestoreJob])
def test_job_pods_are_not_mysql_pods(
    fake_kube: FakeKube, job_class: type[BackupJob | RestoreJob]
) -> None:
    """The Service and `kubectl get pods -l app=<name>` must find the server only."""
    labels = job_class(seed_cr(), fake_kube).manifest()["spec"]["template"]["metadata"]["labels"]
    assert "app" not in labels


def test_backup_job_outlives_the_object(fake_kube: FakeKube) -> None:
    job = BackupJob(seed_cr(), fake_kube).manifest()
    assert job["metadata"]["name"] == "backup-mysql-instance-job"
    assert "ownerReferences" not in job["metadata"]
    assert job["metadata"]["annotations"][OWNER_UID_ANNOTATION] == UID


def test_restore_job_is_owned(fake_kube: FakeKube) -> None:
    cr = seed_cr()
    job = RestoreJob(cr, fake_kube).manifest()
    assert job["metadata"]["name"] == "restore-mysql-instance-job"
    assert job["metadata"]["ownerReferences"] == [cr.owner_reference()]


@pytest.mark.parametrize("script", [BACKUP_SCRIPT, RESTORE_SCRIPT])
def test_scripts_never_handle_the_password(script: str) -> None:
    # The one exception moves it from one environment variable to another.
    assert script.startswith("set -eu\n")
    assert WAIT_FOR_SERVER + PASSWORD_FALLBACK in script
    assert '"$PENDING_PASSWORD"' not in PASSWORD_FALLBACK.replace(
        'MYSQL_PWD="$PENDING_PASSWORD"; export MYSQL_PWD', "")
    script = script.replace(PASSWORD_FALLBACK, "")
    assert "MYSQL_PWD" not in script
    assert "-p" not in script.replace("--protocol", "").replace("--port", "")
    assert "password" not in script.lower()


@pytest.mark.parametrize("job_class", [BackupJob, RestoreJob])
def test_no_literal_password_in_jobs(
    fake_kube: FakeKube, job_class: type[BackupJob | RestoreJob]
) -> None:
    text = json.dumps(job_class(seed_cr(password=NASTY_PASSWORD), fake_kube).manifest())
    assert SEED_PASSWORD not in text
    assert json.dumps(NASTY_PASSWORD)[1:-1] not in text


# The scripts, run by sh with stand-in clients that check what they are given.

FAKE_CLIENT = """#!/bin/sh
# Records its arguments; refuses to work unless the password came via MYSQL_PWD.
printf '%s\\n' "$(basename "$0")" "$@" >> "$CALLS"
for arg in "$@"; do
  case "$arg" in *"$EXPECTED_PWD"*) echo "password on the command line" >&2; exit 9;; esac
done
[ "$MYSQL_PWD" = "$EXPECTED_PWD" ] || { echo "wrong MYSQL_PWD" >&2; exit 8; }
[ -n "${FAIL:-}" ] && { echo "Got error: 2005: Unknown server host" >&2; exit 2; }
case "$(basename "$0")" in
  mysqldump) echo "-- dump of the database";;
  mysql) cat > /dev/null;;
esac
"""

def _run(script: str, tmp_path: Path, *, database: str = "otus-database",
         fail: bool = False, unreachable: int = 0) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    install_stand_ins(bin_dir, mysql=FAKE_CLIENT, mysqldump=FAKE_CLIENT)
    (tmp_path / "backup").mkdir(exist_ok=True)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MYSQL_HOST": "mysql-instance",
        "MYSQL_PORT": "3306",
        "MYSQL_DATABASE": database,
        "MYSQL_PWD": NASTY_PASSWORD,
        "EXPECTED_PWD": NASTY_PASSWORD,
        "BACKUP_DIR": str(tmp_path / "backup"),
        "TERMINATION_LOG": str(tmp_path / "termination-log"),
        "CALLS": str(tmp_path / "calls"),
        "PINGS": str(tmp_path / "pings"),
        "UNREACHABLE": str(unreachable),
        **({"FAIL": "1"} if fail else {}),
    }
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=30, check=False)


def _calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def _summary(tmp_path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((tmp_path / "termination-log").read_text())
    return summary


@pytest.mark.parametrize("database", ["otus-database", "$weird_db", "-starts-with-dash"])
def test_backup_script(tmp_path: Path, database: str) -> None:
    result = _run(BACKUP_SCRIPT, tmp_path, database=database)
    assert result.returncode == 0, result.stderr
    summary = _summary(tmp_path)
    dumps = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert dumps == [summary["file"]]
    assert summary["size"] == (tmp_path / "backup" / summary["file"]).stat().st_size > 0
    assert dump_time(summary["file"]) is not None
    calls = _calls(tmp_path)
    assert calls[0] == "mysqldump"
    assert calls[-2:] == ["--", database]
    assert NASTY_PASSWORD not in result.stdout + result.stderr


def test_a_failed_backup_keeps_the_previous_dump(tmp_path: Path) -> None:
    (tmp_path / "backup").mkdir()
    good = tmp_path / "backup" / "dump-20260101T000000Z.sql"
    good.write_text("-- good dump")
    result = _run(BACKUP_SCRIPT, tmp_path, fail=True)
    assert result.returncode != 0
    assert "Unknown server host" in result.stderr
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [good.name]
    assert good.read_text() == "-- good dump"
    assert not (tmp_path / "termination-log").exists()


def _pings(tmp_path: Path) -> int:
    pings = tmp_path / "pings"
    return len(pings.read_text().splitlines()) if pings.exists() else 0


@pytest.mark.parametrize("script", [BACKUP_SCRIPT, RESTORE_SCRIPT])
def test_scripts_wait_for_the_server(tmp_path: Path, script: str) -> None:
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "dump-20260101T000000Z.sql").write_text("x")
    result = _run(script, tmp_path, unreachable=3)
    assert result.returncode == 0, result.stderr
    assert _pings(tmp_path) == 4
    assert _summary(tmp_path)["file"]


@pytest.mark.parametrize("script", [BACKUP_SCRIPT, RESTORE_SCRIPT])
def test_scripts_give_up_on_a_silent_server(tmp_path: Path, script: str) -> None:
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "dump-20260101T000000Z.sql").write_text("x")
    result = _run(script, tmp_path, unreachable=1000)
    assert result.returncode == 2
    assert _pings(tmp_path) == SERVER_WAIT_ATTEMPTS
    assert f"no answer from mysql-instance:3306 after {SERVER_WAIT_ATTEMPTS} attempts" \
        in result.stderr
    assert "Can't connect to server" in result.stderr
    assert not (tmp_path / "calls").exists()
    assert not (tmp_path / "termination-log").exists()


def test_restore_script_without_backups(tmp_path: Path) -> None:
    # Nothing to restore: the server is not even asked.
    result = _run(RESTORE_SCRIPT, tmp_path, unreachable=1000)
    assert result.returncode == 0, result.stderr
    assert _summary(tmp_path)["file"] is None
    assert not (tmp_path / "calls").exists()
    assert _pings(tmp_path) == 0


@pytest.mark.parametrize("database", ["otus-database", "$weird_db"])
def test_restore_script_loads_the_newest_dump(tmp_path: Path, database: str) -> None:
    (tmp_path / "backup").mkdir()
    for stamp in ("20260101T000000Z", "20260301T000000Z", "20260201T000000Z"):
        (tmp_path / "backup" / f"dump-{stamp}.sql").write_text(stamp)
    (tmp_path / "backup" / "dump-20270101T000000Z.sql.tmp").write_text("partial")
    result = _run(RESTORE_SCRIPT, tmp_path, database=database)
    assert result.returncode == 0, result.stderr
    assert _summary(tmp_path)["file"] == "dump-20260301T000000Z.sql"
    calls = _calls(tmp_path)
    assert f"--execute=CREATE DATABASE IF NOT EXISTS `{database}`" in calls
    assert f"--database={database}" in calls
    assert NASTY_PASSWORD not in result.stdout + result.stderr


def test_a_failed_restore_fails_the_job(tmp_path: Path) -> None:
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "dump-20260101T000000Z.sql").write_text("x")
    assert _run(RESTORE_SCRIPT, tmp_path, fail=True).returncode != 0


# Reading Jobs.

@pytest.mark.parametrize(("conditions", "phase"), [
    ([], JobPhase.RUNNING),
    ([{"type": "Complete", "status": "True"}], JobPhase.SUCCEEDED),
    ([{"type": "Failed", "status": "True"}], JobPhase.FAILED),
    ([{"type": "Failed", "status": "False"}], JobPhase.RUNNING),
    ([{"type": "Suspended", "status": "True"}], JobPhase.RUNNING),
])
def test_job_phase(conditions: list[dict[str, str]], phase: JobPhase) -> None:
    assert job_phase({"status": {"conditions": conditions}}) is phase


def test_job_phase_of_nothing() -> None:
    assert job_phase(None) is JobPhase.ABSENT


def test_dump_time() -> None:
    assert dump_time("dump-20260102T030405Z.sql") == "2026-01-02T03:04:05Z"
    assert dump_time("something-else.sql") is None


async def test_backup_job_run(fake_kube: FakeKube) -> None:
    job = BackupJob(seed_cr(), fake_kube)
    assert (await job.run()).phase is JobPhase.RUNNING
    assert ("create", "Job default/backup-mysql-instance-job") in fake_kube.calls
    assert (await job.run()).phase is JobPhase.RUNNING
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=True, message=json.dumps(
        {"file": "dump-20260102T030405Z.sql", "size": 1234, "time": "2026-01-02T03:04:09Z"}))
    progress = await job.run()
    assert progress.phase is JobPhase.SUCCEEDED
    assert progress.result is not None
    assert progress.result.file == "dump-20260102T030405Z.sql"
    assert progress.result.size == 1234
    assert progress.result.time == "2026-01-02T03:04:09Z"
    assert progress.result.job == "backup-mysql-instance-job"
    # The successful Job stays, as in the seed's `kubectl get jobs`.
    assert ("Job", "backup-mysql-instance-job") in fake_kube.kinds()


async def test_a_failed_backup_job_stays_until_the_next_attempt_is_due(
    fake_kube: FakeKube,
) -> None:
    failed_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = BackupJob(seed_cr(), fake_kube)
    await job.run()
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=False,
                         message="mysqldump: Got error: 2005: Unknown server host",
                         at="2026-01-02T03:04:05Z")
    progress = await job.run(now=failed_at + timedelta(seconds=4))
    assert progress.phase is JobPhase.FAILED
    assert "BackoffLimitExceeded" in progress.failure
    assert "Unknown server host" in progress.failure
    assert (progress.attempt, progress.retry_in, progress.new_failure) == (1, 6.0, True)
    # Seen again: the same failure, not a new one; the Job is still the record.
    progress = await job.run(now=failed_at + timedelta(seconds=9))
    assert (progress.phase, progress.retry_in, progress.new_failure) == (JobPhase.FAILED, 1.0,
                                                                         False)
    assert ("Job", "backup-mysql-instance-job") in fake_kube.kinds()

    progress = await job.run(now=failed_at + timedelta(seconds=10))
    assert (progress.phase, progress.attempt, progress.started) == (JobPhase.RUNNING, 2, True)
    stored = fake_kube.stored("Job", "backup-mysql-instance-job")
    assert stored["metadata"]["annotations"][ATTEMPT_ANNOTATION] == "2"
    assert "status" not in stored

    fake_kube.finish_job("backup-mysql-instance-job", succeeded=False, message="again",
                         at="2026-01-02T03:10:00Z")
    progress = await job.run(now=datetime(2026, 1, 2, 3, 10, 5, tzinfo=UTC))
    assert (progress.attempt, progress.retry_in, progress.new_failure) == (2, 15.0, True)


def test_backup_retries_back_off() -> None:
    delays = [backup_retry_delay(attempt) for attempt in range(1, 200)]
    assert delays[:4] == [10, 20, 40, 80]
    assert delays == sorted(delays)
    assert delays[-1] == MAX_BACKUP_RETRY_DELAY == 600


async def test_a_previous_objects_completed_backup_job_is_replaced(fake_kube: FakeKube) -> None:
    old = BackupJob(seed_cr(), fake_kube).manifest()
    old["metadata"]["annotations"][OWNER_UID_ANNOTATION] = "previous-uid"
    fake_kube.put(old)
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=True, message="{}")
    job = BackupJob(seed_cr(), fake_kube)
    with pytest.raises(NotReady, match="removed the earlier Job"):
        await job.run()
    assert (await job.run()).phase is JobPhase.RUNNING
    stored = fake_kube.stored("Job", "backup-mysql-instance-job")
    assert stored["metadata"]["annotations"][OWNER_UID_ANNOTATION] == UID


async def test_a_previous_objects_running_backup_job_is_waited_for(fake_kube: FakeKube) -> None:
    old = BackupJob(seed_cr(), fake_kube).manifest()
    old["metadata"]["annotations"][OWNER_UID_ANNOTATION] = "previous-uid"
    fake_kube.put(old)
    with pytest.raises(NotReady, match="still running"):
        await BackupJob(seed_cr(), fake_kube).run()
    assert ("Job", "backup-mysql-instance-job") in fake_kube.kinds()


async def test_a_job_being_deleted_is_waited_for(fake_kube: FakeKube) -> None:
    manifest = BackupJob(seed_cr(), fake_kube).manifest()
    manifest["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    fake_kube.put(manifest)
    with pytest.raises(NotReady, match="waiting for the deletion"):
        await BackupJob(seed_cr(), fake_kube).run()


async def test_restore_job_with_a_backup(fake_kube: FakeKube) -> None:
    job = RestoreJob(seed_cr(), fake_kube)
    assert await job.run() is None
    assert await job.run() is None
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True, message=json.dumps(
        {"file": "dump-20260102T030405Z.sql", "time": "2026-01-03T00:00:00Z"}))
    result = await job.run()
    assert result is not None
    assert result.file == "dump-20260102T030405Z.sql"
    assert result.backup_time == "2026-01-02T03:04:05Z"
    assert result.time == "2026-01-03T00:00:00Z"
    await job.teardown()
    assert ("Job", "restore-mysql-instance-job") not in fake_kube.kinds()


async def test_restore_job_without_a_backup(fake_kube: FakeKube) -> None:
    job = RestoreJob(seed_cr(), fake_kube)
    await job.run()
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True,
                         message='{"file": null, "time": "2026-01-03T00:00:00Z"}')
    result = await job.run()
    assert result is not None
    assert result.file is None
    assert result.backup_time is None


async def test_restore_job_without_a_summary_uses_the_completion_time(
    fake_kube: FakeKube,
) -> None:
    job = RestoreJob(seed_cr(), fake_kube)
    await job.run()
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True, message="")
    result = await job.run()
    assert result is not None
    assert result.time == "2026-01-02T03:04:05Z"


async def test_a_fresh_restore_result_is_waited_for(fake_kube: FakeKube) -> None:
    """A Job that just completed may not show its pod's termination message yet."""
    job = RestoreJob(seed_cr(), fake_kube)
    await job.run()
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True, message="")
    stored = fake_kube.stored("Job", "restore-mysql-instance-job")
    stored["status"]["completionTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(NotReady, match="waiting for the result"):
        await job.run()


async def test_restore_job_failure(fake_kube: FakeKube) -> None:
    job = RestoreJob(seed_cr(), fake_kube)
    await job.run()
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=False,
                         message="ERROR 1045 (28000): Access denied")
    with pytest.raises(RestoreFailed, match=r"Access denied.*delete Job restore-mysql-instance"):
        await job.run()
    assert ("Job", "restore-mysql-instance-job") in fake_kube.kinds()  # kept for its logs


async def test_restore_job_of_a_previous_object_is_removed(fake_kube: FakeKube) -> None:
    old = RestoreJob(seed_cr(), fake_kube).manifest()
    old["metadata"]["ownerReferences"][0]["uid"] = "previous-uid"
    fake_kube.put(old)
    with pytest.raises(NotReady, match="earlier Job"):
        await RestoreJob(seed_cr(), fake_kube).run()
    assert ("Job", "restore-mysql-instance-job") not in fake_kube.kinds()
    assert await RestoreJob(seed_cr(), fake_kube).run() is None


async def test_a_missing_termination_message_is_read_from_the_log(fake_kube: FakeKube) -> None:
    """The kubelet sometimes drops the message of a very short container."""
    job = RestoreJob(seed_cr(), fake_kube)
    await job.run()
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True, message="")
    fake_kube.pod_logs[("default", "restore-mysql-instance-job-abcde")] = (
        "restoring /backup/dump-20260102T030405Z.sql into database otus-database\n"
        "restore complete\n"
        '{"file": "dump-20260102T030405Z.sql", "time": "2026-01-03T00:00:00Z"}\n')
    result = await job.run()
    assert result is not None
    assert result.file == "dump-20260102T030405Z.sql"
