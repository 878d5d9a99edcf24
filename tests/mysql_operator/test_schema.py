"""The documentation metadata and the converter that honours it."""

from __future__ import annotations

from decimal import Decimal

import attrs
import cattrs
import pytest

from mysql_operator._crd import object_schema
from mysql_operator._schema import (
    Quantity,
    Rule,
    doc,
    documented,
    field_doc,
    is_quantity,
    json_key,
    make_converter,
    quantity_value,
)


@pytest.mark.parametrize("text", ["1Gi", "500m", "1", "1.5", "1e3", "+2Ki", "0.5G"])
def test_quantities(text: str) -> None:
    assert is_quantity(text)


@pytest.mark.parametrize("text", ["", "1Gb", "Gi", "1 Gi", "one", "1.2.3"])
def test_not_quantities(text: str) -> None:
    assert not is_quantity(text)


@pytest.mark.parametrize(("text", "value"), [
    ("1Gi", 2**30), ("1024Mi", 2**30), ("2Gi", 2**31), ("500Mi", 500 * 2**20),
    ("1073741824", 2**30), ("1.5G", 1_500_000_000), ("1e3", 1000), ("1E", 10**18),
    ("1Ei", 2**60), ("500m", Decimal("0.5")), (".5Ki", 512), ("+2Ki", 2048),
])
def test_quantity_values(text: str, value: Decimal | int) -> None:
    assert quantity_value(text) == value


def test_a_non_quantity_has_no_value() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        quantity_value("1Gb")


@documented("An example.", rules=(Rule("true", "always"),))
@attrs.frozen
class Example:
    some_field: int = attrs.field(metadata=doc("A number.", key="someField"))
    size: Quantity | None = attrs.field(default=None, metadata=doc("A size."))


@attrs.frozen
class Undocumented:
    x: int = 0


def test_renamed_keys_both_ways() -> None:
    converter = make_converter(forbid_extra_keys=True)
    example = converter.structure({"someField": 3, "size": 2}, Example)
    assert example == Example(some_field=3, size=Quantity("2"))
    assert converter.unstructure(example) == {"someField": 3, "size": "2"}
    assert converter.unstructure(Example(1)) == {"someField": 1}  # defaults left out
    assert json_key(attrs.fields(Example).some_field) == "someField"


def _errors(data: dict[str, object], *, forbid_extra_keys: bool) -> list[str]:
    with pytest.raises(cattrs.ClassValidationError) as caught:
        make_converter(forbid_extra_keys=forbid_extra_keys).structure(data, Example)
    return cattrs.transform_error(caught.value)


@pytest.mark.parametrize("value", ["3", True, 3.0])
def test_no_coercion(value: object) -> None:
    (error,) = _errors({"someField": value}, forbid_extra_keys=False)
    assert "expected int" in error
    assert error.endswith("@ $.some_field")


def test_extra_keys() -> None:
    assert _errors({"someField": 1, "x": 1}, forbid_extra_keys=True) == [
        "extra fields found (x) @ $"]
    assert make_converter(forbid_extra_keys=False).structure(
        {"someField": 1, "x": 1}, Example) == Example(1)


def test_the_schema_uses_the_documentation() -> None:
    schema = object_schema(Example)
    assert schema["description"] == "An example."
    assert schema["required"] == ["someField"]
    assert schema["x-kubernetes-validations"] == [{"rule": "true", "message": "always"}]
    assert schema["properties"]["someField"] == {
        "description": "A number.", "type": "integer", "format": "int64"}
    assert schema["properties"]["size"]["x-kubernetes-int-or-string"] is True


def test_undocumented_models_cannot_become_schemas() -> None:
    with pytest.raises(TypeError, match="no CRD documentation"):
        object_schema(Undocumented)
    with pytest.raises(TypeError, match="no CRD documentation"):
        field_doc(attrs.fields(Undocumented).x)
