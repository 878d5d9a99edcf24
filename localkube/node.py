"""Bring the single-node cluster up, tear it down, and say what runs.

Processes are started detached, each with a pid file; ``down`` stops exactly
those pids (never anything found by name), then the container tasks that
outlive containerd, then every mount under our directories, then the network
namespace, which takes the bridge, the pod veths and every iptables chain
made inside it along with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs

from localkube import addons, build, config, host, images, pki, versions
from localkube.config import (
    BIN,
    HOST_IP,
    HOST_VETH,
    KUBECONFIG,
    LOGS,
    NETNS,
    NETNS_PATH,
    NODE_IP,
    NODE_NAME,
    NODE_VETH,
    PIDS,
    PKI,
    RUNC_ROOT,
)
from localkube.paths import RUN, STATE


def log(message: str) -> None:
    print(f"[localkube] {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], check: bool = True, netns: bool = False) -> str:
    if netns:
        argv = ["nsenter", f"--net={NETNS_PATH}", "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@attrs.frozen
class Component:
    """One long-running process of the node."""

    name: str
    argv: tuple[str, ...]

    @property
    def pidfile(self) -> Path:
        return PIDS / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The pid we started, if that very process still runs.

        The pid file also holds the process's start time: after a reboot or a
        killed session the number may belong to someone else by now.
        """
        try:
            pid, started = (int(field) for field in self.pidfile.read_text().split())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) and _start_time(pid) == started else None

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        PIDS.mkdir(parents=True, exist_ok=True)
        logfile = (LOGS / f"{self.name}.log").open("ab")
        # nsenter execs the program in place, so the pid is the program's own.
        proc = subprocess.Popen(
            ["nsenter", f"--net={NETNS_PATH}", "--", *self.argv],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pidfile.write_text(f"{proc.pid} {_start_time(proc.pid)}")
        log(f"started {self.name} (pid {proc.pid}, log {LOGS / self.name}.log)")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            _terminate(pid)
        self.pidfile.unlink(missing_ok=True)


def _start_time(pid: int) -> int | None:
    """Clock ticks after boot at which ``pid`` started (field 22 of stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with contextlib.suppress(FileNotFoundError):
        if " Z " in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]:
            return False
    return True


def _terminate(pid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def shim_pids() -> list[int]:
    """The shims serving our containerd, told apart by its socket in their argv.

    A shim is reparented to init and its pid is recorded nowhere that
    survives containerd, so this is the one place we look processes up; the
    socket path is ours alone, so no one else's process can match.
    """
    ours = str(config.CONTAINERD_SOCKET).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if ours in argv and any(arg.endswith(b"containerd-shim-runc-v2") for arg in argv[:1]):
                pids.append(int(proc.name))
    return pids


# Outside STATE, which `down` removes: the lock must outlive it.
LOCK = Path("/run/lock/mysql-operator-localkube.lock")


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One `up` or `down` at a time, across processes.

    Two test sessions that both find the cluster down would otherwise start
    two of every component; the pid files keep only the later ones, and the
    orphaned kubelet removes the other's pod logs and termination messages.
    """
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_for(what: str, probe: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(1)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; logs in {LOGS}")


class Cluster:
    """The local cluster: its binaries, its processes and its host resources."""

    def __init__(self) -> None:
        self.kube_bin = build.bin_dir("kubernetes", versions.KUBERNETES)
        self.etcd_bin = build.bin_dir("etcd", versions.ETCD)
        self.coredns_bin = build.bin_dir("coredns", versions.COREDNS)
        self.helm_bin = build.bin_dir("helm", versions.HELM)

    # -- the processes, in start order -------------------------------------
    def components(self) -> list[Component]:
        k, p = self.kube_bin, PKI
        cfg = STATE / "config"
        return [
            Component("etcd", (
                str(self.etcd_bin / "etcd"), "--name=localkube",
                f"--data-dir={STATE / 'etcd'}",
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                "--initial-cluster=localkube=http://127.0.0.1:2380",
                "--listen-metrics-urls=http://127.0.0.1:2381",
                "--log-level=warn",
            )),
            Component("kube-apiserver", (
                str(k / "kube-apiserver"),
                "--etcd-servers=http://127.0.0.1:2379",
                f"--advertise-address={NODE_IP}", "--bind-address=0.0.0.0",
                f"--secure-port={config.API_PORT}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--service-cluster-ip-range={config.SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
                "--allow-privileged=true",
                # Reach the kubelet (logs, exec) by address: the node's name
                # resolves nowhere, and no lookup may leave the machine.
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
            )),
            Component("kube-controller-manager", (
                str(k / "kube-controller-manager"),
                f"--kubeconfig={cfg / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={cfg / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={cfg / 'controller-manager.kubeconfig'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--allocate-node-cidrs=true",
                f"--cluster-cidr={config.CLUSTER_CIDR}",
                "--node-cidr-mask-size=24",
                f"--service-cluster-ip-range={config.SERVICE_CIDR}",
                "--bind-address=127.0.0.1",
            )),
            Component("kube-scheduler", (
                str(k / "kube-scheduler"),
                f"--kubeconfig={cfg / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={cfg / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={cfg / 'scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
            )),
            Component("containerd", (
                shutil.which("containerd") or "/usr/bin/containerd",
                f"--config={cfg / 'containerd.toml'}",
            )),
            Component("kubelet", (
                str(k / "kubelet"),
                f"--config={cfg / 'kubelet.yaml'}",
                f"--kubeconfig={cfg / 'kubelet.kubeconfig'}",
                f"--root-dir={STATE / 'kubelet'}",
                f"--node-ip={NODE_IP}",
                f"--hostname-override={NODE_NAME}",
            )),
            Component("kube-proxy", (
                str(k / "kube-proxy"), f"--config={cfg / 'kube-proxy.yaml'}",
            )),
            Component("coredns", (
                str(self.coredns_bin / "coredns"), "-conf", str(cfg / "Corefile"),
            )),
        ]

    # -- preparation --------------------------------------------------------
    def _write_pki(self) -> None:
        pki.ensure_ca(PKI)
        pki.ensure_service_account_keys(PKI)
        server_sans = (
            "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "localhost", "127.0.0.1",
            config.KUBERNETES_SERVICE_IP, NODE_IP,
        )
        for identity in (
            pki.Identity("apiserver", "kube-apiserver", sans=server_sans),
            pki.Identity("kubelet-serving", f"system:node:{NODE_NAME}", "system:nodes",
                         sans=(NODE_NAME, NODE_IP, "127.0.0.1")),
            pki.Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                         "system:masters"),
            pki.Identity("admin", "localkube-admin", "system:masters"),
            pki.Identity("controller-manager", "system:kube-controller-manager"),
            pki.Identity("scheduler", "system:kube-scheduler"),
            pki.Identity("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
            pki.Identity("kube-proxy", "system:kube-proxy"),
            pki.Identity("coredns", "system:coredns"),
        ):
            pki.ensure_cert(PKI, identity)

    def _write_configs(self) -> None:
        cfg = STATE / "config"
        cfg.mkdir(parents=True, exist_ok=True)
        for user in ("controller-manager", "scheduler", "kubelet"):
            (cfg / f"{user}.kubeconfig").write_text(config.kubeconfig(user))
        (STATE / "kube-proxy.kubeconfig").write_text(config.kubeconfig("kube-proxy"))
        (STATE / "coredns.kubeconfig").write_text(config.kubeconfig("coredns"))
        (cfg / "containerd.toml").write_text(config.containerd_config())
        (cfg / "kubelet.yaml").write_text(config.kubelet_config())
        (cfg / "kube-proxy.yaml").write_text(config.kube_proxy_config())
        (cfg / "Corefile").write_text(config.corefile())
        (STATE / "resolv.conf").write_text(
            f"# localkube: no upstream resolver\nsearch {config.CLUSTER_DOMAIN}\n")
        config.CNI_CONF_DIR.mkdir(parents=True, exist_ok=True)
        (config.CNI_CONF_DIR / "10-localkube.conflist").write_text(config.cni_conflist())
        config.LOCAL_PATH_DIR.mkdir(parents=True, exist_ok=True)
        KUBECONFIG.write_text(config.kubeconfig("admin"))
        KUBECONFIG.chmod(0o600)
        BIN.mkdir(parents=True, exist_ok=True)
        for target in (self.kube_bin / "kubectl", self.helm_bin / "helm"):
            link = BIN / target.name
            link.unlink(missing_ok=True)
            link.symlink_to(target)

    def _create_network(self) -> None:
        if NETNS_PATH.exists():
            return
        run(["ip", "netns", "add", NETNS])
        run(["ip", "link", "add", HOST_VETH, "type", "veth", "peer", "name", NODE_VETH])
        run(["ip", "link", "set", NODE_VETH, "netns", NETNS])
        run(["ip", "addr", "add", f"{HOST_IP}/{config.LINK_PREFIX}", "dev", HOST_VETH])
        run(["ip", "link", "set", HOST_VETH, "up"])
        run(["ip", "addr", "add", f"{NODE_IP}/{config.LINK_PREFIX}", "dev", NODE_VETH], netns=True)
        run(["ip", "link", "set", NODE_VETH, "up"], netns=True)
        run(["ip", "link", "set", "lo", "up"], netns=True)
        # Lets node processes reach Service addresses (kube-proxy's OUTPUT
        # rules rewrite them); anything not rewritten dies at the host,
        # which does not forward.
        run(["ip", "route", "add", config.SERVICE_CIDR, "dev", NODE_VETH], netns=True)
        # The host reaches pods and services through the node, so the
        # private ranges never follow the host's default route out.
        for cidr in (config.CLUSTER_CIDR, config.SERVICE_CIDR):
            run(["ip", "route", "replace", cidr, "via", NODE_IP, "dev", HOST_VETH])
        for key, value in (
            ("net/ipv4/ip_forward", "1"),
            ("net/bridge/bridge-nf-call-iptables", "1"),
            ("net/ipv4/conf/all/route_localnet", "1"),
        ):
            run(["sh", "-c", f"echo {value} > /proc/sys/{key}"], netns=True)

    # -- lifecycle ----------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(self.kube_bin / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args],
            input=stdin, capture_output=True, text=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def healthy(self) -> bool:
        if not KUBECONFIG.exists() or not (self.kube_bin / "kubectl").exists():
            return False
        if any(c.pid() is None for c in self.components()):
            return False
        try:
            return self.kubectl("get", "--raw", "/readyz", "--request-timeout=5s").strip() == "ok"
        except RuntimeError:
            return False

    def up(self) -> None:
        with _exclusive():
            self._up()

    def down(self) -> None:
        with _exclusive():
            self._down()

    def _up(self) -> None:
        started = time.monotonic()
        if self.healthy():
            log("cluster already running; reusing it")
            return
        if STATE.exists() or NETNS_PATH.exists():
            log("found a half-started cluster; cleaning it up first")
            self._down()
        host.ensure_packages()
        build.build_all()
        archives = images.build_images()
        for d in (STATE, RUN, LOGS, PIDS):
            d.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        self._write_configs()
        self._create_network()
        by_name = {c.name: c for c in self.components()}
        by_name["etcd"].start()
        by_name["kube-apiserver"].start()
        _wait_for("the apiserver", lambda: self._readyz())
        by_name["kube-controller-manager"].start()
        by_name["kube-scheduler"].start()
        by_name["containerd"].start()
        _wait_for("containerd", config.CONTAINERD_SOCKET.exists)
        images.import_images(str(config.CONTAINERD_SOCKET), archives)
        by_name["kubelet"].start()
        by_name["kube-proxy"].start()
        by_name["coredns"].start()
        self.kubectl("apply", "-f", "-", stdin=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": addons.all_addons()}))
        _wait_for("the node to be Ready", lambda: "True" in self.kubectl(
            "get", "node", NODE_NAME, "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False))
        _wait_for("the default service account", lambda: bool(self.kubectl(
            "get", "serviceaccount", "default", "-o", "name", check=False)))
        self.kubectl("-n", addons.PROVISIONER_NAMESPACE, "rollout", "status",
                     "deployment/local-path-provisioner", "--timeout=180s")
        log(f"cluster up in {time.monotonic() - started:.0f}s")

    def _readyz(self) -> bool:
        return self.kubectl("get", "--raw", "/readyz", "--request-timeout=5s",
                            check=False).strip() == "ok"

    def _down(self) -> None:
        components = self.components()
        # Kubelet first, so it does not restart what we are about to kill.
        order = ["kubelet", "kube-proxy", "coredns", "kube-scheduler",
                 "kube-controller-manager", "kube-apiserver", "etcd"]
        by_name = {c.name: c for c in components}
        for name in order:
            by_name[name].stop()
        self._kill_container_tasks()
        by_name["containerd"].stop()
        self._unmount_all()
        if NETNS_PATH.exists():
            run(["ip", "netns", "delete", NETNS], check=False)
        # Deleting the namespace deletes the veth pair and its routes too;
        # this covers a half-made pair left in the host namespace.
        run(["ip", "link", "delete", HOST_VETH], check=False)
        for d in (STATE, RUN):
            shutil.rmtree(d, ignore_errors=True)
        log("cluster down")

    def _kill_container_tasks(self) -> None:
        """Kill every container, then the shims that would outlive containerd."""
        ctr = ["ctr", f"--address={config.CONTAINERD_SOCKET}", "--namespace=k8s.io"]
        if containerd_running := self._containerd_alive():
            for task in run([*ctr, "tasks", "ls", "-q"], check=False).split():
                run([*ctr, "tasks", "kill", "--all", "--signal=SIGKILL", task], check=False)
        runc_root = RUNC_ROOT / "k8s.io"
        if runc_root.exists():
            for line in run(["runc", "--root", str(runc_root), "list", "-q"], check=False).split():
                run(["runc", "--root", str(runc_root), "kill", "--all", line, "KILL"], check=False)
                run(["runc", "--root", str(runc_root), "delete", "--force", line], check=False)
        if containerd_running:
            for task in run([*ctr, "tasks", "ls", "-q"], check=False).split():
                run([*ctr, "tasks", "delete", "--force", task], check=False)
        for pid in shim_pids():
            _terminate(pid, grace=5)

    def _containerd_alive(self) -> bool:
        return any(c.name == "containerd" and c.pid() for c in self.components())

    def _unmount_all(self) -> None:
        prefixes = (str(STATE) + "/", str(RUN) + "/", str(NETNS_PATH))
        for _ in range(5):
            mounts = [
                line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            ]
            ours = sorted({m for m in mounts if m.startswith(prefixes)}, key=len, reverse=True)
            if not ours:
                return
            for mountpoint in ours:
                run(["umount", "-l", mountpoint], check=False)

    def status(self) -> dict[str, str]:
        report = {}
        for c in self.components():
            pid = c.pid()
            report[c.name] = f"running (pid {pid})" if pid else "stopped"
        report["network namespace"] = "present" if NETNS_PATH.exists() else "absent"
        report["apiserver"] = "ready" if KUBECONFIG.exists() and self._readyz() else "not ready"
        return report

    @staticmethod
    def exports() -> str:
        return f"export KUBECONFIG={KUBECONFIG}\nexport PATH={BIN}:$PATH"
