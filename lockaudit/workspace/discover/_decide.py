"""Deciding what each Dockerfile builds and what it is built on, from the facts read.

Evidence order: build scripts / compose files, then naming, then a leaf default; whatever
cannot be decided becomes a problem (see the package docstring).
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockaudit.errors import InputError
from lockaudit.parsing.dockerfile import Dockerfile, parse_dockerfile
from lockaudit.workspace.discover._results import FoundFallback, FoundImage
from lockaudit.workspace.discover._scan import BuildFact, DockerInfo, Ref, parse_ref, root_stage
from lockaudit.workspace.model import Variant

_UBUNTU_GLIBC = {"20.04": "2.31", "22.04": "2.35", "24.04": "2.39"}
_CUDA_TAG = re.compile(r"^(\d+)\.(\d+)")
_UBUNTU_TAG = re.compile(r"ubuntu(\d\d\.\d\d)")
_DEBIAN_GLIBC = {"buster": "2.28", "bullseye": "2.31", "bookworm": "2.36", "trixie": "2.41"}
_PYTHON_TAG = re.compile(r"^(\d+\.\d+\.\d+)(?:-|$)")
_CONSTRAINT_CUDA = re.compile(r"cuda|cu\d+", re.IGNORECASE)


# -- deciding -----------------------------------------------------------------------------------


def _ends(name: str, stem: str) -> bool:
    return name == stem or name.endswith(("-" + stem, "_" + stem))


@dataclass
class Decider:
    root: Path
    infos: dict[str, DockerInfo]
    facts: list[BuildFact]
    problems: list[str]
    assigned: dict[str, Ref] = field(default_factory=dict)  # dockerfile -> its primary ref
    by_short: dict[tuple[str, str], str] = field(default_factory=dict)  # ref -> dockerfile

    def decide(self) -> None:
        # A tag built without --build-arg is the file's own; one with args is its variant.
        for fact in sorted(self.facts, key=lambda f: bool(f.build_args)):
            if fact.substitutions or fact.dockerfile not in self.infos or fact.ref is None:
                continue
            known = self.by_short.get(fact.ref.short)
            if known is not None and known != fact.dockerfile:
                self.problems.append(
                    f"{fact.location}: {fact.ref.repo}:{fact.ref.tag} is built from both "
                    f"{known} and {fact.dockerfile}; declare the one you mean"
                )
                continue
            self.by_short[fact.ref.short] = fact.dockerfile
            self.assigned.setdefault(fact.dockerfile, fact.ref)
        for info in self.infos.values():
            if info.from_ref is not None and info.from_ref.short not in self.by_short:
                self._by_name(info.from_ref, info)

    def _by_name(self, ref: Ref, user: DockerInfo) -> None:
        scored: list[tuple[int, int, str]] = []
        for info in self.infos.values():
            if info.path == user.path:
                continue
            if info.path in self.assigned:
                continue  # already builds another tag: a second one needs build args, by hand
            for stem in info.stems:
                score = _score(ref, stem)
                if score:
                    scored.append((score, len(stem), info.path))
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
        path = paths[0]
        self.by_short[ref.short] = path
        self.assigned.setdefault(path, ref)


def primary_facts(facts: Iterable[BuildFact]) -> dict[str, BuildFact]:
    """Per Dockerfile, the build that makes its own image: one without a rewrite, preferably
    without build args (a build with args is a variant), then one with a static tag."""
    best: dict[str, BuildFact] = {}
    for fact in facts:
        if fact.substitutions:
            continue
        known = best.get(fact.dockerfile)
        if known is None or _rank(fact) < _rank(known):
            best[fact.dockerfile] = fact
    return best


def _rank(fact: BuildFact) -> tuple[bool, bool]:
    return (bool(fact.build_args), fact.ref is None)


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
                    votes[ref.repo[: len(ref.repo) - len(name)]] += 1
    if votes:
        return votes.most_common(1)[0][0]
    names = [ref.repo for ref in decider.assigned.values()]
    if len(names) < 2:
        return ""
    common = os.path.commonprefix(names)  # noqa: RUF071 -- image names, not paths
    return common[: common.rfind("-") + 1] if "-" in common else ""


def default_registry(infos: Iterable[DockerInfo], refs: Iterable[Ref]) -> str:
    defaults = Counter(value for info in infos for name, value in info.arg_defaults
                       if name == "REGISTRY" and value)
    if defaults:
        return defaults.most_common(1)[0][0]
    namespaces = Counter(ref.namespace for ref in refs if ref.namespace)
    return namespaces.most_common(1)[0][0] if namespaces else ""


# -- images -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    prefix: str
    registry: str
    common: str | None


def _name_of(ref: Ref, prefix: str) -> str:
    return ref.repo.removeprefix(prefix) if prefix and ref.repo.startswith(prefix) else ref.repo


def _looks_internal(info: DockerInfo, ref: Ref, settings: Settings) -> bool:
    if "REGISTRY" in info.from_raw or "IMAGE_PREFIX" in info.from_raw:
        return True
    if settings.prefix and ref.repo.startswith(settings.prefix):
        return True
    return bool(settings.registry) and ref.namespace == settings.registry


def _is_cuda_ref(ref: Ref) -> bool:
    return "nvidia/cuda" in f"{ref.namespace}/{ref.repo}" or "cuda" in ref.tag.split("-")


def build_images(
    decider: Decider, settings: Settings, problems: list[str]
) -> list[FoundImage]:
    images: dict[str, FoundImage] = {}
    facts_by_file: dict[str, list[BuildFact]] = {}
    for fact in decider.facts:
        facts_by_file.setdefault(fact.dockerfile, []).append(fact)
    # Parents first: an image's variant and key depend on its parent's.
    for path in _parents_first(decider):
        info = decider.infos[path]
        if info.dockerfile is None:
            continue
        images[path] = _image(path, info, decider, settings, images, facts_by_file, problems)
    return [images[p] for p in _parents_first(decider) if p in images]


def _parents_first(decider: Decider) -> list[str]:
    """Dockerfiles by depth in the FROM graph (bases first), then by path."""
    depths: dict[str, int] = {}

    def depth(path: str, seen: frozenset[str]) -> int:
        if path not in depths:
            ref = decider.infos[path].from_ref
            parent = decider.by_short.get(ref.short) if ref is not None else None
            if parent is None or parent == path or parent in seen:
                depths[path] = 0
            else:
                depths[path] = depth(parent, seen | {path}) + 1
        return depths[path]

    return sorted(decider.infos, key=lambda path: (depth(path, frozenset()), path))


def _image(
    path: str,
    info: DockerInfo,
    decider: Decider,
    settings: Settings,
    done: Mapping[str, FoundImage],
    facts_by_file: Mapping[str, list[BuildFact]],
    problems: list[str],
) -> FoundImage:
    evidence: list[str] = []
    notes: list[str] = []
    parent, base_image, parent_variant = _parent(info, decider, settings, done, problems, notes)
    own = decider.assigned.get(path)
    primary = primary_facts(facts_by_file.get(path, [])).get(path)
    tagged = [f for f in facts_by_file.get(path, []) if f.ref == own and own is not None]
    if own is not None:
        name, tag = _name_of(own, settings.prefix), own.tag
        evidence.append(
            f"tagged {own.repo}:{own.tag} by {tagged[0].location}" if tagged
            else f"named by its directory: FROM {own.repo}:{own.tag} elsewhere"
        )
    elif primary is not None and primary.name is not None:
        name, tag = primary.name, parent_variant.value
        evidence.append(f"named after {primary.source} at {primary.location}")
    else:
        name = info.stems[0]
        tag = parent_variant.value
        evidence.append(f"named after {posixpath.dirname(path) or '.'}; tag from its variant")
    variant = _variant(tag, parent_variant)
    context = primary.context if primary is not None else "."
    if parent is not None:
        evidence.append(f"FROM {info.from_raw.split(None, 1)[-1]} at {info.from_location}")
    fallback = _fallback(info, facts_by_file.get(path, []), decider, settings, done, problems)
    return FoundImage(
        name=name,
        tag=tag,
        dockerfile=path,
        parent=parent,
        base_image=base_image,
        variant=variant,
        requirements=_requirements(decider.root, info, context, settings, notes),
        context=context,
        fallback=fallback,
        evidence=tuple(evidence),
        notes=tuple(notes),
        edge=info.from_source,
        build_args=_own_args(info, primary),
    )


def _own_args(info: DockerInfo, fact: BuildFact | None) -> tuple[tuple[str, str], ...]:
    """The build args of the image's own build that its Dockerfile declares."""
    if fact is None or info.dockerfile is None:
        return ()
    declared = {name for name, _, _ in info.dockerfile.global_args}
    declared |= {name for stage in info.dockerfile.stages for name, _, _ in stage.args}
    return tuple((k, v) for k, v in fact.build_args if k in declared)


