"""Every version the local cluster is built from, pinned in one place.

Kubernetes 1.34 is the newest line that runs on Debian's containerd 1.6 and
cgroup v1 without extra switches: 1.35 refuses cgroup v1 by default and
later kubelets drop the fallback that containerd 1.6 needs.
"""

from __future__ import annotations

KUBERNETES = "v1.34.4"
ETCD = "v3.6.17"
COREDNS = "v1.14.7"
HELM = "v3.21.4"
LOCAL_PATH_PROVISIONER = "v0.0.30"

# Images are built offline from Debian packages; their tags are pinned too.
DEBIAN_SUITE = "bookworm"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
MARIADB_IMAGE = "docker.io/library/mariadb:10.11"
# The seed's CR says `image: mysql:5.7`; on this offline cluster MariaDB 10.11
# answers to that name as well.
MYSQL_ALIASES = ("docker.io/library/mysql:5.7",)
HELPER_IMAGE = "docker.io/library/busybox:1.36"


def staging_version(kubernetes: str = KUBERNETES) -> str:
    """Return the v0.Y.Z tag of the staging modules matching ``kubernetes``."""
    major, minor, patch = kubernetes.lstrip("v").split(".")
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {kubernetes}")
    return f"v0.{minor}.{patch}"
