"""The CRD: generated from the model, committed, documented, validating."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import yaml

from mysql_operator import MySQLSpec, crd, crd_yaml
from mysql_operator._model import MAX_NAME_LENGTH, NAME_PATTERN, MySQLStatus
from mysql_operator._schema import json_key
from mysql_operator._status import StatusUpdate

COMMITTED = Path(__file__).parents[2] / "crds" / "mysqls.otus.homework.yaml"


def _version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def _root() -> dict[str, Any]:
    root: dict[str, Any] = _version()["schema"]["openAPIV3Schema"]
    return root


def _rules(schema: dict[str, Any]) -> dict[str, str]:
    return {r["rule"]: r["message"] for r in schema.get("x-kubernetes-validations", [])}


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for key, child in (schema.get("properties") or {}).items():
        found += _walk(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        found += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _walk(schema["additionalProperties"], f"{path}{{}}")
    return found


def test_the_committed_crd_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == crd_yaml(), (
        "crds/ is stale: run `python -m mysql_operator crd > crds/mysqls.otus.homework.yaml`"
    )


def test_the_yaml_is_the_crd() -> None:
    assert yaml.safe_load(crd_yaml()) == crd()


def test_names_and_scope_follow_the_seed() -> None:
    spec = crd()["spec"]
    assert crd()["metadata"]["name"] == "mysqls.otus.homework"
    assert spec["group"] == "otus.homework"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "MySQL"
    assert (spec["names"]["plural"], spec["names"]["singular"]) == ("mysqls", "mysql")
    assert spec["names"]["shortNames"] == ["ms"]
    assert _version()["name"] == "v1"
    assert _version()["served"]
    assert _version()["storage"]


def test_status_subresource_and_printer_columns() -> None:
    assert _version()["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in _version()["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Image"] == ".spec.image"
    assert columns["Database"] == ".spec.database"
    assert columns["Storage"] == ".spec.storage_size"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_every_field_has_a_description() -> None:
    undocumented = [
        path for path, schema in _walk(_root())
        if path != ".metadata" and "{}" not in path and not schema.get("description")
    ]
    assert undocumented == []


def test_nothing_preserves_unknown_fields() -> None:
    assert "x-kubernetes-preserve-unknown-fields" not in crd_yaml()


def test_spec_properties_are_the_model_fields() -> None:
    spec = _root()["properties"]["spec"]
    fields = attrs.fields(MySQLSpec)
    assert list(spec["properties"]) == [json_key(f) for f in fields]
    assert spec["required"] == ["image", "database", "storage_size"]
    assert _root()["required"] == ["spec"]


def test_password_sources_are_exclusive() -> None:
    rules = _rules(_root()["properties"]["spec"])
    assert rules["has(self.password) != has(self.password_secret)"].startswith("exactly one")
    secret = _root()["properties"]["spec"]["properties"]["password_secret"]
    assert secret["required"] == ["name", "key"]


def test_immutable_fields() -> None:
    spec = _root()["properties"]["spec"]
    assert "x-kubernetes-validations" not in spec["properties"]["password"]  # it rotates
    for field in ("database", "storage_class", "host_path"):
        assert "immutable" in _rules(spec["properties"][field])["self == oldSelf"]
        if field in ("storage_class", "host_path"):  # nor added, nor removed
            rule = f"has(self.{field}) == has(oldSelf.{field})"
            assert "immutable" in _rules(spec)[rule]


def test_storage_size_is_a_quantity_that_may_only_grow() -> None:
    rules = _rules(_root()["properties"]["spec"]["properties"]["storage_size"])
    assert "isQuantity(self)" in rules
    grow = next(r for r in rules if "compareTo" in r)
    assert "quantity(self).compareTo(quantity(oldSelf)) >= 0" in grow
    assert "not shrink" in rules[grow]


def test_database_pattern_allows_the_seeds_hyphen() -> None:
    pattern = _root()["properties"]["spec"]["properties"]["database"]["pattern"]
    assert re.match(pattern, "otus-database")
    assert not re.match(pattern, "otus database")


def test_the_name_limit_is_enforced_at_admission() -> None:
    rules = _rules(_root())
    size_rule = f"self.metadata.name.size() <= {MAX_NAME_LENGTH}"
    assert MAX_NAME_LENGTH == 51
    assert "51" in rules[size_rule]
    assert "restore-<name>-job" in rules[size_rule]
    assert f"self.metadata.name.matches('{NAME_PATTERN}')" in rules


def test_resources_are_quantity_maps() -> None:
    resources = _root()["properties"]["spec"]["properties"]["resources"]["properties"]
    for key in ("requests", "limits"):
        value = resources[key]["additionalProperties"]
        assert value["x-kubernetes-int-or-string"] is True
        assert re.match(value["pattern"], "500m")
        assert not re.match(value["pattern"], "lots")


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    conditions = _root()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) >= {"type", "status", "reason", "message", "lastTransitionTime"}
    assert set(item["properties"]) == {"type", "status", "reason", "message",
                                       "lastTransitionTime", "observedGeneration"}


def test_status_declares_everything_the_operator_writes() -> None:
    """A structural schema silently drops undeclared status fields."""
    from mysql_operator import LastBackup, RestoreRecord

    update = StatusUpdate({}, generation=2)
    update.phase("Ready", "m")
    update.condition("Ready", True, "Ready", "m")
    update.last_backup(LastBackup(time="2026-01-01T00:00:00Z", job="j", file="f", size=1))
    update.restore(RestoreRecord(source="f", time="2026-01-01T00:00:00Z",
                                 backup_time="2026-01-01T00:00:00Z"))
    written = update.patch()
    declared = _root()["properties"]["status"]

    def undeclared(value: Any, schema: dict[str, Any], path: str) -> list[str]:
        if isinstance(value, dict):
            props = schema.get("properties", {})
            return [p for k, v in value.items()
                    for p in ([f"{path}.{k}"] if k not in props
                              else undeclared(v, props[k], f"{path}.{k}"))]
        if isinstance(value, list):
            return [p for v in value for p in undeclared(v, schema["items"], f"{path}[]")]
        return []

    assert set(written) == {json_key(f) for f in attrs.fields(MySQLStatus)}
    assert undeclared(written, declared, "status") == []
