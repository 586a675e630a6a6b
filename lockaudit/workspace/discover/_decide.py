"""The images of the decided builds (``_builds``): names, parents, fallbacks, requirement
files, targets. Whatever cannot be decided becomes a problem (see the package docstring).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lockaudit.parsing.dockerfile import Dockerfile
from lockaudit.workspace.discover._builds import Build, BuildId, Decider
from lockaudit.workspace.discover._facts import UNKNOWN, BuildFact, Ref, parse_ref
from lockaudit.workspace.discover._installed import installed_files
from lockaudit.workspace.discover._names import by_path, valid_name, valid_tag
from lockaudit.workspace.discover._results import FoundFallback, FoundImage
from lockaudit.workspace.discover._scan import DockerInfo
from lockaudit.workspace.model import Variant
from lockaudit.workspace.targets import TargetFacts, infer_target, requirement_texts

_UBUNTU_GLIBC = {"20.04": "2.31", "22.04": "2.35", "24.04": "2.39"}
_CUDA_TAG = re.compile(r"^(\d+)\.(\d+)")
_UBUNTU_TAG = re.compile(r"ubuntu(\d\d\.\d\d)")
_DEBIAN_GLIBC = {"buster": "2.28", "bullseye": "2.31", "bookworm": "2.36", "trixie": "2.41"}
_PYTHON_TAG = re.compile(r"^(\d+\.\d+\.\d+)(?:-|$)")
_CONSTRAINT_CUDA = re.compile(r"cuda|cu\d+", re.IGNORECASE)


# -- images -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    prefix: str
    registry: str
    common: str | None


def _name_of(ref: Ref, settings: Settings) -> str:
    """The image name: the path under the workspace registry (``torch/cuda`` of
    ``ghcr.io/acme/torch/cuda``), else the last component; the image prefix removed."""
    registry = settings.registry.rstrip("/")
    if registry and ref.path.startswith(registry + "/"):
        name = ref.path[len(registry) + 1 :]
    else:
        name = ref.repo
    prefix = settings.prefix
    head, _, last = name.rpartition("/")
    if prefix and last.startswith(prefix) and last != prefix:
        last = last.removeprefix(prefix)
    return f"{head}/{last}" if head else last


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
    """One image per build, parents first; a CPU build of a file whose own image is not the
    CPU one becomes that image's fallback."""
    images: dict[BuildId, FoundImage] = {}
    rewrites: dict[str, list[BuildFact]] = {}
    for fact in decider.facts:
        if fact.substitutions and fact.ref is not None:
            rewrites.setdefault(fact.dockerfile, []).append(fact)
    order = _parents_first(decider)
    names = _path_names(decider, settings)
    taken: dict[str, str] = {}  # image key -> the Dockerfile it is built from
    for build in order:
        if build.info.dockerfile is None:
            continue
        image = _image(build, decider, settings, images, problems, names)
        if taken.get(image.key, build.path) != build.path:  # a key the sources gave twice
            qualified = by_path([build.path, taken[image.key]])[build.path]
            image = replace(image, name=qualified, evidence=(
                *image.evidence, f"renamed from {image.key}, which {taken[image.key]} builds"))
        taken.setdefault(image.key, build.path)
        images[build.id] = image
    for path, facts in rewrites.items():
        own = images.get((path, 0))
        if own is not None and own.fallback is None:
            fallback = _sed_fallback(decider.builds[path][0], facts, decider, images, problems)
            images[(path, 0)] = replace(own, fallback=fallback)
    return _fold_fallbacks([(b.id, images[b.id]) for b in order if b.id in images])


def _fold_fallbacks(images: list[tuple[BuildId, FoundImage]]) -> list[FoundImage]:
    """A second build of a file, under the same name with a CPU tag and a parent of its own,
    is the fallback of the file's own image (built from the same file with build args)."""
    own = {bid[0]: image for bid, image in images if bid[1] == 0}
    folded: set[BuildId] = set()
    for bid, image in images:
        first = own.get(bid[0])
        if (
            bid[1] == 0 or first is None or first.fallback is not None
            or image.name != first.name or image.variant is not Variant.CPU
            or first.variant is Variant.CPU or image.parent is None
        ):
            continue
        own[bid[0]] = replace(first, fallback=FoundFallback(
            tag=image.tag,
            parent=image.parent,
            build_args=image.build_args,
            evidence=f"built with build args ({image.evidence[0]}); parent from {image.edge}",
        ))
        folded.add(bid)
    return [own[bid[0]] if bid[1] == 0 else image for bid, image in images if bid not in folded]


