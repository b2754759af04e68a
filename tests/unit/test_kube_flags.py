"""Control-plane flags by version: golden files for 1.20 (the lab's build) and a current release,
and table rows for every difference kubeward knows between them."""

from __future__ import annotations

import dataclasses

import pytest
from tests.unit.golden import assert_golden

from kubeward.components.flags import check_extra_args, render_args, render_argv
from kubeward.components.kube import (
    APISERVER,
    CONTROLLER_MANAGER,
    SCHEDULER,
    SHUTDOWN_DELAY,
    TABLES,
    ControlPlaneContext,
    control_plane_args,
    render_admission_config,
    render_audit_policy,
    render_encryption_config,
)
from kubeward.components.version import v


def ctx(version: str, **extra: dict[str, str]) -> ControlPlaneContext:
    return ControlPlaneContext(v(version), "cp-1", "10.0.0.10", 6443, "10.96.0.0/12", "10.244.0.0/16", 24,
                               ("https://10.0.0.10:2379", "https://10.0.0.11:2379"), "lab", extra, api_servers=2)


@pytest.mark.parametrize("version", ["1.20.2", "1.33.0"])
@pytest.mark.parametrize("component", sorted(TABLES))
def test_golden_flags(component: str, version: str) -> None:
    assert_golden(f"{component}-{version}.args", "\n".join(render_argv(control_plane_args(component, ctx(version))))
                  + "\n")


@pytest.mark.parametrize(("component", "version", "flag", "value"), [
    ("kube-apiserver", "1.20.2", "insecure-port", "0"),
    ("kube-apiserver", "1.33.0", "insecure-port", None),
    ("kube-apiserver", "1.20.2", "enable-admission-plugins", "NodeRestriction"),
    ("kube-apiserver", "1.33.0", "enable-admission-plugins", "NodeRestriction,PodSecurity"),
    ("kube-apiserver", "1.20.2", "admission-control-config-file", None),
    ("kube-apiserver", "1.33.0", "admission-control-config-file", "/etc/kubernetes/admission-config.yaml"),
    ("kube-apiserver", "1.33.0", "anonymous-auth", "false"),
    ("kube-apiserver", "1.20.2", "kubelet-certificate-authority", "/etc/kubernetes/pki/ca-bundle.crt"),
    ("kube-apiserver", "1.20.2", "client-ca-file", "/etc/kubernetes/pki/ca-bundle.crt"),
    ("kube-controller-manager", "1.20.2", "cluster-signing-key-file", "/etc/kubernetes/pki/kubelet-signer.key"),
    ("kube-apiserver", "1.20.2", "service-account-issuer", "https://kubernetes.default.svc.cluster.local"),
    ("kube-controller-manager", "1.20.2", "port", "0"),
    ("kube-controller-manager", "1.22.0", "port", None),
    ("kube-controller-manager", "1.20.2", "bind-address", "127.0.0.1"),
    ("kube-controller-manager", "1.33.0", "controllers", "*,bootstrapsigner,tokencleaner"),
    ("kube-controller-manager", "1.23.0", "feature-gates", "RotateKubeletServerCertificate=true"),
    ("kube-controller-manager", "1.24.0", "feature-gates", None),
    ("kube-scheduler", "1.20.2", "port", "0"),
    ("kube-scheduler", "1.23.0", "port", None),
    ("kube-scheduler", "1.33.0", "bind-address", "127.0.0.1"),
])
def test_flag_rows(component: str, version: str, flag: str, value: str | None) -> None:
    assert control_plane_args(component, ctx(version)).get(flag) == value


def test_extra_args_come_last_and_removed_ones_are_refused() -> None:
    args = control_plane_args("kube-apiserver", ctx("1.20.2", **{"kube-apiserver": {"--v": "2",
                                                                                     "audit-log-maxage": "90"}}))
    assert list(args)[-1] == "v" and args["audit-log-maxage"] == "90"
    assert [p.name for p in check_extra_args(APISERVER, v("1.33"), {"insecure-port": "0", "logtostderr": "true"})] \
        == ["insecure-port", "logtostderr"]
    assert check_extra_args(APISERVER, v("1.20.2"), {"insecure-port": "0", "logtostderr": "true"}) == []
    assert [p.name for p in check_extra_args(CONTROLLER_MANAGER, v("1.24"), {"port": "0"})] == ["port"]
    assert [p.name for p in check_extra_args(SCHEDULER, v("1.23"), {"port": "0"})] == ["port"]


def test_no_insecure_or_public_binding_in_any_version() -> None:
    for version in ("1.20.2", "1.24.0", "1.27.0", "1.33.0"):
        for component in ("kube-controller-manager", "kube-scheduler"):
            assert control_plane_args(component, ctx(version))["bind-address"] == "127.0.0.1"
        api = control_plane_args("kube-apiserver", ctx(version))
        assert api["anonymous-auth"] == "false" and api["profiling"] == "false"
        assert "AlwaysAllow" not in api["authorization-mode"]
        assert int(api["audit-log-maxage"]) >= 30 and int(api["audit-log-maxbackup"]) >= 10


def test_api_server_files_golden() -> None:
    assert_golden("encryption-config.yaml", render_encryption_config([("key-2", "QUJD"), ("key-1", "REVG")]))
    assert_golden("audit-policy.yaml", render_audit_policy())
    assert_golden("admission-config.yaml", render_admission_config())


def test_only_an_api_server_with_peers_delays_its_shutdown() -> None:
    """Serving on after /readyz fails lets the API proxies move to another API server; the only one
    would just be unavailable longer."""
    many = render_args(APISERVER, v("1.20.2"), ctx("1.20.2"))
    assert many["shutdown-delay-duration"] == f"{SHUTDOWN_DELAY}s"
    one = render_args(APISERVER, v("1.20.2"), dataclasses.replace(ctx("1.20.2"), api_servers=1))
    assert "shutdown-delay-duration" not in one
