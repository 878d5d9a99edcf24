"""The MySQL Deployment and Service."""

from __future__ import annotations

from typing import Any

import pytest
from mysqlfakes import SEED_PASSWORD, FakeKube, seed_cr

from mysql_operator import MySQLDeployment, MySQLService
from mysql_operator._server import is_available


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_deployment(fake_kube: FakeKube) -> None:
    cr = seed_cr()
    manifest = MySQLDeployment(cr, fake_kube).manifest()
    assert manifest["metadata"]["name"] == "mysql-instance"
    assert manifest["metadata"]["ownerReferences"] == [cr.owner_reference()]
    spec = manifest["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"] == {"matchLabels": {"app": "mysql-instance"}}
    assert spec["template"]["metadata"]["labels"]["app"] == "mysql-instance"
    assert spec["template"]["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "mysql-instance-pvc"}}]
    container = _container(manifest)
    assert container["image"] == "mysql:5.7"
    assert container["ports"][0]["containerPort"] == 3306
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/mysql"}]
    assert "resources" not in container


def test_the_password_comes_from_the_secret(fake_kube: FakeKube) -> None:
    container = _container(MySQLDeployment(seed_cr(), fake_kube).manifest())
    env = {e["name"]: e for e in container["env"]}
    assert env["MYSQL_ROOT_PASSWORD"] == {
        "name": "MYSQL_ROOT_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "mysql-instance-credentials", "key": "password"}},
    }
    assert env["MYSQL_DATABASE"]["value"] == "otus-database"
    assert SEED_PASSWORD not in repr(container)


def test_probes(fake_kube: FakeKube) -> None:
    container = _container(MySQLDeployment(seed_cr(), fake_kube).manifest())
    readiness = container["readinessProbe"]["exec"]["command"]
    assert readiness == ["mysqladmin", "ping", "-h", "127.0.0.1"]
    liveness = container["livenessProbe"]
    assert liveness["tcpSocket"] == {"port": 3306}
    assert liveness["initialDelaySeconds"] * 1 + liveness["periodSeconds"] * liveness[
        "failureThreshold"] >= 120


def test_resources(fake_kube: FakeKube) -> None:
    cr = seed_cr(resources={"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}})
    container = _container(MySQLDeployment(cr, fake_kube).manifest())
    assert container["resources"] == {"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}}


def test_service(fake_kube: FakeKube) -> None:
    cr = seed_cr()
    manifest = MySQLService(cr, fake_kube).manifest()
    assert manifest["metadata"]["name"] == "mysql-instance"
    assert manifest["metadata"]["ownerReferences"] == [cr.owner_reference()]
    assert manifest["spec"]["selector"] == {"app": "mysql-instance"}
    assert manifest["spec"]["ports"] == [
        {"name": "mysql", "port": 3306, "targetPort": "mysql", "protocol": "TCP"}]


def test_service_port_name_matches_the_container(fake_kube: FakeKube) -> None:
    container = _container(MySQLDeployment(seed_cr(), fake_kube).manifest())
    port = MySQLService(seed_cr(), fake_kube).manifest()["spec"]["ports"][0]
    assert port["targetPort"] in [p["name"] for p in container["ports"]]


async def test_ensure_available_teardown(fake_kube: FakeKube) -> None:
    deployment = MySQLDeployment(seed_cr(), fake_kube)
    service = MySQLService(seed_cr(), fake_kube)
    assert not await deployment.available()
    await deployment.ensure()
    await service.ensure()
    assert not await deployment.available()
    fake_kube.make_available()
    assert await deployment.available()
    await deployment.teardown()
    await service.teardown()
    await service.teardown()
    assert fake_kube.objects == {}


def _deployment(generation: int = 2, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(("deployment", "available"), [
    (_deployment(observedGeneration=2, updatedReplicas=1, availableReplicas=1,
                 conditions=[{"type": "Available", "status": "True"}]), True),
    (_deployment(observedGeneration=1, updatedReplicas=1, availableReplicas=1,
                 conditions=[{"type": "Available", "status": "True"}]), False),
    (_deployment(observedGeneration=2, updatedReplicas=0, availableReplicas=1,
                 conditions=[{"type": "Available", "status": "True"}]), False),
    (_deployment(observedGeneration=2, updatedReplicas=1, availableReplicas=1,
                 conditions=[{"type": "Available", "status": "False"}]), False),
    (_deployment(), False),
])
def test_is_available(deployment: dict[str, Any], available: bool) -> None:
    assert is_available(deployment) is available