def _parents_first(decider: Decider) -> list[Build]:
    """Builds by depth in the FROM graph (bases first), then by path."""
    depths: dict[BuildId, int] = {}

    def depth(build: Build, seen: frozenset[BuildId]) -> int:
        if build.id not in depths:
            parent = _parent_build(build.info, decider)
            if parent is None or parent.id == build.id or parent.id in seen:
                depths[build.id] = 0
            else:
                depths[build.id] = depth(parent, seen | {build.id}) + 1
        return depths[build.id]

    return sorted(decider.all_builds(), key=lambda b: (depth(b, frozenset()), b.path, b.index))


def _own_name(build: Build, decider: Decider, settings: Settings) -> tuple[str, str | None, str]:
    """(name, tag or None when the variant decides it, why) from what the sources say."""
    own, fact, info = build.ref, build.fact, build.info
    in_tag = None
    if own is not None and decider.shared(own):
        folder = posixpath.basename(posixpath.dirname(build.path))
        # a file's own suffix names no image when its siblings push to the same repository
        stems = ((folder,) if folder else ()) if _side_by_side(own, build, decider) else info.stems
        in_tag = _name_in_tag(own, fact, stems)
    if own is not None and in_tag is not None:
        return in_tag, _tag_without(own.tag, in_tag), (
            f"tagged {own.text} by {fact.location if fact else build.path}; the repository "
            f"holds other images too, so named after {in_tag}"
        )
    if own is not None:
        return _name_of(own, settings), own.tag, (
            f"tagged {own.repo}:{own.tag} by {fact.location}" if fact and not build.named
            else f"named by its directory: FROM {own.repo}:{own.tag} elsewhere"
        )
    if fact is not None and fact.name is not None:
        return fact.name, None, f"named after {fact.source} at {fact.location}"
    if fact is not None and fact.target and len(decider.builds[build.path]) > 1:
        return fact.target, None, f"named after the stage {fact.source} at {fact.location} builds"
    return info.stems[0], None, (
        f"named after {posixpath.dirname(build.path) or '.'}; tag from its variant"
    )


def _path_names(
    decider: Decider, settings: Settings
) -> dict[BuildId, tuple[str, str | None]]:
    """(name, tag) for builds of different Dockerfiles that would share a name. A file in a
    sub-folder of the other's folder is its variant (``pytorch-notebook/cuda12/`` is
    ``pytorch-notebook:cuda12``); others are named by their paths. A name the sources give
    with its tag collides only with the same tag; one whose tag the variant decides collides
    with every other file of that name."""
    own = {b.id: _own_name(b, decider, settings) for b in decider.all_builds()}
    users: dict[str, list[tuple[str, str | None]]] = {}
    for bid, (name, tag, _) in own.items():
        users.setdefault(name, []).append((bid[0], tag))
    out: dict[BuildId, tuple[str, str | None]] = {}
    for name, uses in users.items():
        files = {path for path, _ in uses}
        clash = files if any(tag is None for _, tag in uses) and len(files) > 1 else set()
        for tag in {tag for _, tag in uses if tag is not None}:
            same = {path for path, t in uses if t == tag}
            clash |= same if len(same) > 1 else set()
        variants = _subfolder_variants(clash)
        renamed = by_path(clash - set(variants))
        for bid, mine in own.items():
            if mine[0] == name and bid[0] in variants:
                out[bid] = (name, variants[bid[0]])
            elif mine[0] == name and bid[0] in renamed:
                out[bid] = (renamed[bid[0]], mine[1])
    return out


def _subfolder_variants(files: set[str]) -> dict[str, str]:
    """Files one folder below another file of the set: their folder names their variant."""
    folders = {posixpath.dirname(f) for f in files}
    return {
        f: posixpath.basename(posixpath.dirname(f)) for f in files
        if posixpath.dirname(posixpath.dirname(f)) in folders and posixpath.dirname(f)
    }