def _variant(tag: str, inherited: Variant) -> Variant:
    words = set(re.split(r"[-_.]", tag.lower()))
    if words & {"cuda", "gpu"}:
        return Variant.CUDA
    if "cpu" in words:
        return Variant.CPU
    return inherited


def _parent(
    info: DockerInfo,
    decider: Decider,
    settings: Settings,
    done: Mapping[str, FoundImage],
    problems: list[str],
    notes: list[str],
) -> tuple[str | None, str | None, Variant]:
    """(parent key, base image, the variant the parent gives) for one Dockerfile."""
    ref = info.from_ref
    if ref is None:
        names = ", ".join(info.unresolved) or "?"
        problems.append(
            f"{info.from_location}: FROM {info.from_raw.split(None, 1)[-1]} uses ARG {names} "
            "with no default; give it a default or set base-image by hand"
        )
        notes.append(f"FROM needs ARG {names}, which has no default: base-image is a placeholder")
        return None, info.from_raw.split(None, 1)[-1], Variant.CPU
    parent_path = decider.by_short.get(ref.short)
    if parent_path is not None and parent_path in done:
        parent = done[parent_path]
        # One file may be tagged twice (-t x:1 -t x:latest): the image is its first tag.
        return parent.key, None, parent.variant
    if _looks_internal(info, ref, settings):
        problems.append(
            f"{info.from_location}: FROM {ref.text} looks like an image of this repository, "
            "but no Dockerfile here builds it; add it, or keep it as an external base-image"
        )
        notes.append(f"FROM {ref.text} matches no Dockerfile of the repository")
    return None, ref.text, Variant.CUDA if _is_cuda_ref(ref) else Variant.CPU


