"""mysql_operator.client: pure parts, the watch loop against a fake API, and the real cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import kr8s
import pytest

from mysql_operator import MySQLSpec, Resources, SecretKeyRef, parse_spec
from mysql_operator.client import (
    AlreadyExists,
    ApiError,
    BackupFailed,
    InstanceFailed,
    InstanceNotFound,
    MySQLClient,
    MySQLObject,
    SpecRejected,
    SyncMySQLClient,
    WaitError,
    WaitTimeout,
    api_error,
    manifest,
    until_deleted,
    until_ready,
)
from tests.conftest import Kubectl, OperatorProcess

PASSWORD = "s3cr3t-Pa55word"
SPEC = MySQLSpec(image="mysql:5.7", database="otus-database", storage_size="1Gi",
                 password_secret=SecretKeyRef("db", "password"))


def body(*, status: dict[str, Any] | None = None, generation: int = 1,
         deleting: bool = False, name: str = "mysql-instance") -> dict[str, Any]:
    """A MySQL object as the API server returns it."""
    metadata: dict[str, Any] = {
        "name": name, "namespace": "demo", "uid": "u-1", "generation": generation,
        "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z",
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    found = {"apiVersion": "otus.homework/v1", "kind": "MySQL", "metadata": metadata,
             "spec": {"image": "mysql:5.7", "database": "otus-database", "storage_size": "1Gi",
                      "password_secret": {"name": "db", "key": "password"}}}
    if status is not None:
        found["status"] = status
    return found


def ready_status(generation: int = 1) -> dict[str, Any]:
    return {
        "phase": "Ready", "message": "mysql-instance created without restore-job",
        "observedGeneration": generation,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                        "message": "the MySQL server answers",
                        "lastTransitionTime": "2026-01-01T00:01:00Z",
                        "observedGeneration": generation}],
        "restore": {"source": "none", "time": "2026-01-01T00:01:00Z"},
    }


BACKUP = {"time": "2026-01-01T01:00:05Z", "job": "backup-mysql-instance-job",
          "file": "dump-20260101T010000Z.sql", "size": 1234}


# --- spec -> manifest -----------------------------------------------------------------


def test_manifest_keys_the_spec_as_the_crd_does() -> None:
    spec = MySQLSpec(image="mysql:5.7", database="otus-database", storage_size="1Gi",
                     password_secret=SecretKeyRef("db", "password"),
                     resources=Resources(limits={"memory": "1Gi"}))
    made = manifest("mysql-instance", spec, namespace="demo", labels={"team": "a"})
    assert made == {
        "apiVersion": "otus.homework/v1",
        "kind": "MySQL",
        "metadata": {"name": "mysql-instance", "namespace": "demo", "labels": {"team": "a"}},
        "spec": {"image": "mysql:5.7", "database": "otus-database", "storage_size": "1Gi",
                 "password_secret": {"name": "db", "key": "password"},
                 "resources": {"limits": {"memory": "1Gi"}}},
    }
    # What the operator parses back is exactly what was sent.
    assert parse_spec(made["spec"]) == spec


def test_manifest_inline_password() -> None:
    spec = MySQLSpec(image="mysql:5.7", database="d", storage_size="1Gi", password=PASSWORD)
    made = manifest("m", spec, namespace="demo")
    assert made["spec"]["password"] == PASSWORD
    assert "password_secret" not in made["spec"]
    assert PASSWORD not in repr(spec)


# --- status parsing and readiness -----------------------------------------------------


def test_object_parses_typed_status() -> None:
    status = {**ready_status(), "lastBackup": BACKUP,
              "restore": {"source": "dump-x.sql", "time": "t", "backupTime": "b"},
              "somethingNew": 1}
    obj = MySQLObject.from_body(body(status=status))
    assert (obj.name, obj.namespace, obj.uid, obj.generation) == (
        "mysql-instance", "demo", "u-1", 1)
    assert obj.spec == SPEC
    assert obj.resource_version == "42"
    assert obj.status.phase == "Ready"
    assert obj.last_backup is not None
    assert obj.last_backup.size == 1234
    assert obj.restore is not None
    assert obj.restore.backup_time == "b"
    ready = obj.condition("Ready")
    assert ready is not None
    assert ready.last_transition_time == "2026-01-01T00:01:00Z"
    assert obj.condition("BackupSucceeded") is None
    assert obj.ready
    assert not obj.failed
    assert not obj.deleting
    assert obj.names.backup_job == "backup-mysql-instance-job"


def test_object_without_status() -> None:
    obj = MySQLObject.from_body(body())
    assert obj.status.phase is None
    assert not obj.ready
    assert obj.describe() == "no status yet: -"


def test_ready_needs_the_current_generation() -> None:
    stale = MySQLObject.from_body(body(status=ready_status(generation=1), generation=2))
    assert not stale.ready
    failed_before = MySQLObject.from_body(body(
        status={"phase": "Failed", "message": "x", "observedGeneration": 1}, generation=2))
    assert not failed_before.failed


def test_until_ready() -> None:
    pending = MySQLObject.from_body(body(status={"phase": "Pending", "message": "waiting"}))
    assert until_ready("INITIAL", pending) == (False, pending)
    ready = MySQLObject.from_body(body(status=ready_status()))
    assert until_ready("MODIFIED", ready) == (True, ready)
    failed = MySQLObject.from_body(body(status={"phase": "Failed", "message": "bad image",
                                                "observedGeneration": 1}))
    with pytest.raises(InstanceFailed, match="bad image") as caught:
        until_ready("MODIFIED", failed)
    assert caught.value.status == failed.status
    with pytest.raises(WaitError, match="deleted"):
        until_ready("DELETED", ready)
    with pytest.raises(InstanceNotFound):
        until_ready("INITIAL", None)
    with pytest.raises(WaitError, match="being deleted"):
        until_ready("MODIFIED", MySQLObject.from_body(body(status=ready_status(), deleting=True)))


def test_until_deleted() -> None:
    decide = until_deleted(tolerate_backup_failure=False)
    backing_up = MySQLObject.from_body(body(status={"phase": "BackingUp"}, deleting=True))
    assert decide("MODIFIED", backing_up) == (False, backing_up)
    gone = MySQLObject.from_body(body(status={"phase": "BackingUp", "lastBackup": BACKUP},
                                      deleting=True))
    assert decide("DELETED", gone) == (True, gone)
    assert decide("INITIAL", None) == (True, None)
    failed = MySQLObject.from_body(body(
        status={"phase": "BackupFailed", "message": "Job backup-x failed"}, deleting=True))
    with pytest.raises(BackupFailed, match="Job backup-x failed"):
        decide("MODIFIED", failed)
    assert until_deleted(tolerate_backup_failure=True)("MODIFIED", failed) == (False, failed)


# --- errors -----------------------------------------------------------------------------


def server_error(code: int, reason: str, message: str, **details: Any) -> kr8s.ServerError:
    status = {"kind": "Status", "code": code, "reason": reason, "message": message,
              "details": details}
    response = httpx.Response(code, json=status, request=httpx.Request("POST", "https://k8s/x"))
    return kr8s.ServerError(message, status=status, response=response)


def test_rejection_surfaces_the_servers_message_without_the_password() -> None:
    exc = server_error(
        422, "Invalid", f'MySQL "m" is invalid: spec.password: Invalid value: "{PASSWORD}"',
        causes=[{"field": "spec.password", "message": f'Invalid value: "{PASSWORD}"'}])
    error = api_error(exc, what="MySQL demo/m", secret=PASSWORD)
    assert isinstance(error, SpecRejected)
    assert error.code == 422
    assert error.reason == "Invalid"
    assert "spec.password: Invalid value" in str(error)
    assert PASSWORD not in str(error)
    assert PASSWORD not in " ".join(error.causes)
    assert error.causes == ('spec.password: Invalid value: "<redacted>"',)


def test_error_kinds() -> None:
    assert isinstance(api_error(server_error(409, "AlreadyExists", "exists"), what="x"),
                      AlreadyExists)
    missing = api_error(server_error(404, "NotFound", "nope"), what="MySQL demo/m")
    assert isinstance(missing, InstanceNotFound)
    assert isinstance(missing, LookupError)
    assert str(missing) == "MySQL demo/m not found"
    no_crd = api_error(server_error(404, "NotFound", "the server could not find it"),
                       what="MySQL objects", named=False)
    assert type(no_crd) is ApiError
    assert "CRD" in str(no_crd)
    forbidden = api_error(server_error(403, "Forbidden", "no"), what="x")
    assert type(forbidden) is ApiError
    assert forbidden.code == 403
    unreachable = api_error(httpx.ConnectError("refused"), what="x")
    assert type(unreachable) is ApiError
    assert unreachable.code == 0


# --- the client against a fake API server -----------------------------------------------


class FakeApi:
    """kr8s.asyncio.Api.call_api answering from a function; watch answers are event lists."""

    namespace = "default"

    def __init__(self, answer: Callable[[str, dict[str, Any]], Any]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []

    @contextlib.asynccontextmanager
    async def call_api(self, method: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        self.requests.append({"method": method, **kwargs})
        payload = self.answer(method, kwargs)
        if isinstance(payload, Exception):
            raise payload
        request = httpx.Request(method, "https://k8s/x")
        if kwargs.get("stream"):
            lines = "".join(json.dumps(event) + "\n" for event in payload)
            yield httpx.Response(200, content=lines.encode(), request=request)
        else:
            yield httpx.Response(200, json=payload, request=request)


def listing(*items: dict[str, Any], version: str = "100") -> dict[str, Any]:
    return {"kind": "MySQLList", "metadata": {"resourceVersion": version}, "items": list(items)}


async def test_create_posts_the_manifest(caplog: pytest.LogCaptureFixture) -> None:
    spec = MySQLSpec(image="mysql:5.7", database="otus-database", storage_size="1Gi",
                     password=PASSWORD)
    api = FakeApi(lambda method, kw: {**body(), "spec": json.loads(kw["content"])["spec"]})
    caplog.set_level(logging.DEBUG, logger="mysql_operator.client")
    client = MySQLClient(namespace="demo", api=api)
    created = await client.create("mysql-instance", spec)
    assert created.spec == spec
    [request] = api.requests
    assert (request["method"], request["url"], request["namespace"], request["version"]) == (
        "POST", "mysqls", "demo", "otus.homework/v1")
    assert json.loads(request["content"]) == manifest("mysql-instance", spec, namespace="demo")
    assert request["timeout"] == 30.0
    assert "creating MySQL demo/mysql-instance" in caplog.text
    assert PASSWORD not in caplog.text


async def test_namespace_defaults_to_the_kubeconfigs() -> None:
    api = FakeApi(lambda method, kw: listing())
    client = MySQLClient(api=api)
    assert await client.list() == []
    assert client.namespace == "default"
    assert api.requests[0]["namespace"] == "default"


async def test_wait_ready_lists_then_watches_from_the_lists_version() -> None:
    pending = body(status={"phase": "Pending", "message": "waiting for Deployment"})
    events = [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "101"}}},
              {"type": "MODIFIED", "object": body(status={"phase": "Restoring"})},
              {"type": "MODIFIED", "object": body(status=ready_status())}]
    api = FakeApi(lambda method, kw: events if kw.get("stream") else listing(pending))
    ready = await MySQLClient(namespace="demo", api=api).wait_ready("mysql-instance")
    assert ready.ready
    first, watch = api.requests
    assert first["params"] == {"fieldSelector": "metadata.name=mysql-instance"}
    assert watch["params"]["watch"] == "true"
    assert watch["params"]["resourceVersion"] == "100"
    assert watch["params"]["fieldSelector"] == "metadata.name=mysql-instance"
    assert 1 <= int(watch["params"]["timeoutSeconds"]) <= 300


async def test_wait_ready_lists_again_when_a_watch_ends() -> None:
    rounds = iter([listing(body(status={"phase": "Pending"})),
                   [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}],
                   listing(body(status=ready_status()), version="200")])
    api = FakeApi(lambda method, kw: next(rounds))
    await MySQLClient(namespace="demo", api=api).wait_ready("mysql-instance")
    assert len(api.requests) == 3


async def test_wait_ready_times_out_with_the_last_status() -> None:
    pending = body(status={"phase": "Pending", "message": "waiting for Secret demo/db"})

    def answer(method: str, kw: dict[str, Any]) -> Any:
        return [] if kw.get("stream") else listing(pending)

    api = FakeApi(answer)
    with pytest.raises(WaitTimeout, match="waiting for Secret demo/db") as caught:
        await MySQLClient(namespace="demo", api=api).wait_ready("mysql-instance", timeout=0.3)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.status is not None
    assert caught.value.status.phase == "Pending"


async def test_delete_waits_and_returns_the_backup() -> None:
    events = [{"type": "MODIFIED", "object": body(status={"phase": "BackingUp"}, deleting=True)},
              {"type": "DELETED", "object": body(status={"phase": "BackingUp",
                                                         "lastBackup": BACKUP}, deleting=True)}]

    def answer(method: str, kw: dict[str, Any]) -> Any:
        if method != "GET":
            return body(deleting=True)
        return events if kw.get("stream") else listing(body(deleting=True))

    api = FakeApi(answer)
    backup = await MySQLClient(namespace="demo", api=api).delete("mysql-instance",
                                                                skip_backup=False)
    assert backup is not None
    assert backup.file == BACKUP["file"]
    patch, delete = api.requests[:2]
    assert patch["method"] == "PATCH"
    assert patch["url"] == "mysqls/mysql-instance"
    assert json.loads(patch["content"]) == {
        "metadata": {"annotations": {"otus.homework/skip-backup": None}}}
    assert delete["method"] == "DELETE"


async def test_get_missing() -> None:
    api = FakeApi(lambda method, kw: server_error(404, "NotFound", "not found"))
    with pytest.raises(InstanceNotFound):
        await MySQLClient(namespace="demo", api=api).get("nope")


async def test_wait_ready_for_a_missing_object() -> None:
    api = FakeApi(lambda method, kw: listing())
    with pytest.raises(InstanceNotFound, match="MySQL demo/nope not found"):
        await MySQLClient(namespace="demo", api=api).wait_ready("nope")


def test_sync_client_runs_the_async_one(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(lambda method, kw: listing(body(status=ready_status())))

    async def fake_api(**_: Any) -> FakeApi:
        return api

    monkeypatch.setattr(kr8s.asyncio, "api", fake_api)
    with SyncMySQLClient(namespace="demo") as client:
        assert [i.name for i in client.list()] == ["mysql-instance"]
        assert client.wait_ready("mysql-instance").ready
        assert client.namespace == "demo"


async def test_sync_client_inside_a_running_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a notebook: a loop already runs in the calling thread."""
    api = FakeApi(lambda method, kw: listing())

    async def fake_api(**_: Any) -> FakeApi:
        return api

    monkeypatch.setattr(kr8s.asyncio, "api", fake_api)
    client = SyncMySQLClient()
    try:
        assert client.list() == []
        assert asyncio.get_running_loop()  # still here, not disturbed
    finally:
        client.close()


