"""Reuse of an earlier run's live probes (``audit.evidence``), the node state it rests on
(``probe.socket_digest``, the state section of the local view) and the faster parsers the audit
uses at 30 nodes."""

from __future__ import annotations

import random
import shlex
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubeward.audit.evidence import (
    ProofRecord,
    decide_reuse,
    new_record,
    parse_record,
    proof_refusal,
    render_record,
)
from kubeward.audit.model import Finding, Incomplete, LocalObservation, Observations, PortProbe, SshAuthProbe
from kubeward.audit.probe import _AK_SCRIPT, parse_auth_methods, parse_local, socket_digest
from kubeward.audit.sampling import plan_peer_sources
from kubeward.ops.sshd import _config_words

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
NODES = ("cp-1", "worker-1", "worker-2")


def state(node: str, **changed: str) -> dict[str, str]:
    base = {k: f"{k}-{node}" for k in ("ruleset", "sockets", "net", "sshd", "sshd-bin")}
    return {**base, **changed}


def observations() -> Observations:
    obs = Observations(operator_address="10.9.0.1")
    for n in NODES:
        obs.local[n] = LocalObservation(state=state(n))
        obs.ports.append(PortProbe("outside", "operator", "10.9.0.1", n, f"203.0.113.{len(obs.ports)}", 22, "tcp",
                                   "open"))
        obs.ssh_auth.append(SshAuthProbe(n, ("publickey",)))
    obs.ports.append(PortProbe("peer", "worker-1", "10.0.0.11", "cp-1", "10.0.0.10", 6443, "tcp", "open"))
    obs.ports.append(PortProbe("outside", "operator", "10.9.0.1", "cp-1", "203.0.113.0", 40000, "tcp", "open"))
    obs.peer_plan = plan_peer_sources({"cp-1": "control-plane", "worker-1": "worker", "worker-2": "worker"}, run=3)
    return obs


CANDIDATES = {(n, 22, "tcp") for n in NODES}


def record(obs: Observations | None = None, at: datetime = NOW - timedelta(hours=1)) -> ProofRecord:
    return new_record(at, "inputs", obs or observations(), CANDIDATES)


def states() -> dict[str, dict[str, str]]:
    return {n: state(n) for n in NODES}


def test_an_unchanged_cluster_reuses_the_recorded_probes() -> None:
    r = decide_reuse(record(), now=NOW, max_age=DAY, inputs="inputs", states=states())
    assert r.reused and r.record is not None
    assert r.why.startswith("live probes reused from 2026-11-30 11:00:00 UTC (1 h 0 min ago): rulesets")
    assert "not re-run" in r.why


def test_a_changed_ruleset_forces_live_probes() -> None:
    now = states()
    now["worker-2"] = state("worker-2", ruleset="someone added a table")
    r = decide_reuse(record(), now=NOW, max_age=DAY, inputs="inputs", states=now)
    assert not r.reused and r.record is None
    assert "ruleset of worker-2 changed since the live proof of 2026-11-30 11:00:00 UTC" in r.why


def test_every_other_change_forces_live_probes_too() -> None:
    for key, word in (("sockets", "listening sockets"), ("net", "addresses and routes"),
                      ("sshd", "sshd configuration"), ("sshd-bin", "sshd binary")):
        now = states()
        now["cp-1"] = state("cp-1", **{key: "other"})
        r = decide_reuse(record(), now=NOW, max_age=DAY, inputs="inputs", states=now)
        assert not r.reused and f"{word} of cp-1 changed" in r.why, key
    missing = states()
    del missing["cp-1"]["net"]  # a view that could not report it proves nothing
    assert not decide_reuse(record(), now=NOW, max_age=DAY, inputs="inputs", states=missing).reused


