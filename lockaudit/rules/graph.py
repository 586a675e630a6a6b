"""Rules across the image graph: what parents provide, what files are used, what is declared.

What an image *provides* is what its Dockerfile installs (inline and through traced ``-r``
files) plus the requirement files ``[tool.lockaudit]`` declares for it; its children inherit
all of it.

Decisions:

* ``duplicate-heavy-install`` leaves a non-heavy package that an ancestor has only from the
  common file to ``common-repeated`` (one finding per mistake, not two).
* ``common-repeated`` applies to an image that inherits the common file (``inherits-common``)
  from an ancestor that installs it, and does not install it itself.
* ``orphan-requirements`` looks at the common file, every declared requirement file and every
  ``*requirements*.txt`` next to a Dockerfile of the workspace. A declared file of an image
  whose Dockerfile installs a lock (a file under the locks directory) is used: it is the
  lock's input. One copied in but never installed is reported at its COPY (a warning); one
  that nothing declares or copies is an info: it is often the host's tooling (tests, CI).
* ``dockerfile-requirements-mismatch`` reports (a) a declared requirement that neither the
  Dockerfile nor an ancestor installs (skipped for an image that installs a lock: comparing a
  lock with its inputs is the lock rules' job), (b) a package the Dockerfile pins to another
  version than the image's requirement files, (c) a ``-r`` path that no COPY or bind mount
  provides, or that is copied from a file the context lacks (locks excepted: lock-missing).
* ``fallback-missing-install`` (an addition to the issue's list): a CPU fallback built on
  another parent loses what its twin's ancestors installed (base-ml's torch, librosa, ...);
  when neither its new ancestors nor its own Dockerfile install those packages, the image
  lacks them. Skipped when the fallback installs a lock (made from its requirements, which
  config fills with the lost ancestors' files).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from packaging.utils import NormalizedName

from lockaudit.errors import Location
from lockaudit.parsing.requirements import RequirementLine
from lockaudit.rules import CheckContext, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.rules.installs import is_remote
from lockaudit.workspace.model import INSTALLER_TOOLS, Image


@dataclass(frozen=True)
class Provided:
    """A package an image has, and the line that put it there."""

    image: str
    line: RequirementLine


def own_lines(ctx: CheckContext, image: Image) -> tuple[RequirementLine, ...]:
    """Requirements the image installs itself: Dockerfile installs, then declared files."""
    return ctx.derived(("own-lines", image.key), lambda: _own_lines(ctx, image))


def _own_lines(ctx: CheckContext, image: Image) -> tuple[RequirementLine, ...]:
    lines = [item.line for item in ctx.installs[image.key].items]
    seen = {(line.location, line.name) for line in lines}
    for parsed in ctx.image_files(image):
        lines += [line for line in parsed.requirements if (line.location, line.name) not in seen]
    return tuple(lines)


def provided_by_ancestors(ctx: CheckContext, image: Image) -> Mapping[NormalizedName, Provided]:
    """Packages the image's ancestors install; the nearest ancestor wins."""
    return ctx.derived(("provided", image.key), lambda: _provided(ctx, image))


def _provided(ctx: CheckContext, image: Image) -> Mapping[NormalizedName, Provided]:
    provided: dict[NormalizedName, Provided] = {}
    for ancestor in ctx.workspace.ancestors(image.key):
        for line in own_lines(ctx, ancestor):
            provided[line.name] = Provided(ancestor.key, line)
    return MappingProxyType(provided)


def is_heavy(ctx: CheckContext, name: str) -> bool:
    return ctx.workspace.is_heavy(name)


# -- duplicate-heavy-install --------------------------------------------------------------------


@rule(
    "duplicate-heavy-install",
    Severity.ERROR,
    "a stage installs a package an ancestor image already provides",
)
def duplicate_heavy_install(ctx: CheckContext) -> Iterator[Finding]:
    common = ctx.workspace.common
    for image in ctx.workspace.images:
        provided = provided_by_ancestors(ctx, image)
        for line in own_lines(ctx, image):
            source = provided.get(line.name)
            if source is None or source.line.location == line.location:
                continue  # not provided, or the very line the ancestor installs (an include)
            if line.name in INSTALLER_TOOLS:
                continue  # upgrading pip/setuptools/wheel per image is routine and cheap
            heavy = is_heavy(ctx, line.name)
            if not heavy and source.line.location.path == common:
                continue  # common-repeated reports it
            yield _duplicate(image, line, source, heavy=heavy)


def _duplicate(image: Image, line: RequirementLine, source: Provided, *, heavy: bool) -> Finding:
    again = line.pinned_version
    before = source.line.pinned_version
    change = (
        f" at another version ({again} over {before}): pip replaces it in a new layer"
        if again is not None and before is not None and again != before
        else ""
    )
    weight = "a heavy package, a second copy adds its full size" if heavy else "installed twice"
    return duplicate_heavy_install.finding(
        f"{image.key} installs {line.name} again{change}; {source.image} already provides it "
        f"({source.line.location}) — {weight}",
        line.location,
        image=image.key,
        package=line.name,
        hint=f"remove {line.name} here and rely on {source.image}, or change the pin there",
        severity=Severity.ERROR if heavy else Severity.WARNING,
    )


