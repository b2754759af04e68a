"""Certificates on day two, the pure parts: what each component reads (and so restarts for), which
phases a renewal needs, the CA guard of the pki phase, the node-local API proxy's readiness checks,
and ``pki status``'s view of the hosts (its script run here on files in a temporary directory)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.unit.test_pki_table import CLUSTER as PKI_CLUSTER

from kubeward.cli.main import cli
from kubeward.components.certificates import installed_certs
from kubeward.components.control_plane import (
    API_PROXY_READS,
    ControlPlaneInputs,
    api_proxy_component,
    control_plane_components,
    control_plane_reads,
    render_haproxy_config,
)
from kubeward.components.etcd import etcd_component
from kubeward.components.kube import SHUTDOWN_DELAY
from kubeward.components.plan import plan_work, render_restart, restart_for_files
from kubeward.config import ClusterConfig, parse_config
from kubeward.etcd.config import new_cluster_bootstrap
from kubeward.ops.base import Change, Refusal, Unchanged
from kubeward.ops.ops import File
from kubeward.phases.pki import CaCertificate, plan_rollout
from kubeward.pki.installed import (
    InstalledCert,
    Observed,
    assess_host,
    assess_kubelet_cert,
    compare_installed,
    parse_installed,
    render_installed_script,
)
from kubeward.pki.issue import new_ca, new_cert
from kubeward.pki.kubeconfig import render_cert_kubeconfig
from kubeward.pki.table import ROWS

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PKI = "/etc/kubernetes/pki"
FAKE = ControlPlaneInputs(b"CA\n", b"SIGNER\n", (b"CM\n", b"CMKEY\n"), (b"S\n", b"SKEY\n"), (("k", "AAAA"),))


@pytest.fixture(scope="module")
def kube() -> ClusterConfig:
    text = PKI_CLUSTER + "kubernetes: {enabled: true, version: 1.20.2}\n"
    return parse_config(text).config


def running(component_facts: dict[str, str], unit: str) -> dict[str, str]:
    return {**component_facts, f"service:{unit}": "enabled\nactive\n"}


# ----- what components read, and what restarts ---------------------------------------------------


def test_components_read_the_certificates_their_flags_name(kube: ClusterConfig) -> None:
    cp = kube.control_planes[0]
    reads = control_plane_reads(kube, cp)
    apiserver, cm, scheduler = (reads[f"{n}.service"] for n in ("kube-apiserver", "kube-controller-manager",
                                                                 "kube-scheduler"))
    assert {f"{PKI}/apiserver.crt", f"{PKI}/apiserver.key", f"{PKI}/apiserver-etcd-client.crt",
            f"{PKI}/apiserver-kubelet-client.key", f"{PKI}/front-proxy-client.crt", f"{PKI}/etcd/ca.crt",
            f"{PKI}/sa.pub"} <= set(apiserver)
    assert f"{PKI}/scheduler-serving.crt" not in apiserver and f"{PKI}/apiserver.crt" not in cm
    assert {f"{PKI}/controller-manager-serving.crt", f"{PKI}/kubelet-signer.key", f"{PKI}/sa.key"} <= set(cm)
    assert set(scheduler) == {f"{PKI}/ca-bundle.crt", f"{PKI}/scheduler-serving.crt", f"{PKI}/scheduler-serving.key"}
    # the components say the same
    comps = {c.unit: c.reads for c in control_plane_components(kube, cp, FAKE)}
    assert comps == reads
    etcd = etcd_component(kube, cp, new_cluster_bootstrap(kube)).reads
    assert f"{PKI}/etcd/server.crt" in etcd and f"{PKI}/etcd/peer.key" in etcd
    assert not [p for p in etcd if "healthcheck" in p]  # the probes' client: no restart for it
    assert api_proxy_component(kube).reads == API_PROXY_READS


def test_a_running_component_restarts_for_a_changed_certificate_only(kube: ClusterConfig) -> None:
    cp = kube.control_planes[0]
    comp = control_plane_components(kube, cp, FAKE)[0]
    facts = {op.id: "" for op in comp.ops()}
    for op in comp.ops():  # every file as wanted: nothing of its own changes
        if isinstance(op, File):
            facts[op.id] = (f"regular file|root|root|{op.mode:o}\n{hashlib.sha256(op.content).hexdigest()}\n"
                            f"{base64.b64encode(op.content).decode()}")
    work = plan_work(comp, running(facts, comp.unit))
    assert not [c for c in work.changes if c.op.startswith("file:")] and not work.needs_restart
    assert restart_for_files(work, {f"{PKI}/scheduler-serving.crt", "/etc/other"}) == ()
    assert not work.needs_restart
    hit = restart_for_files(work, {f"{PKI}/apiserver.crt", f"{PKI}/apiserver.key"})
    assert hit == (f"{PKI}/apiserver.crt", f"{PKI}/apiserver.key") and work.needs_restart
    assert [c.summary for c in work.shown() if c.op.startswith("service:")] == [
        "restart kube-apiserver.service (it reads apiserver.crt, apiserver.key, changed in this run; "
        "one host at a time)"]
    assert not [u for u in work.unchanged if u.op == f"service:{comp.unit}"]
    # a stopped one is started by its phase anyway: no restart on top
    stopped = plan_work(comp, facts)
    assert restart_for_files(stopped, {f"{PKI}/apiserver.crt"}) == () and stopped.start


def test_a_restart_waits_for_the_new_process_before_its_probe(kube: ClusterConfig) -> None:
    script = render_restart(control_plane_components(kube, kube.control_planes[0], FAKE)[0])
    restart = script.index("systemctl restart --no-block kube-apiserver.service")
    assert script.index("kw_old=$(systemctl show -p InvocationID") < restart
    assert restart < script.index('= "$kw_old"') < script.index("/readyz")


# ----- which phases a renewal needs ---------------------------------------------------------------


@pytest.mark.parametrize("names, phases, units, local", [
    ({"apiserver"}, ("pki", "control-plane"), ("kube-apiserver.service",), ()),
    ({"etcd-server-cp-1", "etcd-server-cp-2", "etcd-server-cp-3"}, ("pki", "etcd"), ("etcd",), ()),
    ({"apiserver-etcd-client"}, ("pki", "control-plane"), ("kube-apiserver.service",), ()),
    ({"etcd-healthcheck-client"}, ("pki",), (), ()),
    ({"scheduler-serving-cp-2"}, ("pki", "control-plane"), ("kube-scheduler.service",), ()),
    ({"controller-manager"}, ("control-plane",), ("kube-controller-manager.service",), ()),
    ({"kube-proxy"}, ("nodes",), ("kube-proxy.service",), ()),
    ({"api-proxy-worker-1"}, ("pki", "control-plane"), ("haproxy.service",), ()),
    ({"admin", "cluster-admin", "kubeward-etcd-client"}, (), (), ("kubeward-etcd-client", "admin", "cluster-admin")),
])
def test_a_renewal_runs_only_the_phases_that_use_the_certificates(
        kube: ClusterConfig, names: set[str], phases: tuple[str, ...], units: tuple[str, ...],
        local: tuple[str, ...]) -> None:
    rollout = plan_rollout(kube, names)
    assert (rollout.phases, rollout.units, rollout.local_only) == (phases, units, local)


def test_without_kubernetes_only_etcd_reads_certificates() -> None:
    cfg = parse_config(PKI_CLUSTER).config
    assert plan_rollout(cfg, {"apiserver"}).phases == ("pki",)
    assert plan_rollout(cfg, {"etcd-peer-cp-1"}).phases == ("pki", "etcd")


# ----- a CA on a host is never replaced under running services ------------------------------------


def stat_fact(content: bytes, active: str) -> str:
    return (f"active:{active}\nregular file|root|root|644\n{hashlib.sha256(content).hexdigest()}\n"
            f"{base64.b64encode(content).decode()}")


def test_a_ca_is_placed_but_never_replaced_while_services_trust_it() -> None:
    op = CaCertificate(File(f"{PKI}/ca.crt", b"new CA\n"), "ca")
    assert op.id == f"file:{PKI}/ca.crt"
    assert [type(o) for o in op.evaluate("active:\nabsent")] == [Change]
    assert [type(o) for o in op.evaluate("active: kubelet\nabsent")] == [Change]
    assert [type(o) for o in op.evaluate(stat_fact(b"new CA\n", " etcd kubelet"))] == [Unchanged]
    refused = op.evaluate(stat_fact(b"old CA\n", " etcd kube-apiserver"))
    assert [type(o) for o in refused] == [Refusal]
    assert isinstance(refused[0], Refusal)
    assert "does not rotate a CA" in refused[0].reason and "(etcd, kube-apiserver)" in refused[0].reason
    # nothing runs yet (a host being set up again): the state directory's CA goes out
    assert [o.summary for o in op.evaluate(stat_fact(b"old CA\n", "")) if isinstance(o, Change)] == [
        f"update {PKI}/ca.crt"]


def test_renew_apply_refuses_cas_and_retired_rows(tmp_path: Path) -> None:
    from tests.unit.test_pki_cli import CLUSTER

    (tmp_path / "cluster.yml").write_text(CLUSTER)

    def run(*args: str) -> str:
        r = CliRunner().invoke(cli, ["pki", "renew", *args, "-c", str(tmp_path / "cluster.yml")])
        assert r.exit_code == 1, r.output
        return " ".join(r.output.split())

    assert "--apply rolls out renewed leaf certificates only. ca is a CA" in run("ca", "--apply")
    assert "which kubeward does not do on a running cluster" in run("etcd-ca", "--include-cas", "--apply")
    assert "sa: a new service-account key" in run("--all", "--include-cas", "--apply")
    assert "the kubelet renews it itself" in run("kubelet-serving-worker-1")
    assert not (tmp_path / "state" / "pki").exists()  # nothing was issued
    r = CliRunner().invoke(cli, ["pki", "renew", "apiserver", "-c", str(tmp_path / "cluster.yml")])
    assert r.exit_code == 0 and "`kubeward up`" in r.output and "runs only pki" in " ".join(r.output.split())


# ----- the node-local API proxy ------------------------------------------------------------------


def test_the_api_proxy_balances_only_ready_api_servers(kube: ClusterConfig) -> None:
    text = render_haproxy_config(kube)
    assert "option httpchk GET /readyz" in text and "http-check expect status 200" in text
    default = next(line.split() for line in text.splitlines() if line.strip().startswith("default-server"))
    assert default[1:] == ["check-ssl", "verify", "required", "ca-file", f"{PKI}/ca.crt",
                           "crt", f"{PKI}/api-proxy.crt"]
    assert "ssl-load-extra-del-ext" in text  # its key: api-proxy.key beside it
    # a stopping API server fails /readyz this long while it still serves: more than two failed checks
    inter, fall = 2, 2
    assert f"inter {inter}s fall {fall}" in text and inter * fall + 2 < SHUTDOWN_DELAY
    assert "option redispatch 1" in text


# ----- what pki status reads on hosts ---------------------------------------------------------------


def issued(kube: ClusterConfig) -> dict[str, bytes]:
    ca = new_ca(ROWS["ca"], kube, NOW)
    signer = new_cert(ROWS["kubelet-signer"], ca, kube, None, NOW)
    api = new_cert(ROWS["apiserver"], ca, kube, None, NOW)
    api2 = new_cert(ROWS["apiserver"], ca, kube, None, NOW + timedelta(hours=1))
    cm = new_cert(ROWS["controller-manager"], ca, kube, None, NOW)
    node = kube.hosts[3]
    kubelet = new_cert(ROWS["api-proxy"], signer, kube, node, NOW)  # stands for a kubelet's own certificate
    return {"ca": ca.cert_pem(), "signer": signer.cert_pem(), "api": api.cert_pem(), "api-key": api.key_pem(),
            "api2": api2.cert_pem(), "cm": cm.cert_pem(), "cm-key": cm.key_pem(),
            "kubelet": kubelet.cert_pem(), "kubelet-key": kubelet.key_pem()}


def test_the_script_reads_certificates_and_never_a_key(kube: ClusterConfig, tmp_path: Path) -> None:
    pem = issued(kube)
    (tmp_path / "apiserver.crt").write_bytes(pem["api"])
    (tmp_path / "kubelet-client-2030.pem").write_bytes(pem["kubelet"] + pem["kubelet-key"])
    (tmp_path / "kubelet-client-current.pem").symlink_to(tmp_path / "kubelet-client-2030.pem")
    conf = render_cert_kubeconfig(kube, "controller-manager", pem["ca"], pem["cm"], pem["cm-key"])
    (tmp_path / "controller-manager.conf").write_text(conf)
    certs = [InstalledCert(str(tmp_path / "apiserver.crt"), "apiserver", "apiserver.crt"),
             InstalledCert(str(tmp_path / "controller-manager.conf"), "controller-manager", "controller-manager.crt",
                           "kubeconfig", ("kube-controller-manager.service",)),
             InstalledCert(str(tmp_path / "kubelet-client-current.pem"), "kubelet-client", None),
             InstalledCert(str(tmp_path / "gone.crt"), "apiserver-etcd-client", "apiserver-etcd-client.crt")]
    out = subprocess.run(["sh", "-c", render_installed_script(certs)], capture_output=True, text=True,
                         check=True).stdout
    assert "PRIVATE KEY" not in out and "client-key-data" not in out
    for key in (pem["api-key"], pem["cm-key"], pem["kubelet-key"]):
        body = "".join(key.decode().splitlines()[1:-1])
        assert body[:40] not in out.replace("\n", "")
    found, started = parse_installed(out, certs)
    assert found[str(tmp_path / "apiserver.crt")].pem.strip() == pem["api"].strip()
    assert found[str(tmp_path / "controller-manager.conf")].pem.strip() == pem["cm"].strip()
    assert found[str(tmp_path / "kubelet-client-current.pem")].pem.strip() == pem["kubelet"].strip()
    assert found[str(tmp_path / "gone.crt")] == Observed(False)
    assert set(started) == {"kube-controller-manager.service"}
    with pytest.raises(ValueError, match="did not finish"):
        parse_installed(out[: out.index("@@kw cert c2")], certs)


def test_installed_certificates_against_the_state_directory(kube: ClusterConfig) -> None:
    pem = issued(kube)
    api = InstalledCert(f"{PKI}/apiserver.crt", "apiserver", "apiserver.crt", readers=("kube-apiserver.service",))
    t = 1_900_000_000
    same = Observed(True, pem["api"], mtime=t)
    assert compare_installed("cp-1", api, same, pem["api"], {"kube-apiserver.service": t + 5}).state == "in sync"
    stale = compare_installed("cp-1", api, same, pem["api"], {"kube-apiserver.service": t - 5})
    assert stale.state == "restart pending" and "kube-apiserver.service started before" in stale.reason
    assert compare_installed("cp-1", api, same, pem["api"], {"kube-apiserver.service": None}).state == "in sync"
    pending = compare_installed("cp-1", api, same, pem["api2"], {})
    assert pending.state == "pending rollout" and "a newer one" in pending.reason
    assert pending.serial != pending.store_serial and pending.serial and pending.store_serial
    assert compare_installed("cp-1", api, Observed(False), pem["api"], {}).state == "missing"
    assert compare_installed("cp-1", api, Observed(True, b"garbage"), pem["api"], {}).state == "unreadable"


@pytest.mark.parametrize("at, state", [
    (timedelta(days=10), "ok"), (timedelta(days=300), "rotation due"), (timedelta(days=340), "overdue"),
    (timedelta(days=400), "expired"),
])
def test_a_kubelet_certificate_by_where_its_rotation_stands(kube: ClusterConfig, at: timedelta, state: str) -> None:
    pem = issued(kube)
    cert = InstalledCert("/var/lib/kubelet/pki/kubelet-server-current.pem", "kubelet-serving", None)
    got = assess_kubelet_cert("worker-1", cert, Observed(True, pem["kubelet"]), pem["signer"], NOW + at,
                              timedelta(days=30))
    assert got.state == state, got
    assert got.subject and "kubeward-kubelet-signer" in got.issuer and got.not_after is not None
    assert "kubeward csr approve" in got.renewed_by


def test_a_kubelet_certificate_from_another_signer_or_none(kube: ClusterConfig) -> None:
    pem = issued(kube)
    cert = InstalledCert("/var/lib/kubelet/pki/kubelet-client-current.pem", "kubelet-client", None)
    other = assess_kubelet_cert("w", cert, Observed(True, pem["kubelet"]), pem["ca"], NOW, timedelta(days=30))
    assert other.state == "mismatch" and "kubelet-signer" in other.renewal
    missing = assess_kubelet_cert("w", cert, Observed(False), pem["signer"], NOW, timedelta(days=30))
    assert missing.state == "missing" and not missing.ok


def test_every_host_reads_its_own_files_and_the_kubelets(kube: ClusterConfig) -> None:
    cp, worker = kube.control_planes[0], kube.hosts[3]
    cp_certs = {c.path: c for c in installed_certs(kube, cp)}
    assert cp_certs[f"{PKI}/apiserver.crt"].readers == ("kube-apiserver.service",)
    assert cp_certs[f"{PKI}/etcd/server.crt"].store_path == f"etcd/server-{cp.name}.crt"
    assert cp_certs["/etc/kubernetes/scheduler.conf"].source == "kubeconfig"
    assert "haproxy.service" in cp_certs[f"{PKI}/ca.crt"].readers
    assert not [p for p in cp_certs if p.endswith(".key")]
    worker_certs = {c.name: c for c in installed_certs(kube, worker)}
    assert set(worker_certs) == {"ca", f"api-proxy-{worker.name}", "kube-proxy", "kubelet-client", "kubelet-serving"}
    assert worker_certs["kubelet-serving"].store_path is None


def test_a_host_whose_script_broke_says_so(kube: ClusterConfig) -> None:
    certs = installed_certs(kube, kube.hosts[3])
    host = assess_host("worker-1", certs, "", {}, "kubelet-signer.crt", NOW, timedelta(days=30))
    assert host.error and not host.ok and host.to_dict()["error"]
    assert replace(host, error=None).ok  # nothing else was found wrong