# --- on the real cluster ----------------------------------------------------------------


@pytest.mark.cluster
async def test_lifecycle(namespace: str, operator: OperatorProcess, kube: Kubectl) -> None:
    async with MySQLClient(namespace=namespace) as client:
        secret = await client.create_password_secret("db", PASSWORD)
        assert await client.create_password_secret("db", PASSWORD, exist_ok=True) == secret
        with pytest.raises(AlreadyExists, match="another password"):
            await client.create_password_secret("db", "other", exist_ok=True)

        spec = MySQLSpec(image="mysql:5.7", database="otus-database", storage_size="1Gi",
                         password_secret=secret)
        created = await client.create("mysql-instance", spec, labels={"team": "a"})
        assert created.spec == spec
        assert created.uid
        with pytest.raises(AlreadyExists):
            await client.create("mysql-instance", spec)

        ready = await client.wait_ready("mysql-instance", timeout=420)
        assert ready.ready
        assert ready.restore is not None
        assert ready.restore.source == "none"
        assert [i.name for i in await client.list()] == ["mysql-instance"]
        assert [i.name for i in await client.list(label_selector="team=b")] == []
        status = await client.status("mysql-instance")
        assert status.phase == "Ready"
        assert {c.type: c.status for c in status.conditions}["Ready"] == "True"
        assert (await client.get("mysql-instance")).last_backup is None  # no on-demand backup

        backup = await client.delete("mysql-instance", wait=True, timeout=420)
        assert backup is not None
        assert backup.file.startswith("dump-")
        assert backup.size > 0
        with pytest.raises(InstanceNotFound):
            await client.get("mysql-instance")
        assert await client.list() == []
        # The backup Job outlives the instance, and so does the record of the backup.
        assert await client.last_backup("mysql-instance") == backup
    assert "mysql-instance-credentials" not in kube("get", "secrets", "-o", "name")


