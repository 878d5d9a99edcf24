"""The seed's own story, with the seed's own commands, on a real cluster.

Slides 32-36 and 49: apply the CR, fill the database through ``kubectl
exec``, delete the CR (a backup Job runs first), apply it again (a restore Job
loads the dump) and find the same rows.  The only change to the commands is
``--namespace``: each test has a namespace of its own.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO, Kubectl, OperatorProcess

pytestmark = pytest.mark.cluster

CR = REPO / "deploy" / "cr.yml"
SEED_ROWS = ["1\tsome data", "2\tsome data-2"]


def mysql_pod(kube: Kubectl, name: str = "mysql-instance") -> str:
    # The seed: export MYSQLPOD=$(kubectl get pods -l app=mysql-instance \
    #                 -o jsonpath="{.items[*].metadata.name}")
    pods = kube("get", "pods", "-l", f"app={name}",
                "--field-selector=status.phase=Running",
                "-o", "jsonpath={.items[*].metadata.name}").split()
    assert len(pods) == 1, pods
    return pods[0]


def mysql(kube: Kubectl, pod: str, sql: str, password: str = "otuspassword",
          database: str = "otus-database") -> str:
    return kube("exec", pod, "--", "mysql", "-u", "root", f"-p{password}", "-N", "-e", sql,
                database)


def wait_ready(kube: Kubectl, name: str = "mysql-instance") -> None:
    kube.wait_for(f"mysql/{name}", "--for=condition=Ready", timeout=420)


def job_completions(kube: Kubectl) -> dict[str, str]:
    table = kube("get", "jobs").splitlines()
    column = table[0].split().index("COMPLETIONS")
    return {line.split()[0]: line.split()[column] for line in table[1:]}


def fill_seed_data(kube: Kubectl, pod: str) -> None:
    mysql(kube, pod, "CREATE TABLE test ( id smallint unsigned not null auto_increment, "
                     "name varchar(20) not null, constraint pk_example primary key (id) );")
    mysql(kube, pod, "INSERT INTO test ( id, name ) VALUES ( null, 'some data' );")
    mysql(kube, pod, "INSERT INTO test ( id, name ) VALUES ( null, 'some data-2' );")


def test_seed_scenario(kube: Kubectl, operator: OperatorProcess) -> None:
    assert "created" in kube("apply", "-f", str(CR))
    wait_ready(kube)
    pvcs = kube("get", "pvc").split()
    assert "mysql-instance-pvc" in pvcs
    assert "backup-mysql-instance-pvc" in pvcs
    status = kube.get_json("mysql", "mysql-instance")["status"]
    assert status["phase"] == "Ready"
    assert "without restore" in status["message"], status

    pod = mysql_pod(kube)
    fill_seed_data(kube, pod)
    assert mysql(kube, pod, "select * from test;").splitlines() == SEED_ROWS
    data_volume = kube.get_json("pvc", "mysql-instance-pvc")["spec"]["volumeName"]

    # kubectl delete waits until the operator's finalizer lets the CR go.
    kube("delete", "mysqls.otus.homework", "mysql-instance", "--timeout=420s")
    for kind, name in [("deployment", "mysql-instance"), ("service", "mysql-instance"),
                       ("pvc", "mysql-instance-pvc"), ("pv", data_volume),
                       ("secret", "mysql-instance-credentials")]:
        kube.wait_for(f"{kind}/{name}", "--for=delete", timeout=120)
    assert kube.get_json("pvc", "backup-mysql-instance-pvc")["status"]["phase"] == "Bound"
    assert job_completions(kube) == {"backup-mysql-instance-job": "1/1"}

    kube("apply", "-f", str(CR))
    wait_ready(kube)
    kube.wait_job("restore-mysql-instance-job", timeout=60)
    pod = mysql_pod(kube)
    assert mysql(kube, pod, "select * from test;").splitlines() == SEED_ROWS
    assert job_completions(kube) == {
        "backup-mysql-instance-job": "1/1",
        "restore-mysql-instance-job": "1/1",
    }
    status = kube.get_json("mysql", "mysql-instance")["status"]
    assert "restored" in status["message"].lower(), status
    print(kube("get", "jobs"))
    print(mysql(kube, pod, "select * from test;"))

