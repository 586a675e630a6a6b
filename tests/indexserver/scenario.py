"""The scenario format: named indexes → projects → releases → files, as frozen dataclasses.

A scenario describes what a test index serves; :mod:`tests.indexserver.builder` turns each
:class:`FileSpec` into real bytes and :class:`tests.indexserver.server.IndexServer` serves
them. Everything is hashable, so built artifacts are cached across tests.

From a dict (or a TOML file, same shape) with :func:`scenario_from_dict`::

    [indexes.default.projects.numpy]
    releases = [
      { version = "1.26.4", requires_python = ">=3.9",
        files = [{ tags = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64" },
                 { kind = "sdist" }] },
    ]
    vulnerabilities = { "1.24.3" = [{ id = "PYSEC-1", summary = "...", fixed_in = ["1.26.0"] }] }
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name


class MetadataMode(StrEnum):
    """How a wheel's PEP 658 metadata file is offered."""

    ADVERTISED = "advertised"  # served and declared with its hash (PEP 658/714)
    SERVED = "served"  # served but not declared: what the public index does for some wheels
    ABSENT = "absent"  # 404: clients must read the wheel (range requests)


@dataclass(frozen=True)
class FileSpec:
    """One file of a release.

    ``kind`` "wheel" uses ``tags`` (``cp311-cp311-linux_x86_64``, compressed sets allowed);
    "sdist" builds a .tar.gz whose PKG-INFO has ``pkg_info_version`` and, when ``dynamic``,
    ``Dynamic: Requires-Dist``. ``padding`` adds that many incompressible bytes (a big wheel).
    """

    kind: str = "wheel"
    tags: str = "py3-none-any"
    metadata: MetadataMode = MetadataMode.ABSENT
    yanked: str | None = None  # None: not yanked; "" or a reason: yanked
    padding: int = 0
    pkg_info_version: str = "2.1"
    dynamic: bool = False
    requires_python: str | None = None  # per-file override of the release's

    def filename(self, name: str, version: str) -> str:
        stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
        return f"{stem}-{self.tags}.whl" if self.kind == "wheel" else f"{stem}.tar.gz"


@dataclass(frozen=True)
class Release:
    version: str
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    extras: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = (FileSpec(),)
    top_level: tuple[str, ...] = ()  # default: the module name derived from the project
    # modules its package imports when it is imported (none declared: an undeclared import)
    imports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vuln:
    id: str
    summary: str = ""
    aliases: tuple[str, ...] = ()
    fixed_in: tuple[str, ...] = ()
    link: str | None = None
    withdrawn: bool = False


@dataclass(frozen=True)
class Project:
    name: str
    releases: tuple[Release, ...]
    vulnerabilities: tuple[tuple[str, tuple[Vuln, ...]], ...] = ()  # version → vulns

    def vulns(self, version: str) -> tuple[Vuln, ...] | None:
        for known, found in self.vulnerabilities:
            if known == version:
                return found
        return None


@dataclass(frozen=True)
class IndexSpec:
    name: str
    projects: tuple[Project, ...] = ()

    def project(self, name: str) -> Project | None:
        wanted = canonicalize_name(name)
        for project in self.projects:
            if canonicalize_name(project.name) == wanted:
                return project
        return None


@dataclass(frozen=True)
class Scenario:
    indexes: tuple[IndexSpec, ...] = field(default=())

    def index(self, name: str) -> IndexSpec:
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(name)


def _file(data: Mapping[str, Any]) -> FileSpec:
    args = dict(data)
    if "metadata" in args:
        args["metadata"] = MetadataMode(args["metadata"])
    return FileSpec(**args)


def _release(data: Mapping[str, Any]) -> Release:
    args = dict(data)
    args["files"] = tuple(_file(f) for f in args.get("files", [{}]))
    for key in ("requires_dist", "extras", "top_level", "imports"):
        args[key] = tuple(args.get(key, ()))
    return Release(**args)


def _vuln(data: Mapping[str, Any]) -> Vuln:
    args = dict(data)
    for key in ("aliases", "fixed_in"):
        args[key] = tuple(args.get(key, ()))
    return Vuln(**args)


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """``{"indexes": {name: {"projects": {project: {"releases": [...], ...}}}}}``."""
    indexes = []
    for index_name, index_data in data.get("indexes", {}).items():
        projects = []
        for project_name, pdata in index_data.get("projects", {}).items():
            vulns = tuple(
                (str(version), tuple(_vuln(v) for v in items))
                for version, items in pdata.get("vulnerabilities", {}).items()
            )
            releases = tuple(_release(r) for r in pdata.get("releases", []))
            projects.append(Project(project_name, releases, vulns))
        indexes.append(IndexSpec(index_name, tuple(projects)))
    return Scenario(tuple(indexes))


def load_scenario(path: Path) -> Scenario:
    with path.open("rb") as f:
        return scenario_from_dict(tomllib.load(f))
