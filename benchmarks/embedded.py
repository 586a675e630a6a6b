"""The embedded workspace on a loopback index, and a single-image diarization-like workspace.

The loopback index is built from ``benchmarks/data/embedded-index.json`` (the real resolved
graph, recorded by ``benchmarks/record_embedded.py``): every recorded file is served as a small
real wheel with the recorded tags, name, version, Requires-Python and Requires-Dist.

Decisions:
- Three indexes, named as the workspace names its PyTorch indexes: ``default`` (every recorded
  package, torch 2.1.0 included, as on the public index), ``pytorch-cu121`` (torch and
  torchaudio ``2.1.0+cu121``, triton) and ``pytorch-cpu`` (``2.1.0+cpu``: torch's Requires-Dist
  without the Linux-only CUDA wheels, which is what the real CPU build declares).
- Every wheel's PEP 658 metadata is advertised: the public index does so for every wheel, and
  the benchmark compares resolvers, not index quirks.
- A package recorded as needing a build (docopt: an sdist with legacy metadata) is served as a
  pure wheel, so that no tool runs a build; the tools are compared on the same work.
- Wheels are tiny (no padding): bytes fetched then measure pages and metadata, and a tool that
  downloads whole files shows up as extra requests, not as gigabytes over loopback.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.indexserver.scenario import FileSpec, MetadataMode, Project, Release, Scenario
from tests.indexserver.synthetic import IndexedSpec

__all__ = [
    "DATA",
    "EmbeddedGraph",
    "copy_embedded_workspace",
    "embedded_scenario",
    "load_graph",
    "write_diarization_workspace",
]

DATA = Path(__file__).resolve().parent / "data" / "embedded-index.json"
REPO = Path(__file__).resolve().parents[1]
ROUTED = ("torch", "torchaudio", "triton")
PYTORCH_TAGS = "cp311-cp311-linux_x86_64"
# What the embedded workspace is made of (copied into a temporary directory per run).
WORKSPACE_PARTS = (
    "pyproject.toml",
    "versions.txt",
    "requirements-common.txt",
    "constraints",
    "docker",
)


@dataclass(frozen=True)
class EmbeddedGraph:
    """The recorded packages, as scenario projects of one release each."""

    projects: tuple[Project, ...]

    def project(self, name: str) -> Project:
        wanted = canonicalize_name(name)
        return next(p for p in self.projects if canonicalize_name(p.name) == wanted)


def _tags(filename: str) -> str:
    """``name-ver(-build)?-py-abi-plat.whl`` → ``py-abi-plat``; an sdist becomes a pure wheel."""
    if not filename.endswith(".whl"):
        return "py3-none-any"
    return "-".join(filename.removesuffix(".whl").split("-")[-3:])


def _project(raw: dict[str, Any]) -> Project:
    files = tuple(
        dict.fromkeys(
            FileSpec(kind="wheel", tags=_tags(f["filename"]), metadata=MetadataMode.ADVERTISED)
            for f in raw["files"]
        )
    )
    release = Release(
        raw["version"],
        tuple(raw["requires_dist"]),
        raw["requires_python"],
        extras=tuple(raw["provides_extra"]),
        files=files,
    )
    return Project(raw["name"], (release,))


def load_graph(path: Path = DATA) -> EmbeddedGraph:
    data = json.loads(path.read_text(encoding="utf-8"))
    return EmbeddedGraph(tuple(_project(raw) for raw in data["packages"]))


def _routed(project: Project, local: str, *, drop_cuda: bool) -> Project:
    release = project.releases[0]
    requires = release.requires_dist
    if drop_cuda:
        # The CPU build does not depend on the CUDA runtime wheels nor on triton.
        requires = tuple(
            r
            for r in requires
            if not (Requirement(r).name.startswith("nvidia-") or Requirement(r).name == "triton")
        )
    files = (FileSpec(kind="wheel", tags=PYTORCH_TAGS, metadata=MetadataMode.ADVERTISED),)
    version = f"{release.version}+{local}"
    routed = Release(version, requires, release.requires_python, release.extras, files)
    return Project(project.name, (routed,))


def embedded_scenario(graph: EmbeddedGraph | None = None) -> Scenario:
    """``default`` + ``pytorch-cu121`` + ``pytorch-cpu``, as the embedded workspace routes."""
    graph = graph or load_graph()
    torch, audio = graph.project("torch"), graph.project("torchaudio")
    cu121 = (
        _routed(torch, "cu121", drop_cuda=False),
        _routed(audio, "cu121", drop_cuda=False),
        graph.project("triton"),
    )
    cpu = (_routed(torch, "cpu", drop_cuda=True), _routed(audio, "cpu", drop_cuda=True))
    return Scenario(
        (
            IndexedSpec("default", graph.projects),
            IndexedSpec("pytorch-cu121", cu121),
            IndexedSpec("pytorch-cpu", cpu),
        )
    )


def copy_embedded_workspace(dest: Path, source: Path = REPO) -> Path:
    """Copy the embedded workspace's inputs (not its locks) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKSPACE_PARTS:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, dest / part, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, dest / part)
    shutil.rmtree(dest / "locks", ignore_errors=True)
    return dest


_DIARIZATION = """\
[tool.lockaudit]
versions = "versions.txt"
common = "requirements-common.txt"

[tool.lockaudit.target]
python = "3.11.14"
platform = "linux"
arch = "x86_64"
glibc = "2.35"
cuda = "12.1"

[[tool.lockaudit.constraints]]
file = "constraints/cuda121.txt"
variant = "cuda"

[[tool.lockaudit.indexes]]
name = "pytorch-cu121"
url = "{cu121}"
variant = "cuda"
packages = ["torch", "torchaudio", "torchvision", "triton"]

[[tool.lockaudit.images]]
name = "diarization"
tag = "cuda"
dockerfile = "docker/diarization/Dockerfile"
base-image = "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
variant = "cuda"
requirements = ["requirements.txt"]
"""


_MIRRORED = """
# The PyTorch index may be unreachable (as on the machines the public scenario runs on): the
# default index serves torch 2.1.0, whose Linux wheel is the CUDA 12.1 build.
[tool.lockaudit.mirrors]
"{cu121}" = "default"
"""


def write_diarization_workspace(
    dest: Path, cu121_url: str, source: Path = REPO, *, mirrored: bool = False
) -> Path:
    """One CUDA image with everything diarization:cuda installs (its whole chain, flattened).

    ``cu121_url`` is the URL the workspace names for its PyTorch index (the same the embedded
    workspace names, so that one mirror setting serves both); ``mirrored`` serves it from the
    default index, as the embedded workspace's ``[tool.lockaudit.mirrors]`` does.
    """
    copy_embedded_workspace(dest, source)
    chain = ("requirements-common.txt", "docker/base-ml/requirements.txt")
    lines = [f"-r {path}" for path in (*chain, "docker/diarization/requirements.txt")]
    (dest / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = _DIARIZATION + (_MIRRORED if mirrored else "")
    (dest / "pyproject.toml").write_text(config.format(cu121=cu121_url), encoding="utf-8")
    return dest
