"""`kubeward validate` and `kubeward schema` through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubeward.cli.main import cli

DATA = Path(__file__).parent / "data"
GOOD = (DATA / "good.yml").read_text()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    return path


def test_validate_text_ok(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert f"valid: {path}" in result.stdout
    for expected in ("test", "cp-1", "worker-1, worker-2", "warnings"):
        assert expected in result.stdout
    assert result.stderr == ""


def test_validate_default_path_is_cwd_cluster_yml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KUBEWARD_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output
    assert "valid: cluster.yml" in result.stdout


def test_validate_warnings_still_exit_0(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("admin_cidrs: [198.51.100.0/24]", "admin_cidrs: [0.0.0.0/0]"))
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == 0
    assert f"{path}:24:17: warning: network.admin_cidrs[0] 0.0.0.0/0 lets anyone" in result.stderr


def test_validate_text_invalid(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("uid: 1500", "uid: 1").replace("cp-1", "CP"))
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:6:11: hosts[0].name expected a name")
    assert lines[1] == f"{path}:20:8: admin.uid expected an integer from 1000 to 60000, got 1"
    assert lines[-1] == f"{path}: invalid, 2 errors"
    assert result.stdout == ""


def test_validate_json_ok(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    result = CliRunner().invoke(cli, ["validate", "-c", str(path), "--output", "json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["errors"] == [] and doc["warnings"] == []
    assert doc["file"] == str(path)
    assert doc["summary"] == {
        "cluster": "test",
        "hosts": 3,
        "control_planes": ["cp-1"],
        "workers": ["worker-1", "worker-2"],
        "state_dir": str(tmp_path / ".kubeward"),
        "warnings": 0,
    }


def test_validate_json_invalid(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("private_address: 10.0.0.12", "private_address: 10.1.0.9"))
    result = CliRunner().invoke(cli, ["validate", "-c", str(path), "-o", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False and doc["summary"] is None
    assert doc["errors"] == [
        {
            "file": str(path),
            "line": 16,
            "column": 22,
            "path": "hosts[2].private_address",
            "message": "10.1.0.9 is not inside network.private_subnet 10.0.0.0/24",
            "severity": "error",
        }
    ]


def test_validate_missing_file_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "-c", str(tmp_path / "nope.yml"), "-o", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["errors"][0]["line"] == 1 and "does not exist" in doc["errors"][0]["message"]


def test_schema_stdout() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "kubeward cluster.yml"
    assert set(schema["required"]) == {"hosts", "admin", "network"}


def test_schema_to_file(tmp_path: Path) -> None:
    out = tmp_path / "cluster.schema.json"
    result = CliRunner().invoke(cli, ["schema", "--output", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["$schema"].startswith("https://json-schema.org/")
    assert result.stdout == ""


def test_help_has_examples() -> None:
    for command in ("validate", "schema"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:\n" in result.stdout