def _image(
    build: Build,
    decider: Decider,
    settings: Settings,
    done: Mapping[BuildId, FoundImage],
    problems: list[str],
    names: Mapping[BuildId, tuple[str, str | None]],
) -> FoundImage:
    info, fact = build.info, build.fact
    evidence: list[str] = []
    notes: list[str] = []
    parent, base_image, parent_variant = _parent(info, decider, settings, done, problems, notes)
    name, tag, why = _own_name(build, decider, settings)
    if build.id in names:
        why = f"{why}; named by its path, as other Dockerfiles are {name} too"
        name, tag = names[build.id][0], names[build.id][1] or tag
    evidence.append(why)
    context = fact.context if fact is not None else "."
    parent_stage = _stage_build(info, decider) if parent is not None else None
    stages = (
        fact.target or "" if fact is not None else "",
        parent_stage[0].fact.target or "" if parent_stage and parent_stage[0].fact else "",
    )
    requirements = _requirements(decider.root, info, context, stages, notes)
    name = valid_name(name)
    variant, variant_why = _decided_variant(
        info, base_image, _texts(decider.root, requirements),
        f"{name}:{tag or ''}", parent_variant,
    )
    if variant_why:
        evidence.append(variant_why)
    tag = valid_tag(tag if tag is not None else variant.value)
    if parent is not None:
        evidence.append(f"FROM {info.from_raw.split(None, 1)[-1]} at {info.from_location}")
    return FoundImage(
        name=name,
        tag=tag,
        dockerfile=build.path,
        parent=parent,
        base_image=base_image,
        variant=variant,
        requirements=requirements,
        context=context,
        evidence=tuple(evidence),
        notes=tuple(notes),
        edge=stage[1] if (stage := _stage_build(info, decider)) and parent else info.from_source,
        build_args=_own_args(info, fact),
        stage=fact.target or "" if fact is not None else "",
    )


def _side_by_side(ref: Ref, build: Build, decider: Decider) -> bool:
    """True when another Dockerfile of the same folder pushes to ``ref``'s repository too
    (``Dockerfile``, ``Dockerfile_amd``, ``Dockerfile.neuron``): variants of one image, told
    apart by their tags (``latest-rocm``), not images named after a part of their tags."""
    folder = posixpath.dirname(build.path)
    return any(
        path == ref.path and other[0] != build.path and posixpath.dirname(other[0]) == folder
        for (path, _), other in decider.by_ref.items()
    )


def _name_in_tag(ref: Ref, fact: BuildFact | None, stems: Iterable[str]) -> str | None:
    """One repository for many images, the tag telling which (``demo:latest-ad``): the name
    the source or the folder gives (``ad``) when the tag carries it."""
    candidates = [fact.name] if fact is not None and fact.name else []
    for name in [*candidates, *stems]:
        if _tag_without(ref.tag, name) != ref.tag:
            return name
    return None


def _tag_without(tag: str, name: str) -> str:
    """``latest-ad`` of image ``ad`` is its ``latest``."""
    for affix in (f"-{name}", f"_{name}"):
        if tag.endswith(affix) and len(tag) > len(affix):
            return tag[: -len(affix)]
        if tag.startswith(name + affix[0]) and len(tag) > len(affix):
            return tag[len(affix) :]
    return tag


def _own_args(info: DockerInfo, fact: BuildFact | None) -> tuple[tuple[str, str], ...]:
    """The build args of the image's own build that its Dockerfile declares."""
    if fact is None or info.dockerfile is None:
        return ()
    declared = {name for name, _, _ in info.dockerfile.global_args}
    declared |= {name for stage in info.dockerfile.stages for name, _, _ in stage.args}
    return tuple((k, v) for k, v in fact.build_args if k in declared)