# -- common-repeated ----------------------------------------------------------------------------


@rule("common-repeated", Severity.WARNING, "a requirements-common package repeated in a stage")
def common_repeated(ctx: CheckContext) -> Iterator[Finding]:
    common = ctx.common
    if common is None:
        return
    shared = {line.name: line for line in common.requirements}
    reported: set[tuple[str, int]] = set()
    for image in ctx.workspace.images:
        if not image.inherits_common or _installs_common(ctx, image, common.path):
            continue
        ancestors = ctx.workspace.ancestors(image.key)
        giver = next((a for a in ancestors if _installs_common(ctx, a, common.path)), None)
        if giver is None:
            continue
        for line in own_lines(ctx, image):
            spot = (line.location.path, line.location.line)
            if (
                line.name in shared
                and line.location.path != common.path  # the common file, reached by -r
                and not is_heavy(ctx, line.name)
                and spot not in reported
            ):
                reported.add(spot)
                yield common_repeated.finding(
                    f"{line.name} is already in {common.path} "
                    f"({shared[line.name].location}), which {giver.key} installs",
                    line.location,
                    image=image.key,
                    package=line.name,
                    hint=f"remove it here; change the pin in {common.path} if this stage "
                    "needs another version",
                )


def _installs_common(ctx: CheckContext, image: Image, path: str) -> bool:
    return path in image.requirements or path in ctx.installs[image.key].files


# -- orphan-requirements ------------------------------------------------------------------------


@rule("orphan-requirements", Severity.WARNING, "a requirements file no Dockerfile installs")
def orphan_requirements(ctx: CheckContext) -> Iterator[Finding]:
    installed = {path for item in ctx.installs.values() for path in item.files}
    installed |= _locked_inputs(ctx)
    copied = {path for item in ctx.installs.values() for path in item.copied}
    copies = _copy_sites(ctx)
    for path, image in _candidates(ctx).items():
        if path in installed:
            continue
        declared = [i.key for i in ctx.workspace.images if path in i.requirements]
        also = f"; [tool.lockaudit] still locks it for {', '.join(declared)}" if declared else ""
        if path in copied:
            # copied in for an install that never comes: the COPY line is where to fix it
            # (a glob's COPY is not looked up: then the file itself)
            site = copies.get(path)
            yield orphan_requirements.finding(
                f"{path} is copied into the image but never passed to pip install -r{also}",
                site[1] if site else _location(path),
                image=site[0] if site else image,
                related=(_location(path),),
                hint="install it (pip install -r the copied path) or stop copying it: its "
                "packages never reach the image",
            )
            continue
        yield orphan_requirements.finding(
            f"{path} is installed by no Dockerfile{also}",
            _location(path),
            image=image,
            hint="install it (COPY it, then pip install -r) or delete it: a file nothing "
            "installs misleads readers and locks",
            # nothing declares or copies it: often the host's tooling (tests, CI helpers)
            severity=None if declared else Severity.INFO,
        )


def _copy_sites(ctx: CheckContext) -> dict[str, tuple[str, Location]]:
    """Workspace file -> (image, the first COPY that puts it into that image)."""
    sites: dict[str, tuple[str, Location]] = {}
    for image in ctx.workspace.images:
        dockerfile = ctx.dockerfiles.get(image.key)
        if dockerfile is None:
            continue
        for stage in dockerfile.stages:
            for copy in stage.copies:
                if copy.from_stage is None:
                    for source in copy.sources:
                        path = posixpath.normpath(posixpath.join(image.context, source))
                        sites.setdefault(path, (image.key, copy.location))
    return sites


def _locked_inputs(ctx: CheckContext) -> set[str]:
    """Declared files (and what they include) of images that install a lock: the lock is how
    they get installed."""
    return {
        included
        for image in ctx.workspace.images
        if installs_a_lock(ctx, image)
        for path in image.requirements
        for included in ctx.requirement_files[path].includes
    }


def installs_a_lock(ctx: CheckContext, image: Image) -> bool:
    return any(ctx.is_lock(path) for path in ctx.installs[image.key].files)


def _candidates(ctx: CheckContext) -> dict[str, str | None]:
    """Requirement files worth checking → the image they sit next to (None: shared)."""
    workspace = ctx.workspace
    found: dict[str, str | None] = {}
    if ctx.common is not None:
        found[ctx.common.path] = None
    constraints = {path for _, path in workspace.constraints}
    for image in workspace.images:
        for path in image.requirements:
            found.setdefault(path, image.key)
        directory = posixpath.dirname(image.dockerfile)
        for child in sorted(workspace.path(directory or ".").glob("*requirements*.txt")):
            path = posixpath.join(directory, child.name) if directory else child.name
            found.setdefault(path, image.key)
    return {path: image for path, image in found.items() if path not in constraints}


