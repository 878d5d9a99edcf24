"""Issue 3's acceptance beyond the seed's story, on a real cluster.

A Secret-referenced hostile password in a non-default namespace, a failed
backup that keeps the data, a never-ready server, operator crashes mid-create
and mid-delete, leak checks and the Events a user sees in ``kubectl describe``.
"""

from __future__ import annotations

import time
from pathlib import Path

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
    operator_restored,
    owned_objects,
    wait_until,
)

from tests.conftest import Kubectl, OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("gone")]

def create_secret(kube: Kubectl, tmp_path: Path, name: str, key: str, value: str) -> None:
    source = tmp_path / key
    source.write_text(value, encoding="utf-8")
    kube("create", "secret", "generic", name, f"--from-file={key}={source}")
    source.unlink()


def wait_ready(kube: Kubectl, name: str = "mysql-instance") -> None:
    kube.wait_for(f"mysql/{name}", "--for=condition=Ready", timeout=420)


def fill(kube: Kubectl, pod: str, password: str) -> None:
    mysql(kube, pod, "CREATE TABLE test ( id smallint unsigned not null auto_increment, "
                     "name varchar(20) not null, constraint pk_example primary key (id) ); "
                     "INSERT INTO test ( id, name ) VALUES ( null, 'some data' ); "
                     "INSERT INTO test ( id, name ) VALUES ( null, 'some data-2' );", password)


def rows(kube: Kubectl, password: str, name: str = "mysql-instance") -> list[str]:
    return mysql(kube, mysql_pod(kube, name), "select * from test;", password).splitlines()