def _fallback(
    info: DockerInfo,
    facts: list[BuildFact],
    decider: Decider,
    settings: Settings,
    done: Mapping[str, FoundImage],
    problems: list[str],
) -> FoundFallback | None:
    rewritten = [f for f in facts if f.substitutions and f.ref is not None]
    if info.from_ref is None:
        return None
    if not rewritten:
        return _build_arg_fallback(info, facts, decider, done, problems)
    fact = rewritten[0]
    assert fact.ref is not None
    new_from = _apply(info.from_ref.text, fact.substitutions)
    if new_from == info.from_ref.text:
        return None
    ref = parse_ref(new_from)
    parent_path = decider.by_short.get(ref.short)
    if parent_path is None or parent_path not in done:
        problems.append(
            f"{fact.location}: the rewritten FROM {new_from} of {info.path} matches no image "
            "of the repository; declare the fallback by hand"
        )
        return None
    parent = done[parent_path]
    build_args = tuple(
        (name, _apply(value, fact.substitutions))
        for name, value in info.arg_defaults
        if _apply(value, fact.substitutions) != value
    )
    note = None
    if not build_args:
        note = (
            f"built by rewriting {info.path} with sed ({fact.location}); no ARG of the FROM "
            "carries the parent, so `check` reports the FROM until one does"
        )
    return FoundFallback(
        tag=fact.ref.tag,
        parent=parent.key,
        build_args=build_args,
        evidence=f"sed rewrite at {fact.location}",
        note=note,
    )


