"""localkube: a real single-node Kubernetes built from registry packages.

A development tool of the mysql-operator project, not part of the operator's
wheel.  It builds upstream Kubernetes, etcd, CoreDNS, helm and the
local-path provisioner from the Go module proxy, makes every image it needs
from Debian packages, and runs the node as plain host processes inside a
network namespace of its own, so no traffic from the cluster can leave this
machine.
"""
