"""An unlucky machine: each fault is a located error or a transparent refetch, never a traceback.

Faults of the disk (a lock path that is a directory, a read-only ``locks/``, a full disk), of
TLS set-up (a CA bundle or client certificate that cannot be loaded), of the cache (corrupt,
truncated, unwritable) and of the network (an unreachable index, an interrupted download), and
pip's ``timeout``/``retries`` options. Each test asserts the exact outcome: exit code, the
``error:`` line, no traceback, and the workspace byte for byte as it was (old locks intact).

How the disk faults are made: a lock path that is a directory is real. The tests run as root
here, where permission bits stop nothing, and mounting a tiny filesystem would change the
machine: so a read-only folder is a real ``chmod`` when not root and otherwise an ``EROFS``
raised where the temporary lock file is created, and a full disk is an ``ENOSPC`` raised by the
``fsync`` of the temporary file (where a full disk shows on a real one too). Both run the
command in process through the CLI (typer's runner), so the injection reaches the write.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.index.cache import Cache
from lockaudit.index.factory import ca_bundle
from lockaudit.index.pipconf import PipConfig, read_pip_config
from lockaudit.locks import atomic
from tests.corpus.harness import Cli, cli_env, lock_bytes
from tests.corpus.harness import snapshot as workspace_snapshot
from tests.indexserver import IndexServer

UNREACHABLE_HTTPS = "https://127.0.0.1:9/simple"


@pytest.fixture
def root(compiled: Path, tmp_path: Path, server: IndexServer) -> Iterator[Path]:
    copy = tmp_path / "ws"
    shutil.copytree(compiled, copy)
    shutil.copytree(compiled.parent / "cache", tmp_path / "cache")
    yield copy
    server.clear_faults()


def cli(root: Path, server: IndexServer, **env: str) -> Cli:
    return Cli(root, {**cli_env(server, root.parent / "cache"), **env})


def errors_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def in_process(root: Path, server: IndexServer, *args: str) -> tuple[int, str]:
    """The CLI in this process (so a fault injected here reaches it): (exit code, stderr)."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PIP_")}
    env.update(cli_env(server, root.parent / "cache"))
    result = CliRunner().invoke(app, [*args, "--workspace", str(root)], env=env)
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result.exit_code, result.stderr


# the disk --------------------------------------------------------------------------------------
def test_lock_path_that_is_a_directory(root: Path, server: IndexServer) -> None:
    target = root / "locks" / "asr-cuda.txt"
    target.unlink()
    target.mkdir()
    before = workspace_snapshot(root)

    ran = cli(root, server).run("compile", "--all", "--upgrade")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert errors_of(ran.stderr) == [
        "error: locks/asr-cuda.txt: is a directory, not a lock file: nothing written"
    ]
    assert workspace_snapshot(root) == before
    assert target.is_dir()

    checked = cli(root, server).run("check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "Traceback" not in checked.stderr
    assert "locks/asr-cuda.txt" in checked.stdout


def _force_new_lock(root: Path) -> None:
    """An edit that changes the locks of every image, so that compile has to write."""
    common = root / "requirements-common.txt"
    common.write_text(common.read_text(encoding="utf-8") + "filelock\n", encoding="utf-8")


def test_read_only_locks_folder(
    root: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _force_new_lock(root)
    locks = lock_bytes(root)
    before = workspace_snapshot(root)
    if os.geteuid() != 0:
        (root / "locks").chmod(0o555)
    else:

        def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    try:
        code, stderr = in_process(root, server, "compile", "--all")
    finally:
        (root / "locks").chmod(0o755)

    assert code == 2, stderr
    assert "Traceback" not in stderr
    (error,) = errors_of(stderr)
    assert error.startswith("error: locks/asr-cpu.layer.txt: cannot write: "), stderr
    assert error.endswith(": nothing written")
    assert lock_bytes(root) == locks
    assert workspace_snapshot(root) == before


def test_full_disk(root: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _force_new_lock(root)
    locks = lock_bytes(root)
    before = workspace_snapshot(root)
    real_fsync = os.fsync
    calls: list[int] = []

    def fill_up(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 2:  # the first temporaries were written: the disk fills on the third
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fill_up)
    code, stderr = in_process(root, server, "compile", "--all")

    assert code == 2, stderr
    assert "Traceback" not in stderr
    (error,) = errors_of(stderr)
    assert error.endswith(": cannot write: No space left on device: nothing written"), stderr
    assert lock_bytes(root) == locks  # no temporary left behind, no lock replaced
    assert workspace_snapshot(root) == before


# TLS set-up ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("PIP_CERT", "pyproject.toml", "NO_CERTIFICATE_OR_CRL_FOUND"),
        ("SSL_CERT_FILE", "missing.pem", "No such file or directory"),
        ("REQUESTS_CA_BUNDLE", "versions.txt", "NO_CERTIFICATE_OR_CRL_FOUND"),
    ],
)
def test_unusable_ca_bundle_is_a_located_error(
    root: Path, server: IndexServer, variable: str, value: str, reason: str
) -> None:
    path = str(root / value)
    before = workspace_snapshot(root)
    bundles = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "SSL_CERT_FILE": ""}

    ran = cli(root, server, PIP_INDEX_URL=UNREACHABLE_HTTPS, **{**bundles, variable: path}).run(
        "compile", "--all", "--upgrade"
    )

    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr
    assert errors_of(ran.stderr) == [f"error: {path}: cannot load this CA bundle: {reason}"]
    assert "hint: check pip's `cert` (PIP_CERT)" in ran.stderr
    assert workspace_snapshot(root) == before


