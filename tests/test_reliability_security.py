"""Items 5, 6 and 7 of the reliability suite: tampering, index provenance, no code execution.

Tampering: a lock edited by hand (a version, a hash, a line removed, a line added) fails
``lockaudit check`` with exit 1 and a ``lock-tampered`` finding at the first line that differs
from what the inputs compile to. A Dockerfile that installs packages without its hash-pinned
lock fails the gate.

Provenance (dependency confusion): ``torch`` is routed to the PyTorch-style index while the
default index serves a higher ``torch 9.9.9``; the routed one always wins, even when the routed
index is down (the compile fails rather than fall back). Every lock records each file's index,
and ``check`` rejects a lock whose file URL is not on the index its package is routed to.

No code execution: ``pesq`` is an sdist only whose ``setup.py`` would write a marker file;
``compile`` and the audits (``outdated``, ``unused``) never create it.

Decisions: ``check`` runs through the CLI application in this process (its JSON findings are
the contract), ``compile`` and the audits of item 7 as child processes started in the
workspace, where a ``setup.py`` run by anyone would write its marker.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lockaudit.errors import IndexFetchError
from lockaudit.locks import (
    DEFAULT_INDEX,
    NO_URL,
    Lock,
    lock_paths,
    read_lock,
    read_pylock,
    render_all,
)
from lockaudit.workspace.config import load_workspace
from tests.corpus.harness import (
    Cli,
    check_json,
    cli_env,
    compile_in_process,
    make_workspace,
    reliability_scenario,
    snapshot,
)
from tests.indexserver import IndexServer, Scenario, sdist_marker_name

LOCK = "locks/asr-cuda.txt"


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(reliability_scenario()) as running:
        yield running


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("good") / "ws", server)
    assert compile_in_process(root, server).ok
    return root


@pytest.fixture
def root(good: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(good, copy)
    return copy


def check(root: Path) -> tuple[int, list[dict[str, Any]]]:
    return check_json(root)


def errors(findings: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["rule"] == rule and f["severity"] == "error"]


# --------------------------------------------------------------------------- tampering


def _bump_version(text: str) -> str:
    return text.replace("whisperx==3.1.1", "whisperx==3.1.2", 1)


def _flip_hash(text: str) -> str:
    match = re.search(r"--hash=sha256:([0-9a-f])", text)
    assert match is not None
    flipped = "0" if match[1] != "0" else "1"
    return text[: match.start(1)] + flipped + text[match.end(1) :]


def _remove_line(text: str) -> str:
    lines = text.split("\n")
    via = next(i for i, line in enumerate(lines) if line.startswith("    # via "))
    return "\n".join(lines[:via] + lines[via + 1 :])


def _add_entry(text: str) -> str:
    entry = (
        "evil==1.0 \\\n    --hash=sha256:"
        + "ab" * 32
        + "\n    # index: "
        + "http://x.invalid/simple\n"
    )
    return text.replace("\nwhisperx==", "\n" + entry + "\nwhisperx==", 1)


TAMPER = {
    "version": _bump_version,
    "hash": _flip_hash,
    "line-removed": _remove_line,
    "line-added": _add_entry,
}


def _first_difference(old: str, new: str) -> int:
    pairs = zip(old.split("\n"), new.split("\n"), strict=False)
    return next(number for number, (a, b) in enumerate(pairs, start=1) if a != b)


@pytest.mark.parametrize("edit", list(TAMPER))
def test_a_hand_edited_lock_fails_check_at_the_edited_line(root: Path, edit: str) -> None:
    path = root / LOCK
    original = path.read_text()
    edited = TAMPER[edit](original)
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    (tampered,) = errors(findings, "lock-tampered")
    assert tampered["location"] == f"{LOCK}:{_first_difference(original, edited)}"
    assert tampered["image"] == "asr:cuda"


def test_an_untouched_workspace_passes_the_gate(root: Path) -> None:
    code, findings = check(root)
    assert code == 0
    assert not [f for f in findings if f["severity"] == "error"]


def test_a_dockerfile_installing_without_the_lock_fails_the_gate(root: Path) -> None:
    dockerfile = root / "docker/asr/Dockerfile"
    text = dockerfile.read_text().replace(
        "--require-hashes -r /tmp/lock.txt", "whisperx==3.1.1 colorama"
    )
    dockerfile.write_text(text)
    code, findings = check(root)
    assert code == 1
    found = [f for f in errors(findings, "dockerfile-not-from-lock") if f["image"] == "asr:cuda"]
    assert [f["location"] for f in found] == ["docker/asr/Dockerfile:5"]


def test_a_dockerfile_installing_the_lock_without_require_hashes_fails_the_gate(
    root: Path,
) -> None:
    """pip checks hashes unasked only while some line has one; the gate asks for the flag."""
    dockerfile = root / "docker/asr/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("--require-hashes ", ""))
    code, findings = check(root)
    (found,) = [
        f for f in findings if f["rule"] == "dockerfile-not-from-lock" and f["image"] == "asr:cuda"
    ]
    assert found["location"] == "docker/asr/Dockerfile:5"
    assert found["severity"] == "error" and code == 1


# --------------------------------------------------------------------------- provenance


def test_the_routed_index_wins_over_a_higher_version_elsewhere(
    good: Path, server: IndexServer
) -> None:
    routed = server.base_url + "/pytorch-cu121/"
    cpu = server.base_url + "/pytorch-cpu/"
    for slug, prefix in (("base-ml-cuda", routed), ("asr-cuda", routed), ("asr-cpu", cpu)):
        torch = read_lock(good / f"locks/{slug}.txt").package("torch")
        assert torch is not None
        assert torch.version.public == "2.1.0"  # never the default index's 9.9.9
        assert torch.index.startswith(prefix), slug
        assert torch.files and all(f.url.startswith(prefix) for f in torch.files), slug


def test_every_lock_records_the_index_of_every_file(good: Path) -> None:
    """Workspace-named indexes by URL, with each file's URL; the user's own pip sources as
    `default` (machine-specific, so no URL: pip finds the file there by name and hash)."""
    workspace = load_workspace(good)
    named = {index.url.rstrip("/") for index in workspace.indexes}
    seen = set()
    for image in workspace.images:
        paths = lock_paths(workspace, image)
        for lock in (read_lock(good / paths.full), read_pylock(good / paths.pylock)):
            for package in lock.packages:
                assert package.files, package.name
                if package.index == DEFAULT_INDEX:
                    assert all(f.url == NO_URL for f in package.files), package.name
                else:
                    assert package.index.rstrip("/") in named, package.name
                    host = urlsplit(package.index).netloc
                    assert all(urlsplit(f.url).netloc == host for f in package.files)
                seen.add(package.index == DEFAULT_INDEX)
                for file in package.files:
                    assert file.index == package.index and file.sha256, file.filename
    assert seen == {True, False}  # both kinds occur in this workspace


def test_a_routed_index_that_is_down_fails_and_never_falls_back(
    tmp_path: Path, index_server: Callable[[Scenario], IndexServer], hermetic_pip: None
) -> None:
    down = index_server(reliability_scenario())
    root = make_workspace(tmp_path / "ws", down)
    assert compile_in_process(root, down).ok
    (root / "docker/base-ml/requirements.txt").write_text("torch\ntorchaudio\n")
    before = snapshot(root)
    down.fail(down.page_path("pytorch-cu121", "torch"), -1, 503)
    down.fail(down.page_path("pytorch-cpu", "torch"), -1, 503)
    with pytest.raises(IndexFetchError) as caught:
        compile_in_process(root, down, cache=tmp_path / "cold")
    assert "/pytorch-" in caught.value.url and caught.value.url.endswith("/torch/")
    assert down.requests[down.page_path("default", "torch")] == 0  # never even asked
    assert snapshot(root) == before


def _other_host(lock: Lock, server: IndexServer) -> Lock:
    """torch's files downloaded from another host (the index page still the routed one)."""
    host = server.base_url
    other = host.replace("127.0.0.1", "localhost")

    def moved(package: Any) -> Any:
        if package.name != "torch":
            return package
        return replace(
            package, files=tuple(replace(f, url=f.url.replace(host, other)) for f in package.files)
        )

    return replace(lock, packages=tuple(moved(p) for p in lock.packages))


