"""The build planner: which images to build, in which order, with which arguments.

The planner is pure: it reads the workspace, the options and what the engine already has
(:class:`~lockaudit.builder.runner.ImageState` by reference) and returns a :class:`BuildPlan`.
It never runs a command; :mod:`lockaudit.builder.backends` carries the plan out.

What an image is built with (the embedded Dockerfiles' contract)::

    ARG REGISTRY=...                 <- the workspace's ``registry``
    ARG PARENT_IMAGE=...             <- ``{image_prefix}{parent name}:{parent tag}``
    FROM ${REGISTRY}/${PARENT_IMAGE}
    ARG LAYER_LOCK=locks/<slug>.layer.txt   <- the image's layer lock
    RUN pip install --no-deps --require-hashes -r ${LAYER_LOCK}

plus the image's own ``build_args``, which win over the computed ones: a CPU fallback is the
same Dockerfile with another parent tag and torch index, given as build arguments, never a
rewritten file.

Decisions:

* **Inputs digest.** Each image is labelled ``org.lockaudit.inputs-digest`` = sha256 over its
  Dockerfile bytes, its full lock bytes, its build arguments and its parent's inputs digest
  (for a root image: the base image reference and, when the engine has it, its image id, so a
  re-made local base image rebuilds its children). Files the Dockerfile COPYs besides the lock
  are not inputs: the lock is what decides what pip installs. An image whose local copy carries
  the same label is skipped; because a child's digest contains its parent's, a changed parent
  makes every descendant out of date without any extra bookkeeping.
* **Environment arguments** (``BuildOptions.extra_build_args``: how to reach an index, a proxy)
  are passed to every build but are not inputs: they do not change what gets installed (the
  lock pins every file by hash), so changing them rebuilds nothing.
* **Selection.** ``--stage`` matches an image name (every tag of it) or a full key; no stage
  means every image. ``--variant`` then keeps the images of that variant. Ancestors of the
  selection are pulled in whatever their variant, and are listed as skipped when up to date.
* An image whose build arguments would make its FROM name something other than its parent's
  reference is a :class:`~lockaudit.errors.WorkspaceError`: the build would silently use an
  image the plan did not build.
* **Platform.** Every step names the platform of its lock's target
  (:mod:`lockaudit.builder.platform`), so an arm64 host never builds from x86_64 locks. It is
  not an input of the digest: the lock, which is one, already depends on the target.
* **Builder and cache** (``--builder``, ``--cache-from``/``--cache-to``, else
  ``[tool.lockaudit.build]`` and the image's own ``cache-from``/``cache-to``) say where and
  with which layer cache an image is built, not what it contains: they are not inputs either.
  A command-line list replaces the configured lists of every image; ``{name}``, ``{tag}`` and
  ``{slug}`` in a spec become the image's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lockaudit.builder.platform import docker_platform
from lockaudit.builder.runner import ImageState
from lockaudit.errors import LockauditError, UsageError, WorkspaceError
from lockaudit.locks import lock_paths
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import BuildBackend as Backend
from lockaudit.workspace.model import Image, Variant, Workspace

__all__ = [
    "IMAGE_LABEL",
    "INPUTS_LABEL",
    "Backend",
    "BuildOptions",
    "BuildPlan",
    "BuildStep",
    "build_args_for",
    "builder_name",
    "expand_cache_spec",
    "image_ref",
    "inputs_digest",
    "plan_build",
    "select_images",
]

INPUTS_LABEL = "org.lockaudit.inputs-digest"
IMAGE_LABEL = "org.lockaudit.image"
_DIGEST_FORMAT = "1"  # bump when what goes into the digest changes: everything rebuilds once


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``lockaudit build`` was asked; the CLI fills it from its options.

    ``network`` is passed to every build (``host`` lets RUN steps reach an index on loopback).
    ``bake_file`` is relative to the workspace root.
    """

    stages: tuple[str, ...] = ()
    variant: Variant | None = None
    dry_run: bool = False
    push: bool = False
    backend: Backend = Backend.BUILD
    gate: bool = True
    smoke: bool = False
    network: str | None = None
    extra_build_args: tuple[tuple[str, str], ...] = ()
    bake_file: str = "docker-bake.json"
    builder: str | None = None  # None: [tool.lockaudit.build] builder, else the default one
    cache_from: tuple[str, ...] | None = None  # None: each image's configured specs
    cache_to: tuple[str, ...] | None = None
    record_sizes: bool = True  # append each built image's size to ``sizes_log``
    sizes_log: str = "reports/sizes.jsonl"


