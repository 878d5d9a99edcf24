"""The kopf layer: parse, call the instance, write status, post Events, map errors.

Deliberately thin: no manifest and no API request is written here.  Waiting
is done by raising ``kopf.TemporaryError(delay=...)`` (kopf calls the handler
again later), never by sleeping in a handler.

Secret safety (the reason for the persistence settings in ``configure``):
kopf copies the whole spec into an annotation (its diff base) and would thus
store ``spec.password`` in plaintext; it is told to ignore that field.  The
handlers' progress goes to annotations under the operator's own prefix, so
nothing undeclared is written into the structural status.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import kopf
import kr8s.asyncio

from ._errors import NotReady, RestoreFailed
from ._instance import MySQLInstance, Notice
from ._jobs import JobPhase
from ._kube import Kr8sKube, KubeError, ObjectRef
from ._model import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SKIP_BACKUP_ANNOTATION,
    VERSION,
    LastBackup,
    MySQL,
    RestoreRecord,
    SpecError,
)
from ._rotation import RotationPhase
from ._secret import password_digest
from ._status import (
    BACKUP_SUCCEEDED,
    PASSWORD_ROTATED,
    READY,
    RESTORED,
    STORAGE_RESIZED,
    StatusUpdate,
)

FINALIZER = f"{GROUP}/mysql-operator"
# kopf's own annotations live under a prefix of their own, apart from the
# user-facing ``otus.homework/...`` ones.
STORAGE_PREFIX = f"mysql-operator.{GROUP}"
API_TIMEOUT = 30.0
# Sent verbatim as the watch's timeoutSeconds, which the API server parses as an int.
WATCH_SERVER_TIMEOUT = 300
WATCH_CLIENT_TIMEOUT = 330.0
# How soon a handler looks again while it waits for the server or a Job: most
# of the figures of `make bench`.  A server that has not answered after about
# two minutes (a wrong image, an unbound volume) is looked at less often.
SERVER_POLL_SECONDS = 3.0
SLOW_SERVER_POLL_SECONDS = 15.0
SLOW_SERVER_AFTER_RETRIES = 40
JOB_POLL_SECONDS = 2.0
# While a failed backup waits for its next attempt: how soon a skip-backup
# annotation takes effect.
OPT_OUT_CHECK_SECONDS = 30.0
# How often a live instance is compared with its spec (drift: a deleted Service,
# a hand-edited Deployment; a missed change of the password Secret).
CONVERGE_INTERVAL = 30.0
# On the MySQL object: the resourceVersion of its password Secret last seen, so
# that a change of that Secret is a change of the object for kopf.
SECRET_VERSION_ANNOTATION = f"{GROUP}/password-secret-version"

class DiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base, without a copy of the password and without kopf's progress.

    ``spec.password`` is replaced by a salted hash (keyed by the object's uid),
    so that a password change is still a change of the spec for kopf, and the
    annotation holds nothing that reveals the password.  kopf's own progress
    annotations under ``STORAGE_PREFIX`` are dropped: otherwise the diff base,
    stored while they are present, differs from the object once they are
    purged, and kopf sees an "update" that nobody made.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        annotations = essence.get("metadata", {}).get("annotations", {})
        for key in list(annotations):
            if key.startswith(f"{STORAGE_PREFIX}/"):
                del annotations[key]
        password = (body.get("spec") or {}).get("password")
        if isinstance(password, str) and "spec" in essence:
            essence["spec"]["password"] = password_digest(str(body.metadata.uid), password)
        self.remove_empty_stanzas(essence)
        return essence


registry = kopf.OperatorRegistry()
_RESOURCE = (GROUP, VERSION, PLURAL)


def configure(settings: kopf.OperatorSettings) -> None:
    """Operator settings: finalizer, secret-safe persistence, watch timeouts, Events."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = DiffBaseStorage(
        prefix=STORAGE_PREFIX, key="last-handled-configuration"
    )
    # Without timeouts a silently dropped watch connection freezes the operator.
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT
    settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT
    settings.watching.connect_timeout = API_TIMEOUT
    settings.networking.request_timeout = API_TIMEOUT * 2
    settings.posting.level = logging.INFO


@kopf.on.startup(registry=registry)
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure(settings)
    if getattr(memo, "kube", None) is None:  # tests may bring their own
        api = await kr8s.asyncio.api()
        api.timeout = API_TIMEOUT
        memo.kube = Kr8sKube(api)


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account first, else the kubeconfig (as kopf's defaults do)."""
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs)
    return info or kopf.login_with_kubeconfig(**kwargs)


