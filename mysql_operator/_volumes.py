"""The data and backup volumes: a claim each, plus a static hostPath PV with ``host_path``.

PersistentVolumes are cluster-scoped, so a namespaced MySQL object cannot own
them: they are labelled with the instance and namespace instead, deleted
explicitly, and checked before use (``<name>-pv`` could belong to a namesake
in another namespace).

The data volume lives and dies with the MySQL object.  Its hostPath
directory carries the object's uid: a MySQL object created again gets an
empty data directory (and its data back from the backup), never the
previous incarnation's files with their old root password.

The backup volume outlives the MySQL object on purpose (the next object of
the same name restores from it): it is created only if absent, never owned,
never modified and never deleted by the operator.
"""

from __future__ import annotations

from typing import Any

from ._errors import NotReady
from ._kube import Kube, KubeError, Manifest, ObjectRef
from ._model import FIRST_READY_ANNOTATION, INSTANCE_LABEL, NAMESPACE_LABEL, UID_LABEL, MySQL
from ._schema import quantity_value

ACCESS_MODES = ["ReadWriteOnce"]


class StorageNotResized(Exception):
    """The cluster refused to resize the data claim (e.g. its class cannot expand)."""


def _volume_ref(name: str) -> ObjectRef:
    return ObjectRef("v1", "PersistentVolume", name)


async def _ensure_static_volume(kube: Kube, manifest: Manifest, expected: dict[str, str]) -> None:
    """Create a PV if absent; refuse one that belongs to another instance."""
    existing = await kube.create(manifest) or await kube.get(ObjectRef.of(manifest))
    if existing is None:  # deleted between our create and get: try again soon
        raise NotReady(f"{ObjectRef.of(manifest)} vanished while being created", delay=2)
    labels = existing.get("metadata", {}).get("labels") or {}
    mismatched = {k: labels.get(k) for k, v in expected.items() if labels.get(k) != v}
    if mismatched:
        owner = f"{labels.get(NAMESPACE_LABEL)}/{labels.get(INSTANCE_LABEL)}"
        terminating = existing.get("metadata", {}).get("deletionTimestamp")
        state = "is still being deleted" if terminating else f"belongs to {owner}"
        raise NotReady(f"{ObjectRef.of(manifest)} {state}", delay=10 if terminating else 60)


class DataVolume:
    """Claim ``<name>-pvc`` (owned), and PV ``<name>-pv`` under ``host_path`` if set."""

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def _volume_labels(self) -> dict[str, str]:
        cr = self._cr
        return {**cr.labels("data"), NAMESPACE_LABEL: cr.namespace, UID_LABEL: cr.uid}

    def volume_manifest(self) -> Manifest | None:
        cr = self._cr
        if cr.spec.host_path is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": cr.names.data_volume, "labels": self._volume_labels()},
            "spec": {
                "capacity": {"storage": cr.spec.storage_size},
                "accessModes": ACCESS_MODES,
                # hostPath volumes cannot be deleted by Kubernetes; the operator does it.
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": cr.spec.storage_class or "",
                "claimRef": {"namespace": cr.namespace, "name": cr.names.data_claim},
                "hostPath": {
                    "path": f"{cr.spec.host_path.rstrip('/')}/{cr.namespace}/{cr.name}-{cr.uid}",
                    "type": "DirectoryOrCreate",
                },
            },
        }

    def claim_manifest(self) -> Manifest:
        cr = self._cr
        spec: dict[str, Any] = {
            "accessModes": ACCESS_MODES,
            "resources": {"requests": {"storage": cr.spec.storage_size}},
        }
        if cr.spec.host_path is not None:
            spec["storageClassName"] = cr.spec.storage_class or ""
            spec["volumeName"] = cr.names.data_volume
        elif cr.spec.storage_class is not None:
            spec["storageClassName"] = cr.spec.storage_class
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": cr.names.data_claim,
                "namespace": cr.namespace,
                "labels": cr.labels("data"),
                "ownerReferences": [cr.owner_reference()],
            },
            "spec": spec,
        }

    def manifests(self) -> list[Manifest]:
        volume = self.volume_manifest()
        return [*([volume] if volume else []), self.claim_manifest()]

    def _claim_ref(self) -> ObjectRef:
        return ObjectRef("v1", "PersistentVolumeClaim", self._cr.names.data_claim,
                         self._cr.namespace)

    async def exists(self) -> bool:
        return await self._kube.get(self._claim_ref()) is not None

    async def served_since(self) -> str | None:
        """When a server first answered on this volume (None: never, or no claim)."""
        claim = await self._kube.get(self._claim_ref())
        annotations = (claim or {}).get("metadata", {}).get("annotations") or {}
        served = annotations.get(FIRST_READY_ANNOTATION)
        return str(served) if served else None

    async def mark_served(self, when: str) -> None:
        """Record, once, that the server answered: the volume may now hold user data.

        A merge patch, not part of the applied manifest: server-side apply
        must never take the mark away again.
        """
        if await self.served_since() is None:
            await self._kube.patch(
                self._claim_ref(),
                {"metadata": {"annotations": {FIRST_READY_ANNOTATION: when}}},
            )

    async def ensure(self) -> str | None:
        """Create the volume and claim; apply a grown ``storage_size`` to the claim.

        Returns what an expansion in progress waits for (None when the bound
        claim has what it requests).  Raises StorageNotResized when the cluster
        refuses the new size: the instance keeps running on the old one.
        """
        volume = self.volume_manifest()
        if volume is not None:
            expected = {NAMESPACE_LABEL: self._cr.namespace, UID_LABEL: self._cr.uid}
            await _ensure_static_volume(self._kube, volume, expected)
        claim = self.claim_manifest()
        existing = await self._kube.get(ObjectRef.of(claim))
        try:
            applied = await self._kube.apply(claim)
        except KubeError as exc:
            if existing is None or exc.code not in (403, 422):
                raise
            raise StorageNotResized(
                f"PersistentVolumeClaim {self._cr.names.data_claim} was not resized to "
                f"{self._cr.spec.storage_size}: {exc}"
            ) from exc
        return _expansion(applied)

    async def teardown(self) -> None:
        cr = self._cr
        await self._kube.delete(ObjectRef("v1", "PersistentVolumeClaim", cr.names.data_claim,
                                          cr.namespace))
        volume = await self._kube.get(_volume_ref(cr.names.data_volume))
        labels = (volume or {}).get("metadata", {}).get("labels") or {}
        if volume is not None and labels.get(UID_LABEL) == cr.uid:
            await self._kube.delete(_volume_ref(cr.names.data_volume))


