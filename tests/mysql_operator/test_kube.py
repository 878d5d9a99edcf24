"""Kr8sKube: the requests it sends through kr8s, and how it reads failures."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import kr8s
import pytest

from mysql_operator import Kr8sKube, KubeError, ObjectRef


class FakeApi:
    """Stands in for kr8s.asyncio.Api.call_api: records requests, replays answers."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    @contextlib.asynccontextmanager
    async def call_api(self, method: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        self.requests.append({"method": method, **kwargs})
        code, payload = self.answers.pop(0)
        if isinstance(payload, Exception):
            raise payload
        response = httpx.Response(code, json=payload,
                                  request=httpx.Request(method, "https://k8s/x"))
        if code >= 400:  # what kr8s does with 4xx answers
            raise kr8s.ServerError(payload.get("message", ""), status=payload, response=response)
        yield response


def _status(code: int, reason: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "code": code, "reason": reason, "message": reason.lower()}


SECRET = ObjectRef("v1", "Secret", "s", "ns")
MANIFEST = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns"}}


def _kube(api: FakeApi) -> Kr8sKube:
    return Kr8sKube(api)  # type: ignore[arg-type]


async def test_get() -> None:
    api = FakeApi((200, {"kind": "Secret"}))
    assert await _kube(api).get(SECRET) == {"kind": "Secret"}
    assert api.requests == [{"method": "GET", "version": "v1", "namespace": "ns",
                             "url": "secrets/s"}]


async def test_get_absent() -> None:
    assert await _kube(FakeApi(_status(404, "NotFound"))).get(SECRET) is None


async def test_server_side_apply() -> None:
    api = FakeApi((200, MANIFEST))
    assert await _kube(api).apply(MANIFEST) == MANIFEST
    (request,) = api.requests
    assert request["method"] == "PATCH"
    assert request["version"] == "apps/v1"
    assert request["url"] == "deployments/d"
    assert request["namespace"] == "ns"
    assert request["headers"] == {"Content-Type": "application/apply-patch+yaml"}
    assert request["params"] == {"fieldManager": "mysql-operator", "force": "true"}
    assert json.loads(request["content"]) == MANIFEST


async def test_cluster_scoped_objects_have_no_namespace() -> None:
    api = FakeApi((200, {}))
    await _kube(api).get(ObjectRef("v1", "PersistentVolume", "pv"))
    assert api.requests[0]["namespace"] is None
    assert api.requests[0]["url"] == "persistentvolumes/pv"


async def test_create() -> None:
    api = FakeApi((201, MANIFEST))
    assert await _kube(api).create(MANIFEST) == MANIFEST
    assert api.requests[0]["method"] == "POST"
    assert api.requests[0]["url"] == "deployments"


async def test_create_existing() -> None:
    assert await _kube(FakeApi(_status(409, "AlreadyExists"))).create(MANIFEST) is None


async def test_create_conflict_of_another_kind_is_an_error() -> None:
    with pytest.raises(KubeError) as caught:
        await _kube(FakeApi(_status(409, "Conflict"))).create(MANIFEST)
    assert caught.value.reason == "Conflict"


async def test_delete() -> None:
    api = FakeApi((200, {}), _status(404, "NotFound"))
    assert await _kube(api).delete(SECRET) is True
    assert await _kube(api).delete(SECRET) is False
    assert api.requests[0]["method"] == "DELETE"
    assert api.requests[0]["params"] == {"propagationPolicy": "Background"}


async def test_merge_patch() -> None:
    api = FakeApi((200, {"kind": "Secret"}), _status(404, "NotFound"))
    patch = {"metadata": {"annotations": {"a": "b"}}}
    assert await _kube(api).patch(SECRET, patch) == {"kind": "Secret"}
    assert await _kube(api).patch(SECRET, patch) is None
    request = api.requests[0]
    assert request["method"] == "PATCH"
    assert request["url"] == "secrets/s"
    assert request["headers"] == {"Content-Type": "application/merge-patch+json"}
    assert json.loads(request["content"]) == patch


async def test_list() -> None:
    api = FakeApi((200, {"items": [{"a": 1}]}))
    assert await _kube(api).list("v1", "Pod", "ns", "a=b") == [{"a": 1}]
    assert api.requests[0]["url"] == "pods"
    assert api.requests[0]["params"] == {"labelSelector": "a=b"}


@pytest.mark.parametrize(("answer", "code", "transient"), [
    (_status(422, "Invalid"), 422, False),
    (_status(400, "BadRequest"), 400, False),
    (_status(403, "Forbidden"), 403, True),
    (_status(429, "TooManyRequests"), 429, True),
    ((0, kr8s.APITimeoutError("timeout")), 0, True),
    ((0, httpx.ConnectError("refused")), 0, True),
])
async def test_failures(answer: tuple[int, Any], code: int, transient: bool) -> None:
    with pytest.raises(KubeError) as caught:
        await _kube(FakeApi(answer)).apply(MANIFEST)
    assert caught.value.code == code
    assert caught.value.transient is transient


async def test_server_errors_are_transient() -> None:
    response = httpx.Response(503, request=httpx.Request("GET", "https://k8s/x"))
    error = kr8s.ServerError("unavailable", status="503", response=response)
    with pytest.raises(KubeError) as caught:
        await _kube(FakeApi((0, error))).get(SECRET)
    assert caught.value.code == 503
    assert caught.value.transient