def _location(path: str) -> Location:
    return Location(path, 1)


# -- dockerfile-requirements-mismatch -----------------------------------------------------------


@rule(
    "dockerfile-requirements-mismatch",
    Severity.ERROR,
    "a Dockerfile whose installs disagree with its image's requirement files",
)
def dockerfile_requirements_mismatch(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.workspace.images:
        yield from _not_installed(ctx, image)
        yield from _other_version(ctx, image)
        yield from _untraced(ctx, image)


def _not_installed(ctx: CheckContext, image: Image) -> Iterator[Finding]:
    if installs_a_lock(ctx, image):
        return  # the lock rules compare a lock with the requirements it was made from
    installed = {item.line.name for item in ctx.installs[image.key].items}
    installed |= set(provided_by_ancestors(ctx, image))
    for parsed in ctx.image_files(image):
        for line in parsed.requirements:
            if line.name not in installed:
                yield dockerfile_requirements_mismatch.finding(
                    f"{line.name} is declared for {image.key} ({parsed.path}) but neither "
                    f"{image.dockerfile} nor a parent image installs it",
                    line.location,
                    image=image.key,
                    package=line.name,
                    hint=f"install {parsed.path} in the Dockerfile (COPY + pip install -r), "
                    "or drop it from the image's requirements",
                )


def _other_version(ctx: CheckContext, image: Image) -> Iterator[Finding]:
    declared = {
        line.name: line
        for parsed in ctx.image_files(image)
        for line in parsed.requirements
        if line.pinned_version is not None
    }
    for item in ctx.installs[image.key].items:
        line = item.line
        want = declared.get(line.name)
        if (
            item.in_dockerfile
            and want is not None
            and line.pinned_version is not None
            and want.pinned_version != line.pinned_version
        ):
            yield dockerfile_requirements_mismatch.finding(
                f"the Dockerfile installs {line.name}=={line.pinned_version}, but the image's "
                f"requirements pin {line.name}=={want.pinned_version} ({want.location})",
                line.location,
                image=image.key,
                package=line.name,
                hint="install from the requirements file instead of repeating the pin inline",
            )


def _untraced(ctx: CheckContext, image: Image) -> Iterator[Finding]:
    if image.variant_of is not None:
        return  # the twin reports the shared Dockerfile
    for location, path in ctx.installs[image.key].missing:
        if not ctx.is_lock(path):  # a missing lock is lock-missing's finding
            yield dockerfile_requirements_mismatch.finding(
                f"pip install reads {path}, which the Dockerfile copies in but the build "
                "context does not have",
                location,
                image=image.key,
                hint=f"add {path} or fix the COPY source: the build fails without it",
            )
    for location, path in ctx.installs[image.key].untraced:
        if is_remote(path):
            continue  # remote-requirements says what is wrong with a file read from a URL
        yield dockerfile_requirements_mismatch.finding(
            f"pip install reads {path}, but no COPY or bind mount before it puts a file of the "
            f"build context ({image.context}) there",
            location,
            image=image.key,
            hint="COPY the requirements file in before installing it (the build fails "
            "otherwise), or fix the path",
            severity=Severity.WARNING,
        )


# -- fallback-missing-install -------------------------------------------------------------------


@rule(
    "fallback-missing-install",
    Severity.ERROR,
    "a CPU fallback loses packages its twin's parents install, and nothing installs them again",
)
def fallback_missing_install(ctx: CheckContext) -> Iterator[Finding]:
    workspace = ctx.workspace
    for image in workspace.images:
        if image.variant_of is None or installs_a_lock(ctx, image):
            continue  # a lock is made from the fallback's requirements: the lock rules judge it
        twin = workspace.image(image.variant_of)
        # What the fallback's Dockerfile really installs: declaring a file installs nothing.
        installed = {item.line.name for item in ctx.installs[image.key].items}
        kept = {*provided_by_ancestors(ctx, image), *installed}
        lost = {
            name: source
            for name, source in provided_by_ancestors(ctx, twin).items()
            if name not in kept
        }
        if not lost:
            continue
        givers = sorted({source.image for source in lost.values()})
        names = ", ".join(sorted(lost))
        yield fallback_missing_install.finding(
            f"{image.key} is built on {image.parent}, without the layers of "
            f"{', '.join(givers)} that {twin.key} relies on: nothing installs {names} "
            "(pip may pull some as dependencies, unpinned, from the default index)",
            root_from_location(ctx, image),
            image=image.key,
            hint=f"install them in the fallback (a requirements file listed for {image.key}, "
            "locked for its variant), or keep the stage on its CUDA parent",
        )


def root_from_location(ctx: CheckContext, image: Image) -> Location:
    """Where the image's Dockerfile says FROM (the final stage's)."""
    return ctx.dockerfiles[image.key].final.from_line.location
