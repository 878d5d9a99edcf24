"""Up, down, clean: ``cluster-down`` leaves nothing of the cluster behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from localkube import config
from localkube.node import Cluster, _alive, shim_pids
from localkube.paths import RUN, STATE
from tests.conftest import ClusterInfo


@pytest.mark.cluster
@pytest.mark.cluster_lifecycle
def test_down_leaves_nothing_behind(cluster: ClusterInfo) -> None:
    if not cluster.local:
        pytest.skip("only the local cluster is taken down by the tests")
    local = Cluster()
    local.up()
    pids = [c.pid() for c in local.components()]
    assert all(pids), "a component is not running before the test"
    shims = shim_pids()
    assert shims, "no container runs, so the check below would prove little"

    local.down()

    assert not [pid for pid in [*pids, *shims] if pid and _alive(pid)]
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(STATE) not in mounts
    assert str(RUN) not in mounts
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert config.HOST_VETH not in links
    assert config.BRIDGE not in links
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert config.NETNS not in netns.split()
    chains = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert ":KUBE-" not in chains
    assert ":CNI-" not in chains
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert config.CLUSTER_CIDR not in routes
    assert config.SERVICE_CIDR not in routes
    assert not STATE.exists()
    assert not RUN.exists()

    if cluster.was_running:
        local.up()