def test_unusable_client_certificate_is_a_located_error(root: Path, server: IndexServer) -> None:
    path = str(root / "versions.txt")

    ran = cli(root, server, PIP_INDEX_URL=UNREACHABLE_HTTPS, PIP_CLIENT_CERT=path).run(
        "compile", "--all", "--upgrade"
    )

    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr
    (error,) = errors_of(ran.stderr)
    assert error.startswith(f"error: {path}: cannot load this client certificate: "), error


def test_ca_bundle_is_found_as_pip_finds_it() -> None:
    env = {"REQUESTS_CA_BUNDLE": "/r.pem", "CURL_CA_BUNDLE": "/c.pem", "SSL_CERT_FILE": "/s.pem"}
    assert ca_bundle(PipConfig(cert="/pip.pem"), env) == "/pip.pem"
    assert ca_bundle(PipConfig(), env) == "/r.pem"
    assert ca_bundle(PipConfig(), {"CURL_CA_BUNDLE": "/c.pem", "SSL_CERT_FILE": "/s.pem"}) == (
        "/c.pem"
    )
    assert ca_bundle(PipConfig(), {"SSL_CERT_FILE": "/s.pem"}) == "/s.pem"
    assert ca_bundle(PipConfig(), {}) is None


def test_pip_network_options_are_read(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\ntimeout = 7\nretries = 2\ntrusted-host = a.example b.example:8443\n"
        "client-cert = /me.pem\n",
        encoding="utf-8",
    )
    config = read_pip_config({"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path)})
    assert (config.timeout, config.retries, config.client_cert) == (7.0, 2, "/me.pem")
    assert config.trusted_hosts == ("a.example", "b.example:8443")
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "PIP_RETRIES": "x"}
    assert read_pip_config(env).retries is None  # pip would refuse it; we keep pip's default


# the network -----------------------------------------------------------------------------------
def test_pip_retries_and_timeout_are_honoured(root: Path, server: IndexServer) -> None:
    page = server.page_path("default", "rich")
    server.delay(page, 3)  # inside the default 30 s read timeout: only pip's 0.5 s times out
    before = lock_bytes(root)

    ran = cli(
        root,
        server,
        PIP_DEFAULT_TIMEOUT="0.5",  # pip's other name of `timeout`
        PIP_RETRIES="1",
        LOCKAUDIT_CACHE_DIR=str(root.parent / "cold"),
    ).run("compile", "--all", "--upgrade")

    assert ran.returncode == 2, ran.stderr
    (error,) = errors_of(ran.stderr)
    assert error.startswith(f"error: {server.base_url}{page}: the project page of rich: timed out")
    assert error.endswith("(after 2 attempts)"), error  # 1 retry; the default is 4 attempts
    assert lock_bytes(root) == before


def test_unreachable_index_ends_with_the_error(root: Path, server: IndexServer) -> None:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    dead = "http://127.0.0.1:9/pytorch/simple"
    (root / "pyproject.toml").write_text(
        text.replace(server.index_url("pytorch-cu121"), dead), encoding="utf-8"
    )
    before = lock_bytes(root)

    ran = cli(root, server, LOCKAUDIT_CACHE_DIR=str(root.parent / "cold")).run(
        "compile", "--all", "--upgrade"
    )

    assert ran.returncode == 2, ran.stderr
    assert "Task was destroyed" not in ran.stderr
    assert "Traceback" not in ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines[-2].startswith(f"error: {dead}/torch/: "), ran.stderr
    assert lines[-1].startswith("hint: "), ran.stderr
    assert lock_bytes(root) == before


def test_interrupted_downloads_are_fetched_again(root: Path, server: IndexServer) -> None:
    before = lock_bytes(root)
    server.reset(server.page_path("default", "numpy"), times=1)
    server.truncate(server.page_path("default", "rich"), times=1)
    for filename in server.filenames("default", "tqdm"):
        server.truncate(server.file_path("default", filename), times=1)

    ran = cli(root, server, LOCKAUDIT_CACHE_DIR=str(root.parent / "cold")).run(
        "compile", "--all", "--upgrade"
    )

    assert ran.returncode == 0, ran.stderr
    assert lock_bytes(root) == before


# the cache -------------------------------------------------------------------------------------
def _entries(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".tmp")]


