"""Which images each Dockerfile builds, and which image a FROM names.

A Dockerfile builds one image per distinct set of build arguments its sources pass it (a CI
matrix over ``cpu``/``cuda`` builds two); the tags of one such build name the same image. A
FROM is matched to a build by its full reference first, then by ``repo:tag`` alone when one
build has it (``FROM ${REGISTRY}/x:1`` with another registry), then by naming (see
:meth:`Decider._by_name`). Evidence order: build sources, then naming, then a leaf default.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockaudit.workspace.discover._facts import BuildFact, Ref, static_ref
from lockaudit.workspace.discover._scan import DockerInfo

BuildId = tuple[str, int]  # (Dockerfile, index among its builds; 0 is its own image)


@dataclass(frozen=True)
class Build:
    """One image a Dockerfile builds: the tags it gets, the fact behind it, and its FROM as
    resolved with that build's arguments."""

    path: str
    index: int
    refs: tuple[Ref, ...]
    fact: BuildFact | None
    info: DockerInfo
    named: bool = False  # the ref came from naming (a FROM elsewhere), not from a source

    @property
    def id(self) -> BuildId:
        return (self.path, self.index)

    @property
    def ref(self) -> Ref | None:
        return self.refs[0] if self.refs else None


def _ends(name: str, stem: str) -> bool:
    return name == stem or name.endswith(("-" + stem, "_" + stem))


def _rank(fact: BuildFact) -> tuple[bool, bool, bool]:
    """The file's own image first: built without args, with a static tag, not the CPU one (a CPU
    build of a file that also builds another is its fallback)."""
    words = set(re.split(r"[-_./:]", f"{fact.ref.path}:{fact.ref.tag}" if fact.ref else ""))
    return (bool(fact.build_args), fact.ref is None, "cpu" in words)


def group_builds(
    path: str, facts: list[BuildFact], info: DockerInfo,
    rescan: Callable[[BuildFact], DockerInfo], built: frozenset[tuple[str, str]] = frozenset(),
) -> list[Build]:
    """The builds of one Dockerfile. Facts naming the same reference are one image whatever
    source says so (compose and the release workflow); the tags of one command are one image;
    a fact without a static tag joins the image built with the same args, or, when it has a
    name of its own (a compose service), is an image of its own. ``built``: the ``repo:tag``
    of every image the sources build (see :func:`_matrix_cells`)."""
    ordered = sorted(facts, key=_rank)
    groups = _matrix_cells(_same_image([f for f in ordered if f.ref is not None]), info, built)
    # named ones first: an unnamed build then joins the image of its args, or the file's own
    for fact in sorted((f for f in ordered if f.ref is None), key=lambda f: f.name is None):
        group = _group_for(groups, fact)
        if group is None:
            groups.append([fact])
        else:
            group.append(fact)
    if not groups:
        return [Build(path, 0, (), None, info)]
    builds = []
    for index, group in enumerate(groups):
        refs = tuple(dict.fromkeys(f.ref for f in group if f.ref is not None))
        first = next((f for f in group if f.ref is not None), group[0])
        needs_own = (first.build_args or first.target or first.contexts or first.inserted
                     or first.partial_args)
        builds.append(Build(path, index, refs, first, rescan(first) if needs_own else info))
    return builds


def _matrix_cells(
    groups: list[list[BuildFact]], info: DockerInfo, built: frozenset[tuple[str, str]]
) -> list[list[BuildFact]]:
    """Groups joined when they are cells of one build line (a CI matrix over base images):
    the same source line, stage and image repository, with build args that differ only in
    what a FROM line pastes in as an external image. One recipe on several bases is one
    image; its other tags and bases stay listed on it. Kept apart: a matrix over stages
    (``FROM ${PLATFORM}`` with ``cpu``/``xpu`` stages), and one over parents the repository
    builds itself (``torch/cpu``, ``torch/cuda``): those are different images."""
    out: list[list[BuildFact]] = []
    for group in groups:
        home = next((g for g in out if _one_recipe(g[0], group[0], info, built)), None)
        if home is None:
            out.append(group)
        else:
            home.extend(group)
    return out


