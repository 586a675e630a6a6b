"""Conflict explanations: chains that name files and lines, suggestions, every conflict.

Universes are served by the loopback test index; the Requires-Python case uses the seam fake
(a Requires-Python stated only in METADATA, which the test index cannot serve).
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.requirements import Requirement

from lockaudit.errors import Location
from lockaudit.resolve import (
    Conflict,
    Origin,
    RequirementKind,
    ResolutionFailed,
    RootRequirement,
    explain_all,
    resolve,
)
from lockaudit.workspace.model import Target
from tests.conformance.universe import DictSource, Universe, served

TARGET = Target(python="3.11.7")
REQ = RequirementKind.REQUIREMENT


def root(
    text: str, path: str, line: int, kind: RequirementKind = REQ, image: str = "asr:cuda"
) -> RootRequirement:
    return RootRequirement(Requirement(text), Origin(Location(path, line), image, kind))


def failure(universe: Universe, roots: list[RootRequirement], fake: bool = False) -> Conflict:
    with served(universe) as (_, client), pytest.raises(ResolutionFailed) as failed:
        resolve(DictSource(universe) if fake else client, TARGET, roots)
    assert len(failed.value.conflicts) == 1
    return failed.value.conflicts[0]


WHISPERX: dict[str, Any] = {
    "whisperx": {
        "3.0.0": {"requires": ["torch>=2"]},
        "3.1.1": {"requires": ["torch>=2,<2.2"]},
        "3.7.2": {"requires": ["torch>=2.7.1"]},
    },
    "torch": {"2.1.0+cu121": {}, "2.7.1": {}, "2.8.0": {}},
}
PARENT_ROOTS = [
    root("torch==2.1.0+cu121", "locks/base-ml-cuda.txt", 5, RequirementKind.PARENT, "base-ml:cuda"),
    root("torch==2.1.0+cu121", "constraints/cuda121.txt", 1, RequirementKind.CONSTRAINT),
]


def test_a_conflict_with_the_parent_names_both_files_and_the_nearest_fix() -> None:
    conflict = failure(
        WHISPERX, [root("whisperx==3.7.2", "docker/asr/requirements.txt", 1), *PARENT_ROOTS]
    )
    assert conflict.chain == (
        "docker/asr/requirements.txt:1 whisperx==3.7.2 requires torch>=2.7.1",
        "but base-ml:cuda's lock pins torch==2.1.0+cu121"
        " (locks/base-ml-cuda.txt:5; constraints/cuda121.txt:1)",
    )
    assert conflict.with_parent
    assert (
        conflict.suggestion
        == "whisperx==3.1.1 is the newest whisperx that accepts torch==2.1.0+cu121"
    )
    assert conflict.packages == ("torch", "whisperx")
    assert conflict.origins == (
        Location("constraints/cuda121.txt", 1),
        Location("docker/asr/requirements.txt", 1),
        Location("locks/base-ml-cuda.txt", 5),
    )
    assert conflict.summary.startswith(
        "torch: whisperx==3.7.2 requires torch>=2.7.1, but base-ml:cuda"
    )


def test_the_error_message_is_the_explanation_never_resolvelib_internals() -> None:
    with served(WHISPERX) as (_, client), pytest.raises(ResolutionFailed) as failed:
        resolve(client, TARGET, [root("whisperx==3.7.2", "req.txt", 3), *PARENT_ROOTS])
    text = str(failed.value)
    assert text.startswith("asr:cuda: cannot be resolved\n")
    assert "req.txt:3 whisperx==3.7.2 requires torch>=2.7.1" in text
    assert "Resolution" not in text and "Criterion" not in text


def test_when_no_release_fits_the_suggestion_names_the_oldest_needed() -> None:
    universe = {"app": {"1.0": {"requires": ["torch>=2.7.1"]}}, "torch": WHISPERX["torch"]}
    conflict = failure(universe, [root("app", "docker/asr/requirements.txt", 2), *PARENT_ROOTS])
    assert conflict.suggestion is not None
    assert conflict.suggestion.startswith(
        "torch>=2.7.1 would be needed (a change to the parent image)"
    )
    assert "torch 2.7.1 is the oldest release app==1.0 accepts" in conflict.suggestion


def test_a_deep_chain_is_walked_back_to_both_roots() -> None:
    universe = {
        "app": {"1.0": {"requires": ["lib>=1"]}},
        "lib": {"1.0": {"requires": ["numpy<2"]}},
        "numpy": {"1.26.4": {}, "2.0.0": {}},
    }
    conflict = failure(universe, [root("app", "a.txt", 1), root("numpy>=2", "b.txt", 7)])
    chain = "\n".join(conflict.chain)
    assert "a.txt:1 app selects app==1.0, which requires lib>=1" in chain
    assert "lib==1.0 requires numpy<2" in chain
    assert "b.txt:7 requires numpy>=2" in chain
    assert not conflict.with_parent
    assert set(conflict.packages) == {"app", "lib", "numpy"}


def test_a_requires_python_conflict_names_the_target_python() -> None:
    universe = {"a": {"1.0": {"metadata_requires_python": ">=3.12"}}}
    conflict = failure(universe, [root("a==1.0", "r.txt", 4)], fake=True)
    assert conflict.chain == (
        "r.txt:4 a==1.0 requires Python >=3.12",
        "but the target runs Python 3.11.7",
    )
    assert conflict.suggestion == "no release of a supports Python 3.11.7"


def test_a_missing_package_is_named() -> None:
    conflict = failure({}, [root("nothere", "r.txt", 1)])
    assert conflict.chain[-1].startswith("but nothere has no release usable on CPython 3.11.7")


def test_a_version_that_does_not_exist_lists_what_does() -> None:
    conflict = failure({"a": {"1.0": {}, "2.0": {}}}, [root("a>=3", "r.txt", 1)])
    assert conflict.chain[-1] == "but no release of a matches (available: 2.0, 1.0)"


THREE: dict[str, Any] = {
    "whisperx": WHISPERX["whisperx"],
    "torch": WHISPERX["torch"],
    "numpy": {"1.26.4": {}, "2.0.0": {}},
    "pandas": {"2.2.0": {"requires": ["numpy>=2"]}},
    "ctranslate2": {"4.0.0": {}},
    "faster-whisper": {"1.0.0": {"requires": ["ctranslate2>=4.4"]}},
    "requests": {"2.31.0": {}},
}


def test_every_independent_conflict_is_reported() -> None:
    roots = [
        root("whisperx==3.7.2", "docker/asr/requirements.txt", 1),
        root("pandas", "docker/asr/requirements.txt", 2),
        root("faster-whisper", "docker/asr/requirements.txt", 3),
        root("requests", "docker/asr/requirements.txt", 4),
        *PARENT_ROOTS,
        root("numpy==1.26.4", "locks/base-ml-cuda.txt", 9, RequirementKind.PARENT, "base-ml:cuda"),
    ]
    with served(THREE) as (_, client):
        conflicts = explain_all(client, TARGET, roots)
    assert sorted(c.summary.split(":")[0] for c in conflicts) == ["ctranslate2", "numpy", "torch"]
    assert [c.with_parent for c in sorted(conflicts, key=lambda c: c.summary)] == [
        False,
        True,
        True,
    ]


def test_explain_all_is_empty_when_the_roots_resolve() -> None:
    with served(THREE) as (_, client):
        assert explain_all(client, TARGET, [root("requests", "r.txt", 1)]) == ()