def _expansion(claim: Manifest) -> str | None:
    """What a bound claim's expansion waits for, from its status; None if it has its size."""
    status = claim.get("status") or {}
    requested = str(claim["spec"]["resources"]["requests"]["storage"])
    capacity = (status.get("capacity") or {}).get("storage")
    if status.get("phase") != "Bound" or capacity is None \
            or quantity_value(str(capacity)) >= quantity_value(requested):
        return None
    # Resizing, FileSystemResizePending (the node grows the file system when
    # the pod next starts), ControllerResizeError...
    states = "; ".join(
        f"{c['type']}" + (f": {c['message']}" if c.get("message") else "")
        for c in status.get("conditions") or [] if c.get("status") == "True")
    return (f"PersistentVolumeClaim {claim['metadata']['name']} has {capacity} and requests "
            f"{requested}: waiting for the volume to be expanded"
            + (f" ({states})" if states else ""))


class BackupVolume:
    """Claim ``backup-<name>-pvc`` (+ PV ``backup-<name>-pv``): created if absent, never owned.

    It has no ``teardown()``: the backups must survive the MySQL object, and
    deleting them is a human decision (``kubectl delete pvc backup-<name>-pvc``).
    """

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def volume_manifest(self) -> Manifest | None:
        cr = self._cr
        if cr.spec.host_path is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": cr.names.backup_volume,
                "labels": {**cr.labels("backup"), NAMESPACE_LABEL: cr.namespace},
            },
            "spec": {
                "capacity": {"storage": cr.spec.backup_size},
                "accessModes": ACCESS_MODES,
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": cr.spec.storage_class or "",
                "claimRef": {"namespace": cr.namespace, "name": cr.names.backup_claim},
                "hostPath": {
                    "path": f"{cr.spec.host_path.rstrip('/')}/{cr.namespace}/backup-{cr.name}",
                    "type": "DirectoryOrCreate",
                },
            },
        }

    def claim_manifest(self) -> Manifest:
        cr = self._cr
        spec: dict[str, Any] = {
            "accessModes": ACCESS_MODES,
            "resources": {"requests": {"storage": cr.spec.backup_size}},
        }
        if cr.spec.host_path is not None:
            spec["storageClassName"] = cr.spec.storage_class or ""
            spec["volumeName"] = cr.names.backup_volume
        elif cr.spec.storage_class is not None:
            spec["storageClassName"] = cr.spec.storage_class
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": cr.names.backup_claim,
                "namespace": cr.namespace,
                "labels": cr.labels("backup"),
            },
            "spec": spec,
        }

    def manifests(self) -> list[Manifest]:
        volume = self.volume_manifest()
        return [*([volume] if volume else []), self.claim_manifest()]

    async def ensure(self) -> None:
        volume = self.volume_manifest()
        if volume is not None:
            await _ensure_static_volume(self._kube, volume, {NAMESPACE_LABEL: self._cr.namespace})
        await self._kube.create(self.claim_manifest())
