"""The status patch: phase, conditions and their transition times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mysql_operator import LastBackup, RestoreRecord
from mysql_operator._status import READY, StatusUpdate

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 2, 2, 12, 30, tzinfo=UTC)


def test_phase_carries_the_observed_generation() -> None:
    update = StatusUpdate({}, generation=4, now=NOW)
    update.phase("Pending", "waiting")
    assert update.patch() == {"phase": "Pending", "message": "waiting", "observedGeneration": 4}


def test_unknown_phases_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        StatusUpdate({}, generation=1).phase("Happy", "")


def test_nothing_changed_means_an_empty_patch() -> None:
    assert StatusUpdate({"phase": "Ready"}, generation=1).patch() == {}


def test_a_new_condition() -> None:
    update = StatusUpdate({}, generation=2, now=NOW)
    update.condition(READY, False, "Starting", "not yet")
    assert update.patch()["conditions"] == [{
        "type": "Ready", "status": "False", "reason": "Starting", "message": "not yet",
        "lastTransitionTime": "2026-02-02T12:30:00Z", "observedGeneration": 2,
    }]


def _current(status: str) -> dict[str, object]:
    return {"conditions": [{"type": "Ready", "status": status, "reason": "Before",
                            "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


def test_the_transition_time_stays_while_the_status_does() -> None:
    update = StatusUpdate(_current("True"), generation=3, now=NOW)
    update.condition(READY, True, "Ready", "still ready")
    (condition,) = update.patch()["conditions"]
    assert condition["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert condition["reason"] == "Ready"
    assert condition["message"] == "still ready"
    assert condition["observedGeneration"] == 3


def test_the_transition_time_moves_when_the_status_flips() -> None:
    update = StatusUpdate(_current("True"), generation=3, now=NOW)
    update.condition(READY, False, "BackupFailed", "no")
    (condition,) = update.patch()["conditions"]
    assert condition["lastTransitionTime"] == "2026-02-02T12:30:00Z"


def test_unknown_status() -> None:
    update = StatusUpdate({}, generation=1, now=NOW)
    update.condition(READY, None, "Checking", "")
    assert update.patch()["conditions"][0]["status"] == "Unknown"


def test_other_conditions_are_kept() -> None:
    current = _current("True")
    update = StatusUpdate(current, generation=1, now=NOW)
    update.condition("Restored", False, "NoBackupFound", "none")
    assert [c["type"] for c in update.patch()["conditions"]] == ["Ready", "Restored"]


def test_records() -> None:
    update = StatusUpdate({}, generation=1, now=EARLIER)
    update.last_backup(LastBackup(time="2026-01-01T00:00:00Z", job="j", file="f", size=5))
    update.restore(RestoreRecord(source="none", time="2026-01-01T00:00:00Z"))
    assert update.patch() == {
        "lastBackup": {"time": "2026-01-01T00:00:00Z", "job": "j", "file": "f", "size": 5},
        "restore": {"source": "none", "time": "2026-01-01T00:00:00Z"},
    }


def test_the_current_status_is_readable() -> None:
    update = StatusUpdate({"restore": {"source": "none", "time": "2026-01-01T00:00:00Z"}}, 1)
    assert update.current.restore == RestoreRecord(source="none", time="2026-01-01T00:00:00Z")
