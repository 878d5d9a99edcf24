"""The typed model of the MySQL custom resource: spec, status, derived names.

This model is the single source of truth for the CRD (``_crd`` generates the
schema from it), so every attribute is documented for ``kubectl explain`` and
carries the CEL rules that the API server enforces at admission.  The attrs
validators repeat the checks that matter offline (``render``, unit tests) so
that a bad spec fails with a clear message before any object is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
import cattrs.v

from ._schema import Quantity, Rule, doc, documented, is_quantity, make_converter

GROUP = "otus.homework"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "MySQL"
PLURAL = "mysqls"
SINGULAR = "mysql"
SHORT_NAMES = ("ms",)

# Labels and annotations the operator sets or honours.
INSTANCE_LABEL = f"{GROUP}/instance"
NAMESPACE_LABEL = f"{GROUP}/namespace"
UID_LABEL = f"{GROUP}/uid"
OWNER_UID_ANNOTATION = f"{GROUP}/owner-uid"
SKIP_BACKUP_ANNOTATION = f"{GROUP}/skip-backup"
# On the data claim: when the server first answered on it.  From then on the
# volume may hold user data, and deleting the instance always needs a backup.
FIRST_READY_ANNOTATION = f"{GROUP}/first-ready"

MYSQL_PORT = 3306

# The longest derived names are the Jobs', "restore-<name>-job" and
# "backup-<name>-job"; a Job's name lands in its pods' job-name label, and
# label values are limited to 63 characters.
_LONGEST_AFFIXES = len("restore-") + len("-job")
MAX_NAME_LENGTH = 63 - _LONGEST_AFFIXES
# The Service is named after the instance, so the name is a DNS-1035 label.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DATABASE_PATTERN = r"^[0-9A-Za-z$_-]{1,64}$"

_NAME_RE = re.compile(NAME_PATTERN)
_DATABASE_RE = re.compile(DATABASE_PATTERN)


class SpecError(ValueError):
    """The MySQL object cannot be turned into a typed spec (with the reason why)."""


def _check_quantity(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not is_quantity(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a Kubernetes quantity (e.g. 1Gi)")


def _check_database(_: Any, __: attrs.Attribute[Any], value: str) -> None:
    if not _DATABASE_RE.match(value):
        raise ValueError(
            f"database: {value!r} is not a valid database name "
            f"(1-64 characters of letters, digits, '$', '_' and '-')"
        )


def _check_absolute(_: Any, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not value.startswith("/"):
        raise ValueError(f"host_path: {value!r} is not an absolute path")


_non_empty: Callable[[Any, attrs.Attribute[Any], Any], None] = attrs.validators.min_len(1)


@documented("A key of a Secret in the MySQL object's namespace.")
@attrs.frozen
class SecretKeyRef:
    name: str = attrs.field(
        validator=_non_empty,
        metadata=doc(
            "Name of the Secret, in the namespace of the MySQL object.",
            keywords={"minLength": 1, "maxLength": 253},
        ),
    )
    key: str = attrs.field(
        validator=_non_empty,
        metadata=doc(
            "Key in the Secret's data that holds the root password.",
            keywords={"minLength": 1, "maxLength": 253},
        ),
    )


@documented("Compute resources of the MySQL container (as in a Pod's container resources).")
@attrs.frozen
class Resources:
    requests: dict[str, Quantity] = attrs.field(
        factory=dict,
        metadata=doc("Minimum resources the container is scheduled with, e.g. {cpu: 250m}."),
    )
    limits: dict[str, Quantity] = attrs.field(
        factory=dict,
        metadata=doc("Maximum resources the container may use, e.g. {memory: 1Gi}."),
    )

    def to_container(self) -> dict[str, dict[str, str]]:
        """The container's ``resources`` stanza (empty maps left out)."""
        stanza: dict[str, dict[str, str]] = {}
        if self.requests:
            stanza["requests"] = dict(self.requests)
        if self.limits:
            stanza["limits"] = dict(self.limits)
        return stanza


