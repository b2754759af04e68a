"""``kubeward reset`` as values (pure): what to remove from a host, in which order, derived from the
same declarations that install it (components, the PKI table, the firewall's paths, the artifacts
layout). :mod:`kubeward.reset.plan` builds each host's steps; the host script that does them is
:mod:`kubeward.hostscripts.reset`; :mod:`kubeward.phases.reset` runs it over SSH.
"""
