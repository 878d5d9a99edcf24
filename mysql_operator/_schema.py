"""OpenAPI documentation and CEL rules attached to the attrs model.

The CRD is generated from the Python model (see ``_crd``), so that the two
cannot drift: each attribute carries its description, extra OpenAPI keywords
and validation rules in its attrs metadata, right next to its Python type.
The same metadata names the JSON key when it differs from the attribute name
(the status uses camelCase, per the API conventions), and the converter here
honours it, so parsing and the schema agree on every key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NewType, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

T = TypeVar("T")

Quantity = NewType("Quantity", str)
"""A Kubernetes resource quantity such as ``1Gi`` or ``500m`` (an int is accepted too)."""

# The regular expression of resource.Quantity, as controller-gen emits it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)


_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    **{suffix: Decimal(10) ** (3 * power) for power, suffix in enumerate("kMGTPE", 1)},
    **{f"{suffix}i": Decimal(2) ** (10 * power) for power, suffix in enumerate("KMGTPE", 1)},
}


def is_quantity(value: str) -> bool:
    """Whether ``value`` parses as a Kubernetes quantity (CEL's ``isQuantity``)."""
    return bool(_QUANTITY_RE.match(value))


def quantity_value(value: str) -> Decimal:
    """The number a quantity stands for (``1Gi`` -> 1073741824), to compare two."""
    if not is_quantity(value):
        raise ValueError(f"not a quantity: {value!r}")
    number = re.match(r"^[+-]?[0-9.]+", value)
    assert number is not None  # the pattern guarantees it
    suffix = value[number.end():]
    if suffix in _SUFFIXES:  # else an exponent: 1e3 (but 1E is an exa)
        return Decimal(number.group()) * _SUFFIXES[suffix]
    return Decimal(value)


@attrs.frozen
class Rule:
    """A CEL validation rule (``x-kubernetes-validations`` entry)."""

    rule: str
    message: str

    def to_openapi(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@attrs.frozen
class FieldDoc:
    """What the CRD says about one attribute."""

    description: str
    key: str | None = None
    keywords: Mapping[str, Any] = attrs.field(factory=dict)
    rules: tuple[Rule, ...] = ()


@attrs.frozen
class ObjectDoc:
    """What the CRD says about an attrs class used as an object schema."""

    description: str
    rules: tuple[Rule, ...] = ()


_FIELD_KEY = "mysql_operator.crd"
_OBJECT_DOCS: dict[type, ObjectDoc] = {}


def doc(
    description: str,
    *,
    key: str | None = None,
    keywords: Mapping[str, Any] | None = None,
    rules: tuple[Rule, ...] = (),
) -> dict[str, FieldDoc]:
    """Metadata for ``attrs.field(metadata=...)``: the field's CRD documentation."""
    return {_FIELD_KEY: FieldDoc(description, key, dict(keywords or {}), rules)}


def documented(description: str, *, rules: tuple[Rule, ...] = ()) -> Callable[[type[T]], type[T]]:
    """Class decorator: the object's description and its object-level CEL rules."""

    def register(cls: type[T]) -> type[T]:
        _OBJECT_DOCS[cls] = ObjectDoc(description, rules)
        return cls

    return register


def field_doc(attribute: attrs.Attribute[Any]) -> FieldDoc:
    """The documentation of an attribute; every attribute of the model must have one."""
    found = attribute.metadata.get(_FIELD_KEY)
    if not isinstance(found, FieldDoc):
        raise TypeError(f"attribute {attribute.name!r} has no CRD documentation")
    return found


def object_doc(cls: type) -> ObjectDoc:
    """The documentation of a model class; every class of the model must have one."""
    try:
        return _OBJECT_DOCS[cls]
    except KeyError:
        raise TypeError(f"class {cls.__name__} has no CRD documentation") from None


def json_key(attribute: attrs.Attribute[Any]) -> str:
    """The key under which the attribute appears in the Kubernetes object."""
    return field_doc(attribute).key or attribute.name


def _renames(cls: type) -> dict[str, Any]:
    return {
        a.name: override(rename=json_key(a))
        for a in attrs.fields(cls)
        if json_key(a) != a.name
    }


def _strict(expected: type[T]) -> Callable[[Any, Any], T]:
    """A structure hook that refuses to coerce (cattrs would turn 5 into "5")."""

    def structure(value: Any, _: Any) -> T:
        # bool is an int in Python; a YAML `true` is never a valid integer here.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise TypeError(f"expected {expected.__name__}, got {type(value).__name__}")
        return value

    return structure


def _structure_quantity(value: Any, _: Any) -> Quantity:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"expected a quantity (string or integer), got {type(value).__name__}")
    text = str(value)
    if not is_quantity(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 1Gi, 500m)")
    return Quantity(text)


def make_converter(*, forbid_extra_keys: bool) -> cattrs.Converter:
    """A converter that uses the documented JSON keys and never coerces types.

    Spec parsing forbids extra keys (a typo must not be silently ignored);
    status parsing tolerates them (the status is ours, and old operators may
    have written fields that newer ones dropped).
    """
    converter = cattrs.Converter(forbid_extra_keys=forbid_extra_keys)
    for scalar in (str, int, bool):
        converter.register_structure_hook(scalar, _strict(scalar))
    converter.register_structure_hook(Quantity, _structure_quantity)
    converter.register_structure_hook_factory(
        attrs.has, lambda cls: make_dict_structure_fn(cls, converter, **_renames(cls))
    )
    converter.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(
            cls, converter, _cattrs_omit_if_default=True, **_renames(cls)
        ),
    )
    return converter
