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

    async def ensure(self, password: bytes) -> bool:
        """Create the Secret if absent; never change it.  False if ``password`` differs.

        MySQL reads MYSQL_ROOT_PASSWORD only when it initialises its data
        directory, so the server keeps its first password.  Overwriting the
        Secret with a new one would lock the backup Job out of the server
        (and the deletion would then wait forever for a backup).
        """
        manifest = self.manifest(password)
        wanted: str = manifest["data"][PASSWORD_KEY]
        if await self._kube.create(manifest) is not None:
            return True
        existing = await self._kube.get(ObjectRef.of(manifest))
        if existing is None:  # deleted in between: create it next time
            return True
        stored: str | None = (existing.get("data") or {}).get(PASSWORD_KEY)
        return stored == wanted

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
