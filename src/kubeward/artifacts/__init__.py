"""Kubernetes artifacts: binaries and images from a verified source.

``manifest`` (pure) lists and verifies the ``dir`` layout and bundles; ``build`` compiles the
binaries from Debian's source package, ``images`` builds the pause and busybox images, ``release``
downloads the official release layout and checks every published sum, ``bundle`` packs and checks
an air-gap tar. Only ``manifest`` is imported here, so importing the package does no I/O.
"""
