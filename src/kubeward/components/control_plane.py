"""The Kubernetes control plane and the node-local API proxy as components (pure).

Control planes get kube-apiserver, kube-controller-manager and kube-scheduler as systemd units
kubeward owns (``Restart=always``: the controller-manager and the scheduler exit when they lose
leader election), their kubeconfigs (client certificates embedded, 0600, pointing at the node's
own API server on its private address: nothing of the API server listens on loopback), the
encryption configuration (0600), the audit policy and its log directory (0700), and the bundle of
the cluster CA and the ``kubelet-signer`` intermediate that client and kubelet certificates verify
against. Every node gets HAProxy on 127.0.0.1:6443 in TCP mode in front of every API server, for the
kubelet and kube-proxy; its health and statistics endpoint is on 127.0.0.1 only.

The bytes these files embed (certificates, keys, encryption keys) are read by the phase and passed
in as :class:`ControlPlaneInputs`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kubeward.components.flags import render_argv, unit_exec
from kubeward.components.kube import (
    ADMISSION_CONFIG,
    AUDIT_LOG,
    AUDIT_POLICY,
    CA_BUNDLE,
    CONTROLLER_MANAGER_CONF,
    ENCRYPTION_CONFIG,
    PKI,
    SCHEDULER_CONF,
    SHUTDOWN_DELAY,
    ControlPlaneContext,
    control_plane_args,
    render_admission_config,
    render_audit_policy,
    render_encryption_config,
)
from kubeward.components.spec import Component, Health
from kubeward.components.version import Version, v
from kubeward.config import ClusterConfig, HostConfig
from kubeward.ops.ops import Directory, File
from kubeward.pki.kubeconfig import api_server_url, render_cert_kubeconfig
from kubeward.pki.nodes import API_PROXY_CLIENT

BIN_DIR = "/usr/local/bin"
UNIT_DIR = "/etc/systemd/system"
AUDIT_DIR = AUDIT_LOG.rsplit("/", 1)[0]
#: the node-local API proxy
PROXY_ADDRESS = "127.0.0.1"
CA_CERT = f"{PKI}/ca.crt"
#: what HAProxy reads when it starts: the CA that API servers' certificates chain to, its client pair
API_PROXY_UNIT = "haproxy.service"
API_PROXY_READS = (CA_CERT, f"{API_PROXY_CLIENT}.crt", f"{API_PROXY_CLIENT}.key")
PROXY_HEALTH_PORT = 8404
HAPROXY_CONFIG = "/etc/haproxy/kubeward.cfg"
HAPROXY_DROPIN = f"{UNIT_DIR}/haproxy.service.d/kubeward.conf"
#: the apiserver may hold long watches open for a minute when asked to stop; etcd has the state,
#: so a stop (and so a rolling restart) is not allowed to take longer than this: its shutdown delay
#: (serving while every API proxy takes it out), then a few seconds for requests in flight
APISERVER_STOP_TIMEOUT = SHUTDOWN_DELAY + 5
HEALTH_TIMEOUT = 180
#: the cluster.yml key of each component's settings
CONFIG_KEYS = {"kube-apiserver": "apiserver", "kube-controller-manager": "controller_manager",
               "kube-scheduler": "scheduler"}


@dataclass(frozen=True)
class ControlPlaneInputs:
    """What the control-plane files embed, read from the state directory by the phase."""

    ca_pem: bytes
    signer_pem: bytes
    controller_manager: tuple[bytes, bytes]  # certificate, key
    scheduler: tuple[bytes, bytes]
    encryption_keys: tuple[tuple[str, str], ...]  # (name, base64 secret); the first one encrypts

    def __repr__(self) -> str:  # never print keys
        return "ControlPlaneInputs(...)"


def control_plane_context(config: ClusterConfig, host: HostConfig) -> ControlPlaneContext:
    """The flags' inputs for ``host`` from cluster.yml."""
    assert config.kubernetes.version is not None, "validate requires kubernetes.version once enabled"
    k = config.kubernetes
    return ControlPlaneContext(
        version=Version.parse(config.kubernetes.version),
        node_name=host.name,
        private_address=str(host.private_address),
        api_port=config.network.api_port,
        service_cidr=str(config.network.service_cidr),
        pod_cidr=str(config.network.pod_cidr),
        node_cidr_mask=24,
        etcd_servers=tuple(api_server_url(str(cp.private_address), config.etcd.client_port)
                           for cp in config.control_planes),
        cluster_name=config.name,
        extra_args={name: getattr(k, key).extra_args for name, key in CONFIG_KEYS.items()},
        nodeport_range=f"{config.network.nodeport_lo}-{config.network.nodeport_hi}",
        api_servers=len(config.control_planes),
    )


def files_read(args: Mapping[str, str]) -> tuple[str, ...]:
    """The certificates and keys a component's flags name (under /etc/kubernetes/pki): the pki phase
    places them, and a change to one restarts the component (``Component.reads``)."""
    return tuple(dict.fromkeys(value for value in args.values() if value.startswith(f"{PKI}/")))


