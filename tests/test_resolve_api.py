"""The public surface of ``lockaudit.resolve`` and its reporter hooks."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

import lockaudit.resolve
from lockaudit.errors import Location, ResolutionError
from lockaudit.resolve import (
    Origin,
    RequirementKind,
    ResolutionFailed,
    ResolveReporter,
    RootRequirement,
    resolve,
)
from lockaudit.workspace.model import Target
from tests.conformance.universe import served


def test_exported_names() -> None:
    assert sorted(lockaudit.resolve.__all__) == [
        "Conflict",
        "Origin",
        "Pin",
        "RequirementKind",
        "Resolution",
        "ResolutionFailed",
        "ResolveReporter",
        "RootRequirement",
        "explain_all",
        "explain_every",
        "resolve",
    ]
    assert issubclass(ResolutionFailed, ResolutionError)


class Recorder(ResolveReporter):
    def __init__(self) -> None:
        self.events: list[str] = []

    def starting(self, target: Target, roots: int) -> None:
        self.events.append(f"start {roots}")

    def pinning(self, name: NormalizedName, version: Version) -> None:
        self.events.append(f"pin {name}=={version}")

    def backtracking(self, names: tuple[NormalizedName, ...]) -> None:
        self.events.append(f"backtrack {','.join(names)}")

    def ending(self, pins: int, rounds: int) -> None:
        self.events.append(f"end {pins}")


def test_the_reporter_sees_pins_backtracking_and_the_end() -> None:
    universe = {
        "a": {"1.0": {"requires": ["b"]}, "2.0": {"requires": ["b<2"]}},
        "b": {"1.0": {}, "2.0": {}},
        "c": {"1.0": {"requires": ["b>=2"]}},
    }
    origin = Origin(Location("r.txt", 1), "stage:cpu", RequirementKind.REQUIREMENT)
    roots = [RootRequirement(Requirement(text), origin) for text in ("a", "c")]
    recorder = Recorder()
    with served(universe) as (_, client):
        resolve(client, Target(), roots, reporter=recorder)
    assert recorder.events[0] == "start 2"
    assert recorder.events[-1] == "end 3"
    assert "pin a==1.0" in recorder.events
    assert any(event.startswith("backtrack") for event in recorder.events)
