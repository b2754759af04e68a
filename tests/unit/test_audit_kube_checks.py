"""Component checks on fixture command lines and config files, for 1.20.2 and a current version.

kubeward's own rendered flags and config files (the golden files of tests/unit/golden/) pass every
check; each weakened one is reported with its check id, CIS id and port; a check that does not apply
to the running version is skipped and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeward.audit.kube_checks import COMPONENT_CHECKS, evaluate_components, parse_flags
from kubeward.audit.model import ConfigFile, RunningComponent
from kubeward.audit.probe import parse_procs
from kubeward.components.version import v

GOLDEN = Path(__file__).parent / "golden"
ETCD_YAML = """name: cp-1
data-dir: /var/lib/etcd
listen-client-urls: https://10.0.0.10:2379,https://127.0.0.1:2379
listen-metrics-urls: http://127.0.0.1:2381
client-transport-security:
  cert-file: /etc/etcd/pki/server.crt
  key-file: /etc/etcd/pki/server.key
  trusted-ca-file: /etc/etcd/pki/ca.crt
  client-cert-auth: true
  auto-tls: false
peer-transport-security:
  cert-file: /etc/etcd/pki/peer.crt
  key-file: /etc/etcd/pki/peer.key
  trusted-ca-file: /etc/etcd/pki/ca.crt
  client-cert-auth: true
  auto-tls: false
