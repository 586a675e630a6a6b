"""Oracle: on a target equal to this machine, lockaudit chooses what pip-compile and uv choose.

The same requirements are compiled against the same loopback test index by lockaudit's
resolver, ``pip-compile`` and ``uv pip compile`` (both run hermetically: ``--no-config``,
``PIP_CONFIG_FILE=os.devnull``, no ``PIP_*``/``UV_*`` variables, the test index as the only
index). The chosen versions, or the failure, must agree. Where pip and uv disagree with each
other, ``SPLITS`` names the tool lockaudit follows and why.

A curated set runs by default (each pip-compile run takes about a second); set
``LOCKAUDIT_ORACLE_ALL=1`` to compare on every single-target packse scenario.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.workspace.model import Target
from tests.conformance.packse import Case
from tests.conformance.test_packse import CASES, outcome
from tests.conformance.universe import Universe, index_spec
from tests.indexserver import IndexServer, Scenario

BIN = Path(sys.executable).parent
PIP_COMPILE = shutil.which("pip-compile", path=str(BIN))
UV = shutil.which("uv", path=str(BIN))
MACHINE = Target(python=platform.python_version(), arch=platform.machine())

CURATED = {
    "backtrack-with-missing-package",
    "wrong-backtracking-basic",
    "transitive-requires-package-does-not-exist",
    "dependency-excludes-non-contiguous-range-of-compatible-versions",
    "extra-required",
    "missing-extra",
    "transitive-incompatible-with-transitive",
    "local-simple",
    "local-transitive-backtrack",
    "post-local-greater-than-post",
    "package-only-prereleases",
    "transitive-prerelease-and-stable-dependency",
    "transitive-yanked-and-unyanked-dependency",
    "python-greater-than-current-backtrack",
    "specific-tag-and-default",
    "no-wheels-with-matching-platform",
    # pip and uv disagree on these; see SPLITS
    "package-only-prereleases-boundary",
    "package-prerelease-specified-mixed-available",
    "all-extras-required",
}

# scenario -> (the tool lockaudit agrees with, why the other differs)
SPLITS: dict[str, tuple[str, str]] = {
    "package-only-prereleases-boundary": (
        "uv",
        "a<0.2.0 with only pre-releases published: pip's fallback to pre-releases applies to a "
        "bare name only; lockaudit (like uv) allows them when no final release exists",
    ),
    "package-prerelease-specified-mixed-available": (
        "pip",
        "a>=0.1.0a1 names a pre-release, so pre-releases of a are allowed and the newest wins "
        "(pip); uv picks the newest final",
    ),
    "all-extras-required": (
        "uv",
        "extra names with underscores: pip 23.2 does not normalise them in markers (PEP 685)",
    ),
    "extra-required": ("uv", "as above (PEP 685), when pip drops the extra's requirements"),
    "python-less-than-current": (
        "pip",
        "Requires-Python <=3.8 excludes the target's interpreter; uv drops upper bounds",
    ),
    **{
        name: ("uv", "sdist only: pip must build it, lockaudit and uv read static PKG-INFO")
        for name in (
            "no-wheels",
            "no-wheels-no-build",
            "incompatible-python-compatible-override-available-no-wheels",
            "incompatible-python-compatible-override-no-compatible-wheels",
            "incompatible-python-compatible-override-other-wheel",
            "incompatible-python-compatible-override-unavailable-no-wheels",
        )
    },
    "transitive-yanked-and-unyanked-dependency": (
        "uv",
        "only a pin the user wrote (root requirement, constraint, parent pin) opts in to a "
        "yanked release; pip also takes one pinned by a dependency's ==",
    ),
    "no-wheels-with-matching-platform": (
        "uv",
        "only an sdist fits: pip must build it to read its metadata (and setuptools is not on "
        "the test index); lockaudit and uv read its static PKG-INFO (PEP 643)",
    ),
    "package-only-prereleases-in-range": (
        "pip",
        "a final release exists, none matches: no pre-release without naming one (uv allows)",
    ),
    "transitive-package-only-prereleases-in-range": ("pip", "as above, for a dependency"),
    "requires-package-only-prereleases-in-range-global-opt-in": ("pip", "as above"),
    "package-prereleases-specifier-boundary": (
        "neither",
        "a<0.2.0a2 names a pre-release: lockaudit takes 0.2.0a1 as packse expects; pip and uv "
        "keep 0.1.0",
    ),
    "transitive-package-only-prereleases-in-range-opt-in": (
        "uv",
        "the root b>0.0.0a1 names a pre-release for b: pip does not merge it with a's b>0.1",
    ),
    "transitive-prerelease-and-stable-dependency-many-versions-holes": (
        "uv",
        "c<2.0.0b5 names a pre-release (pip ignores it among the != clauses)",
    ),
    "extra-incompatible-with-extra": ("uv", "PEP 685 extra names, as above"),
    "extra-incompatible-with-extra-not-requested": ("uv", "PEP 685 extra names, as above"),
    "multiple-extras-required": ("uv", "PEP 685 extra names, as above"),
}

PIPELINE: Universe = {
    "torch": {
        "2.0.1": {"requires": ["filelock", "numpy"]},
        "2.1.0+cu121": {
            "requires": ["filelock", "numpy", "triton==2.1.0; platform_machine == 'x86_64'"],
            "wheel_tags": ["cp311-cp311-linux_x86_64"],
        },
    },
    "triton": {"2.1.0": {"wheel_tags": ["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"]}},
    "filelock": {"3.12.0": {}, "3.13.1": {}, "3.14.0": {"yanked": True}},
    "numpy": {"1.24.3": {}, "1.26.4": {}, "2.0.0": {"requires_python": ">=3.12"}},
    "whisperx": {
        "3.1.1": {"requires": ["torch>=2", "faster-whisper>=1.0", "transformers"]},
        "3.7.2": {"requires": ["torch>=2.7.1", "faster-whisper>=1.1"]},
    },
    "faster-whisper": {
        "1.0.0": {"requires": ["ctranslate2>=4,<5", "tokenizers>=0.13"]},
        "1.1.0": {"requires": ["ctranslate2>=4.4"]},
    },
    "ctranslate2": {"4.0.0": {}, "4.3.1": {}, "4.4.0": {"requires_python": ">=3.12"}},
    "transformers": {
        "4.38.0": {
            "requires": ["tokenizers>=0.14,<0.19", "numpy>=1.17"],
            "extras": {"torch": ["torch"], "audio": ["librosa; platform_machine == 'aarch64'"]},
        }
    },
    "tokenizers": {"0.15.2": {}, "0.19.1": {}},
    "pyannote-audio": {
        "3.1.1": {
            "requires": [
                "torch>=2.0",
                "numpy<2",
                "pytorch-lightning>=2.0; python_full_version >= '3.11.5'",
            ]
        }
    },
    "pytorch-lightning": {"2.1.0": {}, "2.2.0rc1": {}},
    "librosa": {"0.10.1": {}},
}
PIPELINE_CASE = Case(
    name="speech-pipeline",
    category="lockaudit",
    requires=("whisperx", "transformers[torch,audio]", "pyannote.audio", "torch==2.1.0"),
    packages=PIPELINE,
    target=MACHINE,
    satisfiable=True,
    expected=None,
    universal=False,
)

SELECTED = [
    dataclasses.replace(case, target=MACHINE)
    for case in CASES
    if os.environ.get("LOCKAUDIT_ORACLE_ALL") or case.name in CURATED
] + [PIPELINE_CASE]

pytestmark = [
    pytest.mark.skipif(not (PIP_COMPILE and UV), reason="pip-compile and uv are test extras"),
    pytest.mark.skipif(
        platform.system() != "Linux" or platform.python_implementation() != "CPython",
        reason="the oracle compares on a Linux CPython machine (the target is the host here)",
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    indexes = tuple(index_spec(c.name, c.packages, packse=True) for c in SELECTED)
    with IndexServer(Scenario(indexes)) as running:
        yield running


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment without the user's pip/uv configuration (this machine has a pip.conf)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, XDG_CONFIG_HOME=str(home), HOME=str(home))
    return env


def parse(text: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[")[0])] = Version(version.strip())
    return pins


def compile_with(tool: str, index_url: str, case: Case, work: Path) -> dict[str, Version] | None:
    requirements = work / "requirements.in"
    requirements.write_text("\n".join(case.requires) + "\n")
    output = work / f"{tool}.txt"
    common = ["--no-config", "--no-header", "--no-annotate", "--quiet", "--index-url", index_url]
    if tool == "pip":
        assert PIP_COMPILE
        command = [PIP_COMPILE, *common, "--no-strip-extras", "--cache-dir", str(work / "pc")]
    else:
        assert UV
        command = [UV, "pip", "compile", *common, "--cache-dir", str(work / "uv")]
        command += ["--python-version", MACHINE.python]
    command += ["-o", str(output), str(requirements)]
    done = subprocess.run(
        command, env=hermetic_env(work), cwd=work, capture_output=True, text=True, timeout=120
    )
    return parse(output.read_text()) if done.returncode == 0 else None


def expected_agreement(name: str) -> tuple[str, ...]:
    if name not in SPLITS:
        return ("pip", "uv")
    follows = SPLITS[name][0]
    return () if follows == "neither" else (follows,)


def show(pins: Mapping[str, Version] | None) -> str:
    return (
        "unsatisfiable" if pins is None else " ".join(f"{n}=={v}" for n, v in sorted(pins.items()))
    )


@pytest.mark.parametrize("case", SELECTED, ids=[c.id for c in SELECTED])
def test_same_choice_as_pip_compile_and_uv(server: IndexServer, case: Case, tmp_path: Path) -> None:
    ours = outcome(server, case)
    url = server.index_url(case.name)
    agree = expected_agreement(case.name)
    found = {tool: compile_with(tool, url, case, tmp_path) for tool in agree}
    for tool, theirs in found.items():
        assert show(ours) == show(theirs), f"{tool} chose differently for {case.id}"


def test_the_pipeline_universe_resolves_as_expected(server: IndexServer) -> None:
    # guards the oracle against trivially agreeing on an empty or failed resolution
    ours = outcome(server, PIPELINE_CASE)
    assert ours is not None
    assert ours["torch"] == Version("2.1.0+cu121") and ours["numpy"] == Version("1.26.4")
    assert ours["triton"] == Version("2.1.0") and "librosa" not in ours
    assert ours["filelock"] == Version("3.13.1") and ours["pytorch-lightning"] == Version("2.1.0")
