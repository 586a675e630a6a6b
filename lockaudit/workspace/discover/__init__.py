"""``lockaudit init``: propose a ``[tool.lockaudit]`` for a repository that has never had one.

Discovery reads, never runs. Every Dockerfile (``Dockerfile``, ``*.Dockerfile``,
``Dockerfile.*``), and every place the repository says how its images are built, each read by
its own module into one kind of fact (``_facts.BuildFact``: Dockerfile, tag, context, build args,
target, named contexts, and the ``path:line`` it came from):

- ``_scan``: build scripts (``*.sh``, ``*.bat``/``*.cmd``) and Makefiles (``include``s, ``cd``,
  ``for`` loops, ``sed`` rewrites), as sh would expand them;
- ``_compose``: compose files (``build``, ``image``, ``args``, ``target``, ``extends``, ``.env``);
- ``_ci``: GitHub Actions (``run:``, ``docker/build-push-action``, matrices, reusable workflows)
  and GitLab CI (``script:``, ``parallel: matrix``, ``extends``);
- ``_bake``: ``docker-bake.hcl``/``.json`` (targets, variables, ``target:`` contexts).

A value only a run knows (``$(date)``, ``${{ github.sha }}``, an unset variable) is unknown:
never pasted into a name. ``_builds`` groups the facts into builds (one image per reference a
Dockerfile is pushed as; a CI matrix over cpu/cuda builds two) and matches each FROM, resolved
with that build's args, to the build that makes it: full reference, then ``repo:tag``, then
naming (directory ``docker/base-ml/`` builds ``…-base-ml:<tag>``; ``{name}-{tag}`` beats
``{name}``). Each edge records where its parent came from (``build.yml:46 --build-arg
BASE_IMAGE``); init prints it and writes it into the TOML as a comment.

``_decide`` makes the images: names from the repository's own tags, compose services, bake
targets or folders (``_names``: valid, unique by path, ``smarthome/api``), requirement files
followed from ``pip -r`` back through COPY (``_installed``), targets, CPU fallbacks (a CPU build
of the same name with other build args, or a ``sed 's/base-ml:cuda/base:cpu/' F | docker
build -f -`` line). The image prefix is the part common to the names; the registry the default
of ``ARG REGISTRY``, else the namespace the built images share.

A Dockerfile that no source builds, under a folder of examples, tests or docs, is no image of
the family: ``_coverage`` writes it as an exclusion with that reason (only when the sources
build something, so that there is evidence).

Whatever cannot be decided — a FROM that looks internal but matches no Dockerfile, two
Dockerfiles that fit one image, an ARG without a default, two ``versions.txt`` — is reported in
``Discovery.problems``; never a silent guess. The generated TOML still loads.

:func:`write_config` appends (or, with ``force``, replaces) the ``[tool.lockaudit]`` section of
``pyproject.toml`` atomically, checking with ``tomllib`` that nothing else of the file changed;
``_toml`` renders, ``_results`` holds the public result types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from lockaudit.errors import InputError, Location, LockauditError
from lockaudit.workspace.discover._bake import scan_bake
from lockaudit.workspace.discover._builds import Decider, default_registry, image_prefix
from lockaudit.workspace.discover._ci import scan_github, scan_gitlab
from lockaudit.workspace.discover._compose import scan_compose
from lockaudit.workspace.discover._coverage import (
    exclude_entries,
    render_excludes,
    side_dockerfiles,
    unnamed_dockerfiles,
)
from lockaudit.workspace.discover._decide import (
    Settings,
    build_images,
    check_keys,
    constraint_entries,
    index_entries,
    pick_one,
    with_targets,
)
from lockaudit.workspace.discover._facts import BuildFact
from lockaudit.workspace.discover._results import Discovery, FoundFallback, FoundImage
from lockaudit.workspace.discover._scan import (
    DockerInfo,
    _Tree,
    scan_dockerfile,
    scan_script,
    walk,
)
from lockaudit.workspace.discover._toml import render, write_config

__all__ = [
    "BuildFact",
    "Discovery",
    "FoundFallback",
    "FoundImage",
    "build_facts",
    "discover_workspace",
    "write_config",
]


def discover_workspace(root: Path) -> Discovery:
    """Propose a workspace configuration for the repository at ``root`` (reads only)."""
    if not root.is_dir():
        raise InputError(Location(str(root)), "not a directory")
    tree = walk(root)
    problems: list[str] = []
    if not tree.dockerfiles:
        raise LockauditError(
            f"no Dockerfile under {root}", hint="run `lockaudit init` at the repository root"
        )
    facts = _facts(root, tree)
    side = side_dockerfiles(tree.dockerfiles, (fact.dockerfile for fact in facts))
    infos = {
        path: scan_dockerfile(root, path, problems, _inserting(facts, path))
        for path in tree.dockerfiles if path not in side
    }

    def rescan(path: str, fact: BuildFact) -> DockerInfo:
        return scan_dockerfile(root, path, [], fact)

    decider = Decider(root, infos, facts, problems, rescan)
    decider.decide()
    refs = [info.from_ref for info in infos.values() if info.from_ref is not None]
    built = [ref for build in decider.all_builds() if not build.named for ref in build.refs]
    settings = Settings(
        prefix=image_prefix(decider),
        registry=default_registry(
            infos.values(), [*refs, *(f.ref for f in facts if f.ref is not None)], built
        ),
        common=pick_one(tree.common, "common", problems),
    )
    unnamed = unnamed_dockerfiles(
        infos, (fact.dockerfile for fact in facts), _source_texts(root, tree)
    )
    images, target = with_targets(
        root, _named_only(build_images(decider, settings, problems), unnamed), infos
    )
    inserted = {fact.dockerfile for fact in facts if fact.inserted}
    images = [replace(i, from_inserted=i.dockerfile in inserted) for i in images]
    check_keys(images, problems)
    versions = pick_one(tree.versions, "versions", problems)
    text = render(
        settings, images, versions, constraint_entries(tree.constraints), target,
        index_entries(infos, images),
    )
    unread = {
        path: problem for problem in problems for path in tree.dockerfiles
        if problem.startswith(f"{path}:")
    }
    unread.update((path, why) for path, why in unnamed.items() if path not in unread)
    text += render_excludes(
        exclude_entries(root, [i.dockerfile for i in images], unread, side)
    )
    return Discovery(text, tuple(images), tuple(dict.fromkeys(problems)))


def build_facts(root: Path) -> tuple[BuildFact, ...]:
    """Every build the repository's own sources describe (scripts, Makefiles, compose, CI,
    bake), one :class:`BuildFact` each: what a rule compares across sources."""
    return tuple(_facts(root, walk(root))) if root.is_dir() else ()


def _inserting(facts: list[BuildFact], path: str) -> BuildFact | None:
    """A build of ``path`` whose source writes its FROM line first (a Dockerfile without one
    reads only so), stripped of what is that build's own (args, stage, contexts)."""
    fact = next((f for f in facts if f.dockerfile == path and f.inserted), None)
    if fact is None:
        return None
    return replace(fact, build_args=(), target=None, contexts=())


