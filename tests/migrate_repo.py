"""``examples/unlocked`` (a repository that was never locked) and a loopback index serving the
packages it installs, at versions the public index has too.

Shared by the migrate, add-stage and workflow-docs tests: three images (a base and two stages)
whose Dockerfiles install loose and pinned packages inline and from requirement files, mixed
with apt-get steps, comments and other instructions that a migration must leave byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.indexserver import Scenario, scenario_from_dict

MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"


def _releases(*versions: str, requires: tuple[str, ...] = (), tags: str = "py3-none-any") -> Any:
    return {
        "releases": [
            {"version": v, "requires_dist": list(requires), "files": [{"tags": tags}]}
            for v in versions
        ]
    }


def scenario() -> Scenario:
    return scenario_from_dict(
        {
            "indexes": {
                "default": {
                    "projects": {
                        "numpy": _releases("1.24.3", "1.26.4", tags=MANYLINUX),
                        "rich": _releases("14.1.0", "14.2.0"),
                        "tqdm": _releases("4.66.0", "4.67.0"),
                        "colorama": _releases("0.4.6"),
                        "filelock": _releases("3.12.0", "3.13.1"),
                        "requests": _releases("2.32.5", requires=("idna>=3",)),
                        "idna": _releases("3.7", "3.10"),
                    }
                }
            }
        }
    )


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unlocked"
ML = (EXAMPLE / "docker/ml/Dockerfile").read_text(encoding="utf-8")
API = (EXAMPLE / "docker/api/Dockerfile").read_text(encoding="utf-8")


def make_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A copy of ``examples/unlocked`` at ``root``, with ``files`` replaced."""
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    for path, text in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root