def test_secret_password_in_a_namespace_of_its_own(
    kube: Kubectl, kubectl: Kubectl, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    assert namespace != "default"
    create_secret(kube, tmp_path, "db-root", "root", HOSTILE_PASSWORD)
    manifest = cr(password_secret={"name": "db-root", "key": "root"})
    create(kube, manifest)
    wait_ready(kube)
    fill(kube, mysql_pod(kube), HOSTILE_PASSWORD)
    assert rows(kube, HOSTILE_PASSWORD) == SEED_ROWS
    assert_no_leak(kubectl, namespace, operator, HOSTILE_PASSWORD)

    kube("delete", "mysql", "mysql-instance", "--timeout=420s")
    for what in ("deployment/mysql-instance", "service/mysql-instance",
                 "pvc/mysql-instance-pvc", "secret/mysql-instance-credentials"):
        kube.wait_for(what, "--for=delete", timeout=120)
    backup = kube.get_json("job", "backup-mysql-instance-job")
    assert backup["status"].get("succeeded") == 1
    assert exists(kube, "secret/db-root")  # the user's Secret is the user's
    assert_no_leak(kubectl, namespace, operator, HOSTILE_PASSWORD)

    create(kube, manifest)
    wait_ready(kube)
    kube.wait_job("restore-mysql-instance-job", timeout=60)
    assert rows(kube, HOSTILE_PASSWORD) == SEED_ROWS
    status = kube.get_json("mysql", "mysql-instance")["status"]
    assert "restored from dump-" in status["message"], status
    assert status["restore"]["source"].startswith("dump-")
    assert_no_leak(kubectl, namespace, operator, HOSTILE_PASSWORD)

    reasons = event_reasons(kube)
    for reason in ("Creating", "NoBackupFound", "Created", "BackupStarted", "BackupSucceeded",
                   "Deleted", "Restored"):
        assert reason in reasons, reasons
    print(kube("describe", "mysql", "mysql-instance"))


def test_a_failed_backup_keeps_the_data(
    kube: Kubectl, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    """A server that was ready once is never deleted without a backup while it is down."""
    kube("apply", "-f", str(SEED_CR))
    create(kube, cr("doomed", password=SEED_PASSWORD))
    wait_ready(kube)
    wait_ready(kube, "doomed")
    fill(kube, mysql_pod(kube), SEED_PASSWORD)

    with operator_restored(operator):
        # Stop MySQL with nobody to correct the drift, then delete.
        operator.kill()
        for name in ("mysql-instance", "doomed"):
            kube("scale", f"deployment/{name}", "--replicas=0")
        kube.wait_for("pods", "-l", "app in (mysql-instance,doomed)", "--for=delete",
                      timeout=120)
        kube("delete", "mysql", "mysql-instance", "doomed", "--wait=false")
        operator.start()

        for name in ("mysql-instance", "doomed"):
            kube.wait_for(f"mysql/{name}", "--for=condition=BackupSucceeded=False", timeout=300)
    failed = condition(kube, "mysql-instance", "BackupSucceeded")
    assert failed is not None
    assert failed["reason"] == "BackupJobFailed", failed
    assert kube.get_json("mysql", "mysql-instance")["status"]["phase"] == "BackupFailed"
    warnings = [e for e in events(kube) if e["reason"] == "BackupFailed"]
    assert warnings
    assert warnings[0]["type"] == "Warning"
    assert "skip-backup" in warnings[0]["message"]
    assert exists(kube, "pvc/mysql-instance-pvc")
    assert exists(kube, "pvc/doomed-pvc")
    assert exists(kube, "secret/mysql-instance-credentials")
    time.sleep(5)
    assert exists(kube, "mysql/mysql-instance")  # still held by the finalizer

    # The opt-out lets one go without a backup.
    kube("annotate", "mysql", "doomed", "otus.homework/skip-backup=true")
    kube.wait_for("mysql/doomed", "--for=delete", timeout=120)
    kube.wait_for("pvc/doomed-pvc", "--for=delete", timeout=120)
    assert "BackupSkipped" in event_reasons(kube, "doomed")

    # The other comes back up: the retried backup succeeds, and nothing was lost.
    kube("scale", "deployment/mysql-instance", "--replicas=1")
    kube.wait_for("mysql/mysql-instance", "--for=delete", timeout=420)
    kube("apply", "-f", str(SEED_CR))
    wait_ready(kube)
    kube.wait_job("restore-mysql-instance-job", timeout=60)
    assert rows(kube, SEED_PASSWORD) == SEED_ROWS


def test_a_server_that_never_became_ready_goes_without_a_backup(
    kube: Kubectl, operator: OperatorProcess
) -> None:
    create(kube, cr(password=SEED_PASSWORD, image="mysql:no-such-tag"))
    kube.wait_for("deployment/mysql-instance", "--for=jsonpath={.metadata.name}", timeout=60)
    kube("delete", "mysql", "mysql-instance", "--timeout=120s")
    assert "BackupSkipped" in event_reasons(kube)
    assert not exists(kube, "job/backup-mysql-instance-job")


def test_operator_killed_mid_create_and_mid_delete(
    kube: Kubectl, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    with operator_restored(operator):
        kube("apply", "-f", str(SEED_CR))
        kube.wait_for("deployment/mysql-instance", "--for=jsonpath={.metadata.name}",
                      timeout=60)
        operator.kill()
        operator.start()
        kube.wait_for("job/restore-mysql-instance-job", "--for=jsonpath={.metadata.name}",
                      timeout=300)
        operator.kill()
        time.sleep(2)
        operator.start()
        wait_ready(kube)
    expected = {
        "Deployment": ["mysql-instance"],
        "Service": ["mysql-instance"],
        "Secret": ["mysql-instance-credentials"],
        "PersistentVolumeClaim": ["backup-mysql-instance-pvc", "mysql-instance-pvc"],
        "Job": ["restore-mysql-instance-job"],
    }
    assert owned_objects(kube) == expected
    restore = kube.get_json("job", "restore-mysql-instance-job")
    assert restore["status"].get("succeeded") == 1
    assert not restore["status"].get("failed")
    assert event_reasons(kube).count("Created") == 1
    fill(kube, mysql_pod(kube), SEED_PASSWORD)

    with operator_restored(operator):
        kube("delete", "mysql", "mysql-instance", "--wait=false")
        kube.wait_for("job/backup-mysql-instance-job", "--for=jsonpath={.metadata.name}",
                      timeout=120)
        operator.kill()
        job_uid = kube.get_json("job", "backup-mysql-instance-job")["metadata"]["uid"]
        kube.wait_job("backup-mysql-instance-job", timeout=120)
        assert exists(kube, "mysql/mysql-instance")  # the finalizer holds it
        operator.start()
        kube.wait_for("mysql/mysql-instance", "--for=delete", timeout=300)
    backup = kube.get_json("job", "backup-mysql-instance-job")
    assert backup["metadata"]["uid"] == job_uid  # the Job ran once
    assert backup["status"].get("succeeded") == 1
    assert not backup["status"].get("failed")
    wait_until("the instance's objects to go",
               lambda: owned_objects(kube) == {"Job": ["backup-mysql-instance-job"],
                                               "PersistentVolumeClaim":
                                                   ["backup-mysql-instance-pvc"]},
               timeout=120)
    assert event_reasons(kube).count("BackupStarted") == 1

    kube("apply", "-f", str(SEED_CR))
    wait_ready(kube)
    assert rows(kube, SEED_PASSWORD) == SEED_ROWS
    assert_no_leak(kubectl, namespace, operator, SEED_PASSWORD)
