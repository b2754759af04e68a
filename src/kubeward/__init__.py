"""kubeward: a Kubernetes cluster from SSH hosts, with every communication path known,
authenticated, firewalled and audited.

Packages (data flows one way: config -> phases -> ops -> remote -> hosts):

- ``kubeward.config``: cluster.yml model, loading with file:line:col errors, JSON schema (pure).
- ``kubeward.lab``: local multi-node test hosts in network namespaces (the embedded default).
- ``kubeward.cli``: command-line entry points only.
"""

__version__ = "0.1.0"
