"""The credentials Secret and where the password comes from."""

from __future__ import annotations

import base64

import pytest
from mysqlfakes import NASTY_PASSWORD, SEED_PASSWORD, FakeKube, seed_body, seed_cr

from mysql_operator import CredentialsSecret, MySQL, NotReady, redact
from mysql_operator._secret import REDACTED, resolve_password


def _secret_cr(name: str = "db-root", key: str = "root") -> MySQL:
    body = seed_body(password_secret={"name": name, "key": key})
    del body["spec"]["password"]
    return MySQL.from_body(body)


def _user_secret(data: dict[str, str]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db-root", "namespace": "default"}, "data": data}


def test_manifest(fake_kube: FakeKube) -> None:
    cr = seed_cr()
    manifest = CredentialsSecret(cr, fake_kube).manifest(NASTY_PASSWORD.encode())
    assert manifest["metadata"]["name"] == "mysql-instance-credentials"
    assert manifest["metadata"]["ownerReferences"] == [cr.owner_reference()]
    assert manifest["type"] == "Opaque"
    assert base64.b64decode(manifest["data"]["password"]).decode() == NASTY_PASSWORD
    assert "stringData" not in manifest


async def test_the_first_password_is_kept(fake_kube: FakeKube) -> None:
    """The server only reads MYSQL_ROOT_PASSWORD at its first start: ensure() never changes it."""
    secret = CredentialsSecret(seed_cr(), fake_kube)
    await secret.ensure(b"one")
    await secret.ensure(b"two")
    assert await secret.read() == (b"one", None)


async def test_pending_and_promotion(fake_kube: FakeKube) -> None:
    secret = CredentialsSecret(seed_cr(), fake_kube)
    await secret.ensure(b"one")
    await secret.set_pending(b"two \xe2\x98\x83")
    assert await secret.read() == (b"one", b"two \xe2\x98\x83")
    await secret.promote(b"two \xe2\x98\x83")
    assert await secret.read() == (b"two \xe2\x98\x83", None)
    await secret.set_pending(b"three")
    await secret.drop_pending()
    assert await secret.read() == (b"two \xe2\x98\x83", None)


async def test_a_missing_secret_cannot_take_a_pending_password(fake_kube: FakeKube) -> None:
    with pytest.raises(NotReady):
        await CredentialsSecret(seed_cr(), fake_kube).set_pending(b"x")


async def test_ensure_and_teardown(fake_kube: FakeKube) -> None:
    secret = CredentialsSecret(seed_cr(), fake_kube)
    await secret.ensure(b"one")
    assert ("Secret", "mysql-instance-credentials") in fake_kube.kinds()
    await secret.teardown()
    await secret.teardown()  # absent: tolerated
    assert fake_kube.objects == {}


async def test_inline_password(fake_kube: FakeKube) -> None:
    assert await resolve_password(seed_cr(), fake_kube) == SEED_PASSWORD.encode()
    assert fake_kube.calls == []


async def test_password_from_the_users_secret_is_copied_as_bytes(fake_kube: FakeKube) -> None:
    raw = b"\xff\xfenot-utf8"
    fake_kube.put(_user_secret({"root": base64.b64encode(raw).decode()}))
    assert await resolve_password(_secret_cr(), fake_kube) == raw


async def test_waits_for_a_missing_secret(fake_kube: FakeKube) -> None:
    with pytest.raises(NotReady, match="waiting for Secret default/db-root") as caught:
        await resolve_password(_secret_cr(), fake_kube)
    assert caught.value.delay >= 10


async def test_waits_for_a_missing_key(fake_kube: FakeKube) -> None:
    fake_kube.put(_user_secret({"other": "eA=="}))
    with pytest.raises(NotReady, match="key 'root'"):
        await resolve_password(_secret_cr(), fake_kube)


async def test_reports_bad_base64(fake_kube: FakeKube) -> None:
    fake_kube.put(_user_secret({"root": "not base64!"}))
    with pytest.raises(NotReady, match="not valid base64"):
        await resolve_password(_secret_cr(), fake_kube)


def test_redact_hides_every_secret_value(fake_kube: FakeKube) -> None:
    manifest = CredentialsSecret(seed_cr(), fake_kube).manifest(b"hunter2")
    manifest["stringData"] = {"extra": "hunter2"}
    redacted = redact(manifest)
    assert redacted["data"] == {"password": REDACTED}
    assert redacted["stringData"] == {"extra": REDACTED}
    assert "hunter2" not in repr(redacted)
    assert base64.b64encode(b"hunter2").decode() not in repr(redacted)
    assert base64.b64decode(manifest["data"]["password"]) == b"hunter2"  # original untouched


def test_redact_leaves_other_kinds_alone() -> None:
    service = {"kind": "Service", "data": {"a": "b"}}
    assert redact(service) == {"kind": "Service", "data": {"a": "b"}}