@contextlib.contextmanager
def _translated(update: StatusUpdate, body: kopf.Body, *, deleting: bool) -> Iterator[None]:
    """Map the instance's outcomes to kopf retries (and, when creating, to failures).

    While deleting, every error is temporary: a permanent failure would let
    kopf release the finalizer, and the data would go without a backup.
    """
    waiting = "BackingUp" if deleting else "Pending"
    try:
        yield
    except NotReady as exc:
        update.phase(waiting, str(exc))
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
    except RestoreFailed as exc:
        update.phase("Failed", str(exc))
        update.condition(RESTORED, False, "RestoreFailed", str(exc))
        update.condition(READY, False, "RestoreFailed", "the restore Job failed")
        kopf.warn(body, reason="RestoreFailed", message=str(exc))
        raise kopf.PermanentError(str(exc)) from exc
    except KubeError as exc:
        update.phase(waiting if deleting or exc.transient else "Failed", str(exc))
        if deleting or exc.transient:
            raise kopf.TemporaryError(str(exc), delay=30) from exc
        kopf.warn(body, reason="ApiError", message=str(exc))
        raise kopf.PermanentError(str(exc)) from exc


def _parsed(body: kopf.Body, update: StatusUpdate) -> MySQL:
    try:
        return MySQL.from_body(body)
    except SpecError as exc:
        update.phase("Failed", str(exc))
        update.condition(READY, False, "InvalidSpec", str(exc))
        kopf.warn(body, reason="InvalidSpec", message=str(exc))
        raise kopf.PermanentError(str(exc)) from exc


def _ready_message(cr: MySQL, record: RestoreRecord | None) -> str:
    if record is None or record.source == "none":
        return f"{cr.name} created without restore-job: no backup to restore"
    taken = f" (backup taken at {record.backup_time})" if record.backup_time else ""
    return f"{cr.name} created and restored from {record.source}{taken}"


def _report(notice: Notice, update: StatusUpdate, body: kopf.Body, *, timer: bool) -> None:
    """Post a notice as an Event once, not on every pass of the timer."""
    if notice.reason == "StorageNotResized":
        if not update.has_condition(STORAGE_RESIZED, False, notice.message):
            kopf.warn(body, reason=notice.reason, message=notice.message)
        update.condition(STORAGE_RESIZED, False, "ExpansionRefused", notice.message)
    elif notice.reason == "StorageResizing":
        if not update.has_condition(STORAGE_RESIZED, False, notice.message):
            kopf.info(body, reason=notice.reason, message=notice.message)
        update.condition(STORAGE_RESIZED, False, "Resizing", notice.message)
    elif notice.drift:
        if update.current.restore is None:
            return  # still being created: nothing to correct
        if timer:
            kopf.info(body, reason="DriftCorrected",
                      message=f"{notice.message}: it differed from the MySQL object's spec")
        elif notice.reason == "DeploymentChanged":
            kopf.info(body, reason="Updating", message=f"{notice.message} to the new spec")
        else:
            kopf.info(body, reason="DriftCorrected", message=notice.message)
    else:
        kopf.warn(body, reason=notice.reason, message=notice.message)


async def _rotate(instance: MySQLInstance, update: StatusUpdate, body: kopf.Body) -> None:
    """Bring the server's root password to the spec's; report the outcome."""
    progress = await instance.sync_password()
    if progress.phase is RotationPhase.IN_SYNC:
        return
    if progress.phase is RotationPhase.RUNNING:
        update.condition(PASSWORD_ROTATED, None, "Rotating", progress.message)
        raise kopf.TemporaryError("the password rotation is running", delay=JOB_POLL_SECONDS)
    if progress.phase is RotationPhase.ROTATED:
        update.condition(PASSWORD_ROTATED, True, "Rotated", progress.message)
        kopf.info(body, reason="PasswordRotated", message=progress.message)
        return
    update.condition(PASSWORD_ROTATED, False, "AuthenticationFailed", progress.message)
    if progress.new:
        kopf.warn(body, reason="PasswordNotRotated", message=progress.message)


