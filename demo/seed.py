"""The seed's demo, end to end, with the seed's own commands (slides 8-49).

Runs on the cluster named by KUBECONFIG, or on the local cluster (brought up
or reused) when KUBECONFIG is not set.  It works in a namespace of its own,
made afresh each run, so it never touches anything else; an operator already
deployed in the cluster (``make deploy``) is used when there is one,
otherwise the demo runs one itself for the namespace.

    make demo
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = os.environ.get("DEMO_NAMESPACE", "mysql-operator-demo")
PASSWORD = "otuspassword"


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def sh(command: str, check: bool = True) -> str:
    """Run a seed command (shown as typed), in the demo's namespace."""
    print(f"$ {command}", flush=True)
    argv = shlex.split(command)
    argv.insert(1, f"--namespace={NAMESPACE}")
    result = subprocess.run(argv, capture_output=True, text=True)
    output = (result.stdout + result.stderr).rstrip()
    if output:
        print(output, flush=True)
    if check and result.returncode != 0:
        raise SystemExit(f"demo failed at: {command}")
    return result.stdout


def wait(what: str, condition: str, timeout: int = 420) -> None:
    sh(f"kubectl wait {what} --for={condition} --timeout={timeout}s")


def mysql_pod() -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pods = subprocess.run(
            ["kubectl", f"--namespace={NAMESPACE}", "get", "pods", "-l", "app=mysql-instance",
             "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"],
            capture_output=True, text=True).stdout.split()
        if len(pods) == 1:
            print(f"$ export MYSQLPOD=$(kubectl get pods -l app=mysql-instance "
                  f"-o jsonpath=\"{{.items[*].metadata.name}}\")   # {pods[0]}")
            return pods[0]
        time.sleep(2)
    raise SystemExit("no single running mysql-instance pod")


def use_cluster() -> None:
    if os.environ.get("KUBECONFIG"):
        print(f"using the cluster in KUBECONFIG={os.environ['KUBECONFIG']}")
        return
    sys.path.insert(0, str(REPO))
    from localkube.config import BIN, KUBECONFIG
    from localkube.node import Cluster

    banner("the local cluster (make cluster)")
    Cluster().up()
    os.environ["KUBECONFIG"] = str(KUBECONFIG)
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"


def deployed_operator() -> bool:
    out = subprocess.run(
        ["kubectl", "get", "deployments", "--all-namespaces", "-l",
         "app.kubernetes.io/name=mysql-operator", "-o", "name"],
        capture_output=True, text=True).stdout
    return bool(out.strip())


def main() -> int:
    use_cluster()
    operator = None
    if deployed_operator():
        banner("using the operator deployed in the cluster")
    else:
        banner("the operator (slide 21: kopf run), serving the demo's namespace")
        log = Path(os.environ.get("DEMO_OPERATOR_LOG", "/tmp/mysql-operator-demo.log"))
        print(f"$ mysql-operator run --namespace={NAMESPACE}   # log: {log}")
        subprocess.run(["kubectl", "apply", "-f", "crds/"], check=True, capture_output=True)
        operator = subprocess.Popen(
            [sys.executable, "-m", "mysql_operator", "run", "--standalone",
             f"--namespace={NAMESPACE}"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)
    try:
        banner("a fresh namespace for the demo")
        # A previous run's instance goes without a backup: it was a demo.
        subprocess.run(["kubectl", "annotate", "mysqls", "--all", f"--namespace={NAMESPACE}",
                        "otus.homework/skip-backup=true", "--overwrite"],
                       check=False, capture_output=True)
        subprocess.run(["kubectl", "delete", "namespace", NAMESPACE, "--ignore-not-found",
                        "--timeout=300s"], check=True)
        subprocess.run(["kubectl", "create", "namespace", NAMESPACE], check=True)

        banner("the CRD (slide 8)")
        sh("kubectl apply -f deploy/crd.yml")
        sh("kubectl wait crd/mysqls.otus.homework --for=condition=Established --timeout=60s")

        banner("create the instance (slide 31)")
        sh("kubectl apply -f deploy/cr.yml")
        wait("mysql/mysql-instance", "condition=Ready")
        sh("kubectl get pvc")
        sh("kubectl get mysqls")

        banner("fill the database (slide 33)")
        pod = mysql_pod()
        sql = f"kubectl exec {pod} -- mysql -u root -p{PASSWORD} -e"
        sh(f"{sql} \"CREATE TABLE test ( id smallint unsigned not null auto_increment, "
           "name varchar(20) not null, constraint pk_example primary key (id) );\" otus-database")
        sh(f"{sql} \"INSERT INTO test ( id, name ) VALUES ( null, 'some data' );\" otus-database")
        sh(f"{sql} \"INSERT INTO test ( id, name ) VALUES ( null, 'some data-2' );\" "
           "otus-database")
        sh(f"kubectl exec {pod} -- mysql -p{PASSWORD} -e \"select * from test;\" otus-database")

        banner("delete it: a backup Job runs first (slide 35)")
        sh("kubectl delete mysqls.otus.homework mysql-instance --timeout=420s")
        sh("kubectl get pv")
        sh("kubectl get jobs.batch")

        banner("create it again: a restore Job loads the backup (slide 36)")
        sh("kubectl apply -f deploy/cr.yml")
        wait("mysql/mysql-instance", "condition=Ready")
        pod = mysql_pod()
        sh(f"kubectl exec {pod} -- mysql -p{PASSWORD} -e \"select * from test;\" otus-database")

        banner("what the README shows (slide 49)")
        sh("kubectl get jobs")
        sh("kubectl describe mysqls.otus.homework mysql-instance")
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=30)
    banner(f"done: the instance is still running in namespace {NAMESPACE}")
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
