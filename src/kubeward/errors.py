"""The one exception root of kubeward.

KubewardError                 every error kubeward raises on purpose; str() is the user message
 +-- ConfigError              cluster.yml is unreadable or invalid (carries one or more located issues)
 +-- LabError                 the local lab could not be built, booted, changed or removed
 +-- RemoteError              an SSH connection or a command on a host failed
 +-- ArtifactError            a Kubernetes artifact could not be built, fetched or verified

Each error says what failed, where, and what to do next. Causes are chained with ``raise ... from``.
"""

from __future__ import annotations


class KubewardError(Exception):
    """Root of every error kubeward raises on purpose."""

    #: process exit status the CLI uses for this error
    exit_code: int = 1


class LabError(KubewardError):
    """The lab could not do what was asked; the message says why and what to do."""


class RemoteError(KubewardError):
    """An SSH connection or remote command failed."""


class ArtifactError(KubewardError):
    """A Kubernetes binary or image could not be built, downloaded, or did not match its sum."""
