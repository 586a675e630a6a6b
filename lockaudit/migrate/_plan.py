"""The migration planner: read a repository, decide every change, write nothing.

For each Dockerfile (the first image built from it is the one whose installs are read):

1. every ``pip install`` step is classified: its lockable requirements (index packages, pinned
   or loose, written inline or in the ``-r`` files it installs) go into the image's ``.in``
   file, each with its origin; what a lock cannot pin stays in the Dockerfile (a note says so);
   a step lockaudit cannot follow (an untraced ``-r`` file, arguments built from unknown
   variables) is left as written;
2. the Dockerfile is rewritten (``_rewrite``) to install the image's layer lock;
3. the configuration points the image at its ``.in`` (plus the workspace's common file when the
   Dockerfile installed it: that file stays the shared input it already is).

Across images, a package pinned with ``==`` by two or more images is hoisted into the
versions file when they all agree; when they do not, the pins are listed and left alone.

Decisions: the ``.in`` file copies requirement lines rather than ``-r`` the old files, so that
every line names where it came from and an unlockable line can stay out; ``-c`` files an
install used are referenced, not copied (a constraint keeps meaning "limit", never "install").
A Dockerfile several images build from (a CPU fallback, a base built twice with build args)
names its lock through ``ARG LAYER_LOCK``, and every other image sets it in its build args.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockaudit.errors import InputError, Location
from lockaudit.locks import lock_paths
from lockaudit.migrate._config import ConfigEdits, edit_config
from lockaudit.migrate._model import FileChange, MigrationPlan, Note, NoteKind, apply_edits
from lockaudit.migrate._project import local_project
from lockaudit.migrate._rewrite import InstallPlan, LockRef, rewrite
from lockaudit.parsing.dockerfile import Dockerfile, PipInstall, Stage, parse_dockerfile_text
from lockaudit.parsing.requirements import (
    RequirementLine,
    RequirementsFile,
    decode_text,
    parse_requirements,
)
from lockaudit.parsing.versions import parse_versions
from lockaudit.rules.installs import ImageInstalls, Install, image_installs
from lockaudit.workspace.config import parse_config
from lockaudit.workspace.model import Image, Workspace

# Installing the installer is not the image's layer (the lock rules say the same).
_TOOLING = frozenset({"pip", "setuptools", "wheel", "uv"})
CONTAINER_LOCK = "/tmp/lockaudit/layer.txt"


@dataclass
class _Image:
    """What one Dockerfile's installs give (mutable while planning, then frozen into files)."""

    lines: list[str] = field(default_factory=list)  # the .in body
    plans: dict[Location, InstallPlan] = field(default_factory=dict)
    installed_files: list[str] = field(default_factory=list)
    pins: list[tuple[RequirementLine, str]] = field(default_factory=list)  # (line, origin)
    constraints: tuple[str, ...] = ()  # workspace files the installs read with -c
    common: bool = False  # installs the workspace's common file


