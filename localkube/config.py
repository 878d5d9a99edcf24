"""The shape of the local cluster: addresses, paths and component configs.

Everything runs inside one network namespace, ``localkube``, joined to the
host by a veth pair.  The namespace has no default route, so nothing a pod
sends can leave this machine; the host reaches the apiserver (and, through
two routes, pod and service addresses) over the veth.  No range overlaps the
host's resolver (10.255.255.53 here).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from localkube import versions
from localkube.paths import RUN, STATE

NODE_NAME = "localkube"
NETNS = "localkube"
HOST_VETH = "lk-host"
NODE_VETH = "lk-node"
HOST_IP = "172.31.250.1"
NODE_IP = "172.31.250.2"
LINK_PREFIX = 30
CLUSTER_CIDR = "10.244.0.0/16"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
API_PORT = 6443
BRIDGE = "lkbr0"

PKI = STATE / "pki"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
BIN = STATE / "bin"
KUBECONFIG = STATE / "kubeconfig"
LOCAL_PATH_DIR = STATE / "local-path"
CNI_CONF_DIR = STATE / "cni" / "net.d"
CONTAINERD_SOCKET = RUN / "containerd.sock"
RUNC_ROOT = RUN / "runc"
NETNS_PATH = Path("/run/netns") / NETNS


def kubeconfig(user: str, server: str = f"https://{NODE_IP}:{API_PORT}") -> str:
    """A kubeconfig for ``user`` whose cert and key are ``pki/<user>.crt/.key``."""
    return yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "localkube", "cluster": {
            "server": server, "certificate-authority": str(PKI / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(PKI / f"{user}.crt"),
            "client-key": str(PKI / f"{user}.key")}}],
        "contexts": [{"name": "localkube", "context": {"cluster": "localkube", "user": user}}],
        "current-context": "localkube",
    })


def containerd_config() -> str:
    # TOML written by hand: the structure is fixed and small.
    return f"""\
version = 2
root = "{STATE / 'containerd'}"
state = "{RUN / 'containerd'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{versions.PAUSE_IMAGE}"
  # Pod network namespaces live under our run directory, so that
  # `cluster-down` finds and removes every one of them.
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  # This machine withholds CAP_SYS_RESOURCE even from root, so runc cannot
  # set the negative oom_score_adj the kubelet asks for pod sandboxes.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{RUNC_ROOT}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{CNI_CONF_DIR}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{STATE / 'containerd-opt'}"
"""


def cni_conflist() -> str:
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "localkube",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                # Lets a pod reach itself through its own Service.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(STATE / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def kubelet_config() -> str:
    return yaml.safe_dump({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(PKI / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        # Pods with dnsPolicy Default get no resolver at all: there is no
        # upstream to send their queries to.
        "resolvConf": str(STATE / "resolv.conf"),
        "tlsCertFile": str(PKI / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(PKI / "kubelet-serving.key"),
        "address": NODE_IP,
        "healthzBindAddress": "127.0.0.1",
        "failSwapOn": False,
        "failCgroupV1": False,
        # There is no registry to pull a collected image back from.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
        "maxPods": 110,
    })


def kube_proxy_config() -> str:
    return yaml.safe_dump({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(STATE / "kube-proxy.kubeconfig")},
        "clusterCIDR": CLUSTER_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # The conntrack table size is global to the machine: leave it alone.
        "conntrack": {"maxPerCore": 0},
    })


def corefile() -> str:
    # No `forward`: nothing outside the cluster is resolvable, by design.
    return f"""\
.:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:8082
    ready 127.0.0.1:8183
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {STATE / 'coredns.kubeconfig'} localkube
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
"""
