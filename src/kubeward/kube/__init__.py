"""The Kubernetes layer: the RBAC table and the serving-CSR policy (pure), and the one module that
talks to the API server (client)."""
