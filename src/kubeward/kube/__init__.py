"""The Kubernetes layer on top of the hosts: pure policies and objects as data, and the one module
that talks to the API server."""
