"""Record the embedded workspace's dependency graph into ``benchmarks/data/embedded-index.json``.

    python benchmarks/record_embedded.py        # needs the public index; run once, commit the JSON

The loopback benchmark of the embedded workspace serves a copy of this graph (small real wheels
built from it), so the deterministic run needs no network. What is recorded, per package of
the graph: name, version, Requires-Python, Requires-Dist, Provides-Extra, and the files usable
on the workspace's target (filename, size; no URL, so no index host is ever written).

Decisions:
- The graph is the union of every requirement file of the workspace, resolved at once by uv
  against the public index with the cuda constraints and the ``versions.txt`` pins. Each image
  asks a subset of that union, so the one recorded release of each package satisfies every
  image's own resolution: one release per package is enough for all resolvers to agree.
- torch, torchaudio and triton are recorded from the public index (the default torch 2.1.0
  build there is the CUDA 12.1 one, with the same Requires-Dist as ``2.1.0+cu121``);
  ``benchmarks/embedded.py`` derives the ``+cu121`` and ``+cpu`` routed copies from them.
- Only the pinned release of each package is looked at: one project page and one metadata
  file per package, what an ordinary install of the workspace reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import Version  # noqa: E402

from lockaudit.index.client import ClientOptions, IndexClient, Routing  # noqa: E402
from lockaudit.index.pipconf import default_index_url, read_pip_config  # noqa: E402
from lockaudit.index.types import CoreMetadata  # noqa: E402
from lockaudit.parsing.versions import parse_versions  # noqa: E402
from lockaudit.workspace.config import load_workspace  # noqa: E402
from lockaudit.workspace.model import Target, Variant  # noqa: E402

OUT = ROOT / "benchmarks" / "data" / "embedded-index.json"
TARGET = Target(python="3.11.14", glibc="2.35", variant=Variant.CUDA, cuda="12.1")


def _union_pins(index_url: str, work: Path) -> list[tuple[str, str]]:
    workspace = load_workspace(ROOT)
    files = sorted({p for image in workspace.images for p in image.requirements})
    pins = parse_versions(ROOT, workspace.versions or "versions.txt").pins
    pin_file = work / "pins.txt"
    pin_file.write_text("\n".join(str(p.requirement) for p in pins) + "\n")
    command = [
        "uv", "pip", "compile", "--no-config", "--quiet", "--no-header", "--no-annotate",
        "--index-url", index_url, "--python-version", TARGET.python,
        "--python-platform", "x86_64-manylinux_2_35",
        "-c", str(ROOT / "constraints" / "cuda121.txt"), "-c", str(pin_file),
        *(str(ROOT / f) for f in files),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    found = []
    for line in done.stdout.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not line.startswith("#"):
            found.append((str(canonicalize_name(name)), version.split()[0]))
    return found


def _record(client: IndexClient, name: str, version: str) -> dict[str, object]:
    wanted = Version(version)
    candidates = client.candidates(canonicalize_name(name), TARGET)
    candidate = next(c for c in candidates if c.version == wanted)
    meta = client.metadata(candidate, TARGET)
    files = [{"filename": f.filename, "size": f.size} for f in candidate.files]
    if not isinstance(meta, CoreMetadata):
        # An sdist whose dependencies need a build (docopt): recorded without dependencies
        # and flagged; the loopback copy serves it as a wheel so that no tool builds.
        print(f"  {name} {version}: {meta.reason}; recorded with no Requires-Dist")
        return {"name": name, "version": version, "requires_python": None,
                "requires_dist": [], "provides_extra": [], "files": files,
                "needs_build": meta.reason}  # fmt: skip
    return {
        "name": name,
        "version": version,
        "requires_python": str(meta.requires_python) if meta.requires_python else None,
        "requires_dist": [str(r) for r in meta.requires_dist],
        "provides_extra": list(meta.provides_extra),
        "files": files,
    }


def main() -> None:
    config = read_pip_config()
    index_url = config.index_url or default_index_url()
    with tempfile.TemporaryDirectory() as d:
        pins = _union_pins(index_url, Path(d))
        print(f"{len(pins)} packages in the union graph; reading their metadata", flush=True)
        options = ClientOptions(cache_dir=Path(d) / "cache")
        with IndexClient(Routing.simple(index_url), options) as client:
            client.prefetch([canonicalize_name(n) for n, _ in pins], TARGET)
            packages = [_record(client, name, version) for name, version in pins]
    data = {
        "about": "The embedded workspace's resolved dependency graph, metadata only "
        "(benchmarks/record_embedded.py). Used to serve a loopback copy of the index.",
        "target": {"python": TARGET.python, "platform": "x86_64-manylinux_2_35"},
        "packages": sorted(packages, key=lambda p: str(p["name"])),
    }
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(packages)} packages)")


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    main()
