"""Every command's --help carries an example; up and plan list every phase of the runner's table."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from kubeward.cli.main import cli
from kubeward.phases.runner import PHASES


def commands(cmd: click.Command, path: list[str]) -> Iterator[list[str]]:
    yield path
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            yield from commands(sub, [*path, name])


@pytest.mark.parametrize("path", list(commands(cli, [])), ids=lambda p: " ".join(p) or "kubeward")
def test_every_help_has_an_example(path: list[str]) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Example" in res.output and "  kubeward " in res.output.split("Example", 1)[1]


@pytest.mark.parametrize("command", ["up", "plan"])
def test_up_and_plan_help_list_every_phase_in_order(command: str) -> None:
    text = CliRunner().invoke(cli, [command, "--help"]).output
    listed = text.split("Phases, in order:", 1)[1].split("Example", 1)[0].split()
    positions = [listed.index(p.name) for p in PHASES]
    assert positions == sorted(positions)
    assert all(p.title.split()[0] in listed for p in PHASES)