def _one_recipe(
    one: BuildFact, other: BuildFact, info: DockerInfo, built: frozenset[tuple[str, str]]
) -> bool:
    if (one.location, one.target, one.substitutions) != (
        other.location, other.target, other.substitutions
    ) or one.ref is None or other.ref is None or one.ref.path != other.ref.path:
        return False
    configured = one.configured and other.configured
    if not (one.matrix_cell and other.matrix_cell) and not configured:
        return False  # a script's option runs are configurations a user picks one of
    mine, theirs = dict(one.build_args), dict(other.build_args)
    changed = {k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)}
    if not changed or info.dockerfile is None:
        return False
    stages = {s.from_line.alias.lower() for s in info.dockerfile.stages if s.from_line.alias}
    froms = [s.from_line.raw for s in info.dockerfile.stages]
    for name in changed:
        values = {mine.get(name), theirs.get(name)}
        pasted = any(re.search(rf"\$\{{?{re.escape(name)}\b", raw) for raw in froms)
        # callers that each export their own versions to one build line build one recipe in
        # several configurations; a matrix cell differs only in the external base it pastes
        if (not pasted and not configured) or any(
            v is None or v.lower() in stages or _built(v, built) for v in values
        ):
            return False
    return True


def _built(value: str, built: frozenset[tuple[str, str]]) -> bool:
    ref = static_ref(value)
    return ref is not None and ((ref.path, ref.tag) in built or ref.short in {
        (path.rsplit("/", 1)[-1], tag) for path, tag in built})


def _group_for(groups: list[list[BuildFact]], fact: BuildFact) -> list[BuildFact] | None:
    """The image a fact without a static tag belongs to: the one of the same name, else the
    one built with the same args (the same content), else for an unnamed fact the file's own
    image of the same stage (its name is unknown, so it cannot tell another image)."""
    same_args = [g for g in groups if any(_same_args(o, fact) for o in g)]
    named = [g for g in groups if fact.name is not None and _named(g) == fact.name]
    same_stage = [g for g in groups if any(o.target == fact.target for o in g)]
    fallback = same_stage if fact.name is None else []  # another stage is another image
    return next(iter(named or same_args or fallback), None)


def _named(group: list[BuildFact]) -> str | None:
    """What the sources call the image of a group (a compose service, a tag's last part)."""
    return next((f.name for f in group if f.name is not None), None)


def _same_args(one: BuildFact, other: BuildFact) -> bool:
    """The same content: args, stage, and the FROM a source writes into the file."""
    return (one.build_args, one.target, one.inserted) == (
        other.build_args, other.target, other.inserted
    )


