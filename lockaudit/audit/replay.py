"""Replay: what each image would hold after its ``pip install`` steps, simulated, never built.

Images are replayed in build order. An image starts from its parent's simulated environment
and runs every ``pip install`` of its Dockerfile (the final stage, the stages it is built
``FROM`` and those whose environment it copies in with ``COPY --from``), in order, the way pip
would run it there:

- the step's requirements (command line and ``-r`` files traced through ``COPY``) are resolved
  with the environment as *preferences*: pip's default upgrade strategy keeps an installed
  release that satisfies and replaces one that does not. The installed release is offered as a
  candidate even when the step's index does not list it (pip sees installed distributions), and
  the index is not needed for a name the environment already satisfies;
- packages the step does not reach are invisible to it, as to pip: a step can leave an earlier
  package's requirement unsatisfied (``pip check`` would say so; see ``rules``);
- ``--index-url``/``--extra-index-url``/``--find-links``/``--no-index`` of the line and of its
  ``-r`` files choose the indexes, on top of the user's pip configuration (the image's own pip
  configuration is unknown; workspace index routing is a lockaudit notion pip does not have);
- ``--no-deps`` installs exactly the named releases; ``-U`` drops the preference for the names
  the line gives; ``-c`` files constrain; ``--only-binary`` (``:all:`` or names) leaves out
  releases without a wheel for the target, so pip fails where it would otherwise build.

What is replayed is what the shell runs (:class:`~lockaudit.parsing.dockerfile.Run`): every
``pip``/``uv pip`` ``install`` and ``uninstall`` of a RUN in order, words as ``sh`` splits them
(an unquoted ``pkg>=2`` installs ``pkg`` at any version), only the ``if`` branch the shell
takes (conditions on ARG/ENV values are evaluated; an unknown one takes the first branch).
``pip uninstall`` removes the names
from the environment. ``a || b``: ``b`` is replayed only when ``a`` fails. A step that fails
leaves the environment as it was; whether the build fails too is the step's ``masked``
(``|| true``, ``| tee``, ``;`` without ``set -e``). conda, mamba and apt installs are not
replayed (their packages are not pip's to resolve): the shell rules report them.

Decisions:

- A step whose ``-r`` file is a lock that does not exist yet (under the workspace's locks
  directory) is replayed as the lock *would* be made: the image's declared requirements with
  ``compile``'s constraints, over the workspace's index routing, and the layer says so.
- An index that cannot be reached does not end the replay: the step is kept as *unverified*
  (with the URL) and every later environment built on it is marked incomplete. Only what the
  step pins exactly (``name==1.2``) is taken as present for later steps (``assumed``): the
  build would install that release or fail, so a later step must not be replayed as if it
  were absent (it would "install" its own copy from another index). Nothing else is guessed.
- A resolution that fails while an index of an installed name could not be read is
  unreachable, not a conflict: pip could have replaced that release with one we did not see.
- Direct URLs and local paths (``.``, ``./pkg``) cannot be resolved from an index: they are
  listed as skipped, not guessed.
- ``ENV PIP_INDEX_URL`` inside a Dockerfile is not read (a known gap, see the report).
- Sizes are the download size of the file pip would pick (the best-ranked usable file).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.compile import image_roots
from lockaudit.errors import IndexFetchError, Location, OfflineMissError
from lockaudit.index.client import IndexClient, IndexSource, Routing
from lockaudit.index.types import Candidate, CoreMetadata, MetadataSource, NeedsBuild
from lockaudit.index.urls import split_credentials
from lockaudit.parsing.dockerfile import Dockerfile, PackageCommand, PipInstall, Stage
from lockaudit.parsing.requirements import RequirementLine, RequirementsFile
from lockaudit.parsing.shell import Masking
from lockaudit.resolve import (
    Conflict,
    Origin,
    Pin,
    RequirementKind,
    Resolution,
    ResolutionFailed,
    RootRequirement,
    resolve,
)
from lockaudit.rules.context import CheckContext
from lockaudit.rules.installs import image_installs
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Target, Workspace, normalize

__all__ = [
    "ImageReplay",
    "Installed",
    "LayerReplay",
    "Replacement",
    "ReplayReporter",
    "Step",
    "Unreachable",
    "replay_workspace",
    "stages_in_image",
]


@dataclass(frozen=True)
class Installed:
    """One release present in a simulated environment.

    ``layer`` is the image whose step installed it and ``location`` that step (the ``RUN``);
    ``requested_at`` is the root requirement line that led to it, when one can be named.
    ``metadata`` is None when its dependencies cannot be known without a build.
    """

    name: NormalizedName
    version: Version
    candidate: Candidate
    metadata: CoreMetadata | None
    layer: str
    location: Location
    requested_at: Location | None
    size: int
    required_by: tuple[str, ...] = ()  # packages and root lines that asked for it

    @property
    def where(self) -> Location:
        """The most precise place to point at: the requirement line, else the ``RUN``."""
        return self.requested_at or self.location

    @property
    def size_known(self) -> bool:
        """False for a release taken as present without reading its index (``assumed``):
        its ``size`` of 0 means unknown, not empty."""
        return bool(self.candidate.files) or self.size > 0


@dataclass(frozen=True)
class Replacement:
    """A release the step replaced: ``before`` stays in the lower layer, so its bytes repeat."""

    before: Installed
    after: Installed


@dataclass(frozen=True)
class Unreachable:
    """Why a step could not be replayed: an index (or the offline cache) did not answer."""

    url: str
    message: str


@dataclass(frozen=True)
class Step:
    """One ``pip install`` to replay.

    ``sources`` None means the workspace's own routing (a lock replayed as it would be made).
    ``roots`` hold requirements and constraints with their origins; ``skipped`` the arguments
    that cannot be resolved from an index; ``note`` why the step is not replayed literally.
    """

    image: str
    location: Location
    roots: tuple[RootRequirement, ...]
    sources: tuple[IndexSource, ...] | None
    no_deps: bool = False
    upgrade: bool = False
    skipped: tuple[str, ...] = ()
    note: str | None = None
    problem: str | None = None  # a file the step reads cannot be found: nothing to replay
    action: str = "install"  # or "uninstall": ``removes`` leave the environment
    removes: tuple[NormalizedName, ...] = ()
    run: Location | None = None  # the RUN instruction it belongs to
    masked: Masking | None = None  # why a failure of it would not fail the build
    fallback_of: Location | None = None  # runs only when the step at this location fails
    only_binary: frozenset[str] = frozenset()  # normalized names, or ":all:"


@dataclass(frozen=True)
class LayerReplay:
    """What one step did to the environment."""

    step: Step
    installed: tuple[Installed, ...] = ()
    replaced: tuple[Replacement, ...] = ()
    kept: tuple[NormalizedName, ...] = ()  # asked for, already satisfied
    conflicts: tuple[Conflict, ...] = ()  # pip would stop the build here
    needs_build: tuple[NeedsBuild, ...] = ()
    unreachable: Unreachable | None = None
    removed: tuple[Installed, ...] = ()  # what a ``pip uninstall`` took out
    # releases an unreachable step pins exactly: present for later steps, never verified
    assumed: tuple[Installed, ...] = ()

    @property
    def failed(self) -> bool:
        """pip would exit with an error here (the build fails unless ``step.masked``)."""
        return bool(self.conflicts)

    @property
    def verified(self) -> bool:
        return self.unreachable is None and self.step.problem is None

    @property
    def added_bytes(self) -> int:
        return sum(item.size for item in self.installed) + sum(r.after.size for r in self.replaced)


@dataclass(frozen=True)
class ImageReplay:
    """An image after its steps; ``complete`` is False when some step (here or in an ancestor)
    could not be verified, so the environment may lack packages."""

    image: str
    parent: str | None
    layers: tuple[LayerReplay, ...]
    environment: tuple[Installed, ...]  # sorted by name
    complete: bool

    def package(self, name: str) -> Installed | None:
        return next((p for p in self.environment if p.name == name), None)

    @property
    def own(self) -> tuple[Installed, ...]:
        """Packages whose release this image's own layers installed."""
        return tuple(p for p in self.environment if p.layer == self.image)


