"""Helpers shared by the operator's cluster tests: MySQL access, events, leak checks."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

from tests.conftest import REPO, Kubectl, OperatorProcess

# Quotes, $(...), backquote, backslash, spaces, non-ASCII: what must survive every hop.
HOSTILE_PASSWORD = "q'u\"o`te $(touch /tmp/pwned) back\\slash  sp ace ☃ ünï"


SEED_CR = REPO / "deploy" / "cr.yml"
SEED_PASSWORD = "otuspassword"
SEED_ROWS = ["1\tsome data", "2\tsome data-2"]


def cr(name: str = "mysql-instance", **spec: Any) -> dict[str, Any]:
    """A MySQL object like the seed's, with ``spec`` fields added or replaced."""
    return {
        "apiVersion": "otus.homework/v1",
        "kind": "MySQL",
        "metadata": {"name": name},
        "spec": {"image": "mysql:5.7", "database": "otus-database", "storage_size": "1Gi",
                 **spec},
    }


def create(kube: Kubectl, manifest: dict[str, Any]) -> None:
    """kubectl create (not apply: no last-applied copy of the object)."""
    kube("create", "-f", "-", stdin=json.dumps(manifest))
KUBECTL_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def mysql_pod(kube: Kubectl, name: str = "mysql-instance") -> str:
    pods = kube("get", "pods", "-l", f"app={name}", "--field-selector=status.phase=Running",
                "-o", "jsonpath={.items[*].metadata.name}").split()
    assert len(pods) == 1, pods
    return pods[0]


def mysql_run(kube: Kubectl, pod: str, sql: str, password: str,
              database: str = "otus-database") -> subprocess.CompletedProcess[str]:
    """Run SQL as root in the pod; the password goes through the environment."""
    return kube.run("exec", pod, "--", "env", f"MYSQL_PWD={password}", "mysql", "-u", "root",
                    "-h", "127.0.0.1", "-N", "-e", sql, database, check=False)


def mysql(kube: Kubectl, pod: str, sql: str, password: str,
          database: str = "otus-database") -> str:
    result = mysql_run(kube, pod, sql, password, database)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until(what: str, check: Callable[[], bool], timeout: float = 300,
               interval: float = 1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def exists(kube: Kubectl, what: str) -> bool:
    return kube.run("get", what, check=False).returncode == 0


def events(kube: Kubectl, name: str = "mysql-instance") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.get_json(
        "events", f"--field-selector=involvedObject.kind=MySQL,involvedObject.name={name}")[
            "items"]
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def event_reasons(kube: Kubectl, name: str = "mysql-instance") -> list[str]:
    return [e["reason"] for e in events(kube, name)]


def condition(kube: Kubectl, name: str, type_: str) -> dict[str, Any] | None:
    status = kube.get_json("mysql", name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)


def owned_objects(kube: Kubectl, name: str = "mysql-instance") -> dict[str, list[str]]:
    """Names of the instance's objects by kind (label otus.homework/instance)."""
    found: dict[str, list[str]] = {}
    listing = kube.get_json("deployments,services,secrets,pvc,jobs",
                            f"-l=otus.homework/instance={name}")
    for item in listing["items"]:
        found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return {kind: sorted(names) for kind, names in found.items()}


@contextlib.contextmanager
def operator_restored(operator: OperatorProcess) -> Iterator[None]:
    """Whatever happens in the test, leave the session's operator running."""
    try:
        yield
    finally:
        if operator.proc is None or operator.proc.poll() is not None:
            operator.start()


def _needles(password: str) -> list[str]:
    encoded = base64.b64encode(password.encode()).decode()
    return [password, json.dumps(password)[1:-1], encoded]


def _scrub(item: dict[str, Any]) -> dict[str, Any]:
    """Drop the places where the password legitimately is."""
    item = json.loads(json.dumps(item))
    if item.get("kind") == "Secret":
        item.pop("data", None)
        item.pop("stringData", None)
    if item.get("kind") == "MySQL":
        item.get("spec", {}).pop("password", None)
    annotations = item.get("metadata", {}).get("annotations") or {}
    # kubectl apply's own copy of the whole object, spec.password included (documented).
    if item.get("kind") == "MySQL":
        annotations.pop(KUBECTL_LAST_APPLIED, None)
    item.get("metadata", {}).pop("managedFields", None)
    return item


def assert_no_leak(kubectl: Kubectl, namespace: str, operator: OperatorProcess,
                   *passwords: str) -> None:
    """No plaintext (or base64) password anywhere but spec.password and Secret data."""
    kube = kubectl.in_namespace(namespace)
    kinds = ("mysqls,secrets,pods,jobs,deployments,replicasets,services,pvc,configmaps,"
             "serviceaccounts,events")
    items = kube.get_json(kinds)["items"]
    items += [v for v in kubectl.get_json("pv")["items"]
              if (v["spec"].get("claimRef") or {}).get("namespace") == namespace]
    assert items
    text = json.dumps([_scrub(i) for i in items], ensure_ascii=False)
    log = operator.logs()
    for password in passwords:
        for needle in _needles(password):
            assert needle not in text, f"password found in the namespace's objects: {needle!r}"
            assert needle not in log, "password found in the operator's log"
        # Distinctive fragments too, in case of re-quoting.
        for fragment in ("$(touch /tmp/pwned)", "back\\slash  sp ace"):
            if fragment in password:
                assert fragment not in text
                assert fragment not in log
