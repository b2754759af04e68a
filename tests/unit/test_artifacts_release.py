"""The release source against a real HTTP server on 127.0.0.1 serving the official layout:
verified downloads, resume, and refusal of a tampered binary or a tampered sum."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kubeward.artifacts.manifest import read_verify_dir
from kubeward.artifacts.release import fetch_release, parse_published_sum
from kubeward.errors import ArtifactError

BINARIES = ("kubelet", "kube-proxy")
PREFIX = "/release/v1.20.2/bin/linux/amd64/"


class Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.served: list[tuple[str, int]] = []  # (path, bytes sent)

    def publish(self, name: str, data: bytes, sum_of: bytes | None = None) -> None:
        self.files[PREFIX + name] = data
        digest = hashlib.sha256(data if sum_of is None else sum_of).hexdigest()
        self.files[PREFIX + name + ".sha256"] = (digest + "\n").encode()


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            state.served.append((self.path, len(body)))

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}/release"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def blob(name: str) -> bytes:
    return (name.encode() + b"\x7fELF") * 50_000


def test_download_verify_and_second_run_downloads_nothing(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    for b in BINARIES:
        state.publish(b, blob(b))
    notes: list[str] = []
    root, manifest = fetch_release(url, "1.20.2", "amd64", BINARIES, tmp_path, notes.append)
    assert (root / "v1.20.2/bin/linux/amd64/kubelet").read_bytes() == blob("kubelet")
    assert manifest.file("v1.20.2/bin/linux/amd64/kube-proxy") is not None
    assert read_verify_dir(root).ok
    assert any(n.startswith(f"downloading {url}/v1.20.2/bin/linux/amd64/kubelet") for n in notes)
    state.served.clear()
    notes.clear()
    fetch_release(url, "1.20.2", "amd64", BINARIES, tmp_path, notes.append)
    assert state.served == [] and "nothing to download" in notes[-1]


def test_resume_fetches_only_the_rest(server: tuple[Server, str], tmp_path: Path) -> None:
    state, url = server
    state.publish("kubelet", blob("kubelet"))
    first, _ = fetch_release(url, "1.20.2", "amd64", ("kubelet",), tmp_path / "a")
    part = tmp_path / "b" / first.name / "v1.20.2/bin/linux/amd64/kubelet.part"
    part.parent.mkdir(parents=True)
    half = len(blob("kubelet")) // 2
    part.write_bytes(blob("kubelet")[:half])
    state.served.clear()
    notes: list[str] = []
    root, _ = fetch_release(url, "1.20.2", "amd64", ("kubelet",), tmp_path / "b", notes.append)
    assert (root / "v1.20.2/bin/linux/amd64/kubelet").read_bytes() == blob("kubelet")
    assert (PREFIX + "kubelet", len(blob("kubelet")) - half) in state.served
    assert any(n.startswith("resuming kubelet at") for n in notes)


@pytest.mark.parametrize("tampered", ["binary", "sum"])
def test_tampering_is_refused_naming_file_and_both_sums(
    server: tuple[Server, str], tmp_path: Path, tampered: str
) -> None:
    state, url = server
    good = blob("kubelet")
    bad = good[:-1] + b"!"
    if tampered == "binary":
        state.publish("kubelet", bad, sum_of=good)  # the mirror serves a changed binary
    else:
        state.publish("kubelet", good, sum_of=bad)  # the mirror serves a changed sum
    published = parse_published_sum(state.files[PREFIX + "kubelet.sha256"].decode(), "x")
    actual = hashlib.sha256(state.files[PREFIX + "kubelet"]).hexdigest()
    with pytest.raises(ArtifactError) as info:
        fetch_release(url, "1.20.2", "amd64", ("kubelet",), tmp_path)
    msg = str(info.value)
    assert msg.startswith("kubelet from ") and published in msg and actual in msg and published != actual
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []  # nothing cached, so nothing can be installed


def test_unreachable_and_missing(server: tuple[Server, str], tmp_path: Path) -> None:
    _, url = server
    with pytest.raises(ArtifactError, match="HTTP 404"):
        fetch_release(url, "1.20.2", "amd64", ("kubelet",), tmp_path)
    with pytest.raises(ArtifactError, match="not a SHA-256 sum file"):
        parse_published_sum("<html>", "u")


def test_fetch_command_from_cluster_yml(server: tuple[Server, str], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kubeward.artifacts.nodes import ALL_BINARIES
    from kubeward.cli.main import cli

    state, url = server
    for b in ALL_BINARIES:
        state.publish(b, blob(b))
    good = (Path(__file__).parent / "data" / "good.yml").read_text()
    cfg = tmp_path / "cluster.yml"
    cfg.write_text(good + f"state_dir: {tmp_path / 'state'}\nkubernetes:\n  enabled: true\n  version: '1.20.2'\n"
                   f"  artifacts:\n    source: release\n    base_url: {url}\n")
    ok = CliRunner().invoke(cli, ["artifacts", "fetch", "-c", str(cfg)])
    assert ok.exit_code == 0, ok.output
    root = Path(ok.output.strip().splitlines()[-1])
    assert read_verify_dir(root).ok and (root / "v1.20.2/bin/linux/amd64/kube-apiserver").is_file()
    state.publish("kubectl", blob("kubectl") + b"tampered", sum_of=blob("kubectl"))
    (root / "v1.20.2/bin/linux/amd64/kubectl").unlink()
    bad = CliRunner().invoke(cli, ["artifacts", "fetch", "-c", str(cfg)])
    assert bad.exit_code == 1 and "kubectl from" in bad.output and "does not match its published sum" in bad.output
    assert not (root / "v1.20.2/bin/linux/amd64/kubectl").exists()
