"""Pure parts of the cluster's configuration."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from localkube import config, versions


def test_staging_modules_follow_the_kubernetes_version() -> None:
    assert versions.staging_version("v1.34.4") == "v0.34.4"
    with pytest.raises(ValueError, match="unexpected"):
        versions.staging_version("v2.0.0")


def test_ranges_stay_clear_of_each_other_and_the_host_resolver() -> None:
    nets = [ipaddress.ip_network(c, strict=False) for c in
            (config.CLUSTER_CIDR, config.SERVICE_CIDR, f"{config.HOST_IP}/{config.LINK_PREFIX}")]
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert not a.overlaps(b), (a, b)
    with open("/etc/resolv.conf") as resolv:
        resolvers = [line.split()[1] for line in resolv if line.startswith("nameserver")]
    for resolver in resolvers:
        assert not any(ipaddress.ip_address(resolver) in net for net in nets), resolver
    assert ipaddress.ip_address(config.DNS_SERVICE_IP) in ipaddress.ip_network(config.SERVICE_CIDR)
    assert ipaddress.ip_network(config.POD_CIDR).subnet_of(
        ipaddress.ip_network(config.CLUSTER_CIDR))  # type: ignore[arg-type]


def test_kubeconfig_points_at_the_node_with_the_users_cert() -> None:
    kubeconfig = yaml.safe_load(config.kubeconfig("admin"))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{config.NODE_IP}:6443"
    assert kubeconfig["users"][0]["user"]["client-certificate"].endswith("/pki/admin.crt")


def test_cni_bridge_allocates_from_the_pod_range() -> None:
    conflist = json.loads(config.cni_conflist())
    bridge = conflist["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": config.POD_CIDR}]]
    assert bridge["hairpinMode"] is True


def test_kubelet_uses_cgroupfs_and_keeps_images() -> None:
    kubelet = yaml.safe_load(config.kubelet_config())
    assert kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["failCgroupV1"] is False
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert kubelet["clusterDNS"] == [config.DNS_SERVICE_IP]
