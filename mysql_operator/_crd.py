"""The CustomResourceDefinition, generated from the attrs model.

Generating it (rather than keeping a hand-written YAML) is what keeps the API
server's validation and the operator's parsing in agreement; a unit test
regenerates it and compares it with ``crds/mysqls.otus.homework.yaml``.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Union

import attrs

from . import _model
from ._schema import QUANTITY_PATTERN, FieldDoc, Quantity, Rule, field_doc, json_key, object_doc
from ._yaml import dump_yaml

_QUANTITY_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "pattern": QUANTITY_PATTERN,
    "x-kubernetes-int-or-string": True,
}

_NAME_RULES = (
    Rule(
        f"self.metadata.name.size() <= {_model.MAX_NAME_LENGTH}",
        f"metadata.name must be at most {_model.MAX_NAME_LENGTH} characters: the operator "
        f"names a Job restore-<name>-job, and Job names must fit in 63 characters",
    ),
    Rule(
        f"self.metadata.name.matches('{_model.NAME_PATTERN}')",
        "metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', "
        "starting with a letter): it also names the Service",
    ),
)


def _type_schema(tp: Any) -> dict[str, Any]:
    """The OpenAPI schema of a Python type used in the model."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return _type_schema(inner[0])
    if tp is Quantity:
        return copy.deepcopy(_QUANTITY_SCHEMA)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer", "format": "int64"}
    if origin is dict and args[0] is str:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": _type_schema(args[0])}
    if isinstance(tp, type) and attrs.has(tp):
        return object_schema(tp)
    raise TypeError(f"no OpenAPI schema for {tp!r}")


def _documented(schema: dict[str, Any], fdoc: FieldDoc) -> dict[str, Any]:
    """Attach a field's documentation; it overrides the description of its type."""
    schema = {k: v for k, v in schema.items() if k != "description"}
    schema = {"description": fdoc.description, **schema, **fdoc.keywords}
    if fdoc.rules:
        schema["x-kubernetes-validations"] = [r.to_openapi() for r in fdoc.rules]
    return schema


def object_schema(cls: type) -> dict[str, Any]:
    """The object schema of an attrs class: documented properties, required keys, rules."""
    odoc = object_doc(cls)
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for attribute in attrs.fields(cls):
        key = json_key(attribute)
        properties[key] = _documented(_type_schema(hints[attribute.name]), field_doc(attribute))
        if attribute.default is attrs.NOTHING:
            required.append(key)
    schema: dict[str, Any] = {
        "type": "object",
        "description": odoc.description,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    if odoc.rules:
        schema["x-kubernetes-validations"] = [r.to_openapi() for r in odoc.rules]
    return schema


def crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition of ``mysqls.otus.homework``."""
    root = {
        "type": "object",
        "description": "A MySQL server run by mysql-operator, backed up when deleted and "
        "restored from the newest backup when created again.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "Versioned schema of this object: otus.homework/v1.",
            },
            "kind": {"type": "string", "description": "Kind of this object: MySQL."},
            # The API server allows nothing but a bare object (and name rules) here.
            "metadata": {"type": "object"},
            "spec": object_schema(_model.MySQLSpec),
            "status": object_schema(_model.MySQLStatus),
        },
        "x-kubernetes-validations": [r.to_openapi() for r in _NAME_RULES],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{_model.PLURAL}.{_model.GROUP}"},
        "spec": {
            "group": _model.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": _model.KIND,
                "listKind": f"{_model.KIND}List",
                "plural": _model.PLURAL,
                "singular": _model.SINGULAR,
                "shortNames": list(_model.SHORT_NAMES),
            },
            "versions": [
                {
                    "name": _model.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                        {"name": "Database", "type": "string", "jsonPath": ".spec.database"},
                        {"name": "Storage", "type": "string", "jsonPath": ".spec.storage_size"},
                        {
                            "name": "Message",
                            "type": "string",
                            "jsonPath": ".status.message",
                            "priority": 1,
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as the YAML committed in ``crds/``."""
    header = (
        "# Generated by `python -m mysql_operator crd` from mysql_operator/_model.py: "
        "do not edit.\n"
    )
    return header + dump_yaml([crd()])
