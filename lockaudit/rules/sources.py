"""Rules about the repository's own build sources: the places that say how an image is built.

* ``build-sources-disagree``: two sources (a Makefile, a compose file, a CI workflow, a bake
  file, a build script) build the same image of the workspace, but one builds it on another
  base image (a build argument set here and left at the Dockerfile's default there), from
  another stage (``--target runtime`` here, the last stage there), from another build context,
  or from another Dockerfile. What is published and what a developer builds then differ under
  one name, and only one of them is what the locks and the audit describe.

What each source says is discovery's :class:`~lockaudit.workspace.discover.BuildFact` (the
readers ``lockaudit init`` uses). It is an audit rule, not a ``check`` one: reading every CI
workflow and compose file of the repository is more than a pre-commit gate should do, and
those files are not inputs of ``check``'s cache.

Decisions:

* Builds are the same image when they build one Dockerfile under one name: the last path
  component of a static reference (``kserve/sklearnserver``: ``sklearnserver``), else what the
  source calls it (a compose service, a bake target). A build whose name only a run knows (a CI
  tag from an expression) joins the Dockerfile's one name when it has exactly one; with none or
  several it is left out (it could be any of them). Two static references with different tags
  are variants (a CPU and a CUDA tag), never compared.
* Builds are compared source file against source file, never within one: one file that builds
  a name twice (a matrix, a build and a push) says that on purpose. Two files disagree on a
  value when the values each one uses have nothing in common, so a CI matrix over three Pythons
  agrees with a Makefile that builds one of them.
* Build arguments are compared by their effect, the base image each build resolves (the FROM
  of the built stage, followed through the stages it is built on): a version or a commit passed
  as an argument changes no dependency and is never a finding. A build that sets an argument
  the FROM reads to a value only a run knows is left out of that comparison.
* The finding sits where the odd build can be fixed: for a base image, the Dockerfile's
  ``ARG`` default that one source silently takes (the ARGs that default is made of are related
  places); for a stage, context or Dockerfile, the source whose value is in the minority (the
  one that gives no ``--target`` on a tie). Every source's line is a related place.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from lockaudit.errors import InputError, Location
from lockaudit.parsing.dockerfile import Dockerfile, parse_dockerfile_text
from lockaudit.rules import rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.discover import BuildFact, build_facts
from lockaudit.workspace.model import Image

if TYPE_CHECKING:
    from lockaudit.audit.rules import AuditContext

__all__ = ["Build", "disagreements"]

# Stands in for a build argument's value only a run knows, so that a FROM it reaches shows it.
_UNKNOWN_VALUE = "@@unknown@@"
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")

Args: TypeAlias = tuple[tuple[str, str], ...]
_Parse: TypeAlias = Callable[[str, Args], Dockerfile | None]  # a Dockerfile with build args
_Text: TypeAlias = Callable[[str], str | None]  # a workspace file's text


@dataclass(frozen=True)
class Build:
    """One source's build of a workspace Dockerfile, resolved as the rule compares it."""

    fact: BuildFact
    stage: str  # the stage built: the fact's target, else the last stage's name
    base: str | None  # the external image the built stage descends from; None: not known
    default_args: tuple[str, ...]  # FROM-reading ARGs the build leaves at the default (the
    # ones FROM reads first, then those their defaults are made of); () when it sets one

    @property
    def source(self) -> str:
        return self.fact.location.path


@rule(
    "build-sources-disagree",
    Severity.WARNING,
    "two build sources build one image on another base, stage, context or Dockerfile",
    command="audit",
)
def build_sources_disagree(ctx: AuditContext) -> Iterator[Finding]:
    facts = ctx.check.derived("build-facts", lambda: build_facts(ctx.workspace.root))
    images = {image.dockerfile: image for image in reversed(ctx.workspace.images)}
    parsed: dict[tuple[str, Args], Dockerfile | None] = {}

    def parse(path: str, args: Args) -> Dockerfile | None:
        if (path, args) not in parsed:
            text = ctx.check.inputs.file_text(path, errors="replace")
            try:
                parsed[path, args] = (
                    None if text is None else parse_dockerfile_text(text, path, dict(args))
                )
            except InputError:  # reported by check's dockerfile-unreadable
                parsed[path, args] = None
        return parsed[path, args]

    yield from disagreements(facts, images, parse, lambda path: ctx.check.inputs.file_text(
        path, errors="replace"))