def _build_arg_fallback(
    info: DockerInfo,
    facts: list[BuildFact],
    decider: Decider,
    done: Mapping[str, FoundImage],
    problems: list[str],
) -> FoundFallback | None:
    """A second tag of the file built with ``--build-arg``s: a fallback when the args are
    the Dockerfile's own ARGs (``PARENT_IMAGE=…-base:cpu``)."""
    own = decider.assigned.get(info.path)
    others = [
        f for f in facts
        if f.build_args and own is not None and f.ref is not None and f.ref.short != own.short
    ]
    if not others:
        return None
    fact = others[0]
    assert fact.ref is not None
    try:
        parsed = parse_dockerfile(decider.root, info.path, dict(fact.build_args))
    except InputError:
        return None  # scan_dockerfile already reported the file
    line = root_stage(parsed).from_line
    ref = parse_ref(line.image)
    parent_path = decider.by_short.get(ref.short)
    if line.unresolved or parent_path is None or parent_path not in done:
        problems.append(
            f"{fact.location}: {fact.ref.repo}:{fact.ref.tag} is built from {info.path} FROM "
            f"{line.image or line.raw}, which matches no image of the repository; declare the "
            "fallback by hand"
        )
        return None
    declared = {name for name, _, _ in parsed.global_args}
    declared |= {name for stage in parsed.stages for name, _, _ in stage.args}
    return FoundFallback(
        tag=fact.ref.tag,
        parent=done[parent_path].key,
        build_args=tuple((k, v) for k, v in fact.build_args if k in declared),
        evidence=f"docker build --build-arg at {fact.location}",
    )


def _apply(text: str, substitutions: Iterable[tuple[str, str]]) -> str:
    for old, new in substitutions:
        try:
            text = re.sub(old, new.replace("\\/", "/"), text)
        except re.error:
            text = text.replace(old, new)
    return text


def _requirements(
    root: Path, info: DockerInfo, context: str, settings: Settings, notes: list[str]
) -> tuple[str, ...]:
    """Requirement files the Dockerfile copies in (COPY sources or bind mounts)."""
    assert info.dockerfile is not None
    found: list[str] = []
    for stage in info.dockerfile.stages:
        for copy in stage.copies:
            if copy.from_stage:
                continue
            for source in copy.sources:
                found.extend(_requirement_files(root, posixpath.join(context, source)))
        for instruction in stage.instructions:
            for flag in instruction.flags:
                found.extend(_bind_sources(root, flag, context))
    found = list(dict.fromkeys(found))
    here = posixpath.dirname(info.path)
    unused = [
        posixpath.join(here, p.name)
        for p in sorted((root / here).glob("*requirements*.txt"))
        if posixpath.join(here, p.name) not in found
    ]
    if unused and _installs_a_lock(info.dockerfile):
        notes.append("installed through a lock: its inputs are the requirement files here")
        return (*found, *unused)
    if unused:
        notes.append("not installed by the Dockerfile, left out: " + ", ".join(unused))
    return tuple(found)


def _installs_a_lock(dockerfile: Dockerfile) -> bool:
    """A COPY of a lock file (``locks/x.txt``, ``*.lock``, ``*lock*.txt``) feeds pip."""
    return any(
        "lock" in source.lower()
        for stage in dockerfile.stages
        for copy in stage.copies
        for source in copy.sources
    )


def _bind_sources(root: Path, flag: str, context: str) -> Iterator[str]:
    if not flag.startswith("--mount=") or "type=bind" not in flag:
        return
    for part in flag.removeprefix("--mount=").split(","):
        key, _, value = part.partition("=")
        if key in ("source", "src"):
            yield from _requirement_files(root, posixpath.join(context, value))


def _requirement_files(root: Path, source: str) -> Iterator[str]:
    source = posixpath.normpath(source)
    path = root / source
    if path.is_file() and _is_requirements_name(path.name):
        yield source
    elif path.is_dir():
        for child in sorted(path.rglob("*requirements*.txt")):
            yield child.relative_to(root).as_posix()


def _is_requirements_name(name: str) -> bool:
    return fnmatch.fnmatch(name, "*requirements*.txt") or fnmatch.fnmatch(name, "*.in")


# -- the whole discovery ------------------------------------------------------------------------


def pick_one(candidates: list[str], what: str, problems: list[str]) -> str | None:
    if len(candidates) > 1:
        problems.append(
            f"{len(candidates)} candidate {what} files: " + ", ".join(candidates)
            + f"; set `{what}` by hand"
        )
        return None
    return candidates[0] if candidates else None


def constraint_entries(paths: list[str]) -> list[tuple[Variant | None, str]]:
    out: list[tuple[Variant | None, str]] = []
    for path in paths:
        name = posixpath.basename(path)
        if "cpu" in name.lower():
            out.append((Variant.CPU, path))
        elif _CONSTRAINT_CUDA.search(name):
            out.append((Variant.CUDA, path))
        else:
            out.append((None, path))
    return out


