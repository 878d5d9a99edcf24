"""The command line: crd, render and run."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from mysql_operator import crd_yaml
from mysql_operator.__main__ import main, render
from mysql_operator._handlers import registry

SEED_CR = """\
apiVersion: otus.homework/v1
kind: MySQL
metadata:
  name: mysql-instance
spec:
  image: mysql:5.7
  database: otus-database
  password: otuspassword # Так делать не нужно, следует использовать secret
  storage_size: 1Gi
"""


def test_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == crd_yaml()


def test_render_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cr.yml"
    path.write_text(SEED_CR)
    assert main(["render", "mysql-instance", "-f", str(path)]) == 0
    output = capsys.readouterr().out
    documents = list(yaml.safe_load_all(output))
    kinds = [d["kind"] for d in documents]
    assert kinds == ["Secret", "PersistentVolumeClaim", "PersistentVolumeClaim", "Deployment",
                     "Service", "Job", "Job"]
    assert documents[0]["data"] == {"password": "<redacted>"}
    assert "otuspassword" not in output
    assert "b3R1c3Bhc3N3b3Jk" not in output  # base64 of it
    assert "&id" not in output


def test_render_picks_the_named_object_and_namespace() -> None:
    other = SEED_CR.replace("mysql-instance", "other")
    documents = list(yaml.safe_load_all(
        render("other", io.StringIO(SEED_CR + "---\n" + other), namespace="prod")))
    assert {d["metadata"]["namespace"] for d in documents} == {"prod"}
    assert documents[3]["metadata"]["name"] == "other"


def test_render_names_an_unnamed_object() -> None:
    unnamed = SEED_CR.replace("  name: mysql-instance\n", "  labels: {}\n")
    documents = list(yaml.safe_load_all(render("db", io.StringIO(unnamed))))
    assert documents[3]["metadata"]["name"] == "db"


def test_render_with_host_path_shows_the_volumes() -> None:
    with_path = SEED_CR + "  host_path: /data\n"
    kinds = [d["kind"] for d in yaml.safe_load_all(render("mysql-instance",
                                                          io.StringIO(with_path)))]
    assert kinds.count("PersistentVolume") == 2


def test_render_reports_spec_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cr.yml"
    path.write_text(SEED_CR + '  usless_data: "useless info"\n')
    assert main(["render", "mysql-instance", "-f", str(path)]) == 2
    assert "usless_data" in capsys.readouterr().err


def test_render_reports_a_missing_object(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    path = tmp_path / "cr.yml"
    path.write_text(SEED_CR)
    assert main(["render", "nope", "-f", str(path)]) == 2
    assert "no MySQL object named 'nope'" in capsys.readouterr().err


def test_render_reports_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "x", "-f", "/nonexistent/cr.yml"]) == 2
    assert "No such file" in capsys.readouterr().err


@pytest.fixture
def kopf_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    captured: dict[str, Any] = {}
    monkeypatch.setattr(kopf, "run", lambda **kwargs: captured.update(kwargs))
    monkeypatch.setattr(kopf, "configure", lambda **kwargs: captured.update(configured=kwargs))
    return captured


def test_run_defaults_to_all_namespaces(kopf_run: dict[str, Any]) -> None:
    assert main(["run"]) == 0
    assert kopf_run["registry"] is registry
    assert kopf_run["clusterwide"] is True
    assert kopf_run["namespaces"] == []
    assert kopf_run["standalone"] is False
    assert kopf_run["liveness_endpoint"] is None


def test_run_options(kopf_run: dict[str, Any]) -> None:
    assert main(["run", "-n", "a", "--namespace", "b", "--standalone",
                 "--liveness", "http://0.0.0.0:8080/healthz", "-v"]) == 0
    assert kopf_run["clusterwide"] is False
    assert kopf_run["namespaces"] == ["a", "b"]
    assert kopf_run["standalone"] is True
    assert kopf_run["liveness_endpoint"] == "http://0.0.0.0:8080/healthz"
    assert kopf_run["configured"] == {"verbose": True}


def test_namespaces_and_all_namespaces_exclude_each_other(kopf_run: dict[str, Any]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "-A", "-n", "a"])