def _texts(root: Path, paths: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The pip requirement files among ``paths``, read (for the CUDA wheels they pin)."""

    def read(path: str) -> str | None:
        try:
            return (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    return requirement_texts(paths, read)


def _decided_variant(
    info: DockerInfo,
    base_image: str | None,
    requirement_files: tuple[tuple[str, str], ...],
    key: str,
    inherited: Variant,
) -> tuple[Variant, str]:
    """(variant, why) from what the image is before what it is called: a CUDA base, a CUDA
    toolkit its Dockerfile installs (``ENV CUDA_VERSION``), a ``cu128`` PyTorch index or CUDA
    wheels it installs; only then the words of the name and tag, then the parent's variant.
    ``why`` is "" when the name or the parent decided (the name's evidence says that)."""
    if info.dockerfile is not None:
        # the image's own evidence only: a parent's CUDA is its variant, inherited below
        own = infer_target(
            info.dockerfile,
            base_image=base_image,
            inherited=None if base_image is not None else TargetFacts(),
            requirement_files=requirement_files,
        )
        if own.cuda is not None and own.cuda.value:
            return Variant.CUDA, f"variant cuda: {own.cuda.reason}"
    return _variant(key, inherited), ""


def _variant(key: str, inherited: Variant) -> Variant:
    """``cuda``/``gpu`` or ``cpu`` as a word of the tag, else of the name, else the parent's;
    ``cuda12`` and ``cuda12.8`` (a variant folder, a tag) count as ``cuda``."""
    name, _, tag = key.rpartition(":")
    for text in (tag, name):
        words = set(re.split(r"[-_/]", text.lower()))
        if words & {"gpu"} or any(re.fullmatch(r"cuda[\d.]*", word) for word in words):
            return Variant.CUDA
        if "cpu" in words:
            return Variant.CPU
    return inherited


def _parent(
    info: DockerInfo,
    decider: Decider,
    settings: Settings,
    done: Mapping[BuildId, FoundImage],
    problems: list[str],
    notes: list[str],
) -> tuple[str | None, str | None, Variant]:
    """(parent key, base image, the variant the parent gives) for one build."""
    ref = info.from_ref
    parent_build = _parent_build(info, decider)
    if parent_build is not None and parent_build.id in done:
        parent = done[parent_build.id]
        # One build may be tagged twice (-t x:1 -t x:latest): the image is its first tag.
        return parent.key, None, parent.variant
    if ref is None and info.from_pattern:
        shown = info.from_pattern.replace(UNKNOWN, "…")
        problems.append(
            f"{info.from_source}: FROM {shown} is known only in part (the rest only a run "
            "knows), and no build of this repository is tagged so; set base-image by hand"
        )
        notes.append(f"FROM {shown} is written by the build source; base-image is a placeholder")
        return None, shown, Variant.CPU
    if ref is None:
        names = ", ".join(info.unresolved) or "?"
        written = info.from_raw.split()[0] if info.from_raw.split() else "?"
        problems.append(
            f"{info.from_location}: FROM {written} uses ARG {names} "
            "with no default (or a placeholder such as 'notset'); give it a default or set "
            "base-image by hand"
        )
        notes.append(f"FROM needs ARG {names}, which has no real default: base-image is a "
                     "placeholder")
        # the image as written, its variables unexpanded: nvidia/cuda:${CUDA_VER}-base is
        # still a CUDA base, whatever version a run passes
        return None, written, Variant.CUDA if _is_cuda_ref(parse_ref(written)) else Variant.CPU
    if _looks_internal(info, ref, settings):
        problems.append(
            f"{info.from_location}: FROM {ref.text} looks like an image of this repository, "
            "but no Dockerfile here builds it; add it, or keep it as an external base-image"
        )
        notes.append(f"FROM {ref.text} matches no Dockerfile of the repository")
    return None, ref.text, Variant.CUDA if _is_cuda_ref(ref) else Variant.CPU


def _parent_build(info: DockerInfo, decider: Decider) -> Build | None:
    """The build this one's FROM names: an earlier stage's build, the build of its reference,
    or the one tagged as the FROM's known part says (see ``Decider.by_pattern``)."""
    stage = _stage_build(info, decider)
    if stage is not None:
        return stage[0]
    if info.from_ref is not None:
        return decider.lookup(info.from_ref)
    return decider.by_pattern(info.from_pattern) if info.from_pattern else None


def _stage_build(info: DockerInfo, decider: Decider) -> tuple[Build, str] | None:
    """The build of an earlier stage of the same file that this build's stage is FROM
    (``--target notebooks`` on ``FROM base AS notebooks``, ``base`` built with ``--target``),
    with the FROM line that says so."""
    for alias, location in info.from_stages:
        for build in decider.builds.get(info.path, []):
            if build.fact is not None and (build.fact.target or "").lower() == alias:
                return build, f"{location} FROM {alias}"
    return None


def _sed_fallback(
    build: Build,
    rewritten: list[BuildFact],
    decider: Decider,
    done: Mapping[BuildId, FoundImage],
    problems: list[str],
) -> FoundFallback | None:
    """A ``sed 's/base-ml:cuda/base:cpu/' F | docker build -t …:cpu -f -`` line: the file's
    CPU fallback, on the parent the rewritten FROM names."""
    info = build.info
    if info.from_ref is None:
        return None
    fact = rewritten[0]
    assert fact.ref is not None
    new_from = _apply(info.from_ref.text, fact.substitutions)
    if new_from == info.from_ref.text:
        return None
    parent_build = decider.lookup(parse_ref(new_from))
    if parent_build is None or parent_build.id not in done:
        problems.append(
            f"{fact.location}: the rewritten FROM {new_from} of {info.path} matches no image "
            "of the repository; declare the fallback by hand"
        )
        return None
    parent = done[parent_build.id]
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


def _apply(text: str, substitutions: Iterable[tuple[str, str]]) -> str:
    for old, new in substitutions:
        try:
            text = re.sub(old, new.replace("\\/", "/"), text)
        except re.error:
            text = text.replace(old, new)
    return text


def _requirements(
    root: Path, info: DockerInfo, context: str, stages: tuple[str, str], notes: list[str]
) -> tuple[str, ...]:
    """The context files the built stage's installs read (``_installed``); ``stages``: the
    one built and the one its parent image is built from ("" when none)."""
    assert info.dockerfile is not None
    found = installed_files(root, info.dockerfile, context, *stages)
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


def with_targets(
    root: Path, images: list[FoundImage], infos: Mapping[str, DockerInfo]
) -> tuple[list[FoundImage], dict[str, str]]:
    """The global target (CUDA bases first, as the CUDA chain is the heavy one) and images
    carrying their own facts where those differ from it; the inference is
    ``workspace/targets.py``'s, its reasons written as comments, non-Python images marked."""
    facts = _inferred(root, images, infos)
    roots = sorted(
        (i for i in images if i.base_image is not None),
        key=lambda i: (i.variant is not Variant.CUDA, not facts[_ident(i)].python_image),
    )
    target = _global_target(roots, facts)
    out = []
    for image in images:
        found = facts[_ident(image)]
        own = tuple(
            (key, value)
            for key, value in sorted(_values(found).items())
            if (key != "cuda" or image.variant is Variant.CUDA)
            and target.get(key) != value and not _refines(found, key, target)
        )
        notes = list(image.notes)
        own_file = f"{image.dockerfile}:"  # a child's notes: what its own Dockerfile changes
        notes += [
            f"{key} {value}: {reason}"
            for key, value, reason in _reasons(found)
            if image.base_image is not None or reason.startswith(own_file)
            or any(reason.startswith(f"{path}:") for path in image.requirements)
        ]
        requirements = image.requirements
        if not found.python_image:
            notes.append(f"not a Python image: {found.is_python.reason}")
            if requirements:  # installed in a builder stage: nothing of them is in the image
                notes.append("installed only by builder stages: " + ", ".join(requirements))
                requirements = ()
        image = replace(
            image, target=own, notes=tuple(notes), python=found.python_image,
            requirements=requirements,
        )
        out.append(image)
    return out, dict(sorted(target.items()))


def _inferred(
    root: Path, images: list[FoundImage], infos: Mapping[str, DockerInfo]
) -> dict[tuple[str, str, str], TargetFacts]:
    """Each image's facts, keyed by :func:`_ident` (a key may be proposed twice: check_keys
    reports that, the facts must not mix)."""
    facts: dict[tuple[str, str, str], TargetFacts] = {}
    by_key: dict[str, TargetFacts] = {}
    for image in images:  # parents first
        info = infos.get(image.dockerfile)
        dockerfile = info.dockerfile if info is not None else None
        inherited = by_key.get(image.parent) if image.parent is not None else None
        found = infer_target(
            dockerfile, base_image=image.base_image, inherited=inherited,
            requirement_files=_texts(root, image.requirements),
        )
        facts[_ident(image)] = found
        by_key.setdefault(image.key, found)
    return facts


def _ident(image: FoundImage) -> tuple[str, str, str]:
    return (image.key, image.dockerfile, image.stage)


def _values(facts: TargetFacts) -> dict[str, str]:
    """The config's target keys that the facts decide (a glibc of "" is musl: left alone)."""
    found = {"python": facts.python, "glibc": facts.glibc, "cuda": facts.cuda}
    return {key: fact.value for key, fact in found.items() if fact is not None and fact.value}


def _reasons(facts: TargetFacts) -> list[tuple[str, str, str]]:
    found = {
        "python": facts.python, "cuda": facts.cuda, "cudnn": facts.cudnn,
        "distro": facts.distro, "glibc": facts.glibc,
    }
    return [(key, fact.value or "none", fact.reason) for key, fact in found.items() if fact]


def _pinned(facts: TargetFacts) -> bool:
    return facts.python is not None and "assumed" not in facts.python.reason


def _global_target(
    roots: list[FoundImage], facts: Mapping[tuple[str, str, str], TargetFacts]
) -> dict[str, str]:
    """Each key from the first root that states it; Python from a root that pins its patch
    when one does (an assumed X.Y.0 of another root is refined by it, see :func:`_refines`)."""
    target: dict[str, str] = {}
    for root in roots:
        for key, value in _values(facts[_ident(root)]).items():
            target.setdefault(key, value)
    pinned = [facts[_ident(r)].python for r in roots if _pinned(facts[_ident(r)])]
    if pinned and pinned[0] is not None:
        target["python"] = pinned[0].value
    return target


def _refines(facts: TargetFacts, key: str, target: Mapping[str, str]) -> bool:
    """An assumed ``X.Y.0`` needs no override when the global Python is another ``X.Y.Z``."""
    if key != "python" or "python" not in target or facts.python is None or _pinned(facts):
        return False
    return facts.python.value.rsplit(".", 1)[0] == target["python"].rsplit(".", 1)[0]


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
