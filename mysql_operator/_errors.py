"""Outcomes that are not bugs: the kopf layer turns them into retries or failures."""

from __future__ import annotations


class NotReady(Exception):
    """Something the instance depends on is not there yet: try again after ``delay`` s."""

    def __init__(self, message: str, *, delay: float = 10) -> None:
        super().__init__(message)
        self.delay = delay


class RestoreFailed(Exception):
    """The restore Job gave up (its pods failed ``backoffLimit`` + 1 times)."""
