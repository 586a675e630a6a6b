"""Rules about pins: unpinned installs, pins against ``versions.txt``, pins that drift apart.

A *site* is one requirement written somewhere in the workspace: a Dockerfile ``pip install``
argument or a line of a requirement/constraint file. Each site is looked at once, however
many images share it.

Decisions:

* Versions are compared by their public part: ``torch==2.1.0+cu121`` in a CUDA constraint file
  agrees with ``torch==2.1.0`` in ``versions.txt``; the local label is the variant's business.
* ``versions.txt`` settings named ``<PACKAGE>_VERSION`` (``TORCH_VERSION=2.1.0``) count as pins
  when the file has no pin line for that package.
* ``pin-drift`` skips packages ``versions.txt`` pins (``versions-mismatch`` reports those
  against the one source of truth); otherwise the most common version is taken as intended.
* Files under the locks directory are generated: they are not pin sites (the lock rules
  compare locks with their inputs).
* ``unpinned-install`` is an error on a Dockerfile line (it is what the build runs) and a
  warning in a requirements file (a lock may still pin it); ``pip``/``setuptools``/``wheel``
  upgrades are warnings. URL, VCS, editable and local installs are not version pins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockaudit.errors import Location
from lockaudit.parsing.requirements import RequirementLine
from lockaudit.rules import CheckContext, distinct_dockerfiles, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import normalize

_BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})


@dataclass(frozen=True)
class Site:
    """One requirement as written, and the image it belongs to (None: a shared file)."""

    line: RequirementLine
    image: str | None
    in_dockerfile: bool


def sites(ctx: CheckContext) -> tuple[Site, ...]:
    """Every requirement written in the workspace, once per location."""
    return ctx.derived("sites", lambda: _sites(ctx))


def _sites(ctx: CheckContext) -> tuple[Site, ...]:
    found: dict[tuple[Location, str], Site] = {}
    for image, _ in distinct_dockerfiles(ctx):
        for item in ctx.installs[image.key].items:
            if item.in_dockerfile:
                key = (item.line.location, item.line.name)
                found.setdefault(key, Site(item.line, image.key, True))
    owners = file_owners(ctx)
    for parsed in ctx.requirement_files.values():
        for line in (*parsed.requirements, *parsed.constraints):
            if ctx.is_lock(line.location.path):
                continue  # generated: the lock rules judge locks against their inputs
            owner = owners.get(line.location.path)
            found.setdefault((line.location, line.name), Site(line, owner, False))
    return tuple(found.values())


def file_owners(ctx: CheckContext) -> dict[str, str | None]:
    """File → the one image (Dockerfile) that uses it, or None when shared."""
    users: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    for image in ctx.workspace.images:
        for path in (*image.requirements, *ctx.installs[image.key].files):
            users.setdefault(path, set()).add(image.dockerfile)
            first.setdefault(path, image.key)
    return {path: first[path] if len(docker) == 1 else None for path, docker in users.items()}


def versions_pins(ctx: CheckContext) -> dict[NormalizedName, tuple[Version, Location, str]]:
    """``versions.txt`` pins: name → (version, where, as written)."""
    if ctx.versions is None:
        return {}
    pins: dict[NormalizedName, tuple[Version, Location, str]] = {}
    for setting in ctx.versions.settings:
        if setting.key.endswith("_VERSION"):
            name = normalize(setting.key.removesuffix("_VERSION").replace("_", "-"))
            version = _version(setting.value)
            if version is not None:
                pins[name] = (version, setting.location, f"{setting.key}={setting.value}")
    for line in ctx.versions.pins:
        if line.pinned_version is not None:
            written = line.raw or str(line.requirement)
            pins[line.name] = (line.pinned_version, line.location, written)
    return pins


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _is_version_pin(line: RequirementLine) -> bool:
    """False for installs that are not chosen by version: URLs, VCS, editables."""
    return line.requirement.url is None and not line.editable


# -- unpinned-install ---------------------------------------------------------------------------


@rule(
    "unpinned-install",
    Severity.ERROR,
    "an install that is not pinned with == (error in a Dockerfile, warning in a file)",
)
def unpinned_install(ctx: CheckContext) -> Iterator[Finding]:
    pins = versions_pins(ctx)
    constraint_paths = set(ctx.constraints)
    for site in sites(ctx):
        line = site.line
        if (
            line.constraint
            or line.location.path in constraint_paths
            or not _is_version_pin(line)
            or line.pinned_version is not None
        ):
            continue
        severity = Severity.ERROR if site.in_dockerfile else Severity.WARNING
        if line.name in _BUILD_TOOLS:
            severity = Severity.WARNING
        written = line.raw or str(line.requirement)
        spec = str(line.requirement.specifier)
        what = (
            f"{written} allows a range ({spec}): each build takes the newest release in it"
            if spec
            else f"{written} is not pinned: each build takes the newest release"
        )
        suggestion = (
            f"pin it as in {pins[line.name][1]}: {line.name}=={pins[line.name][0]}"
            if line.name in pins
            else f"pin it ({line.name}==<version>) or install from a lock "
            "(-r <lock> --require-hashes)"
        )
        yield unpinned_install.finding(
            what, line.location, image=site.image, package=line.name, hint=suggestion,
            severity=severity,
        )


# -- versions-mismatch --------------------------------------------------------------------------


@rule("versions-mismatch", Severity.ERROR, "a pin that disagrees with versions.txt")
def versions_mismatch(ctx: CheckContext) -> Iterator[Finding]:
    pins = versions_pins(ctx)
    if not pins or ctx.versions is None:
        return
    for site in sites(ctx):
        line = site.line
        if line.name not in pins or not _is_version_pin(line):
            continue
        expected, where, written = pins[line.name]
        if _agrees(line, expected):
            continue
        yield versions_mismatch.finding(
            f"{line.raw or line.requirement} disagrees with {where} ({written})",
            line.location,
            image=site.image,
            package=line.name,
            hint=f"use {line.name}=={expected}, or change {ctx.versions.path} first if the "
            "new version is intended",
        )


def _agrees(line: RequirementLine, expected: Version) -> bool:
    pinned = line.pinned_version
    if pinned is not None:
        return pinned.public == expected.public
    specifier = line.requirement.specifier
    return specifier.contains(expected, prereleases=True) or specifier.contains(
        Version(expected.public), prereleases=True
    )


# -- pin-drift ----------------------------------------------------------------------------------


@rule("pin-drift", Severity.WARNING, "the same package pinned to different versions")
def pin_drift(ctx: CheckContext) -> Iterator[Finding]:
    governed = versions_pins(ctx)
    groups: dict[NormalizedName, list[tuple[Site, Version]]] = {}
    for site in sites(ctx):
        version = site.line.pinned_version
        if version is not None and site.line.name not in governed:
            groups.setdefault(site.line.name, []).append((site, Version(version.public)))
    for name, pinned in sorted(groups.items()):
        yield from _drift(name, pinned)


def _drift(name: NormalizedName, pinned: list[tuple[Site, Version]]) -> Iterator[Finding]:
    counts = Counter(version for _, version in pinned)
    if len(counts) < 2:
        return
    first_seen: Mapping[Version, int] = {v: i for i, (_, v) in reversed(list(enumerate(pinned)))}
    usual = max(counts, key=lambda v: (counts[v], -first_seen[v]))
    example = next(site for site, version in pinned if version == usual)
    for site, version in pinned:
        if version == usual:
            continue
        yield pin_drift.finding(
            f"{name}=={version} here, but {name}=={usual} in {counts[usual]} other place(s) "
            f"(e.g. {example.line.location})",
            site.line.location,
            image=site.image,
            package=name,
            hint=f"pin one version everywhere (add {name} to versions.txt to make it the rule)",
        )
