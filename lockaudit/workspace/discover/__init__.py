"""``lockaudit init``: propose a ``[tool.lockaudit]`` for a repository that has never had one.

Discovery reads, never runs: every Dockerfile (``Dockerfile``, ``*.Dockerfile``,
``Dockerfile.*``), the ``docker build`` lines of build scripts (``*.sh``, ``*.bat``/``*.cmd``,
Makefiles) and compose files. It then decides, for each Dockerfile, which image it builds and
which image its final FROM names. Evidence is weighed in this order:

1. a build script or compose file that tags the Dockerfile (``docker build -t X -f F``);
2. naming: directory ``docker/base-ml/`` builds ``…-base-ml:<tag>``; ``docker/base-cuda/``
   builds ``…-base:cuda`` (a directory named ``{name}-{tag}`` beats one named ``{name}``);
3. for an image nobody names (a leaf stage), its directory gives the name and its variant the tag.

The image prefix is the part common to the workspace's image names (``cp-whisperx-app-``); the
registry is the default of ``ARG REGISTRY`` (or the namespace the FROM lines share).

A ``sed 's/base-ml:cuda/base:cpu/' F | docker build -t …-asr:cpu -f - .`` line reveals a CPU
fallback: image ``asr`` gets ``fallback = {tag = "cpu", parent = "base:cpu"}``. When a global
ARG holds the replaced text, the fallback gets that ARG as a build arg; otherwise the TOML says
so in a comment (lockaudit builds fallbacks from the same file, never a rewritten one, and
``check`` will report the FROM until the Dockerfile takes the parent as an ARG).

Whatever cannot be decided — a FROM that looks internal but matches no Dockerfile, two
Dockerfiles that fit one image, an ARG without a default, two ``versions.txt`` — is reported in
``Discovery.problems``; never a silent guess. The generated TOML still loads: an undecidable
parent is written as ``base-image`` with a comment saying why.

:func:`write_config` appends (or, with ``force``, replaces) the ``[tool.lockaudit]`` section of
``pyproject.toml`` atomically, checking with ``tomllib`` that nothing else of the file changed.

Layout: ``_scan`` reads the repository (tree, FROM lines, build scripts, compose files),
``_decide`` turns what was read into images and settings, ``_toml`` renders and writes the
configuration, ``_results`` holds the public result types.
"""

from __future__ import annotations

from pathlib import Path

from lockaudit.errors import InputError, Location, LockauditError
from lockaudit.workspace.discover._bake import scan_bake
from lockaudit.workspace.discover._builds import Decider, default_registry, image_prefix
from lockaudit.workspace.discover._ci import scan_github, scan_gitlab
from lockaudit.workspace.discover._compose import scan_compose
from lockaudit.workspace.discover._coverage import exclude_entries, render_excludes
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
from lockaudit.workspace.discover._scan import DockerInfo, scan_dockerfile, scan_script, walk
from lockaudit.workspace.discover._toml import render, write_config

__all__ = [
    "Discovery",
    "FoundFallback",
    "FoundImage",
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
    facts = [fact for script in tree.scripts for fact in scan_script(root, script)]
    facts += [fact for compose in tree.compose for fact in scan_compose(root, compose)]
    facts += [fact for workflow in tree.workflows for fact in scan_github(root, workflow)]
    facts += [fact for ci in tree.gitlab for fact in scan_gitlab(root, ci)]
    facts += [fact for bake in tree.bake for fact in scan_bake(root, bake)]
    infos = {path: scan_dockerfile(root, path, problems) for path in tree.dockerfiles}

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
    images, target = with_targets(build_images(decider, settings, problems), infos)
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
    text += render_excludes(exclude_entries(root, [i.dockerfile for i in images], unread))
    return Discovery(text, tuple(images), tuple(dict.fromkeys(problems)))