def _same_image(facts: list[BuildFact]) -> list[list[BuildFact]]:
    """Facts joined when they name the same reference or are tags of one command (union-find;
    groups keep the order of their first fact)."""
    parent = list(range(len(facts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, one in enumerate(facts):
        for j in range(i):
            other = facts[j]
            assert one.ref is not None and other.ref is not None
            same_ref = (one.ref.path, one.ref.tag) == (other.ref.path, other.ref.tag)
            if same_ref or (one.location == other.location and _same_args(one, other)):
                parent[find(i)] = find(j)
    groups: dict[int, list[BuildFact]] = {}
    for i, fact in enumerate(facts):
        groups.setdefault(find(i), []).append(fact)
    return list(groups.values())


@dataclass
class Decider:
    root: Path
    infos: dict[str, DockerInfo]
    facts: list[BuildFact]
    problems: list[str]
    rescan: Callable[[str, BuildFact], DockerInfo]
    builds: dict[str, list[Build]] = field(default_factory=dict)
    by_ref: dict[tuple[str, str], BuildId] = field(default_factory=dict)  # (path, tag)
    by_short: dict[tuple[str, str], set[BuildId]] = field(default_factory=dict)

    @property
    def assigned(self) -> dict[str, Ref]:
        """Dockerfile → the reference of its own image, where one is known."""
        return {p: b[0].ref for p, b in self.builds.items() if b and b[0].ref is not None}

    def shared(self, ref: Ref) -> bool:
        """True when builds of several Dockerfiles push to this repository (tags tell them
        apart: ``demo:1.0-ad``, ``demo:1.0-cart``), so that it names none of them."""
        files = {bid[0] for (path, _), bid in self.by_ref.items() if path == ref.path}
        return len(files) > 1

    def build(self, build_id: BuildId) -> Build:
        return self.builds[build_id[0]][build_id[1]]

    def all_builds(self) -> Iterable[Build]:
        for builds in self.builds.values():
            yield from builds

    def decide(self) -> None:
        per_file: dict[str, list[BuildFact]] = {}
        built = frozenset((f.ref.path, f.ref.tag) for f in self.facts if f.ref is not None)
        for fact in self.facts:
            if not fact.substitutions and fact.dockerfile in self.infos:
                per_file.setdefault(fact.dockerfile, []).append(fact)
        for path, info in self.infos.items():
            def rescan(fact: BuildFact, path: str = path) -> DockerInfo:
                return self.rescan(path, fact)

            self.builds[path] = group_builds(path, per_file.get(path, []), info, rescan, built)
            for build in self.builds[path]:
                for ref in build.refs:
                    self._register(ref, build)
        for build in list(self.all_builds()):
            wanted = build.info.from_ref
            if wanted is not None and self.lookup(wanted) is None:
                self._by_name(wanted, build.info)

    def _register(self, ref: Ref, build: Build) -> None:
        known = self.by_ref.get((ref.path, ref.tag))
        if known is not None and known[0] != build.path:
            location = build.fact.location if build.fact else build.path
            self.problems.append(
                f"{location}: {ref.repo}:{ref.tag} is built from both {known[0]} and "
                f"{build.path}; declare the one you mean"
            )
            return
        self.by_ref.setdefault((ref.path, ref.tag), build.id)
        self.by_short.setdefault(ref.short, set()).add(build.id)

    def lookup(self, ref: Ref) -> Build | None:
        """The build a FROM names: full reference, else a ``repo:tag`` only one build has."""
        found = self.by_ref.get((ref.path, ref.tag))
        if found is None:
            candidates = self.by_short.get(ref.short, set())
            found = next(iter(candidates)) if len(candidates) == 1 else None
        return self.build(found) if found is not None else None

    def by_pattern(self, pattern: str) -> Build | None:
        """The one build whose tag is known as far as ``pattern`` is, the same way: a FROM
        a CI run writes from ``$(REPO)base:$(TAG)`` is the image ``make`` tagged so."""
        found = [b for b in self.all_builds() if b.fact is not None and b.fact.pattern == pattern]
        return found[0] if len(found) == 1 else None

    def _by_name(self, ref: Ref, user: DockerInfo) -> None:
        scored: list[tuple[int, int, str]] = []
        for path, info in self.infos.items():
            builds = self.builds[path]
            if path == user.path or builds[0].refs:
                continue  # already builds another tag: a second one needs build args, by hand
            for stem in info.stems:
                score = _score(ref, stem)
                if score:
                    scored.append((score, len(stem), path))
        if not scored:
            return
        scored.sort(reverse=True)
        best = [s for s in scored if s[:2] == scored[0][:2]]
        paths = sorted({s[2] for s in best})
        if len(paths) > 1:
            self.problems.append(
                f"{user.from_location}: FROM {ref.text} could be built by "
                + " or ".join(paths)
                + "; add a build script line (docker build -t … -f …) or rename one"
            )
            return
        own = replace(self.builds[paths[0]][0], refs=(ref,), named=True)
        self.builds[paths[0]][0] = own
        self._register(ref, own)


def _score(ref: Ref, stem: str) -> int:
    """2: the stem is ``{name}-{tag}`` (``base-cuda``); 1: the stem is the name; 0: no match."""
    if _ends(f"{ref.repo}-{ref.tag}", stem):
        return 2
    return 1 if _ends(ref.repo, stem) else 0


def image_prefix(decider: Decider) -> str:
    """The part common to the image names: from stem matches first, else a common prefix."""
    votes: Counter[str] = Counter()
    for path, ref in decider.assigned.items():
        for stem in decider.infos[path].stems:
            for candidate in (ref.repo, f"{ref.repo}-{ref.tag}"):
                if _ends(candidate, stem):
                    name = stem if candidate == ref.repo else stem.removesuffix(f"-{ref.tag}")
                    # only a whole trailing word of the repository is a name: a stem that
                    # matched inside the tag (``neuron`` of ``tgi:latest-neuron``) cuts nothing
                    if name and _ends(ref.repo, name):
                        votes[ref.repo[: len(ref.repo) - len(name)]] += 1
    if votes:
        return votes.most_common(1)[0][0]
    names = sorted({ref.repo for ref in decider.assigned.values()})
    if len(names) < 2:  # one repository for every image: its name is no prefix of another
        return ""
    common = os.path.commonprefix(names)  # noqa: RUF071 -- image names, not paths
    return common[: common.rfind("-") + 1] if "-" in common else ""


def default_registry(
    infos: Iterable[DockerInfo], refs: Iterable[Ref], built: Iterable[Ref] = ()
) -> str:
    """``ARG REGISTRY``'s default; else the namespace the images built here share (their
    common leading path components); else the namespace FROM lines use most."""
    defaults = Counter(value for info in infos for name, value in info.arg_defaults
                       if name == "REGISTRY" and value)
    if defaults:
        return defaults.most_common(1)[0][0]
    spaces = [ref.namespace.split("/") for ref in built]
    if spaces and all(spaces):
        common: list[str] = []
        for parts in zip(*spaces, strict=False):
            if len(set(parts)) > 1:
                break
            common.append(parts[0])
        if common:
            return "/".join(common)
    namespaces = Counter(ref.namespace for ref in refs if ref.namespace)
    return namespaces.most_common(1)[0][0] if namespaces else ""
