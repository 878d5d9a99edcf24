"""The chart on the real cluster: the operator in a pod, under its ServiceAccount.

The session's own operator (``tests/conftest.py``) serves the session's
``t????-*`` namespaces; the operator installed here serves only namespaces
named ``mo-<id>-*``, made by these tests, so the two never handle the same
object.  Releases, namespaces and cluster-scoped RBAC objects carry a fresh
id and are removed afterwards; the shared CRD is never removed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from localkube import chart, operator_image
from tests.conftest import REPO, ClusterInfo, Kubectl

pytestmark = pytest.mark.cluster

CR = REPO / "deploy" / "cr.yml"
SEED_ROWS = ["1\tsome data", "2\tsome data-2"]


def _id() -> str:
    return uuid.uuid4().hex[:6]


def can_i(kubectl: Kubectl, user: str, *args: str) -> bool:
    done = kubectl.run("auth", "can-i", f"--as={user}", *args, check=False)
    assert done.stdout.strip() in ("yes", "no"), done.stdout + done.stderr
    return done.stdout.strip() == "yes"


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def create_namespaces(kubectl: Kubectl, *names: str) -> None:
    for name in names:
        kubectl("create", "namespace", name)
        kubectl.in_namespace(name).wait_for(
            "serviceaccount/default", "--for=jsonpath={.metadata.name}=default")


def release_mysqls(kubectl: Kubectl, namespace: str) -> None:
    """Let this test's MySQL objects go without an operator (their namespace is going)."""
    names = kubectl.run("get", "mysqls", f"--namespace={namespace}", "-o", "name",
                        check=False).stdout.split()
    for name in names:
        kubectl("patch", name, f"--namespace={namespace}", "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}', check=False)


@pytest.fixture(scope="module")
def crd_installed(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    kubectl("wait", "crd/mysqls.otus.homework", "--for=condition=Established", "--timeout=60s")


# --- the rendered manifests and the all-namespaces RBAC: no operator runs ------------


def test_rendered_manifests_are_accepted_by_the_api_server(
        kubectl: Kubectl, crd_installed: None) -> None:
    ident = _id()
    ops, app = f"mo-{ident}-op", f"mo-{ident}-app"
    create_namespaces(kubectl, ops, app)
    try:
        for values in ({}, {"watchNamespaces": [app]}):
            rendered = chart.template(values, release=f"mo-{ident}", namespace=ops)
            out = kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
            assert "deployment.apps/mo-" in out, out
        # The plain manifests as the seed applies them (with the CR and the CRD).
        out = kubectl("apply", "--dry-run=server", "-f", str(REPO / "deploy"))
        assert "deployment.apps/mysql-operator created (server dry run)" in out, out
    finally:
        kubectl("delete", "namespace", ops, app, "--wait=false", check=False)


def test_every_namespace_rbac_grants_what_the_operator_needs_and_no_more(
        kubectl: Kubectl, crd_installed: None) -> None:
    ident = _id()
    ops, other = f"mo-{ident}-op", f"mo-{ident}-other"
    release = f"mo-{ident}"
    create_namespaces(kubectl, ops, other)
    rendered = chart.objects(chart.template(release=release, namespace=ops))
    rbac = [o for o in rendered if o["kind"] != "Deployment"]
    try:
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": rbac}))
        user = service_account_user(ops, f"{release}-mysql-operator")

        def yes(*args: str) -> bool:
            return can_i(kubectl, user, *args)

        for verb in ("list", "watch", "patch"):
            assert yes(verb, "mysqls.otus.homework", "--all-namespaces")
        assert yes("patch", "mysqls.otus.homework", "--subresource=status", "-n", other)
        assert yes("create", "events", "-n", other)
        for verb in ("get", "create", "delete"):
            assert yes(verb, "secrets", "-n", other)
            assert yes(verb, "jobs.batch", "-n", other)
            assert yes(verb, "persistentvolumes")
        for verb in ("create", "patch", "delete"):
            assert yes(verb, "deployments.apps", "-n", other)
            assert yes(verb, "services", "-n", other)
            assert yes(verb, "persistentvolumeclaims", "-n", other)
        assert yes("list", "pods", "-n", other)
        assert yes("get", "pods", "--subresource=log", "-n", other)
        # A change of a Secret named by spec.password_secret rotates the password.
        for verb in ("list", "watch", "patch"):
            assert yes(verb, "secrets", "-n", other)
        assert yes("patch", "jobs.batch", "-n", other)
        assert yes("watch", "customresourcedefinitions.apiextensions.k8s.io")
        # ... and not more: no exec, no pods of its own, no deleting users' objects.
        for args in (("update", "secrets", "-n", other), ("get", "pods", "-n", other),
                     ("create", "pods", "-n", other), ("create", "pods/exec", "-n", other),
                     ("delete", "mysqls.otus.homework", "-n", other),
                     ("create", "mysqls.otus.homework", "-n", other),
                     ("list", "namespaces"), ("get", "nodes"), ("list", "configmaps", "-n", other),
                     ("create", "clusterroles.rbac.authorization.k8s.io"),
                     ("create", "rolebindings.rbac.authorization.k8s.io", "-n", other),
                     ("impersonate", "serviceaccounts", "-n", other),
                     ("update", "customresourcedefinitions.apiextensions.k8s.io"),
                     ("*", "*", "--all-namespaces")):
            assert not yes(*args), args
    finally:
        for obj in rbac:
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                kubectl("delete", obj["kind"].lower(), obj["metadata"]["name"],
                        "--ignore-not-found", check=False)
        kubectl("delete", "namespace", ops, other, "--wait=false", check=False)


# --- the operator in the cluster, serving a namespace list --------------------------


@attrs.frozen
class Release:
    name: str
    namespace: str  # the operator's
    app: str  # served
    other: str  # not served
    kubectl: Kubectl

    @property
    def deployment(self) -> str:
        return f"{self.name}-mysql-operator"

    @property
    def user(self) -> str:
        return service_account_user(self.namespace, self.deployment)

    @property
    def ops(self) -> Kubectl:
        return self.kubectl.in_namespace(self.namespace)

    @property
    def kube(self) -> Kubectl:
        """kubectl in the served namespace, as the seed's user."""
        return self.kubectl.in_namespace(self.app)

    def pod(self) -> dict[str, Any]:
        pods = self.ops.get_json("pods", f"-l=app.kubernetes.io/instance={self.name}")["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert len(live) == 1, [p["metadata"]["name"] for p in pods]
        return dict(live[0])

    def logs(self) -> str:
        return self.ops("logs", f"deployment/{self.deployment}", "--tail=-1")


@pytest.fixture(scope="module")
def release(cluster: ClusterInfo, kubectl: Kubectl, crd_installed: None) -> Iterator[Release]:
    """`make deploy` with a namespace list: build and import the image, helm install."""
    if not chart.is_local_cluster(cluster.kubeconfig):
        pytest.skip("the operator image can be imported into the local cluster only")
    ident = _id()
    found = Release(f"mo-{ident}", f"mo-{ident}-op", f"mo-{ident}-app", f"mo-{ident}-other",
                    kubectl)
    create_namespaces(kubectl, found.app, found.other)
    started = time.monotonic()
    try:
        chart.deploy(found.name, found.namespace, values={"watchNamespaces": [found.app]})
        print(f"deployed in {time.monotonic() - started:.0f}s")
        yield found
    finally:
        chart.undeploy(found.name, found.namespace)
        release_mysqls(kubectl, found.app)
        kubectl("delete", "namespace", found.namespace, found.app, found.other, "--wait=false",
                check=False)


def test_namespace_list_rbac_stays_inside_the_list(release: Release) -> None:
    def yes(*args: str) -> bool:
        return can_i(release.kubectl, release.user, *args)

    for verb, resource in (("watch", "mysqls.otus.homework"), ("get", "secrets"),
                           ("patch", "deployments.apps"), ("create", "jobs.batch")):
        assert yes(verb, resource, "-n", release.app)
        for outside in (release.other, release.namespace, "default"):
            assert not yes(verb, resource, "-n", outside), (verb, resource, outside)
    assert not yes("list", "mysqls.otus.homework", "--all-namespaces")
    assert not yes("get", "secrets", "--all-namespaces")
    # Cluster-scoped, and documented: kopf's CRD and namespace listing, host_path volumes.
    assert yes("watch", "customresourcedefinitions.apiextensions.k8s.io")
    assert yes("list", "namespaces")
    assert not yes("get", "namespaces")
    assert yes("create", "persistentvolumes")


def test_operator_pod_is_non_root_and_read_only(release: Release) -> None:
    pod = release.pod()
    assert pod["spec"]["serviceAccountName"] == release.deployment
    (container,) = pod["spec"]["containers"]
    image = container["image"]
    assert image.startswith(f"{operator_image.REPOSITORY}:{operator_image.version()}-"), image
    name = pod["metadata"]["name"]
    ops = release.ops
    assert ops("exec", name, "--", "id", "-u").strip() == str(operator_image.UID)
    assert ops("exec", name, "--", "id", "-g").strip() == str(operator_image.UID)
    denied = ops.run("exec", name, "--", "touch", "/opt/mysql-operator/probe", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr + denied.stdout
    ops("exec", name, "--", "touch", "/tmp/probe")  # the scratch emptyDir
    status = dict(line.split(":", 1) for line in ops(
        "exec", name, "--", "cat", "/proc/1/status").splitlines() if ":" in line)
    assert status["CapEff"].strip() == "0000000000000000"
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"  # filtered: RuntimeDefault


def mysql(kube: Kubectl, pod: str, sql: str) -> str:
    return kube("exec", pod, "--", "mysql", "-u", "root", "-potuspassword", "-N", "-e", sql,
                "otus-database")


def mysql_pod(kube: Kubectl, name: str = "mysql-instance") -> str:
    pods = kube("get", "pods", "-l", f"app={name}", "--field-selector=status.phase=Running",
                "-o", "jsonpath={.items[*].metadata.name}").split()
    assert len(pods) == 1, pods
    return pods[0]


def test_seed_scenario_with_the_operator_in_the_cluster(release: Release) -> None:
    kube = release.kube
    assert "created" in kube("apply", "-f", str(CR))
    kube.wait_for("mysql/mysql-instance", "--for=condition=Ready", timeout=420)
    pvcs = kube("get", "pvc").split()
    assert "mysql-instance-pvc" in pvcs
    assert "backup-mysql-instance-pvc" in pvcs
    pod = mysql_pod(kube)
    mysql(kube, pod, "CREATE TABLE test ( id smallint unsigned not null auto_increment, "
                     "name varchar(20) not null, constraint pk_example primary key (id) );")
    mysql(kube, pod, "INSERT INTO test ( id, name ) VALUES ( null, 'some data' );")
    mysql(kube, pod, "INSERT INTO test ( id, name ) VALUES ( null, 'some data-2' );")
    assert mysql(kube, pod, "select * from test;").splitlines() == SEED_ROWS

    kube("delete", "mysqls.otus.homework", "mysql-instance", "--timeout=420s")
    kube.wait_for("pvc/mysql-instance-pvc", "--for=delete", timeout=120)
    assert kube("get", "job", "backup-mysql-instance-job",
                "-o", "jsonpath={.status.succeeded}") == "1"

    kube("apply", "-f", str(CR))
    kube.wait_for("mysql/mysql-instance", "--for=condition=Ready", timeout=420)
    kube.wait_job("restore-mysql-instance-job", timeout=60)
    assert mysql(kube, mysql_pod(kube), "select * from test;").splitlines() == SEED_ROWS
    # It was this operator, the one in the pod (serving only this namespace), that did it.
    logs = release.logs()
    assert "Handler 'delete' succeeded" in logs
    assert "Handler 'reconcile' succeeded" in logs
    assert "Forbidden" not in logs


def test_operator_restarts_and_converges(release: Release) -> None:
    kube = release.kube
    manifest = CR.read_text().replace("name: mysql-instance", "name: restarted")
    first = release.pod()
    kube("apply", "-f", "-", stdin=manifest)
    # A crash in place: kopf exits on SIGTERM and the kubelet restarts the container...
    release.ops("exec", first["metadata"]["name"], "--", "python3", "-c",
                "import os, signal; os.kill(1, signal.SIGTERM)")
    release.ops.wait_for(f"pod/{first['metadata']['name']}",
                         "--for=jsonpath={.status.containerStatuses[0].restartCount}=1",
                         timeout=120)
    # ... and a lost pod: the Deployment makes a new one.
    release.ops("delete", "pod", first["metadata"]["name"], "--grace-period=0", "--force")
    release.ops("rollout", "status", f"deployment/{release.deployment}", "--timeout=180s")
    second = release.pod()
    assert second["metadata"]["name"] != first["metadata"]["name"]
    kube.wait_for("mysql/restarted", "--for=condition=Ready", timeout=420)
    assert kube.get_json("mysql", "restarted")["status"]["phase"] == "Ready"


def test_uninstall_keeps_the_crd_the_objects_and_their_data(release: Release) -> None:
    kubectl = release.kubectl
    chart.undeploy(release.name, release.namespace)
    ops = release.ops
    assert ops("get", "deployment,serviceaccount,role,rolebinding",
               f"-l=app.kubernetes.io/instance={release.name}", "-o", "name") == ""
    assert kubectl("get", "clusterrole,clusterrolebinding",
                   f"-l=app.kubernetes.io/instance={release.name}", "-o", "name") == ""
    assert release.kube("get", "rolebinding,role", "-o", "name") == ""
    kubectl("get", "crd", "mysqls.otus.homework")
    kube = release.kube
    assert sorted(kube("get", "mysqls", "-o", "name").split()) == [
        "mysql.otus.homework/mysql-instance", "mysql.otus.homework/restarted"]
    claims = {c["metadata"]["name"]: c["status"]["phase"]
              for c in kube.get_json("pvc")["items"]}
    assert claims == {name: "Bound" for name in (
        "mysql-instance-pvc", "backup-mysql-instance-pvc", "restarted-pvc", "backup-restarted-pvc")}
    # The servers keep running without the operator.
    assert mysql(kube, mysql_pod(kube), "select * from test;").splitlines() == SEED_ROWS
