"""Pure evaluation of the audit's observations against the port matrix and kubeward's policy.

Every check is a function over (inputs, observations) yielding findings; ``CHECKS`` is the table of
them, so a reader sees every check, its id and its severity in one place.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kubeward.audit.kube_api import CertExpiry, evaluate_expiry, evaluate_kube, utcnow
from kubeward.audit.kube_checks import COMPONENTS, Skipped, evaluate_components
from kubeward.audit.model import Finding, Incomplete, Listener, Observations, Severity
from kubeward.audit.sshd_policy import SSHD_ALLOWED, sshd_deviations
from kubeward.catalog.matrix import MatrixRow, expand_source, rows_for_host
from kubeward.components.version import Version
from kubeward.config import ClusterConfig, HostConfig
from kubeward.kube.csr_policy import host_identity
from kubeward.preflight.facts import PROBE_NAME, PROBE_PORT


@dataclass(frozen=True)
class ExpectedFile:
    path: str
    owner: str
    mode: int
    secret: bool  # a private key or token: must not be readable by others


@dataclass
class AuditInputs:
    config: ClusterConfig
    matrix: list[MatrixRow]
    compiled_firewall_sha: dict[str, str] = field(default_factory=dict)  # node -> sha256 of its ruleset
    expected_files: dict[str, list[ExpectedFile]] = field(default_factory=dict)
    ca_key_shas: dict[str, str] = field(default_factory=dict)  # sha256 of a CA private key -> CA name
    ca_keys_allowed: dict[str, set[str]] = field(default_factory=dict)  # node -> CA names it may hold
    #: public key of each CA, as the node reports it ("spki:SHA256" of the DER SubjectPublicKeyInfo,
    #: "ssh:SHA256" of the OpenSSH public key blob) -> CA name: any encoding of the key matches
    ca_key_fingerprints: dict[str, str] = field(default_factory=dict)
    #: node -> user -> the base64 key blobs kubeward puts in that user's authorized_keys (absent: none)
    authorized_keys: dict[str, dict[str, set[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title: str
    run: Callable[[AuditInputs, Observations], Iterator[Finding]]


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_preflight_listener(x: Listener) -> bool:
    """Preflight's short-lived listener (``kubeward-probe`` on the kubelet's port): `up` reads the
    audit's facts in the same round-trip as preflight's, while it may still be up. Only that name on
    that port: a process can call itself anything, and 10250 is probed from everywhere anyway."""
    return x.process == PROBE_NAME and x.port == PROBE_PORT and x.protocol == "tcp"


def _wildcard(addr: str) -> bool:
    return addr in ("*", "0.0.0.0", "::", "[::]")


def _row_for(config: ClusterConfig, matrix: list[MatrixRow], host: HostConfig, port: int,
             protocol: str) -> MatrixRow | None:
    for row in rows_for_host(matrix, host):
        if row.protocol == protocol and row.ports is not None and row.ports.lo <= port <= row.ports.hi:
            return row
    return None


def port_allowed(inp: AuditInputs, target: str, port: int, protocol: str, source_address: str) -> bool:
    """Whether the port matrix lets ``source_address`` reach ``port`` on node ``target``."""
    row = _row_for(inp.config, inp.matrix, inp.config.host(target), port, protocol)
    return _allowed(inp.config, row, source_address)


def _allowed(config: ClusterConfig, row: MatrixRow | None, source_address: str) -> bool:
    if row is None or row.closed:
        return False
    try:
        ip = ipaddress.ip_address(source_address)
    except ValueError:
        return False
    return any(ip in net for s in row.sources for net in expand_source(config, s))


# ----- listeners (local vantage) ---------------------------------------------------------------
def check_listeners(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    config = inp.config
    for h in config.hosts:
        lo = obs.local.get(h.name)
        if lo is None:
            continue
        for x in lo.listeners:
            if _is_loopback(x.address) or is_preflight_listener(x):
                continue
            where = f"{x.address}:{x.port}/{x.protocol} ({x.process or 'unknown process'})"
            row = _row_for(config, inp.matrix, h, x.port, x.protocol)
            if row is None:
                sev: Severity = "medium" if x.protocol == "tcp" else "low"
                yield Finding("KW-LISTEN-UNLISTED", sev, h.name, "listening on a port the matrix does not list",
                              f"{where} listens beyond loopback", "stop it, bind it to 127.0.0.1, or add it to "
                              "firewall.extra_ports if it must be reachable", x.port, x.protocol, "local")
            elif row.closed:
                yield Finding("KW-LISTEN-FORBIDDEN", "high", h.name, f"{row.component} must be disabled",
                              f"{where} listens; the matrix says nobody may reach {row.component}",
                              f"disable it ({row.description})", x.port, x.protocol, "local")
            elif row.bind == "loopback":
                yield Finding("KW-BIND-WIDE", "high", h.name, f"{row.component} must listen on loopback only",
                              f"{where} listens beyond 127.0.0.1", f"bind {row.component} to 127.0.0.1",
                              x.port, x.protocol, "local")
            elif row.bind == "private" and (_wildcard(x.address) or x.address != str(h.private_address)):
                yield Finding("KW-BIND-PUBLIC", "high", h.name, f"{row.component} must listen on the private "
                              "address only", f"{where} listens on {x.address}, not only on "
                              f"{h.private_address}", f"bind {row.component} to {h.private_address} (and 127.0.0.1)",
                              x.port, x.protocol, "local")


# ----- reachability (outside and peer vantages) ---------------------------------------------------
class _Matrix:
    """Row lookups and source matching for many probes: each host's rows, each row's networks and
    each address parsed once (a 30-node audit judges about 5000 probes)."""

    def __init__(self, inp: AuditInputs) -> None:
        self.inp = inp
        self._rows: dict[str, list[MatrixRow]] = {}
        self._nets: dict[int, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}
        self._ips: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None] = {}
        self._allowed: dict[tuple[int, str], bool] = {}
        self._row: dict[tuple[str, int, str], MatrixRow | None] = {}

    def row(self, node: str, port: int, protocol: str) -> MatrixRow | None:
        """The first of the node's rows that names the port (as ``_row_for``), looked up once."""
        key = (node, port, protocol)
        if key not in self._row:
            rows = self._rows.get(node)
            if rows is None:
                rows = self._rows[node] = rows_for_host(self.inp.matrix, self.inp.config.host(node))
            self._row[key] = next((r for r in rows if r.protocol == protocol and r.ports is not None
                                   and r.ports.lo <= port <= r.ports.hi), None)
        return self._row[key]

    def allowed(self, row: MatrixRow | None, source_address: str) -> bool:
        if row is None or row.closed:
            return False
        key = (id(row), source_address)
        if key not in self._allowed:
            self._allowed[key] = self._match(row, source_address)
        return self._allowed[key]

    def _match(self, row: MatrixRow, source_address: str) -> bool:
        if source_address not in self._ips:
            try:
                self._ips[source_address] = ipaddress.ip_address(source_address)
            except ValueError:
                self._ips[source_address] = None
        ip = self._ips[source_address]
        if ip is None:
            return False
        nets = self._nets.get(id(row))
        if nets is None:
            nets = self._nets[id(row)] = [n for s in row.sources for n in expand_source(self.inp.config, s)]
        return any(ip in net for net in nets)