def disagreements(
    facts: Iterable[BuildFact],
    images: Mapping[str, Image],
    parse: _Parse,
    text_of: _Text,
) -> Iterator[Finding]:
    """The findings for ``facts`` over the workspace Dockerfiles ``images`` maps to an image."""
    by_file: dict[str, list[BuildFact]] = {}
    for fact in facts:
        path = posixpath.normpath(fact.dockerfile)
        if path in images:
            by_file.setdefault(path, []).append(fact)
    for path, found in sorted(by_file.items()):
        dockerfile = parse(path, ())
        if dockerfile is None or not dockerfile.stages:
            continue
        image, text = images[path], text_of(path) or ""
        for name, group in _same_image(found):
            builds = [b for b in (_build(fact, dockerfile, parse, text) for fact in group) if b]
            yield from _stage(image, name, builds)
            yield from _base(image, name, dockerfile, builds, text)
            yield from _context(image, name, builds)
    yield from _dockerfiles(facts, images)


def _name(fact: BuildFact) -> str | None:
    return fact.ref.repo if fact.ref is not None else fact.name


def _same_image(facts: Sequence[BuildFact]) -> Iterator[tuple[str, list[BuildFact]]]:
    """The builds of one Dockerfile grouped by image name (see the module's decisions)."""
    named: dict[str, list[BuildFact]] = {}
    unnamed: list[BuildFact] = []
    for fact in facts:
        name = _name(fact)
        if name is None:
            unnamed.append(fact)
        else:
            named.setdefault(name, []).append(fact)
    if len(named) == 1:
        (name,) = named
        named[name].extend(unnamed)
    for name, group in sorted(named.items()):
        for variant in _by_tag(group):
            if len({fact.location.path for fact in variant}) > 1:
                yield name, variant


def _by_tag(facts: list[BuildFact]) -> Iterator[list[BuildFact]]:
    """Builds with a static tag, one list per tag, each with the builds of unknown tag."""
    tags = sorted({fact.ref.tag for fact in facts if fact.ref is not None})
    loose = [fact for fact in facts if fact.ref is None]
    if len(tags) <= 1:
        yield facts
        return
    for tag in tags:
        yield [*(f for f in facts if f.ref is not None and f.ref.tag == tag), *loose]


def _build(fact: BuildFact, dockerfile: Dockerfile, parse: _Parse, text: str) -> Build | None:
    stages = {stage.from_line.alias: stage for stage in dockerfile.stages}
    last = dockerfile.stages[-1].from_line.alias or str(len(dockerfile.stages) - 1)
    stage = fact.target or last
    if fact.target is not None and fact.target not in stages:
        return None  # a stage this Dockerfile does not have: another finding's business
    known = dict(fact.build_args)
    given = {name for name, _ in fact.arg_lines}
    args = {**{name: _UNKNOWN_VALUE for name in given - set(known)}, **known}
    resolved = parse(dockerfile.path, tuple(sorted(args.items())))
    base = _base_of(resolved, stage) if resolved is not None else None
    if base is not None and (_UNKNOWN_VALUE in base or "$" in base):
        base = None
    reading = _from_args(dockerfile, stage, text)
    return Build(fact, stage, base, () if given.intersection(reading) else tuple(reading))


def _chain(dockerfile: Dockerfile, stage: str) -> list[int]:
    """Indexes of the stages ``stage`` is built on, itself first."""
    aliases = {s.from_line.alias: i for i, s in enumerate(dockerfile.stages) if s.from_line.alias}
    index = aliases.get(stage, int(stage) if stage.isdigit() else len(dockerfile.stages) - 1)
    chain: list[int] = []
    while index not in chain:
        chain.append(index)
        image = dockerfile.stages[index].from_line.image
        if image not in aliases:
            break
        index = aliases[image]
    return chain


def _base_of(dockerfile: Dockerfile, stage: str) -> str | None:
    if not dockerfile.stages:
        return None
    return dockerfile.stages[_chain(dockerfile, stage)[-1]].from_line.image


def _raw_defaults(dockerfile: Dockerfile, text: str) -> dict[str, str]:
    """Each global ARG's default as written (``python:${PY}-slim``), before expansion."""
    lines = text.splitlines()
    out = {}
    for name, _, where in dockerfile.global_args:
        line = lines[where.line - 1] if 0 < where.line <= len(lines) else ""
        out[name] = line.split("=", 1)[1] if "=" in line else ""
    return out


