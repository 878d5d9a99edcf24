"""Cluster-free fixtures for the operator's unit tests."""

from __future__ import annotations

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
