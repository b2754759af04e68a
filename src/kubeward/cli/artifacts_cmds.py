"""`kubeward artifacts ...` and `kubeward bundle ...`: Kubernetes binaries and images."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from kubeward.cli.common import config_option

console = Console(stderr=True)


def _say(message: str) -> None:
    console.print(f"[dim]artifacts:[/] {message}", highlight=False)


@click.group("artifacts")
def artifacts() -> None:
    """Kubernetes binaries and images, built here or downloaded and verified.

    \b
    Example:
      kubeward artifacts build            # v1.20.2 from Debian's source package (root, ~6 min once)
      kubeward artifacts path
    """


@artifacts.command("build")
@click.option("--version", "version", default="1.20.2", show_default=True, help="Kubernetes version.")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Cache directory (default /var/cache/kubeward/kubernetes, $KUBEWARD_ARTIFACT_CACHE).")
def artifacts_build(version: str, cache: Path | None) -> None:
    """Build the server binaries from Debian's source package and the pause and busybox images,
    into a cache keyed by version and patch set; a second run does nothing.

    \b
    Example:
      kubeward artifacts build          # as root
    """
    from kubeward.artifacts import build, images

    entry = build.build_binaries(version, cache or build.DEFAULT_CACHE, progress=_say)
    images.build_images(entry, progress=_say)
    click.echo(str(entry))


@artifacts.command("fetch")
@config_option
def artifacts_fetch(config_path: Path) -> None:
    """Resolve cluster.yml's kubernetes.artifacts on this machine without touching a host: download
    a release once (resumable, every file checked against its published sum), unpack a bundle, or
    read a directory's manifest; print the verified directory (for `bundle create --from`).

    \b
    Example:
      kubeward artifacts fetch -c cluster.yml
    """
    from kubeward.artifacts.source import resolve_artifacts
    from kubeward.config import load_config

    loaded = load_config(config_path)
    if not loaded.config.kubernetes.enabled:
        raise click.ClickException(f"{config_path}: kubernetes.enabled is false; nothing to fetch")
    root, m = resolve_artifacts(loaded.config, progress=_say)
    _say(f"Kubernetes {m.version} {m.arch}: {len(m.files)} files, {len(m.images)} images")
    click.echo(str(root))


@artifacts.command("path")
@click.option("--version", "version", default="1.20.2", show_default=True, help="Kubernetes version.")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Cache directory.")
def artifacts_path(version: str, cache: Path | None) -> None:
    """Print the cache entry of a built version (exit 1 if none).

    \b
    Example:
      kubeward bundle create --from $(kubeward artifacts path) -o k8s.tar
    """
    from kubeward.artifacts import build

    entry = build.find_entry(version, cache or build.DEFAULT_CACHE)
    if entry is None:
        raise click.ClickException(f"Kubernetes {version} is not built; run `kubeward artifacts build`")
    click.echo(str(entry))


@click.group("bundle")
def bundle() -> None:
    """Air-gap bundles: one tar with every binary and image and a manifest of their SHA-256 sums.

    \b
    Example:
      kubeward bundle create --from $(kubeward artifacts path) -o k8s-v1.20.2.tar
      kubeward bundle verify k8s-v1.20.2.tar
    """


@bundle.command("create")
@click.option("--from", "source", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="An artifact directory (the dir layout with manifest.json).")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The bundle to write (.tar).")
def bundle_create(source: Path, output: Path) -> None:
    """Verify an artifact directory against its manifest and pack it into one tar.

    \b
    Example:
      kubeward bundle create --from /var/cache/kubeward/kubernetes/1.20.2-0123456789ab -o k8s.tar
    """
    from kubeward.artifacts.manifest import read_manifest_sha256, write_bundle

    m = write_bundle(source, output)
    _say(f"wrote {output}: Kubernetes {m.version} {m.arch}, {len(m.files)} files, {len(m.images)} images")
    click.echo(f"manifest sha256 {read_manifest_sha256(source)}")


@bundle.command("verify")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True, exists=True))
def bundle_verify(file: Path) -> None:
    """Check every file of a bundle (or an artifact directory) against its manifest; name each
    file that fails and exit 1.

    \b
    Example:
      kubeward bundle verify k8s.tar
    """
    from kubeward.artifacts.manifest import read_verify_bundle, read_verify_dir

    v = read_verify_dir(file) if file.is_dir() else read_verify_bundle(file)
    if v.problems:
        for p in v.problems:
            click.echo(f"FAILED {p}")
        console.print(f"[bold red]{len(v.problems)} of {len(v.manifest.files)} files fail verification[/]",
                      highlight=False)
        raise SystemExit(1)
    click.echo(f"OK {len(v.manifest.files)} files match the manifest (Kubernetes {v.manifest.version} "
               f"{v.manifest.arch})")


def register(group: click.Group) -> None:
    group.add_command(artifacts)
    group.add_command(bundle)
