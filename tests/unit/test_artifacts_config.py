"""cluster.yml's `kubernetes:` section: off by default, version required once enabled, every
mistake at its line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeward.config import ConfigError, parse_config

GOOD = (Path(__file__).parent / "data" / "good.yml").read_text()


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return [f"{e.line}:{e.col}: {e.message}" for e in info.value.errors]


def test_existing_files_keep_working() -> None:
    config = parse_config(GOOD).config
    assert config.kubernetes.enabled is False and config.kubernetes.version is None
    assert config.kubernetes.artifacts.source == "release"
    assert config.kubernetes.artifacts.base_url == "https://dl.k8s.io/release"


def test_enabled_release_and_dir() -> None:
    config = parse_config(GOOD + "kubernetes:\n  enabled: true\n  version: v1.20.2\n").config
    assert config.kubernetes.version == "1.20.2"
    text = GOOD + (
        "kubernetes:\n  enabled: true\n  version: '1.20.2'\n  artifacts:\n    source: dir\n"
        "    dir: /var/cache/kubeward/kubernetes/1.20.2-abc\n    base_url: http://127.0.0.1:8080/release/\n"
    )
    a = parse_config(text).config.kubernetes.artifacts
    assert a.source == "dir" and str(a.dir).endswith("1.20.2-abc") and a.base_url == "http://127.0.0.1:8080/release"


def test_mistakes_are_located() -> None:
    lines = GOOD.count("\n")
    text = GOOD + (
        "kubernetes:\n"
        "  enabled: true\n"
        "  version: 1.20\n"
        "  artifacts:\n"
        "    source: mirror\n"
        "    base_url: ftp://example.org/k8s\n"
        "    mirrors: []\n"
    )
    errs = errors_of(text)
    assert any(e.startswith(f"{lines + 3}:12: ") and "expected a Kubernetes version like '1.20.2', got '1.20'" in e
               for e in errs), errs
    assert any(e.startswith(f"{lines + 5}:13: ") and "release" in e for e in errs), errs
    assert any(e.startswith(f"{lines + 6}:15: ") and "http(s) URL" in e for e in errs), errs
    assert any(e.startswith(f"{lines + 7}:5: ") and "unknown key 'mirrors'" in e for e in errs), errs


def test_cross_field_checks() -> None:
    lines = GOOD.count("\n")
    errs = errors_of(GOOD + "kubernetes:\n  enabled: true\n  artifacts: {source: bundle}\n")
    assert any(e.startswith(f"{lines + 2}:12: ") and "kubernetes.version is not set" in e for e in errs), errs
    assert any("kubernetes.artifacts.bundle is not set" in e for e in errs), errs
    # disabled: nothing is required
    assert parse_config(GOOD + "kubernetes:\n  artifacts: {source: bundle}\n").config.kubernetes.enabled is False


def test_extra_args_removed_in_the_configured_version_are_refused_at_their_line() -> None:
    lines = GOOD.count("\n")
    extra = ("kubernetes:\n  enabled: true\n  version: '{v}'\n  apiserver:\n    extra_args:\n"
             "      --insecure-port: '0'\n      audit-log-maxage: '60'\n"
             "  controller_manager:\n    extra_args: {{port: '0'}}\n")
    errs = errors_of(GOOD + extra.format(v="1.33.0"))
    assert any(e.startswith(f"{lines + 6}:") and "--insecure-port was removed from kube-apiserver in 1.24" in e
               for e in errs), errs
    assert any("--port was removed from kube-controller-manager in 1.22" in e for e in errs), errs
    assert not any("audit-log-maxage" in e for e in errs), errs
    # the same flags are accepted by 1.20, and merged last
    config = parse_config(GOOD + extra.format(v="1.20.2")).config
    assert config.kubernetes.apiserver.extra_args == {"--insecure-port": "0", "audit-log-maxage": "60"}


def test_lab_cluster_yml_stays_off_and_the_helper_turns_kubernetes_on(tmp_path: Path) -> None:
    from tests.unit.test_lab_plan import _lab_state, _pubkey

    from kubeward.lab.lab import render_cluster_yml, render_kubernetes_yml

    text = render_cluster_yml(_lab_state(), _pubkey("kubeward-lab-demo"))
    assert parse_config(text).config.kubernetes.enabled is False  # the default lab is unchanged
    entry = Path("/var/cache/kubeward/kubernetes/1.20.2-0123456789ab")
    k = parse_config(text + render_kubernetes_yml("1.20.2", entry)).config.kubernetes
    assert k.enabled and k.version == "1.20.2" and k.artifacts.source == "dir" and k.artifacts.dir == entry
