"""Pure parts of the index client: target tags, page parsing, the cache's integrity, zips."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from packaging.tags import parse_tag

import lockaudit.index
from lockaudit.index.cache import Cache, PageEntry, default_cache_dir
from lockaudit.index.pages import PageError, parse_html_page, parse_json_page
from lockaudit.index.tags import best_rank, compatible_tags, platforms
from lockaudit.index.wheelmeta import (
    dist_info_members,
    find_directory,
    member_data,
    parse_central_directory,
)
from lockaudit.workspace.model import Target


def test_public_surface_is_importable() -> None:
    for name in lockaudit.index.__all__:
        assert getattr(lockaudit.index, name) is not None


@pytest.mark.parametrize(
    ("tag", "usable"),
    [
        ("cp311-cp311-manylinux_2_17_x86_64", True),
        ("cp311-cp311-manylinux2014_x86_64", True),
        ("cp311-cp311-manylinux2010_x86_64", True),
        ("cp311-cp311-manylinux1_x86_64", True),
        ("cp311-cp311-manylinux_2_35_x86_64", True),
        ("cp311-cp311-manylinux_2_36_x86_64", False),
        ("cp311-cp311-linux_x86_64", True),
        ("cp38-abi3-manylinux_2_17_x86_64", True),
        ("py3-none-any", True),
        ("cp310-cp310-manylinux_2_17_x86_64", False),
        ("cp311-cp311-manylinux_2_17_aarch64", False),
        ("cp311-cp311-win_amd64", False),
    ],
)
def test_tags_are_computed_for_the_target(tag: str, usable: bool) -> None:
    target = Target(python="3.11.7", glibc="2.35", arch="x86_64")
    assert (best_rank(parse_tag(tag), target) is not None) is usable
    assert (parse_tag(tag) <= compatible_tags(target)) is usable


def test_more_specific_tags_rank_better() -> None:
    target = Target()
    ranks = [
        best_rank(parse_tag(t), target)
        for t in ("cp311-cp311-manylinux_2_28_x86_64", "cp311-abi3-linux_x86_64", "py3-none-any")
    ]
    assert None not in ranks
    assert ranks == sorted(r for r in ranks if r is not None)
    assert platforms(Target(arch="aarch64", glibc="2.17")) == (
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
        "linux_aarch64",
    )


def _ident(url: str) -> str:
    return url


def test_html_page_relative_urls_base_escapes_and_yanks() -> None:
    page = b"""<html><head><base href="https://files.example/pkgs/"></head><body>
    <a href="torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl#sha256=SHA"
       data-requires-python="&gt;=3.8.0" data-yanked="" data-core-metadata="sha256=CD34">x</a>
    <a href="../other/p-1.0.tar.gz" data-yanked="bad build">p-1.0.tar.gz</a>
    </body></html>""".replace(b"SHA", b"AB12" * 16)
    first, second = parse_html_page(page, "https://idx/simple/torch/", "https://idx/simple", _ident)
    assert first.filename == "torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl"
    assert first.url.startswith("https://files.example/pkgs/torch-2.1.0%2Bcu121")
    assert first.sha256 == "ab12" * 16 and first.metadata_sha256 == "cd34"
    assert str(first.requires_python) == ">=3.8.0" and first.yanked == ""
    assert second.url == "https://files.example/other/p-1.0.tar.gz"
    assert second.yanked == "bad build" and second.sha256 is None
    assert first.index == "https://idx/simple"


def test_json_page_fields_and_garbage() -> None:
    body = (
        b'{"meta": {"api-version": "1.1"}, "files": [{"filename": "a-1.0-py3-none-any.whl",'
        b' "url": "../../f/a-1.0-py3-none-any.whl", "hashes": {"sha256": "' + b"EE" * 32 + b'"},'
        b' "yanked": true,'
        b' "size": 10, "upload-time": "2024-01-01T00:00:00Z", "core-metadata": {"sha256": "FF"},'
        b' "requires-python": "not a specifier"}]}'
    )
    (file,) = parse_json_page(body, "http://h/simple/a/", "http://h/simple", _ident)
    assert file.url == "http://h/f/a-1.0-py3-none-any.whl"
    assert (file.sha256, file.metadata_sha256, file.size) == ("ee" * 32, "ff", 10)
    assert file.yanked == "" and file.requires_python is None
    with pytest.raises(PageError):
        parse_json_page(body[:40], "http://h/simple/a/", "http://h/simple", _ident)
    with pytest.raises(PageError):
        parse_json_page(b'{"meta": {"api-version": "2.0"}, "files": []}', "u", "u", _ident)


def test_cache_detects_corruption_and_truncation(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("meta", "abcd", b"hello metadata")
    assert cache.get_blob("meta", "abcd") == b"hello metadata"
    (path,) = [p for p in (tmp_path / "v1").rglob("abcd")]
    path.write_bytes(path.read_bytes()[:-3])  # truncated
    assert cache.get_blob("meta", "abcd") is None
    assert not path.exists()  # dropped, to be refetched
    entry = PageEntry("http://h/simple/a/", 200, b"{}", "application/json", 1.0, '"e"', None)
    cache.put_page(entry)
    assert cache.get_page(entry.url) == entry
    assert not cache.is_fresh(entry)  # stored long ago
    assert not list((tmp_path / "v1").rglob(".tmp-*"))  # no temporary files left behind


def test_default_cache_dir_order() -> None:
    assert default_cache_dir({"LOCKAUDIT_CACHE_DIR": "/x", "XDG_CACHE_HOME": "/y"}) == Path("/x")
    assert default_cache_dir({"XDG_CACHE_HOME": "/y"}) == Path("/y/lockaudit")
    assert default_cache_dir({}) == Path.home() / ".cache" / "lockaudit"


def test_zip_reading_from_the_tail_only() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/_big.bin", os.urandom(200_000))
        zf.writestr("pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: pkg\n" * 50)
        zf.writestr("pkg-1.0.dist-info/top_level.txt", "pkg\n")
    data = buffer.getvalue()
    tail_start = len(data) - 4096
    offset, size = find_directory(data[tail_start:], tail_start)
    entries = parse_central_directory(data[offset : offset + size])
    meta, top = dist_info_members(entries, "PKG")
    assert top is not None and meta.local_offset > tail_start - 4096
    got = member_data(data[meta.local_offset :], meta)
    assert got == ("Metadata-Version: 2.1\nName: pkg\n" * 50).encode()
    needed = member_data(data[meta.local_offset : meta.local_offset + 40], meta)
    assert isinstance(needed, int) and needed > 40
