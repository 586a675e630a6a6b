"""Requirements a hash-pinned lock cannot hold as written: direct references.

``direct-reference`` reports, at the line that writes it, every install that is not a
``name==version`` from an index:

* a VCS requirement without a commit (``git+https://…``, ``@main``, ``@v1.2``): each build
  takes what the branch or tag points to then (error; ``name @ git+https://…@<commit>`` is
  lockable);
* a VCS or archive URL that does not say its project name (error: nothing can be resolved
  for it without building it);
* a direct URL to an archive without a ``#sha256=`` (warning: its bytes are not verified);
* a local path or an editable install (``pip install .``, ``-e ./pkg``): what it depends on
  is resolved at build time, outside the lock (warning). The repository's own project — a
  path copied in from the build context, or from a named build context (``COPY --from=src``
  where ``src`` is no stage and no image reference: bake's ``contexts``, compose's
  ``additional_contexts``) — is an info: it is no third-party reference a lock could pin,
  only its dependencies are unlocked;
* ``--no-binary``: the package is built from source at build time (warning).

The image is kept and checked like any other: a direct reference is a finding, never a reason
to drop an image.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from lockaudit.errors import Location
from lockaudit.parsing.directref import DirectKind, classify
from lockaudit.parsing.dockerfile import PipInstall, Stage
from lockaudit.parsing.requirements import RequirementLine, is_direct_url
from lockaudit.rules import CheckContext, distinct_dockerfiles, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.rules.installs import from_context
from lockaudit.rules.pins import file_owners, sites
from lockaudit.workspace.model import Image

# A ``COPY --from`` value that names an image (a registry path, a tag or a digest), not a
# named build context.
_IMAGE_LIKE = re.compile(r"[/:@]")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


@rule(
    "direct-reference",
    Severity.ERROR,
    "a VCS, URL, local or editable requirement (or --no-binary) that a lock cannot pin",
)
def direct_reference(ctx: CheckContext) -> Iterator[Finding]:
    for site in sites(ctx):
        found = _judge(site.line)
        if found is not None:
            message, hint, severity = found
            yield direct_reference.finding(
                message, site.line.location, image=site.image, package=site.line.name,
                hint=hint, severity=severity,
            )
    owners = file_owners(ctx)
    seen: set[tuple[str, str]] = set()
    for parsed in ctx.requirement_files.values():
        for text, location in parsed.unnamed:
            if (text, str(location)) not in seen and not ctx.is_lock(location.path):
                seen.add((text, str(location)))
                yield _unnamed(text, location, owners.get(location.path))
    for image, dockerfile in distinct_dockerfiles(ctx):
        for stage in dockerfile.stages:
            for install in stage.pip_installs:
                for word, location in install.unnamed:
                    yield _unnamed(word, location, image.key)
                for path in install.local_args:
                    own = _own_checkout(ctx, image, stage, install, path)
                    yield direct_reference.finding(
                        f"pip install {path} installs "
                        + ("the repository's own project" if own else "a local path")
                        + ": its dependencies are resolved at build time, outside the lock",
                        install.location,
                        image=image.key,
                        hint="declare its dependencies in the image's requirements (so they "
                        "are locked) and install it with --no-deps",
                        severity=Severity.INFO if own else Severity.WARNING,
                    )
                no_binary = [o for o in install.options if o.startswith("--no-binary")]
                if no_binary:
                    yield direct_reference.finding(
                        f"{no_binary[0]}: packages are built from source at build time",
                        install.location,
                        image=image.key,
                        hint="install wheels (drop --no-binary), or build the wheel once and "
                        "serve it from an index or --find-links",
                        severity=Severity.WARNING,
                    )


def _own_checkout(
    ctx: CheckContext, image: Image, stage: Stage, install: PipInstall, path: str
) -> bool:
    """Whether ``path`` is the repository's own project: a directory a COPY brought in from
    the build context, or one under the destination of a COPY from a named build context."""
    path = path.split("[", 1)[0] or "."  # ``.[extra]`` is the project ``.``
    if path.endswith(_ARCHIVES):
        return False  # a wheel or sdist file, vendored or built: not the checkout itself
    if from_context(ctx.workspace, image, stage, install, path):
        return True
    aliases = {s.from_line.alias for s in ctx.dockerfiles[image.key].stages}
    target = posixpath.normpath(path)
    for copy in stage.copies:
        named = copy.from_stage
        if named is None or named in aliases or named.isdigit() or _IMAGE_LIKE.search(named):
            continue
        if copy.location.line < install.location.line and copy.dest.startswith("/"):
            dest = posixpath.normpath(copy.dest)
            if target == dest or target.startswith(dest.rstrip("/") + "/"):
                return True
    return False


def _unnamed(text: str, location: Location, image: str | None) -> Finding:
    if is_direct_url(text):
        return direct_reference.finding(
            f"{text} does not say which project it installs: nothing can be resolved or "
            "locked for it without building it",
            location,
            image=image,
            hint=f"name it and pin the commit: <name> @ {_pinned_form(text)}",
        )
    return direct_reference.finding(
        f"{text} installs a local path: its dependencies are resolved at build time, outside "
        "the lock",
        location,
        image=image,
        hint="list its dependencies in a requirements file (so they are locked) and install "
        "it from the Dockerfile with --no-deps",
        severity=Severity.WARNING,
    )


def _judge(line: RequirementLine) -> tuple[str, str, Severity] | None:
    url = line.requirement.url
    written = line.raw or str(line.requirement)
    if url is None:
        if line.editable:
            return (
                f"-e {written}: an editable install is resolved at build time, outside the lock",
                "install it as a wheel with --no-deps, its dependencies in the requirements",
                Severity.WARNING,
            )
        return None
    base = url.split("#", 1)[0]
    ref = classify(url)
    if ref.lockable:
        return None  # an archive with its hash, a VCS commit: lockable as written
    if ref.kind is DirectKind.VCS_REF:
        return (
            f"{written} names no commit: each build installs whatever the branch or tag "
            "points to then",
            f"pin the commit: {line.name} @ {_pinned_form(base)}",
            Severity.ERROR,
        )
    if ref.kind is DirectKind.LOCAL or line.editable:
        return (
            f"{written} installs a local path: resolved at build time, outside the lock",
            "publish it as a wheel (an index or --find-links) and pin name==version",
            Severity.WARNING,
        )
    if ref.kind is DirectKind.UNNAMED_FILE:
        return (
            f"{written}: the file name is no wheel or sdist name, so nothing says its version",
            f"point to the wheel or sdist itself: {line.name} @ <url of "
            f"{line.name}-<version>-….whl>#sha256=<hash>",
            Severity.ERROR,
        )
    return (
        f"{written} is a direct URL without a hash: its bytes are never verified",
        f"add the file's hash: {line.name} @ {base}#sha256=<hash>, or install it from "
        "an index as name==version",
        Severity.WARNING,
    )


def _pinned_form(url: str) -> str:
    """``git+https://host/org/pkg.git@<commit>``: the URL with its ref replaced by a commit."""
    base = url.split("#", 1)[0]
    scheme, sep, rest = base.partition("://")
    if sep and "@" in rest.rsplit("/", 1)[-1]:
        rest = rest.rsplit("@", 1)[0]
    return f"{scheme}{sep}{rest}@<commit>"
