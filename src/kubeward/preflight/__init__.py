"""Preflight: the facts kubeward gathers from a host (``facts``) and the pure checks (``checks``)."""
