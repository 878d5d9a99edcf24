"""Where the local cluster keeps its cache and its running state."""

from __future__ import annotations

import os
from pathlib import Path

# Built binaries and images survive across checkouts and clusters.
CACHE = Path(os.environ.get("LOCALKUBE_CACHE", Path.home() / ".cache" / "mysql-operator-localkube"))
# State of the running cluster (PKI, etcd data, logs, pids).  Outside the
# checkout so that every clone on the machine shares one cluster.
STATE = Path(os.environ.get("LOCALKUBE_STATE", "/var/lib/mysql-operator-localkube"))
# Sockets, pod network namespaces and runc state: gone at reboot, like /run.
RUN = Path(os.environ.get("LOCALKUBE_RUN", "/run/mysql-operator-localkube"))
