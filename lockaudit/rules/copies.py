"""Rules about requirement files that are copies of one another.

* ``requirements-copy-drift``: a requirement file says in a comment that it copies another
  one (``# This is a hard copy of dockerfiles/app/requirements.txt``, "same as", "mirror of",
  "keep in sync with"), and the two no longer list the same requirements: a package of the
  original is missing from the copy, the copy has one the original has not, or one package is
  pinned differently. The image that installs the copy then gets another set than the one it
  claims to mirror, and nobody notices because the comment says it is the same.

Decisions:

* Only a copy that names its original is judged: two files that merely share lines are as
  often meant to differ. The original is the path the comment names, read from the workspace
  root, then beside the copy, then as the one requirement file the workspace reads whose path
  ends with it.
* A package the copy's header (its comment lines before the first requirement) names is a
  stated difference ("minus the mpi4py dependency"): never reported.
* Only the files' own lines are compared (not their ``-r`` includes); a requirement is the
  same when its specifier, extras and marker are (the order and comments do not matter).
* One finding per copy, at the comment that says it is a copy; the lines that differ are its
  related places.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from lockaudit.errors import InputError, Location
from lockaudit.parsing.requirements import RequirementLine, RequirementsFile
from lockaudit.rules import CheckContext, rule
from lockaudit.rules.findings import Finding, Severity

__all__ = ["Claim", "copy_claim", "requirements_copy_drift"]

# "copy of X", "copied from X", "mirror of X", "same as X", "in sync with X", "identical to X"
_CLAIM = re.compile(
    r"\b(?:cop(?:y|ied|ies)|mirror(?:s|ed)?|duplicate[sd]?|same\s+as|in\s+sync|identical)\b"
    r"[^#]*?(?P<path>[\w.][\w./-]*\.(?:txt|in))\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Claim:
    """A copy's comment naming its original: where it says so, the path, the header's words."""

    location: Location
    original: str  # as written in the comment
    header_words: frozenset[str]  # canonical names of every word of the header comments


def copy_claim(path: str, text: str) -> Claim | None:
    """The first comment of ``text`` (a requirement file at ``path``) that says it copies
    another requirement file, with the words of the file's header."""
    claim: tuple[int, str] | None = None
    words: set[str] = set()
    in_header = True
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        comment = stripped[1:] if stripped.startswith("#") else ""
        if stripped and not comment:
            in_header = False
        if in_header and comment:
            words.update(canonicalize_name(w) for w in _WORD.findall(comment))
        if claim is None and "#" in line:
            match = _CLAIM.search(line[line.index("#"):])
            if match and posixpath.basename(match["path"]) and match["path"] != path:
                claim = (number, match["path"])
    if claim is None:
        return None
    return Claim(Location(path, claim[0]), claim[1], frozenset(words))


@rule(
    "requirements-copy-drift",
    Severity.WARNING,
    "a requirement file that says it copies another one has drifted from it",
)
def requirements_copy_drift(ctx: CheckContext) -> Iterator[Finding]:
    owners = {path: image.key for image in ctx.workspace.images for path in image.requirements}
    for path in sorted(ctx.requirement_files):
        if ctx.is_lock(path):
            continue
        text = ctx.inputs.file_text(path, errors="replace")
        claim = copy_claim(path, text or "")
        if claim is None:
            continue
        original = _original(ctx, path, claim.original)
        if original is None:
            continue
        try:
            source = ctx.requirement_files.get(original) or ctx.inputs.requirements(original)
        except InputError:
            continue  # an unreadable original is reported where it is installed, if it is
        found = _drift(claim, ctx.requirement_files[path], source, owners.get(path))
        if found is not None:
            yield found


def _original(ctx: CheckContext, copy: str, written: str) -> str | None:
    """The workspace path of the original the copy names (see the module's decisions)."""
    candidates = [
        posixpath.normpath(written.lstrip("/")),
        posixpath.normpath(posixpath.join(posixpath.dirname(copy), written)),
    ]
    for candidate in candidates:
        if candidate != copy and not candidate.startswith("..") and ctx.inputs.exists(candidate):
            return candidate
    ending = [p for p in ctx.requirement_files if p != copy and p.endswith("/" + written)]
    return ending[0] if len(ending) == 1 else None


def _own(parsed: RequirementsFile) -> dict[str, RequirementLine]:
    return {
        line.name: line for line in parsed.requirements if line.location.path == parsed.path
    }


def _same(one: RequirementLine, other: RequirementLine) -> bool:
    a, b = one.requirement, other.requirement
    return (a.specifier, a.extras, str(a.marker), a.url) == (
        b.specifier, b.extras, str(b.marker), b.url
    )


def _written(line: RequirementLine) -> str:
    return str(line.requirement)


def _drift(
    claim: Claim, copy: RequirementsFile, original: RequirementsFile, image: str | None
) -> Finding | None:
    mine, theirs = _own(copy), _own(original)
    stated = claim.header_words
    missing = [theirs[n] for n in sorted(theirs) if n not in mine and n not in stated]
    extra = [mine[n] for n in sorted(mine) if n not in theirs and n not in stated]
    changed = [
        (mine[n], theirs[n]) for n in sorted(mine)
        if n in theirs and n not in stated and not _same(mine[n], theirs[n])
    ]
    if not (missing or extra or changed):
        return None
    said = []
    if missing:
        said.append(f"it lacks {_list(_written(line) for line in missing)}")
    if extra:
        said.append(f"it adds {_list(_written(line) for line in extra)}")
    for here, there in changed:
        said.append(f"{_written(here)} here is {_written(there)} there")
    related = [
        *(line.location for line in missing),
        *(line.location for line in extra),
        *(loc for pair in changed for loc in (pair[0].location, pair[1].location)),
    ]
    return requirements_copy_drift.finding(
        f"{copy.path} says it is a copy of {original.path}, but they have drifted apart: "
        + "; ".join(said)
        + ": what installs the copy gets another set than the file it mirrors",
        claim.location,
        image=image,
        hint=f"make {copy.path} match {original.path} again, or name the difference in its "
        f"header comment; better, install {original.path} with -r and keep only the "
        "difference in the copy",
        related=tuple(dict.fromkeys(related)),
    )


def _list(items: Iterable[str]) -> str:
    found = list(items)
    return ", ".join(found[:-1]) + " and " + found[-1] if len(found) > 1 else "".join(found)
