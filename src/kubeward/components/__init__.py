"""Components as values (pure): what a service needs on a host, for a cluster.yml and a version.

A :class:`~kubeward.components.spec.Component` lists the files a service needs (configurations
rendered with a YAML/JSON library, kubeconfigs through :mod:`kubeward.pki.kubeconfig`), its systemd
unit or drop-in, packages, system user and directories, its health probe, its restart policy and
the port-matrix rows it serves. :mod:`kubeward.components.flags` renders command lines from tables
of (flag, value, since, until). One phase type, :class:`kubeward.phases.component.ComponentPhase`,
applies any component; nothing here does I/O.
"""
