"""Shared fixtures: a real cluster, a fresh namespace per test, and kubectl.

The cluster is the one named by ``KUBECONFIG`` when that is set (kind,
minikube, a cloud: any cluster), and otherwise the local one, brought up by
``localkube`` or reused when it already runs.  Every test that asks for the
cluster must carry the ``cluster`` marker, so ``make unit`` (``-m 'not
cluster'``) never needs one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

# Namespaces of this test session share a prefix, and the session's operator
# serves only those: several sessions (developers, CI) can share one cluster.
SESSION_PREFIX = f"t{uuid.uuid4().hex[:4]}"


@attrs.frozen
class ClusterInfo:
    kubeconfig: str
    # True when the tests brought up (and may take down) the local cluster.
    local: bool
    was_running: bool


@attrs.frozen
class Kubectl:
    """kubectl bound to one cluster and, optionally, one namespace."""

    kubeconfig: str
    namespace: str | None = None

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", f"--kubeconfig={self.kubeconfig}"]
        if self.namespace:
            argv.append(f"--namespace={self.namespace}")
        result = subprocess.run([*argv, *args], input=stdin, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs: Any) -> str:
        return self.run(*args, **kwargs).stdout

    def apply(self, *manifests: dict[str, Any]) -> str:
        items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        return self("apply", "-f", "-", stdin=json.dumps(items))

    def get_json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json"))

    def wait_for(self, what: str, *args: str, timeout: float = 300) -> str:
        """``kubectl wait`` that also waits for the object to exist first."""
        deadline = time.monotonic() + timeout
        if "--for=delete" in args:
            return self("wait", what, *args, f"--timeout={int(timeout)}s", timeout=timeout + 30)
        while self.run("get", what, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never appeared")
            time.sleep(1)
        remaining = max(1, int(deadline - time.monotonic()))
        return self("wait", what, *args, f"--timeout={remaining}s", timeout=remaining + 30)

    def wait_job(self, name: str, timeout: float = 300) -> None:
        """Wait for Job ``name`` to complete; if it fails or time runs out, the
        error shows its Failed message, its pods and their logs."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.run("get", f"job/{name}", "-o", "json", check=False)
            job = json.loads(found.stdout) if found.returncode == 0 else {}
            conditions = {c["type"]: c for c in job.get("status", {}).get("conditions", [])
                          if c["status"] == "True"}
            if "Complete" in conditions:
                return
            if "Failed" in conditions or time.monotonic() > deadline:
                break
            time.sleep(1)
        outcome = conditions.get("Failed", {}).get("message") or f"not complete in {timeout}s"
        pods = self("get", "pods", "-l", f"job-name={name}", "-o", "wide", check=False)
        logs = self.run("logs", "-l", f"job-name={name}", "--prefix", "--tail=30",
                        "--all-containers", check=False)
        raise AssertionError(f"job/{name}: {outcome}\n{pods}\n{logs.stdout}{logs.stderr}")

    def in_namespace(self, namespace: str) -> Kubectl:
        return attrs.evolve(self, namespace=namespace)


def _local_kubectl_dir() -> Path | None:
    from localkube import build, versions

    path = build.bin_dir("kubernetes", versions.KUBERNETES)
    return path if (path / "kubectl").exists() else None


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> ClusterInfo:
    if os.environ.get("KUBECONFIG"):
        info = ClusterInfo(os.environ["KUBECONFIG"], local=False, was_running=True)
    else:
        from localkube.config import KUBECONFIG
        from localkube.node import Cluster

        local = Cluster()
        was_running = local.healthy()
        local.up()
        info = ClusterInfo(str(KUBECONFIG), local=True, was_running=was_running)
        # In-process clients (kr8s) find the cluster the way every user's tool does.
        os.environ["KUBECONFIG"] = info.kubeconfig
    # The matching kubectl (and helm) first on PATH for every subprocess.
    kube_dir = _local_kubectl_dir()
    if kube_dir is not None:
        from localkube import build, versions

        os.environ["PATH"] = os.pathsep.join(
            [str(kube_dir), str(build.bin_dir("helm", versions.HELM)), os.environ["PATH"]])
    return info


@pytest.fixture(autouse=True)
def _cluster_tests_are_marked(request: pytest.FixtureRequest) -> None:
    if "cluster" in request.fixturenames and request.node.get_closest_marker("cluster") is None:
        pytest.fail("a test that uses the cluster must carry @pytest.mark.cluster")


@pytest.fixture(scope="session")
def kubectl(cluster: ClusterInfo) -> Kubectl:
    return Kubectl(cluster.kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"{SESSION_PREFIX}-{stem}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    # Pods cannot be created before the namespace's default ServiceAccount.
    kubectl.in_namespace(name).wait_for(
        "serviceaccount/default", "--for=jsonpath={.metadata.name}=default")
    yield name
    # Instances left behind need no backup: the namespace is going away.
    kubectl("annotate", "mysqls", "--all", f"--namespace={name}",
            "otus.homework/skip-backup=true", "--overwrite", check=False)
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def kube(kubectl: Kubectl, namespace: str) -> Kubectl:
    """kubectl in the test's own namespace."""
    return kubectl.in_namespace(namespace)


REPO = Path(__file__).resolve().parent.parent


@attrs.define
class OperatorProcess:
    """The operator run as its users run it locally: ``mysql-operator run``."""

    kubeconfig: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mysql_operator", "run", "--standalone",
                 f"--namespace={SESSION_PREFIX}-*"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=REPO,
            )

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    kubectl("wait", "crd/mysqls.otus.homework", "--for=condition=Established", "--timeout=60s")


@pytest.fixture(scope="session")
def operator(cluster: ClusterInfo, crd: None) -> Iterator[OperatorProcess]:
    """One operator for the whole session, serving the session's namespaces."""
    # Not under pytest's basetemp: a concurrent session prunes old ones there.
    logs = Path(tempfile.gettempdir()) / "mysql-operator-tests" / SESSION_PREFIX
    logs.mkdir(parents=True, exist_ok=True)
    process = OperatorProcess(cluster.kubeconfig, logs / "operator.log")
    print(f"operator log: {process.log_path}")
    process.start()
    yield process
    process.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that take the cluster down run after everything that needs it.
    items.sort(key=lambda item: item.get_closest_marker("cluster_lifecycle") is not None)
