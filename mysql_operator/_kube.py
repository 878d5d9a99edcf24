"""Kubernetes API access: a narrow protocol and its kr8s.asyncio implementation.

The components need six verbs (get, server-side apply, create-if-absent,
merge patch, delete-if-present, list by label), so they depend on this protocol instead of
kr8s objects: the unit tests give them an in-memory fake, and the operator
gives them ``Kr8sKube`` over the one ``kr8s.asyncio`` client made at startup.

kr8s 0.20 has no server-side apply (``patch(type="apply")`` sends a merge
patch) and its ``get()`` is a retried LIST, so requests go through
``api.call_api`` directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import httpx
import kr8s
import kr8s.asyncio

FIELD_MANAGER = "mysql-operator"

Manifest = dict[str, Any]

_PLURALS = {
    "Secret": "secrets",
    "Service": "services",
    "Pod": "pods",
    "PersistentVolume": "persistentvolumes",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Deployment": "deployments",
    "Job": "jobs",
    "MySQL": "mysqls",
}


@attrs.frozen
class ObjectRef:
    """Where an object lives in the API: enough to GET or DELETE it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        metadata = manifest["metadata"]
        return cls(manifest["apiVersion"], manifest["kind"], metadata["name"],
                   metadata.get("namespace"))

    @property
    def plural(self) -> str:
        return _PLURALS[self.kind]

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class KubeError(Exception):
    """A failed API request, with the HTTP status (0 when no answer came)."""

    def __init__(self, message: str, *, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason

    @property
    def transient(self) -> bool:
        """Whether retrying the same request later may succeed."""
        return self.code == 0 or self.code >= 500 or self.code in (403, 404, 408, 409, 429)


class Kube(Protocol):
    """The API verbs the components use."""

    async def get(self, ref: ObjectRef) -> Manifest | None:
        """The object, or None if it does not exist."""

    async def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply (create or converge), forcing our field manager's ownership."""

    async def create(self, manifest: Manifest) -> Manifest | None:
        """Create the object; None if it already exists (it is then left as it is)."""

    async def patch(self, ref: ObjectRef, patch: Manifest) -> Manifest | None:
        """JSON merge patch (e.g. one annotation); None if the object does not exist."""

    async def delete(self, ref: ObjectRef) -> bool:
        """Delete with background propagation; False if it did not exist."""

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[Manifest]:
        """Objects of a kind in a namespace that match a label selector."""

    async def logs(self, namespace: str, pod: str, tail: int) -> str:
        """The last ``tail`` lines of a pod's log ("" if the pod is gone)."""


class Kr8sKube:
    """``Kube`` over a ``kr8s.asyncio`` client (created once, at operator startup)."""

    def __init__(self, api: kr8s.asyncio.Api, field_manager: str = FIELD_MANAGER) -> None:
        self._api = api
        self._field_manager = field_manager

    async def _request(
        self,
        method: str,
        *,
        api_version: str,
        plural: str,
        namespace: str | None,
        name: str = "",
        **kwargs: Any,
    ) -> Any:
        url = f"{plural}/{name}" if name else plural
        text = kwargs.pop("text", False)
        try:
            async with self._api.call_api(
                method, version=api_version, namespace=namespace, url=url, **kwargs
            ) as response:
                return response.text if text else response.json()
        except kr8s.ServerError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            status: dict[str, Any] = exc.status if isinstance(exc.status, dict) else {}
            raise KubeError(
                f"{method} {url}: {exc}", code=code, reason=str(status.get("reason", ""))
            ) from exc
        except (kr8s.APITimeoutError, httpx.TransportError) as exc:
            raise KubeError(f"{method} {url}: {exc}") from exc

    async def get(self, ref: ObjectRef) -> Manifest | None:
        try:
            found: Manifest = await self._request(
                "GET", api_version=ref.api_version, plural=ref.plural,
                namespace=ref.namespace, name=ref.name,
            )
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise
        return found

    async def apply(self, manifest: Manifest) -> Manifest:
        ref = ObjectRef.of(manifest)
        applied: Manifest = await self._request(
            "PATCH", api_version=ref.api_version, plural=ref.plural,
            namespace=ref.namespace, name=ref.name,
            params={"fieldManager": self._field_manager, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
            content=json.dumps(manifest),
        )
        return applied

    async def create(self, manifest: Manifest) -> Manifest | None:
        ref = ObjectRef.of(manifest)
        try:
            created: Manifest = await self._request(
                "POST", api_version=ref.api_version, plural=ref.plural,
                namespace=ref.namespace,
                params={"fieldManager": self._field_manager},
                headers={"Content-Type": "application/json"},
                content=json.dumps(manifest),
            )
        except KubeError as exc:
            if exc.code == 409 and exc.reason == "AlreadyExists":
                return None
            raise
        return created

    async def patch(self, ref: ObjectRef, patch: Manifest) -> Manifest | None:
        try:
            patched: Manifest = await self._request(
                "PATCH", api_version=ref.api_version, plural=ref.plural,
                namespace=ref.namespace, name=ref.name,
                params={"fieldManager": self._field_manager},
                headers={"Content-Type": "application/merge-patch+json"},
                content=json.dumps(patch),
            )
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise
        return patched

    async def delete(self, ref: ObjectRef) -> bool:
        try:
            await self._request(
                "DELETE", api_version=ref.api_version, plural=ref.plural,
                namespace=ref.namespace, name=ref.name,
                params={"propagationPolicy": "Background"},
            )
        except KubeError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[Manifest]:
        found = await self._request(
            "GET", api_version=api_version, plural=_PLURALS[kind], namespace=namespace,
            params={"labelSelector": label_selector},
        )
        items: list[Manifest] = found.get("items") or []
        return items


    async def logs(self, namespace: str, pod: str, tail: int) -> str:
        try:
            found: str = await self._request(
                "GET", api_version="v1", plural="pods", namespace=namespace,
                name=f"{pod}/log", params={"tailLines": str(tail)}, text=True,
            )
        except KubeError as exc:
            if exc.code in (400, 404):
                return ""
            raise
        return found


class OfflineKube:
    """A ``Kube`` for building manifests without a cluster: every request fails loudly."""

    async def _refuse(self) -> Any:
        raise RuntimeError("no cluster: this Kube only serves offline manifest building")

    async def get(self, ref: ObjectRef) -> Manifest | None:
        return await self._refuse()  # type: ignore[no-any-return]

    async def apply(self, manifest: Manifest) -> Manifest:
        return await self._refuse()  # type: ignore[no-any-return]

    async def create(self, manifest: Manifest) -> Manifest | None:
        return await self._refuse()  # type: ignore[no-any-return]

    async def patch(self, ref: ObjectRef, patch: Manifest) -> Manifest | None:
        return await self._refuse()  # type: ignore[no-any-return]

    async def delete(self, ref: ObjectRef) -> bool:
        return await self._refuse()  # type: ignore[no-any-return]

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[Manifest]:
        return await self._refuse()  # type: ignore[no-any-return]

    async def logs(self, namespace: str, pod: str, tail: int) -> str:
        return await self._refuse()  # type: ignore[no-any-return]
