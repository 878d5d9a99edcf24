"""The kopf layer, driven by hand against the in-memory Kube."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from mysqlfakes import NASTY_PASSWORD, EventLog, FakeKube, seed_body, seed_cr

from mysql_operator import KubeError, MySQLDeployment
from mysql_operator._handlers import (
    FINALIZER,
    JOB_POLL_SECONDS,
    OPT_OUT_CHECK_SECONDS,
    SERVER_POLL_SECONDS,
    SLOW_SERVER_AFTER_RETRIES,
    SLOW_SERVER_POLL_SECONDS,
    STORAGE_PREFIX,
    _is_password_secret,
    configure,
    converge,
    delete,
    password_secrets,
    reconcile,
    registry,
)
from mysql_operator._jobs import ATTEMPT_ANNOTATION, backup_retry_delay
from mysql_operator._model import FIRST_READY_ANNOTATION, SKIP_BACKUP_ANNOTATION

BACKUP_SUMMARY = json.dumps(
    {"file": "dump-20260102T030405Z.sql", "size": 4321, "time": "2026-01-02T03:04:09Z"})


class Object:
    """One MySQL object as kopf would hand it over, with status patches applied."""

    def __init__(self, **spec: Any) -> None:
        self.raw = seed_body(**spec)
        self.raw["status"] = {}

    def kwargs(self, memo: kopf.Memo, retry: int = 0) -> dict[str, Any]:
        body = kopf.Body(self.raw)
        return {"body": body, "status": body.status, "patch": kopf.Patch(), "memo": memo,
                "retry": retry, "logger": _Logger(), "spec": body.spec, "meta": body.meta}

    async def call(self, handler: Any, memo: kopf.Memo, retry: int = 0) -> None:
        kwargs = self.kwargs(memo, retry)
        try:
            await handler(**kwargs)
        finally:
            self.raw["status"].update(kwargs["patch"].get("status", {}))

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.raw["status"]
        return status

    def condition(self, type_: str) -> dict[str, Any]:
        return next(c for c in self.status["conditions"] if c["type"] == type_)


class _Logger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(message % args if args else message)


@pytest.fixture
def memo(fake_kube: FakeKube) -> kopf.Memo:
    memo = kopf.Memo()
    memo.kube = fake_kube
    return memo


# Settings: secret safety above all.

def test_kopf_progress_annotations_are_not_part_of_the_diff_base() -> None:
    settings = kopf.OperatorSettings()
    configure(settings)
    raw = seed_body()
    raw["metadata"]["annotations"] = {f"{STORAGE_PREFIX}/reconcile": "{}", "user/note": "x"}
    essence = settings.persistence.diffbase_storage.build(body=kopf.Body(raw))
    assert essence["metadata"]["annotations"] == {"user/note": "x"}


def test_kopf_keeps_no_copy_of_the_password() -> None:
    settings = kopf.OperatorSettings()
    configure(settings)
    raw = seed_body(password=NASTY_PASSWORD)
    essence = settings.persistence.diffbase_storage.build(body=kopf.Body(raw))
    assert NASTY_PASSWORD not in json.dumps(essence, ensure_ascii=False)
    assert essence["spec"]["password"].startswith("hmac-sha256:")
    # A new password is a change kopf sees; the same one is not.
    changed = settings.persistence.diffbase_storage.build(
        body=kopf.Body(seed_body(password=NASTY_PASSWORD + "!")))
    assert changed["spec"]["password"] != essence["spec"]["password"]
    again = settings.persistence.diffbase_storage.build(body=kopf.Body(raw))
    assert again == essence
    assert essence["spec"]["image"] == "mysql:5.7"  # the rest is still diffed


def test_persistence_settings() -> None:
    settings = kopf.OperatorSettings()
    configure(settings)
    persistence = settings.persistence
    assert persistence.finalizer == FINALIZER == "otus.homework/mysql-operator"
    assert isinstance(persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert persistence.progress_storage.prefix == STORAGE_PREFIX
    assert isinstance(persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert persistence.diffbase_storage.prefix == STORAGE_PREFIX


def test_watch_timeouts_are_set() -> None:
    settings = kopf.OperatorSettings()
    configure(settings)
    # The API server parses timeoutSeconds as an integer: "300.0" is a 400 Bad Request.
    assert isinstance(settings.watching.server_timeout, int)
    assert settings.watching.server_timeout > 0
    assert settings.watching.client_timeout
    assert settings.watching.client_timeout > settings.watching.server_timeout


def test_handlers_are_registered_on_our_registry() -> None:
    handlers = registry._changing.get_all_handlers()
    by_cause = {h.reason.value if h.reason else "resume" if h.initial else None: h
                for h in handlers}
    assert by_cause["create"].fn is by_cause["update"].fn is by_cause["resume"].fn is reconcile
    assert by_cause["delete"].fn is delete
    assert by_cause["delete"].requires_finalizer  # the backup must run before the data goes
    resource = kopf.Resource("otus.homework", "v1", "mysqls")
    assert all(h.selector is not None and h.selector.check(resource) for h in handlers)


# Creation.

async def test_creation_waits_for_mysql_then_restores(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError) as caught:
        await obj.call(reconcile, memo)
    assert caught.value.delay == SERVER_POLL_SECONDS
    assert obj.status["phase"] == "Pending"
    # A server that does not answer for minutes is looked at less often.
    with pytest.raises(kopf.TemporaryError) as caught:
        await obj.call(reconcile, memo, retry=SLOW_SERVER_AFTER_RETRIES)
    assert caught.value.delay == SLOW_SERVER_POLL_SECONDS > SERVER_POLL_SECONDS
    assert obj.condition("Ready")["status"] == "False"
    assert ("Deployment", "mysql-instance") in fake_kube.kinds()

    fake_kube.make_available()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    assert obj.status["phase"] == "Restoring"
    assert ("Job", "restore-mysql-instance-job") in fake_kube.kinds()

    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True,
                         message='{"file": null, "time": "2026-01-03T00:00:00Z"}')
    await obj.call(reconcile, memo)
    assert obj.status["phase"] == "Ready"
    assert obj.status["message"] == (
        "mysql-instance created without restore-job: no backup to restore")
    assert obj.status["restore"] == {"source": "none", "time": "2026-01-03T00:00:00Z"}
    assert obj.condition("Ready")["status"] == "True"
    assert obj.condition("Restored")["status"] == "False"
    assert obj.condition("Restored")["reason"] == "NoBackupFound"
    assert obj.status["observedGeneration"] == 1
    assert "NoBackupFound" in events.reasons()


async def test_restored_from_a_backup(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.make_available()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True, message=json.dumps(
        {"file": "dump-20260102T030405Z.sql", "time": "2026-01-03T00:00:00Z"}))
    await obj.call(reconcile, memo)
    assert obj.status["phase"] == "Ready"
    assert "restored from dump-20260102T030405Z.sql" in obj.status["message"]
    assert "2026-01-02T03:04:05Z" in obj.status["message"]
    assert obj.status["restore"]["backupTime"] == "2026-01-02T03:04:05Z"
    assert obj.condition("Restored")["reason"] == "RestoredFromBackup"
    assert "Restored" in events.reasons()


async def test_the_restore_runs_once(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    obj.status["restore"] = {"source": "none", "time": "2026-01-03T00:00:00Z"}
    fake_kube.put(MySQLDeployment(seed_cr(), fake_kube).manifest())
    fake_kube.make_available()
    await obj.call(reconcile, memo)
    assert obj.status["phase"] == "Ready"
    assert ("Job", "restore-mysql-instance-job") not in fake_kube.kinds()


async def test_a_failed_restore_is_permanent(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.make_available()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=False, message="Access denied")
    with pytest.raises(kopf.PermanentError):
        await obj.call(reconcile, memo)
    assert obj.status["phase"] == "Failed"
    assert obj.condition("Restored")["reason"] == "RestoreFailed"
    assert obj.condition("Ready")["status"] == "False"
    assert ("Warning", "RestoreFailed") in [(t, r) for t, r, _ in events.events]


async def test_an_invalid_spec_is_permanent(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object(usless_data="useless info")
    with pytest.raises(kopf.PermanentError, match="usless_data"):
        await obj.call(reconcile, memo)
    assert obj.status["phase"] == "Failed"
    assert obj.condition("Ready")["reason"] == "InvalidSpec"
    assert fake_kube.objects == {}


async def test_a_missing_password_secret_is_waited_for(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object(password_secret={"name": "db-root", "key": "root"})
    del obj.raw["spec"]["password"]
    with pytest.raises(kopf.TemporaryError, match="waiting for Secret") as caught:
        await obj.call(reconcile, memo)
    assert caught.value.delay == 30
    assert obj.status["phase"] == "Pending"


@pytest.mark.parametrize(("code", "error"), [
    (500, kopf.TemporaryError), (0, kopf.TemporaryError), (409, kopf.TemporaryError),
    (422, kopf.PermanentError),
])
async def test_api_errors_when_creating(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog, code: int, error: type[Exception]
) -> None:
    fake_kube.fail[("apply", "Deployment")] = KubeError("boom", code=code)
    with pytest.raises(error):
        await Object().call(reconcile, memo)


async def test_a_refused_resize_warns_and_carries_on(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.fail[("apply", "PersistentVolumeClaim")] = KubeError("forbidden", code=403)
    with pytest.raises(kopf.TemporaryError, match="not ready"):
        await obj.call(reconcile, memo)
    assert "StorageNotResized" in events.reasons()


# Deletion.

async def _ready(obj: Object, fake_kube: FakeKube, memo: kopf.Memo) -> None:
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.make_available()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.finish_job("restore-mysql-instance-job", succeeded=True, message="{}")
    await obj.call(reconcile, memo)


async def test_deletion_backs_up_first(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    with pytest.raises(kopf.TemporaryError) as caught:
        await obj.call(delete, memo)
    assert caught.value.delay == JOB_POLL_SECONDS
    assert obj.status["phase"] == "BackingUp"
    assert ("Deployment", "mysql-instance") in fake_kube.kinds()

    fake_kube.finish_job("backup-mysql-instance-job", succeeded=True, message=BACKUP_SUMMARY)
    await obj.call(delete, memo)
    assert obj.status["lastBackup"] == {"time": "2026-01-02T03:04:09Z",
                                        "job": "backup-mysql-instance-job",
                                        "file": "dump-20260102T030405Z.sql", "size": 4321}
    assert obj.condition("BackupSucceeded")["status"] == "True"
    assert "BackupSucceeded" in events.reasons()
    assert [k for k in fake_kube.kinds() if k[0] != "Pod"] == [
        ("Job", "backup-mysql-instance-job"),
        ("PersistentVolumeClaim", "backup-mysql-instance-pvc"),
    ]


async def _backup_failed(obj: Object, fake_kube: FakeKube, memo: kopf.Memo,
                         failed_at: datetime) -> None:
    """A ready instance is deleted, and its backup Job fails at ``failed_at``."""
    await _ready(obj, fake_kube, memo)
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=False,
                         message="mysqldump: Got error: 2005", at=failed_at.isoformat())


async def test_a_failed_backup_keeps_the_data_and_retries(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    failed_at = datetime.now(UTC) - timedelta(seconds=2)
    await _backup_failed(obj, fake_kube, memo, failed_at)
    for _ in range(2):
        with pytest.raises(kopf.TemporaryError) as caught:
            await obj.call(delete, memo)
        assert 0 < caught.value.delay <= backup_retry_delay(1)
    assert "backup attempt 1 failed" in str(caught.value)
    assert obj.status["phase"] == "BackupFailed"
    condition = obj.condition("BackupSucceeded")
    assert condition["status"] == "False"
    assert "2005" in condition["message"]
    # One Warning per failed attempt, however often the handler looks.
    warnings = [m for t, r, m in events.events if t == "Warning" and r == "BackupFailed"]
    assert len(warnings) == 1
    assert SKIP_BACKUP_ANNOTATION in warnings[0]
    assert "attempt 2 in" in warnings[0]
    assert ("PersistentVolumeClaim", "mysql-instance-pvc") in fake_kube.kinds()
    assert ("Deployment", "mysql-instance") in fake_kube.kinds()

    # When it is due, the next attempt replaces the failed Job.
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=False,
                         message="mysqldump: Got error: 2005",
                         at=(failed_at - timedelta(seconds=60)).isoformat())
    with pytest.raises(kopf.TemporaryError, match="running"):
        await obj.call(delete, memo)
    assert obj.status["phase"] == "BackingUp"
    assert "(attempt 2)" in obj.status["message"]
    assert "BackupStarted" in events.reasons()[-1]


async def test_the_opt_out_is_checked_while_a_failed_backup_waits(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _backup_failed(obj, fake_kube, memo, datetime.now(UTC))
    job = fake_kube.stored("Job", "backup-mysql-instance-job")
    job["metadata"]["annotations"][ATTEMPT_ANNOTATION] = "8"
    with pytest.raises(kopf.TemporaryError) as caught:
        await obj.call(delete, memo)
    assert caught.value.delay == OPT_OUT_CHECK_SECONDS < backup_retry_delay(8)

    obj.raw["metadata"].setdefault("annotations", {})[SKIP_BACKUP_ANNOTATION] = "true"
    await obj.call(delete, memo)
    assert "BackupSkipped" in events.reasons()
    assert ("Job", "backup-mysql-instance-job") not in fake_kube.kinds()
    assert ("PersistentVolumeClaim", "mysql-instance-pvc") not in fake_kube.kinds()


async def test_api_errors_while_deleting_are_never_permanent(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    fake_kube.fail[("create", "Job")] = KubeError("invalid", code=422)
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    assert ("PersistentVolumeClaim", "mysql-instance-pvc") in fake_kube.kinds()


async def test_skip_backup_annotation(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    obj.raw["metadata"]["annotations"] = {SKIP_BACKUP_ANNOTATION: "true"}
    await obj.call(delete, memo)
    assert "BackupSkipped" in events.reasons()
    assert ("Job", "backup-mysql-instance-job") not in fake_kube.kinds()
    assert ("PersistentVolumeClaim", "mysql-instance-pvc") not in fake_kube.kinds()


async def test_no_backup_of_a_server_that_never_became_ready(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    await obj.call(delete, memo)
    skipped = [m for _, r, m in events.events if r == "BackupSkipped"]
    assert len(skipped) == 1
    assert "never became ready" in skipped[0]
    assert ("Job", "backup-mysql-instance-job") not in fake_kube.kinds()
    assert ("PersistentVolumeClaim", "mysql-instance-pvc") not in fake_kube.kinds()


async def test_a_server_that_is_up_is_backed_up_even_before_its_restore(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.make_available()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    assert ("Job", "backup-mysql-instance-job") in fake_kube.kinds()


async def test_a_password_change_rotates_the_live_password(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    obj.raw["spec"]["password"] = NASTY_PASSWORD
    with pytest.raises(kopf.TemporaryError, match="rotation is running"):
        await obj.call(reconcile, memo)
    assert obj.condition("PasswordRotated")["status"] == "Unknown"
    assert obj.status["phase"] == "Ready"  # the server keeps serving
    fake_kube.finish_job("rotate-mysql-instance-job", succeeded=True,
                         message='{"result": "rotated", "authenticated": "current"}')
    await obj.call(reconcile, memo)
    assert obj.condition("PasswordRotated")["status"] == "True"
    assert "PasswordRotated" in events.reasons()
    stored = fake_kube.stored("Secret", "mysql-instance-credentials")["data"]
    assert stored == {"password": base64.b64encode(NASTY_PASSWORD.encode()).decode()}
    # The Deployment is not touched: its pod is not restarted.
    assert fake_kube.stored("Deployment", "mysql-instance")["metadata"]["generation"] == 1
    written = json.dumps([obj.status, events.events], ensure_ascii=False)
    assert NASTY_PASSWORD not in written


async def test_a_refused_rotation_is_reported_once(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    obj.raw["spec"]["password"] = "new"
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    fake_kube.finish_job("rotate-mysql-instance-job", succeeded=False,
                         message='{"result": "unauthenticated", "authenticated": "none"}')
    await obj.call(reconcile, memo)
    await obj.call(reconcile, memo)
    assert obj.condition("PasswordRotated")["reason"] == "AuthenticationFailed"
    assert events.reasons().count("PasswordNotRotated") == 1


async def test_the_timer_corrects_drift_and_reports_it(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    del fake_kube.objects[("Service", "default", "mysql-instance")]
    await obj.call(converge, memo)
    assert ("Service", "mysql-instance") in fake_kube.kinds()
    assert "DriftCorrected" in events.reasons()


async def test_the_timer_leaves_creation_and_deletion_alone(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    await Object().call(converge, memo)
    assert fake_kube.calls == []


async def test_a_refused_resize_is_reported_once(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    for _ in range(3):
        fake_kube.fail[("apply", "PersistentVolumeClaim")] = KubeError("forbidden", code=403)
        await obj.call(converge, memo)
    assert events.reasons().count("StorageNotResized") == 1
    assert obj.condition("StorageResized")["status"] == "False"
    await obj.call(converge, memo)
    assert obj.condition("StorageResized")["status"] == "True"


async def test_a_growing_volume_is_reported_until_it_has_grown(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    claim = fake_kube.stored("PersistentVolumeClaim", "mysql-instance-pvc")
    claim["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}}  # kept by apply
    obj.raw["spec"]["storage_size"] = "2Gi"
    for _ in range(2):
        await obj.call(converge, memo)
    resized = obj.condition("StorageResized")
    assert (resized["status"], resized["reason"]) == ("False", "Resizing")
    assert "has 1Gi and requests 2Gi" in resized["message"]
    assert events.reasons().count("StorageResizing") == 1

    claim = fake_kube.stored("PersistentVolumeClaim", "mysql-instance-pvc")
    claim["status"]["capacity"]["storage"] = "2Gi"
    await obj.call(converge, memo)
    resized = obj.condition("StorageResized")
    assert (resized["status"], resized["reason"]) == ("True", "Resized")
    assert "StorageResized" in events.reasons()


async def test_nothing_to_back_up(fake_kube: FakeKube, memo: kopf.Memo, events: EventLog) -> None:
    await Object().call(delete, memo)
    assert "BackupSkipped" in events.reasons()
    assert fake_kube.objects == {}


async def test_deleting_an_invalid_object_does_nothing(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object(usless_data="x")
    await obj.call(delete, memo)
    assert fake_kube.calls == []


async def test_no_password_in_status_or_events(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object(password=NASTY_PASSWORD)
    await _ready(obj, fake_kube, memo)
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=False, message="error")
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=True, message=BACKUP_SUMMARY)
    await obj.call(delete, memo)
    written = json.dumps([obj.status, events.events], ensure_ascii=False)
    assert NASTY_PASSWORD not in written
    assert "p@ss" not in written
    assert events.events


async def test_a_server_that_was_ready_is_backed_up_even_when_down(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    claim = fake_kube.stored("PersistentVolumeClaim", "mysql-instance-pvc")
    assert FIRST_READY_ANNOTATION in claim["metadata"]["annotations"]
    # The server goes down, and the status is lost (e.g. restored from a manifest):
    # the mark on the data claim alone still demands a backup.
    fake_kube.stored("Deployment", "mysql-instance")["status"] = {}
    obj.raw["status"] = {}
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    assert ("Job", "backup-mysql-instance-job") in fake_kube.kinds()
    assert "BackupStarted" in events.reasons()
    assert "BackupSkipped" not in events.reasons()
    fake_kube.finish_job("backup-mysql-instance-job", succeeded=False, message="error 2005")
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    assert ("PersistentVolumeClaim", "mysql-instance-pvc") in fake_kube.kinds()


async def test_a_ready_condition_alone_demands_a_backup(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    with pytest.raises(kopf.TemporaryError):
        await obj.call(reconcile, memo)
    obj.status["conditions"] = [{"type": "Ready", "status": "True", "reason": "Ready",
                                 "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    assert ("Job", "backup-mysql-instance-job") in fake_kube.kinds()


async def test_skipping_stops_an_unfinished_backup_job(
    fake_kube: FakeKube, memo: kopf.Memo, events: EventLog
) -> None:
    obj = Object()
    await _ready(obj, fake_kube, memo)
    with pytest.raises(kopf.TemporaryError):
        await obj.call(delete, memo)
    obj.raw["metadata"]["annotations"] = {SKIP_BACKUP_ANNOTATION: "true"}
    await obj.call(delete, memo)
    assert ("Job", "backup-mysql-instance-job") not in fake_kube.kinds()
    skipped = [m for _, r, m in events.events if r == "BackupSkipped"]
    assert "unfinished Job" in skipped[0]


async def test_creation_events(fake_kube: FakeKube, memo: kopf.Memo, events: EventLog) -> None:
    await _ready(Object(), fake_kube, memo)
    assert events.reasons().count("Creating") == 1
    assert events.reasons().count("Created") == 1


def test_only_referenced_secrets_reach_the_secret_handler() -> None:
    referenced = seed_body(password_secret={"name": "db-root", "key": "root"})
    del referenced["spec"]["password"]
    index = password_secrets(body=kopf.Body(referenced))
    assert index == {("default", "db-root"): ("mysql-instance", "")}

    def secret(name: str) -> kopf.Body:
        return kopf.Body({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": name, "namespace": "default"}})

    assert _is_password_secret(secret("db-root"), password_secrets=index)
    assert not _is_password_secret(secret("mysql-instance-credentials"), password_secrets=index)
    assert password_secrets(body=kopf.Body(seed_body())) is None
