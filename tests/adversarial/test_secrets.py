"""Credentials in index URLs never leave the process; includes never echo a foreign file.

A routed index URL carrying ``user:s3cret@`` is compiled and checked through the command line
against the loopback index: the password appears in no output (text or JSON) and in no file
written under the workspace, and a lock compiled with credentials is fresh when checked with
other credentials or none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockaudit.index.urls import redact
from tests.indexserver import IndexServer
from tests.test_compile import make_env, scenario

SECRET = "s3cret"


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(scenario()) as running:
        yield running


def _env(root: Path, server: IndexServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "LOCKAUDIT_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_INDEX_URL"] = server.index_url("default")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["NETRC"] = os.devnull
    # The cache lives in the workspace, so the leak scan covers it too.
    env["LOCKAUDIT_CACHE_DIR"] = str(root / ".cache")
    return env


def _run(root: Path, server: IndexServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lockaudit", *args]
    return subprocess.run(
        command, cwd=root, capture_output=True, text=True, env=_env(root, server), check=False
    )


def _with_credentials(root: Path, userinfo: str | None) -> None:
    """Rewrite the routed index URLs of the workspace's pyproject to carry ``userinfo``."""
    path = root / "pyproject.toml"
    text = path.read_text()
    for prefix in ("http://user:s3cret@", "http://user:other@", "http://"):
        text = text.replace(f'url = "{prefix}', 'url = "http://')
    if userinfo is not None:
        text = text.replace('url = "http://', f'url = "http://{userinfo}@')
    path.write_text(text)


def _leaks(root: Path) -> list[str]:
    """Files holding the secret, but the pyproject the user wrote it in."""
    return [
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and path.name != "pyproject.toml" and SECRET.encode() in path.read_bytes()
    ]


def test_redact_keeps_user_and_hides_password() -> None:
    assert redact("https://user:token@host/x") == "https://user:***@host/x"
    assert redact("https://token@host:8443/x?y=1") == "https://***@host:8443/x?y=1"
    assert redact("https://host/x") == "https://host/x"
    assert redact("find links ./wheels") == "find links ./wheels"


def test_routed_index_password_never_leaves_the_process(
    tmp_path: Path, server: IndexServer
) -> None:
    make_env(tmp_path, server)
    _with_credentials(tmp_path, f"user:{SECRET}")
    outputs = []
    for args in (
        ("compile",),
        ("check",),
        ("check", "--format", "json"),
        ("compile", "--format", "json"),
    ):
        result = _run(tmp_path, server, *args)
        outputs.append((args, result))
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    for args, result in outputs:
        assert SECRET not in result.stdout + result.stderr, args
    assert _leaks(tmp_path) == []
    lock = (tmp_path / "locks/base-ml-cuda.txt").read_text()
    assert "user:***@" in lock or "--extra-index-url http://127.0.0.1" in lock

    # Other credentials, or none: provenance is compared without them, so nothing is stale.
    for userinfo in ("user:other", None):
        _with_credentials(tmp_path, userinfo)
        result = _run(tmp_path, server, "check")
        assert result.returncode == 0, (userinfo, result.stdout, result.stderr)
        assert "other" not in result.stdout + result.stderr


def test_include_error_names_the_file_never_its_content(
    tmp_path: Path, server: IndexServer
) -> None:
    make_env(tmp_path, server)
    marker = "root:$6$MARKERsaltyhash:19000:0:99999:7:::"
    (tmp_path / "secret.txt").write_text(f"# shadow\n{marker}\n")
    (tmp_path / "requirements-common.txt").write_text("numpy==1.24.3\n-r secret.txt\n")
    for args in (("check",), ("check", "--format", "json"), ("compile",)):
        result = _run(tmp_path, server, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        out = result.stdout + result.stderr
        assert "secret.txt:2" in out, (args, out)
        assert "MARKER" not in out, (args, out)
        assert "Traceback" not in out


def test_no_other_command_or_error_shows_the_password(tmp_path: Path, server: IndexServer) -> None:
    """audit (every format), report, outdated, whatif, graph, build's plan, and the error of
    an unreachable routed index: the password is in no output and no file written."""
    make_env(tmp_path, server)
    _with_credentials(tmp_path, f"user:{SECRET}")
    assert _run(tmp_path, server, "compile").returncode == 0
    for args in (
        ("audit",),
        ("audit", "--format", "json"),
        ("audit", "--format", "sarif"),
        ("audit", "--format", "github"),
        ("check", "--format", "github"),
        ("graph", "--format", "json"),
        ("outdated", "--format", "json"),
        ("report",),
        ("whatif", "numpy==1.26.4", "--format", "json"),
        ("build", "--dry-run"),
    ):
        result = _run(tmp_path, server, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert SECRET not in result.stdout + result.stderr, args
    assert (tmp_path / "reports").is_dir()  # the report was written, and scanned below
    assert _leaks(tmp_path) == []

    # The routed index stops answering (a closed port): the error names the URL, without the
    # credentials (the client keeps them apart from the URL it fetches and reports).
    config = tmp_path / "pyproject.toml"
    host = server.index_url("default").split("/")[2]
    config.write_text(config.read_text().replace(host, "127.0.0.1:9"))
    for args in (("compile", "--all", "--upgrade"), ("outdated", "--format", "json")):
        result = _run(tmp_path, server, *args)
        out = result.stdout + result.stderr
        assert result.returncode == 2, (args, out)
        assert "127.0.0.1:9/" in out, (args, out)
        assert SECRET not in out and "Traceback" not in out, (args, out)
    assert _leaks(tmp_path) == []