def _named_only(images: list[FoundImage], unnamed: Mapping[str, str]) -> list[FoundImage]:
    """The images without those of Dockerfiles no build source names, unless another image is
    built on one (then the FROM names it); left out, they are written as undecided."""
    kept = images
    while True:
        parents = {image.parent for image in kept}
        still = [i for i in kept if i.dockerfile not in unnamed or i.key in parents]
        if len(still) == len(kept):
            return kept
        kept = still


def _source_texts(root: Path, tree: _Tree) -> list[str]:
    """The text of every build source (scripts, Makefiles, compose, CI, bake files)."""
    texts = []
    for path in (*tree.scripts, *tree.compose, *tree.workflows, *tree.gitlab, *tree.bake):
        try:
            texts.append((root / path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return texts


def _facts(root: Path, tree: _Tree) -> list[BuildFact]:
    """Every source's facts; a build line that callers run configured (each exporting its
    own versions) is known by those runs: its reading without them is not one more image."""
    facts = list(_source_facts(root, tree))
    configured = {fact.location for fact in facts if fact.configured}
    return [f for f in facts if f.configured or f.location not in configured]


def _source_facts(root: Path, tree: _Tree) -> Iterator[BuildFact]:
    for script in tree.scripts:
        yield from scan_script(root, script)
    for compose in tree.compose:
        yield from scan_compose(root, compose)
    for workflow in tree.workflows:
        yield from scan_github(root, workflow)
    for ci in tree.gitlab:
        yield from scan_gitlab(root, ci)
    for bake in tree.bake:
        yield from scan_bake(root, bake)
