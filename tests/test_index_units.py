"""Pure parts of the index client: target tags, page parsing, the cache's integrity, zips."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from packaging.tags import parse_tag

import lockaudit.index
from lockaudit import __version__
from lockaudit.index.cache import Cache, PageEntry, ProjectEntry, default_cache_dir
from lockaudit.index.pages import (
    PageError,
    page_record,
    parse_html_page,
    parse_json_page,
    rows_of_json,
)
from lockaudit.index.releases import Listing, Project
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


def _file(name: str, **extra: object) -> dict[str, object]:
    entry: dict[str, object] = {"filename": name, "url": f"../../f/{name}"}
    entry["hashes"] = {"sha256": "ab" * 32}
    return {**entry, **extra}


def test_typed_and_lenient_json_decoding_give_the_same_rows() -> None:
    """msgspec's typed decoder takes well-formed pages; one odd value anywhere sends the page
    to the lenient walk, which must read every well-formed entry exactly the same way."""
    import json

    files = [
        _file("a-1.0-py3-none-any.whl", **{"requires-python": ">=3.8", "size": 5}),
        _file("a-1.0.tar.gz", yanked="broken", **{"core-metadata": {"sha256": "CD" * 32}}),
        _file("a-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", yanked=True),
        _file("a-2.0-py3-none-any.whl", **{"dist-info-metadata": True, "upload-time": "t"}),
        _file("not-a-distribution.exe"),
    ]
    page = {"meta": {"api-version": "1.1"}, "files": files}
    typed = rows_of_json(json.dumps(page).encode(), "http://h/simple/a/")
    odd = {"meta": {"api-version": "1.1"}, "files": [*files, _file("a-3.0.zip", size="big")]}
    lenient = rows_of_json(json.dumps(odd).encode(), "http://h/simple/a/")
    assert lenient[:-1] == typed
    assert lenient[-1].size is None and lenient[-1].version == "3.0"
    assert typed[0].url == "http://h/f/a-1.0-py3-none-any.whl"
    assert (typed[1].yanked, typed[1].metadata_sha256) == ("broken", "cd" * 32)
    assert typed[2].tags == "cp311-cp311-manylinux_2_17_x86_64" and typed[1].tags is None
    assert typed[4].project == ""  # kept as a link, never a release


def test_page_records_group_releases_and_round_trip_through_the_cache(tmp_path: Path) -> None:
    rows = rows_of_json(
        b'{"meta": {"api-version": "1.0"}, "files": ['
        b'{"filename": "a-1.0-py3-none-any.whl", "url": "file:///x/a-1.0-py3-none-any.whl"},'
        b'{"filename": "a-1.0.0.tar.gz", "url": "u2"},'
        b'{"filename": "a-1.0-py3-none-any.whl", "url": "u3"},'
        b'{"filename": "b-2.0.tar.gz", "url": "u4"}, {"filename": "junk", "url": "u5"}]}',
        "http://h/simple/a/",
    )
    page = page_record(rows)
    assert page.links == 5 and page.local_link == "file:///x/a-1.0-py3-none-any.whl"
    # "1.0" and "1.0.0" are one release; the second listing of a filename is dropped
    assert [(r.project, r.version, len(r.rows)) for r in page.releases] == [
        ("a", "1.0", 2),
        ("b", "2.0", 1),
    ]
    assert [r.filename for r in page.unparsed] == ["junk"]
    cache = Cache(tmp_path)
    entry = ProjectEntry("http://h/simple/a/", 200, page, "text/html", 1.0, '"e"', None)
    cache.put_project(entry)
    assert cache.get_project(entry.url) == entry
    (path,) = (p for p in (tmp_path / "v1" / "projects").rglob("*") if p.is_file())
    data = path.read_bytes()
    path.write_bytes(data.replace(f'"lockaudit": "{__version__}"'.encode(), b'"lockaudit": "0"'))
    assert cache.get_project(entry.url) is None  # another version's record: a miss


def test_first_source_wins_a_file_and_targets_filter_once() -> None:
    target = Target(python="3.11.9", glibc="2.17")
    first = rows_of_json(
        b'{"files": [{"filename": "a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "url": "x/1"},'
        b'{"filename": "a-1.0-py3-none-any.whl", "url": "x/2", "requires-python": ">=3.12"},'
        b'{"filename": "a-0.9.tar.gz", "url": "x/3"}]}',
        "http://one/simple/a/",
    )
    second = rows_of_json(
        b'{"files": [{"filename": "a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "url": "y/1"},'
        b'{"filename": "a-1.1-py3-none-any.whl", "url": "y/2"}]}',
        "http://two/simple/a/",
    )
    one = Listing(page_record(first), "http://one/simple", lambda u: u.replace("one", "m"))
    two = Listing(page_record(second), "http://two/simple", lambda u: u)
    found = Project("a", [one, two]).usable(target)
    assert [(str(c.version), c.index) for c in found] == [
        ("1.1", "http://two/simple"),
        ("1.0", "http://one/simple"),
        ("0.9", "http://one/simple"),
    ]
    assert [f.url for f in found[1].files] == ["http://m/simple/a/x/1"]  # mirrored, first wins
    assert Project("a", [one, two]).release(found[1].version)[0].index == "http://one/simple"


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
