"""Fixtures of the operator's tests: cluster-free fakes, and cleanup for cluster tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from mysqlfakes import EventLog, FakeKube


@pytest.fixture
def fake_kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> EventLog:
    """kopf.info / kopf.warn recorded (the real ones need a running operator)."""
    log = EventLog()
    monkeypatch.setattr(kopf, "info", log.recorder("Normal"))
    monkeypatch.setattr(kopf, "warn", log.recorder("Warning"))
    return log


@pytest.fixture
def gone(kube: Any, operator: Any) -> Iterator[None]:
    """Delete the test's MySQL objects while the session's operator still runs.

    The namespace fixture only deletes the namespace: objects still held by
    the operator's finalizer when the session (and its operator) ends would
    keep their namespaces Terminating for good.
    """
    yield
    kube("annotate", "mysqls", "--all", "otus.homework/skip-backup=true", "--overwrite",
         check=False)
    kube("delete", "mysqls", "--all", "--timeout=120s", check=False)