def render_unit(component: str, description: str, args: Mapping[str, str], *, after: str = "",
                stop_timeout: int = 30) -> str:
    """A systemd unit kubeward owns for a Kubernetes binary: its flags one per line, always restarted."""
    return f"""# Managed by kubeward: changes are overwritten by `kubeward up`.
[Unit]
Description={description} (kubeward)
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/{component}/
After=network-online.target{(' ' + after) if after else ''}
Wants=network-online.target

[Service]
ExecStart={unit_exec(f"{BIN_DIR}/{component}", render_argv(args))}
Restart=always
RestartSec=3
TimeoutStopSec={stop_timeout}

[Install]
WantedBy=multi-user.target
"""


def _https_probe(url: str, *, cacert: str = "", cert: str = "", key: str = "") -> str:
    """Exit 0 when ``url`` answers 2xx: verified against ``cacert`` with a client certificate, or
    (loopback endpoints with a self-signed certificate) without verification."""
    tls = (f"--cacert {shlex.quote(cacert)} --cert {shlex.quote(cert)} --key {shlex.quote(key)}" if cacert
           else "--insecure")
    return f"curl -sf --max-time 3 {tls} {shlex.quote(url)} >/dev/null"


def apiserver_probe(ctx: ControlPlaneContext) -> str:
    """/readyz on the node's own API server over TLS, with a client certificate that lives there
    (anonymous requests are refused; /readyz is open to every authenticated user)."""
    return _https_probe(f"{api_server_url(ctx.private_address, ctx.api_port)}/readyz", cacert=f"{PKI}/ca.crt",
                        cert=f"{PKI}/apiserver-kubelet-client.crt", key=f"{PKI}/apiserver-kubelet-client.key")


def apiserver_component(config: ClusterConfig, host: HostConfig, inputs: ControlPlaneInputs) -> Component:
    ctx = control_plane_context(config, host)
    args = control_plane_args("kube-apiserver", ctx)
    files = [
        File(CA_BUNDLE, inputs.ca_pem + inputs.signer_pem),
        File(ENCRYPTION_CONFIG, render_encryption_config(list(inputs.encryption_keys)).encode(), mode=0o600,
             secret=True),
        File(AUDIT_POLICY, render_audit_policy().encode()),
    ]
    if ctx.version >= v("1.25"):
        files.append(File(ADMISSION_CONFIG, render_admission_config().encode()))
    unit = render_unit("kube-apiserver", "Kubernetes API server", args, after="etcd.service",
                       stop_timeout=APISERVER_STOP_TIMEOUT)
    return Component(
        name="kube-apiserver",
        unit="kube-apiserver.service",
        directories=(Directory("/etc/kubernetes", "root", "root", 0o755),
                     Directory("/var/log/kubernetes", "root", "root", 0o700),
                     Directory(AUDIT_DIR, "root", "root", 0o700)),
        files=tuple(files),
        unit_files=(File(f"{UNIT_DIR}/kube-apiserver.service", unit.encode()),),
        packages=("curl",),  # the health probe
        health=Health(apiserver_probe(ctx), HEALTH_TIMEOUT, "ready (/readyz)"),
        restart="rolling",
        reads=files_read(args),
        ports=("kube-apiserver",),
        state=(AUDIT_DIR,),  # the audit log
    )


def _component_kubeconfig(config: ClusterConfig, host: HostConfig, which: Literal["controller-manager", "scheduler"],
                          ca: bytes, pair: tuple[bytes, bytes]) -> bytes:
    """The node's own API server on its private address (it does not listen on loopback)."""
    server = api_server_url(str(host.private_address), config.network.api_port)
    return render_cert_kubeconfig(config, which, ca, pair[0], pair[1], server=server).encode()


def controller_manager_component(config: ClusterConfig, host: HostConfig, inputs: ControlPlaneInputs) -> Component:
    ctx = control_plane_context(config, host)
    args = control_plane_args("kube-controller-manager", ctx)
    kubeconfig = _component_kubeconfig(config, host, "controller-manager", inputs.ca_pem, inputs.controller_manager)
    unit = render_unit("kube-controller-manager", "Kubernetes controller manager", args,
                       after="kube-apiserver.service")
    return Component(
        name="kube-controller-manager",
        unit="kube-controller-manager.service",
        files=(File(CONTROLLER_MANAGER_CONF, kubeconfig, mode=0o600, secret=True),),
        unit_files=(File(f"{UNIT_DIR}/kube-controller-manager.service", unit.encode()),),
        health=Health(_https_probe("https://127.0.0.1:10257/healthz"), HEALTH_TIMEOUT, "healthy (/healthz)"),
        restart="rolling",
        reads=files_read(args),
        ports=("kube-controller-manager",),
    )


