"""cluster.yml: the model, loading with file:line:col errors, cross-field checks, JSON Schema.

Pure apart from ``load_config``, which reads the one file. Import from here::

    from kubeward.config import load_config, ClusterConfig, ConfigError

Modules: ``model`` (pydantic models), ``values`` (value types and parsers), ``source`` (YAML with
locations), ``validate`` (cross-field checks), ``loader``, ``schema``, ``errors``.
"""

from kubeward.config.errors import ConfigError, ConfigIssue, Severity, format_path
from kubeward.config.loader import LoadedConfig, load_config, parse_config
from kubeward.config.model import (
    ROLES,
    SOURCE_KEYWORDS,
    AddonsConfig,
    AdminConfig,
    AuditConfig,
    BastionConfig,
    ClusterConfig,
    EtcdConfig,
    ExtraPort,
    FirewallConfig,
    HostConfig,
    IngressNginxConfig,
    NetworkConfig,
    PkiConfig,
    Role,
    SshConfig,
    SshDefaults,
)
from kubeward.config.schema import render_schema
from kubeward.config.validate import Finding, ReservedPort, check_config, reserved_ports
from kubeward.config.values import OpenSshPublicKey, PortRange

__all__ = [
    "ROLES",
    "SOURCE_KEYWORDS",
    "AddonsConfig",
    "AdminConfig",
    "AuditConfig",
    "BastionConfig",
    "ClusterConfig",
    "ConfigError",
    "ConfigIssue",
    "EtcdConfig",
    "ExtraPort",
    "Finding",
    "FirewallConfig",
    "HostConfig",
    "IngressNginxConfig",
    "LoadedConfig",
    "NetworkConfig",
    "OpenSshPublicKey",
    "PkiConfig",
    "PortRange",
    "ReservedPort",
    "Role",
    "Severity",
    "SshConfig",
    "SshDefaults",
    "check_config",
    "format_path",
    "load_config",
    "parse_config",
    "render_schema",
    "reserved_ports",
]
