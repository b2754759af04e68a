"""The outside sweep's connect scanner (``audit.probe.sweep_tcp``) against real sockets on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from kubeward.audit.probe import _settled_state, sweep_tcp


@pytest.fixture
def listening() -> Iterator[list[int]]:
    socks = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        socks.append(s)
    try:
        yield [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_sweep_reports_open_and_closed_ports_and_leaves_out_the_silent(listening: list[int]) -> None:
    closed = []
    for _ in range(150):  # ports nothing listens on: loopback answers them with a reset
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed.append(s.getsockname()[1])
    closed = sorted(set(closed) - set(listening))
    # a listener whose accept queue is full drops further SYNs without an answer, like a firewall
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = [socket.socket() for _ in range(2)]
    try:
        for f in fillers:
            f.setblocking(False)
            f.connect_ex(full.getsockname())
        silent = ("127.0.0.1", full.getsockname()[1])
        targets = [("127.0.0.1", p) for p in [*closed, *listening]] + [silent]
        # a small window, so the scanner has to refill it many times
        found = sweep_tcp(targets, window=16, timeout=0.5)
    finally:
        for f in [*fillers, full]:
            f.close()
    assert {k for k, v in found.items() if v == "open"} == {("127.0.0.1", p) for p in listening}
    assert {k for k, v in found.items() if v == "closed"} == {("127.0.0.1", p) for p in closed}
    assert silent not in found


def test_sweep_of_nothing_is_empty() -> None:
    assert sweep_tcp([], window=16) == {}


def test_an_answer_read_after_its_deadline_still_counts(listening: list[int]) -> None:
    """A sweep that was not scheduled until past a connect's deadline takes the state the kernel holds."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port_closed = closed.getsockname()[1]
    closed.close()
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    socks = []
    try:
        for port in (listening[0], port_closed, full.getsockname()[1], full.getsockname()[1], full.getsockname()[1]):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        time.sleep(0.1)  # the answers arrive; nobody reads them before the deadline
        states = [_settled_state(s) for s in socks]
    finally:
        for s in [*socks, full]:
            s.close()
    assert states[:2] == ["open", "closed"]
    assert None in states[2:]  # a SYN the full listener drops is still unanswered
