"""``MySQLInstance``: every Kubernetes object of one MySQL object, in the right order."""

from __future__ import annotations

import attrs

from ._jobs import BackupJob, BackupProgress, RestoreJob, RestoreResult
from ._kube import Kube, Manifest
from ._model import MySQL, MySQLStatus
from ._rotation import PasswordRotation, RotationProgress
from ._secret import CredentialsSecret, resolve_password
from ._server import MySQLDeployment, MySQLService
from ._volumes import BackupVolume, DataVolume, StorageNotResized


@attrs.frozen
class Notice:
    """Something the user should know that did not stop the instance (a Warning Event)."""

    reason: str
    message: str
    # A change of an object the operator had made before (drift, or a spec change).
    drift: bool = False


class MySQLInstance:
    """Orchestrates the components; the kopf handlers call only this.

    Order matters on the way up (the Deployment needs the Secret and the
    claim) and on the way down (the server goes before its volume).  The
    backup volume and the backup Job are never torn down: they outlive the
    MySQL object.
    """

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self.cr = cr
        self._kube = kube
        self.secret = CredentialsSecret(cr, kube)
        self.data = DataVolume(cr, kube)
        self.backups = BackupVolume(cr, kube)
        self.deployment = MySQLDeployment(cr, kube)
        self.service = MySQLService(cr, kube)
        self.backup_job = BackupJob(cr, kube)
        self.restore_job = RestoreJob(cr, kube)
        self.rotation = PasswordRotation(cr, kube, self.secret)

    def manifests(self, password: bytes) -> list[Manifest]:
        """Everything ``ensure()`` and the Jobs would create, for review (``render``)."""
        return [
            self.secret.manifest(password),
            *self.data.manifests(),
            *self.backups.manifests(),
            self.deployment.manifest(),
            self.service.manifest(),
            self.restore_job.manifest(),
            self.backup_job.manifest(),
        ]

    async def ensure(self) -> list[Notice]:
        """Create or converge the server's objects; return what did not stop it."""
        notices: list[Notice] = []
        password = await resolve_password(self.cr, self._kube)
        await self.secret.ensure(password)
        try:
            expansion = await self.data.ensure()
        except StorageNotResized as exc:
            notices.append(Notice("StorageNotResized", str(exc)))
        else:
            if expansion is not None:
                notices.append(Notice("StorageResizing", expansion))
        await self.backups.ensure()
        if await self.deployment.ensure():
            notices.append(Notice("DeploymentChanged",
                                  f"Deployment {self.cr.names.deployment} was updated",
                                  drift=True))
        if await self.service.ensure():
            notices.append(Notice("ServiceCreated",
                                  f"Service {self.cr.names.service} was created",
                                  drift=True))
        return notices

    async def sync_password(self) -> RotationProgress:
        """Bring the server's root password to the spec's (a rotation, step by step)."""
        return await self.rotation.run(await resolve_password(self.cr, self._kube))

    async def available(self) -> bool:
        return await self.deployment.available()

    async def restore(self) -> RestoreResult | None:
        """Run the restore Job once; None while it runs (raises RestoreFailed)."""
        return await self.restore_job.run()

    async def has_data(self) -> bool:
        """Whether there is anything to back up (the data claim exists)."""
        return await self.data.exists()

    async def mark_served(self, when: str) -> None:
        """Record on the data volume that the server has answered (see ``ever_served``)."""
        await self.data.mark_served(when)

    async def ever_served(self, status: MySQLStatus) -> bool:
        """Whether the server ever answered, so that its volume may hold user data.

        The mark on the data claim is the durable record; the status is
        checked too, for claims made before the mark existed.  Only a server
        that never answered may be deleted without a backup when it is down.
        """
        if status.restore is not None or any(
            c.type == "Ready" and c.status == "True" for c in status.conditions
        ):
            return True
        return await self.data.served_since() is not None

    async def backup(self) -> BackupProgress:
        """Advance the backup Job by one step."""
        return await self.backup_job.run()

    async def abandon_backup(self) -> bool:
        """Stop this object's unfinished backup Job, when the user skips the backup."""
        return await self.backup_job.abandon()

    async def teardown(self) -> None:
        """Delete the server and its data; keep the backups (volume and Job)."""
        await self.deployment.teardown()
        await self.service.teardown()
        await self.restore_job.teardown()
        await self.rotation.teardown()
        await self.data.teardown()
        await self.secret.teardown()
