"""`node remove --edit-config`: one host's lines out of cluster.yml, every other line (comments
included) as it was; anything not plain is refused, and the file is only replaced by a valid one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeward.config import parse_config
from kubeward.config.edit import EditError, remove_host_entry, write_without_host

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "cluster.yml").read_text()


@pytest.mark.parametrize("name", ["cp-1", "worker-1", "worker-2"])
def test_only_the_hosts_lines_go(name: str) -> None:
    new, removed = remove_host_entry(EXAMPLE, name)
    assert removed.startswith(f"  - name: {name}\n")
    assert EXAMPLE.replace(removed, "", 1) == new
    if name != "cp-1":
        config = parse_config(new).config
        assert [h.name for h in config.hosts] == [h for h in ("cp-1", "worker-1", "worker-2") if h != name]
    assert "# The administrator account kubeward creates" in new


def test_a_comment_above_the_next_entry_stays() -> None:
    text = EXAMPLE.replace("  - name: worker-2\n", "  # the spare one\n\n  - name: worker-2\n")
    new, removed = remove_host_entry(text, "worker-1")
    assert "# the spare one" in new and "the spare one" not in removed


def test_flow_style_anchors_and_unknown_hosts_are_left_to_a_person() -> None:
    flow = EXAMPLE.replace("  - name: worker-2\n    address: 203.0.113.12\n    private_address: 10.0.0.12\n"
                           "    role: worker\n",
                           "  - {name: worker-2, address: 203.0.113.12, private_address: 10.0.0.12, role: worker}\n")
    with pytest.raises(EditError, match="flow style"):
        remove_host_entry(flow, "worker-2")
    anchored = EXAMPLE.replace("  - name: worker-1\n", "  - &w1\n    name: worker-1\n")
    with pytest.raises(EditError, match="anchor"):
        remove_host_entry(anchored, "worker-1")
    with pytest.raises(EditError, match="no host named nobody"):
        remove_host_entry(EXAMPLE, "nobody")


def test_the_file_is_replaced_only_by_a_valid_cluster_yml(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text(EXAMPLE)
    os.chmod(path, 0o640)
    removed = write_without_host(path, "worker-2")
    assert "worker-2" in removed and "worker-2" not in path.read_text()
    assert (path.stat().st_mode & 0o777) == 0o640 and list(tmp_path.iterdir()) == [path]
    # without its only control plane the file would not be valid: left as it was
    before = path.read_text()
    with pytest.raises(EditError, match="would not be valid"):
        write_without_host(path, "cp-1")
    assert path.read_text() == before