def check_reachability(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    m = _Matrix(inp)
    for p in obs.ports:
        row = m.row(p.target, p.port, p.protocol)
        allowed = m.allowed(row, p.source_address)
        who = "the operator's machine" if p.vantage == "outside" else f"{p.source} ({p.source_address})"
        if p.state == "open" and not allowed:
            what = row.component if row else "unlisted port"
            yield Finding(f"KW-EXPOSED-{p.vantage.upper()}", "high", p.target,
                          f"{what} reachable from {'outside' if p.vantage == 'outside' else 'a peer'}",
                          f"{p.address}:{p.port}/{p.protocol} answers {who}; the matrix does not allow it",
                          "check the firewall (kubeward up applies it) and what listens there",
                          p.port, p.protocol, p.vantage)
        elif p.state in ("closed", "filtered") and allowed and row is not None and not row.local_only:
            target_local = obs.local.get(p.target)
            listening = target_local is not None and any(
                x.port == p.port and x.protocol == p.protocol and not _is_loopback(x.address)
                and not is_preflight_listener(x) for x in target_local.listeners)
            if listening:
                yield Finding(f"KW-BLOCKED-{p.vantage.upper()}", "medium", p.target,
                              f"{row.component} not reachable from {who}",
                              f"{p.address}:{p.port}/{p.protocol} is {p.state} from {who}, but the matrix says "
                              f"{', '.join(map(str, row.sources))} must reach it", "check the firewall and routes",
                              p.port, p.protocol, p.vantage)


def check_outside_sweep(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    """Without the sweep of every TCP port, a DNAT into another namespace could hide: say so."""
    if not obs.sweep_error:
        return
    for node in obs.local:
        yield Finding("KW-SWEEP-INCOMPLETE", "high", node, "not every TCP port was scanned from outside",
                      obs.sweep_error, "raise the open-files limit of this machine (ulimit -n) and audit again",
                      None, "tcp", "outside")


# ----- TLS and anonymous HTTP -----------------------------------------------------------------
def check_tls(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    rows = {r.key: r for r in inp.matrix}
    for t in obs.tls:
        row = rows.get(t.row)
        name = row.component if row else t.row
        if t.legacy_tls_accepted:
            yield Finding("KW-TLS-LEGACY", "high", t.target, f"{name} accepts {t.legacy_tls_accepted}",
                          f"a {t.legacy_tls_accepted} handshake succeeded on port {t.port}",
                          "require TLS 1.2 or later", t.port, "tcp", "peer")
        if t.handshake == "ok" and not t.chain_ok:
            yield Finding("KW-TLS-CHAIN", "high", t.target, f"{name}'s certificate does not chain to {t.expected_ca}",
                          t.chain_error, f"serve a certificate issued by kubeward's {t.expected_ca} "
                          "(kubeward pki issue; kubeward up)", t.port, "tcp", "peer")
        if t.handshake == "ok" and t.chain_ok and not t.san_ok:
            yield Finding("KW-TLS-SAN", "medium", t.target, f"{name}'s certificate does not name the node",
                          f"SANs: {', '.join(t.sans) or 'none'}", "re-issue it (kubeward pki renew)",
                          t.port, "tcp", "peer")
        if t.row == "kubelet" and t.handshake == "ok" and t.sans:
            own = _own_names(inp, t.target)
            foreign = [n for n in t.sans if n.lower() not in own]
            if foreign:
                yield Finding("KW-TLS-SAN-FOREIGN", "high", t.target,
                              "the kubelet's serving certificate names more than its node",
                              f"SANs not of {t.target} in cluster.yml: {', '.join(foreign)}",
                              "deny such CSRs (kubeward's policy does) and rotate the certificate", t.port, "tcp",
                              "peer")
        if row is not None and row.auth == "mTLS" and t.client_cert_required is False:
            yield Finding("KW-TLS-NO-CLIENT-AUTH", "critical", t.target,
                          f"{name} accepts clients without a certificate",
                          f"a TLS client without a certificate was served on port {t.port}"
                          + (f" (HTTP {t.http_status} for {t.http_path})" if t.http_status else ""),
                          "turn client certificate authentication on (etcd: client-cert-auth / "
                          "peer-client-cert-auth)", t.port, "tcp", "peer")
        elif (t.http_status == 200 or (t.http_status == 403 and (row is None or row.key not in ANONYMOUS_BY_DESIGN))) \
                and row is not None and row.auth != "none":
            yield Finding("KW-HTTP-ANONYMOUS", "high", t.target, f"{name} serves anonymous requests",
                          f"anonymous GET {t.http_path} answered {t.http_status} (only 401 is acceptable; "
                          "403 means anonymous authentication is on)", "turn anonymous authentication off",
                          t.port, "tcp", "peer")


def _own_names(inp: AuditInputs, node: str) -> set[str]:
    h = inp.config.host(node)
    return {h.name.lower(), str(h.address), str(h.private_address)}


#: services whose delegated authentication always admits anonymous requests (hard-wired in 1.20's
#: k8s.io/apiserver) and whose authorization then refuses them (403) except on /healthz, /readyz and
#: /livez; they listen on loopback only. A 200 is still a finding.
ANONYMOUS_BY_DESIGN = frozenset({"kube-controller-manager", "kube-scheduler"})


# ----- SSH --------------------------------------------------------------------------------------
#: kept for callers of the old deny-list: the allow-list in ``sshd_policy.SSHD_ALLOWED`` is what is judged
SSHD_REQUIRED = {k: min(v) for k, v in SSHD_ALLOWED.items() if len(v) == 1}
SSHD_ALGORITHMS = {
    "ciphers": {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"},
    "macs": {"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"},
    "kexalgorithms": {"mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com", "sntrup761x25519-sha512",
                      "curve25519-sha256", "curve25519-sha256@libssh.org"},
    "hostkeyalgorithms": {"ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"},
}


def check_ssh(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    for a in obs.ssh_auth:
        if a.methods and set(a.methods) != {"publickey"}:
            yield Finding("KW-SSH-AUTH-METHODS", "high", a.target, "sshd offers more than public keys",
                          f"offered to an unauthenticated client: {', '.join(a.methods)}",
                          "AuthenticationMethods publickey; PasswordAuthentication no (kubeward up)",
                          inp.config.host(a.target).ssh.port, "tcp",
                          "outside")
    for node, lo in obs.local.items():
        if not lo.sshd:
            continue
        global_bad = {}
        for k, got, want in sshd_deviations(lo.sshd):
            global_bad[k] = got
            yield Finding("KW-SSHD-SETTING", "high", node, f"sshd {k} is {got}",
                          f"sshd -T: {k} {got}", f"{k} {want} (kubeward's sshd drop-in; another file or "
                          "sshd_config itself sets it first)", None, None, "local")
        for ctx in lo.sshd_contexts:
            for k, got, want in sshd_deviations(ctx.settings):
                if global_bad.get(k) == got:
                    continue  # the global finding says it already
                yield Finding("KW-SSHD-MATCH", "high", node, f"sshd {k} is {got} in a Match context",
                              f"sshd -T -C {ctx.spec}: {k} {got}, selected by {ctx.source}",
                              f"remove it from that Match block or set {k} {want} there: kubeward hardens "
                              "the global context, a Match block may not loosen it", None, None, "local")
        for k, allowed in SSHD_ALGORITHMS.items():
            got_algs = set(lo.sshd.get(k, "").split(",")) - {""}
            extra = sorted(got_algs - allowed)
            if extra:
                yield Finding("KW-SSHD-ALGORITHMS", "medium", node, f"sshd allows weaker {k}",
                              f"sshd -T {k}: {', '.join(extra)} beyond the hardened set",
                              "kubeward's sshd drop-in restricts them; another file may override it", None, None,
                              "local")


def check_authorized_keys(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    """Every key any authorized_keys file grants, against the keys kubeward put there."""
    for node, lo in obs.local.items():
        expected = inp.authorized_keys.get(node, {})
        for k in lo.authorized_keys:
            if k.key_type == "unparsed":
                yield Finding("KW-SSH-KEY-UNKNOWN", "low", node, f"unreadable line in {k.path}",
                              f"{k.path}:{k.line}: {k.blob}", "remove it", None, None, "local")
                continue
            if k.blob in expected.get(k.user, set()):
                continue
            who = "root" if k.user == "root" else f"user {k.user}"
            opts = f" with options {k.options}" if k.options else ""
            yield Finding("KW-SSH-KEY-UNKNOWN", "high", node, f"an unknown key may log in as {who}",
                          f"{k.path}:{k.line}: {k.key_type} {k.blob[:24]}...{k.blob[-12:]}{opts} is not a key "
                          f"kubeward expects for {k.user}",
                          f"remove it (kubeward expects {'no key' if not expected.get(k.user) else 'only its own'} "
                          f"for {k.user}; the admin's key comes from cluster.yml admin.ssh_public_key)",
                          None, None, "local")


# ----- files ------------------------------------------------------------------------------------
def check_files(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    for node, lo in obs.local.items():
        stats = {f.path: f for f in lo.files}
        for e in inp.expected_files.get(node, []):
            st = stats.get(e.path)
            if st is None:
                continue
            if e.secret and (st.mode & 0o077 or st.owner != e.owner):
                yield Finding("KW-FILE-SECRET-MODE", "high", node, f"{e.path} is readable beyond its owner",
                              f"{st.owner}:{st.group} {st.mode:04o}", f"chown {e.owner} and chmod {e.mode:04o} "
                              "(kubeward up restores it)", None, None, "local")
            elif not e.secret and (st.mode & 0o022 or st.owner != e.owner):
                yield Finding("KW-FILE-MODE", "medium", node, f"{e.path} has a loose owner or mode",
                              f"{st.owner}:{st.group} {st.mode:04o}", f"chown {e.owner}; chmod {e.mode:04o}",
                              None, None, "local")
        allowed = inp.ca_keys_allowed.get(node, set())
        by_public_key = {k.path for k in lo.private_keys if any(fp in inp.ca_key_fingerprints for fp in k.fingerprints)}
        for st in lo.files:
            ca = inp.ca_key_shas.get(st.sha256)
            if ca is not None and ca not in allowed and st.path not in by_public_key:
                yield Finding("KW-CA-KEY-ON-NODE", "critical", node, f"the {ca} private key is on this node",
                              f"{st.path} ({st.owner}:{st.group} {st.mode:04o}) is a copy of the {ca} key",
                              f"remove it: only the operator's machine needs the {ca} key "
                              "(pki.ca_keys_on_nodes)", None, None, "local")


def check_private_keys(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    """Every private key found on a node, judged by what it is: readable by others, or a CA's key."""
    for node, lo in obs.local.items():
        expected = {e.path for e in inp.expected_files.get(node, []) if e.secret}
        allowed = inp.ca_keys_allowed.get(node, set())
        for k in lo.private_keys:
            cas = sorted({inp.ca_key_fingerprints[fp] for fp in k.fingerprints if fp in inp.ca_key_fingerprints})
            for ca in cas:
                if ca not in allowed:
                    yield Finding("KW-CA-KEY-ON-NODE", "critical", node, f"the {ca} private key is on this node",
                                  f"{k.path} ({k.owner}:{k.group} {k.mode:04o}) holds the {ca} key (same public "
                                  "key, whatever its encoding)", f"remove it: only the operator's machine needs "
                                  f"the {ca} key (pki.ca_keys_on_nodes)", None, None, "local")
            if k.mode & 0o006 and k.path not in expected:
                yield Finding("KW-KEY-READABLE", "high", node, f"{k.path} holds a private key others can "
                              f"{'read' if k.mode & 0o004 else 'write'}",
                              f"{k.owner}:{k.group} {k.mode:04o}", "chmod 0600 it (or remove the copy)",
                              None, None, "local")


def proof_gaps(inp: AuditInputs, obs: Observations) -> list[Incomplete]:
    """What was not proven: vantage points and checks that could not run, and why (pure)."""
    out = list(obs.incomplete) + component_gaps(inp, obs)
    for node, why in obs.unreachable.items():
        out.append(Incomplete(node, "local", f"the node could not be audited over SSH: {why}"))
    probed = {a.target for a in obs.ssh_auth}
    for a in obs.ssh_auth:
        if not a.methods:
            out.append(Incomplete(a.target, "ssh-auth", "the SSH authentication-methods probe got no answer: "
                                  + (a.error or "sshd named no method")))
    for node, lo in obs.local.items():
        if node not in probed:
            out.append(Incomplete(node, "ssh-auth", "the SSH authentication-methods probe did not run"))
        out += [Incomplete(node, check, why) for check, why in lo.gaps]
        if not any(c == "keys" for c, _ in lo.gaps):
            out += [Incomplete(node, "keys", f"{k.path} holds a private key kubeward could not identify (encrypted "
                               "or an unknown format): whether it is a CA key is not proven")
                    for k in lo.private_keys if k.marker and not k.fingerprints]
    return sorted(set(out), key=lambda i: (i.node, i.check, i.reason))


# ----- firewall ---------------------------------------------------------------------------------
def firewall_proven(inp: AuditInputs, obs: Observations) -> set[str]:
    """Nodes whose live table is the one kubeward applied and the one cluster.yml compiles to: they
    behave as every other node of their role, so the peer scan may sample sources (``sampling``)."""
    if not inp.config.firewall.enabled:
        return set()
    return {node for node, lo in obs.local.items()
            if lo.firewall_live_sha and lo.firewall_live_sha == lo.firewall_recorded_sha
            and lo.firewall_persisted_sha and lo.firewall_persisted_sha == inp.compiled_firewall_sha.get(node)}


def check_firewall(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    if not inp.config.firewall.enabled:
        return
    for node, lo in obs.local.items():
        if not lo.firewall_live_sha:
            yield Finding("KW-FW-MISSING", "high", node, "kubeward's firewall table is not loaded",
                          "no table inet kubeward in the kernel", "kubeward up (or kubeward up --only firewall)",
                          None, None, "local")
            continue
        if lo.firewall_recorded_sha and lo.firewall_live_sha != lo.firewall_recorded_sha:
            yield Finding("KW-FW-DRIFT", "high", node, "kubeward's firewall table was changed by hand",
                          "the live table differs from what kubeward applied", "kubeward up restores it",
                          None, None, "local")
        compiled = inp.compiled_firewall_sha.get(node)
        if compiled and lo.firewall_persisted_sha and compiled != lo.firewall_persisted_sha:
            yield Finding("KW-FW-OUTDATED", "medium", node, "the firewall is not the one cluster.yml compiles to",
                          "the applied ruleset differs from the compiled one", "kubeward up", None, None, "local")


# ----- Kubernetes and etcd components, as they run -------------------------------------------------
def _fallback_version(inp: AuditInputs) -> Version | None:
    k = inp.config.kubernetes
    try:
        return Version.parse(k.version) if k.version else None
    except ValueError:
        return None


def expected_components(inp: AuditInputs, node: str) -> tuple[str, ...]:
    """What must run on a node of a Kubernetes-enabled cluster (none when Kubernetes is off)."""
    if not inp.config.kubernetes.enabled:
        return ()
    if inp.config.host(node).is_control_plane:
        return COMPONENTS
    return ("kubelet", "kube-proxy")


def check_components(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    for node, lo in obs.local.items():
        yield from evaluate_components(node, lo.components, _fallback_version(inp))[0]


def component_skips(inp: AuditInputs, obs: Observations) -> list[Skipped]:
    """Component checks that do not apply to the running version, per node: listed, not passed."""
    return [s for node, lo in obs.local.items()
            for s in evaluate_components(node, lo.components, _fallback_version(inp))[1]]


def component_gaps(inp: AuditInputs, obs: Observations) -> list[Incomplete]:
    out = []
    for node, lo in obs.local.items():
        out += [Incomplete(node, "components", g)
                for g in evaluate_components(node, lo.components, _fallback_version(inp))[2]]
        running = {c.name for c in lo.components}
        out += [Incomplete(node, "components", f"{name} is not running: its configuration was not judged")
                for name in expected_components(inp, node) if name not in running]
    return out


# ----- the Kubernetes API, etcd's stored Secrets, certificate expiry ------------------------------
def check_kube_api(inp: AuditInputs, obs: Observations) -> Iterator[Finding]:
    now = utcnow()
    if obs.kube is not None:
        inventory = {h.name: host_identity(h.name, [str(h.address), str(h.private_address)])
                     for h in inp.config.hosts}
        yield from evaluate_kube(obs.kube, inventory, now)
    certs = [CertExpiry("", f"{name} (state directory)", datetime.fromisoformat(na)) for name, na in obs.state_certs]
    # every certificate a TLS port served this run (API server, etcd, kubelet, controller-manager,
    # scheduler), and the kubelet's client certificate on each node
    certs += [CertExpiry(t.target, f"{t.row} serving certificate ({t.port})", datetime.fromisoformat(t.not_after),
                         t.port) for t in obs.tls if t.not_after]
    certs += [CertExpiry(node, path, datetime.fromisoformat(na)) for node, lo in obs.local.items()
              for path, na in lo.cert_expiry.items()]
    yield from evaluate_expiry(certs, inp.config.pki.renew_before_days, now)


CHECKS: tuple[Check, ...] = (
    Check("listeners", "high", "listeners and bind addresses against the port matrix", check_listeners),
    Check("reachability", "high", "open and closed ports from outside and from peers", check_reachability),
    Check("outside-sweep", "high", "every TCP port scanned from outside", check_outside_sweep),
    Check("tls", "high", "TLS versions, chains, SANs, client certificates, anonymous HTTP", check_tls),
    Check("ssh", "high", "SSH authentication methods and sshd settings in every Match context", check_ssh),
    Check("files", "high", "key and kubeconfig modes, CA keys on nodes", check_files),
    Check("private-keys", "critical", "every private key on a node: readable by others, a copy of a CA key",
          check_private_keys),
    Check("authorized-keys", "high", "every authorized_keys line against the keys kubeward expects",
          check_authorized_keys),
    Check("firewall", "high", "kubeward's nftables table present and as compiled", check_firewall),
    Check("components", "high", "Kubernetes and etcd components against the CIS checks", check_components),
    Check("kube-api", "high", "RBAC, bootstrap tokens, CSRs, Secrets at rest, certificate expiry", check_kube_api),
)

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def evaluate(inp: AuditInputs, obs: Observations) -> list[Finding]:
    out: list[Finding] = []
    for node, why in obs.unreachable.items():
        out.append(Finding("KW-UNREACHABLE", "high", node, "node could not be audited", why,
                           "check SSH access (kubeward preflight)"))
    for check in CHECKS:
        out.extend(check.run(inp, obs))
    seen: set[tuple[object, ...]] = set()
    unique = []
    for f in out:
        key = (f.id, f.node, f.port, f.protocol, f.vantage, f.observed)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return sorted(unique, key=lambda f: (f.node, SEVERITY_ORDER[f.severity], f.id, f.port or 0))


def parse_listeners(ss_output: str) -> list[Listener]:
    """``ss -Htlnup`` lines: Netid State Recv-Q Send-Q Local:Port Peer:Port Process."""
    out = []
    for line in ss_output.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp"):
            continue
        local = parts[4]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        proc = ""
        if 'users:(("' in line:
            proc = line.split('users:(("', 1)[1].split('"', 1)[0]
        try:
            out.append(Listener(parts[0], addr, int(port), proc))
        except ValueError:
            continue
    return out
