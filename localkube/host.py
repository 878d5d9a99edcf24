"""Debian packages the node needs on the host, installed when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# command (or file) that proves the package is there -> Debian package
PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "openssl": "openssl",
    "mmdebstrap": "mmdebstrap",
    "umoci": "umoci",
    "skopeo": "skopeo",
    "/usr/bin/catatonit": "catatonit",
    "/usr/bin/busybox": "busybox-static",
}


def _present(probe: str) -> bool:
    return Path(probe).exists() if probe.startswith("/") else shutil.which(probe) is not None


def missing_packages() -> list[str]:
    return sorted({pkg for probe, pkg in PACKAGES.items() if not _present(probe)})


def ensure_packages() -> None:
    missing = missing_packages()
    if not missing:
        return
    print(f"[localkube] installing Debian packages: {' '.join(missing)}",
          file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env)
