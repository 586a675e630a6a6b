"""Rules that make the gate cover the whole repository: no Dockerfile can bypass it.

* ``dockerfile-not-covered``: a Dockerfile of the repository (``workspace/tree.py`` says which
  files are Dockerfiles and which folders are skipped) that no image is built from and no
  ``exclude`` entry names. A new Dockerfile fails the gate until someone decides what it is.
* ``exclude-stale``: an ``exclude`` entry that matches no Dockerfile of the repository (the file
  moved or was deleted), or that names the Dockerfile of a configured image (the image wins:
  it is checked).
* ``dockerfile-unreadable``: a configured Dockerfile that cannot be parsed (empty, binary,
  a dangling continuation, an unterminated quote, stages that copy from each other in a
  circle...). Reported at the line of the parse error; the image and its descendants are left
  out of every other rule, and each descendant gets its own finding, so nothing passes silently.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from lockaudit.errors import Location
from lockaudit.rules import CheckContext, rule
from lockaudit.rules.findings import Finding, Severity


@rule(
    "dockerfile-not-covered",
    Severity.ERROR,
    "a Dockerfile of the repository that is neither an image nor excluded",
)
def dockerfile_not_covered(ctx: CheckContext) -> Iterator[Finding]:
    configured = {posixpath.normpath(image.dockerfile) for image in ctx.configured}
    excludes = ctx.workspace.excludes
    for path in ctx.repository_dockerfiles:
        if path in configured or any(exclude.matches(path) for exclude in excludes):
            continue
        yield dockerfile_not_covered.finding(
            f"{path} is not the Dockerfile of any image, and not excluded",
            Location(path, _first_from_line(ctx, path)),
            hint=f"declare its image in [[tool.lockaudit.images]], or add "
            f'{{path = "{path}", reason = "..."}} to `exclude` in [tool.lockaudit]',
        )


@rule(
    "exclude-stale",
    Severity.WARNING,
    "an `exclude` entry that matches no Dockerfile, or one that an image is built from",
)
def exclude_stale(ctx: CheckContext) -> Iterator[Finding]:
    configured = {posixpath.normpath(i.dockerfile): i.key for i in ctx.configured}
    for exclude in ctx.workspace.excludes:
        matched = [path for path in ctx.repository_dockerfiles if exclude.matches(path)]
        if not matched:
            yield exclude_stale.finding(
                f"exclude {exclude.pattern!r} matches no Dockerfile of the repository",
                exclude.location,
                hint="remove the entry, or correct its path",
            )
        for path in matched:
            if path in configured:
                yield exclude_stale.finding(
                    f"exclude {exclude.pattern!r} names {path}, the Dockerfile of image "
                    f"{configured[path]}: the image is checked all the same",
                    exclude.location,
                    image=configured[path],
                    hint="narrow the pattern, or remove the image from [[tool.lockaudit.images]]",
                )


@rule(
    "dockerfile-unreadable",
    Severity.ERROR,
    "a configured Dockerfile that cannot be parsed (its image is not checked)",
)
def dockerfile_unreadable(ctx: CheckContext) -> Iterator[Finding]:
    for unchecked in ctx.unchecked:
        image = unchecked.image
        if unchecked.because_of is None:
            yield dockerfile_unreadable.finding(
                f"cannot read this Dockerfile of {image.key}: {unchecked.message}",
                unchecked.location,
                image=image.key,
                hint="fix the Dockerfile; until then no rule checks this image or its children",
            )
        else:
            yield dockerfile_unreadable.finding(
                f"{image.key} is not checked: it is built on {unchecked.because_of}, "
                "whose Dockerfile cannot be read",
                Location(image.dockerfile, 1),
                image=image.key,
                hint=f"fix {unchecked.location}",
            )


def _first_from_line(ctx: CheckContext, path: str) -> int:
    """The line of the first FROM (cheap scan): where a reader sees which image it is."""
    try:
        with ctx.workspace.path(path).open("rb") as f:
            for number, line in enumerate(f, start=1):
                if line.lstrip()[:5].upper() == b"FROM ":
                    return number
    except OSError:
        pass
    return 1