"""
ENCRYPTION = (GOLDEN / "encryption-config.yaml").read_text().replace("secret: QUJD", "secret: (redacted)")


def _args(name: str, version: str) -> list[str]:
    return [name, *(GOLDEN / f"{name}-{version}.args").read_text().split()]


def _cluster(version: str, kubelet_yaml: str | None = None, proxy_yaml: str | None = None,
             apiserver: list[str] | None = None, cm: list[str] | None = None,
             etcd_yaml: str = ETCD_YAML) -> list[RunningComponent]:
    k = f"Kubernetes v{version}"
    return [
        RunningComponent("kube-apiserver", 10, tuple(apiserver or _args("kube-apiserver", version)), k,
                         configs=(ConfigFile("encryption-provider-config", "/etc/kubernetes/encryption-config.yaml",
                                             ENCRYPTION),)),
        RunningComponent("kube-controller-manager", 11, tuple(cm or _args("kube-controller-manager", version)), k),
        RunningComponent("kube-scheduler", 12, tuple(_args("kube-scheduler", version)), k),
        RunningComponent("etcd", 13, ("etcd", "--config-file", "/etc/etcd/kubeward.yaml"), "etcd Version: 3.4.23",
                         configs=(ConfigFile("config-file", "/etc/etcd/kubeward.yaml", etcd_yaml),)),
        RunningComponent("kubelet", 14, tuple(_args("kubelet", version)), k,
                         configs=(ConfigFile("config", "/var/lib/kubelet/config.yaml",
                                             kubelet_yaml or (GOLDEN / f"kubelet-{version}.yaml").read_text()),)),
        RunningComponent("kube-proxy", 15, ("kube-proxy", "--config=/var/lib/kube-proxy/config.yaml"), k,
                         configs=(ConfigFile("config", "/var/lib/kube-proxy/config.yaml",
                                             proxy_yaml or (GOLDEN / f"kube-proxy-{version}.yaml").read_text()),)),
    ]


@pytest.mark.parametrize("version", ["1.20.2", "1.33.0"])
def test_kubewards_own_components_pass_every_check(version: str) -> None:
    findings, skipped, gaps = evaluate_components("cp-1", _cluster(version), None)
    assert findings == [] and gaps == []
    ids = {s.id for s in skipped}
    if version == "1.20.2":  # current-release checks are skipped, and say why
        assert ids == {"KW-KUBELET-IPTABLES-CHAINS", "KW-KUBELET-SECCOMP"}
        seccomp = next(s for s in skipped if s.id == "KW-KUBELET-SECCOMP")
        assert seccomp.reason == "applies from 1.27; kubelet runs 1.20.2" and seccomp.cis == "4.2.14"
    else:  # 1.20-only checks (insecure ports, protectKernelDefaults as 4.2.6) are skipped
        assert ids == {"KW-APISERVER-INSECURE-PORT", "KW-APISERVER-INSECURE-BIND", "KW-CM-INSECURE-PORT",
                       "KW-SCHED-INSECURE-PORT", "KW-KUBELET-KERNEL-DEFAULTS"}


@pytest.mark.parametrize("version", ["1.20.2", "1.33.0"])
def test_each_weakness_is_reported_with_its_id_cis_id_and_port(version: str) -> None:
    kubelet = (GOLDEN / f"kubelet-{version}.yaml").read_text()
    kubelet = kubelet.replace("  anonymous:\n    enabled: false", "  anonymous:\n    enabled: true")
    kubelet = kubelet.replace("  mode: Webhook", "  mode: AlwaysAllow").replace("readOnlyPort: 0", "readOnlyPort: 10255")
    proxy = (GOLDEN / f"kube-proxy-{version}.yaml").read_text().replace("127.0.0.1:10249", "0.0.0.0:10249")
    api = [a for a in _args("kube-apiserver", version) if not a.startswith("--kubelet-certificate-authority")]
    cm = [a.replace("127.0.0.1", "0.0.0.0") for a in _args("kube-controller-manager", version)]
    etcd = ETCD_YAML.replace("  client-cert-auth: true\n  auto-tls: false\npeer", "  client-cert-auth: false\n"
                             "  auto-tls: false\npeer")
    findings, _, _ = evaluate_components("w-1", _cluster(version, kubelet, proxy, api, cm, etcd), None)
    got = {(f.id, f.cis, f.port, f.severity) for f in findings}
    assert got == {
        ("KW-KUBELET-ANONYMOUS", "4.2.1", 10250, "high"),
        ("KW-KUBELET-AUTHZ", "4.2.2", 10250, "critical"),
        ("KW-KUBELET-READONLY", "4.2.4", 10255, "high"),
        ("KW-PROXY-METRICS-BIND", "4.3.1", 10249, "high"),
        ("KW-APISERVER-KUBELET-CA", "1.2.5", 10250, "high"),
        ("KW-CM-BIND", "1.3.7", 10257, "high"),
        ("KW-ETCD-CLIENT-CERT-AUTH", "2.2", 2379, "critical"),
    }
    assert all(f.node == "w-1" and f.vantage == "local" and f.fix for f in findings)
    anon = next(f for f in findings if f.id == "KW-KUBELET-ANONYMOUS")
    assert anon.observed == "kubelet (pid 14): authentication.anonymous.enabled: True"


def test_flags_win_and_a_kubelet_without_config_file_gets_the_unsafe_flag_defaults() -> None:
    bare = RunningComponent("kubelet", 1, ("kubelet", "--kubeconfig=/etc/kubernetes/kubelet.conf"), "Kubernetes v1.20.2")
    ids = {f.id for f in evaluate_components("w-1", [bare], None)[0]}
    assert {"KW-KUBELET-ANONYMOUS", "KW-KUBELET-AUTHZ", "KW-KUBELET-READONLY", "KW-KUBELET-CLIENT-CA"} <= ids
    # a flag on the command line wins over the config file
    flagged = RunningComponent("kubelet", 1, ("kubelet", "--config", "/c.yaml", "--anonymous-auth=true"),
                               "Kubernetes v1.33.0", configs=(ConfigFile("config", "/c.yaml",
                                                                        (GOLDEN / "kubelet-1.33.0.yaml").read_text()),))
    assert [f.id for f in evaluate_components("w-1", [flagged], None)[0]] == ["KW-KUBELET-ANONYMOUS"]
    # the API server's unsafe defaults: anonymous on, AlwaysAllow
    api = RunningComponent("kube-apiserver", 2, ("kube-apiserver", "--etcd-servers=https://x:2379"), "")
    ids = {f.id for f in evaluate_components("cp-1", [api], v("1.20.2"))[0]}
    assert {"KW-APISERVER-ANONYMOUS", "KW-APISERVER-AUTHZ", "KW-APISERVER-ENCRYPTION",
            "KW-APISERVER-NODERESTRICTION"} <= ids


def test_an_unparsable_config_file_is_a_gap_not_a_pass() -> None:
    rc = RunningComponent("kube-proxy", 3, ("kube-proxy", "--config=/x"), "Kubernetes v1.20.2",
                          configs=(ConfigFile("config", "/x", "a: [unclosed"),))
    assert "kube-proxy's --config could not be parsed" in evaluate_components("w", [rc], None)[2][0]


def test_parse_flags_and_procs_section() -> None:
    assert parse_flags(["etcd", "--config-file", "/e.yaml", "--debug", "--name=a=b", "-v", "2"]) == {
        "config-file": "/e.yaml", "debug": "true", "name": "a=b", "v": "2"}
    section = ["@@proc kube-controller 42", " a /usr/local/bin/kube-controller-manager", " a --bind-address=0.0.0.0",
               " v Kubernetes v1.20.2", "@@proc kubelet 7", " a kubelet", " a --config=/var/lib/kubelet/config.yaml",
               " v Kubernetes v1.20.2", " f config /var/lib/kubelet/config.yaml", " c readOnlyPort: 0", " c ",
               " c authentication:", " c   anonymous: {enabled: false}", "@@proc bash 9", " a bash"]
    procs = parse_procs(section)
    assert [(p.name, p.pid) for p in procs] == [("kube-controller-manager", 42), ("kubelet", 7)]
    assert procs[0].args[1] == "--bind-address=0.0.0.0" and procs[0].version == "Kubernetes v1.20.2"
    assert procs[1].configs[0].text == "readOnlyPort: 0\n\nauthentication:\n  anonymous: {enabled: false}"


def test_the_table_is_well_formed_and_documented() -> None:
    ids = [c.id for c in COMPONENT_CHECKS]
    assert len(ids) == len(set(ids))
    assert all(c.cis and c.fix and c.title for c in COMPONENT_CHECKS)
    doc = (Path(__file__).parents[2] / "docs" / "audit.md").read_text()
    assert [i for i in ids if f"| {i} |" not in doc] == []
