"""Kubernetes API access: the RBAC table (pure) and the one module that talks to the API (client)."""