def test_inputs_age_nodes_and_a_missing_record_force_live_probes() -> None:
    def why(rec: ProofRecord | None, **kw: object) -> str:
        args: dict[str, object] = {"now": NOW, "max_age": DAY, "inputs": "inputs", "states": states(), **kw}
        r = decide_reuse(rec, **args)  # type: ignore[arg-type]
        assert not r.reused
        return r.why

    assert "no earlier live proof" in why(None)
    assert "25 h 0 min old; limit 24 h" in why(record(at=NOW - timedelta(hours=25)))
    assert "old" in why(record(at=NOW + timedelta(hours=1)))  # from the future: a clock moved
    assert "cluster.yml, the operator's address" in why(record(), inputs="other")
    assert "nodes audited differ" in why(record(), states={n: state(n) for n in NODES[:2]})
    assert "reuse is off" in why(record(), max_age=timedelta(0))


def test_the_record_keeps_the_candidate_scan_not_the_sweep() -> None:
    rec = record()
    assert {(p.target, p.port) for p in rec.ports} == {(n, 22) for n in NODES} | {("cp-1", 6443)}
    assert rec.nodes == states() and len(rec.ssh_auth) == 3


def test_a_record_survives_its_file_and_a_damaged_one_is_none() -> None:
    rec = record()
    back = parse_record(render_record(rec))
    assert back == rec
    assert back is not None and back.plan is not None and back.plan.describe() == rec.plan.describe()  # type: ignore[union-attr]
    text = render_record(rec)
    assert parse_record(text.replace("kubeward.audit-proof/v1", "kubeward.audit-proof/v0")) is None
    assert parse_record(text[: len(text) // 2]) is None
    assert parse_record(text.replace('"outside"', '"local"')) is None
    assert parse_record("") is None


def test_only_a_complete_clean_proof_of_every_node_is_recorded() -> None:
    obs = observations()
    every = set(NODES)
    assert proof_refusal(obs, [], [], every, every) is None
    assert proof_refusal(obs, [], [], {"cp-1"}, every) == "not every node of cluster.yml was audited"
    exposed = Finding("KW-EXPOSED-OUTSIDE", "high", "cp-1", "t", "o", "f", 40000, "tcp", "outside")
    assert "found something" in (proof_refusal(obs, [exposed], [], every, every) or "")
    blocked = replace(exposed, id="KW-BLOCKED-PEER", severity="medium", vantage="peer")
    assert proof_refusal(obs, [blocked], [], every, every) is not None
    tls = replace(exposed, id="KW-TLS-SAN", severity="medium", vantage="peer")  # TLS is probed live each run
    assert proof_refusal(obs, [tls], [], every, every) is None
    assert proof_refusal(obs, [], [Incomplete("worker-1", "peer", "no answer")], every, every) is not None
    assert proof_refusal(obs, [], [Incomplete("worker-1", "tls", "no answer")], every, every) is None
    obs.ssh_auth[0] = SshAuthProbe("cp-1", (), "timeout")
    assert "auth-methods" in (proof_refusal(obs, [], [], every, every) or "")
    obs = observations()
    obs.local["worker-2"].state.pop("sockets")
    assert "no complete state" in (proof_refusal(obs, [], [], every, every) or "")
    obs = observations()
    obs.unreachable["worker-2"] = "timeout"
    assert proof_refusal(obs, [], [], every, every) == "a node could not be audited"


SS = """tcp LISTEN 0      4096   10.0.0.10:2379 0.0.0.0:* users:(("etcd",pid=1592,fd=8)) uid:102 ino:27507043 sk:a66 cgroup:/system.slice/etcd.service <->
tcp LISTEN 0      128        0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=125,fd=3)) ino:27491483 sk:a68 cgroup:/system.slice/ssh.service <->"""
PROBE = 'tcp LISTEN 0      128   10.0.0.10:10250 0.0.0.0:* users:(("kubeward-probe",pid=999,fd=3)) ino:1 sk:1 <->'


def test_the_socket_digest_sees_reloads_not_queues_or_preflights_listener() -> None:
    lines = SS.splitlines()
    base = socket_digest(lines)
    assert socket_digest(list(reversed(lines))) == base
    assert socket_digest([lines[0].replace("LISTEN 0 ", "LISTEN 7 "), lines[1]]) == base  # accept queue moves
    assert socket_digest([*lines, PROBE]) == base  # preflight's listener comes and goes
    # sshd reloaded: same pid, new sockets
    assert socket_digest([lines[0], lines[1].replace("ino:27491483", "ino:28049858")]) != base
    assert socket_digest([lines[0], lines[1].replace("pid=125", "pid=126")]) != base
    assert socket_digest([*lines, PROBE.replace("10250", "4444")]) != base  # that name elsewhere is a listener
    assert socket_digest(lines[:1]) != base


def test_the_local_view_reports_its_state_only_when_complete() -> None:
    text = f"@@ss\n{SS}\n@@sshd\nport 22\n@@state\nruleset abc\nnet def\nsshd-bin 123\n@@end\n"
    lo = parse_local(text)
    assert lo.state["ruleset"] == "abc" and lo.state["net"] == "def" and lo.state["sshd-bin"] == "123"
    assert lo.state["sockets"] == socket_digest(SS.splitlines()) and len(lo.state["sshd"]) == 64
    cut = parse_local(text.replace("@@end\n", ""))
    assert "sockets" not in cut.state and "sshd" not in cut.state


def test_auth_methods_are_read_from_openssh_stderr() -> None:
    assert parse_auth_methods("n", "kubeward-audit-nobody@10.0.0.1: Permission denied (publickey).\r\n") == \
        SshAuthProbe("n", ("publickey",))
    assert parse_auth_methods("n", "x: Permission denied (publickey,password,keyboard-interactive).") == \
        SshAuthProbe("n", ("publickey", "password", "keyboard-interactive"))
    assert parse_auth_methods("n", "ssh: connect to host 10.0.0.1 port 22: Connection refused\n") == \
        SshAuthProbe("n", (), "ssh: connect to host 10.0.0.1 port 22: Connection refused")
    assert parse_auth_methods("n", "") == SshAuthProbe("n", (), "no answer")


def test_authorized_keys_patterns_are_expanded_for_every_user(tmp_path: Path) -> None:
    """The awk that expands AuthorizedKeysFile tokens (%h, %u, %U, %%), run by sh against a fake
    sshd and passwd database."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    (bin_dir / "sshd").write_text("#!/bin/sh\necho 'authorizedkeysfile %h/.ssh/keys_%u "
                                  f"{tmp_path}/byuid/%U {tmp_path}/pct%%h none'\n")
    (bin_dir / "getent").write_text(f"#!/bin/sh\nprintf 'alice:x:1001:1001::{home}/alice/:/bin/sh\\n"
                                    f"bob:x:1002:1002::{home}/bob:/bin/sh\\n'\n")
    for f in (bin_dir / "sshd", bin_dir / "getent"):
        f.chmod(0o755)
    files = {home / "alice" / ".ssh" / "keys_alice": "ssh-ed25519 AAAA alice",
             tmp_path / "byuid" / "1002": "ssh-ed25519 BBBB bob",
             tmp_path / "pct%h": "ssh-ed25519 CCCC both",
             home / "bob" / ".ssh" / "authorized_keys": "ssh-ed25519 DDDD bob2"}
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    r = subprocess.run(["sh", "-c", f"PATH={shlex.quote(str(bin_dir))}:$PATH\n{_AK_SCRIPT}"], capture_output=True,
                       text=True, check=True)
    found = {(line.split("|")[0].removeprefix("@@akfile "), line.rsplit("|", 1)[1])
             for line in r.stdout.splitlines() if line.startswith("@@akfile ")}
    # %h is the home as passwd has it (sshd expands it so): alice's trailing slash stays
    assert found == {("alice", f"{home}/alice//.ssh/keys_alice"), ("bob", str(tmp_path / "byuid" / "1002")),
                     ("alice", str(tmp_path / "pct%h")), ("bob", str(tmp_path / "pct%h")),
                     ("bob", str(home / "bob" / ".ssh" / "authorized_keys"))}
    assert " ssh-ed25519 DDDD bob2" in r.stdout.splitlines()


def test_sshd_config_words_split_as_shlex_does() -> None:
    """The fast path of ``_config_words`` (plain lines without shlex) splits as shlex would."""
    rng = random.Random(7)
    chars = [chr(i) for i in range(128) if len(f"a{chr(i)}a".splitlines()) == 1] + ["é", "\u00a0"]
    for _ in range(5000):
        line = "".join(rng.choice(chars) if rng.random() < 0.15 else rng.choice(" \tab=,*/\"#\\'")
                       for _ in range(rng.randint(0, 12)))
        try:
            want = shlex.split(line, comments=True)
        except ValueError:
            want = line.split()
        assert _config_words(line) == want, repr(line)


def test_the_path_map_and_the_page_say_which_proofs_were_reused() -> None:
    from kubeward.audit.model import AuditReport
    from kubeward.audit.paths import path_status
    from kubeward.audit.report import render_html, render_path_map

    obs = observations()
    live = {p.spec.name: p.evidence for p in path_status(AuditReport([], obs, []))}
    assert "reused" not in live["operator -> sshd"]
    obs.reused_from, obs.reuse = "2026-11-30T11:00:00+00:00", "live probes reused from 2026-11-30 11:00:00 UTC"
    report = AuditReport([], obs, [])
    reused = {p.spec.name: (p.status, p.evidence) for p in path_status(report)}
    assert reused["operator -> sshd"] == ("proven", live["operator -> sshd"] + " (ssh-auth probe of "
                                          "2026-11-30T11:00:00+00:00, reused: every node's ruleset, sockets, "
                                          "routes and sshd unchanged since)")
    assert "reused" not in reused["API server -> etcd"][1]  # TLS through SSH: live every run
    assert "peer probe of 2026-11-30T11:00:00+00:00, reused" in render_path_map(report)
    assert '<p id="reuse">live probes reused from 2026-11-30 11:00:00 UTC</p>' in render_html(report, [], "c")
    assert 'id="reuse"' not in render_html(AuditReport([], observations(), []), [], "c")


def test_a_tls_probe_reads_the_certificate_status_and_refused_legacy_versions(tmp_path: Path) -> None:
    """``tls_probe`` (the served handshake and the TLS 1.1/1.0 attempts run at once) against a real
    TLS 1.2+ server on loopback that answers 401, with a certificate of a test CA."""
    import asyncio
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from kubeward.audit.model import TlsProbe
    from kubeward.audit.probe import tls_probe
    from kubeward.catalog.matrix import MatrixRow

    def cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
             ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(NOW - DAY).not_valid_after(NOW + 400 * DAY)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("cp-1"),
                                                             x509.IPAddress(ipaddress.ip_address("10.0.0.10"))]),
                                critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("test-ca", ca_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")]), ca_key, True)
    leaf = cert("cp-1", leaf_key, ca.subject, ca_key, False)
    (tmp_path / "crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    server_ctx.load_cert_chain(tmp_path / "crt", tmp_path / "key")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go() -> TlsProbe:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        row = MatrixRow("kube-apiserver", "kube-apiserver", None, "tcp", ("control-plane",), "private", (), "TLS+token",
                        True, True, "test")
        try:
            return await tls_probe(port, "cp-1", {"cp-1", "10.0.0.10"}, row, 6443, "ca", ca)
        finally:
            server.close()

    probe = asyncio.run(go())
    assert (probe.handshake, probe.legacy_tls_accepted, probe.chain_ok, probe.san_ok, probe.http_status,
            probe.client_cert_required, probe.sans) == ("ok", "", True, True, 401, False, ("cp-1", "10.0.0.10"))
