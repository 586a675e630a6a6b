"""Compile against the public index, through the user's pip configuration (opt-in: -m network).

The embedded workspace must compile as committed (its locks are the proof that its pins install
together), and the pipeline's as-published pins must fail with every conflict explained.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockaudit.compile import CompileOptions, Status, compile_workspace
from lockaudit.index.factory import build_index_client
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ("pyproject.toml", "versions.txt", "requirements-common.txt", "constraints", "docker")


def _copy_embedded(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in (*EMBEDDED, "locks"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name)
        else:
            shutil.copy2(source, dest / name)
    return dest


def test_the_embedded_workspace_compiles_to_its_committed_locks(tmp_path: Path) -> None:
    root = _copy_embedded(tmp_path / "ws")
    before = {p.name: p.read_bytes() for p in (root / "locks").iterdir()}
    workspace = load_workspace(root)
    with build_index_client(workspace, cache_dir=tmp_path / "cache") as source:
        result = compile_workspace(workspace, source, CompileOptions())
    assert result.ok, [r.conflicts for r in result.results if r.conflicts]
    assert len(result.results) == 21
    # existing pins are preferences: the same index state gives the same bytes
    assert {r.status for r in result.results} == {Status.UNCHANGED}
    assert {p.name: p.read_bytes() for p in (root / "locks").iterdir()} == before
    assert [f for f in run_checks(workspace) if f.severity.value == "error"] == []


def test_the_embedded_workspace_compiles_from_nothing(tmp_path: Path) -> None:
    root = _copy_embedded(tmp_path / "ws")
    shutil.rmtree(root / "locks")
    workspace = load_workspace(root)
    with build_index_client(workspace, cache_dir=tmp_path / "cache") as source:
        result = compile_workspace(workspace, source, CompileOptions())
    assert result.ok
    asr = result.result("asr:cuda").lock
    assert asr is not None
    torch = asr.package("torch")
    assert torch is not None and str(torch.version).startswith("2.1.0")
    assert torch.layer == "base-ml:cuda"  # provided by the parent, never reinstalled
    layer = (root / "locks/asr-cuda.layer.txt").read_text()
    assert "\ntorch==" not in layer and "faster-whisper==" in layer


def test_as_published_pins_fail_with_every_conflict_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "as-published"
    shutil.copytree(ROOT / "examples/as-published", root)
    # the PyTorch index is out of reach here: serve it from the default index
    monkeypatch.setenv("LOCKAUDIT_INDEX_MIRRORS", "https://download.pytorch.org/whl/cu121=default")
    workspace = load_workspace(root)
    with build_index_client(workspace, cache_dir=tmp_path / "cache") as source:
        result = compile_workspace(workspace, source, CompileOptions(dry_run=True))
    assert not result.ok
    assert not (root / "locks").exists() or not any((root / "locks").iterdir())
    base_ml = result.result("base-ml:cuda")
    chains = ["\n".join(c.chain) for c in base_ml.conflicts]
    # C1: transformers 4.57.1 needs huggingface-hub>=0.34.0; the write-up pins 0.20.3
    assert any(
        "docker/base-ml/Dockerfile:13 requires huggingface-hub==0.20.3" in chain
        and "transformers==4.57.1 requires huggingface-hub<1.0,>=0.34.0" in chain
        for chain in chains
    ), chains
    asr = result.result("asr:cpu")
    # whisperx 3.7.2 needs numpy 2.0.x; the parent base:cpu pins numpy 1.24.3
    (numpy,) = [c for c in asr.conflicts if "numpy" in c.packages]
    assert numpy.with_parent
    assert any("docker/asr/Dockerfile:9 whisperx==3.7.2" in line for line in numpy.chain)
    assert numpy.suggestion and "whisperx" in numpy.suggestion
    # the stages built on a base that cannot be resolved are skipped, not guessed
    assert result.result("asr:cuda").status is Status.SKIPPED
