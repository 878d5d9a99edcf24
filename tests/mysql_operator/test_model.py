"""Parsing the MySQL object into the typed model, and its errors."""

from __future__ import annotations

import pytest
from mysqlfakes import SEED_PASSWORD, seed_body, seed_cr

from mysql_operator import MySQL, Names, SecretKeyRef, SpecError, parse_spec
from mysql_operator._model import (
    MAX_NAME_LENGTH,
    SKIP_BACKUP_ANNOTATION,
    parse_status,
    unstructure_status,
)


def test_the_seed_object_parses() -> None:
    cr = seed_cr()
    assert (cr.name, cr.namespace, cr.generation) == ("mysql-instance", "default", 1)
    assert cr.spec.image == "mysql:5.7"
    assert cr.spec.database == "otus-database"
    assert cr.spec.password == SEED_PASSWORD
    assert cr.spec.storage_size == "1Gi"
    assert cr.spec.backup_size == "1Gi"
    assert cr.spec.password_secret is None
    assert cr.spec.host_path is None


def test_the_password_is_not_in_the_repr() -> None:
    assert SEED_PASSWORD not in repr(seed_cr())


def test_the_seeds_useless_field_in_the_spec_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"usless_data.*@ spec"):
        seed_cr(usless_data="useless info")


def test_the_seeds_useless_field_at_the_top_is_rejected() -> None:
    body = {**seed_body(), "usless_data": "useless info"}
    with pytest.raises(SpecError, match="usless_data"):
        MySQL.from_body(body)


@pytest.mark.parametrize("missing", ["image", "database", "storage_size"])
def test_required_fields(missing: str) -> None:
    body = seed_body()
    del body["spec"][missing]
    with pytest.raises(SpecError, match=rf"required field missing @ spec.{missing}"):
        MySQL.from_body(body)


def test_no_spec_at_all() -> None:
    body = seed_body()
    del body["spec"]
    with pytest.raises(SpecError, match="no spec"):
        MySQL.from_body(body)


def test_wrong_kind() -> None:
    with pytest.raises(SpecError, match=r"expected otus\.homework/v1 MySQL"):
        MySQL.from_body({**seed_body(), "kind": "PostgreSQL"})


def test_exactly_one_password_source() -> None:
    with pytest.raises(SpecError, match="exactly one of password and password_secret"):
        seed_cr(password_secret={"name": "s", "key": "k"})
    body = seed_body()
    del body["spec"]["password"]
    with pytest.raises(SpecError, match="exactly one of password and password_secret"):
        MySQL.from_body(body)


def test_password_from_a_secret() -> None:
    body = seed_body(password_secret={"name": "db", "key": "root"})
    del body["spec"]["password"]
    assert MySQL.from_body(body).spec.password_secret == SecretKeyRef("db", "root")


@pytest.mark.parametrize("database", ["otus-database", "a", "$weird_but-legal", "x" * 64])
def test_valid_database_names(database: str) -> None:
    assert seed_cr(database=database).spec.database == database


@pytest.mark.parametrize("database", ["", "has space", "back`tick", "semi;colon", "x" * 65])
def test_invalid_database_names(database: str) -> None:
    with pytest.raises(SpecError, match="database"):
        seed_cr(database=database)


@pytest.mark.parametrize("size", ["1Gb", "one", "", "1 Gi"])
def test_storage_size_must_be_a_quantity(size: str) -> None:
    with pytest.raises(SpecError, match="not a Kubernetes quantity"):
        seed_cr(storage_size=size)


def test_types_are_not_coerced() -> None:
    with pytest.raises(SpecError, match=r"expected str, got int @ spec.image"):
        seed_cr(image=5)


def test_empty_image_is_rejected() -> None:
    with pytest.raises(SpecError, match="image"):
        seed_cr(image="")


def test_relative_host_path_is_rejected() -> None:
    with pytest.raises(SpecError, match="host_path"):
        seed_cr(host_path="data/mysql")


def test_resources_accept_integers_and_quantities() -> None:
    spec = seed_cr(resources={"requests": {"cpu": 1, "memory": "512Mi"}, "limits": {}}).spec
    assert spec.resources is not None
    assert spec.resources.to_container() == {"requests": {"cpu": "1", "memory": "512Mi"}}


def test_resources_reject_bad_quantities_with_their_path() -> None:
    with pytest.raises(SpecError, match=r"'lots' is not .* @ spec.resources.limits\['memory'\]"):
        seed_cr(resources={"limits": {"memory": "lots"}})


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"image": "i", "database": "d", "storage_size": "1Gi", "password": "p",
                    "extra": 1, "resources": {"requests": {"cpu": "x"}}})
    assert "extra" in str(caught.value)
    assert "spec.resources.requests" in str(caught.value)


def test_the_longest_name_fits_in_a_job_name() -> None:
    name = "a" * MAX_NAME_LENGTH
    cr = MySQL.from_body({**seed_body(), "metadata": {"name": name}})
    assert len(cr.names.restore_job) == 63
    assert len(cr.names.backup_job) <= 63


@pytest.mark.parametrize(
    "name", ["a" * (MAX_NAME_LENGTH + 1), "1mysql", "MySQL", "my_sql", "mysql-", ""]
)
def test_names_the_objects_cannot_carry(name: str) -> None:
    with pytest.raises(SpecError, match=r"metadata\.name"):
        MySQL.from_body({**seed_body(), "metadata": {"name": name}})


def test_derived_names_follow_the_seed() -> None:
    names = Names("mysql-instance")
    assert (names.deployment, names.service) == ("mysql-instance", "mysql-instance")
    assert (names.data_claim, names.data_volume) == ("mysql-instance-pvc", "mysql-instance-pv")
    assert (names.backup_claim, names.backup_volume) == (
        "backup-mysql-instance-pvc", "backup-mysql-instance-pv")
    assert (names.backup_job, names.restore_job) == (
        "backup-mysql-instance-job", "restore-mysql-instance-job")
    assert names.secret == "mysql-instance-credentials"


@pytest.mark.parametrize(("value", "skip"), [("true", True), ("True", True), ("false", False),
                                             ("", False), (None, False)])
def test_skip_backup_annotation(value: str | None, skip: bool) -> None:
    body = seed_body()
    if value is not None:
        body["metadata"]["annotations"] = {SKIP_BACKUP_ANNOTATION: value}
    assert MySQL.from_body(body).skip_backup is skip


def test_owner_reference_makes_the_object_a_controller() -> None:
    ref = seed_cr().owner_reference()
    assert ref == {
        "apiVersion": "otus.homework/v1", "kind": "MySQL", "name": "mysql-instance",
        "uid": "11111111-2222-3333-4444-555555555555", "controller": True,
        "blockOwnerDeletion": True,
    }


def test_status_round_trips_with_camel_case_keys() -> None:
    raw = {
        "phase": "Ready",
        "observedGeneration": 3,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 3}],
        "lastBackup": {"time": "2026-01-01T00:00:00Z", "job": "j", "file": "f", "size": 3},
        "restore": {"source": "none", "time": "2026-01-01T00:00:00Z"},
    }
    status = parse_status(raw)
    assert status.observed_generation == 3
    assert status.last_backup is not None
    assert status.last_backup.size == 3
    assert unstructure_status(status) == raw


def test_status_parsing_tolerates_foreign_and_broken_content() -> None:
    assert parse_status({"phase": "Ready", "kopf": {"progress": {}}}).phase == "Ready"
    assert parse_status({"conditions": "garbage"}).conditions == ()
    assert parse_status(None).phase is None