async def _bring_up(
    instance: MySQLInstance, update: StatusUpdate, body: kopf.Body, *, retry: int = 0,
    timer: bool = False,
) -> None:
    cr = instance.cr
    if update.current.phase is None:
        kopf.info(body, reason="Creating",
                  message=f"creating the Secret, volumes, Deployment and Service of {cr.name}")
    notices = await instance.ensure()
    for notice in notices:
        _report(notice, update, body, timer=timer)
    if update.has_condition(STORAGE_RESIZED, False) and not any(
        n.reason in ("StorageNotResized", "StorageResizing") for n in notices
    ):
        message = f"the data claim has the {cr.spec.storage_size} it requests"
        update.condition(STORAGE_RESIZED, True, "Resized", message)
        kopf.info(body, reason="StorageResized", message=message)
    if not await instance.available():
        update.phase("Pending", f"waiting for Deployment {cr.names.deployment} to become available")
        update.condition(READY, False, "Starting", "the MySQL server is not ready yet")
        slow = retry >= SLOW_SERVER_AFTER_RETRIES
        raise kopf.TemporaryError("MySQL is not ready yet", delay=(
            SLOW_SERVER_POLL_SECONDS if slow else SERVER_POLL_SECONDS))
    # From now on the volume may hold data: a delete always needs a backup.
    await instance.mark_served(update.now)
    record = update.current.restore
    if record is None:
        result = await instance.restore()
        if result is None:
            update.phase("Restoring", f"Job {cr.names.restore_job} is running")
            raise kopf.TemporaryError("the restore Job is running", delay=JOB_POLL_SECONDS)
        record = RestoreRecord(
            source=result.file or "none", time=result.time, backup_time=result.backup_time
        )
        update.restore(record)
        if result.file:
            update.condition(RESTORED, True, "RestoredFromBackup", _ready_message(cr, record))
            kopf.info(body, reason="Restored", message=_ready_message(cr, record))
        else:
            update.condition(RESTORED, False, "NoBackupFound", "no backup to restore from")
            kopf.info(body, reason="NoBackupFound", message=_ready_message(cr, record))
        kopf.info(body, reason="Created", message=_ready_message(cr, record))
    update.phase("Ready", _ready_message(cr, record))
    update.condition(READY, True, "Ready", "the MySQL server answers")
    await _rotate(instance, update, body)


@kopf.on.resume(*_RESOURCE, registry=registry)
@kopf.on.create(*_RESOURCE, registry=registry)
@kopf.on.update(*_RESOURCE, registry=registry)
async def reconcile(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, retry: int,
    **_: Any,
) -> None:
    """Create or converge the instance; restore it from the newest backup once."""
    update = StatusUpdate(status, int(body.meta.get("generation") or 0))
    try:
        cr = _parsed(body, update)
        with _translated(update, body, deleting=False):
            await _bring_up(MySQLInstance(cr, memo.kube), update, body, retry=retry)
    finally:
        patch.status.update(update.patch())


@kopf.timer(*_RESOURCE, registry=registry, interval=CONVERGE_INTERVAL,
            initial_delay=CONVERGE_INTERVAL)