class ReplayReporter:
    """Progress hooks, no-op by default (the CLI shows a progress bar with them)."""

    def image_started(self, image: str, index: int, total: int) -> None:
        """About to replay ``image`` (``index`` counts from 0)."""

    def step_finished(self, image: str, layer: LayerReplay) -> None:
        """One step replayed (or found unverifiable)."""


# --------------------------------------------------------------------------- steps


def image_steps(ctx: CheckContext, image: Image, load: _Loader) -> tuple[Step, ...]:
    """Every ``pip install`` of ``image`` that ends up in it, as replayable steps."""
    dockerfile = ctx.dockerfiles[image.key]
    steps: list[Step] = []
    for stage in stages_in_image(dockerfile):
        for run in stage.runs:
            for package in run.packages:
                if package.tool not in ("pip", "uv") or package.never_runs or not package.reached:
                    continue  # not pip's, or `pip install x<2`: sh cannot open the file `2`
                if package.pip is not None:
                    step = _step(ctx, image, dockerfile, stage, package.pip, load)
                else:
                    step = _uninstall_step(image, package)
                fallback = (
                    run.packages[package.fallback_of] if package.fallback_of is not None else None
                )
                steps.append(
                    replace(
                        step,
                        run=run.location,
                        masked=package.masked,
                        fallback_of=fallback.location if fallback is not None else None,
                    )
                )
    return tuple(steps)