@documented(
    "Desired state of a MySQL server: its image, database, root password and storage.",
    rules=(
        Rule(
            "has(self.password) != has(self.password_secret)",
            "exactly one of spec.password and spec.password_secret must be set",
        ),
        Rule(
            "has(self.storage_class) == has(oldSelf.storage_class)",
            "spec.storage_class is immutable: it cannot be added or removed after creation",
        ),
        Rule(
            "has(self.host_path) == has(oldSelf.host_path)",
            "spec.host_path is immutable: it cannot be added or removed after creation",
        ),
    ),
)
@attrs.frozen
class MySQLSpec:
    image: str = attrs.field(
        validator=_non_empty,
        metadata=doc(
            "Container image of the MySQL server, e.g. mysql:5.7. It must honour the "
            "official images' environment (MYSQL_ROOT_PASSWORD, MYSQL_DATABASE) and "
            "contain mysql, mysqldump, mysqladmin and sh: the backup and restore Jobs "
            "run it too.",
            keywords={"minLength": 1, "maxLength": 1024},
        ),
    )
    database: str = attrs.field(
        validator=_check_database,
        metadata=doc(
            "Name of the database created at first start, backed up on deletion and "
            "restored on creation. Letters, digits, '$', '_' and '-' (hyphens are fine: "
            "the operator always quotes the name). Immutable.",
            keywords={"pattern": DATABASE_PATTERN, "maxLength": 64},
            rules=(Rule("self == oldSelf", "spec.database is immutable"),),
        ),
    )
    storage_size: str = attrs.field(
        validator=_check_quantity,
        metadata=doc(
            "Size of the data volume, a Kubernetes quantity such as 1Gi. It may grow "
            "(if the storage class supports expansion) but never shrink.",
            keywords={"maxLength": 64},
            rules=(
                Rule("isQuantity(self)", "spec.storage_size must be a quantity, e.g. 1Gi"),
                Rule(
                    "!isQuantity(self) || !isQuantity(oldSelf) || "
                    "quantity(self).compareTo(quantity(oldSelf)) >= 0",
                    "spec.storage_size may grow but not shrink",
                ),
            ),
        ),
    )
    password: str | None = attrs.field(
        default=None,
        repr=False,
        validator=attrs.validators.optional(_non_empty),
        metadata=doc(
            "Root password, inline. Prefer password_secret: an inline password is "
            "visible to anyone who can read this object. Exactly one of password and "
            "password_secret must be set. Changing it changes the running server's "
            "root password (ALTER USER), without a restart; see the PasswordRotated "
            "condition.",
            keywords={"minLength": 1},
        ),
    )
    password_secret: SecretKeyRef | None = attrs.field(
        default=None,
        metadata=doc(
            "Root password, read from a key of an existing Secret in the same "
            "namespace. The operator watches that Secret: a change of the value "
            "changes the running server's root password, as a change of password "
            "does. Exactly one of password and password_secret must be set."
        ),
    )
    storage_class: str | None = attrs.field(
        default=None,
        metadata=doc(
            "StorageClass of both volumes. Defaults to the cluster's default "
            "StorageClass (or to none with host_path). Immutable.",
            keywords={"maxLength": 253},
            rules=(Rule("self == oldSelf", "spec.storage_class is immutable"),),
        ),
    )
    backup_storage_size: str | None = attrs.field(
        default=None,
        validator=_check_quantity,
        metadata=doc(
            "Size of the backup volume, a quantity; defaults to storage_size. Used "
            "only when the backup volume is created: it outlives the MySQL object "
            "and is never resized.",
            keywords={"maxLength": 64},
            rules=(
                Rule("isQuantity(self)", "spec.backup_storage_size must be a quantity, e.g. 1Gi"),
            ),
        ),
    )
    host_path: str | None = attrs.field(
        default=None,
        validator=_check_absolute,
        metadata=doc(
            "A directory on the node. When set, the operator creates static hostPath "
            "PersistentVolumes <name>-pv and backup-<name>-pv under it (single-node "
            "clusters); otherwise the claims are provisioned dynamically. Immutable.",
            keywords={"pattern": "^/", "maxLength": 1024},
            rules=(Rule("self == oldSelf", "spec.host_path is immutable"),),
        ),
    )
    resources: Resources | None = attrs.field(
        default=None,
        metadata=doc("Compute resources of the MySQL container."),
    )

    def __attrs_post_init__(self) -> None:
        if (self.password is None) == (self.password_secret is None):
            raise ValueError("exactly one of password and password_secret must be set")

    @property
    def backup_size(self) -> str:
        return self.backup_storage_size or self.storage_size


