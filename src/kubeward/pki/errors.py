"""The PKI package's one exception, a child of kubeward's root (see kubeward.errors)."""

from __future__ import annotations

from kubeward.errors import KubewardError


class PkiError(KubewardError):
    """A certificate, key or token could not be made, read or written; the message says what to do."""
