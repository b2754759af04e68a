"""`kubeward artifacts build` on this machine (root): with the build cached (`make kube-bin`), a
second run builds nothing and says so, and the cache entry verifies against its manifest."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kubeward.artifacts.build import BINARIES, find_entry
from kubeward.artifacts.manifest import read_verify_dir


def test_second_build_does_nothing_and_the_entry_verifies() -> None:
    if os.geteuid() != 0:
        pytest.skip("the build needs root")
    entry = find_entry("1.20.2")
    if entry is None:
        pytest.skip("no local Kubernetes v1.20.2 build: run `make kube-bin` first (about 6 min)")
    r = subprocess.run([sys.executable, "-m", "kubeward", "artifacts", "build"], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(entry)
    assert "already built" in r.stderr and "nothing to do" in r.stderr and "make WHAT" not in r.stderr
    v = read_verify_dir(entry)
    assert v.ok, v.problems
    names = {f.path.rsplit("/", 1)[-1] for f in v.manifest.files}
    assert set(BINARIES) <= names and {"pause.tar", "busybox.tar"} <= names
    version = subprocess.run([str(entry / "v1.20.2/bin/linux/amd64/kube-apiserver"), "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "Kubernetes v1.20.2"