def _uninstall_step(image: Image, package: PackageCommand) -> Step:
    names = [normalize(name) for name in package.packages if _NAME.fullmatch(name)]
    return Step(
        image=image.key,
        location=package.location,
        roots=(),
        sources=(),
        action="uninstall",
        removes=tuple(dict.fromkeys(names)),
    )


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _only_binary(install: PipInstall) -> frozenset[str]:
    """``--only-binary`` of the line: ``:all:``, or names (comma-separated, repeatable)."""
    names: set[str] = set()
    for option in install.options:
        name, _, value = option.partition("=")
        if name != "--only-binary":
            continue
        for item in value.split(","):
            if item == ":none:":
                names.clear()
            elif item:
                names.add(item if item == ":all:" else normalize(item))
    return frozenset(names)


def stages_in_image(dockerfile: Dockerfile) -> list[Stage]:
    """The final stage, the stages it is built ``FROM``, and the stages whose environment one
    of them copies in (``COPY --from=builder /opt/venv /opt/venv``: the builder's packages and
    bytes are in the image), each before the stage that copies it. A builder copied from for
    other files (``/app/dist/*.whl``, a binary) does not put its site-packages in the image."""
    by_alias = {s.from_line.alias: s for s in dockerfile.stages if s.from_line.alias}
    chain: list[Stage] = []

    def add(stage: Stage) -> None:
        if any(stage is known for known in chain):
            return
        parent = by_alias.get(stage.from_line.image)
        if parent is not None and parent is not stage:
            add(parent)
        for copy in stage.copies:
            source = by_alias.get(copy.from_stage or "")
            if source is not None and source is not stage and _copies_environment(copy.sources):
                add(source)
        if not any(stage is known for known in chain):
            chain.append(stage)

    add(dockerfile.final)
    return chain


# Paths that hold an installed Python environment (a venv, a prefix, site-packages, conda).
_ENVIRONMENT = re.compile(
    r"(venv|virtualenv|site-packages|dist-packages|conda|mamba|^/usr/local/?$|^/usr/local/lib|"
    r"^/root/\.local|^/install/?$|^/opt/[^/]+/?$)"
)


def _copies_environment(sources: Sequence[str]) -> bool:
    return any(_ENVIRONMENT.search(source) for source in sources)


_Loader = dict[str, RequirementsFile]  # the replay's memo of parsed files


