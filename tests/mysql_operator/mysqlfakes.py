"""Test doubles: an in-memory Kube, the seed's MySQL object, an Event recorder,
and stand-in commands for the Jobs' shell scripts."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mysql_operator import KubeError, Manifest, MySQL, ObjectRef

SEED_PASSWORD = "otuspassword"
# Quotes, $, backslash, spaces, non-ASCII: what the scripts and manifests must survive.
NASTY_PASSWORD = "p@ss 'w\"o$rd` \\ $(reboot) ☃"


def seed_body(**spec: Any) -> dict[str, Any]:
    """The seed's CR (deploy/cr.yml) as the API server would return it."""
    return {
        "apiVersion": "otus.homework/v1",
        "kind": "MySQL",
        "metadata": {
            "name": "mysql-instance",
            "namespace": "default",
            "uid": "11111111-2222-3333-4444-555555555555",
            "generation": 1,
        },
        "spec": {
            "image": "mysql:5.7",
            "database": "otus-database",
            "password": SEED_PASSWORD,
            "storage_size": "1Gi",
            **spec,
        },
    }


def seed_cr(**spec: Any) -> MySQL:
    return MySQL.from_body(seed_body(**spec))


def _key(ref: ObjectRef) -> tuple[str, str | None, str]:
    return (ref.kind, ref.namespace, ref.name)


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


class FakeKube:
    """An in-memory API: objects by (kind, namespace, name), every request recorded.

    ``fail[(verb, kind)]`` makes the next such request raise that error.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], Manifest] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[tuple[str, str], KubeError] = {}
        self._uids = itertools.count(1)
        self.pod_logs: dict[tuple[str, str], str] = {}

    def _check(self, verb: str, kind: str) -> None:
        error = self.fail.pop((verb, kind), None)
        if error is not None:
            raise error

    def put(self, manifest: Manifest) -> Manifest:
        """Store an object as if the cluster had it (e.g. to set its status)."""
        stored = copy.deepcopy(manifest)
        metadata = stored.setdefault("metadata", {})
        metadata.setdefault("uid", f"uid-{next(self._uids)}")
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        metadata.setdefault("generation", 1)
        self.objects[_key(ObjectRef.of(stored))] = stored
        return copy.deepcopy(stored)

    def stored(self, kind: str, name: str, namespace: str | None = "default") -> Manifest:
        return self.objects[(kind, namespace, name)]

    def kinds(self) -> list[tuple[str, str]]:
        return sorted((kind, name) for kind, _, name in self.objects)

    async def get(self, ref: ObjectRef) -> Manifest | None:
        self.calls.append(("get", str(ref)))
        self._check("get", ref.kind)
        found = self.objects.get(_key(ref))
        return copy.deepcopy(found) if found is not None else None

    async def apply(self, manifest: Manifest) -> Manifest:
        ref = ObjectRef.of(manifest)
        self.calls.append(("apply", str(ref)))
        self._check("apply", ref.kind)
        existing = self.objects.get(_key(ref))
        merged = copy.deepcopy(manifest)
        if existing is not None:
            merged["metadata"] = {**existing["metadata"], **merged["metadata"]}
            if "status" in existing:
                merged["status"] = existing["status"]
            if existing.get("spec") != merged.get("spec"):  # as the API server counts
                merged["metadata"]["generation"] = existing["metadata"]["generation"] + 1
        return self.put(merged)

    async def create(self, manifest: Manifest) -> Manifest | None:
        ref = ObjectRef.of(manifest)
        self.calls.append(("create", str(ref)))
        self._check("create", ref.kind)
        if _key(ref) in self.objects:
            return None
        return self.put(manifest)

    async def patch(self, ref: ObjectRef, patch: Manifest) -> Manifest | None:
        self.calls.append(("patch", str(ref)))
        self._check("patch", ref.kind)
        existing = self.objects.get(_key(ref))
        if existing is None:
            return None
        merged = _merge(copy.deepcopy(existing), patch)
        self.objects[_key(ref)] = merged
        return copy.deepcopy(merged)

    async def delete(self, ref: ObjectRef) -> bool:
        self.calls.append(("delete", str(ref)))
        self._check("delete", ref.kind)
        return self.objects.pop(_key(ref), None) is not None

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[Manifest]:
        self.calls.append(("list", f"{kind} {namespace} {label_selector}"))
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in self.objects.items()
            if k == kind and ns == namespace
            and all(obj["metadata"].get("labels", {}).get(lk) == lv for lk, lv in wanted.items())
        ]

    async def logs(self, namespace: str, pod: str, tail: int) -> str:
        self.calls.append(("logs", f"{namespace}/{pod}"))
        return "\n".join(self.pod_logs.get((namespace, pod), "").splitlines()[-tail:])

    # Helpers that play the part of the cluster's controllers.

    def make_available(self, name: str = "mysql-instance") -> None:
        deployment = self.stored("Deployment", name)
        deployment["status"] = {
            "observedGeneration": deployment["metadata"]["generation"],
            "updatedReplicas": 1,
            "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        }

    def finish_job(self, name: str, *, succeeded: bool, message: str,
                   at: str = "2026-01-02T03:04:05Z") -> None:
        """Mark a Job finished at ``at``, with one pod whose termination message is ``message``."""
        job = self.stored("Job", name)
        job["status"] = {
            "conditions": [{"type": "Complete" if succeeded else "Failed", "status": "True",
                            "reason": None if succeeded else "BackoffLimitExceeded",
                            "message": None if succeeded else "Job has reached the specified "
                            "backoff limit", "lastTransitionTime": at}],
            "completionTime": "2026-01-02T03:04:05Z",
        }
        self.put({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-abcde",
                "namespace": job["metadata"]["namespace"],
                "labels": {"batch.kubernetes.io/controller-uid": job["metadata"]["uid"]},
            },
            "status": {
                "phase": "Succeeded" if succeeded else "Failed",
                "containerStatuses": [{"state": {"terminated": {
                    "exitCode": 0 if succeeded else 1, "message": message}}}],
            },
        })


class EventLog:
    """kopf.info / kopf.warn replaced by a recorder (they need a running operator)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def recorder(self, type_: str) -> Callable[..., None]:
        def record(_: Any, *, reason: str, message: str = "", **__: Any) -> None:
            self.events.append((type_, reason, message))

        return record

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


# Answers once $UNREACHABLE pings have been refused; `sleep` returns at once.
FAKE_PING = """#!/bin/sh
echo ping >> "$PINGS"
[ "$(wc -l < "$PINGS")" -gt "${UNREACHABLE:-0}" ] && exit 0
echo "error: 'Can't connect to server on 'mysql-instance' (111)'" >&2; exit 1
"""


def install_stand_ins(bin_dir: Path, **scripts: str) -> None:
    """Stand-in commands in bin_dir: a `mysqladmin` that answers after $UNREACHABLE
    refused pings (counted in $PINGS), a `sleep` that returns at once, and these."""
    bin_dir.mkdir(exist_ok=True)
    for name, text in {"mysqladmin": FAKE_PING, "sleep": "#!/bin/sh\n", **scripts}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