def _from_args(dockerfile: Dockerfile, stage: str, text: str) -> list[str]:
    """The global ARGs the FROM lines of ``stage``'s chain read, directly or through the
    defaults of other ARGs (``ARG BASE=python:${PY}-slim``: both)."""
    raw = " ".join(dockerfile.stages[i].from_line.raw for i in _chain(dockerfile, stage))
    defaults = _raw_defaults(dockerfile, text)
    todo = _REFERENCE.findall(raw)
    names: list[str] = []
    while todo:
        name = todo.pop(0)
        if name in defaults and name not in names:
            names.append(name)
            todo.extend(_REFERENCE.findall(defaults[name]))
    return names


# -- the comparisons -------------------------------------------------------------------------


def _values(builds: Sequence[Build], value: Callable[[Build], str | None]) -> dict[str, set[str]]:
    """Per source file, the values its builds use (builds whose value is unknown left out)."""
    out: dict[str, set[str]] = {}
    for build in builds:
        found = value(build)
        if found is not None:
            out.setdefault(build.source, set()).add(found)
    return out


def _disjoint(values: Mapping[str, set[str]]) -> bool:
    """Some two source files use values that have nothing in common."""
    files = sorted(values)
    return any(
        not values[a] & values[b] for i, a in enumerate(files) for b in files[i + 1 :]
    )


def _related(builds: Sequence[Build], besides: Location) -> tuple[Location, ...]:
    places = (build.fact.location for build in builds)
    return tuple(dict.fromkeys(p for p in places if p != besides))


def _said(build: Build) -> str:
    return f"{build.fact.location} ({build.fact.source})"


def _minority(builds: Sequence[Build], value: Callable[[Build], str | None]) -> Build:
    """The build whose value the fewest source files use (one without ``--target`` on a tie)."""
    counts: dict[str, set[str]] = {}
    for build in builds:
        counts.setdefault(str(value(build)), set()).add(build.source)
    return min(
        builds,
        key=lambda b: (len(counts[str(value(b))]), b.fact.target is not None, b.fact.location.path,
                       b.fact.location.line),
    )


def _stage(image: Image, name: str, builds: Sequence[Build]) -> Iterator[Finding]:
    if not _disjoint(_values(builds, lambda b: b.stage)):
        return
    odd = _minority(builds, lambda b: b.stage)
    others = sorted({b.stage for b in builds if b.stage != odd.stage})
    how = f"--target {odd.fact.target}" if odd.fact.target else "no target, so the last stage"
    yield build_sources_disagree.finding(
        f"{name} is built from stage {odd.stage!r} of {image.dockerfile} by {_said(odd)} "
        f"({how}), but from {_or(others)} by "
        f"{_and(_said(b) for b in builds if b.stage != odd.stage)}: one name, two images",
        odd.fact.location,
        image=image.key,
        hint=f"build the same stage everywhere (target {others[0]!r}), or give the other stage "
        "its own name",
        related=_related(builds, odd.fact.location),
    )


def _context(image: Image, name: str, builds: Sequence[Build]) -> Iterator[Finding]:
    def context(build: Build) -> str:
        return posixpath.normpath(build.fact.context or ".")

    if not _disjoint(_values(builds, context)):
        return
    odd = _minority(builds, context)
    yield build_sources_disagree.finding(
        f"{name} ({image.dockerfile}) is built with context {context(odd)!r} by {_said(odd)} but "
        f"{_or(sorted({context(b) for b in builds} - {context(odd)}))} by "
        f"{_and(_said(b) for b in builds if context(b) != context(odd))}: its COPY lines read "
        "other files",
        odd.fact.location,
        image=image.key,
        hint="build from the same context everywhere",
        related=_related(builds, odd.fact.location),
    )


def _base(
    image: Image, name: str, dockerfile: Dockerfile, builds: Sequence[Build], text: str
) -> Iterator[Finding]:
    values = _values(builds, lambda b: b.base)
    if not _disjoint(values):
        return
    defaulted = [b for b in builds if b.default_args and b.base is not None]
    setting = [b for b in builds if b.base is not None and b not in defaulted]
    if defaulted and setting and {b.base for b in defaulted} != {b.base for b in setting}:
        yield _default_taken(image, name, dockerfile, defaulted, setting, text)
        return
    odd = _minority([b for b in builds if b.base is not None], lambda b: b.base)
    rest = [b for b in builds if b.base is not None and b.base != odd.base]
    yield build_sources_disagree.finding(
        f"{name} is built on {odd.base} by {_said(odd)} but on "
        f"{_or(sorted({str(b.base) for b in rest}))} by {_and(_said(b) for b in rest)}: one "
        "name, two base images",
        _arg_place(odd),
        image=image.key,
        hint="pass the same base image in every source",
        related=_related(builds, _arg_place(odd)),
    )