def _step(
    ctx: CheckContext,
    image: Image,
    dockerfile: Dockerfile,
    stage: Stage,
    install: PipInstall,
    load: _Loader,
) -> Step:
    single = replace(dockerfile, stages=(replace(stage, pip_installs=(install,)),))
    traced = image_installs(ctx.workspace, image, single, _loader(ctx, load))
    missing_locks = [path for _, path in traced.missing if ctx.is_lock(path)]
    if missing_locks:
        return _declared_step(ctx, image, install, missing_locks[0], load)
    problem = _trace_problem(traced.untraced, traced.missing)
    files = [_load(ctx, load, path) for path in traced.files if ctx.inputs.exists(path)]
    constraints = [
        _load(ctx, load, path) for path in traced.constraint_files if ctx.inputs.exists(path)
    ]
    roots = [_root(item.line, image.key, RequirementKind.REQUIREMENT) for item in traced.items]
    constraint = RequirementKind.CONSTRAINT
    for parsed in [*files, *constraints]:
        roots += [_root(line, image.key, constraint) for line in parsed.constraints]
    for parsed in constraints:
        roots += [_root(line, image.key, constraint) for line in parsed.requirements]
    usable = [r for r in roots if not r.requirement.url]
    skipped = [str(r.requirement) for r in roots if r.requirement.url]
    skipped += list(install.local_args) + [word for word, _ in install.unparsed]
    return Step(
        image=image.key,
        location=install.location,
        roots=tuple(usable),
        sources=_step_sources(install, files, ctx.workspace),
        no_deps=install.no_deps,
        upgrade=install.upgrade,
        skipped=tuple(skipped),
        problem=problem,
        only_binary=_only_binary(install),
    )


def _declared_step(
    ctx: CheckContext, image: Image, install: PipInstall, lock: str, load: _Loader
) -> Step:
    roots = image_roots(ctx.inputs, image, None, load=_loader(ctx, load))
    return Step(
        image=image.key,
        location=install.location,
        roots=roots,
        sources=None,
        note=f"{lock} does not exist yet: replayed the image's declared requirements instead",
    )


def _trace_problem(
    untraced: Sequence[tuple[Location, str]], missing: Sequence[tuple[Location, str]]
) -> str | None:
    if untraced:
        return f"cannot tell which workspace file {untraced[0][1]} is (no COPY names it)"
    if missing:
        return f"installs {missing[0][1]}, which does not exist"
    return None


def _root(line: RequirementLine, image: str, kind: RequirementKind) -> RootRequirement:
    return RootRequirement(line.requirement, Origin(line.location, image, kind))


def _loader(ctx: CheckContext, load: _Loader) -> Callable[[str], RequirementsFile]:
    return lambda path: _load(ctx, load, path)


def _load(ctx: CheckContext, load: _Loader, path: str) -> RequirementsFile:
    """Each file parsed once: the check context's parse, else the replay's memo."""
    found = ctx.requirement_files.get(path) or load.get(path)
    if found is None:
        found = load[path] = ctx.inputs.requirements(path)
    return found


def _step_sources(
    install: PipInstall, files: Iterable[RequirementsFile], workspace: Workspace
) -> tuple[IndexSource, ...]:
    """The indexes pip would use for this line: its options, then its files' option lines."""
    index_url, no_index = install.index_url, install.no_index
    extras, links = list(install.extra_index_urls), list(install.find_links)
    for parsed in files:
        options = parsed.options
        index_url = index_url or options.index_url
        no_index = no_index or options.no_index
        extras += options.extra_index_urls
        links += options.find_links
    simple = [] if no_index or index_url is None else [index_url]
    found = [IndexSource(_bare(url)) for url in [*simple, *extras]]
    found += [IndexSource(split_credentials(url)[0], "find-links") for url in links]
    marker = IndexSource(_DEFAULT) if index_url is None and not no_index else None
    return tuple(dict.fromkeys(([marker] if marker else []) + found))


# Stands for "the user's configured default index" until the client's routing is known.
_DEFAULT = "<default>"


def _bare(url: str) -> str:
    return split_credentials(url)[0].rstrip("/")


# --------------------------------------------------------------------------- the replay


@dataclass
class _Sources:
    """One view per distinct set of sources, sharing the base client's session (pages parsed
    once, whichever step asked first)."""

    base: IndexClient
    made: dict[tuple[IndexSource, ...], IndexClient] = field(default_factory=dict)

    def for_step(self, step: Step) -> MetadataSource:
        if step.sources is None:
            return self.base
        expanded: list[IndexSource] = []
        for source in step.sources:
            expanded += self.base.routing.default if source.url == _DEFAULT else [source]
        key = tuple(dict.fromkeys(expanded))
        client = self.made.get(key)
        if client is None:
            client = self.base.with_routing(Routing(default=key))
            self.made[key] = client
        return client


