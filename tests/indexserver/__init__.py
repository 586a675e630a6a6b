"""The lockaudit test index: real HTTP on loopback, real wheels and sdists, injectable faults.

For tests of anything that talks to a package index (the index client, the resolver, the
audits). Nothing is mocked: the client under test speaks HTTP to a threaded server.

Typical use, with the fixtures of ``tests/conftest.py``::

    def test_something(test_index, make_client):       # the PyTorch-style scenario
        client = make_client(test_index.index_url("default"))
        ...
        assert test_index.requests[test_index.page_path("default", "numpy")] == 1

    def test_custom(index_server):                       # your own scenario
        server = index_server(scenario_from_dict({...}))

Modules:

- :mod:`.scenario`: the scenario format (frozen dataclasses; :func:`scenario_from_dict`,
  :func:`load_scenario` for TOML);
- :mod:`.builder`: real wheel / sdist bytes with true sha256 (:func:`build_file`);
- :mod:`.server`: :class:`IndexServer`, its URL layout, counters and fault switches;
- :mod:`.scenarios`: :func:`pytorch_scenario`, :func:`many_packages_scenario`.
"""

from tests.indexserver.builder import Built, build_file, metadata_text, sdist_marker_name
from tests.indexserver.scenario import (
    FileSpec,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
    Vuln,
    load_scenario,
    scenario_from_dict,
)
from tests.indexserver.scenarios import many_packages_scenario, pytorch_scenario
from tests.indexserver.server import IndexServer

__all__ = [
    "Built",
    "FileSpec",
    "IndexServer",
    "IndexSpec",
    "MetadataMode",
    "Project",
    "Release",
    "Scenario",
    "Vuln",
    "build_file",
    "load_scenario",
    "many_packages_scenario",
    "metadata_text",
    "pytorch_scenario",
    "scenario_from_dict",
    "sdist_marker_name",
]