def _arg_place(build: Build) -> Location:
    given = [line for _, line in build.fact.arg_lines]
    return Location(build.fact.location.path, given[0]) if given else build.fact.location


def _default_taken(
    image: Image,
    name: str,
    dockerfile: Dockerfile,
    defaulted: Sequence[Build],
    setting: Sequence[Build],
    text: str,
) -> Finding:
    args = list(dict.fromkeys(arg for b in defaulted for arg in b.default_args))
    declared = {arg: where for arg, _, where in dockerfile.global_args}
    places = _default_places(dockerfile, args, text)
    location = declared.get(args[0], Location(dockerfile.path, 0))
    defaults = sorted({str(b.base) for b in defaulted})
    passed = sorted({str(b.base) for b in setting})
    return build_sources_disagree.finding(
        f"{name} is built on {_or(passed)} by {_and(_said(b) for b in setting)} "
        f"(--build-arg {', '.join(sorted({a for b in setting for a, _ in b.fact.arg_lines}))}), "
        f"but on the Dockerfile's default {_or(defaults)} by "
        f"{_and(_said(b) for b in defaulted)}, which sets no {' or '.join(args)}: the images "
        "built under one name run on different bases",
        location,
        image=image.key,
        hint=f"pass --build-arg {args[0]} in every source that builds {name}, or make the "
        f"default at {location} what the sources pass",
        related=tuple(dict.fromkeys(
            p for p in (*places, *(b.fact.location for b in (*setting, *defaulted)),
                        *(_arg_place(b) for b in setting)) if p != location
        )),
    )


def _default_places(dockerfile: Dockerfile, args: Sequence[str], text: str
                    ) -> tuple[Location, ...]:
    """The ``ARG`` lines of ``args`` (the ARGs the FROM reads, and those their defaults are
    made of)."""
    declared = {arg: where for arg, _, where in dockerfile.global_args}
    return tuple(sorted((declared[a] for a in args if a in declared), key=lambda w: w.line))


def _dockerfiles(facts: Iterable[BuildFact], images: Mapping[str, Image]) -> Iterator[Finding]:
    """One static reference (name and tag) built from different Dockerfiles by different files."""
    by_ref: dict[str, list[BuildFact]] = {}
    for fact in facts:
        if fact.ref is not None:
            by_ref.setdefault(f"{fact.ref.path}:{fact.ref.tag}", []).append(fact)
    for ref, group in sorted(by_ref.items()):
        paths = {
            fact.location.path: set() for fact in group
        }  # type: dict[str, set[str]]
        for fact in group:
            paths[fact.location.path].add(posixpath.normpath(fact.dockerfile))
        dockerfiles = {posixpath.normpath(fact.dockerfile) for fact in group}
        ours = sorted(d for d in dockerfiles if d in images)
        if not ours or not _disjoint(paths):
            continue
        counts = {d: sum(1 for f in group if posixpath.normpath(f.dockerfile) == d)
                  for d in dockerfiles}
        # the odd build: one whose Dockerfile is no image's of the workspace, else the rarest
        odd = min(group, key=lambda f: (posixpath.normpath(f.dockerfile) in images,
                                        counts[posixpath.normpath(f.dockerfile)],
                                        f.location.path, f.location.line))
        others = sorted(dockerfiles - {posixpath.normpath(odd.dockerfile)})
        image = images.get(posixpath.normpath(odd.dockerfile)) or images[ours[0]]
        yield build_sources_disagree.finding(
            f"{ref} is built from {odd.dockerfile} by {odd.location} ({odd.source}) but from "
            f"{_or(others)} by "
            f"{_and(str(f.location) for f in group if f.dockerfile != odd.dockerfile)}: one "
            "name, two images",
            odd.location,
            image=image.key,
            hint="build each name from one Dockerfile, or give the other build its own name",
            related=tuple(dict.fromkeys(f.location for f in group if f.location != odd.location)),
        )


def _and(items: Iterable[str]) -> str:
    found = list(dict.fromkeys(items))
    return ", ".join(found[:-1]) + " and " + found[-1] if len(found) > 1 else "".join(found)


def _or(items: Sequence[str]) -> str:
    found = list(dict.fromkeys(items))
    return ", ".join(found[:-1]) + " or " + found[-1] if len(found) > 1 else "".join(found)