def plan_migration(root: Path, *, left_out: Mapping[str, str] | None = None) -> MigrationPlan:
    """Everything ``lockaudit migrate`` changes in the repository at ``root`` (reads only).

    ``left_out`` maps image keys to why they are not migrated (their locks do not resolve): a
    Dockerfile all of whose images are left out keeps its installs as written."""
    left_out = left_out or {}
    pyproject = root / "pyproject.toml"
    old_config = _read(pyproject) if pyproject.is_file() else None
    notes: list[Note] = []
    config, discovered = _with_section(root, old_config, notes)
    workspace = _workspace(root, config, discovered=discovered)
    loaded: dict[str, RequirementsFile] = {}

    def load(path: str) -> RequirementsFile:
        if path not in loaded:
            loaded[path] = parse_requirements(root, path)
        return loaded[path]

    changes: list[FileChange] = []
    edits = ConfigEdits()
    found: dict[str, _Image] = {}
    for dockerfile, images in _by_dockerfile(workspace).items():
        primary = images[0]
        if discovered:  # discovery's guesses of requirement files give way to what is installed
            for image in images:
                if image.variant_of is None:
                    edits.requirements[image.key] = ()
        kept = all(image.key in left_out for image in images)
        notes.extend(
            _left_out(dockerfile, image, left_out[image.key], kept=kept)
            for image in images
            if image.key in left_out
        )
        if kept:
            continue
        text = _read(root / dockerfile)
        try:
            parsed = parse_dockerfile_text(text, dockerfile, dict(primary.build_args))
        except InputError as e:
            if not discovered:
                raise
            # discovery read it as its build source makes it (a CI step writes its FROM): as
            # it is on disk it cannot be rewritten, so it is left as written, and said
            notes.append(Note(
                NoteKind.NOT_MIGRATED, e.location,
                f"{dockerfile} is not migrated: {e.message} as it is on disk; it keeps its "
                "installs as written",
            ))
            continue
        installs = image_installs(workspace, primary, parsed, load)
        chain = _image_stages(parsed)
        planned = _classify(workspace, primary, chain, installs, notes)
        _build_stage_notes(parsed, chain, notes)
        if not planned.plans:
            continue
        lock = _lock_ref(workspace, images, parsed, edits, notes)
        if lock is None:
            continue
        _add_indexes(workspace, primary, planned, edits)
        new_edits, rewrite_notes = rewrite(text, chain, planned.plans, lock)
        notes.extend(rewrite_notes)
        if not new_edits:
            continue
        changes.append(FileChange(dockerfile, text, apply_edits(text, new_edits), new_edits))
        found[dockerfile] = planned
        in_path = None
        if planned.lines:
            in_path = _in_path(root, primary, {c.path for c in changes})
            text_in = _in_text(primary, dockerfile, in_path, planned)
            changes.append(FileChange(in_path, None, text_in))
        for image in images:
            if image.variant_of is None:
                edits.requirements[image.key] = _requirements(
                    workspace, image, planned, in_path, discovered=discovered
                )
    versions_change = _hoist(root, workspace, found, edits, notes)
    if versions_change is not None:
        changes.append(versions_change)
    new_config = edit_config(config, edits)
    if new_config != (old_config or ""):
        changes.insert(0, FileChange("pyproject.toml", old_config, new_config))
    return MigrationPlan(
        root, tuple(changes), tuple(notes), tuple(i.key for i in workspace.images), discovered
    )


def _left_out(dockerfile: str, image: Image, why: str, *, kept: bool) -> Note:
    """``kept``: the Dockerfile keeps its installs; else other images of it are migrated, and
    this one will install the lock it does not have yet."""
    state = (
        "the Dockerfile keeps its installs as written"
        if kept
        else "the Dockerfile is migrated for its other images; this one has no lock to install"
    )
    return Note(
        NoteKind.NOT_MIGRATED,
        Location(dockerfile, 1),
        f"{image.key} is not migrated: {why}; {state}. Fix that, then run "
        "`lockaudit migrate --write` again",
    )


def _read(path: Path) -> str:
    data = path.read_bytes()
    decode_text(data, path.name)  # NUL bytes and bad UTF-8 are input errors, named
    return data.decode("utf-8")


def _with_section(root: Path, old: str | None, notes: list[Note]) -> tuple[str, bool]:
    """The configuration text: the existing one, or the old file plus discovery's proposal."""
    if old is not None:
        try:
            data = tomllib.loads(old)
        except tomllib.TOMLDecodeError as e:
            raise InputError(Location("pyproject.toml"), f"invalid TOML: {e}") from e
        if "lockaudit" in data.get("tool", {}):
            return old, False
    from lockaudit.workspace.discover import discover_workspace

    discovery = discover_workspace(root)
    where = Location("pyproject.toml")
    notes.extend(Note(NoteKind.DISCOVERY, where, problem) for problem in discovery.problems)
    head = (old or "").rstrip("\n")
    return (head + "\n\n" if head else "") + discovery.config_toml, True


