"""YAML output for people: block style, keys in manifest order, no anchors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


class _NoAliasDumper(yaml.SafeDumper):
    """Spell out repeated subtrees instead of YAML anchors: people read this output."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(documents: Iterable[Any]) -> str:
    """Documents as multi-document YAML, in the order their keys were written."""
    return yaml.dump_all(
        list(documents), Dumper=_NoAliasDumper, sort_keys=False, width=100
    )
