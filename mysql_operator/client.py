"""Scripting MySQL instances from Python: create, get, list, wait, delete, read status.

``MySQLClient`` is the asyncio API, ``SyncMySQLClient`` the same methods,
blocking, for scripts and notebooks.  Both talk to the cluster named by
``KUBECONFIG`` (or the in-cluster service account) through ``kr8s.asyncio``,
and speak the operator's own typed model: a spec is a ``MySQLSpec``, a status
a ``MySQLStatus``, and both are (un)structured with the converter the CRD is
generated from.  The client only reads and writes ``MySQL`` objects (and,
optionally, the Secret holding a root password); the operator does the rest.

Passwords: prefer ``password_secret`` (``create_password_secret`` makes one)
to an inline ``password``, which anyone allowed to read the ``MySQL`` object
can see.  The client never logs a spec, and removes the password from any
error message the API server sends back.

Backups: the operator has no on-demand backup; it backs the database up when
the ``MySQL`` object is deleted.  ``delete(wait=True)`` waits for that backup
and returns its record (``MySQLStatus.last_backup``); ``last_backup(name)``
reads it afterwards; a new instance of the same name restores the newest dump,
and says which in ``status.restore``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import threading
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar

import attrs
import httpx
import kr8s
import kr8s.asyncio

from ._jobs import JobPhase, _finished, _parse_summary, _size, job_phase, termination_message
from ._kube import Kr8sKube, ObjectRef
from ._model import (
    API_VERSION,
    KIND,
    PLURAL,
    SKIP_BACKUP_ANNOTATION,
    Condition,
    LastBackup,
    MySQL,
    MySQLSpec,
    MySQLStatus,
    Names,
    RestoreRecord,
    SecretKeyRef,
    parse_status,
)
from ._schema import make_converter

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BackupFailed",
    "ClientError",
    "InstanceFailed",
    "InstanceNotFound",
    "MySQLClient",
    "MySQLObject",
    "SpecRejected",
    "SyncMySQLClient",
    "WaitError",
    "WaitTimeout",
    "manifest",
]

T = TypeVar("T")

FIELD_MANAGER = "mysql-operator-client"
REQUEST_TIMEOUT = 30.0
# The longest a single watch request lives before it is re-listed and re-opened.
MAX_WATCH_SECONDS = 300
# The least time between two list-and-watch rounds.
WATCH_RETRY_DELAY = 1.0
REDACTED = "<redacted>"

_log = logging.getLogger(__name__)
_converter = make_converter(forbid_extra_keys=True)


# --- errors ---------------------------------------------------------------------------


class ClientError(Exception):
    """Base class of every error the client raises."""


class ApiError(ClientError):
    """The API server refused a request or could not be reached (``code`` 0).

    ``reason`` is the Kubernetes Status reason (``Invalid``, ``Forbidden``...)
    and ``message`` the server's own words.
    """

    def __init__(self, message: str, *, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason


class SpecRejected(ApiError):
    """The API server rejected the object: its schema or CEL rules say why.

    ``causes`` lists the server's per-field messages (``spec.x: ...``).
    """

    def __init__(
        self, message: str, *, code: int = 422, reason: str = "Invalid",
        causes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, code=code, reason=reason)
        self.causes = causes


class AlreadyExists(ApiError):
    """An object of that name already exists."""


class InstanceNotFound(ApiError, LookupError):
    """No ``MySQL`` object of that name in the namespace."""


class WaitError(ClientError):
    """A wait ended without the awaited state; ``last`` is the object as last seen."""

    def __init__(self, message: str, last: MySQLObject | None = None) -> None:
        super().__init__(message)
        self.last = last

    @property
    def status(self) -> MySQLStatus | None:
        return self.last.status if self.last is not None else None


class InstanceFailed(WaitError):
    """The operator gave up on the instance (phase Failed); the message says why."""


class BackupFailed(WaitError):
    """The backup before a deletion failed: the instance and its data are kept.

    The operator retries with backoff; ``delete(..., skip_backup=True)``
    deletes without a backup.
    """


class WaitTimeout(WaitError, TimeoutError):
    """The awaited state did not come in time; the message ends with the last status."""


# --- the typed view of one object -------------------------------------------------------


@attrs.frozen
class MySQLObject:
    """One ``MySQL`` object as the API server holds it: identity, typed spec, typed status."""

    cr: MySQL
    status: MySQLStatus
    resource_version: str = ""
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MySQLObject:
        """Parse an object the API server returned (raises ``SpecError`` on a bad spec)."""
        metadata = body.get("metadata") or {}
        return cls(
            cr=MySQL.from_body(body),
            status=parse_status(body.get("status")),
            resource_version=str(metadata.get("resourceVersion") or ""),
            creation_timestamp=metadata.get("creationTimestamp"),
            deletion_timestamp=metadata.get("deletionTimestamp"),
            labels=dict(metadata.get("labels") or {}),
        )

    @property
    def name(self) -> str:
        return self.cr.name

    @property
    def namespace(self) -> str:
        return self.cr.namespace

    @property
    def uid(self) -> str:
        return self.cr.uid

    @property
    def generation(self) -> int:
        return self.cr.generation

    @property
    def spec(self) -> MySQLSpec:
        return self.cr.spec

    @property
    def names(self) -> Names:
        """Names of the objects the operator derives from this one (Service, Secret, Jobs...)."""
        return self.cr.names

    @property
    def phase(self) -> str | None:
        return self.status.phase

    @property
    def message(self) -> str | None:
        return self.status.message

    @property
    def deleting(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def last_backup(self) -> LastBackup | None:
        """The backup taken when this object was deleted (set only while it goes away)."""
        return self.status.last_backup

    @property
    def restore(self) -> RestoreRecord | None:
        """What was restored when this object was created (``source == "none"``: nothing)."""
        return self.status.restore

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type (Ready, Restored, BackupSucceeded), if set."""
        return next((c for c in self.status.conditions if c.type == type_), None)

    @property
    def observed(self) -> bool:
        """Whether the status describes the current spec (not an earlier generation)."""
        seen = self.status.observed_generation
        return seen is None or seen >= self.generation

    @property
    def ready(self) -> bool:
        """Phase Ready with condition Ready=True, for the current spec, not being deleted."""
        ready = self.condition("Ready")
        return (
            self.phase == "Ready"
            and ready is not None
            and ready.status == "True"
            and self.observed
            and not self.deleting
        )

    @property
    def failed(self) -> bool:
        """The operator gave up on the current spec (phase Failed)."""
        return self.phase == "Failed" and self.observed

    def describe(self) -> str:
        """``phase: message``, for error messages and logs."""
        return f"{self.phase or 'no status yet'}: {self.message or '-'}"