def replay_workspace(
    inputs: Inputs | Workspace,
    client: IndexClient,
    *,
    ctx: CheckContext | None = None,
    reporter: ReplayReporter | None = None,
) -> tuple[ImageReplay, ...]:
    """Replay every image in build order (see the module docstring)."""
    ctx = ctx or CheckContext.load(as_inputs(inputs))
    reporter = reporter or ReplayReporter()
    sources = _Sources(client)
    memo: dict[str, RequirementsFile] = {}
    done: dict[str, ImageReplay] = {}
    # the context's images: one whose Dockerfile (or an ancestor's) cannot be parsed is left
    # out there (``check`` reports it), and there is nothing to replay for it
    images = ctx.workspace.images
    for index, image in enumerate(images):
        reporter.image_started(image.key, index, len(images))
        parent = done.get(image.parent) if image.parent else None
        steps = image_steps(ctx, image, memo)
        done[image.key] = _replay_image(image, steps, parent, sources, reporter)
    return tuple(done[image.key] for image in images)


def _replay_image(
    image: Image,
    steps: Sequence[Step],
    parent: ImageReplay | None,
    sources: _Sources,
    reporter: ReplayReporter,
) -> ImageReplay:
    env = {p.name: p for p in parent.environment} if parent else {}
    layers: list[LayerReplay] = []
    failed: set[Location] = set()
    for step in steps:
        if step.fallback_of is not None and step.fallback_of not in failed:
            continue  # `a || b`: a succeeded, so the shell never runs b
        layer = _replay_step(step, env, sources, image.target)
        layers.append(layer)
        reporter.step_finished(image.key, layer)
        if layer.failed:
            failed.add(step.location)
        for item in (*layer.installed, *layer.assumed):
            env[item.name] = item
        for replaced in layer.replaced:
            env[replaced.after.name] = replaced.after
        for removed in layer.removed:
            env.pop(removed.name, None)
    complete = (parent is None or parent.complete) and all(layer.verified for layer in layers)
    return ImageReplay(
        image=image.key,
        parent=image.parent,
        layers=tuple(layers),
        environment=tuple(env[name] for name in sorted(env)),
        complete=complete,
    )


def _replay_step(
    step: Step, env: Mapping[NormalizedName, Installed], sources: _Sources, target: Target
) -> LayerReplay:
    if step.problem is not None:
        return LayerReplay(step)
    if step.action == "uninstall":
        return LayerReplay(step, removed=tuple(env[n] for n in step.removes if n in env))
    source = _WithInstalled(sources.for_step(step), env, step.only_binary)
    try:
        if step.no_deps:
            return _install_exactly(step, env, source, target)
        return _install_resolved(step, env, source, target)
    except (IndexFetchError, OfflineMissError) as e:
        return _unreachable(step, env, e)


def _unreachable(
    step: Step, env: Mapping[NormalizedName, Installed], error: IndexFetchError | OfflineMissError
) -> LayerReplay:
    assumed = tuple(
        Installed(
            name=root.name,
            version=version,
            candidate=Candidate(root.name, version, (), ""),
            metadata=None,  # unknown: nothing was read
            layer=step.image,
            location=step.location,
            requested_at=root.origin.location,
            size=0,
            required_by=(str(root.origin.location),),
        )
        for root in step.roots
        if root.origin.kind is RequirementKind.REQUIREMENT
        and (version := _exact(root.requirement.specifier)) is not None
        and not (root.name in env and env[root.name].version == version)
    )
    return LayerReplay(step, unreachable=Unreachable(error.url, error.message), assumed=assumed)


def _exact(spec: SpecifierSet) -> Version | None:
    """The one release ``spec`` names (``==1.2``, ``===1.2``), None for a range or wildcard."""
    specifiers = list(spec)
    if len(specifiers) != 1:
        return None
    (only,) = specifiers
    if only.operator not in ("==", "===") or only.version.endswith(".*"):
        return None
    try:
        return Version(only.version)
    except ValueError:  # an arbitrary-equality string that is not a version
        return None


# --------------------------------------------------------------------------- resolving steps