@documented("A status condition, per the Kubernetes API conventions.")
@attrs.frozen
class Condition:
    type: str = attrs.field(
        metadata=doc(
            "Type of the condition: Ready, Restored, BackupSucceeded, PasswordRotated "
            "or StorageResized.",
            keywords={"maxLength": 316},
        )
    )
    status: str = attrs.field(
        metadata=doc(
            "Status of the condition: True, False or Unknown.",
            keywords={"enum": ["True", "False", "Unknown"]},
        )
    )
    reason: str = attrs.field(
        metadata=doc("Machine-readable CamelCase reason of the last transition.")
    )
    message: str = attrs.field(metadata=doc("Human-readable details."))
    last_transition_time: str = attrs.field(
        metadata=doc(
            "When the status last changed (not when the condition was last written).",
            key="lastTransitionTime",
            keywords={"format": "date-time"},
        )
    )
    observed_generation: int | None = attrs.field(
        default=None,
        metadata=doc(
            "metadata.generation of the object the condition was set for.",
            key="observedGeneration",
            keywords={"minimum": 0},
        ),
    )


@documented("The last backup the operator took (on deletion of the MySQL object).")
@attrs.frozen
class LastBackup:
    time: str = attrs.field(
        metadata=doc("When the dump finished.", keywords={"format": "date-time"})
    )
    job: str = attrs.field(metadata=doc("Name of the Job that took the backup."))
    file: str = attrs.field(metadata=doc("File name of the dump on the backup volume."))
    size: int = attrs.field(metadata=doc("Size of the dump in bytes.", keywords={"minimum": 0}))


@documented("What the restore Job did when the MySQL object was created.")
@attrs.frozen
class RestoreRecord:
    source: str = attrs.field(
        metadata=doc('File name of the dump that was loaded, or "none" if there was no backup.')
    )
    time: str = attrs.field(
        metadata=doc("When the restore Job finished.", keywords={"format": "date-time"})
    )
    backup_time: str | None = attrs.field(
        default=None,
        metadata=doc(
            "When the loaded backup was taken.", key="backupTime", keywords={"format": "date-time"}
        ),
    )


PHASES = ("Pending", "Restoring", "Ready", "Failed", "BackingUp", "BackupFailed")


