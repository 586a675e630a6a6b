"""A hostile index cannot flood lockaudit: bombs, huge answers, endless links, drip-feeding.

The loopback index serves each hostile answer for real (``tests/indexserver`` toggles): a
project page whose gzip body inflates past the decompressed limit, a wheel whose METADATA member
is a zip bomb, a 100 MB PEP 658 file, a page with more links than allowed, a body fed one byte
at a time. Each time ``compile`` exits 2 with one ``error:`` line naming the URL and the limit
(and a hint naming the setting to raise), no traceback, and the workspace byte for byte as it
was: the locks of the compile before stay in place.

The workspace is compiled once against the honest index; each test copies it, switches a fault
on, and recompiles everything (``--upgrade``, with a cold cache, so every answer is fetched).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from lockaudit.index import wheelmeta
from lockaudit.index.limits import LIMIT_KEYS, LimitExceeded, Limits, limits_from
from lockaudit.index.transport import BadBody, BodyLimit, Decoder
from lockaudit.workspace.config import LIMIT_KEYS as CONFIG_LIMIT_KEYS
from tests.corpus.harness import Cli, cli_env, lock_bytes
from tests.corpus.harness import snapshot as workspace_snapshot
from tests.indexserver import IndexServer

MiB = 1 << 20


def recompile(root: Path, server: IndexServer, **env: str) -> tuple[int, str]:
    """``compile --all --upgrade`` with a cold cache; (exit code, stderr)."""
    environ = {**cli_env(server, root.parent / "cold-cache"), **env}
    ran = Cli(root, environ).run("compile", "--all", "--upgrade", timeout=180)
    return ran.returncode, ran.stderr


def assert_refused(
    root: Path, server: IndexServer, url_path: str, message: str, setting: str, **env: str
) -> None:
    before = workspace_snapshot(root)
    locks = lock_bytes(root)
    assert locks, "the copied workspace has its locks"

    code, stderr = recompile(root, server, **env)

    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error: {server.base_url}{url_path}: "), stderr
    assert message in errors[0], stderr
    assert f"raise [tool.lockaudit.limits] {setting}" in stderr
    assert workspace_snapshot(root) == before
    assert lock_bytes(root) == locks


def test_gzip_bombed_page_is_refused_at_the_default_limit(root: Path, server: IndexServer) -> None:
    page = server.page_path("default", "rich")
    server.gzip_bomb(page, Limits().decompressed_bytes + 40 * MiB)

    assert_refused(
        root,
        server,
        page,
        "the project page of rich: the decompressed body exceeds the limit of 256 MiB",
        "decompressed-bytes",
    )


@pytest.mark.parametrize("ranges", [True, False], ids=["range-reads", "ranges-refused"])
def test_zip_bombed_wheel_metadata_is_refused(
    root: Path, server: IndexServer, ranges: bool
) -> None:
    """Read by range requests, or as the whole wheel when the index refuses ranges."""
    for filename in server.filenames("default", "rich"):
        server.zip_bomb("default", filename, 4 * Limits().metadata_bytes)
    server.ranges(ranges)
    pinned = sorted(server.filenames("default", "rich"))[0]  # constraints pin 14.1.0

    assert_refused(
        root,
        server,
        server.file_path("default", pinned),
        "METADATA of the wheel exceeds the limit of 32 MiB",
        "metadata-bytes",
    )


def test_hundred_megabyte_metadata_file_is_refused_unread(root: Path, server: IndexServer) -> None:
    for filename in server.filenames("default", "rich"):
        server.huge_metadata(filename, 100 * MiB)
    pinned = sorted(server.filenames("default", "rich"))[0]  # constraints pin 14.1.0
    path = server.file_path("default", pinned) + ".metadata"

    assert_refused(root, server, path, "exceeds the limit of 32 MiB", "metadata-bytes")
    assert server.bytes_for(path) < 100 * MiB  # dropped at the Content-Length, not read


def test_response_limit_from_the_workspace_config(root: Path, server: IndexServer) -> None:
    config = root / "pyproject.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[tool.lockaudit.limits]\nresponse-bytes = 300\n",
        encoding="utf-8",
    )
    page = server.page_path("default", "numpy")

    # numpy, rich, tqdm are fetched concurrently: whichever page is refused first is named.
    before = lock_bytes(root)
    code, stderr = recompile(root, server)

    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert f"error: {server.base_url}/default/simple/" in stderr, stderr
    assert "exceeds the limit of 300 bytes" in stderr
    assert "raise [tool.lockaudit.limits] response-bytes" in stderr
    assert lock_bytes(root) == before
    assert page  # the page exists on the honest index


def test_too_many_links_per_page(root: Path, server: IndexServer) -> None:
    page = server.page_path("default", "rich")
    server.extra_links(
        "default", "rich", *(f"../../files/rich-0.{i}-py3-none-any.whl" for i in range(50))
    )

    assert_refused(
        root,
        server,
        page,
        "the project page of rich: a page of 52 links exceeds the limit of 40",
        "links-per-page",
        LOCKAUDIT_LIMIT_LINKS_PER_PAGE="40",
    )


def test_drip_fed_page_ends_at_the_request_deadline(root: Path, server: IndexServer) -> None:
    page = server.page_path("default", "rich")
    server.drip(page, 0.2)  # each byte well inside the 30 s read timeout

    assert_refused(
        root,
        server,
        page,
        "the project page of rich: the time spent on it exceeds the limit of 2s",
        "request-timeout",
        LOCKAUDIT_LIMIT_REQUEST_TIMEOUT="2",
    )


def test_command_deadline_bounds_every_request(root: Path, server: IndexServer) -> None:
    page = server.page_path("default", "rich")
    server.delay(page, 5)

    before = lock_bytes(root)
    code, stderr = recompile(root, server, LOCKAUDIT_LIMIT_COMMAND_TIMEOUT="1.5")

    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert "the project page of rich: the command exceeds the limit of 1.5s" in stderr, stderr
    assert "raise [tool.lockaudit.limits] command-timeout" in stderr
    assert lock_bytes(root) == before


def test_bad_limit_in_config_is_a_located_error(root: Path, server: IndexServer) -> None:
    config = root / "pyproject.toml"
    text = config.read_text(encoding="utf-8")
    line = text.count("\n") + 3
    config.write_text(text + '\n[tool.lockaudit.limits]\nmetadata-bytes = "big"\n', "utf-8")

    ran = Cli(root, cli_env(server, root.parent / "cache")).run("check")

    assert ran.returncode == 2, ran.stderr
    assert f"pyproject.toml:{line}: limit 'metadata-bytes' must be a positive number" in ran.stderr


# units: the limits themselves ---------------------------------------------------------------
def test_config_keys_name_the_limit_fields() -> None:
    assert set(LIMIT_KEYS) == CONFIG_LIMIT_KEYS


def test_environment_wins_over_config_and_bad_values_are_ignored() -> None:
    limits = limits_from(
        {"metadata-bytes": 1000.0, "request-timeout": 5.0},
        {"LOCKAUDIT_LIMIT_METADATA_BYTES": "2000", "LOCKAUDIT_LIMIT_REQUEST_TIMEOUT": "soon"},
    )
    assert limits.metadata_bytes == 2000
    assert limits.request_timeout == 5.0
    assert limits.response_bytes == Limits().response_bytes


def _decoded(body: bytes, coding: str = "deflate", most: int = MiB) -> bytes:
    decoder = Decoder(coding, BodyLimit(1 << 62, most))
    for i in range(0, len(body), 1 << 16):  # as the network hands it over
        decoder.feed(body[i : i + (1 << 16)])
    return decoder.finish()


def test_inflate_stops_at_the_limit_without_holding_the_bomb() -> None:
    bomb = zlib.compress(b"\0" * (64 * MiB))
    with pytest.raises(LimitExceeded, match="exceeds the limit of 1 MiB"):
        _decoded(bomb)
    with pytest.raises(LimitExceeded, match="exceeds the limit of 1 MiB"):
        _decoded(gzip.compress(b"\0" * (64 * MiB)), "gzip")
    assert _decoded(zlib.compress(b"page")) == b"page"
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert _decoded(raw.compress(b"page") + raw.flush()) == b"page"  # raw deflate, as some send
    with pytest.raises(BadBody):
        _decoded(zlib.compress(b"page" * 1000)[:-8])  # truncated: retried


def test_member_whose_directory_understates_its_size_is_cut_at_the_limit() -> None:
    packed = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = packed.compress(b" " * (8 * MiB)) + packed.flush()
    name = b"x-1.dist-info/METADATA"
    local = b"PK\x03\x04" + b"\0" * 22 + len(name).to_bytes(2, "little") + b"\0\0" + name + raw
    entry = wheelmeta.ZipEntry(name.decode(), 8, len(raw), 100, 0, 0)  # claims 100 bytes
    with pytest.raises(LimitExceeded, match="METADATA of the wheel exceeds the limit of 1 MiB"):
        wheelmeta.member_data(local, entry, MiB)
