"""`kubeward validate` and `kubeward schema`: check a cluster.yml, print its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kubeward.config import ConfigError, ConfigIssue, LoadedConfig, load_config, render_schema
from kubeward.errors import KubewardError


def _summary(loaded: LoadedConfig) -> dict[str, object]:
    config = loaded.config
    return {
        "cluster": config.name,
        "hosts": len(config.hosts),
        "control_planes": [h.name for h in config.control_planes],
        "workers": [h.name for h in config.workers],
        "state_dir": str(loaded.state_dir),
        "warnings": len(loaded.warnings),
    }


def _print_text_summary(loaded: LoadedConfig) -> None:
    config = loaded.config
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold green]valid:[/] {loaded.filename}")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("cluster", config.name)
    grid.add_row("hosts", str(len(config.hosts)))
    grid.add_row("control planes", ", ".join(h.name for h in config.control_planes))
    grid.add_row("workers", ", ".join(h.name for h in config.workers) or "-")
    grid.add_row("warnings", str(len(loaded.warnings)))
    console.print(grid)


@click.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default="cluster.yml",
    show_default=True,
    envvar="KUBEWARD_CONFIG",
    help="The cluster.yml to check (env: KUBEWARD_CONFIG).",
)
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def validate(ctx: click.Context, config_path: Path, output: str) -> None:
    """Check a cluster.yml and report every problem as file:line:column.

    Exits 0 when the file is valid (warnings are printed but do not fail it) and 2 when it is not.
    With --output json, one JSON object goes to stdout either way.

    \b
    Example:
      kubeward validate -c cluster.yml
      kubeward validate -c cluster.yml --output json | jq '.errors[].message'
    """
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        errors: tuple[ConfigIssue, ...] = exc.errors
        warnings: tuple[ConfigIssue, ...] = exc.warnings
        if output == "json":
            _echo_json(False, str(config_path), errors, warnings, None)
        else:
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            noun = "error" if len(errors) == 1 else "errors"
            click.echo(f"{config_path}: invalid, {len(errors)} {noun}", err=True)
        ctx.exit(exc.exit_code)
        return
    if output == "json":
        _echo_json(True, loaded.filename, (), loaded.warnings, _summary(loaded))
        return
    for issue in loaded.warnings:
        click.echo(str(issue), err=True)
    _print_text_summary(loaded)


def _echo_json(
    valid: bool,
    file: str,
    errors: tuple[ConfigIssue, ...],
    warnings: tuple[ConfigIssue, ...],
    summary: dict[str, object] | None,
) -> None:
    document = {
        "valid": valid,
        "file": file,
        "errors": [i.to_dict() for i in errors],
        "warnings": [i.to_dict() for i in warnings],
        "summary": summary,
    }
    click.echo(json.dumps(document, indent=2))


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the schema to this file instead of stdout.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of cluster.yml, for editors and CI.

    Every key has a description and its default, so an editor with a YAML language server
    completes and explains cluster.yml as you type.

    \b
    Example:
      kubeward schema --output cluster.schema.json
      # then, first line of cluster.yml:
      # yaml-language-server: $schema=./cluster.schema.json
    """
    text = json.dumps(render_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise KubewardError(f"cannot write the schema to {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {output}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(validate)
    cli.add_command(schema)
