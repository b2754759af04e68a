"""The lab image's pure parts: reading the Debian mirror from apt sources, the recipe key, paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeward.lab import image as imagemod
from kubeward.lab.image import (
    DEFAULT_MIRROR,
    Image,
    cache_dir,
    current_image,
    parse_debian_mirror,
    recipe_key,
)

#: as on these machines: /etc/apt/sources.list.d/debian.sources
DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


# ----- deb822 ----------------------------------------------------------------------------------------
def test_deb822_picks_the_bookworm_stanza_not_the_security_one() -> None:
    sources = {"/etc/apt/sources.list.d/debian.sources": DEBIAN_SOURCES}
    assert parse_debian_mirror(sources) == "http://mirror.example/debian"


def test_deb822_security_stanza_first_is_still_skipped() -> None:
    first, second = DEBIAN_SOURCES.split("\n\n")
    sources = {"/etc/apt/sources.list.d/debian.sources": f"{second}\n\n{first}\n"}
    assert parse_debian_mirror(sources) == "http://mirror.example/debian"


def test_deb822_only_security_and_updates_falls_back() -> None:
    text = (
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security bookworm-updates\n"
    )
    assert parse_debian_mirror({"x.sources": text}) == DEFAULT_MIRROR


def test_deb822_skips_deb_src_only_stanzas_and_strips_the_trailing_slash() -> None:
    text = (
        "Types: deb-src\nURIs: http://sources.example/debian\nSuites: bookworm\nComponents: main\n"
        "\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian/ http://second.example/debian\n"
        "Suites: bookworm\nComponents: main contrib\n"
    )
    assert parse_debian_mirror({"x.sources": text}) == "http://mirror.example/debian"


def test_deb822_blank_lines_with_spaces_separate_stanzas() -> None:
    text = (
        "Types: deb\nURIs: http://a.example/debian\nSuites: trixie\n"
        "   \n"
        "Types: deb\nURIs: http://b.example/d\nSuites: bookworm\n"
    )
    assert parse_debian_mirror({"x.sources": text}) == "http://b.example/d"


def test_deb822_disabled_stanza_is_ignored() -> None:
    text = (
        "Enabled: no\nTypes: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    )
    assert parse_debian_mirror({"x.sources": text}) == "http://mirror.example/debian"


# ----- one-line sources.list -------------------------------------------------------------------------
def test_one_line_format_with_options_comments_and_other_suites() -> None:
    text = """\
# deb http://commented.example/debian bookworm main
deb-src http://sources.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian.gpg] http://security.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://mirror.example/debian/ bookworm main contrib
deb http://later.example/debian bookworm main
"""
    assert parse_debian_mirror({"/etc/apt/sources.list": text}) == "http://mirror.example/debian"


def test_one_line_format_without_options_and_with_indentation() -> None:
    text = (
        "deb http://old.example/debian bullseye main\n   deb   http://mirror.example/debian   bookworm main\n"
    )
    assert parse_debian_mirror({"/etc/apt/sources.list": text}) == "http://mirror.example/debian"


def test_files_are_read_in_name_order_and_empty_ones_are_skipped() -> None:
    sources = {
        "/etc/apt/sources.list.d/zz-other.list": "deb http://zz.example/debian bookworm main\n",
        "/etc/apt/sources.list": "# see sources.list.d\n",
        "/etc/apt/sources.list.d/debian.sources": DEBIAN_SOURCES,
    }
    assert parse_debian_mirror(sources) == "http://mirror.example/debian"


@pytest.mark.parametrize(
    "sources",
    [
        {},
        {"/etc/apt/sources.list": ""},
        {"/etc/apt/sources.list": "# nothing\n"},
        {"/etc/apt/sources.list": "deb http://x.example/ubuntu jammy main\n"},
        {"a.sources": "Types: deb\nURIs: http://x.example/debian\nSuites: trixie\n"},
    ],
)
def test_fallback_is_the_default_mirror(sources: dict[str, str]) -> None:
    assert parse_debian_mirror(sources) == DEFAULT_MIRROR == "http://deb.debian.org/debian"


# ----- recipe key and paths --------------------------------------------------------------------------
def test_recipe_key_is_12_hex_and_stable() -> None:
    key = recipe_key()
    assert re.fullmatch(r"[0-9a-f]{12}", key)
    assert recipe_key() == key
    assert current_image().key == key


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("IMAGE_PACKAGES", (*imagemod.IMAGE_PACKAGES, "htop")),
        ("REPO_PACKAGES", imagemod.REPO_PACKAGES[:-1]),
        ("RECIPE_VERSION", imagemod.RECIPE_VERSION + 1),
        ("SUITE", "trixie"),
        ("PREPARE_SCRIPT", imagemod.PREPARE_SCRIPT + "true\n"),
        ("LAB_UID", imagemod.LAB_UID + 1),
    ],
)
def test_recipe_key_changes_with_the_recipe(
    monkeypatch: pytest.MonkeyPatch, attr: str, value: object
) -> None:
    before = recipe_key()
    monkeypatch.setattr(imagemod, attr, value)
    after = recipe_key()
    assert re.fullmatch(r"[0-9a-f]{12}", after)
    assert after != before


def test_cache_dir_and_image_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEWARD_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    img = current_image()
    assert img.root == tmp_path / "images" / recipe_key()
    assert (img.rootfs, img.repo) == (img.root / "rootfs", img.root / "repo")
    monkeypatch.delenv("KUBEWARD_CACHE")
    assert cache_dir() == Path("/var/cache/kubeward")


def test_image_complete_marker_and_repo_packages(tmp_path: Path) -> None:
    img = Image(key="abc", root=tmp_path / "abc")
    (img.repo).mkdir(parents=True)
    assert not img.complete
    (img.root / ".complete").touch()
    assert img.complete
    (img.repo / "Packages").write_text(
        "Package: runc\nVersion: 1.1\n\nPackage: containerd\nVersion: 1.6\nDepends: runc\n\n"
        "Package: runc\nVersion: 1.2\n\nDescription: Package: not-a-package\n"
    )
    assert img.repo_packages() == ["containerd", "runc"]
