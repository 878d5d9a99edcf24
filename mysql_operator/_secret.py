"""The operator-managed Secret that holds the root password.

Every container that needs the password (the server, the backup and restore
Jobs) reads it from this one Secret through ``secretKeyRef``, whether the user
gave it inline (``spec.password``) or in a Secret of their own
(``spec.password_secret``): no manifest ever carries the password literally.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from ._errors import NotReady
from ._kube import Kube, Manifest, ObjectRef
from ._model import MySQL

PASSWORD_KEY = "password"
# The next password, while a rotation Job changes the server's (see _rotation).
PENDING_KEY = "pending"
REDACTED = "<redacted>"


class CredentialsSecret:
    """Secret ``<name>-credentials``, key ``password``; owned by the MySQL object."""

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def manifest(self, password: bytes) -> Manifest:
        cr = self._cr
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": cr.names.secret,
                "namespace": cr.namespace,
                "labels": cr.labels("credentials"),
                "ownerReferences": [cr.owner_reference()],
            },
            "type": "Opaque",
            "data": {PASSWORD_KEY: base64.b64encode(password).decode("ascii")},
        }

    def _ref(self) -> ObjectRef:
        return ObjectRef("v1", "Secret", self._cr.names.secret, self._cr.namespace)

    async def ensure(self, password: bytes) -> None:
        """Create the Secret if absent; an existing one is changed only by a rotation.

        MySQL reads MYSQL_ROOT_PASSWORD only when it initialises its data
        directory: a different password must be set on the server first
        (``PasswordRotation``), and only then recorded here.
        """
        await self._kube.create(self.manifest(password))

    async def read(self) -> tuple[bytes | None, bytes | None]:
        """The current and the pending password (None where absent)."""
        found = await self._kube.get(self._ref())
        data = (found or {}).get("data") or {}

        def decoded(key: str) -> bytes | None:
            value = data.get(key)
            return base64.b64decode(value) if value else None

        return decoded(PASSWORD_KEY), decoded(PENDING_KEY)

    async def _patch_data(self, data: dict[str, str | None]) -> None:
        if await self._kube.patch(self._ref(), {"data": data}) is None:
            raise NotReady(f"Secret {self._cr.names.secret} is missing", delay=5)

    async def set_pending(self, password: bytes) -> None:
        await self._patch_data({PENDING_KEY: base64.b64encode(password).decode("ascii")})

    async def promote(self, password: bytes) -> None:
        """The server has ``password`` now: make it the current one, drop ``pending``."""
        await self._patch_data(
            {PASSWORD_KEY: base64.b64encode(password).decode("ascii"), PENDING_KEY: None}
        )

    async def drop_pending(self) -> None:
        await self._patch_data({PENDING_KEY: None})

    async def teardown(self) -> None:
        cr = self._cr
        await self._kube.delete(ObjectRef("v1", "Secret", cr.names.secret, cr.namespace))


async def resolve_password(cr: MySQL, kube: Kube) -> bytes:
    """The root password: inline, or read from the user's Secret (waiting for it)."""
    if cr.spec.password is not None:
        return cr.spec.password.encode("utf-8")
    ref = cr.spec.password_secret
    assert ref is not None  # MySQLSpec guarantees exactly one of the two
    secret = await kube.get(ObjectRef("v1", "Secret", ref.name, cr.namespace))
    where = f"Secret {cr.namespace}/{ref.name}"
    if secret is None:
        raise NotReady(f"waiting for {where} (spec.password_secret)", delay=30)
    encoded = (secret.get("data") or {}).get(ref.key)
    if not encoded:
        raise NotReady(f"waiting for key {ref.key!r} in {where} (spec.password_secret)", delay=30)
    try:
        # Copied as bytes: a password need not be UTF-8 for MySQL.
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NotReady(f"key {ref.key!r} in {where} is not valid base64", delay=60) from None


def password_digest(salt: str, password: str | bytes) -> str:
    """A salted, truncated HMAC of a password: tells passwords apart, reveals none."""
    data = password.encode("utf-8") if isinstance(password, str) else password
    digest = hmac.new(salt.encode("utf-8"), data, hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:32]}"


def redact(manifest: Manifest) -> Manifest:
    """A copy of a manifest with every Secret value replaced, for printing."""
    if manifest.get("kind") != "Secret":
        return manifest
    redacted = dict(manifest)
    for stanza in ("data", "stringData"):
        if stanza in redacted:
            redacted[stanza] = dict.fromkeys(redacted[stanza], REDACTED)
    return redacted
