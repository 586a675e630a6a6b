"""The resolver's rules on small universes served by the loopback test index (real HTTP).

Each test names the rule it shows; the target is never the host (an aarch64 target on this
x86_64 machine, a 3.11.0 target on a 3.11.7 interpreter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.errors import InputError, Location
from lockaudit.index.client import IndexClient
from lockaudit.resolve import (
    Origin,
    RequirementKind,
    Resolution,
    ResolutionFailed,
    RootRequirement,
    resolve,
)
from lockaudit.workspace.model import Target
from tests.conformance.universe import DictSource, Recording, Universe, served

TARGET = Target(python="3.11.7", arch="x86_64")
Index = Callable[[Universe], IndexClient]


@pytest.fixture
def index() -> Iterator[Index]:
    """Serve a universe on a fresh loopback index; the client is closed after the test."""
    with ExitStack() as stack:
        yield lambda universe: stack.enter_context(served(universe))[1]


def roots(
    *texts: str,
    kind: RequirementKind = RequirementKind.REQUIREMENT,
    path: str = "requirements.txt",
    image: str | None = "stage:cpu",
) -> list[RootRequirement]:
    return [
        RootRequirement(Requirement(text), Origin(Location(path, line), image, kind))
        for line, text in enumerate(texts, start=1)
    ]


def pins(resolution: Resolution) -> dict[str, str]:
    return {pin.name: str(pin.version) for pin in resolution.pins}


def run(
    universe: Universe,
    requirements: Sequence[RootRequirement],
    target: Target = TARGET,
    **kw: object,
) -> dict[str, str]:
    with served(universe) as (_, client):
        return pins(resolve(client, target, requirements, **kw))  # type: ignore[arg-type]


def test_backtracks_to_an_older_release_that_fits() -> None:
    universe = {
        "a": {"1.0": {"requires": ["b"]}, "2.0": {"requires": ["b<2"]}},
        "b": {"1.0": {}, "2.0": {}},
        "c": {"1.0": {"requires": ["b>=2"]}},
    }
    assert run(universe, roots("a", "c")) == {"a": "1.0", "b": "2.0", "c": "1.0"}


def test_extras_add_their_dependencies_and_are_recorded(index: Index) -> None:
    universe = {
        "a": {"1.0": {"requires": ["b"], "extras": {"gpu": ["c>=2"], "docs": ["d"]}}},
        "b": {"1.0": {}},
        "c": {"1.0": {}, "2.0": {}},
        "d": {"1.0": {}},
    }
    resolution = resolve(index(universe), TARGET, roots("a[gpu]"))
    assert pins(resolution) == {"a": "1.0", "b": "1.0", "c": "2.0"}
    pin_a = resolution.pin("a")
    assert pin_a is not None and pin_a.extras == frozenset({"gpu"})
    pin_c = resolution.pin("c")
    assert pin_c is not None and pin_c.required_by == ("a",)


def test_an_extra_the_release_does_not_provide_is_ignored() -> None:
    assert run({"a": {"1.0": {}}}, roots("a[nope]")) == {"a": "1.0"}


@pytest.mark.parametrize(
    ("arch", "expected"),
    [("x86_64", {"a": "1.0", "x86-only": "1.0"}), ("aarch64", {"a": "1.0", "arm-only": "1.0"})],
    ids=["x86_64-target", "aarch64-target-on-x86_64-host"],
)
def test_markers_are_evaluated_for_the_target_machine(arch: str, expected: dict[str, str]) -> None:
    universe = {
        "a": {
            "1.0": {
                "requires": [
                    "arm-only; platform_machine == 'aarch64'",
                    "x86-only; platform_machine == 'x86_64'",
                ]
            }
        },
        "arm-only": {"1.0": {}},
        "x86-only": {"1.0": {}},
    }
    assert run(universe, roots("a"), Target(python="3.11.7", arch=arch)) == expected


@pytest.mark.parametrize(
    ("python", "expected"),
    [("3.11.7", {"a": "1.0", "b": "1.0"}), ("3.11.0", {"a": "1.0"})],
    ids=["3.11.7-has-it", "3.11.0-lacks-it"],
)
def test_python_full_version_markers_use_the_target_patch_level(
    python: str, expected: dict[str, str]
) -> None:
    universe = {
        "a": {"1.0": {"requires": ["b; python_full_version >= '3.11.5'"]}},
        "b": {"1.0": {}},
    }
    assert run(universe, roots("a"), Target(python=python)) == expected


def test_requires_python_in_metadata_only_is_still_honoured() -> None:
    # the seam fake: an index page without data-requires-python whose METADATA states one
    universe = {"a": {"1.0": {}, "2.0": {"metadata_requires_python": ">=3.11.8"}}}
    found = resolve(DictSource(universe), TARGET, roots("a"))
    assert pins(found) == {"a": "1.0"}
    newer = resolve(DictSource(universe), Target(python="3.11.9"), roots("a"))
    assert pins(newer) == {"a": "2.0"}


def test_requires_python_of_the_index_page_filters_releases() -> None:
    universe = {"a": {"1.0": {}, "2.0": {"requires_python": ">=3.12"}}}
    assert run(universe, roots("a")) == {"a": "1.0"}


LOCAL: Universe = {"torch": {"2.0.0": {}, "2.1.0+cu121": {}, "2.2.0": {}}}


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("torch==2.1.0", "2.1.0+cu121"),
        ("torch==2.1.0+cu121", "2.1.0+cu121"),
        ("torch<2.2", "2.1.0+cu121"),
    ],
    ids=["public-pin-admits-local", "exact-local", "range-admits-local"],
)
def test_local_versions(requirement: str, expected: str) -> None:
    assert run(LOCAL, roots(requirement)) == {"torch": expected}


def test_a_different_local_label_is_not_accepted() -> None:
    with pytest.raises(ResolutionFailed):
        run(LOCAL, roots("torch==2.1.0+cpu"))


YANKED = {"a": {"1.0": {}, "2.0": {"yanked": True}}, "b": {"1.0": {"requires": ["a==2.0"]}}}


def test_yanked_is_skipped_unless_pinned() -> None:
    assert run(YANKED, roots("a")) == {"a": "1.0"}
    assert run(YANKED, roots("a==2.0")) == {"a": "2.0"}


def test_yanked_pinned_by_a_constraint_is_accepted() -> None:
    requirements = roots("a") + roots("a==2.0", kind=RequirementKind.CONSTRAINT, path="c.txt")
    assert run(YANKED, requirements) == {"a": "2.0"}


def test_yanked_pinned_only_by_a_dependency_is_refused() -> None:
    with pytest.raises(ResolutionFailed) as failed:
        run(YANKED, roots("b"))
    assert "yanked" in "\n".join(failed.value.conflicts[0].chain)


PRE = {
    "a": {"1.0": {}, "2.0b1": {}},
    "only-pre": {"1.0a1": {}, "1.0a2": {}, "2.0a1": {}},
    "b": {"1.0": {"requires": ["a==2.0b1"]}},
}


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("a", {"a": "1.0"}),
        ("a>=2.0b1", {"a": "2.0b1"}),
        ("b", {"a": "2.0b1", "b": "1.0"}),
        ("only-pre", {"only-pre": "2.0a1"}),
        ("only-pre<2", {"only-pre": "1.0a2"}),
    ],
    ids=[
        "final-preferred",
        "named-pre-release",
        "named-by-a-dependency",
        "no-final-exists",
        "no-final-exists-with-a-range",
    ],
)
def test_pre_releases_when_named_or_when_no_final_exists(
    requirement: str, expected: dict[str, str]
) -> None:
    assert run(PRE, roots(requirement)) == expected


def test_no_pre_release_when_a_final_exists_even_if_none_matches() -> None:
    with pytest.raises(ResolutionFailed):
        run(PRE, roots("a>1.0"))


def test_constraints_restrict_without_requiring() -> None:
    universe = {"a": {"1.0": {"requires": ["b"]}}, "b": {"1.0": {}, "2.0": {}}, "c": {"1.0": {}}}
    constraints = roots("b<2", "c==1.0", kind=RequirementKind.CONSTRAINT, path="constraints.txt")
    assert run(universe, roots("a") + constraints) == {"a": "1.0", "b": "1.0"}


TORCH = {
    "torch": {"2.1.0+cu121": {}, "2.7.1": {}},
    "torchaudio": {
        "2.1.0": {"requires": ["torch==2.1.0"]},
        "2.7.1": {"requires": ["torch==2.7.1"]},
    },
}


def parent(*texts: str) -> list[RootRequirement]:
    return roots(
        *texts, kind=RequirementKind.PARENT, path="locks/base-ml-cuda.txt", image="base-ml:cuda"
    )


def test_parent_pins_hold_and_are_marked(index: Index) -> None:
    resolution = resolve(index(TORCH), TARGET, roots("torchaudio") + parent("torch==2.1.0+cu121"))
    assert pins(resolution) == {"torch": "2.1.0+cu121", "torchaudio": "2.1.0"}
    torch, audio = resolution.pin("torch"), resolution.pin("torchaudio")
    assert torch is not None and torch.from_parent and torch.required_by == ("torchaudio",)
    assert audio is not None and not audio.from_parent
    assert audio.required_by == ("requirements.txt:1",)


def test_a_parent_pin_is_never_replaced(index: Index) -> None:
    with pytest.raises(ResolutionFailed) as failed:
        resolve(index(TORCH), TARGET, roots("torchaudio==2.7.1") + parent("torch==2.1.0+cu121"))
    conflict = failed.value.conflicts[0]
    assert conflict.with_parent
    assert "locks/base-ml-cuda.txt:1" in conflict.chain[-1]


def test_a_parent_pin_that_needs_a_build_is_kept_as_installed(index: Index) -> None:
    universe = {"a": {"1.0": {"requires": ["old"]}}, "old": {"0.9": {"dynamic": True}}}
    resolution = resolve(index(universe), TARGET, roots("a") + parent("old==0.9"))
    assert pins(resolution) == {"a": "1.0", "old": "0.9"}


PREFER: Universe = {"a": {"1.0": {}, "2.0": {}}, "b": {"1.0": {}, "2.0": {}}}
LOCKED = {canonicalize_name("a"): Version("1.0"), canonicalize_name("b"): Version("1.0")}


@pytest.mark.parametrize(
    ("upgrade", "expected"),
    [
        (False, {"a": "1.0", "b": "1.0"}),
        (True, {"a": "2.0", "b": "2.0"}),
        (frozenset({canonicalize_name("a")}), {"a": "2.0", "b": "1.0"}),
    ],
    ids=["keep-locked", "upgrade-all", "upgrade-one"],
)
def test_preferences_and_upgrade(upgrade: object, expected: dict[str, str]) -> None:
    assert run(PREFER, roots("a", "b"), preferences=LOCKED, upgrade=upgrade) == expected


def test_a_preference_the_requirements_exclude_is_not_forced() -> None:
    assert run(PREFER, roots("a>=2"), preferences=LOCKED) == {"a": "2.0"}


def test_releases_that_need_a_build_are_skipped() -> None:
    universe = {"a": {"1.0": {}, "2.0": {"dynamic": True}}}
    assert run(universe, roots("a")) == {"a": "1.0"}


def test_when_only_a_build_would_do_the_failure_says_so() -> None:
    universe = {"a": {"2.0": {"dynamic": True}}}
    with pytest.raises(ResolutionFailed) as failed:
        run(universe, roots("a"))
    assert "needs a build" in failed.value.conflicts[0].chain[-1]
    assert [(n.name, str(n.version)) for n in failed.value.unresolvable] == [("a", "2.0")]


def test_each_page_and_metadata_is_fetched_once_and_prefetched() -> None:
    universe = {
        "a": {"1.0": {"requires": ["b", "c"]}, "2.0": {"requires": ["b", "c<1"]}},
        "b": {"1.0": {"requires": ["c"]}},
        "c": {"1.0": {}, "0.5": {}},
    }
    with served(universe) as (server, client):
        source = Recording(client)
        assert pins(resolve(source, TARGET, roots("a"))) == {"a": "2.0", "b": "1.0", "c": "0.5"}
        assert server.requests and max(server.requests.values()) == 1
        assert ("b", "c") in source.prefetched  # a's dependencies asked for together


def test_a_direct_url_is_an_input_error_at_its_line() -> None:
    with pytest.raises(InputError) as error:
        run({}, roots("a", "b @ https://example.invalid/b-1.0-py3-none-any.whl"))
    assert str(error.value).startswith("requirements.txt:2: ")


def test_requirements_whose_marker_excludes_the_target_are_ignored() -> None:
    assert run({"a": {"1.0": {}}}, roots("a", "winonly; sys_platform == 'win32'")) == {"a": "1.0"}
