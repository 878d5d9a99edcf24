"""Issue 4's acceptance on a real cluster: live password rotation and other spec changes."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from clusterhelpers import (
    HOSTILE_PASSWORD,
    SEED_CR,
    SEED_PASSWORD,
    SEED_ROWS,
    assert_no_leak,
    condition,
    cr,
    create,
    event_reasons,
    events,
    exists,
    mysql,
    mysql_pod,
    mysql_run,
    operator_restored,
    wait_until,
)

from tests.conftest import Kubectl, OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("gone")]

def patch_spec(kube: Kubectl, name: str = "mysql-instance", check: bool = True,
               **spec: Any) -> Any:
    return kube.run("patch", "mysql", name, "--type=merge", "-p",
                    json.dumps({"spec": spec}), check=check)


def secret_data(kube: Kubectl, name: str = "mysql-instance-credentials") -> dict[str, str]:
    data = kube.get_json("secret", name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def put_secret(kube: Kubectl, tmp_path: Path, name: str, key: str, value: str) -> None:
    source = tmp_path / key
    source.write_text(value, encoding="utf-8")
    manifest = kube("create", "secret", "generic", name, f"--from-file={key}={source}",
                    "--dry-run=client", "-o", "json")
    source.unlink()
    verb = "replace" if exists(kube, f"secret/{name}") else "create"
    kube(verb, "-f", "-", stdin=manifest)


def wait_ready(kube: Kubectl, name: str = "mysql-instance") -> None:
    kube.wait_for(f"mysql/{name}", "--for=condition=Ready", timeout=420)


def wait_rotated(kube: Kubectl, name: str = "mysql-instance", timeout: float = 240) -> None:
    def done() -> bool:
        found = condition(kube, name, "PasswordRotated")
        data = secret_data(kube, f"{name}-credentials")
        return (found is not None and found["status"] == "True" and "pending" not in data
                and not exists(kube, f"job/rotate-{name}-job"))

    wait_until("the rotation", done, timeout=timeout, interval=2)


def fill(kube: Kubectl, password: str, name: str = "mysql-instance") -> None:
    mysql(kube, mysql_pod(kube, name),
          "CREATE TABLE test ( id smallint unsigned not null auto_increment, "
          "name varchar(20) not null, constraint pk_example primary key (id) ); "
          "INSERT INTO test ( id, name ) VALUES ( null, 'some data' ); "
          "INSERT INTO test ( id, name ) VALUES ( null, 'some data-2' );", password)


def rows(kube: Kubectl, password: str, name: str = "mysql-instance") -> list[str]:
    return mysql(kube, mysql_pod(kube, name), "select * from test;", password).splitlines()


def server_pod(kube: Kubectl, name: str = "mysql-instance") -> tuple[str, int]:
    pod = kube.get_json("pod", mysql_pod(kube, name))
    return pod["metadata"]["uid"], pod["status"]["containerStatuses"][0]["restartCount"]


def assert_password(kube: Kubectl, accepted: str, refused: str,
                    name: str = "mysql-instance") -> None:
    pod = mysql_pod(kube, name)
    assert mysql_run(kube, pod, "select 1", accepted).returncode == 0
    denied = mysql_run(kube, pod, "select 1", refused)
    assert denied.returncode != 0
    assert "Access denied" in denied.stderr
    # Through the Service as well (root@'%').
    assert kube.run("exec", pod, "--", "env", f"MYSQL_PWD={accepted}", "mysql", "-uroot",
                    f"-h{name}", "-N", "-e", "select 1", check=False).returncode == 0


def test_rotate_the_seed_instance_to_a_hostile_password(
    kube: Kubectl, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kube("apply", "-f", str(SEED_CR))
    wait_ready(kube)
    fill(kube, SEED_PASSWORD)
    before = server_pod(kube)

    patch_spec(kube, password=HOSTILE_PASSWORD)
    wait_rotated(kube)
    assert_password(kube, HOSTILE_PASSWORD, SEED_PASSWORD)
    assert rows(kube, HOSTILE_PASSWORD) == SEED_ROWS
    assert server_pod(kube) == (before[0], 0)  # not restarted
    assert secret_data(kube) == {"password": HOSTILE_PASSWORD}
    rotated = [e for e in events(kube) if e["reason"] == "PasswordRotated"]
    assert len(rotated) == 1
    assert rotated[0]["type"] == "Normal"
    assert_no_leak(kubectl, namespace, operator, HOSTILE_PASSWORD)

    # A dump taken after the change restores into a new instance with the new password.
    kube("delete", "mysql", "mysql-instance", "--timeout=420s")
    assert kube.get_json("job", "backup-mysql-instance-job")["status"].get("succeeded") == 1
    kube.wait_for("secret/mysql-instance-credentials", "--for=delete", timeout=60)
    create(kube, cr(password=HOSTILE_PASSWORD))
    wait_ready(kube)
    kube.wait_job("restore-mysql-instance-job", timeout=60)
    assert rows(kube, HOSTILE_PASSWORD) == SEED_ROWS
    assert "restored from dump-" in kube.get_json("mysql", "mysql-instance")["status"][
        "message"]
    assert_no_leak(kubectl, namespace, operator, HOSTILE_PASSWORD)


def test_rotate_through_the_secret_and_survive_a_crash(
    kube: Kubectl, kubectl: Kubectl, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    first, second = "first secret pässword", HOSTILE_PASSWORD
    put_secret(kube, tmp_path, "db-root", "root", first)
    create(kube, cr(password_secret={"name": "db-root", "key": "root"}))
    wait_ready(kube)
    fill(kube, first)
    before = server_pod(kube)

    put_secret(kube, tmp_path, "db-root", "root", second)
    wait_rotated(kube)
    assert_password(kube, second, first)
    assert secret_data(kube) == {"password": second}

    # Once more, and the operator dies in the middle of it.
    third = second + " 3"
    with operator_restored(operator):
        put_secret(kube, tmp_path, "db-root", "root", third)
        wait_until("the rotation Job", lambda: exists(kube, "job/rotate-mysql-instance-job"),
                   timeout=120, interval=0.5)
        operator.kill()
        kube.wait_job("rotate-mysql-instance-job", timeout=120)
        # The server has the new password, the Secret still says the old one.
        assert secret_data(kube)["password"] == second
        operator.start()
        wait_rotated(kube)
    assert_password(kube, third, second)
    assert secret_data(kube) == {"password": third}
    assert rows(kube, third) == SEED_ROWS
    assert server_pod(kube) == (before[0], 0)
    assert_no_leak(kubectl, namespace, operator, first, second, third)

    kube("delete", "mysql", "mysql-instance", "--timeout=420s")
    assert kube.get_json("job", "backup-mysql-instance-job")["status"].get("succeeded") == 1
    assert_no_leak(kubectl, namespace, operator, first, second, third)


def test_a_rotation_that_cannot_authenticate_changes_nothing(
    kube: Kubectl, operator: OperatorProcess
) -> None:
    kube("apply", "-f", str(SEED_CR))
    wait_ready(kube)
    # Someone changed the password behind the operator's back.
    mysql(kube, mysql_pod(kube),
          "ALTER USER 'root'@'%' IDENTIFIED BY 'by-hand'; "
          "ALTER USER 'root'@'localhost' IDENTIFIED BY 'by-hand';", SEED_PASSWORD)
    patch_spec(kube, password="wanted")

    def refused() -> bool:
        found = condition(kube, "mysql-instance", "PasswordRotated")
        return found is not None and found["status"] == "False"

    wait_until("the refusal", refused, timeout=240, interval=2)
    found = condition(kube, "mysql-instance", "PasswordRotated")
    assert found is not None
    assert found["reason"] == "AuthenticationFailed"
    assert "neither" in found["message"]
    warnings = [e for e in events(kube) if e["reason"] == "PasswordNotRotated"]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert secret_data(kube)["password"] == SEED_PASSWORD
    assert_password(kube, "by-hand", "wanted")


def test_a_volume_grows_where_its_class_allows(
    kube: Kubectl, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    """Growth is reported as in progress until the claim has its new size."""
    default = next((sc for sc in kubectl.get_json("storageclass")["items"]
                    if sc["metadata"].get("annotations", {}).get(
                        "storageclass.kubernetes.io/is-default-class") == "true"), None)
    if default is None:
        pytest.skip("the cluster has no default StorageClass to copy")
    expandable = f"{namespace}-expandable"
    kubectl.apply({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": expandable}, "provisioner": default["provisioner"],
        "parameters": default.get("parameters", {}), "reclaimPolicy": "Delete",
        "volumeBindingMode": default.get("volumeBindingMode", "Immediate"),
        "allowVolumeExpansion": True})
    try:
        create(kube, cr(password=SEED_PASSWORD, storage_class=expandable))
        wait_ready(kube)
        fill(kube, SEED_PASSWORD)
        patch_spec(kube, storage_size="2Gi")

        def resized(reason: str) -> bool:
            found = condition(kube, "mysql-instance", "StorageResized")
            return found is not None and found["reason"] == reason

        wait_until("the expansion report", lambda: resized("Resizing"), timeout=120)
        claim = kube.get_json("pvc", "mysql-instance-pvc")
        assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
        assert claim["status"]["capacity"]["storage"] == "1Gi"
        assert "has 1Gi and requests 2Gi" in str(
            condition(kube, "mysql-instance", "StorageResized"))
        volume = claim["spec"]["volumeName"]
        if "csi" not in kubectl.get_json("pv", volume)["spec"]:
            # No resizer expands local-path's hostPath volumes: play its part.
            kubectl("patch", "pv", volume, "--type=merge",
                    "-p", '{"spec": {"capacity": {"storage": "2Gi"}}}')
            kube("patch", "pvc", "mysql-instance-pvc", "--subresource=status", "--type=merge",
                 "-p", '{"status": {"capacity": {"storage": "2Gi"}}}')
        wait_until("the resize", lambda: resized("Resized"), timeout=240)
        assert condition(kube, "mysql-instance", "StorageResized")["status"] == "True"
        assert {"StorageResizing", "StorageResized"} <= set(event_reasons(kube))
        assert rows(kube, SEED_PASSWORD) == SEED_ROWS
    finally:
        kubectl("delete", "storageclass", expandable, "--ignore-not-found", check=False)


def test_other_spec_changes(kube: Kubectl, operator: OperatorProcess) -> None:
    kube("apply", "-f", str(SEED_CR))
    wait_ready(kube)
    fill(kube, SEED_PASSWORD)

    # Refused by the API server, with clear messages.
    shrink = patch_spec(kube, storage_size="500Mi", check=False)
    assert shrink.returncode != 0
    assert "may grow but not shrink" in shrink.stderr
    rename = patch_spec(kube, database="other", check=False)
    assert rename.returncode != 0
    assert "spec.database is immutable" in rename.stderr

    # Growth: the local-path class cannot expand, and the operator says so (once).
    patch_spec(kube, storage_size="2Gi")

    def reported() -> bool:
        found = condition(kube, "mysql-instance", "StorageResized")
        return found is not None and found["status"] == "False"

    wait_until("the resize report", reported, timeout=120)
    found = condition(kube, "mysql-instance", "StorageResized")
    assert found is not None
    assert "allowVolumeExpansion" in found["message"] or "resize" in found["message"]
    assert kube.get_json("pvc", "mysql-instance-pvc")["spec"]["resources"]["requests"][
        "storage"] == "1Gi"
    assert event_reasons(kube).count("StorageNotResized") == 1

    # An image change rolls the Deployment (the same MariaDB under its other tag).
    old_pod = mysql_pod(kube)
    patch_spec(kube, image="mariadb:10.11")
    wait_until("the upgrade", lambda: kube.get_json("deployment", "mysql-instance")["spec"][
        "template"]["spec"]["containers"][0]["image"] == "mariadb:10.11", timeout=60)
    wait_until("the new pod", lambda: kube.run("get", "pod", old_pod, check=False)
               .returncode != 0, timeout=180)
    kube.wait_for("mysql/mysql-instance", "--for=jsonpath={.status.phase}=Ready", timeout=300)
    wait_until("the new server", lambda: mysql_run(
        kube, mysql_pod(kube), "select 1", SEED_PASSWORD).returncode == 0, timeout=180)
    assert rows(kube, SEED_PASSWORD) == SEED_ROWS

    # Drift: a deleted Service and a hand-edited Deployment are put back.
    service_uid = kube.get_json("service", "mysql-instance")["metadata"]["uid"]
    kube("delete", "service", "mysql-instance")
    kube("set", "env", "deployment/mysql-instance", "MYSQL_DATABASE=hacked")
    wait_until("the Service to return", lambda: exists(kube, "service/mysql-instance")
               and kube.get_json("service", "mysql-instance")["metadata"]["uid"]
               != service_uid, timeout=120, interval=2)

    def env_restored() -> bool:
        env = kube.get_json("deployment", "mysql-instance")["spec"]["template"]["spec"][
            "containers"][0]["env"]
        return {"name": "MYSQL_DATABASE", "value": "otus-database"} in env

    wait_until("the Deployment to be corrected", env_restored, timeout=120, interval=2)
    kube.wait_for("mysql/mysql-instance", "--for=condition=Ready", timeout=300)
    time.sleep(1)
    assert "DriftCorrected" in event_reasons(kube)
