"""Direct references a lock can hold are locked (PEP 610 data in all three lock files).

``tool @ <url>#sha256=<hex>`` names a wheel served at a plain URL of the loopback server (on
an index nobody lists it on): compile resolves its dependencies from the wheel's own METADATA
and writes ``tool @ <url> --hash=…`` in the text locks and ``archive = {url, hashes}`` in the
pylock; a child image inherits it as its parent's pin; pip's hash-checking mode and
packaging's PEP 751 reader accept what is written; a changed URL makes the lock stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockaudit.compile import CompileOptions, CompileResult, compile_workspace
from lockaudit.errors import InputError
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.locks import read_lock
from lockaudit.locks.pylock import read_pylock
from lockaudit.locks.text import load_lock, lock_requirements
from lockaudit.parsing.directref import DIRECT_INDEX
from lockaudit.parsing.requirements import parse_requirements
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from tests.indexserver import IndexServer, scenario_from_dict

WHEEL = "tool-1.0-py3-none-any.whl"


def _release(version: str, *requires: str) -> dict[str, object]:
    return {"releases": [{"version": version, "requires_dist": list(requires), "files": [{}]}]}


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    scenario = scenario_from_dict(
        {
            "indexes": {
                "default": {
                    "projects": {
                        "dep": _release("2.0"),
                        "plugin": _release("1.0", "tool>=1.0"),
                        "six": _release("1.16.0"),
                    }
                },
                # the wheel's only home: a plain file URL, on an index no image names
                "files": {"projects": {"tool": _release("1.0", "dep>=1")}},
            }
        }
    )
    with IndexServer(scenario) as running:
        yield running


CONFIG = """\
[tool.lockaudit]
versions = ""
common = ""

[tool.lockaudit.target]
python = "3.11.7"
glibc = "2.35"

[[tool.lockaudit.images]]
name = "base"
tag = "cpu"
dockerfile = "base/Dockerfile"
base-image = "python:3.11-slim"
requirements = ["base/requirements.txt"]