def _other_index(lock: Lock, server: IndexServer) -> Lock:
    """torch listed on the default index (where the confusion package lives)."""
    routed, default = server.index_url("pytorch-cu121"), server.index_url("default")

    def moved(package: Any) -> Any:
        if package.name != "torch":
            return package
        files = tuple(replace(f, index=f.index.replace(routed, default)) for f in package.files)
        return replace(package, index=package.index.replace(routed, default), files=files)

    return replace(lock, packages=tuple(moved(p) for p in lock.packages))


@pytest.mark.parametrize("change", [_other_host, _other_index], ids=["file-host", "listing-index"])
def test_check_rejects_a_file_off_the_routed_index(
    root: Path, server: IndexServer, change: Callable[[Lock, IndexServer], Lock]
) -> None:
    """A lock lockaudit could have written (digests coherent) whose torch is not from the
    index torch is routed to: ``lock-provenance`` names the torch line."""
    workspace = load_workspace(root)
    image = workspace.image("asr:cuda")
    lock = read_lock(root / LOCK)
    for path, data in render_all(workspace, image, change(lock, server)).items():
        (root / path).write_bytes(data)
    code, findings = check(root)
    assert code == 1
    found = [f for f in errors(findings, "lock-provenance") if f["image"] == "asr:cuda"]
    assert len(found) == 1, findings
    torch = read_lock(root / LOCK).package("torch")
    assert torch is not None
    line = (root / LOCK).read_text().split("\n").index(f"torch=={torch.version} \\") + 1
    assert found[0]["location"] == f"{LOCK}:{line}"
    assert not errors(findings, "lock-tampered")  # it is the provenance rule that catches it


# --------------------------------------------------------------------------- no code execution


def test_compile_and_audits_never_run_an_sdist(
    good: Path, tmp_path: Path, server: IndexServer
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(good, root)
    (root / "docker/asr/requirements.txt").write_text("whisperx==3.1.1\npesq\n")
    marker = sdist_marker_name("pesq", "0.0.4")
    cli = Cli(root, cli_env(server, tmp_path / "cache"))
    ran = {command: cli.run(command) for command in ("compile", "outdated", "unused")}
    for command, process in ran.items():
        assert "Traceback" not in process.stderr, (command, process.stderr)
        assert process.returncode in (0, 1), (command, process.stderr)
    # pesq's metadata cannot be known without running its setup.py: a failure, never a build.
    assert ran["compile"].returncode == 1
    assert "pesq" in ran["compile"].stdout + ran["compile"].stderr
    assert not list(tmp_path.rglob(marker))
    assert not list(Path.cwd().rglob(marker))
