"""mysql-operator: runs MySQL servers from ``MySQL`` custom resources (otus.homework/v1).

Creating a MySQL object brings up a Deployment, a Service, the data and
backup volumes and a credentials Secret, then restores the newest backup;
deleting it takes a backup first.  The public surface is the typed model,
the per-object components with their pure manifest builders, and the
``MySQLInstance`` that orchestrates them; the kopf handlers live in
``mysql_operator._handlers`` and run with ``python -m mysql_operator run``.
Scripts manage instances with ``mysql_operator.client`` (``MySQLClient``,
``SyncMySQLClient``).
"""

from ._crd import crd, crd_yaml
from ._errors import NotReady, RestoreFailed
from ._instance import MySQLInstance
from ._jobs import (
    BackupJob,
    BackupProgress,
    BackupResult,
    JobPhase,
    RestoreJob,
    RestoreResult,
)
from ._kube import Kr8sKube, Kube, KubeError, Manifest, ObjectRef
from ._model import (
    Condition,
    LastBackup,
    MySQL,
    MySQLSpec,
    MySQLStatus,
    Names,
    Resources,
    RestoreRecord,
    SecretKeyRef,
    SpecError,
    parse_spec,
)
from ._secret import CredentialsSecret, redact
from ._server import MySQLDeployment, MySQLService
from ._volumes import BackupVolume, DataVolume, StorageNotResized
from .client import MySQLClient, MySQLObject, SyncMySQLClient

__all__ = [
    "BackupJob",
    "BackupProgress",
    "BackupResult",
    "BackupVolume",
    "Condition",
    "CredentialsSecret",
    "DataVolume",
    "JobPhase",
    "Kr8sKube",
    "Kube",
    "KubeError",
    "LastBackup",
    "Manifest",
    "MySQL",
    "MySQLClient",
    "MySQLDeployment",
    "MySQLInstance",
    "MySQLObject",
    "MySQLService",
    "MySQLSpec",
    "MySQLStatus",
    "Names",
    "NotReady",
    "ObjectRef",
    "Resources",
    "RestoreFailed",
    "RestoreJob",
    "RestoreRecord",
    "RestoreResult",
    "SecretKeyRef",
    "SpecError",
    "StorageNotResized",
    "SyncMySQLClient",
    "crd",
    "crd_yaml",
    "parse_spec",
    "redact",
]
