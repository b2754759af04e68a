"""Every host script kubeward renders for a fixed cluster.yml, against its golden file.

A change to any script shows up here as a diff to review (KUBEWARD_UPDATE_GOLDEN=1 accepts it).
Scripts that carry freshly issued certificates (the pki phase's apply, the audit's expected hashes)
are compared with those values masked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.unit.golden import assert_golden
from tests.unit.host_scripts import every_script
from tests.unit.test_etcd_config import CLUSTER

from kubeward.config import parse_config

_B64_BLOB = re.compile(r"[A-Za-z0-9+/=]{200,}")
_SHA = re.compile(r"\b[0-9a-f]{64}\b")


def _mask(text: str) -> str:
    """Issued material differs per run: long base64 blobs and sha256 sums."""
    return _SHA.sub("<sha256>", _B64_BLOB.sub("<base64>", text))


def _scripts(tmp: Path) -> dict[str, str]:
    config = parse_config(CLUSTER + f"state_dir: {tmp / 'state'}\n", base_dir=tmp).config
    # one control plane and one worker stand for their roles
    keep = {config.control_planes[0].name, next(h.name for h in config.hosts if not h.is_control_plane)}
    hosts = {h.name for h in config.hosts}
    return {name: _mask(text).replace(str(tmp), "<tmp>") for name, text in every_script(config, tmp).items()
            if name.split()[0] in keep or name.split()[0] not in hosts}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _scripts(tmp_path_factory.mktemp("golden"))


def _file(name: str) -> str:
    return "scripts/" + re.sub(r"[^a-z0-9.-]+", "-", name.lower()) + ".sh"


def test_every_script_has_a_golden_file(scripts: dict[str, str]) -> None:
    for name, text in scripts.items():
        assert_golden(_file(name), text)


def test_no_golden_file_is_left_without_its_script(scripts: dict[str, str]) -> None:
    golden = Path(__file__).parent / "golden" / "scripts"
    wanted = {Path(_file(n)).name for n in scripts}
    assert {p.name for p in golden.glob("*.sh")} == wanted


def test_rendering_is_deterministic(tmp_path: Path, scripts: dict[str, str]) -> None:
    """A fresh state directory (new keys, new certificates) renders the same scripts once masked."""
    assert _scripts(tmp_path) == scripts