# --- pure helpers ----------------------------------------------------------------------


def manifest(
    name: str,
    spec: MySQLSpec,
    *,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``MySQL`` object to create, its spec keyed as the CRD expects."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": _converter.unstructure(spec),
    }


def _redact(text: str, secret: str | bytes | None) -> str:
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    return text.replace(secret, REDACTED) if secret else text


def api_error(
    exc: BaseException, *, what: str, secret: str | bytes | None = None, named: bool = True
) -> ApiError:
    """The typed error for a failed request (``what`` names the object, for the message)."""
    if not isinstance(exc, kr8s.ServerError):
        return ApiError(_redact(f"{what}: {exc}", secret))
    status: dict[str, Any] = exc.status if isinstance(exc.status, dict) else {}
    code = exc.response.status_code if exc.response is not None else 0
    reason = str(status.get("reason") or "")
    message = _redact(str(status.get("message") or exc), secret)
    if code == 404 and named:
        return InstanceNotFound(f"{what} not found", code=code, reason=reason or "NotFound")
    if code == 404:
        return ApiError(f"{what}: {message} (is the MySQL CRD installed?)", code=code,
                        reason=reason)
    if code == 409 and reason == "AlreadyExists":
        return AlreadyExists(message, code=code, reason=reason)
    if code in (400, 422) or reason in ("Invalid", "BadRequest"):
        causes = tuple(
            _redact(f"{c.get('field', '')}: {c.get('message', '')}".lstrip(": "), secret)
            for c in (status.get("details") or {}).get("causes") or []
        )
        return SpecRejected(message, code=code, reason=reason, causes=causes)
    return ApiError(f"{what}: {message}", code=code, reason=reason)


