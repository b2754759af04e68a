"""Node components by version: containerd's TOML, KubeletConfiguration and kubelet flags,
KubeProxyConfiguration, the CNI conflist and the pod-network script; golden files for 1.20.2 (the
lab's build) and 1.33.0, and rows for every difference."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml
from tests.unit.golden import assert_golden

from kubeward.components.flags import check_extra_args, render_argv
from kubeward.components.node import (
    KUBELET_CONFIG_TABLE,
    KUBELET_FLAGS,
    NodeContext,
    NodeTraits,
    PodRoute,
    kube_proxy_args,
    kubelet_args,
    parse_node_traits,
    pod_routes,
    render_cni_conflist,
    render_containerd_config,
    render_kube_proxy_config,
    render_kubelet_config,
    render_pod_network_script,
)
from kubeward.components.version import v

LAB = NodeTraits(cgroup_driver="cgroupfs", can_lower_oom_score=False, conntrack_settable=False)


def ctx(version: str, traits: NodeTraits = LAB) -> NodeContext:
    return NodeContext(v(version), "worker-1", "192.0.2.21", "10.0.0.21", "10.244.0.0/16", "10.96.0.0/12", traits)


@pytest.mark.parametrize("version", ["1.20.2", "1.33.0"])
def test_golden_kubelet(version: str) -> None:
    assert_golden(f"kubelet-{version}.yaml", render_kubelet_config(ctx(version)))
    assert_golden(f"kubelet-{version}.args", "\n".join(render_argv(kubelet_args(ctx(version)))) + "\n")


@pytest.mark.parametrize("version", ["1.20.2", "1.33.0"])
def test_golden_kube_proxy(version: str) -> None:
    assert_golden(f"kube-proxy-{version}.yaml", render_kube_proxy_config(ctx(version)))
    assert kube_proxy_args(ctx(version)) == {"config": "/etc/kubernetes/kube-proxy.yaml"}


def test_golden_containerd_and_cni() -> None:
    assert_golden("containerd-lab.toml", render_containerd_config(ctx("1.20.2")))
    assert_golden("cni-10.244.1.0.conflist", render_cni_conflist("10.244.1.0/24"))


@pytest.mark.parametrize(("version", "path", "value"), [
    ("1.20.2", "containerRuntimeEndpoint", None),
    ("1.27.0", "containerRuntimeEndpoint", "unix:///run/containerd/containerd.sock"),
    ("1.20.2", "seccompDefault", None),
    ("1.33.0", "seccompDefault", True),
    ("1.20.2", "featureGates", {"RotateKubeletServerCertificate": True}),
    ("1.24.0", "featureGates", None),
])
def test_kubelet_config_rows(version: str, path: str, value: object) -> None:
    assert yaml.safe_load(render_kubelet_config(ctx(version))).get(path) == value


@pytest.mark.parametrize("version", ["1.20.2", "1.24.0", "1.27.0", "1.33.0"])
def test_kubelet_secure_in_every_version(version: str) -> None:
    doc = yaml.safe_load(render_kubelet_config(ctx(version)))
    assert doc["authentication"]["anonymous"]["enabled"] is False
    assert doc["authentication"]["webhook"]["enabled"] is True
    assert doc["authorization"]["mode"] == "Webhook"
    assert doc["readOnlyPort"] == 0 and doc["healthzBindAddress"] == "127.0.0.1"
    assert doc["rotateCertificates"] is True and doc["serverTLSBootstrap"] is True
    assert doc["protectKernelDefaults"] is True and doc["tlsCipherSuites"]
    assert doc["authentication"]["x509"]["clientCAFile"] == "/etc/kubernetes/pki/ca.crt"
    args = kubelet_args(ctx(version))
    assert args["node-ip"] == "10.0.0.21" and args["bootstrap-kubeconfig"].endswith("bootstrap-kubelet.conf")
    runtime_by_flag = "container-runtime-endpoint" in args
    assert runtime_by_flag == (v(version) < v("1.27")) != ("containerRuntimeEndpoint" in doc)


def test_removed_kubelet_flags_are_refused() -> None:
    assert [p.name for p in check_extra_args(KUBELET_FLAGS, v("1.33"), {"container-runtime": "remote",
                                                                        "network-plugin": "cni"})] \
        == ["container-runtime", "network-plugin"]
    assert check_extra_args(KUBELET_FLAGS, v("1.20.2"), {"container-runtime": "remote"}) == []
    assert KUBELET_CONFIG_TABLE.row_for("protectKernelDefaults", v("1.33")) is not None


def test_node_traits_from_facts() -> None:
    lab = parse_node_traits("cgroupfs=tmpfs\ncapeff=000001fffeffffff\nconntrack=444\n")
    assert lab == LAB  # bit 24 (CAP_SYS_RESOURCE) cleared, read-only nf_conntrack_max
    host = parse_node_traits("cgroupfs=cgroup2fs\ncapeff=000001ffffffffff\nconntrack=644\n")
    assert host == NodeTraits("systemd", True, True)


def test_containerd_follows_the_node() -> None:
    lab = tomllib.loads(render_containerd_config(ctx("1.20.2")))
    cri = lab["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "kubeward.local/pause:3.2" and cri["restrict_oom_score_adj"] is True
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["cni"]["bin_dir"] == "/usr/lib/cni"
    real = tomllib.loads(render_containerd_config(ctx("1.20.2", NodeTraits())))
    rcri = real["plugins"]["io.containerd.grpc.v1.cri"]
    assert "restrict_oom_score_adj" not in rcri
    assert rcri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True


def test_kube_proxy_local_only_and_conntrack_by_fact() -> None:
    lab = yaml.safe_load(render_kube_proxy_config(ctx("1.20.2")))
    assert lab["metricsBindAddress"].startswith("127.0.0.1:") and lab["healthzBindAddress"].startswith("127.0.0.1:")
    assert lab["nodePortAddresses"] == ["192.0.2.21/32", "10.0.0.21/32"]
    assert lab["conntrack"] == {"maxPerCore": 0, "min": 0} and lab["mode"] == "iptables"
    assert "conntrack" not in yaml.safe_load(render_kube_proxy_config(ctx("1.20.2", NodeTraits())))


def test_cni_conflist_masquerades_nothing_itself() -> None:
    doc = json.loads(render_cni_conflist("10.244.2.0/24"))
    bridge = doc["plugins"][0]
    assert bridge["ipMasq"] is False and bridge["ipam"]["ranges"] == [[{"subnet": "10.244.2.0/24"}]]


def test_pod_routes_to_every_other_node() -> None:
    routes = pod_routes("b", {"a": "10.244.0.0/24", "b": "10.244.1.0/24", "c": "10.244.2.0/24", "d": ""},
                        {"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3", "d": "10.0.0.4"})
    assert routes == [PodRoute("10.244.0.0/24", "10.0.0.1", "a"), PodRoute("10.244.2.0/24", "10.0.0.3", "c")]
    script = render_pod_network_script("10.244.0.0/16", routes)
    assert_golden("pod-network.sh", script)
    assert "ip route replace 10.244.2.0/24 via 10.0.0.3 proto 77" in script
    assert "ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade" in script
    with pytest.raises(ValueError):
        render_pod_network_script("10.244.0.0/16", [PodRoute("10.244.0.0/24; reboot", "10.0.0.1", "x")])
