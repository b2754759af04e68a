"""The host firewall, pure: the port matrix and the inventory in, one node's nftables table out.

Import from here::

    from kubeward.firewall import render_ruleset, export_rules

``compile`` owns the translation; applying it to a node is the firewall phase's job.
"""

from kubeward.firewall.compile import (
    DROP_COUNTER,
    PREROUTING_PRIORITY,
    TABLE,
    Allow,
    ExportRule,
    HostFirewall,
    NamedSet,
    export_rules,
    plan_host_firewall,
    render_host_firewall,
    render_rules_markdown,
    render_ruleset,
    render_ruleset_json,
    render_ruleset_markdown,
)

__all__ = [
    "DROP_COUNTER",
    "PREROUTING_PRIORITY",
    "TABLE",
    "Allow",
    "ExportRule",
    "HostFirewall",
    "NamedSet",
    "export_rules",
    "plan_host_firewall",
    "render_host_firewall",
    "render_rules_markdown",
    "render_ruleset",
    "render_ruleset_json",
    "render_ruleset_markdown",
]