Decision = Callable[[str, "MySQLObject | None"], tuple[bool, "MySQLObject | None"]]
"""What a wait does with each state it sees: called with the event ("INITIAL" for
the first list, then "ADDED", "MODIFIED", "DELETED") and the object (None when
absent); returns (done, result), or raises to end the wait."""


def until_ready(event: str, obj: MySQLObject | None) -> tuple[bool, MySQLObject | None]:
    """The decision of ``wait_ready``."""
    if obj is None and event == "INITIAL":
        raise InstanceNotFound("the MySQL object does not exist", code=404, reason="NotFound")
    if obj is None or event == "DELETED":
        raise WaitError("the MySQL object was deleted while waiting for it to be ready", obj)
    if obj.deleting:
        raise WaitError(f"{obj.name} is being deleted ({obj.describe()})", obj)
    if obj.failed:
        raise InstanceFailed(f"{obj.name} failed: {obj.message}", obj)
    return obj.ready, obj


def until_deleted(tolerate_backup_failure: bool) -> Decision:
    """The decision of ``delete(wait=True)``: done when the object is gone."""

    def decide(event: str, obj: MySQLObject | None) -> tuple[bool, MySQLObject | None]:
        if obj is None or event == "DELETED":
            return True, obj
        if obj.phase == "BackupFailed" and obj.deleting and not tolerate_backup_failure:
            raise BackupFailed(
                f"the backup of {obj.name} failed, so it is not deleted: {obj.message}", obj
            )
        return False, obj

    return decide


# --- the asyncio client ----------------------------------------------------------------


