"""The MySQL server itself: its Deployment and its Service.

One replica with the Recreate strategy, because the data volume is
ReadWriteOnce and two servers must never share a data directory.
"""

from __future__ import annotations

from typing import Any

from ._kube import Kube, Manifest, ObjectRef
from ._model import MYSQL_PORT, MySQL
from ._secret import PASSWORD_KEY

DATA_DIR = "/var/lib/mysql"


class MySQLDeployment:
    """Deployment ``<name>``: pods labelled ``app=<name>`` as in the seed; owned."""

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def manifest(self) -> Manifest:
        cr = self._cr
        labels = {**cr.labels("server"), "app": cr.name}
        container: dict[str, Any] = {
            "name": "mysql",
            "image": cr.spec.image,
            "env": [
                {
                    "name": "MYSQL_ROOT_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": cr.names.secret, "key": PASSWORD_KEY}},
                },
                {"name": "MYSQL_DATABASE", "value": cr.spec.database},
            ],
            "ports": [{"name": "mysql", "containerPort": MYSQL_PORT, "protocol": "TCP"}],
            # mysqladmin ping exits 0 as soon as the server answers, even with
            # "access denied", so the probe needs no password.  127.0.0.1 forces
            # TCP, which stays closed during the image's first-start init.
            # Every 2 s: the restore, and thus Ready, waits for this probe.
            "readinessProbe": {
                "exec": {"command": ["mysqladmin", "ping", "-h", "127.0.0.1"]},
                "initialDelaySeconds": 2,
                "periodSeconds": 2,
                "timeoutSeconds": 5,
                "failureThreshold": 3,
            },
            # Generous: the first start initialises the data directory before
            # it opens the port, and a restart must not kill a slow recovery.
            "livenessProbe": {
                "tcpSocket": {"port": MYSQL_PORT},
                "initialDelaySeconds": 60,
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": 12,
            },
            "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}],
        }
        if cr.spec.resources is not None:
            container["resources"] = cr.spec.resources.to_container()
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": cr.names.deployment,
                "namespace": cr.namespace,
                "labels": dict(labels),
                "ownerReferences": [cr.owner_reference()],
            },
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app": cr.name}},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "containers": [container],
                        "volumes": [
                            {
                                "name": "data",
                                "persistentVolumeClaim": {"claimName": cr.names.data_claim},
                            }
                        ],
                    },
                },
            },
        }

    def _ref(self) -> ObjectRef:
        return ObjectRef("apps/v1", "Deployment", self._cr.names.deployment, self._cr.namespace)

    async def ensure(self) -> bool:
        """Apply the manifest; True if that changed the Deployment's spec (a new generation)."""
        before = await self._kube.get(self._ref())
        after = await self._kube.apply(self.manifest())
        if before is None:
            return False
        generation = before.get("metadata", {}).get("generation")
        return bool(after.get("metadata", {}).get("generation") != generation)

    async def available(self) -> bool:
        """Whether the current spec's pod is ready (MySQL answers on 3306)."""
        found = await self._kube.get(self._ref())
        if found is None:
            return False
        return is_available(found)

    async def teardown(self) -> None:
        await self._kube.delete(self._ref())


def is_available(deployment: Manifest) -> bool:
    """Available, and for the current generation (not the pod of an older spec)."""
    status = deployment.get("status") or {}
    generation = deployment.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return False
    if status.get("updatedReplicas", 0) < 1 or status.get("availableReplicas", 0) < 1:
        return False
    return any(
        c.get("type") == "Available" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


class MySQLService:
    """Service ``<name>`` on port 3306, selecting ``app=<name>``; owned."""

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def manifest(self) -> Manifest:
        cr = self._cr
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": cr.names.service,
                "namespace": cr.namespace,
                "labels": {**cr.labels("server"), "app": cr.name},
                "ownerReferences": [cr.owner_reference()],
            },
            "spec": {
                "selector": {"app": cr.name},
                "ports": [
                    {"name": "mysql", "port": MYSQL_PORT, "targetPort": "mysql", "protocol": "TCP"}
                ],
            },
        }

    async def ensure(self) -> bool:
        """Apply the manifest; True if the Service had to be created (again)."""
        ref = ObjectRef("v1", "Service", self._cr.names.service, self._cr.namespace)
        existed = await self._kube.get(ref) is not None
        await self._kube.apply(self.manifest())
        return not existed

    async def teardown(self) -> None:
        await self._kube.delete(ObjectRef("v1", "Service", self._cr.names.service,
                                          self._cr.namespace))