@dataclass(frozen=True)
class BuildStep:
    """One image of the plan, with everything a backend needs to build it.

    ``parent_ref`` is the reference its FROM resolves to (a workspace image or the external
    base image). ``parent_key`` is the workspace parent, None for a root image. ``target`` is
    the image's name in the bake file.
    """

    image_key: str
    ref: str
    dockerfile: str
    context: str
    build_args: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    parent_ref: str | None
    reason: str
    parent_key: str | None = None
    digest: str = ""
    target: str = ""
    platform: str = "linux/amd64"
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    stage: str | None = None  # the Dockerfile stage to build (--target); None: the last one
    # The Dockerfile as the build must read it when that is not the file on disk: the FROM
    # line the image's build writes above line 1 (``from-inserted``), then the file.
    dockerfile_text: str | None = None


@dataclass(frozen=True)
class BuildPlan:
    """``steps`` to build, parents first; ``skipped`` images are up to date already."""

    steps: tuple[BuildStep, ...]
    skipped: tuple[BuildStep, ...] = ()

    def step(self, key: str) -> BuildStep:
        for step in (*self.steps, *self.skipped):
            if step.image_key == key:
                return step
        raise KeyError(key)

    def dependents(self, key: str) -> tuple[str, ...]:
        """Keys of the steps built on ``key``, directly or not, in plan order."""
        found: set[str] = {key}
        for step in self.steps:  # parents come first, so one pass suffices
            if step.parent_key in found:
                found.add(step.image_key)
        return tuple(s.image_key for s in self.steps if s.image_key in found - {key})


def image_ref(workspace: Workspace, image: Image) -> str:
    """The reference the image is tagged with (:meth:`Workspace.reference`)."""
    return workspace.reference(image)


def build_args_for(workspace: Workspace, image: Image) -> tuple[tuple[str, str], ...]:
    """REGISTRY, PARENT_IMAGE and LAYER_LOCK, overridden by the image's own build args."""
    args: dict[str, str] = {}
    if workspace.registry:
        args["REGISTRY"] = workspace.registry
    if image.parent is not None:
        parent = workspace.image(image.parent)
        args["PARENT_IMAGE"] = f"{workspace.image_prefix}{parent.name}:{parent.tag}"
    args["LAYER_LOCK"] = lock_paths(workspace, image).layer
    args.update(image.build_args)
    return tuple(sorted(args.items()))