def _install_resolved(
    step: Step, env: Mapping[NormalizedName, Installed], source: _WithInstalled, target: Target
) -> LayerReplay:
    roots = step.roots
    wanted = {r.name for r in roots if r.origin.kind is RequirementKind.REQUIREMENT}
    if not wanted:
        return LayerReplay(step)
    try:
        resolution = resolve(
            source,
            target,
            roots,
            preferences={name: item.version for name, item in env.items()},
            upgrade=frozenset(wanted) if step.upgrade else False,
        )
    except ResolutionFailed as failed:
        if source.unreached is not None:
            raise source.unreached from failed
        return LayerReplay(step, conflicts=failed.conflicts, needs_build=source.built())
    origins = {str(r.origin.location): r.origin.location for r in roots}
    layer = _diff(step, env, resolution, origins)
    unknown = {(item.name, item.version) for item in source.built()}
    return replace(
        layer,
        installed=tuple(_forget(item, unknown) for item in layer.installed),
        replaced=tuple(Replacement(r.before, _forget(r.after, unknown)) for r in layer.replaced),
        needs_build=source.built(),
    )


def _forget(item: Installed, unknown: set[tuple[NormalizedName, Version]]) -> Installed:
    """Dependencies that needed a build are unknown, not empty: say so with ``None``."""
    return replace(item, metadata=None) if (item.name, item.version) in unknown else item


def _diff(
    step: Step,
    env: Mapping[NormalizedName, Installed],
    resolution: Resolution,
    origins: Mapping[str, Location],
) -> LayerReplay:
    installed: list[Installed] = []
    replaced: list[Replacement] = []
    kept: list[NormalizedName] = []
    by_name = {pin.name: pin for pin in resolution.pins}
    for pin in resolution.pins:
        before = env.get(pin.name)
        if before is not None and before.version == pin.version:
            kept.append(pin.name)
            continue
        after = Installed(
            name=pin.name,
            version=pin.version,
            candidate=pin.candidate,
            metadata=pin.metadata,
            layer=step.image,
            location=step.location,
            requested_at=_cause(pin.name, by_name, origins),
            size=_size(pin.candidate),
            required_by=pin.required_by,
        )
        if before is None:
            installed.append(after)
        else:
            replaced.append(Replacement(before, after))
    return LayerReplay(step, tuple(installed), tuple(replaced), tuple(kept))


def _cause(
    name: NormalizedName, pins: Mapping[NormalizedName, Pin], origins: Mapping[str, Location]
) -> Location | None:
    """The first root line (breadth first through ``required_by``) that led to ``name``."""
    queue, seen = [name], {name}
    while queue:
        pin = pins.get(queue.pop(0))
        if pin is None:
            continue
        for item in pin.required_by:
            if item in origins:
                return origins[item]
        for item in pin.required_by:
            parent = NormalizedName(item)
            if parent in pins and parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return None


def _install_exactly(
    step: Step, env: Mapping[NormalizedName, Installed], source: _WithInstalled, target: Target
) -> LayerReplay:
    """``--no-deps``: each named requirement as it is, no dependencies (a lock's layer)."""
    environment = target.marker_environment()
    limits: dict[NormalizedName, SpecifierSet] = {}
    wanted: list[RootRequirement] = []
    for root in step.roots:
        marker = root.requirement.marker
        if marker is not None and not marker.evaluate({**environment, "extra": ""}):
            continue
        if root.origin.kind is RequirementKind.REQUIREMENT:
            wanted.append(root)
        else:
            limits[root.name] = limits.get(root.name, SpecifierSet()) & root.requirement.specifier
    source.prefetch([root.name for root in wanted if root.name not in env], target)
    chosen: list[tuple[RootRequirement, Candidate]] = []
    kept: list[NormalizedName] = []
    conflicts: list[Conflict] = []
    for root in wanted:
        spec = root.requirement.specifier & limits.get(root.name, SpecifierSet())
        before = env.get(root.name)
        if before is not None and spec.contains(before.version, prereleases=True):
            kept.append(root.name)
            continue
        pick = _pick(source.candidates(root.name, target), spec)
        if pick is None:
            conflicts.append(_no_release(root, spec))
        else:
            chosen.append((root, pick))
    source.prefetch([candidate for _, candidate in chosen], target)
    installed: list[Installed] = []
    replaced: list[Replacement] = []
    needs: list[NeedsBuild] = []
    for root, candidate in chosen:
        found = source.metadata(candidate, target)
        if isinstance(found, NeedsBuild):
            needs.append(found)
        after = Installed(
            name=candidate.name,
            version=candidate.version,
            candidate=candidate,
            metadata=found if isinstance(found, CoreMetadata) else None,
            layer=step.image,
            location=step.location,
            requested_at=root.origin.location,
            size=_size(candidate),
            required_by=(str(root.origin.location),),
        )
        before = env.get(candidate.name)
        if before is None:
            installed.append(after)
        else:
            replaced.append(Replacement(before, after))
    return LayerReplay(
        step, tuple(installed), tuple(replaced), tuple(kept), tuple(conflicts), tuple(needs)
    )