def _workspace(root: Path, config: str, *, discovered: bool) -> Workspace:
    section = tomllib.loads(config).get("tool", {}).get("lockaudit", {})
    try:
        return parse_config(section, root=root)
    except InputError as e:
        if not discovered:
            raise
        raise InputError(
            Location("pyproject.toml"),
            f"the configuration discovery proposes does not load: {e.message}",
            hint="see it with `lockaudit init --print`, write it fixed into pyproject.toml, "
            "then run `lockaudit migrate` again",
        ) from e


def _by_dockerfile(workspace: Workspace) -> dict[str, list[Image]]:
    """Images per Dockerfile, the one that is no fallback first."""
    groups: dict[str, list[Image]] = {}
    for image in sorted(workspace.images, key=lambda i: i.variant_of is not None):
        groups.setdefault(image.dockerfile, []).append(image)
    return groups


# -- classifying installs -------------------------------------------------------------------------


def _image_stages(dockerfile: Dockerfile) -> list[Stage]:
    """The stages the image is made of: the final one and the ones it is built FROM (by
    alias), in file order. Other stages are build stages: only what they COPY out counts."""
    aliases = {s.from_line.alias.lower(): s for s in dockerfile.stages if s.from_line.alias}
    chain = [dockerfile.final]
    while True:
        earlier = aliases.get(chain[-1].from_line.image.lower())
        if earlier is None or earlier in chain:
            break
        chain.append(earlier)
    return [stage for stage in dockerfile.stages if stage in chain]


def _build_stage_notes(dockerfile: Dockerfile, chain: list[Stage], notes: list[Note]) -> None:
    for stage in dockerfile.stages:
        if stage in chain:
            continue
        for install in stage.pip_installs:
            if install.requirements or install.requirement_files:
                notes.append(
                    Note(
                        NoteKind.NOT_REWRITTEN,
                        install.location,
                        "pip install in a build stage (the image copies files out of it, not "
                        "its packages): kept as written, not in the image's lock",
                    )
                )


def _classify(
    workspace: Workspace,
    image: Image,
    chain: list[Stage],
    installs: ImageInstalls,
    notes: list[Note],
) -> _Image:
    out = _Image()
    blocked = {location for location, _ in (*installs.untraced, *installs.missing)}
    for stage in chain:
        for install in stage.pip_installs:
            items = [i for i in installs.items if i.via.location == install.location]
            if install.location in blocked or install.unparsed:
                notes.append(_kept(install, installs))
                continue
            plan = _plan_install(workspace, image, stage, install, items, out, notes)
            if plan is not None:
                out.plans[install.location] = plan
    out.constraints = installs.constraint_files
    return out


def _kept(install: PipInstall, installs: ImageInstalls) -> Note:
    paths = [p for location, p in (*installs.untraced, *installs.missing)
             if location == install.location]
    why = (
        f"reads {', '.join(paths)}, which is not a file of the build context"
        if paths
        else "its arguments come from variables with no value here"
    )
    return Note(NoteKind.NOT_REWRITTEN, install.location, f"pip install kept as written: {why}")