def _base_facts(base_image: str) -> dict[str, str]:
    """Target facts an external base tag states: ``nvidia/cuda:12.1.1-…-ubuntu22.04`` gives
    cuda 12.1 and glibc 2.35; ``python:3.11.14-slim-bookworm`` gives python 3.11.14, glibc 2.36."""
    ref = parse_ref(base_image)
    facts: dict[str, str] = {}
    if "nvidia/cuda" in f"{ref.namespace}/{ref.repo}":
        cuda = _CUDA_TAG.match(ref.tag)
        if cuda:
            facts["cuda"] = f"{cuda.group(1)}.{cuda.group(2)}"
    if ref.repo == "python" and ref.namespace in ("", "library", "docker.io/library"):
        python = _PYTHON_TAG.match(ref.tag)
        if python:
            facts["python"] = python.group(1)
    ubuntu = _UBUNTU_TAG.search(ref.tag)
    if ubuntu and ubuntu.group(1) in _UBUNTU_GLIBC:
        facts["glibc"] = _UBUNTU_GLIBC[ubuntu.group(1)]
    for codename, glibc in _DEBIAN_GLIBC.items():
        if codename in ref.tag:
            facts["glibc"] = glibc
    return facts


def with_targets(images: list[FoundImage]) -> tuple[list[FoundImage], dict[str, str]]:
    """The global target (CUDA bases first, as the CUDA chain is the heavy one) and images
    carrying the facts of their own base where those differ from it."""
    facts: dict[str, dict[str, str]] = {}
    for image in images:  # parents first
        if image.base_image is not None:
            facts[image.key] = _base_facts(image.base_image)
        else:
            facts[image.key] = facts.get(image.parent or "", {})
    roots = sorted(
        (i for i in images if i.base_image is not None),
        key=lambda i: i.variant is not Variant.CUDA,
    )
    target: dict[str, str] = {}
    for root in roots:
        for key, value in facts[root.key].items():
            target.setdefault(key, value)
    out = []
    for image in images:
        own = tuple(
            (key, value)
            for key, value in sorted(facts[image.key].items())
            if key != "cuda" and target.get(key) != value
        )
        out.append(replace(image, target=own) if own else image)
    return out, dict(sorted(target.items()))


def index_entries(
    infos: Mapping[str, DockerInfo], images: list[FoundImage]
) -> list[tuple[str, str, Variant | None, tuple[str, ...]]]:
    """``--index-url`` of Dockerfile installs: the packages of that command go to that index."""
    variants = {image.dockerfile: image.variant for image in images}
    found: dict[str, tuple[set[Variant], list[str]]] = {}
    for path, info in infos.items():
        if info.dockerfile is None or path not in variants:
            continue
        for stage in info.dockerfile.stages:
            for install in stage.pip_installs:
                if not install.index_url:
                    continue
                seen, packages = found.setdefault(install.index_url, (set(), []))
                seen.add(variants[path])
                packages.extend(str(line.name) for line in install.requirements)
    out: list[tuple[str, str, Variant | None, tuple[str, ...]]] = []
    names: set[str] = set()
    for url, (seen, packages) in sorted(found.items()):
        name = _index_name(url, names)
        variant = next(iter(seen)) if len(seen) == 1 else None
        out.append((name, url, variant, tuple(dict.fromkeys(packages))))
    return out


def _index_name(url: str, taken: set[str]) -> str:
    host = re.sub(r"^[a-z+]+://", "", url).split("/", 1)[0].split(":")[0]
    labels = [label for label in host.split(".") if label not in ("www", "download", "files")]
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    base = "-".join(filter(None, [labels[0] if labels else "index", tail])) or "index"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def check_keys(images: list[FoundImage], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for image in images:
        keys = [image.key] + ([f"{image.name}:{image.fallback.tag}"] if image.fallback else [])
        for key in keys:
            if key in seen:
                problems.append(
                    f"{image.dockerfile}: image {key} is also built by {seen[key]}; "
                    "rename one of them in the proposed configuration"
                )
            seen[key] = image.dockerfile
