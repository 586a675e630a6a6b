"""Real metadata from the public index, through the user's own pip configuration (opt-in).

Run with ``pytest -m network``. The cache is a temporary directory, so this measures the
cold path; nothing here writes the index's host name: pip's configuration or pip's default
decides where requests go.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.index.factory import build_index_client
from lockaudit.index.types import Candidate, CoreMetadata
from lockaudit.workspace.model import Target, Variant

pytestmark = pytest.mark.network

CUDA = Target(python="3.11.7", variant=Variant.CUDA, cuda="12.1")


def _release(candidates: Sequence[Candidate], version: str) -> Candidate:
    for candidate in candidates:
        if candidate.version == Version(version):
            return candidate
    raise AssertionError(f"{version} not among {[str(c.version) for c in candidates]}")


def test_public_metadata_of_torch_transformers_pyannote(tmp_path: Path) -> None:
    wanted = {"torch": "2.1.0", "transformers": "4.57.1", "pyannote-audio": "3.4.0"}
    started = time.perf_counter()
    with build_index_client(None, cache_dir=tmp_path / "cache") as client:
        client.prefetch([canonicalize_name(name) for name in wanted], CUDA)
        releases = {
            name: _release(client.candidates(canonicalize_name(name), CUDA), version)
            for name, version in wanted.items()
        }
        client.prefetch(releases.values(), CUDA)
        metadata = {name: client.metadata(c, CUDA) for name, c in releases.items()}
    elapsed = time.perf_counter() - started

    torch = metadata["torch"]
    assert isinstance(torch, CoreMetadata)
    env = CUDA.marker_environment() | {"extra": ""}
    nvidia = {
        r.name
        for r in torch.requires_dist
        if r.name.startswith("nvidia-")
        and r.name.endswith("-cu12")
        and (r.marker is None or r.marker.evaluate(env))
    }
    assert {"nvidia-cublas-cu12", "nvidia-cudnn-cu12", "nvidia-nccl-cu12"} <= nvidia
    assert any(r.name == "triton" and str(r.specifier) == "==2.1.0" for r in torch.requires_dist)
    assert all(len(f.sha256 or "") == 64 for f in releases["torch"].files)

    transformers = metadata["transformers"]
    assert isinstance(transformers, CoreMetadata)
    assert "torch" in transformers.provides_extra
    assert any(r.name == "huggingface-hub" for r in transformers.requires_dist)

    pyannote = metadata["pyannote-audio"]
    assert isinstance(pyannote, CoreMetadata) and pyannote.version == Version("3.4.0")
    assert any(r.name == "torch" for r in pyannote.requires_dist)
    assert elapsed < 60