async def converge(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Every CONVERGE_INTERVAL s: put back what drifted from a live instance's spec.

    Only instances that finished their creation (the create handler owns
    that) and are not being deleted.  Retries are left to the next tick.
    """
    update = StatusUpdate(status, int(body.meta.get("generation") or 0))
    if body.meta.get("deletionTimestamp") or update.current.restore is None:
        return
    try:
        cr = MySQL.from_body(body)
    except SpecError:
        return
    try:
        with _translated(update, body, deleting=False):
            await _bring_up(MySQLInstance(cr, memo.kube), update, body, timer=True)
    except (kopf.TemporaryError, kopf.PermanentError):
        pass
    finally:
        patch.status.update(update.patch())


@kopf.index(*_RESOURCE, registry=registry)
def password_secrets(body: kopf.Body, **_: Any) -> dict[tuple[str, str], tuple[str, str]] | None:
    """(namespace, Secret name) -> (MySQL name, the Secret version it last saw)."""
    ref = (body.get("spec") or {}).get("password_secret") or {}
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    seen = str(body.meta.annotations.get(SECRET_VERSION_ANNOTATION, ""))
    return {(str(body.meta.namespace), str(ref["name"])): (str(body.meta.name), seen)}


def _is_password_secret(body: kopf.Body, **kwargs: Any) -> bool:
    # A filter rather than an early return: kopf logs every handler it runs,
    # and most Secrets in the served namespaces are nobody's password.
    password_secrets: kopf.Index[tuple[str, str], tuple[str, str]] = kwargs["password_secrets"]
    return (str(body.meta.namespace), str(body.meta.name)) in password_secrets


@kopf.on.event("v1", "secrets", when=_is_password_secret, registry=registry)
async def password_secret_changed(
    body: kopf.Body, type: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    """A referenced Secret changed: mark its MySQL objects, whose update handler rotates."""
    if type == "DELETED":
        return
    password_secrets: kopf.Index[tuple[str, str], tuple[str, str]] = kwargs["password_secrets"]
    version = str(body.meta.get("resourceVersion") or "")
    namespace = str(body.meta.namespace)
    for name, seen in password_secrets.get((namespace, str(body.meta.name)), []):
        if seen == version:
            continue
        await memo.kube.patch(
            ObjectRef(API_VERSION, KIND, name, namespace),
            {"metadata": {"annotations": {SECRET_VERSION_ANNOTATION: version}}},
        )


async def _take_down(instance: MySQLInstance, update: StatusUpdate, body: kopf.Body) -> None:
    cr = instance.cr
    if cr.skip_backup:
        abandoned = await instance.abandon_backup()
        kopf.info(body, reason="BackupSkipped", message=(
            f"{SKIP_BACKUP_ANNOTATION} is true: deleting without a backup"
            + (f"; the unfinished Job {cr.names.backup_job} is deleted" if abandoned else "")))
    elif not await instance.has_data():
        kopf.info(body, reason="BackupSkipped", message="there is no data volume to back up")
    elif not await instance.ever_served(update.current) and not await instance.available():
        # The server never answered, so nobody can have written to it, and a
        # backup Job could not connect anyway: retrying one forever would only
        # block the deletion.  A server that answered once is always backed up,
        # however long it is down (see MySQLInstance.ever_served).
        kopf.info(body, reason="BackupSkipped",
                  message="the server never became ready: there is nothing to back up")
    else:
        progress = await instance.backup()
        attempt = f" (attempt {progress.attempt})" if progress.attempt > 1 else ""
        if progress.started:
            kopf.info(body, reason="BackupStarted", message=(
                f"Job {cr.names.backup_job} is dumping database {cr.spec.database}{attempt}"))
        if progress.phase is JobPhase.RUNNING:
            update.phase("BackingUp", f"Job {cr.names.backup_job} is dumping the database{attempt}")
            raise kopf.TemporaryError("the backup Job is running", delay=JOB_POLL_SECONDS)
        if progress.phase is JobPhase.FAILED:
            update.phase("BackupFailed", progress.failure)
            update.condition(BACKUP_SUCCEEDED, False, "BackupJobFailed", progress.failure)
            if progress.new_failure:
                kopf.warn(body, reason="BackupFailed", message=(
                    f"{progress.failure}. The data is kept; attempt {progress.attempt + 1} "
                    f"in {progress.retry_in:.0f}s. To delete without a backup, "
                    f"annotate {SKIP_BACKUP_ANNOTATION}=true."
                ))
            # Wake up before the next attempt is due, so the opt-out takes effect soon.
            raise kopf.TemporaryError(
                f"backup attempt {progress.attempt} failed; the next in "
                f"{progress.retry_in:.0f}s", delay=min(progress.retry_in, OPT_OUT_CHECK_SECONDS))
        result = progress.result
        assert result is not None
        update.last_backup(LastBackup(time=result.time, job=result.job, file=result.file,
                                      size=result.size))
        message = f"backed up to {result.file} ({result.size} bytes) by Job {result.job}"
        update.condition(BACKUP_SUCCEEDED, True, "BackupCompleted", message)
        kopf.info(body, reason="BackupSucceeded", message=message)
    await instance.teardown()
    kopf.info(body, reason="Deleted", message=f"{cr.name} and its data are deleted; backups kept")


@kopf.on.delete(*_RESOURCE, registry=registry)
async def delete(
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Back up (unless opted out), then delete the server and its data."""
    update = StatusUpdate(status, int(body.meta.get("generation") or 0))
    try:
        cr = MySQL.from_body(body)
    except SpecError as exc:
        # Never valid, so never created anything: the garbage collector has the rest.
        logger.warning(f"deleting without a backup: {exc}")
        return
    try:
        with _translated(update, body, deleting=True):
            await _take_down(MySQLInstance(cr, memo.kube), update, body)
    finally:
        patch.status.update(update.patch())
