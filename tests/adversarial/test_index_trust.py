"""Index trust: hashes of the wrong type or shape, and a package routed to one index.

A file the index lists with an ``md5=`` hash, a sha256 that is not 64 hex digits, or no hash
at all cannot be hash-pinned: compile refuses the release with an error naming the file's URL,
exit 2, and writes nothing (it once wrote ``sha256=-`` into the lock and exited 0). The page
formats are both served (PEP 691 JSON and PEP 503 HTML), since each carries hashes its own way.
Dependency confusion: the default index also serves ``torch 9.9.9``; the routed torch wins.
A page linking a file on a host other than its own is refused unless its index's
``link-hosts`` allow that host (a second loopback server, on another port, is that host).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env, lock_bytes
from tests.corpus.harness import snapshot as workspace_snapshot
from tests.indexserver import IndexServer, scenario_from_dict
from tests.test_compile import _releases


@pytest.fixture(scope="module")
def other_host() -> Iterator[IndexServer]:
    """Another origin serving a tqdm 4.66.0 wheel the default index's page will link to."""
    store = {"projects": {"tqdm": _releases("4.66.0", tags="py311-none-any")}}
    with IndexServer(scenario_from_dict({"indexes": {"store": store}})) as running:
        yield running


def _link_to(other: IndexServer) -> tuple[str, str]:
    filename = other.filenames("store", "tqdm")[0]
    url = other.base_url + other.file_path("store", filename)
    return filename, f"{url}#sha256={other.built('store', filename).sha256}"


def _allow_link_host(root: Path, name: str, url: str, host: str) -> None:
    """An index entry for ``url`` whose pages may link files on ``host``."""
    config = root / "pyproject.toml"
    entry = (
        f'\n[[tool.lockaudit.indexes]]\nname = "{name}"\nurl = "{url}"\nlink-hosts = ["{host}"]\n'
    )
    config.write_text(config.read_text(encoding="utf-8") + entry, encoding="utf-8")


@pytest.mark.parametrize(
    ("fragment", "json_pages"),
    [
        ("md5=0123456789abcdef0123456789abcdef", True),
        ("sha256=0123456789abcdef", True),
        ("sha512=" + "ab" * 64, True),
        ("sha256=" + "g" * 64, False),
    ],
    ids=["md5-json", "short-json", "sha512-json", "not-hex-html"],
)
def test_wrong_hash_makes_the_file_unusable(
    root: Path, tmp_path: Path, server: IndexServer, fragment: str, json_pages: bool
) -> None:
    pinned = sorted(server.filenames("default", "rich"))[0]  # the constraints pin 14.1.0
    server.hash_fragment(pinned, fragment)
    server.json(json_pages)
    locks = lock_bytes(root)
    before = workspace_snapshot(root)

    ran = Cli(root, cli_env(server, tmp_path / "cold")).run("compile", "--all", "--upgrade")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {server.base_url}{server.file_path('default', pinned)}: rich 14.1.0: the index "
        f"lists {pinned} without a usable sha256 (none, another type, or not 64 hex digits)"
    ], ran.stderr
    assert lock_bytes(root) == locks
    assert workspace_snapshot(root) == before


def test_routed_package_never_comes_from_another_index(compiled: Path, server: IndexServer) -> None:
    """torch 9.9.9 on the default index (higher than any routed build) is never chosen, and
    the lock records the routed index each torch came from."""
    for slug, local in (("base-ml-cuda", "cu121"), ("asr-cuda", "cu121"), ("asr-cpu", "cpu")):
        text = (compiled / "locks" / f"{slug}.txt").read_text(encoding="utf-8")
        entry = text.split("\ntorch==", 1)[1].split("\n\n", 1)[0]
        assert entry.startswith(f"2.1.0+{local} "), entry
        assert f"# index: {server.index_url('pytorch-' + local)}" in entry, entry
        assert "9.9.9" not in text


def test_link_to_a_local_file_is_refused(root: Path, tmp_path: Path, server: IndexServer) -> None:
    planted = tmp_path / "rich-99.0-py3-none-any.whl"
    planted.write_bytes(b"not a wheel")
    server.extra_links("default", "rich", planted.as_uri())
    locks = lock_bytes(root)

    ran = Cli(root, cli_env(server, tmp_path / "cold")).run("compile", "--all", "--upgrade")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {server.index_url('default')}/rich/: the project page of rich links to a "
        f"local file ({planted.as_uri()}): refused"
    ], ran.stderr
    assert lock_bytes(root) == locks


def test_link_to_another_host_is_refused(
    root: Path, tmp_path: Path, server: IndexServer, other_host: IndexServer
) -> None:
    filename, href = _link_to(other_host)
    server.extra_links("default", "tqdm", href)
    server.json(False)  # the hash rides in the link's fragment
    before = workspace_snapshot(root)

    ran = Cli(root, cli_env(server, tmp_path / "cold")).run("compile", "--all", "--upgrade")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    host = other_host.base_url.removeprefix("http://")
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {server.index_url('default')}/tqdm/: the project page of tqdm links "
        f"{filename} on another host ({host}): refused"
    ], ran.stderr
    assert f'link-hosts = ["{host}"]' in ran.stderr  # the hint says how to allow it
    assert other_host.total_requests() == 0  # never followed
    assert workspace_snapshot(root) == before


def test_link_to_an_allowed_host_is_followed(
    root: Path, tmp_path: Path, server: IndexServer, other_host: IndexServer
) -> None:
    """An index entry naming the default index's URL with ``link-hosts`` allows that host."""
    filename, href = _link_to(other_host)
    server.extra_links("default", "tqdm", href)
    server.json(False)
    host = other_host.base_url.removeprefix("http://")
    _allow_link_host(root, "default", server.index_url(), host)

    ran = Cli(root, cli_env(server, tmp_path / "cold")).run("compile", "--all")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    lock = (root / "locks" / "base-cpu.txt").read_text(encoding="utf-8")
    entry = lock.split("\ntqdm==", 1)[1].split("\n\n", 1)[0]
    assert f"# file: {filename} " in entry and f"url={href.split('#')[0]}" in entry, entry


def test_a_mirror_brings_the_link_hosts_of_the_index_it_serves_from(
    root: Path, tmp_path: Path, server: IndexServer, other_host: IndexServer
) -> None:
    """pip's index is mirrored to the loopback index, whose entry allows the other host: the
    mirrored page links files there (as a PyTorch index mirrored to the default index links
    the default index's file store), so the link is followed, not refused."""
    filename, href = _link_to(other_host)
    server.extra_links("default", "tqdm", href)
    server.json(False)
    host = other_host.base_url.removeprefix("http://")
    _allow_link_host(root, "store", server.index_url(), host)
    env = cli_env(server, tmp_path / "cold")
    unserved = "http://127.0.0.1:9/unserved/simple"  # the discard port: never asked
    env["PIP_INDEX_URL"] = unserved
    env["LOCKAUDIT_INDEX_MIRRORS"] = f"{unserved}={server.index_url()}"

    ran = Cli(root, env).run("compile", "--all")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    lock = (root / "locks" / "base-cpu.txt").read_text(encoding="utf-8")
    assert f"# file: {filename} " in lock, lock
    assert other_host.total_requests() > 0