def scheduler_component(config: ClusterConfig, host: HostConfig, inputs: ControlPlaneInputs) -> Component:
    ctx = control_plane_context(config, host)
    args = control_plane_args("kube-scheduler", ctx)
    kubeconfig = _component_kubeconfig(config, host, "scheduler", inputs.ca_pem, inputs.scheduler)
    unit = render_unit("kube-scheduler", "Kubernetes scheduler", args, after="kube-apiserver.service")
    return Component(
        name="kube-scheduler",
        unit="kube-scheduler.service",
        files=(File(SCHEDULER_CONF, kubeconfig, mode=0o600, secret=True),),
        unit_files=(File(f"{UNIT_DIR}/kube-scheduler.service", unit.encode()),),
        health=Health(_https_probe("https://127.0.0.1:10259/healthz"), HEALTH_TIMEOUT, "healthy (/healthz)"),
        restart="rolling",
        reads=files_read(args),
        ports=("kube-scheduler",),
    )


def control_plane_reads(config: ClusterConfig, host: HostConfig) -> dict[str, tuple[str, ...]]:
    """unit -> the certificates and keys it reads, for each control-plane component of ``host``
    (what ``Component.reads`` says, without the inputs the components embed)."""
    ctx = control_plane_context(config, host)
    return {f"{name}.service": files_read(control_plane_args(name, ctx)) for name in CONFIG_KEYS}


def control_plane_components(config: ClusterConfig, host: HostConfig, inputs: ControlPlaneInputs) -> list[Component]:
    """A control plane's three components, in start order."""
    return [apiserver_component(config, host, inputs), controller_manager_component(config, host, inputs),
            scheduler_component(config, host, inputs)]


# ----- the node-local API proxy ---------------------------------------------------------------------


def render_haproxy_config(config: ClusterConfig) -> str:
    """TCP on 127.0.0.1:api_port to every API server's private address, each in the pool only while
    its ``/readyz`` answers 200 over TLS (checked every 2 s with this node's ``api-proxy`` client
    certificate, the key found beside it; the API servers refuse anonymous requests). A starting
    API server joins once ready (not when its port opens, which is seconds earlier); a stopping one
    fails /readyz at once and keeps serving ``--shutdown-delay-duration``, so it is taken out before
    it stops. A refused connection is retried on another server after the one-second turn-around
    (``redispatch 1``). Health (``/healthz``) and statistics on 127.0.0.1 only."""
    port = config.network.api_port
    servers = "\n".join(f"    server {cp.name} {cp.private_address}:{port} check inter 2s fall 2 rise 2"
                        for cp in config.control_planes)
    return f"""# Managed by kubeward: the node-local Kubernetes API proxy (kubelet, kube-proxy).
global
    log /dev/log local0 warning
    maxconn 4096
    # the checks' client key is {API_PROXY_CLIENT}.key, beside its .crt (not .crt.key)
    ssl-load-extra-del-ext

defaults
    mode tcp
    log global
    option dontlognull
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout check 5s

frontend kube-apiserver
    bind {PROXY_ADDRESS}:{port}
    default_backend kube-apiservers

backend kube-apiservers
    option httpchk GET /readyz
    http-check expect status 200
    option redispatch 1
    retries 2
    default-server check-ssl verify required ca-file {CA_CERT} crt {API_PROXY_CLIENT}.crt
{servers}

listen health
    bind {PROXY_ADDRESS}:{PROXY_HEALTH_PORT}
    mode http
    timeout client 10s
    timeout server 10s
    monitor-uri /healthz
    stats enable
    stats uri /stats
    stats refresh 10s
"""


def render_haproxy_dropin() -> str:
    # a later Environment= overrides the package's CONFIG; -W: master-worker, reload without drops
    return ("# Managed by kubeward: HAProxy reads kubeward's configuration.\n[Service]\n"
            f'Environment="CONFIG={HAPROXY_CONFIG}"\nRestart=always\nRestartSec=2\n')


def api_proxy_component(config: ClusterConfig) -> Component:
    return Component(
        name="api-proxy",
        unit=API_PROXY_UNIT,
        directories=(Directory("/etc/haproxy", "root", "root", 0o755),),
        files=(File(HAPROXY_CONFIG, render_haproxy_config(config).encode()),),
        unit_files=(File(HAPROXY_DROPIN, render_haproxy_dropin().encode()),),
        packages=("haproxy", "curl"),
        health=Health(f"curl -sf --max-time 3 http://{PROXY_ADDRESS}:{PROXY_HEALTH_PORT}/healthz >/dev/null",
                      60, "serving"),
        restart="rolling",
        # new backends (a control plane added or removed) by a reload: the master process starts new
        # workers with them and the old ones finish their connections (kubelets' watches stay open)
        restart_on=(HAPROXY_DROPIN,),
        reload_on=(HAPROXY_CONFIG,),
        reads=API_PROXY_READS,
        ports=(),
    )