@pytest.mark.cluster
async def test_rejected_by_the_api_server(namespace: str, operator: OperatorProcess) -> None:
    async with MySQLClient(namespace=namespace) as client:
        bad = MySQLSpec(image="mysql:5.7", database="d", storage_size="1Gi", password=PASSWORD,
                        resources=Resources(requests={"cpu": "lots"}))  # type: ignore[dict-item]
        with pytest.raises(SpecRejected, match=r"spec\.resources\.requests\.cpu") as caught:
            await client.create("bad-quantity", bad)
        assert caught.value.code == 422
        assert PASSWORD not in str(caught.value)
        with pytest.raises(SpecRejected, match="restore-<name>-job"):
            await client.create("x" * 60, SPEC)
        assert await client.list() == []


@pytest.mark.cluster
async def test_wait_timeout_carries_the_status_message(
    namespace: str, operator: OperatorProcess
) -> None:
    async with MySQLClient(namespace=namespace) as client:
        await client.create("no-secret", SPEC)  # Secret "db" does not exist
        with pytest.raises(WaitTimeout, match=r"waiting for Secret .*/db") as caught:
            await client.wait_ready("no-secret", timeout=20)
        assert caught.value.status is not None
        assert caught.value.status.phase == "Pending"
        # Never ready: nothing to back up, so the deletion does not wait for one.
        assert await client.delete("no-secret", timeout=120) is None


@pytest.mark.cluster
def test_sync_client(namespace: str, operator: OperatorProcess) -> None:
    name = f"sync-{uuid.uuid4().hex[:4]}"
    with SyncMySQLClient(namespace=namespace) as client:
        spec = MySQLSpec(image="mysql:5.7", database="otus-database", storage_size="1Gi",
                         password=PASSWORD)  # the seed's inline form still works
        client.create(name, spec)
        assert client.wait_ready(name, timeout=420).ready
        assert client.status(name).phase == "Ready"
        assert client.delete(name, skip_backup=True, timeout=300) is None
        assert client.list() == []
        assert client.last_backup(name) is None
