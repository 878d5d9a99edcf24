"""How long an instance's lifecycle takes on a real cluster, in figures.

Each round works in a namespace of its own, through the Python API
(``mysql_operator.client``), with the seed's spec:

1. create, until Ready (nothing to restore);
2. load ``--rows`` rows of 100 bytes (``kubectl exec``, not part of the operator);
3. delete, until gone: the backup Job dumps the database, then the teardown;
4. create again, until Ready with the dump restored (the rows are checked);
5. change the password, until the ``PasswordRotated`` condition says done;
6. delete without a backup, until gone.

It prints every round's seconds per step and their median, min and max,
and, when it ran the operator itself, the operator's CPU time and peak memory:
figures, not a pass/fail verdict (these machines are noisy).  The cluster is
the one in ``KUBECONFIG``, or the local one (brought up or reused); the
operator is the one deployed in the cluster (``make deploy``) if there is one,
else the benchmark runs it itself for its namespaces.

    make bench                      # BENCH_ARGS="--rounds 5 --rows 200000"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from demo.seed import deployed_operator, use_cluster  # noqa: E402
from mysql_operator import MySQLSpec  # noqa: E402
from mysql_operator.client import MySQLClient, MySQLObject  # noqa: E402

NAME = "mysql-instance"
PREFIX = "mysql-operator-bench"
PASSWORD = "otuspassword"
STEPS = (
    "create → Ready (nothing to restore)",
    "load rows (kubectl exec)",
    "delete → backed up and gone",
    "create → Ready, dump restored",
    "password change → rotated",
    "delete without backup → gone",
)


def kubectl(*args: str, namespace: str | None = None, stdin: str | None = None) -> str:
    argv = ["kubectl", *([f"--namespace={namespace}"] if namespace else []), *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


async def akubectl(*args: str, namespace: str | None = None, stdin: str | None = None) -> str:
    return await asyncio.to_thread(kubectl, *args, namespace=namespace, stdin=stdin)


async def sql(namespace: str, statements: str, password: str) -> str:
    """Run SQL in the instance's pod; the password reaches mysql through its environment."""
    return await akubectl(
        "exec", "-i", f"deployment/{NAME}", "--", "sh", "-c",
        'MYSQL_PWD="$(cat)" exec mysql -uroot -N -e "$0" otus-database', statements,
        namespace=namespace, stdin=password)


def fill_statements(rows: int) -> str:
    """Rows by doubling (INSERT … SELECT), which every MySQL and MariaDB version runs."""
    statements = [
        "CREATE TABLE bench (id INT AUTO_INCREMENT PRIMARY KEY, payload CHAR(100) NOT NULL);",
        "INSERT INTO bench (payload) VALUES (REPEAT('x', 100));",
    ]
    count = 1
    while count < rows:
        more = min(count, rows - count)
        statements.append(f"INSERT INTO bench (payload) SELECT payload FROM bench LIMIT {more};")
        count += more
    return " ".join(statements)


async def wait_rotated(client: MySQLClient, generation: int) -> None:
    while True:
        obj: MySQLObject = await client.get(NAME)
        done = obj.condition("PasswordRotated")
        if done is not None and done.status == "True" \
                and (done.observed_generation or 0) >= generation:
            return
        await asyncio.sleep(0.25)


async def timed(step: Callable[[], Awaitable[object]]) -> float:
    start = time.monotonic()
    await step()
    return time.monotonic() - start