def _plan_install(
    workspace: Workspace,
    image: Image,
    stage: Stage,
    install: PipInstall,
    items: list[Install],
    out: _Image,
    notes: list[Note],
) -> InstallPlan | None:
    if _installs_a_lock(workspace, install, items):
        return None  # migrated already: `migrate` run twice changes nothing
    residual: list[str] = []
    lockable: list[Install] = []
    for item in items:
        line = item.line
        if item.file is not None and item.file == workspace.common:
            out.common = True
        elif line.name in _TOOLING:
            residual.append(_as_written(item))
        elif line.requirement.url is not None or line.editable:
            residual.append(_as_written(item))
            notes.append(_unlockable(line))
        else:
            lockable.append(item)
    projects: list[str] = []
    project_lines: list[str] = []
    for local in install.local_args:
        found = local_project(workspace.root, image.context, stage, install, local)
        if found is None:
            residual.append(local)
            notes.append(
                Note(
                    NoteKind.UNLOCKABLE,
                    install.location,
                    f"{local} is a local path whose dependencies lockaudit cannot read (no "
                    "pyproject.toml with static [project] dependencies copied there): installed "
                    "as written, its dependencies unlocked",
                )
            )
            continue
        path, dependencies = found
        projects.append(("-e " if _editable_word(install, local) else "") + local)
        origin = f"{path} [project] dependencies of {local}, installed at {install.location}"
        project_lines += [f"{dependency}  # from {origin}" for dependency in dependencies]
    if not lockable and not install.requirement_files and not projects:
        return None  # `pip install --upgrade pip`: nothing to lock here
    for item in lockable:
        origin = str(item.line.location)
        out.lines.append(f"{item.line.requirement}  # from {origin}")
        if item.line.pinned_version is not None:
            out.pins.append((item.line, origin))
    out.lines.extend(project_lines)
    out.installed_files.extend(i.file for i in items if i.file is not None)
    return InstallPlan(install, True, tuple(residual), tuple(projects))


def _editable_word(install: PipInstall, local: str) -> bool:
    argv = install.argv
    return any(
        word == local and i > 0 and argv[i - 1] in ("-e", "--editable")
        for i, word in enumerate(argv)
    ) or f"-e{local}" in argv or f"--editable={local}" in argv


def _installs_a_lock(workspace: Workspace, install: PipInstall, items: list[Install]) -> bool:
    locks = workspace.locks_dir.rstrip("/") + "/"
    from_locks = any(item.file is not None and item.file.startswith(locks) for item in items)
    return from_locks or (install.require_hashes and bool(install.requirement_files))


def _as_written(item: Install) -> str:
    """A command-line word as it was written; a file's line as its requirement."""
    line = item.line
    text = line.raw if item.in_dockerfile and line.raw else str(line.requirement)
    return f"-e {text}" if line.editable and not text.startswith("-e") else text


def _unlockable(line: RequirementLine) -> Note:
    url = line.requirement.url or ""
    if url.startswith(("git+", "hg+", "svn+", "bzr+")):
        why = "a VCS reference" + ("" if "@" in url.split("://", 1)[-1] else " without a commit")
    elif "#sha256=" in url or line.hashes:
        why = "a direct URL"
    elif url:
        why = "a URL without a hash"
    else:
        why = "an editable install"
    return Note(
        NoteKind.UNLOCKABLE,
        line.location,
        f"{line.raw or line.requirement} is {why}: lockaudit locks index packages only, so it "
        "is installed as written (its dependencies unlocked)",
    )


def _add_indexes(workspace: Workspace, image: Image, planned: _Image, edits: ConfigEdits) -> None:
    """Index URLs the rewritten installs used and the workspace does not know become indexes of
    the workspace: the lock records them, and pip reads them from the lock's option lines."""
    known = {index.url.rstrip("/") for index in workspace.indexes}
    known |= {url.rstrip("/") for _, url, _, _ in edits.indexes}
    for plan in planned.plans.values():
        install = plan.install
        urls = [(install.index_url, True)] if install.index_url else []
        urls += [(url, False) for url in install.extra_index_urls]
        for url, routed in urls:
            if not url or "$" in url or url.rstrip("/") in known:
                continue
            known.add(url.rstrip("/"))
            packages = tuple(str(line.name) for line in install.requirements) if routed else ()
            name = _index_name(url, workspace, edits)
            edits.indexes.append((name, url, image.variant.value, packages))


def _index_name(url: str, workspace: Workspace, edits: ConfigEdits) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":")[0].split("@")[-1]
    base = "-".join(part for part in host.split(".")[:2] if part) or "index"
    taken = {name for name, _, _, _ in edits.indexes} | {i.name for i in workspace.indexes}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