def test_truncated_and_garbled_cache_entries_are_refetched(root: Path, server: IndexServer) -> None:
    cache = root.parent / "cache"
    entries = _entries(cache / "v1")
    assert len(entries) > 10
    for i, entry in enumerate(entries):
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2] if i % 2 else b"\x00garbage{" + data[:40])
    before = lock_bytes(root)
    server.reset_counters()

    ran = cli(root, server).run("compile", "--all", "--upgrade")

    assert ran.returncode == 0, ran.stderr
    assert lock_bytes(root) == before
    assert server.total_requests() > 0  # refetched, not answered from the broken entries


def test_metadata_entries_of_bad_json_are_refetched(root: Path, server: IndexServer) -> None:
    """Whole entries (checksums right) whose record is not what lockaudit wrote."""
    cache_dir = root.parent / "cache"
    cache = Cache(cache_dir)
    metas = _entries(cache_dir / "v1" / "meta")
    assert metas
    bodies = [b"{not json", b"[]", b'{"kind": "wheel", "metadata": 7}', b'"text"']
    for i, path in enumerate(metas):
        cache.put_blob("meta", path.name, bodies[i % len(bodies)])
    before = lock_bytes(root)
    server.reset_counters()

    ran = cli(root, server).run("compile", "--all", "--upgrade")

    assert ran.returncode == 0, ran.stderr
    assert lock_bytes(root) == before
    assert server.total_requests() > 0


def test_unwritable_cache_only_costs_speed(root: Path, server: IndexServer) -> None:
    blocker = root.parent / "not-a-folder"
    blocker.write_text("a file where the cache should be\n", encoding="utf-8")
    before = lock_bytes(root)

    ran = cli(root, server, LOCKAUDIT_CACHE_DIR=str(blocker)).run("compile", "--all", "--upgrade")

    assert ran.returncode == 0, ran.stderr
    assert lock_bytes(root) == before
    checked = cli(root, server, LOCKAUDIT_CACHE_DIR=str(blocker)).run("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert blocker.read_text(encoding="utf-8") == "a file where the cache should be\n"