def inputs_digest(
    given: Inputs | Workspace, image: Image, args: tuple[tuple[str, str], ...], parent: str
) -> str:
    """The label value that says an image was built from exactly these inputs.

    ``parent`` is the parent's inputs digest, or for a root image a text naming its base image.
    """
    inputs = as_inputs(given)
    fields = {
        "format": _DIGEST_FORMAT,
        "dockerfile": _file_sha256(inputs, image.dockerfile),
        "lock": _file_sha256(inputs, lock_paths(inputs.workspace, image).full),
        "args": [list(pair) for pair in args],
        "parent": parent,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _file_sha256(inputs: Inputs, relative: str) -> str:
    data = inputs.file_bytes(relative)
    # a missing file: the build will fail on it; the digest must still be defined
    return hashlib.sha256(data).hexdigest() if data is not None else "missing"


def select_images(
    workspace: Workspace, stages: tuple[str, ...], variant: Variant | None
) -> tuple[Image, ...]:
    """The images asked for, in build order (see the module docstring)."""
    chosen: set[str] = set()
    for stage in stages:
        named = [i for i in workspace.images if stage in (i.name, i.key)]
        if not named:
            raise LockauditError(
                f"no image named {stage!r} in the workspace",
                hint="images: " + ", ".join(i.key for i in workspace.images),
            )
        kept = [i for i in named if variant is None or i.variant is variant]
        if not kept:
            raise LockauditError(
                f"image {stage!r} has no {variant} variant",
                hint="its tags: " + ", ".join(i.key for i in named),
            )
        chosen.update(i.key for i in kept)
    if not stages:
        chosen = {i.key for i in workspace.images if variant is None or i.variant is variant}
    return tuple(i for i in workspace.images if i.key in chosen)


def plan_build(
    given: Inputs | Workspace, options: BuildOptions, existing: Mapping[str, ImageState]
) -> BuildPlan:
    """Plan the selected images and every ancestor that is missing or out of date.

    ``existing`` maps an image reference (workspace images and external base images) to what
    the local engine has; a reference it lacks is absent.
    """
    inputs = as_inputs(given)
    workspace = inputs.workspace
    selected = select_images(workspace, options.stages, options.variant)
    wanted = {i.key for i in selected}
    needed = wanted | {a.key for i in selected for a in workspace.ancestors(i.key)}
    digests: dict[str, str] = {}
    steps: list[BuildStep] = []
    skipped: list[BuildStep] = []
    for image in workspace.images:  # build order: parents first
        if image.key not in needed:
            continue
        step = _step(inputs, image, digests, existing, wanted, selected)
        cache_from, cache_to = _cache(workspace, image, options)
        step = replace(step, cache_from=cache_from, cache_to=cache_to)
        digests[image.key] = step.digest
        state = existing.get(step.ref)
        if state is not None and state.digest == step.digest:
            skipped.append(step)
        else:
            steps.append(step)
    return BuildPlan(steps=tuple(steps), skipped=tuple(skipped))


def _step(
    inputs: Inputs,
    image: Image,
    digests: Mapping[str, str],
    existing: Mapping[str, ImageState],
    wanted: set[str],
    selected: tuple[Image, ...],
) -> BuildStep:
    workspace = inputs.workspace
    args = build_args_for(workspace, image)
    ref = image_ref(workspace, image)
    parent_ref: str | None
    if image.parent is not None:
        parent_ref = image_ref(workspace, workspace.image(image.parent))
        _check_from(workspace, image, dict(args), parent_ref)
        parent_digest = digests[image.parent]
    else:
        parent_ref = image.base_image
        base = existing.get(parent_ref) if parent_ref else None
        parent_digest = f"base {parent_ref} {base.id if base else ''}"
    digest = inputs_digest(inputs, image, args, parent_digest)
    reason = _reason(existing.get(ref), digest)
    if image.key not in wanted:
        users = [i.key for i in selected if image in workspace.ancestors(i.key)]
        reason += f"; ancestor of {', '.join(users)}"
    return BuildStep(
        image_key=image.key,
        ref=ref,
        dockerfile=image.dockerfile,
        context=image.context,
        build_args=args,
        labels=((IMAGE_LABEL, image.key), (INPUTS_LABEL, digest)),
        parent_ref=parent_ref,
        reason=reason,
        parent_key=image.parent,
        digest=digest,
        target=bake_target_name(image),
        platform=docker_platform(workspace, image),
        stage=image.stage,
        dockerfile_text=_with_from(inputs, image) if image.from_inserted else None,
    )


def _with_from(inputs: Inputs, image: Image) -> str:
    """The image's Dockerfile under the FROM line its build writes (``check`` reads it so)."""
    text = inputs.file_text(image.dockerfile)
    if text is None:
        raise WorkspaceError(
            f"image {image.key}: cannot read {image.dockerfile}",
            location=inputs.workspace.config_location,
        )
    return f"FROM {inputs.workspace.from_reference(image)}\n{text}"


def builder_name(workspace: Workspace, options: BuildOptions) -> str | None:
    """The buildx builder to run on: ``--builder``, else the configured one, else None."""
    return options.builder or workspace.build.builder


def _cache(
    workspace: Workspace, image: Image, options: BuildOptions
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The image's cache specs with its placeholders filled (module docstring)."""
    settings = workspace.build
    cache_from = options.cache_from
    if cache_from is None:
        cache_from = image.cache_from if image.cache_from is not None else settings.cache_from
    cache_to = options.cache_to
    if cache_to is None:
        cache_to = image.cache_to if image.cache_to is not None else settings.cache_to
    return (
        tuple(expand_cache_spec(s, image) for s in cache_from),
        tuple(expand_cache_spec(s, image) for s in cache_to),
    )


def expand_cache_spec(spec: str, image: Image) -> str:
    """``type=registry,ref=r.example/cache:{slug}`` -> ``...:asr-cuda`` for ``asr:cuda``."""
    from lockaudit.workspace.config import cache_spec_problem

    problem = cache_spec_problem(spec)
    if problem:
        raise UsageError(f"cache spec {problem}")
    return spec.format(name=image.name, tag=image.tag, slug=image.slug)


def _reason(state: ImageState | None, digest: str) -> str:
    if state is None:
        return "missing"
    if state.digest is None:
        return "present but not built by lockaudit (no inputs label)"
    if state.digest != digest:
        return "out of date (its inputs changed)"
    return "up to date"


def _check_from(
    workspace: Workspace, image: Image, args: Mapping[str, str], parent_ref: str
) -> None:
    """The FROM the build args produce must be the parent's reference (module docstring)."""
    if "PARENT_IMAGE" not in args:
        return
    registry = args.get("REGISTRY", "")
    resolved = f"{registry}/{args['PARENT_IMAGE']}" if registry else args["PARENT_IMAGE"]
    if resolved != parent_ref:
        raise WorkspaceError(
            f"image {image.key}: its build args make FROM {resolved}, but its parent "
            f"{image.parent} is tagged {parent_ref}",
            location=workspace.config_location,
            hint="fix build-args.PARENT_IMAGE (or drop it: lockaudit passes the parent's tag)",
        )


def bake_target_name(image: Image) -> str:
    """A bake target name (letters, digits, ``-`` and ``_`` only) for ``image``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", image.slug)