async def one_round(rows: int) -> tuple[list[float], int]:
    """The seconds of each step, and the size of the dump in bytes."""
    namespace = f"{PREFIX}-{uuid.uuid4().hex[:6]}"
    await akubectl("create", "namespace", namespace)
    await akubectl("wait", "serviceaccount/default", "--for=jsonpath={.metadata.name}=default",
            "--timeout=60s", namespace=namespace)
    spec = MySQLSpec(image="mysql:5.7", database="otus-database", storage_size="1Gi",
                     password=PASSWORD)
    seconds: list[float] = []
    try:
        async with MySQLClient(namespace=namespace) as client:
            async def create() -> None:
                await client.create(NAME, spec)
                await client.wait_ready(NAME, timeout=600)

            seconds.append(await timed(create))
            seconds.append(await timed(lambda: sql(namespace, fill_statements(rows), PASSWORD)))
            backup = None

            async def backed_up() -> None:
                nonlocal backup
                backup = await client.delete(NAME, timeout=900)

            seconds.append(await timed(backed_up))
            if backup is None:
                raise SystemExit("the delete took no backup")
            seconds.append(await timed(create))
            count = (await sql(namespace, "SELECT COUNT(*) FROM bench;", PASSWORD)).strip()
            if count != str(rows):
                raise SystemExit(f"restored {count} rows, expected {rows}")

            async def rotate() -> None:
                new = PASSWORD + "-rotated"
                patched = await akubectl(
                    "patch", f"mysql/{NAME}", "--type=merge", "-p",
                    f'{{"spec": {{"password": "{new}"}}}}', "-o",
                    "jsonpath={.metadata.generation}", namespace=namespace)
                async with asyncio.timeout(300):
                    await wait_rotated(client, int(patched))

            seconds.append(await timed(rotate))
            seconds.append(await timed(lambda: client.delete(NAME, skip_backup=True)))
            return seconds, backup.size
    finally:
        await akubectl("annotate", "mysqls", "--all", "otus.homework/skip-backup=true",
                       "--overwrite", namespace=namespace)
        await akubectl("delete", "namespace", namespace, "--wait=false")


def report(results: list[list[float]], sizes: list[int], rows: int) -> None:
    rounds = len(results)
    width = max(len(step) for step in STEPS)
    head = "".join(f"{f'#{i + 1}':>8}" for i in range(rounds))
    print(f"\n{'step (seconds)':<{width}}{head}{'median':>9}{'min':>8}{'max':>8}")
    for index, step in enumerate(STEPS):
        values = [result[index] for result in results]
        cells = "".join(f"{value:8.1f}" for value in values)
        print(f"{step:<{width}}{cells}{statistics.median(values):9.1f}"
              f"{min(values):8.1f}{max(values):8.1f}")
    print(f"\n{rows} rows; dump size {statistics.median(sizes) / 1e6:.1f} MB (median)")


def operator_usage(pid: int) -> str:
    """The operator process's CPU time and peak memory so far, from /proc (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "operator: no /proc figures"
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return f"operator: {cpu:.1f} s of CPU, peak resident memory {int(peak) / 1024:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    use_cluster()
    version = json.loads(kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"]
    nodes = kubectl("get", "nodes", "-o", "name").split()
    print(f"cluster: Kubernetes {version}, {len(nodes)} node(s), {os.cpu_count()} CPUs here")
    operator = None
    if deployed_operator():
        print("operator: the one deployed in the cluster")
    else:
        kubectl("apply", "-f", str(REPO / "crds"))
        log = Path(os.environ.get("BENCH_OPERATOR_LOG", "/tmp/mysql-operator-bench.log"))
        print(f"operator: run by the benchmark for {PREFIX}-* (log: {log})")
        operator = subprocess.Popen(
            [sys.executable, "-m", "mysql_operator", "run", "--standalone",
             f"--namespace={PREFIX}-*"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)
    results: list[list[float]] = []
    sizes: list[int] = []
    try:
        for number in range(1, args.rounds + 1):
            print(f"round {number}/{args.rounds} …", flush=True)
            seconds, size = asyncio.run(one_round(args.rows))
            print("  " + ", ".join(f"{value:.1f}" for value in seconds), flush=True)
            results.append(seconds)
            sizes.append(size)
    finally:
        usage = operator_usage(operator.pid) if operator is not None else None
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=30)
    report(results, sizes, args.rows)
    if usage is not None:
        print(f"{usage} (over {args.rounds} rounds, started with the benchmark)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