[[tool.lockaudit.images]]
name = "app"
tag = "cpu"
dockerfile = "app/Dockerfile"
parent = "base:cpu"
requirements = ["app/requirements.txt"]
"""


def _dockerfile(parent: str, slug: str) -> str:
    return (
        f"FROM {parent}\n"
        f"COPY locks/{slug}.layer.txt /tmp/lock.txt\n"
        "RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/lock.txt\n"
    )


def _url(server: IndexServer) -> str:
    return server.base_url + server.file_path("files", WHEEL)


def _workspace(root: Path, server: IndexServer, *, sha256: str | None = None) -> Path:
    digest = sha256 or server.built("files", WHEEL).sha256
    files = {
        "pyproject.toml": CONFIG,
        "base/Dockerfile": _dockerfile("python:3.11-slim", "base-cpu"),
        "base/requirements.txt": f"six==1.16.0\ntool @ {_url(server)}#sha256={digest}\n",
        "app/Dockerfile": _dockerfile("base:cpu", "app-cpu"),
        "app/requirements.txt": "plugin==1.0\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _compile(root: Path, server: IndexServer) -> CompileResult:
    workspace = load_workspace(root)
    config = PipConfig(index_url=server.index_url("default"))
    client = build_index_client(workspace, cache_dir=root / ".cache", pip_config=config)
    try:
        return compile_workspace(workspace, client, CompileOptions())
    finally:
        client.close()


@pytest.fixture
def compiled(tmp_path: Path, server: IndexServer, hermetic_pip: None) -> Path:
    root = _workspace(tmp_path, server)
    result = _compile(root, server)
    assert result.ok, [r.reason for r in result.results]
    return root


def test_the_wheel_url_is_locked_with_its_hash_and_its_dependencies(
    compiled: Path, server: IndexServer
) -> None:
    text = (compiled / "locks/base-cpu.txt").read_text()
    digest = server.built("files", WHEEL).sha256
    assert f"tool @ {_url(server)} \\\n    --hash=sha256:{digest}\n" in text
    assert f"    # index: {DIRECT_INDEX}\n" in text
    lock = read_lock(compiled / "locks/base-cpu.txt")
    tool = lock.package("tool")
    assert tool is not None and str(tool.version) == "1.0" and tool.hashes == (digest,)
    dep = lock.package("dep")  # from the wheel's own METADATA: Requires-Dist dep>=1
    assert dep is not None and "tool" in dep.required_by
    # pip reads the same lock: its requirement line keeps the URL
    parsed = parse_requirements(compiled, "locks/base-cpu.txt")
    as_pip = {line.name: line for line in parsed.requirements}
    assert as_pip["tool"].requirement.url == _url(server)
    assert as_pip["tool"].hashes == (f"sha256:{digest}",)
    shown = "locks/base-cpu.txt"
    built = lock_requirements(load_lock(compiled / shown, display=shown))
    assert [(str(x.requirement), x.hashes) for x in built.requirements] == [
        (str(x.requirement), x.hashes) for x in parsed.requirements
    ]


def test_a_child_inherits_the_direct_reference_as_its_parents_pin(compiled: Path) -> None:
    child = read_lock(compiled / "locks/app-cpu.txt")
    tool = child.package("tool")
    assert tool is not None and tool.layer == "base:cpu" and tool.index == DIRECT_INDEX
    layer = read_lock(compiled / "locks/app-cpu.layer.txt")
    assert [p.name for p in layer.packages] == ["plugin"]


def test_the_pylock_holds_an_archive_and_is_valid_pep751(
    compiled: Path, server: IndexServer
) -> None:
    from packaging.pylock import Pylock

    raw = tomllib.loads((compiled / "locks/pylock.base-cpu.toml").read_text())
    (entry,) = [p for p in raw["packages"] if p["name"] == "tool"]
    digest = server.built("files", WHEEL).sha256
    assert entry["archive"]["url"] == _url(server)
    assert entry["archive"]["hashes"] == {"sha256": digest}
    assert "index" not in entry and "wheels" not in entry
    pylock = Pylock.from_dict(raw)
    (tool,) = [p for p in pylock.packages if p.name == "tool"]
    assert tool.archive is not None and tool.archive.url == _url(server)
    back = read_pylock(compiled / "locks/pylock.base-cpu.toml")
    assert back.package("tool") == read_lock(compiled / "locks/base-cpu.txt").package("tool")


def test_the_gate_passes_and_a_changed_hash_makes_the_lock_stale(
    compiled: Path, server: IndexServer
) -> None:
    assert [(f.code, str(f.location)) for f in run_checks(load_workspace(compiled))] == []
    requirements = compiled / "base/requirements.txt"
    digest = server.built("files", WHEEL).sha256
    requirements.write_text(requirements.read_text().replace(digest, "0" * 64))
    found = {(f.rule, f.image) for f in run_checks(load_workspace(compiled))}
    assert ("lock-stale", "base:cpu") in found, found


def test_a_wrong_hash_fails_the_compile_and_writes_nothing(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    root = _workspace(tmp_path, server, sha256="0" * 64)
    server.ranges(False)  # the whole wheel comes, and its hash is checked
    try:
        with pytest.raises(Exception) as raised:
            _compile(root, server)
    finally:
        server.ranges(True)
    assert "sha256" in str(raised.value).lower() or "hash" in str(raised.value).lower()
    assert not (root / "locks").exists()


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@pytest.mark.parametrize("name", ["base-cpu.txt", "base-cpu.layer.txt"])
def test_pip_installs_the_lock_in_hash_checking_mode(
    compiled: Path, server: IndexServer, tmp_path: Path, name: str
) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
        "--require-hashes", "--only-binary=:all:", "--target", str(tmp_path / "target"),
        "--index-url", server.index_url("default"), "-r", str(compiled / "locks" / name),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=_pip_env(), check=False)
    assert done.returncode == 0, done.stderr
    would = done.stdout.split("Would install", 1)[1].split()
    assert sorted(would) == ["dep-2.0", "six-1.16.0", "tool-1.0"]


def test_uv_installs_the_archive_from_the_pylock(compiled: Path, tmp_path: Path) -> None:
    """uv is the installer oracle: the archive's URL and hash are all it needs (no index)."""
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    command = ["uv", "pip", "install", "--dry-run", "--no-config", "--no-index"]
    command += ["--preview-features", "pylock", "--python", str(venv / "bin" / "python")]
    done = subprocess.run(
        [*command, "-r", str(compiled / "locks/pylock.base-cpu.toml")],
        capture_output=True,
        text=True,
        env={**_pip_env(), "UV_NO_CACHE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert " + tool @ http://127.0.0.1:" in done.stderr, done.stderr
    assert {"dep==2.0", "six==1.16.0"} <= {
        line.removeprefix(" + ") for line in done.stderr.splitlines()
    }, done.stderr


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("tool @ {url}", "no #sha256="),
        ("tool @ git+https://example.org/tool.git@main", "names no commit"),
        ("tool @ file:///src/tool-1.0-py3-none-any.whl", "local path"),
    ],
)
def test_an_unlockable_reference_fails_the_compile_at_its_line(
    tmp_path: Path, server: IndexServer, hermetic_pip: None, written: str, why: str
) -> None:
    root = _workspace(tmp_path, server)
    line = written.format(url=_url(server))
    (root / "base/requirements.txt").write_text(f"six==1.16.0\n{line}\n")
    with pytest.raises(InputError) as raised:
        _compile(root, server)
    assert str(raised.value.location) == "base/requirements.txt:2"
    assert why in str(raised.value) and "cannot be locked" in str(raised.value)
    assert not (root / "locks").exists()


def test_a_wheel_for_another_platform_is_refused(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    root = _workspace(tmp_path, server)
    other = "tool-1.0-cp311-cp311-macosx_11_0_arm64.whl"
    (root / "base/requirements.txt").write_text(
        f"tool @ {server.base_url}/files/files/{other}#sha256={'1' * 64}\n"
    )
    with pytest.raises(InputError, match="does not install on the image's target"):
        _compile(root, server)
