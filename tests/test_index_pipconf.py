"""pip's configuration, credentials, mirrors and find-links, as build_index_client wires them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from lockaudit.index.factory import build_index_client, routing_for
from lockaudit.index.pipconf import PipConfig, config_files, default_index_url, read_pip_config
from lockaudit.index.transport import RetryPolicy
from lockaudit.index.urls import Mirrors, json_api_root, redact
from lockaudit.workspace.model import Target
from tests.indexserver import IndexServer

NUMPY = canonicalize_name("numpy")
FAST = RetryPolicy(attempts=2, backoff=0.01, read_timeout=5)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_devnull_disables_every_file() -> None:
    assert config_files({"PIP_CONFIG_FILE": os.devnull, "HOME": "/nonexistent"}) == ()


def test_file_order_and_overrides(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / ".pip" / "pip.conf", "[global]\nindex-url = http://legacy/simple\n")
    _write(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nindex-url = http://user/simple\nextra-index-url =\n  http://a/simple\n"
        "  http://b/simple\n[install]\nfind-links = /wheels\n[download]\ncert = /dl.pem\n",
    )
    venv = tmp_path / "venv"
    _write(venv / "pip.conf", "[global]\ncert = /site.pem\n")
    etc = tmp_path / "etc"
    _write(etc / "xdg" / "pip" / "pip.conf", "[global]\nindex-url = http://xdg/simple\n")
    _write(etc / "pip.conf", "[global]\nindex-url = http://etc/simple\ncert = /etc.pem\n")
    env = {"HOME": str(home), "VIRTUAL_ENV": str(venv)}
    config = read_pip_config(env, etc_dir=etc)
    assert config.index_url == "http://user/simple"  # the XDG user file beats the legacy one
    assert config.extra_index_urls == ("http://a/simple", "http://b/simple")
    assert config.find_links == ("/wheels",)  # [install] is read
    assert config.cert == "/site.pem"  # site beats user; [download] is not read for install
    assert config.files == (
        etc / "xdg" / "pip" / "pip.conf",
        etc / "pip.conf",
        home / ".pip" / "pip.conf",
        home / ".config" / "pip" / "pip.conf",
        venv / "pip.conf",
    )


def test_pip_config_file_replaces_user_files_and_env_wins(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / ".config" / "pip" / "pip.conf", "[global]\nno-index = true\n")
    explicit = _write(tmp_path / "pip.conf", "[global]\nindex_url = http://file/simple\n")
    env = {"HOME": str(home), "PIP_CONFIG_FILE": str(explicit)}
    config = read_pip_config(env, etc_dir=tmp_path / "etc")
    assert config.index_url == "http://file/simple" and not config.no_index
    env |= {
        "PIP_INDEX_URL": "http://env/simple",
        "PIP_EXTRA_INDEX_URL": "http://e1 http://e2",
        "PIP_FIND_LINKS": "/a /b",
        "PIP_CERT": "/env.pem",
        "PIP_NO_INDEX": "1",
    }
    config = read_pip_config(env, etc_dir=tmp_path / "etc")
    assert config == PipConfig(
        "http://env/simple", ("http://e1", "http://e2"), ("/a", "/b"), "/env.pem", True
    )


def test_default_index_comes_from_pip() -> None:
    from pip._internal.models.index import PyPI

    assert default_index_url() == PyPI.simple_url
    routing, _ = routing_for(None, PipConfig())
    assert routing.default[0].url == PyPI.simple_url.rstrip("/")


def test_pip_conf_file_reaches_the_index(
    test_index: IndexServer, hermetic_pip: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = _write(
        tmp_path / "pip.conf",
        f"[global]\nindex-url = {test_index.index_url('pytorch-cpu')}\n"
        f"extra-index-url = {test_index.index_url()}\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    with build_index_client(None, cache_dir=tmp_path / "c", retry=FAST) as client:
        torch = client.candidates(canonicalize_name("torch"), Target())
    # Unrouted: both indexes, merged by version (the trap is visible without routing).
    assert [str(c.version) for c in torch] == ["9.9.9", "2.1.0+cpu"]
    assert torch[1].index == test_index.index_url("pytorch-cpu")


def test_env_index_url_and_find_links_dir(
    test_index: IndexServer, hermetic_pip: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = tmp_path / "wheels"
    links.mkdir()
    name = "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    (links / name).write_bytes(test_index.built("default", name).data)
    monkeypatch.setenv("PIP_INDEX_URL", test_index.index_url("pytorch-cpu"))
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    with build_index_client(None, cache_dir=tmp_path / "c", retry=FAST) as client:
        (numpy,) = client.candidates(NUMPY, Target())
        assert numpy.files[0].url.startswith("file:")
        assert client.metadata(numpy, Target()).version == numpy.version
    assert test_index.requests[test_index.page_path("pytorch-cpu", "numpy")] == 1


def test_netrc_credentials_reach_the_server(
    test_index: IndexServer, hermetic_pip: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_index.require_auth("default", "alice", "s3cret")
    netrc = _write(tmp_path / "netrc", "machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    config = PipConfig(index_url=test_index.index_url())
    with build_index_client(None, cache_dir=tmp_path / "c", pip_config=config, retry=FAST) as c:
        candidates = c.candidates(NUMPY, Target())
        assert c.metadata(candidates[0], Target()).version == candidates[0].version
    assert str(candidates[0].version) == "2.0.0"


def test_url_credentials_are_used_and_never_recorded(
    test_index: IndexServer, hermetic_pip: None, tmp_path: Path
) -> None:
    test_index.require_auth("default", "bob", "pa:ss")
    url = test_index.index_url().replace("http://", "http://bob:pa%3Ass@")
    config = PipConfig(index_url=url)
    with build_index_client(None, cache_dir=tmp_path / "c", pip_config=config, retry=FAST) as c:
        candidates = c.candidates(NUMPY, Target())
        c.metadata(candidates[0], Target())
    assert candidates[0].index == test_index.index_url()
    assert all("pa:ss" not in f.url and "bob" not in f.url for x in candidates for f in x.files)
    cached = b"".join(p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file())
    assert b"pa:ss" not in cached and b"pa%3Ass" not in cached
    # shown with the user and a masked password (on purpose since redaction keeps the user)
    assert redact(url) == test_index.index_url().replace("http://", "http://bob:***@")


def test_mirrors_fetch_elsewhere_and_keep_provenance(
    test_index: IndexServer, hermetic_pip: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = "http://index.invalid/simple"
    monkeypatch.setenv("LOCKAUDIT_INDEX_MIRRORS", f"{original}={test_index.index_url()}")
    config = PipConfig(index_url=original)
    with build_index_client(None, cache_dir=tmp_path / "c", pip_config=config, retry=FAST) as c:
        numpy = c.candidates(NUMPY, Target())
        assert c.metadata(numpy[0], Target()).version == numpy[0].version
    assert numpy[0].index == original
    assert numpy[0].files[0].url.startswith(test_index.base_url)
    assert test_index.requests[test_index.page_path("default", "numpy")] == 1


def test_mirror_prefixes_and_json_api_root() -> None:
    mirrors = Mirrors.from_env(
        {"LOCKAUDIT_INDEX_MIRRORS": "http://a/=http://m/, http://a/x/=http://n/"}
    )
    assert mirrors.rewrite("http://a/x/y") == "http://n/y"  # the longest prefix wins
    assert mirrors.rewrite("http://a/z") == "http://m/z"
    assert mirrors.rewrite("http://b/z") == "http://b/z"
    assert json_api_root("http://h/simple/") == "http://h/pypi"
