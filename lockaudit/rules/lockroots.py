"""Does each lock answer what its image asks for? (``lock-unfounded``)

The other lock rules hold the three files of an image against each other and their header
against the inputs; all of that can be forged consistently by anyone who renders the files
again (a digest is a checksum, not a signature). What cannot be forged without changing an
input is the lock's relation to the inputs themselves, and that is checked here, offline:

- a ``# via <image>: <file>:<line>`` names a requirement line of that image (or of an
  ancestor, for inherited packages) that asks for this very package, and the pinned version
  satisfies that line;
- a ``# via <package>`` names a package the lock pins;
- every package is asked for by something (a lock entry without ``# via`` is unfounded);
- every requirement line of the image that applies to its target is pinned, and every pin
  satisfies each requirement and constraint line of the image that names it.

Decisions:
- Only a fresh lock is held against its inputs: a stale one answers older inputs, and
  ``lock-stale`` already says so. A tampered one is ``lock-tampered``'s.
- That a ``# via <package>`` is true (the package really depends on this one) needs the
  package's metadata, which the offline gate does not have; it is the one forgery left to the
  installer, where ``--require-hashes`` and ``--no-deps`` still install only hashed files.
- Pre-releases satisfy a specifier here: the resolver decided whether to allow them, and a
  pin that matches the specifier's numbers was a legitimate answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from packaging.requirements import Requirement
from packaging.version import Version

from lockaudit.errors import Location
from lockaudit.locks import LockedPackage, LockText
from lockaudit.parsing.requirements import RequirementLine
from lockaudit.rules import CheckContext, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.rules.locks import full_lock, is_fresh
from lockaudit.workspace.model import Image, normalize
from lockaudit.workspace.roots import ImageRoots, image_root_lines

_HINT = "run `lockaudit compile --image {key}` and commit the result; never edit a lock by hand"


@rule(
    "lock-unfounded",
    Severity.ERROR,
    "a lock pins a package or version that its image's requirement files do not ask for",
)
def lock_unfounded(ctx: CheckContext) -> Iterator[Finding]:
    roots: dict[str, ImageRoots] = {}

    def roots_of(image: Image) -> ImageRoots:
        if image.key not in roots:
            roots[image.key] = image_root_lines(ctx.inputs, image)
        return roots[image.key]

    for image in ctx.lockable.images:
        text = full_lock(ctx, image)
        if text is None or text.tampered or not is_fresh(ctx, image):
            continue
        chain = {i.key: i for i in (image, *ctx.lockable.ancestors(image.key))}
        lines = {key: _by_location(roots_of(owner)) for key, owner in chain.items()}
        problems = [
            *_via_problems(text, lines),
            *_root_problems(image, text, roots_of(image)),
        ]
        for message, location, package, related in problems:
            yield lock_unfounded.finding(
                message,
                location,
                image=image.key,
                package=package,
                hint=_HINT.format(key=image.key),
                related=related,
            )


_Problem = tuple[str, Location, str, tuple[Location, ...]]


def _by_location(roots: ImageRoots) -> dict[str, RequirementLine]:
    return {str(line.location): line for line in roots.requirements}


def _via_problems(
    text: LockText, lines: Mapping[str, Mapping[str, RequirementLine]]
) -> Iterator[_Problem]:
    """Each ``# via`` of each entry is true of the inputs (and there is one)."""
    # Runs over every entry of every lock on each check after an edit: a location is looked up
    # only for an entry that is wrong.
    pinned = {package.name for package in text.lock.packages}
    for package in text.lock.packages:
        if not package.required_by:
            yield (
                f"{text.path} pins {package.name}=={package.version}, which nothing asks for "
                "(the entry has no `# via`)",
                text.location(package.name),
                package.name,
                (),
            )
        for via in package.required_by:
            owner, colon, spot = via.partition(": ")
            if not colon:
                if normalize(via) not in pinned:
                    yield (
                        f"{text.path} says {package.name} is required by {via}, which it "
                        "does not pin",
                        text.location(package.name),
                        package.name,
                        (),
                    )
                continue
            wrong = _root_via(text, package, owner, spot, lines)
            if wrong is not None:
                message, related = wrong
                yield message, text.location(package.name), package.name, related


def _root_via(
    text: LockText,
    package: LockedPackage,
    owner: str,
    spot: str,
    lines: Mapping[str, Mapping[str, RequirementLine]],
) -> tuple[str, tuple[Location, ...]] | None:
    """What is wrong with ``# via <owner>: <spot>`` on ``package``'s entry, if anything."""
    known = lines.get(owner)
    line = known.get(spot) if known is not None else None
    if (
        line is not None
        and line.name == package.name
        and _satisfies(line.requirement, package.version)
    ):
        return None
    said = f"{text.path} says {package.name}=={package.version} is asked for by {owner}: {spot}"
    if known is None:
        return f"{said}, but {owner} is not {text.lock.image} or one of its parents", ()
    if line is None:
        return f"{said}, but no requirement of {owner} is on that line", ()
    if line.name != package.name:
        return f"{said}, but that line asks for {line.name}", (line.location,)
    return f"{said}, but that line asks for {line.requirement}", (line.location,)


def _root_problems(image: Image, text: LockText, roots: ImageRoots) -> Iterator[_Problem]:
    """Every requirement of the image that applies to its target is pinned, and every pin
    satisfies each line of the image that names it."""
    environment = {**image.target.marker_environment(), "extra": ""}
    applies = [
        (line, asked)
        for lines, asked in ((roots.requirements, True), (roots.constraints, False))
        for line in lines
        if line.requirement.marker is None or line.requirement.marker.evaluate(environment)
    ]
    for line, asked in applies:
        package = text.lock.package(line.name)
        if package is None and asked and not line.constraint:
            yield (
                f"{text.path} does not pin {line.name}, which {line.location} asks for",
                Location(text.path, text.body_line),
                line.name,
                (line.location,),
            )
        elif package is not None and not _satisfies(line.requirement, package.version):
            yield (
                f"{text.path} pins {package.name}=={package.version}, which does not satisfy "
                f"{line.requirement} ({line.location})",
                text.location(package.name),
                package.name,
                (line.location,),
            )


def _satisfies(requirement: Requirement, version: Version) -> bool:
    """A direct reference is held to its URL by the provenance rules, not to a specifier."""
    if requirement.url:
        return True
    return requirement.specifier.contains(version, prereleases=True)