@documented("Observed state of the MySQL instance, written by the operator.")
@attrs.frozen
class MySQLStatus:
    phase: str | None = attrs.field(
        default=None,
        metadata=doc(
            "Pending (creating objects, waiting for MySQL), Restoring, Ready, Failed, "
            "BackingUp (deletion in progress) or BackupFailed.",
            keywords={"enum": list(PHASES)},
        ),
    )
    message: str | None = attrs.field(default=None, metadata=doc("Details of the phase."))
    observed_generation: int | None = attrs.field(
        default=None,
        metadata=doc(
            "metadata.generation of the spec the operator last handled.",
            key="observedGeneration",
            keywords={"minimum": 0},
        ),
    )
    conditions: tuple[Condition, ...] = attrs.field(
        default=(),
        metadata=doc(
            "Conditions: Ready, Restored, BackupSucceeded, PasswordRotated, StorageResized.",
            keywords={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        ),
    )
    last_backup: LastBackup | None = attrs.field(
        default=None, metadata=doc("The last backup taken.", key="lastBackup")
    )
    restore: RestoreRecord | None = attrs.field(
        default=None,
        metadata=doc("Whether the instance was restored from a backup at creation, and from what."),
    )


@attrs.frozen
class Names:
    """Names of every object derived from one instance (as the seed names them)."""

    instance: str

    @property
    def deployment(self) -> str:
        return self.instance

    @property
    def service(self) -> str:
        return self.instance

    @property
    def secret(self) -> str:
        return f"{self.instance}-credentials"

    @property
    def data_claim(self) -> str:
        return f"{self.instance}-pvc"

    @property
    def data_volume(self) -> str:
        return f"{self.instance}-pv"

    @property
    def backup_claim(self) -> str:
        return f"backup-{self.instance}-pvc"

    @property
    def backup_volume(self) -> str:
        return f"backup-{self.instance}-pv"

    @property
    def backup_job(self) -> str:
        return f"backup-{self.instance}-job"

    @property
    def restore_job(self) -> str:
        return f"restore-{self.instance}-job"

    @property
    def rotate_job(self) -> str:
        # Shorter than restore-<name>-job, so the name limit covers it.
        return f"rotate-{self.instance}-job"


def check_name(name: str) -> None:
    """Raise SpecError unless every object derived from ``name`` can exist."""
    if len(name) > MAX_NAME_LENGTH:
        raise SpecError(
            f"metadata.name {name!r} is {len(name)} characters long; at most "
            f"{MAX_NAME_LENGTH} are allowed, so that restore-<name>-job fits in 63"
        )
    if not _NAME_RE.match(name):
        raise SpecError(
            f"metadata.name {name!r} must be a DNS-1035 label (lowercase letters, "
            f"digits and '-', starting with a letter): it names the Service"
        )


_ROOT_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_spec_converter = make_converter(forbid_extra_keys=True)
_status_converter = make_converter(forbid_extra_keys=False)


def _explain(exc: BaseException, type_: type | None) -> str:
    """cattrs' wording, but keep our validators' messages: they say what is expected."""
    if isinstance(exc, ValueError | TypeError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def parse_spec(spec: Mapping[str, Any]) -> MySQLSpec:
    """Structure a CR's spec; SpecError lists every problem with its path."""
    try:
        return _spec_converter.structure(dict(spec), MySQLSpec)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        details = "; ".join(cattrs.transform_error(exc, path="spec", format_exception=_explain))
        raise SpecError(f"invalid MySQL spec: {details}") from None


def parse_status(status: Mapping[str, Any] | None) -> MySQLStatus:
    """Structure the status the operator wrote earlier (unknown keys are ignored)."""
    try:
        return _status_converter.structure(dict(status or {}), MySQLStatus)
    except (cattrs.BaseValidationError, ValueError, TypeError):
        # A hand-edited or foreign status must not wedge the operator: start afresh.
        return MySQLStatus()


def unstructure_status(status: MySQLStatus) -> dict[str, Any]:
    result: dict[str, Any] = _status_converter.unstructure(status)
    return result


@attrs.frozen
class MySQL:
    """One MySQL custom resource: identity, annotations and the typed spec."""

    name: str
    namespace: str
    uid: str
    spec: MySQLSpec
    generation: int = 0
    annotations: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MySQL:
        """Parse a whole MySQL object (as kopf or a YAML file gives it)."""
        extra = sorted(set(body) - _ROOT_KEYS)
        if extra:
            raise SpecError(f"unknown top-level field(s): {', '.join(extra)}")
        api_version = body.get("apiVersion", API_VERSION)
        kind = body.get("kind", KIND)
        if (api_version, kind) != (API_VERSION, KIND):
            raise SpecError(f"expected {API_VERSION} {KIND}, got {api_version} {kind}")
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name") or "")
        check_name(name)
        if "spec" not in body:
            raise SpecError("the MySQL object has no spec")
        return cls(
            name=name,
            namespace=str(metadata.get("namespace") or "default"),
            uid=str(metadata.get("uid") or ""),
            generation=int(metadata.get("generation") or 0),
            annotations=dict(metadata.get("annotations") or {}),
            spec=parse_spec(body["spec"] or {}),
        )

    @property
    def names(self) -> Names:
        return Names(self.name)

    @property
    def skip_backup(self) -> bool:
        """The documented opt-out: annotate ``otus.homework/skip-backup: "true"``."""
        return self.annotations.get(SKIP_BACKUP_ANNOTATION, "").lower() == "true"

    def owner_reference(self) -> dict[str, Any]:
        """An ownerReference that lets the garbage collector remove a namespaced child."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def labels(self, component: str) -> dict[str, str]:
        """Labels of every child; ``app`` is the seed's selector for the MySQL pods."""
        return {
            "app.kubernetes.io/name": "mysql",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": "mysql-operator",
            INSTANCE_LABEL: self.name,
        }
