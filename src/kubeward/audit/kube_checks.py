"""Checks of the Kubernetes and etcd components as they really run (pure).

Input: each node's :class:`RunningComponent` values (``/proc/PID/cmdline``, the ``ETCD_*``
environment, the binary's ``--version``, the configuration files its flags name, read by the
audit's local script). Output: findings and the checks skipped because they do not apply to the
running version. The checks are rows of one table (:data:`COMPONENT_CHECKS`): id, CIS Kubernetes
Benchmark id (kube-bench numbering: cis-1.20 for 1.20, cis-1.12 for current releases), component,
severity, the versions it applies to, a test and the fix; :func:`evaluate_components` walks it.

A test returns ``None`` when the component passes, else what it observed. Values are resolved the
way each component resolves them: flags win over the kubelet's ``--config`` file, whose defaults are
the safe ones (no anonymous requests, Webhook authorization, no read-only port), while a kubelet
without a config file gets the flag defaults (anonymous, AlwaysAllow, 10255); etcd 3.4 with
``--config-file`` ignores its flags and environment; kube-proxy's ``--config`` wins over its flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kubeward.audit.model import Finding, RunningComponent, Severity
from kubeward.components.version import Span, Version, v

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy")
#: /proc/PID/comm is cut at 15 characters
COMM_NAMES = {"kube-apiserver": "kube-apiserver", "kube-controller": "kube-controller-manager",
              "kube-scheduler": "kube-scheduler", "etcd": "etcd", "kubelet": "kubelet", "kube-proxy": "kube-proxy"}
#: AEAD suites only (kube-bench's valid_elements, less CBC and RSA key exchange)
STRONG_CIPHERS = frozenset({
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
})
STRONG_PROVIDERS = ("aescbc", "kms", "secretbox", "aesgcm")


# ----- what a component runs with --------------------------------------------------------------
def parse_flags(args: Iterable[str]) -> dict[str, str]:
    """``--name=value``, ``--name value`` and bare boolean ``--name`` (= "true"); the last one wins,
    as in pflag. ``args[0]`` (the program) and positional words are ignored."""
    out: dict[str, str] = {}
    items = list(args)[1:]
    i = 0
    while i < len(items):
        a = items[i]
        i += 1
        if not a.startswith("-") or a in ("-", "--"):
            continue
        name, eq, value = a.lstrip("-").partition("=")
        if not eq:
            if i < len(items) and not items[i].startswith("-"):
                value = items[i]
                i += 1
            else:
                value = "true"
        out[name] = value
    return out


def parse_version(text: str) -> Version | None:
    m = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", text)
    return Version.parse(m.group(1)) if m else None


@dataclass(frozen=True)
class Running:
    """One running component, resolved: its flags, its parsed config file, its version."""

    name: str
    flags: Mapping[str, str]
    config: Mapping[str, Any]  # the --config / --config-file YAML, {} without one
    has_config: bool
    env: Mapping[str, str]
    version: Version | None
    files: Mapping[str, str]  # flag -> text of each file read (encryption config: secrets redacted)

    def flag(self, name: str, default: str | None = None) -> str | None:
        return self.flags.get(name, default)

    def field(self, path: str, default: Any = None) -> Any:
        cur: Any = self.config
        for part in path.split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                return default
            cur = cur[part]
        return cur


#: libyaml's safe loader when PyYAML has it (the same documents, ten times faster: the audit reads
#: every component's config file a few times per node)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def resolve(rc: RunningComponent) -> tuple[Running, str]:
    """A :class:`Running` and, when a config file could not be parsed, why ("" otherwise)."""
    files = {c.flag: c.text for c in rc.configs}
    problem = ""
    config: Any = {}
    key = "config-file" if rc.name == "etcd" else "config"
    if key in files:
        try:
            config = yaml.load(files[key], Loader=SAFE_LOADER) or {}
        except yaml.YAMLError as exc:
            problem = f"{rc.name}'s --{key} could not be parsed: {exc}"
        if not isinstance(config, dict):
            config, problem = {}, problem or f"{rc.name}'s --{key} is not a YAML mapping"
    env = dict(e.partition("=")[::2] for e in rc.env)
    return Running(rc.name, parse_flags(rc.args), config, key in files and not problem, env,
                   parse_version(rc.version), files), problem


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return None


def _gates(text: str | None) -> dict[str, str]:
    return dict(g.partition("=")[::2] for g in (text or "").split(",") if g)


def kubelet(r: Running, flag: str, path: str, file_default: Any, flag_default: Any) -> Any:
    """A kubelet setting: the flag, else the config file's field, else the default of the way it
    was configured (a config file's defaults are safe, the flags' are not)."""
    if flag in r.flags:
        return r.flags[flag]
    if r.has_config:
        return r.field(path, file_default)
    return flag_default


def etcd(r: Running, flag: str, section: str = "") -> Any:
    """An etcd setting: from --config-file when there is one (etcd then ignores flags and env)."""
    if r.has_config:
        return r.field(f"{section}.{flag}" if section else flag)
    env = "ETCD_" + flag.upper().replace("-", "_")
    return r.flags.get(flag, r.env.get(env))


def proxy(r: Running, flag: str, path: str, default: str) -> str:
    if r.has_config:
        value = r.field(path)
        return default if value in (None, "") else str(value)
    return r.flags.get(flag, default)


def _loopback_bind(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address
    host = host.strip("[]")
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


# ----- the table -------------------------------------------------------------------------------
Test = Callable[[Running], "str | None"]


@dataclass(frozen=True)
class ComponentCheck:
    id: str
    cis: str
    component: str
    severity: Severity
    title: str
    test: Test
    fix: str
    span: Span = Span()
    port: int | None = None


def _need(r: Running, *flags: str) -> str | None:
    missing = [f"--{f}" for f in flags if not r.flags.get(f)]
    return f"{', '.join(missing)} not set" if missing else None


def _equals(name: str, want: str, default: str | None) -> Test:
    def test(r: Running) -> str | None:
        got = r.flag(name, default)
        return None if got == want else f"--{name}={got}" + (" (the default)" if name not in r.flags else "")
    return test


def _absent(name: str) -> Test:
    return lambda r: f"--{name}={r.flags[name]}" if name in r.flags else None


def _authz(r: Running) -> str | None:
    modes = (r.flag("authorization-mode", "AlwaysAllow") or "").split(",")
    bad = []
    if "AlwaysAllow" in modes:
        bad.append("AlwaysAllow")
    bad += [f"no {m}" for m in ("Node", "RBAC") if m not in modes]
    return f"--authorization-mode={','.join(modes)}: {', '.join(bad)}" if bad else None


def _plugin_enabled(plugin: str) -> Test:
    def test(r: Running) -> str | None:
        on = (r.flag("enable-admission-plugins") or "").split(",")
        off = (r.flag("disable-admission-plugins") or "").split(",")
        return f"{plugin} not in --enable-admission-plugins" if plugin not in on or plugin in off else None
    return test


def _plugins_not(plugins: tuple[str, ...], flag: str) -> Test:
    def test(r: Running) -> str | None:
        hit = [p for p in (r.flag(flag) or "").split(",") if p in plugins]
        return f"--{flag} has {', '.join(hit)}" if hit else None
    return test


def _at_least(name: str, minimum: int) -> Test:
    def test(r: Running) -> str | None:
        got = r.flag(name)
        return None if got and got.isdigit() and int(got) >= minimum else f"--{name}={got or '(unset)'} < {minimum}"
    return test


def _ciphers(values: Any) -> str | None:
    if not values:
        return "no cipher suites set: Go's defaults include CBC suites"
    suites = values.split(",") if isinstance(values, str) else [str(x) for x in values]
    weak = [s for s in suites if s not in STRONG_CIPHERS]
    return f"weak suites: {', '.join(weak)}" if weak else None


def _encryption(r: Running) -> str | None:
    if not r.flag("encryption-provider-config"):
        return "--encryption-provider-config not set: secrets are stored in plain text in etcd"
    text = r.files.get("encryption-provider-config")
    if text is None:
        return "the encryption provider config named by --encryption-provider-config could not be read"
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return f"the encryption provider config could not be parsed: {exc}"
    for res in doc.get("resources", []) if isinstance(doc, dict) else []:
        if isinstance(res, dict) and "secrets" in (res.get("resources") or []):
            providers = [next(iter(p)) for p in res.get("providers") or [] if isinstance(p, dict) and p]
            if providers and providers[0] in STRONG_PROVIDERS:
                return None
            return f"secrets are written with provider {providers[0] if providers else '(none)'}"
    return "the encryption provider config does not cover secrets"


def _gate_not_false(gate: str, kubelet_field: bool = False) -> Test:
    def test(r: Running) -> str | None:
        gates = _gates(r.flag("feature-gates"))
        if kubelet_field and gate not in gates:
            fg = r.field("featureGates", {}) if r.has_config else {}
            value = fg.get(gate) if isinstance(fg, dict) else None
            return f"featureGates.{gate}: false" if value is False else None
        return f"--feature-gates {gate}={gates[gate]}" if gates.get(gate, "true").lower() == "false" else None
    return test


def _bind_loopback(default: str) -> Test:
    def test(r: Running) -> str | None:
        got = r.flag("bind-address", default) or default
        return None if _loopback_bind(got) else f"--bind-address={got}" + (
            " (the default)" if "bind-address" not in r.flags else "")
    return test


def _kubelet_is(flag: str, path: str, want: Any, file_default: Any, flag_default: Any, shown: str) -> Test:
    def test(r: Running) -> str | None:
        got = kubelet(r, flag, path, file_default, flag_default)
        norm = _bool(got) if isinstance(want, bool) else got
        if isinstance(want, int) and not isinstance(want, bool):
            norm = int(got) if str(got).isdigit() else got
        return None if norm == want else f"{shown}: {got}"
    return test


def _kubelet_authz(r: Running) -> str | None:
    mode = kubelet(r, "authorization-mode", "authorization.mode", "Webhook", "AlwaysAllow")
    return f"authorization mode {mode}" if mode == "AlwaysAllow" else None


def _kubelet_tls(r: Running) -> str | None:
    cert = kubelet(r, "tls-cert-file", "tlsCertFile", None, None)
    key = kubelet(r, "tls-private-key-file", "tlsPrivateKeyFile", None, None)
    bootstrap = _bool(r.field("serverTLSBootstrap", False)) if r.has_config else False
    gates = _gates(r.flag("feature-gates"))
    if (cert and key) or bootstrap or gates.get("RotateKubeletServerCertificate") == "true":
        return None
    return "neither tlsCertFile/tlsPrivateKeyFile nor serverTLSBootstrap: a self-signed serving certificate"


def _kubelet_positive(flag: str, path: str, shown: str) -> Test:
    def test(r: Running) -> str | None:
        got = kubelet(r, flag, path, None, None)
        return None if got not in (None, "", 0, "0", -1, "-1") else f"{shown}: {got if got is not None else '(unset)'}"
    return test


def _not_zero_duration(r: Running) -> str | None:
    got = kubelet(r, "streaming-connection-idle-timeout", "streamingConnectionIdleTimeout", "4h0m0s", "4h0m0s")
    return f"streamingConnectionIdleTimeout: {got}" if str(got) in ("0", "0s") else None


def _etcd_true(flag: str, section: str) -> Test:
    def test(r: Running) -> str | None:
        got = etcd(r, flag, section)
        return None if _bool(got) is True else f"{(section + '.') if r.has_config else '--'}{flag}: {got}"
    return test


def _etcd_not_true(flag: str, section: str) -> Test:
    def test(r: Running) -> str | None:
        got = etcd(r, flag, section)
        return f"{(section + '.') if r.has_config else '--'}{flag}: {got}" if _bool(got) is True else None
    return test


def _etcd_set(section: str, *flags: str) -> Test:
    def test(r: Running) -> str | None:
        missing = [f for f in flags if not etcd(r, f, section)]
        return f"{', '.join(missing)} not set ({section if r.has_config else 'flags'})" if missing else None
    return test


def _proxy_loopback(flag: str, path: str, default: str) -> Test:
    def test(r: Running) -> str | None:
        got = proxy(r, flag, path, default)
        return None if _loopback_bind(got) else f"{path}: {got}"
    return test


A, CM, S, E, K, P = COMPONENTS
UNTIL_124 = Span(until=v("1.24"))
COMPONENT_CHECKS: tuple[ComponentCheck, ...] = (
    # kube-apiserver (CIS 1.2.x)
    ComponentCheck("KW-APISERVER-ANONYMOUS", "1.2.1", A, "high", "the API server accepts anonymous requests",
                   _equals("anonymous-auth", "false", "true"), "--anonymous-auth=false", port=6443),
    ComponentCheck("KW-APISERVER-TOKEN-FILE", "1.2.2", A, "high", "static token file authentication",
                   _absent("token-auth-file"), "remove --token-auth-file"),
    ComponentCheck("KW-APISERVER-KUBELET-CLIENT", "1.2.4", A, "high",
                   "the API server has no client certificate for kubelets",
                   lambda r: _need(r, "kubelet-client-certificate", "kubelet-client-key"),
                   "--kubelet-client-certificate and --kubelet-client-key"),
    ComponentCheck("KW-APISERVER-KUBELET-CA", "1.2.5", A, "high",
                   "the API server does not verify kubelets' serving certificates",
                   lambda r: _need(r, "kubelet-certificate-authority"),
                   "--kubelet-certificate-authority=<cluster CA bundle>", port=10250),
    ComponentCheck("KW-APISERVER-AUTHZ", "1.2.6-1.2.8", A, "critical", "API authorization is not Node,RBAC",
                   _authz, "--authorization-mode=Node,RBAC", port=6443),
    ComponentCheck("KW-APISERVER-ALWAYSADMIT", "1.2.10", A, "high", "AlwaysAdmit admission plugin enabled",
                   _plugins_not(("AlwaysAdmit",), "enable-admission-plugins"), "remove AlwaysAdmit"),
    ComponentCheck("KW-APISERVER-ADMISSION-DISABLED", "1.2.12-1.2.13", A, "medium",
                   "ServiceAccount or NamespaceLifecycle admission disabled",
                   _plugins_not(("ServiceAccount", "NamespaceLifecycle"), "disable-admission-plugins"),
                   "remove them from --disable-admission-plugins"),
    ComponentCheck("KW-APISERVER-NODERESTRICTION", "1.2.14", A, "high", "NodeRestriction admission not enabled",
                   _plugin_enabled("NodeRestriction"), "--enable-admission-plugins=NodeRestriction,..."),
    ComponentCheck("KW-APISERVER-PROFILING", "1.2.15", A, "medium", "profiling endpoints on",
                   _equals("profiling", "false", "true"), "--profiling=false"),
    ComponentCheck("KW-APISERVER-AUDIT-LOG", "1.2.16", A, "medium", "no audit log",
                   lambda r: _need(r, "audit-log-path"), "--audit-log-path and --audit-policy-file"),
    ComponentCheck("KW-APISERVER-AUDIT-MAXAGE", "1.2.17", A, "low", "audit logs kept too briefly",
                   _at_least("audit-log-maxage", 30), "--audit-log-maxage=30"),
    ComponentCheck("KW-APISERVER-AUDIT-MAXBACKUP", "1.2.18", A, "low", "too few audit log backups",
                   _at_least("audit-log-maxbackup", 10), "--audit-log-maxbackup=10"),
    ComponentCheck("KW-APISERVER-AUDIT-MAXSIZE", "1.2.19", A, "low", "audit log rotated too early",
                   _at_least("audit-log-maxsize", 100), "--audit-log-maxsize=100"),
    ComponentCheck("KW-APISERVER-SA-LOOKUP", "1.2.21", A, "medium", "deleted service accounts' tokens still valid",
                   _equals("service-account-lookup", "true", "true"), "--service-account-lookup=true"),
    ComponentCheck("KW-APISERVER-SA-KEY", "1.2.22", A, "high", "no service account key file",
                   lambda r: _need(r, "service-account-key-file"), "--service-account-key-file"),
    ComponentCheck("KW-APISERVER-ETCD-TLS", "1.2.23/1.2.26", A, "high", "the API server talks to etcd without mTLS",
                   lambda r: _need(r, "etcd-certfile", "etcd-keyfile", "etcd-cafile"),
                   "--etcd-certfile, --etcd-keyfile, --etcd-cafile", port=2379),
    ComponentCheck("KW-APISERVER-TLS", "1.2.24-1.2.25", A, "high", "the API server's TLS or client CA is not set",
                   lambda r: _need(r, "tls-cert-file", "tls-private-key-file", "client-ca-file"),
                   "--tls-cert-file, --tls-private-key-file, --client-ca-file", port=6443),
    ComponentCheck("KW-APISERVER-ENCRYPTION", "1.2.27-1.2.28", A, "high", "secrets are not encrypted at rest",
                   _encryption, "--encryption-provider-config with aescbc, kms or secretbox first for secrets"),
    ComponentCheck("KW-APISERVER-CIPHERS", "1.2.29", A, "medium", "the API server allows weak TLS cipher suites",
                   lambda r: _ciphers(r.flag("tls-cipher-suites")), "--tls-cipher-suites=<AEAD suites>", port=6443),
    ComponentCheck("KW-APISERVER-INSECURE-PORT", "1.2.19 (cis-1.20)", A, "critical", "the insecure API port is on",
                   _equals("insecure-port", "0", "0"), "--insecure-port=0", UNTIL_124, port=8080),
    ComponentCheck("KW-APISERVER-INSECURE-BIND", "1.2.18 (cis-1.20)", A, "high", "--insecure-bind-address is set",
                   _absent("insecure-bind-address"), "remove --insecure-bind-address", UNTIL_124, port=8080),
    # kube-controller-manager (CIS 1.3.x)
    ComponentCheck("KW-CM-PROFILING", "1.3.2", CM, "medium", "controller-manager profiling on",
                   _equals("profiling", "false", "true"), "--profiling=false", port=10257),
    ComponentCheck("KW-CM-SA-CREDENTIALS", "1.3.3", CM, "medium", "controllers share one credential",
                   _equals("use-service-account-credentials", "true", "false"), "--use-service-account-credentials=true"),
    ComponentCheck("KW-CM-SA-KEY", "1.3.4", CM, "high", "no service account signing key",
                   lambda r: _need(r, "service-account-private-key-file"), "--service-account-private-key-file"),
    ComponentCheck("KW-CM-ROOT-CA", "1.3.5", CM, "medium", "pods do not get the cluster CA",
                   lambda r: _need(r, "root-ca-file"), "--root-ca-file"),
    ComponentCheck("KW-CM-ROTATE-SERVING", "1.3.6", CM, "medium", "kubelet serving certificate rotation disabled",
                   _gate_not_false("RotateKubeletServerCertificate"), "drop RotateKubeletServerCertificate=false"),
    ComponentCheck("KW-CM-BIND", "1.3.7", CM, "high", "the controller-manager serves beyond loopback",
                   _bind_loopback("0.0.0.0"), "--bind-address=127.0.0.1", port=10257),
    ComponentCheck("KW-CM-INSECURE-PORT", "1.3.7 (cis-1.20: --port=0)", CM, "high",
                   "the controller-manager's insecure port 10252 is on",
                   _equals("port", "0", "10252"), "--port=0", Span(until=v("1.22")), port=10252),
    # kube-scheduler (CIS 1.4.x)
    ComponentCheck("KW-SCHED-PROFILING", "1.4.1", S, "medium", "scheduler profiling on",
                   _equals("profiling", "false", "true"), "--profiling=false", port=10259),
    ComponentCheck("KW-SCHED-BIND", "1.4.2", S, "high", "the scheduler serves beyond loopback",
                   _bind_loopback("0.0.0.0"), "--bind-address=127.0.0.1", port=10259),
    ComponentCheck("KW-SCHED-INSECURE-PORT", "1.4.2 (cis-1.20: --port=0)", S, "high",
                   "the scheduler's insecure port 10251 is on",
                   _equals("port", "0", "10251"), "--port=0", Span(until=v("1.22")), port=10251),
    # etcd (CIS 2.x)
    ComponentCheck("KW-ETCD-TLS", "2.1", E, "high", "etcd serves clients without TLS",
                   _etcd_set("client-transport-security", "cert-file", "key-file"), "cert-file and key-file",
                   port=2379),
    ComponentCheck("KW-ETCD-CLIENT-CERT-AUTH", "2.2", E, "critical", "etcd does not require client certificates",
                   _etcd_true("client-cert-auth", "client-transport-security"), "client-cert-auth: true", port=2379),
    ComponentCheck("KW-ETCD-AUTO-TLS", "2.3", E, "high", "etcd uses self-signed client TLS",
                   _etcd_not_true("auto-tls", "client-transport-security"), "auto-tls: false", port=2379),
    ComponentCheck("KW-ETCD-PEER-TLS", "2.4", E, "high", "etcd peers talk without TLS",
                   _etcd_set("peer-transport-security", "cert-file", "key-file"), "peer cert-file and key-file",
                   port=2380),
    ComponentCheck("KW-ETCD-PEER-CLIENT-CERT-AUTH", "2.5", E, "critical", "etcd peers need no certificate",
                   _etcd_true("client-cert-auth", "peer-transport-security"),
                   "peer-transport-security.client-cert-auth: true", port=2380),
    ComponentCheck("KW-ETCD-PEER-AUTO-TLS", "2.6", E, "high", "etcd peers use self-signed TLS",
                   _etcd_not_true("auto-tls", "peer-transport-security"), "peer auto-tls: false", port=2380),
    ComponentCheck("KW-ETCD-CA", "2.7", E, "high", "etcd trusts no CA of its own for clients",
                   _etcd_set("client-transport-security", "trusted-ca-file"), "trusted-ca-file: the etcd CA",
                   port=2379),
    # kubelet (CIS 4.2.x)
    ComponentCheck("KW-KUBELET-ANONYMOUS", "4.2.1", K, "high", "the kubelet accepts anonymous requests",
                   _kubelet_is("anonymous-auth", "authentication.anonymous.enabled", False, False, True,
                               "authentication.anonymous.enabled"),
                   "authentication.anonymous.enabled: false", port=10250),
    ComponentCheck("KW-KUBELET-AUTHZ", "4.2.2", K, "critical", "the kubelet authorizes every request",
                   _kubelet_authz, "authorization.mode: Webhook", port=10250),
    ComponentCheck("KW-KUBELET-CLIENT-CA", "4.2.3", K, "high", "the kubelet has no client CA",
                   _kubelet_positive("client-ca-file", "authentication.x509.clientCAFile",
                                     "authentication.x509.clientCAFile"),
                   "authentication.x509.clientCAFile", port=10250),
    ComponentCheck("KW-KUBELET-READONLY", "4.2.4", K, "high", "the kubelet's unauthenticated read-only port is on",
                   _kubelet_is("read-only-port", "readOnlyPort", 0, 0, 10255, "readOnlyPort"), "readOnlyPort: 0",
                   port=10255),
    ComponentCheck("KW-KUBELET-STREAMING-TIMEOUT", "4.2.5", K, "low", "streaming connections never time out",
                   _not_zero_duration, "streamingConnectionIdleTimeout: 4h0m0s"),
    ComponentCheck("KW-KUBELET-KERNEL-DEFAULTS", "4.2.6 (cis-1.20)", K, "medium",
                   "the kubelet may change kernel settings",
                   _kubelet_is("protect-kernel-defaults", "protectKernelDefaults", True, False, False,
                               "protectKernelDefaults"), "protectKernelDefaults: true", Span(until=v("1.23"))),
    ComponentCheck("KW-KUBELET-IPTABLES-CHAINS", "4.2.6", K, "low", "the kubelet does not manage its iptables chains",
                   _kubelet_is("make-iptables-util-chains", "makeIPTablesUtilChains", True, True, True,
                               "makeIPTablesUtilChains"), "makeIPTablesUtilChains: true", Span(since=v("1.23"))),
    ComponentCheck("KW-KUBELET-SERVING-TLS", "4.2.9", K, "high",
                   "the kubelet serves a self-signed certificate", _kubelet_tls,
                   "serverTLSBootstrap: true (kubeward approves the CSR by its policy)", port=10250),
    ComponentCheck("KW-KUBELET-ROTATE", "4.2.10", K, "medium", "kubelet client certificate rotation off",
                   _kubelet_is("rotate-certificates", "rotateCertificates", True, False, False, "rotateCertificates"),
                   "rotateCertificates: true"),
    ComponentCheck("KW-KUBELET-ROTATE-SERVING", "4.2.11", K, "medium", "kubelet serving certificate rotation off",
                   _gate_not_false("RotateKubeletServerCertificate", kubelet_field=True),
                   "drop RotateKubeletServerCertificate=false"),
    ComponentCheck("KW-KUBELET-CIPHERS", "4.2.12", K, "medium", "the kubelet allows weak TLS cipher suites",
                   lambda r: _ciphers(kubelet(r, "tls-cipher-suites", "tlsCipherSuites", None, None)),
                   "tlsCipherSuites: AEAD suites", port=10250),
    ComponentCheck("KW-KUBELET-PIDS", "4.2.13", K, "low", "pods' process count is not limited",
                   _kubelet_positive("pod-max-pids", "podPidsLimit", "podPidsLimit"), "podPidsLimit: 4096"),
    ComponentCheck("KW-KUBELET-SECCOMP", "4.2.14", K, "low", "containers run without the default seccomp profile",
                   _kubelet_is("seccomp-default", "seccompDefault", True, False, False, "seccompDefault"),
                   "seccompDefault: true", Span(since=v("1.27"))),
    # kube-proxy (CIS 4.3.1)
    ComponentCheck("KW-PROXY-METRICS-BIND", "4.3.1", P, "high", "kube-proxy serves metrics beyond loopback",
                   _proxy_loopback("metrics-bind-address", "metricsBindAddress", "127.0.0.1:10249"),
                   "metricsBindAddress: 127.0.0.1:10249", port=10249),
)


@dataclass(frozen=True)
class Skipped:
    """A check that does not apply to the version running on a node: said, never silently passed."""

    id: str
    cis: str
    node: str
    component: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "cis": self.cis, "node": self.node, "component": self.component,
                "reason": self.reason}


def evaluate_components(node: str, running: Iterable[RunningComponent], fallback: Version | None,
                        checks: tuple[ComponentCheck, ...] = COMPONENT_CHECKS
                        ) -> tuple[list[Finding], list[Skipped], list[str]]:
    """Findings, skipped checks and gaps (what could not be judged) for one node's components.

    ``fallback``: the version cluster.yml configures, used when a binary did not say its own."""
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    gaps: list[str] = []
    for rc in running:
        r, problem = resolve(rc)
        if problem:
            gaps.append(problem)
        version = r.version
        if version is None and rc.name != "etcd":
            version = fallback
        for c in checks:
            if c.component != rc.name:
                continue
            if version is not None and not c.span.covers(version):
                skipped.append(Skipped(c.id, c.cis, node, rc.name,
                                       f"applies {c.span.describe()}; {rc.name} runs {version}"))
                continue
            observed = c.test(r)
            if observed is not None:
                findings.append(Finding(c.id, c.severity, node, c.title, f"{rc.name} (pid {rc.pid}): {observed}",
                                        c.fix, c.port, "tcp" if c.port else None, "local", cis=c.cis))
    return findings, skipped, gaps


def check_ids() -> Iterator[str]:
    yield from (c.id for c in COMPONENT_CHECKS)
