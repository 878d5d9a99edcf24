"""The cluster is real: a Ready node, DNS, storage, garbage collection, Jobs.

These run on any cluster named by KUBECONFIG; the MySQL-compatible image is
``mysql:5.7``, which on the local cluster is MariaDB 10.11 built offline.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localkube import versions
from tests.conftest import ClusterInfo, Kubectl

pytestmark = pytest.mark.cluster

IMAGE = "mysql:5.7"
PASSWORD = "s3cret pass"


def test_node_is_ready_and_versions_match(kubectl: Kubectl, cluster: ClusterInfo) -> None:
    nodes = kubectl.get_json("nodes")["items"]
    assert nodes, "no node registered"
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
    assert kubectl("get", "--raw", "/readyz").strip() == "ok"
    if cluster.local:
        version = json.loads(kubectl("version", "-o", "json"))
        assert version["serverVersion"]["gitVersion"] == versions.KUBERNETES
        assert version["clientVersion"]["gitVersion"] == versions.KUBERNETES


def _mysql_server(name: str, claim: str) -> list[dict[str, Any]]:
    labels = {"app": name}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
         "stringData": {"password": PASSWORD}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {
             "replicas": 1, "strategy": {"type": "Recreate"},
             "selector": {"matchLabels": labels},
             "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                 "name": "mysql", "image": IMAGE,
                 "env": [
                     {"name": "MYSQL_ROOT_PASSWORD",
                      "valueFrom": {"secretKeyRef": {"name": name, "key": "password"}}},
                     {"name": "MYSQL_DATABASE", "value": "otus-database"},
                 ],
                 "ports": [{"containerPort": 3306}],
                 "readinessProbe": {"exec": {"command": ["mysqladmin", "ping", "-h", "127.0.0.1"]},
                                    "periodSeconds": 2},
                 "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}],
             }], "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}},
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": labels, "ports": [{"port": 3306}]}},
    ]


# A Service routes to a new pod a moment after the pod is Ready: like any
# client, the Job waits for the server to answer before it sends SQL.
SQL_SCRIPT = """\
until mysqladmin --host="$0" --connect-timeout=5 ping >/dev/null 2>&1; do sleep 1; done
exec mysql --host="$0" --user=root --skip-column-names --execute="$1" otus-database
"""


def _sql_job(name: str, host: str, sql: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 150, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "sql", "image": IMAGE,
                "command": ["sh", "-c", SQL_SCRIPT, host, sql],
                "env": [{"name": "MYSQL_PWD",
                         "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            }]}}},
    }


def _run_sql(kube: Kubectl, job: str, host: str, sql: str) -> str:
    kube.apply(_sql_job(job, host, sql))
    kube.wait_job(job, timeout=180)
    return kube("logs", f"job/{job}")


def _check_rows_survive(kube: Kubectl, claim: str) -> None:
    kube.apply(*_mysql_server("db", claim))
    kube("rollout", "status", "deployment/db", "--timeout=300s")
    fqdn = f"db.{kube.namespace}.svc.cluster.local"
    _run_sql(kube, "create", "db",
             "CREATE TABLE test (id INT PRIMARY KEY, name VARCHAR(20));"
             "INSERT INTO test VALUES (1, 'some data'), (2, 'some data-2');")
    assert _run_sql(kube, "read-fqdn", fqdn, "SELECT name FROM test ORDER BY id").split("\n")[:2] \
        == ["some data", "some data-2"]

    # Foreground: the old server's pod is gone before a new one opens the same files.
    kube("delete", "deployment", "db", "--cascade=foreground", "--wait=true")
    kube.apply(*_mysql_server("db", claim))
    kube("rollout", "status", "deployment/db", "--timeout=300s")
    assert _run_sql(kube, "read-again", "db", "SELECT COUNT(*) FROM test").strip() == "2"


def test_dynamic_volume_dns_and_data_survive(kube: Kubectl) -> None:
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}})
    _check_rows_survive(kube, "data")
    pvc = kube.get_json("pvc", "data")
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["storageClassName"], "no default StorageClass provisioned the claim"


def test_static_host_path_volume(kube: Kubectl, kubectl: Kubectl) -> None:
    pv_name = f"{kube.namespace}-pv"
    kubectl.apply({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "",
                 "hostPath": {"path": f"/tmp/localkube-test/{pv_name}",
                              "type": "DirectoryOrCreate"},
                 "claimRef": {"namespace": kube.namespace, "name": "data"}}})
    try:
        kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                             "volumeName": pv_name,
                             "resources": {"requests": {"storage": "1Gi"}}}})
        _check_rows_survive(kube, "data")
    finally:
        kubectl("delete", "pv", pv_name, "--wait=false", check=False)


def test_garbage_collection_and_job_completions(kube: Kubectl) -> None:
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
    owner_uid = kube.get_json("configmap", "owner")["metadata"]["uid"]
    kube.apply({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "child", "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}]}})
    kube.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hello"},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                    "name": "hello", "image": IMAGE, "command": ["sh", "-c", "echo hello"]}]}}}})
    kube("delete", "configmap", "owner")
    kube.wait_for("configmap/child", "--for=delete", timeout=120)
    kube.wait_job("hello", timeout=120)
    table = kube("get", "jobs").splitlines()
    assert "COMPLETIONS" in table[0].split()
    row = next(line.split() for line in table[1:] if line.split()[0] == "hello")
    assert "1/1" in row
    assert kube("logs", "job/hello").strip() == "hello"
