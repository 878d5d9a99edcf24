"""Building the ``.status`` patch: phase, message, conditions, backup and restore records.

Conditions follow the API conventions: ``lastTransitionTime`` moves only when
a condition's status flips, so writing "Ready=True" again and again keeps the
time it first became ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from ._model import (
    PHASES,
    Condition,
    LastBackup,
    MySQLStatus,
    RestoreRecord,
    parse_status,
    unstructure_status,
)

READY = "Ready"
RESTORED = "Restored"
BACKUP_SUCCEEDED = "BackupSucceeded"
PASSWORD_ROTATED = "PasswordRotated"
STORAGE_RESIZED = "StorageResized"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusUpdate:
    """Accumulates changes to a MySQL object's status; ``patch()`` gives the merge patch."""

    def __init__(
        self, current: Mapping[str, Any] | None, generation: int, now: datetime | None = None
    ) -> None:
        self.current: MySQLStatus = parse_status(current)
        self._generation = generation
        self.now = timestamp(now or datetime.now(UTC))
        self._conditions = {c.type: c for c in self.current.conditions}
        self._changes: dict[str, Any] = {}

    def phase(self, phase: str, message: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        self._changes.update(phase=phase, message=message, observed_generation=self._generation)

    def condition(self, type_: str, status: bool | None, reason: str, message: str) -> None:
        """Set a condition; ``None`` means Unknown."""
        text = "Unknown" if status is None else str(status)
        previous = self._conditions.get(type_)
        unchanged = previous is not None and previous.status == text
        self._conditions[type_] = Condition(
            type=type_,
            status=text,
            reason=reason,
            message=message,
            last_transition_time=previous.last_transition_time if previous and unchanged
            else self.now,
            observed_generation=self._generation,
        )
        self._changes["conditions"] = tuple(self._conditions.values())

    def has_condition(self, type_: str, status: bool | None, message: str | None = None) -> bool:
        """Whether the condition is currently set so (to post an Event only on a change)."""
        found = self._conditions.get(type_)
        text = "Unknown" if status is None else str(status)
        return found is not None and found.status == text and (
            message is None or found.message == message)

    def last_backup(self, backup: LastBackup) -> None:
        self._changes["last_backup"] = backup

    def restore(self, record: RestoreRecord) -> None:
        self._changes["restore"] = record

    def patch(self) -> dict[str, Any]:
        """The changed top-level status fields, keyed as the API expects them."""
        changed = attrs.evolve(MySQLStatus(), **self._changes)
        return unstructure_status(changed)
