"""Hints computed from the conflict: who is blamed, what rejects it, and a fix that works.

Regression tests for two wrong hints of issue 14: a constraint repeated by several files was
said once per file ("accept torch==2.1.0 and torch==2.1.0 and ..."), and a hub conflict was
"fixed" by "huggingface-hub 0.0.1 is the oldest release speechbrain accepts" although
speechbrain accepts every release and 0.0.1 resolves nothing. A suggested fix is checked by
resolving again, and here also by uv over the same loopback index (the oracle).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from lockaudit.errors import Location
from lockaudit.resolve import Conflict, Origin, RequirementKind, RootRequirement, explain_all
from lockaudit.workspace.model import Target
from tests.conformance.universe import Universe, served

TARGET = Target(python="3.11.7")
UV = shutil.which("uv", path=str(Path(sys.executable).parent))


def root(text: str, path: str, line: int, kind: RequirementKind = RequirementKind.REQUIREMENT):
    return RootRequirement(Requirement(text), Origin(Location(path, line), "img:cpu", kind))


# The shape of examples/as-published's hub conflict (versions.txt lines as there).
HUB: dict[str, Any] = {
    "huggingface-hub": {v: {} for v in ("0.0.1", "0.13.0", "0.20.3", "0.34.0", "0.36.0", "1.0.0")},
    "transformers": {
        "4.56.0": {"requires": ["huggingface-hub<1.0,>=0.34.0"]},
        "4.57.1": {"requires": ["huggingface-hub<1.0,>=0.34.0"]},
    },
    "speechbrain": {"1.0.1": {"requires": ["huggingface-hub"]}},
    "pyannote-audio": {"3.4.0": {"requires": ["huggingface_hub>=0.13.0"]}},
}
HUB_ROOTS = [
    root("transformers==4.57.1", "versions.txt", 16),
    root("huggingface-hub==0.20.3", "versions.txt", 17),
    root("pyannote.audio==3.4.0", "versions.txt", 20),
    root("speechbrain==1.0.1", "versions.txt", 23),
]


def conflicts(universe: Universe, roots: list[RootRequirement]) -> tuple[Conflict, ...]:
    with served(universe) as (_, client):
        return explain_all(client, TARGET, roots)


def uv_resolves(universe: Universe, requirements: list[str], tmp_path: Path) -> bool:
    """The oracle: does uv resolve ``requirements`` over the same universe?"""
    assert UV is not None
    tmp_path.mkdir(parents=True, exist_ok=True)
    with served(universe) as (server, _):
        (tmp_path / "in.txt").write_text("\n".join(requirements) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
        env.update(XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
        done = subprocess.run(
            [
                UV,
                "pip",
                "compile",
                "--no-config",
                "--quiet",
                "--python-version",
                "3.11",
                "--index-url",
                server.index_url("default"),
                "--cache-dir",
                str(tmp_path / "uv"),
                str(tmp_path / "in.txt"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    return done.returncode == 0


def test_the_hub_conflict_blames_transformers_and_its_fix_resolves(tmp_path: Path) -> None:
    (hub,) = [c for c in conflicts(HUB, HUB_ROOTS) if c.contested == "huggingface-hub"]
    assert hub.blame == Location("versions.txt", 16)
    assert hub.related == (Location("versions.txt", 17),)
    assert hub.summary == (
        "huggingface-hub: transformers==4.57.1 requires huggingface-hub<1.0,>=0.34.0, "
        "but versions.txt:17 requires huggingface-hub==0.20.3"
    )
    assert hub.suggestion == (
        "change versions.txt:17 to huggingface-hub==0.36.0: the newest huggingface-hub that "
        "pyannote-audio==3.4.0 and transformers==4.57.1 accept"
    )
    assert "speechbrain" not in hub.suggestion and "0.0.1" not in hub.suggestion
    if UV:
        as_is = [str(r.requirement) for r in HUB_ROOTS]
        fixed = [t.replace("huggingface-hub==0.20.3", "huggingface-hub==0.36.0") for t in as_is]
        assert not uv_resolves(HUB, as_is, tmp_path / "a")
        assert uv_resolves(HUB, fixed, tmp_path / "b")


def test_a_newer_release_of_the_culprit_is_proposed_when_one_accepts_the_pin() -> None:
    universe = {
        **HUB,
        "transformers": {
            **HUB["transformers"],
            "4.38.2": {"requires": ["huggingface-hub<1.0,>=0.19.3"]},
        },
    }
    (hub,) = conflicts(universe, HUB_ROOTS)
    assert hub.suggestion == (
        "transformers==4.38.2 is the newest transformers that accepts huggingface-hub==0.20.3"
    )


def test_when_no_change_of_one_version_resolves_it_the_hint_says_so() -> None:
    # the only hub release transformers accepts needs a package that does not exist: pinning
    # it trades this conflict for one the fix causes, which is no fix
    universe = {
        "huggingface-hub": {"0.20.3": {}, "0.34.0": {"requires": ["missing-thing"]}},
        "transformers": {"4.57.1": {"requires": ["huggingface-hub>=0.34.0"]}},
    }
    roots = [root("transformers==4.57.1", "v.txt", 1), root("huggingface-hub==0.20.3", "v.txt", 2)]
    (hub,) = conflicts(universe, roots)
    assert hub.blame == Location("v.txt", 1)
    assert hub.suggestion == (
        "no change of one version was found that resolves it (tried huggingface-hub==0.34.0)"
    )


def test_a_constraint_repeated_by_several_files_is_said_once() -> None:
    universe = {"torch": {"2.1.0": {}, "2.2.0": {}}}
    roots = [
        root("torch==2.2.0", "docker/asr/requirements.txt", 3),
        root("torch==2.1.0", "constraints/cuda121.txt", 1, RequirementKind.CONSTRAINT),
        root("torch==2.1.0", "constraints/cpu.txt", 1, RequirementKind.CONSTRAINT),
        root("torch==2.1.0", "versions-constraints.txt", 4, RequirementKind.CONSTRAINT),
    ]
    (torch,) = conflicts(universe, roots)
    text = "\n".join((torch.summary, *torch.chain, torch.suggestion or ""))
    assert "torch==2.1.0 and torch==2.1.0" not in text
    assert torch.chain[-1] == (
        "but the constraints allow only torch==2.1.0 (constraints/cuda121.txt:1; "
        "constraints/cpu.txt:1; versions-constraints.txt:4)"
    )
    assert torch.blame == Location("docker/asr/requirements.txt", 3)
    assert torch.suggestion == (
        "change docker/asr/requirements.txt:3 to torch==2.1.0: the newest torch that "
        "constraints/cpu.txt:1, constraints/cuda121.txt:1 and versions-constraints.txt:4 accept"
    )


NUMPY: dict[str, Any] = {
    "numpy": {v: {} for v in ("1.20.3", "1.24.3", "1.26.4", "2.0.2", "2.1.0")},
    "librosa": {"0.10.1": {"requires": ["numpy!=1.22.0,!=1.22.1,!=1.22.2,>=1.20.3"]}},
    "scipy": {"1.11.4": {"requires": ["numpy<1.28.0,>=1.21.6"]}},
    "whisperx": {"3.7.2": {"requires": ["numpy<2.1.0,>=2.0.2"]}},
}


def test_numpy_is_blamed_on_whisperx_not_on_librosa_which_accepts_both() -> None:
    roots = [
        root("librosa==0.10.1", "versions.txt", 19),
        root("whisperx==3.7.2", "versions.txt", 21),
        root("numpy==1.24.3", "versions.txt", 29),
        root("scipy==1.11.4", "versions.txt", 30),
    ]
    (numpy,) = conflicts(NUMPY, roots)
    assert numpy.contested == "numpy"
    assert numpy.blame == Location("versions.txt", 21)
    assert set(numpy.related) == {Location("versions.txt", 29), Location("versions.txt", 30)}
    assert "librosa" not in numpy.summary
    assert numpy.summary.startswith("numpy: whisperx==3.7.2 requires numpy<2.1.0,>=2.0.2, but ")


@pytest.mark.parametrize("many", [12])
def test_a_long_list_of_versions_ends_with_an_ellipsis_and_a_count(many: int) -> None:
    universe = {"a": {f"1.{i}": {} for i in range(many)}}
    (conflict,) = conflicts(universe, [root("a>=3", "r.txt", 1)])
    assert conflict.chain[-1] == (
        "but no release of a matches (available: 1.11, 1.10, 1.9, 1.8, 1.7, ... (7 more))"
    )


def test_a_fix_whose_resolution_gives_up_is_not_claimed_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Proving a fix resolves again within a bound of its own (a hopeless fix once cost 200,000
    rounds, minutes of an audit); a resolution that gives up proves nothing either way, so the
    fix stands unverified. It used to count as a conflict "elsewhere", i.e. as proof."""
    import lockaudit.resolve._resolver as resolver

    monkeypatch.setattr(resolver, "MAX_FIX_ROUNDS", 2)
    (hub,) = [c for c in conflicts(HUB, HUB_ROOTS) if c.contested == "huggingface-hub"]
    assert hub.suggestion == (
        "change versions.txt:17 to huggingface-hub==0.36.0: the newest huggingface-hub that "
        "pyannote-audio==3.4.0 and transformers==4.57.1 accept (not verified)"
    )