# -- lock names, .in files, requirements ----------------------------------------------------------


def _lock_ref(
    workspace: Workspace,
    images: list[Image],
    dockerfile: Dockerfile,
    edits: ConfigEdits,
    notes: list[Note],
) -> LockRef | None:
    primary = images[0]
    images = _locks_in_context(workspace, images, edits, notes)
    layers = {image.key: _in_context(workspace, image) for image in images}
    if any(layer is None for layer in layers.values()):
        notes.append(
            Note(
                NoteKind.NOT_REWRITTEN,
                Location(primary.dockerfile, 1),
                f"the images of {primary.dockerfile} have different build contexts and no "
                "locks folder inside all of them: the Dockerfile cannot COPY its lock; kept "
                "as written",
            )
        )
        return None
    if len(images) == 1:
        return LockRef(str(layers[primary.key]), CONTAINER_LOCK)
    declared = {name for name, _, _ in dockerfile.global_args} | {
        name for stage in dockerfile.stages for name, _, _ in stage.args
    }
    arg = "LAYER_LOCK" if "LAYER_LOCK" not in declared else "LOCKAUDIT_LAYER_LOCK"
    for image in images[1:]:
        edits.build_args[image.key] = (arg, str(layers[image.key]))
    return LockRef(f"${{{arg}}}", CONTAINER_LOCK, f"{arg}={layers[primary.key]}")


def _locks_in_context(
    workspace: Workspace, images: list[Image], edits: ConfigEdits, notes: list[Note]
) -> list[Image]:
    """The images of one Dockerfile, each with a locks folder its build context contains.

    A context without the workspace's locks folder (``docker build backend/tests/mock``) cannot
    COPY a lock from it: the images built there get their own folder, ``<context>/locks``, in
    the configuration (``locks`` of the image table; a fallback shares its twin's)."""
    if all(_in_context(workspace, image) is not None for image in images):
        return images
    contexts = {posixpath.normpath(image.context) for image in images}
    if len(contexts) != 1:
        return images
    (context,) = contexts
    folder = _free_folder(workspace.root, context)
    for image in images:
        if image.variant_of is None:
            edits.locks[image.key] = folder
    notes.append(
        Note(
            NoteKind.LOCKS_IN_CONTEXT,
            Location(images[0].dockerfile, 1),
            f"the build context {context} does not contain {workspace.locks_dir}/: the locks of "
            f"{', '.join(image.key for image in images)} go to {folder}/, which it does",
        )
    )
    return [replace(image, locks_dir=folder) for image in images]


def _free_folder(root: Path, context: str) -> str:
    """``<context>/locks``, or another name when the repository has that path for itself."""
    for name in ("locks", "lockaudit-locks"):
        if not (root / context / name).exists():
            return f"{context}/{name}"
    raise InputError(
        Location(f"{context}/lockaudit-locks"),
        "no free folder for the locks of the images built from this context",
        hint="set `locks` of those images in [tool.lockaudit] to a folder inside the context",
    )


def _in_context(workspace: Workspace, image: Image) -> str | None:
    layer = lock_paths(workspace, image).layer
    if image.context in (".", ""):
        return layer
    relative = posixpath.relpath(layer, image.context)
    return None if relative.startswith("..") else relative


def _in_path(root: Path, image: Image, taken: set[str]) -> str:
    here = posixpath.dirname(image.dockerfile)
    for name in ("requirements.in", f"{image.name}.in", f"{image.slug}.in"):
        path = posixpath.join(here, name)
        if path not in taken and not (root / path).exists():
            return path
    raise InputError(
        Location(posixpath.join(here, "requirements.in")),
        f"no free name for the requirements of {image.key}",
        hint="rename or remove requirements.in there",
    )