def _pick(candidates: Sequence[Candidate], spec: SpecifierSet) -> Candidate | None:
    """Newest release the specifier admits; a yanked one only when pinned exactly (PEP 592)."""
    exact = any(s.operator in ("==", "===") and "*" not in s.version for s in spec)
    for candidate in candidates:
        if not spec.contains(candidate.version, prereleases=True):
            continue
        if candidate.yanked is None or exact:
            return candidate
    return None


def _no_release(root: RootRequirement, spec: SpecifierSet) -> Conflict:
    return Conflict(
        summary=f"no release of {root.name} matches {spec or '(any)'} on the step's indexes",
        chain=(f"{root.origin.location}: {root.requirement}",),
        with_parent=False,
        packages=(root.name,),
        suggestion="check the version and the --index-url of the line",
        origins=(root.origin.location,),
    )


def _size(candidate: Candidate) -> int:
    """Download size of the file pip would pick: the best-ranked usable file (listed first)."""
    return candidate.files[0].size or 0 if candidate.files else 0


class _WithInstalled:
    """A metadata source that also offers what is installed, as pip's resolver does.

    A release whose dependencies need a build is resolved as having none and remembered
    (:meth:`built`): a finding, never a build. The installed release is a candidate of its
    name even when the step's indexes do not list it, is never considered yanked (it is
    already there), and its metadata is the one recorded when it was installed. A name the
    environment has is answered from it alone when the indexes cannot be reached (pip would
    not need them either while it is satisfied).
    """

    def __init__(
        self,
        source: MetadataSource,
        env: Mapping[NormalizedName, Installed],
        only_binary: frozenset[str] = frozenset(),
    ) -> None:
        self.source = source
        self.env = env
        self.only_binary = only_binary
        self._built: dict[tuple[NormalizedName, Version], NeedsBuild] = {}
        # the first index error answered from the environment alone: a resolution that then
        # fails may have failed only for want of the releases that page would have offered
        self.unreached: IndexFetchError | OfflineMissError | None = None

    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        have = self.env.get(name)
        if have is None:
            return self._binary(name, self.source.candidates(name, target))
        mine = replace(
            have.candidate, files=tuple(replace(f, yanked=None) for f in have.candidate.files)
        )
        try:
            found = self.source.candidates(name, target)
        except (IndexFetchError, OfflineMissError) as e:
            self.unreached = self.unreached or e
            return (mine,)
        rest = [c for c in self._binary(name, found) if c.version != have.version]
        return sorted([mine, *rest], key=lambda c: c.version, reverse=True)

    def _binary(self, name: NormalizedName, found: Sequence[Candidate]) -> Sequence[Candidate]:
        """``--only-binary``: pip does not consider a release it would have to build."""
        if ":all:" not in self.only_binary and name not in self.only_binary:
            return found
        return [c for c in found if c.has_wheel]

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        have = self.env.get(candidate.name)
        if have is not None and have.version == candidate.version:
            return have.metadata or CoreMetadata(have.name, have.version, ())
        found = self.source.metadata(candidate, target)
        if isinstance(found, NeedsBuild):
            # pip would build it and go on; we never build. Its dependencies are taken as
            # none for the resolution, and the release is reported (``needs_build``).
            self._built[(found.name, found.version)] = found
            return CoreMetadata(found.name, found.version, ())
        return found

    def built(self) -> tuple[NeedsBuild, ...]:
        """Releases whose dependencies needed a build, in the order met."""
        return tuple(self._built.values())

    def prefetch(self, items: Iterable[NormalizedName | Candidate], target: Target) -> None:
        self.source.prefetch(items, target)
