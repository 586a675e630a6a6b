"""packse scenarios as test cases: loading, the target they describe, and our known differences.

The scenario files live beside the repository (``<repo>/../shared/conformance/packse/
scenarios``, where CI keeps a copy of ``shared/``); ``LOCKAUDIT_PACKSE_SCENARIOS`` points
elsewhere. Universal ("fork") scenarios resolve for every environment at once and are out of
scope: lockaudit resolves one target at a time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockaudit.workspace.model import Target
from tests.conformance.universe import Universe

HERE = Path(__file__).resolve().parent
DIFFERENCES = HERE / "differences.toml"
DEFAULT_PYTHON = "3.12"  # packse's default interpreter for a scenario without one


def scenarios_dir() -> Path:
    override = os.environ.get("LOCKAUDIT_PACKSE_SCENARIOS")
    if override:
        return Path(override)
    return HERE.parents[1].parent / "shared" / "conformance" / "packse" / "scenarios"


@dataclass(frozen=True)
class Case:
    """One scenario: what to resolve, for which target, and what packse expects."""

    name: str
    category: str
    requires: tuple[str, ...]
    packages: Universe
    target: Target
    satisfiable: bool
    expected: Mapping[str, str] | None  # the resolution, when the scenario states it
    universal: bool

    @property
    def id(self) -> str:
        return f"{self.category}/{self.name}"


def _full(version: str) -> str:
    """``3.9`` means ``3.9.0`` to a resolver told to target it (packse and uv agree)."""
    parts = version.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def _target(data: Mapping[str, Any]) -> Target:
    options = data.get("resolver_options", {})
    python = options.get("python") or data.get("environment", {}).get("python") or DEFAULT_PYTHON
    platform = options.get("python_platform", "x86_64-manylinux_2_35")
    arch, _, libc = platform.partition("-")
    glibc = "2.17" if libc == "manylinux2014" else libc.removeprefix("manylinux_").replace("_", ".")
    return Target(python=_full(python), arch=arch, glibc=glibc)


def load_case(path: Path) -> Case:
    with path.open("rb") as f:
        data = tomllib.load(f)
    expected = data.get("expected", {})
    packages = {name: dict(p.get("versions", {})) for name, p in data.get("packages", {}).items()}
    return Case(
        name=data["name"],
        category=path.parent.name,
        requires=tuple(data.get("root", {}).get("requires", ())),
        packages=packages,
        target=_target(data),
        satisfiable=bool(expected.get("satisfiable")),
        expected=expected.get("packages"),
        universal=bool(data.get("resolver_options", {}).get("universal")),
    )


def load_cases(directory: Path) -> list[Case]:
    return sorted((load_case(p) for p in directory.rglob("*.toml")), key=lambda c: c.id)


@dataclass(frozen=True)
class Difference:
    """A scenario lockaudit deliberately answers differently, with our answer and the reason."""

    satisfiable: bool
    packages: Mapping[str, str] | None
    reason: str


def load_differences() -> dict[str, Difference]:
    with DIFFERENCES.open("rb") as f:
        data = tomllib.load(f)
    return {
        name: Difference(
            satisfiable=entry["lockaudit"] == "satisfiable",
            packages=entry.get("packages"),
            reason=entry["reason"],
        )
        for name, entry in data.get("scenario", {}).items()
    }