def _in_text(image: Image, dockerfile: str, in_path: str, planned: _Image) -> str:
    here = posixpath.dirname(in_path) or "."
    constraints = [f"-c {posixpath.relpath(path, here)}" for path in planned.constraints]
    head = [
        f"# {image.key}: what {dockerfile} installed (moved here by `lockaudit migrate`).",
        "# Each line says where it was written. `lockaudit compile` locks them (layered on the",
        "# parent image's lock); the Dockerfile installs the layer lock.",
    ]
    return "\n".join([*head, *constraints, *dict.fromkeys(planned.lines)]) + "\n"


def _requirements(
    workspace: Workspace, image: Image, planned: _Image, in_path: str | None, *, discovered: bool
) -> tuple[str, ...]:
    """The image's inputs after migrating: the configured files it did not install (a
    configuration discovery just proposed has none worth keeping), the common file if it
    installed it, and its ``.in``."""
    installed = set(planned.installed_files)
    kept = [] if discovered else [
        path for path in image.requirements if path not in installed or path == workspace.common
    ]
    if planned.common and workspace.common:
        kept.append(workspace.common)
    return tuple(dict.fromkeys([*kept, *([in_path] if in_path else [])]))


# -- hoisting pins --------------------------------------------------------------------------------


def _hoist(
    root: Path,
    workspace: Workspace,
    found: dict[str, _Image],
    edits: ConfigEdits,
    notes: list[Note],
) -> FileChange | None:
    """Pins every image agrees on go into the versions file; disagreements become notes."""
    path = workspace.versions or "versions.txt"
    exists = (root / path).is_file()
    existing: dict[str, RequirementLine] = (
        {line.name: line for line in parse_versions(root, path).pins} if exists else {}
    )
    by_name: dict[str, list[tuple[RequirementLine, str, str]]] = {}
    for dockerfile, planned in found.items():
        for line, origin in planned.pins:
            by_name.setdefault(line.name, []).append((line, origin, dockerfile))
    hoisted: list[str] = []
    for name, pins in sorted(by_name.items()):
        versions = {_public(line) for line, _, _ in pins}
        written = existing.get(name)
        if written is not None:
            if versions != {_public(written)}:
                notes.append(_disagreement(name, pins, written))
            continue
        if len(versions) > 1:
            notes.append(_disagreement(name, pins, None))
        elif len({dockerfile for _, _, dockerfile in pins}) > 1:
            hoisted.append(f"{name}=={pins[0][0].pinned_version}")
            notes.append(
                Note(
                    NoteKind.HOISTED,
                    Location(path),
                    f"{hoisted[-1]}: pinned alike by "
                    + ", ".join(sorted({origin for _, origin, _ in pins})),
                )
            )
    if not hoisted:
        return None
    if workspace.versions is None:
        edits.versions = path
    old = _read(root / path) if exists else None
    head = (old or "").rstrip("\n")
    section = [
        "# --- Shared pins, hoisted by `lockaudit migrate`: every image that pinned them agreed.",
        *hoisted,
    ]
    new = (head + "\n\n" if head else "") + "\n".join(section) + "\n"
    return FileChange(path, old, new)


def _public(line: RequirementLine) -> str:
    """``2.1.0`` and ``2.1.0+cu121`` agree: ``==2.1.0`` admits every local build of it."""
    version = line.pinned_version
    return version.public if version is not None else str(line.requirement.specifier)


def _disagreement(
    name: str, pins: Iterable[tuple[RequirementLine, str, str]], written: RequirementLine | None
) -> Note:
    places = [f"{line.pinned_version} at {origin}" for line, origin, _ in pins]
    if written is not None:
        places.append(f"{written.pinned_version} in {written.location}")
    first = next(iter(pins))[0]
    return Note(
        NoteKind.DISAGREEMENT,
        first.location,
        f"{name} is pinned differently: {'; '.join(places)}. Not merged: each image keeps its "
        "pin (pick one and put it in the versions file)",
    )