class MySQLClient:
    """Async client for ``MySQL`` objects (otus.homework/v1) in one namespace.

    ``async with MySQLClient(namespace="demo") as client: ...``, or
    ``client = await MySQLClient.connect(...)``.  ``namespace=None`` means the
    kubeconfig context's namespace.  ``kubeconfig`` and ``context`` pick the
    cluster (default: ``KUBECONFIG``, else the in-cluster service account);
    ``api`` lends an existing ``kr8s.asyncio.Api`` instead.  Every request has a
    ``request_timeout``; waits are watches, bounded by their own ``timeout``.
    """

    def __init__(
        self,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        api: kr8s.asyncio.Api | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._namespace = namespace
        self._kubeconfig = kubeconfig
        self._context = context
        self._api: kr8s.asyncio.Api | None = api
        self._timeout = request_timeout

    @classmethod
    async def connect(
        cls,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> MySQLClient:
        client = cls(namespace, kubeconfig=kubeconfig, context=context,
                     request_timeout=request_timeout)
        await client._connected()
        return client

    async def __aenter__(self) -> MySQLClient:
        await self._connected()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Forget the connection (kr8s shares and closes its clients itself)."""
        self._api = None

    async def _connected(self) -> kr8s.asyncio.Api:
        if self._api is None:
            try:
                self._api = await kr8s.asyncio.api(
                    kubeconfig=self._kubeconfig, context=self._context
                )
            except (kr8s.ServerError, kr8s.APITimeoutError, httpx.HTTPError) as exc:
                raise api_error(exc, what="connecting to the Kubernetes API") from exc
        if self._namespace is None:
            self._namespace = str(self._api.namespace or "default")
        return self._api

    @property
    def namespace(self) -> str:
        """The namespace this client works in (known once connected)."""
        if self._namespace is None:
            raise RuntimeError("not connected yet: the kubeconfig decides the namespace")
        return self._namespace

    # -- requests ------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        *,
        version: str = API_VERSION,
        plural: str = PLURAL,
        name: str = "",
        what: str = "",
        secret: str | bytes | None = None,
        **kwargs: Any,
    ) -> Any:
        api = await self._connected()
        url = f"{plural}/{name}" if name else plural
        what = what or (f"MySQL {self.namespace}/{name}" if name else
                        f"MySQL objects in namespace {self.namespace}")
        try:
            async with api.call_api(
                method, version=version, namespace=self.namespace, url=url,
                timeout=self._timeout, **kwargs,
            ) as response:
                return response.json()
        except (kr8s.ServerError, kr8s.APITimeoutError, httpx.HTTPError) as exc:
            raise api_error(exc, what=what, secret=secret, named=bool(name)) from None

    async def create(
        self,
        name: str,
        spec: MySQLSpec,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> MySQLObject:
        """Create a ``MySQL`` object; the operator then brings the server up.

        Returns at once (see ``wait_ready``).  Raises ``SpecRejected`` with the
        API server's message when its schema or rules refuse the object, and
        ``AlreadyExists`` when the name is taken.  Prefer
        ``spec.password_secret`` to an inline ``spec.password``.
        """
        await self._connected()
        body = manifest(name, spec, namespace=self.namespace, labels=labels,
                        annotations=annotations)
        _log.info("creating MySQL %s/%s (image %s, database %s)",
                  self.namespace, name, spec.image, spec.database)
        created = await self._call(
            "POST", what=f"MySQL {self.namespace}/{name}", secret=spec.password,
            params={"fieldManager": FIELD_MANAGER},
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        return MySQLObject.from_body(created)

    async def get(self, name: str) -> MySQLObject:
        """The object with its typed spec and status; ``InstanceNotFound`` if absent."""
        return MySQLObject.from_body(await self._call("GET", name=name))

    async def status(self, name: str) -> MySQLStatus:
        """The typed status: phase, message, conditions, last backup, restore record."""
        return (await self.get(name)).status

    async def list(self, *, label_selector: str | None = None) -> list[MySQLObject]:
        """Every ``MySQL`` object in the namespace (optionally by label), sorted by name."""
        params = {"labelSelector": label_selector} if label_selector else {}
        found = await self._call("GET", params=params)
        items = [MySQLObject.from_body(item) for item in found.get("items") or []]
        return sorted(items, key=lambda item: item.name)

    # A timeout parameter (rather than asyncio.timeout around the call) lets the
    # error carry the last status seen.
    async def wait_ready(self, name: str, *, timeout: float = 300) -> MySQLObject:  # noqa: ASYNC109
        """Wait (watching, not polling) until the instance is Ready for its current spec.

        Raises ``InstanceNotFound`` if there is no such object,
        ``InstanceFailed`` when the operator gives up (phase Failed),
        ``WaitError`` when the object is deleted meanwhile, ``WaitTimeout``
        (also a ``TimeoutError``) after ``timeout`` seconds, with the last
        status message (such as "waiting for Secret demo/db").
        """
        try:
            obj = await self._watch(name, until_ready, timeout=timeout,
                                    waiting_for="to be ready")
        except InstanceNotFound:
            raise InstanceNotFound(f"MySQL {self.namespace}/{name} not found", code=404,
                                   reason="NotFound") from None
        assert obj is not None  # until_ready never ends on a missing object
        return obj

    async def delete(
        self,
        name: str,
        *,
        wait: bool = True,
        skip_backup: bool | None = None,
        timeout: float = 600,  # noqa: ASYNC109 (see wait_ready)
    ) -> LastBackup | None:
        """Delete the instance; the operator backs the database up first.

        ``skip_backup``: ``True`` annotates ``otus.homework/skip-backup=true``
        first (delete without a backup), ``False`` removes that annotation (a
        backup is taken), ``None`` keeps the object's annotations as they are.

        With ``wait`` (the default), waits until the operator's finalizer has
        taken the backup and deleted the server, and returns the backup's
        record (None when no backup was taken: skipped, or never ready).
        Raises ``BackupFailed`` if the backup fails (the instance and its data
        are then kept, and the operator retries), ``WaitTimeout`` after
        ``timeout`` seconds.  Without ``wait`` it returns None at once.
        """
        if skip_backup is not None:
            value = "true" if skip_backup else None
            await self._call(
                "PATCH", name=name,
                content=json.dumps({"metadata": {"annotations": {SKIP_BACKUP_ANNOTATION: value}}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
        _log.info("deleting MySQL %s/%s%s", self.namespace, name,
                  " without a backup" if skip_backup else "")
        await self._call("DELETE", name=name)
        if not wait:
            return None
        last = await self._watch(
            name, until_deleted(tolerate_backup_failure=bool(skip_backup)), timeout=timeout,
            waiting_for="to be backed up and deleted",
        )
        return last.last_backup if last is not None else None

    async def last_backup(self, name: str) -> LastBackup | None:
        """The last backup of the instance called ``name``, even after it was deleted.

        There is no on-demand backup: the operator backs up on deletion.  While
        the object is being deleted its status has the record; afterwards it is
        read from the backup Job the operator keeps (``backup-<name>-job``).
        None when there is neither (never deleted, or the Job was removed).
        """
        try:
            obj = await self.get(name)
        except InstanceNotFound:
            obj = None
        if obj is not None and obj.last_backup is not None:
            return obj.last_backup
        kube = Kr8sKube(await self._connected())
        job_name = Names(name).backup_job
        job = await kube.get(ObjectRef("batch/v1", "Job", job_name, self.namespace))
        if job is None or job_phase(job) is not JobPhase.SUCCEEDED:
            return None
        summary = _parse_summary(await termination_message(kube, job))
        if not summary.get("file"):
            return None
        return LastBackup(time=_finished(job, summary), job=job_name, file=str(summary["file"]),
                          size=_size(summary.get("size")))

    async def create_password_secret(
        self, name: str, password: str | bytes, *, key: str = "password", exist_ok: bool = False
    ) -> SecretKeyRef:
        """Create an Opaque Secret holding a root password; returns its ``SecretKeyRef``.

        With ``exist_ok``, an existing Secret whose ``key`` holds the same
        password is fine; a different one raises ``AlreadyExists`` (the
        password is never part of a message).
        """
        await self._connected()
        raw = password.encode("utf-8") if isinstance(password, str) else password
        encoded = base64.b64encode(raw).decode("ascii")
        what = f"Secret {self.namespace}/{name}"
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace},
            "type": "Opaque",
            "data": {key: encoded},
        }
        try:
            await self._call("POST", version="v1", plural="secrets", what=what, secret=raw,
                             params={"fieldManager": FIELD_MANAGER}, content=json.dumps(secret),
                             headers={"Content-Type": "application/json"})
        except AlreadyExists:
            if not exist_ok:
                raise
            existing = await self._call("GET", version="v1", plural="secrets", name=name,
                                        what=what)
            if (existing.get("data") or {}).get(key) != encoded:
                raise AlreadyExists(
                    f"{what} exists and its key {key!r} holds another password",
                    code=409, reason="AlreadyExists",
                ) from None
        return SecretKeyRef(name=name, key=key)

    # -- watching --------------------------------------------------------------------

    async def _watch(
        self,
        name: str,
        decide: Decision,
        *,
        timeout: float,  # noqa: ASYNC109 (see wait_ready)
        waiting_for: str,
    ) -> MySQLObject | None:
        """List, decide, then watch from the list's resourceVersion until decided.

        Each watch request is bounded (``timeoutSeconds``); when it ends, or
        the server says its resourceVersion is too old (410), the object is
        listed again, so an event is never missed.
        """
        last: MySQLObject | None = None
        clock = asyncio.get_running_loop().time  # monotonic, like asyncio.timeout's
        deadline = clock() + timeout

        def judge(event: str, body: Mapping[str, Any] | None) -> tuple[bool, MySQLObject | None]:
            nonlocal last
            obj = MySQLObject.from_body(body) if body is not None else None
            if obj is not None:
                last = obj
            return decide(event, obj)

        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = await self._call(
                        "GET", params={"fieldSelector": f"metadata.name={name}"}
                    )
                    items = found.get("items") or []
                    done, result = judge("INITIAL", items[0] if items else None)
                    if done:
                        return result
                    version = str(found["metadata"]["resourceVersion"])
                    seconds = max(1, min(MAX_WATCH_SECONDS,
                                         math.ceil(deadline - clock())))
                    started = clock()
                    decided = await self._watch_once(name, version, seconds, judge)
                    if decided is not None:
                        return decided[1]
                    # A watch that ends at once (an error, a proxy) must not become a
                    # tight list-watch loop.
                    await asyncio.sleep(max(0.0, WATCH_RETRY_DELAY - (clock() - started)))
        except TimeoutError:
            where = f"MySQL {self.namespace}/{name}"
            state = last.describe() if last is not None else "not found"
            raise WaitTimeout(
                f"{where} not {waiting_for.removeprefix('to ')} after {timeout:g}s; "
                f"last status: {state}", last,
            ) from None

    async def _watch_once(
        self,
        name: str,
        version: str,
        seconds: int,
        judge: Callable[[str, Mapping[str, Any] | None], tuple[bool, MySQLObject | None]],
    ) -> tuple[Literal[True], MySQLObject | None] | None:
        """One watch request; the decision if one was reached, None to list again."""
        api = await self._connected()
        params = {
            "watch": "true",
            "fieldSelector": f"metadata.name={name}",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        try:
            async with api.call_api(
                "GET", version=API_VERSION, namespace=self.namespace, url=PLURAL,
                params=params, stream=True,
                timeout=httpx.Timeout(self._timeout, read=seconds + self._timeout),
            ) as response:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind = str(event.get("type"))
                    if kind == "BOOKMARK":
                        continue
                    if kind == "ERROR":
                        # 410 Gone (too old a resourceVersion) and the like: list again.
                        _log.debug("watch of MySQL %s ended: %s", name, event.get("object"))
                        return None
                    done, result = judge(kind, event["object"])
                    if done:
                        return True, result
        except (kr8s.APITimeoutError, httpx.TransportError) as exc:
            _log.debug("watch of MySQL %s interrupted (%s): listing again", name, exc)
        except kr8s.ServerError as exc:
            raise api_error(exc, what=f"watching MySQL {self.namespace}/{name}",
                            named=False) from None
        return None


# --- the blocking client ---------------------------------------------------------------


class _LoopThread:
    """An event loop in a daemon thread: runs the async client for blocking callers.

    A loop of its own (rather than ``asyncio.run`` per call) keeps one kr8s
    connection pool, and works where a loop already runs (Jupyter).
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mysql-operator-client", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: do not leave the wait running
            raise

    def close(self) -> None:
        if self._loop.is_closed():
            return
        # Finish the async generators (httpx's streams) before the loop goes.
        asyncio.run_coroutine_threadsafe(self._loop.shutdown_asyncgens(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SyncMySQLClient:
    """``MySQLClient``'s methods, blocking: for scripts and notebooks.

    Connects on construction; ``close()`` (or a ``with`` block) stops its
    background event loop.
    """

    def __init__(
        self,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._portal = _LoopThread()
        try:
            self._client = self._portal.run(MySQLClient.connect(
                namespace, kubeconfig=kubeconfig, context=context,
                request_timeout=request_timeout,
            ))
        except BaseException:
            self._portal.close()
            raise

    def __enter__(self) -> SyncMySQLClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._portal.close()

    @property
    def namespace(self) -> str:
        return self._client.namespace

    def create(
        self,
        name: str,
        spec: MySQLSpec,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> MySQLObject:
        """See ``MySQLClient.create``."""
        return self._portal.run(
            self._client.create(name, spec, labels=labels, annotations=annotations)
        )

    def get(self, name: str) -> MySQLObject:
        """See ``MySQLClient.get``."""
        return self._portal.run(self._client.get(name))

    def status(self, name: str) -> MySQLStatus:
        """See ``MySQLClient.status``."""
        return self._portal.run(self._client.status(name))

    def list(self, *, label_selector: str | None = None) -> list[MySQLObject]:
        """See ``MySQLClient.list``."""
        return self._portal.run(self._client.list(label_selector=label_selector))

    def wait_ready(self, name: str, *, timeout: float = 300) -> MySQLObject:
        """See ``MySQLClient.wait_ready``."""
        return self._portal.run(self._client.wait_ready(name, timeout=timeout))

    def delete(
        self, name: str, *, wait: bool = True, skip_backup: bool | None = None,
        timeout: float = 600,
    ) -> LastBackup | None:
        """See ``MySQLClient.delete``."""
        return self._portal.run(
            self._client.delete(name, wait=wait, skip_backup=skip_backup, timeout=timeout)
        )

    def last_backup(self, name: str) -> LastBackup | None:
        """See ``MySQLClient.last_backup``."""
        return self._portal.run(self._client.last_backup(name))

    def create_password_secret(
        self, name: str, password: str | bytes, *, key: str = "password", exist_ok: bool = False
    ) -> SecretKeyRef:
        """See ``MySQLClient.create_password_secret``."""
        return self._portal.run(
            self._client.create_password_secret(name, password, key=key, exist_ok=exist_ok)
        )

