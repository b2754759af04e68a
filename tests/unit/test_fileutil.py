"""write_private: 0600 from the first byte, atomic, nothing left behind on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubeward.fileutil import write_private


def test_a_new_and_a_replaced_file_are_0600_with_the_new_content(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private(path, "one")
    assert path.read_text() == "one" and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    write_private(path, b"two")
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["secret"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private(path, "old")
    with pytest.raises(TypeError):
        write_private(path, None)  # type: ignore[arg-type]
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["secret"]
