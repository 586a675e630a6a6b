"""Progress of ``outdated`` and ``report``: drawn on a pseudo-terminal, silent into a pipe and
with ``--quiet``, no colour codes under NO_COLOR."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env, make_workspace, reliability_scenario
from tests.indexserver import IndexServer


@pytest.fixture(scope="module")
def server() -> object:
    with IndexServer(reliability_scenario()) as running:
        yield running


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("progress") / "ws", server)
    ran = Cli(root, cli_env(server, root.parent / "cache")).run("compile", "--all")
    assert ran.returncode == 0, ran.stderr
    return root


def _on_a_terminal(cli: Cli, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal and stdout into a pipe: (code, stdout, terminal)."""
    main, side = pty.openpty()
    process = subprocess.Popen(
        cli.command(*args), stdout=subprocess.PIPE, stderr=side, env=env, cwd=cli.root
    )
    os.close(side)
    seen = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    out = process.communicate(timeout=30)[0]
    os.close(main)
    return process.returncode, out.decode(), seen.decode(errors="replace")


@pytest.mark.parametrize("command", [("outdated",), ("report", "--upgrades", "1")])
def test_progress_on_a_terminal_never_into_a_pipe(
    compiled: Path, server: IndexServer, tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = {**cli_env(server, tmp_path / "cache"), "NO_COLOR": "1", "TERM": "xterm"}
    env.pop("COLUMNS")
    cli = Cli(compiled, env)
    code, stdout, terminal = _on_a_terminal(cli, *command, env=env)
    assert code in (0, 1), terminal
    assert "checking releases" in terminal and "requests" in terminal
    assert "\x1b[3" not in terminal  # NO_COLOR: no colour codes (cursor moves only)
    assert "checking releases" not in stdout
    piped = cli.run(*command)
    assert piped.returncode == code, piped.stderr
    assert "checking releases" not in piped.stderr + piped.stdout
    assert "requests" not in piped.stderr
    quiet = _on_a_terminal(cli, *command, "--quiet", env=env)
    assert quiet[0] == code and "checking releases" not in quiet[2]
