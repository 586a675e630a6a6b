"""The packse scenarios (uv's resolver test suite) run against lockaudit's resolver.

Every single-target scenario is built into one loopback test index (an index per scenario:
real wheels and sdists with the scenario's metadata, tags, yanked flags) and resolved for the
scenario's target. A scenario must give packse's satisfiability and, when packse states them,
exactly its versions; or, when listed in ``differences.toml``, exactly the answer recorded
there (with the reason we differ).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.errors import Location
from lockaudit.index.client import IndexClient, Routing
from lockaudit.resolve import (
    Origin,
    RequirementKind,
    ResolutionFailed,
    RootRequirement,
    resolve,
)
from tests.conformance.packse import Case, load_cases, load_differences, scenarios_dir
from tests.conformance.universe import index_spec
from tests.indexserver import IndexServer, Scenario

DIRECTORY = scenarios_dir()
ALL = load_cases(DIRECTORY) if DIRECTORY.is_dir() else []
CASES = [case for case in ALL if not case.universal]
DIFFERENCES = load_differences()
pytestmark = pytest.mark.skipif(
    not ALL, reason=f"packse scenarios not found at {DIRECTORY} (set LOCKAUDIT_PACKSE_SCENARIOS)"
)


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    indexes = tuple(index_spec(case.name, case.packages, packse=True) for case in CASES)
    with IndexServer(Scenario(indexes)) as running:
        yield running


def outcome(server: IndexServer, case: Case) -> dict[str, Version] | None:
    """The pins lockaudit chooses, or None when it finds the roots unsatisfiable."""
    roots = [
        RootRequirement(
            Requirement(text),
            Origin(Location(f"{case.id}.toml", line), None, RequirementKind.REQUIREMENT),
        )
        for line, text in enumerate(case.requires, start=1)
    ]
    client = IndexClient(Routing.simple(server.index_url(case.name)))
    try:
        resolution = resolve(client, case.target, roots)
    except ResolutionFailed:
        return None
    finally:
        client.close()
    return {pin.name: pin.version for pin in resolution.pins}


def versions(packages: object) -> dict[str, Version]:
    assert isinstance(packages, dict)
    return {canonicalize_name(name): Version(str(v)) for name, v in packages.items()}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_scenario(server: IndexServer, case: Case) -> None:
    difference = DIFFERENCES.get(case.name)
    satisfiable = difference.satisfiable if difference else case.satisfiable
    expected = difference.packages if difference else case.expected
    found = outcome(server, case)
    assert (found is not None) == satisfiable, case.id
    if found is not None and expected is not None:
        assert found == versions(expected)


def test_every_difference_names_an_in_scope_scenario() -> None:
    names = {case.name for case in CASES}
    assert sorted(set(DIFFERENCES) - names) == []


def test_the_single_target_scenarios_are_all_there() -> None:
    # a silently shrinking suite would pass trivially
    assert len(CASES) >= 100, len(CASES)
