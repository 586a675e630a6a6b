"""Rules about one Dockerfile at a time: its FROM, its RUN lines, its layer order.

A CPU fallback shares its twin's Dockerfile: rules about the file's text report it once (on
the first image that uses the file); ``from-mismatch`` checks every image, since each one is
built with its own build args.

Decisions:

* ``from-mismatch`` compares references after Docker's normalisation (``docker.io/library/``
  dropped, ``:latest`` added). With no ``registry`` configured, only the repository name and
  tag are compared, since the workspace does not say where images are pushed. The FROM is
  followed from the stage the image builds (its ``stage``, the ``--target``). A parent built
  from a stage of the same Dockerfile (``FROM runtime AS dev``, the parent built with
  ``--target runtime``) is accepted when the ARGs that stage reads have the parent's values:
  Docker rebuilds the stage inside the image's build, so only then is it the parent image.
* ``shell-redirect`` reports a redirection only when its target reads like the tail of a
  version specifier (``=2.0``, ``2.0``): ``> /dev/null`` and ``2>&1`` are deliberate. Every
  installer's arguments are read (pip, uv, conda, mamba, apt).
* ``cache-mount-disabled`` looks only at cache mounts on pip's cache (``/root/.cache/pip``,
  ``/root/.cache`` or ``PIP_CACHE_DIR``): an apt cache mount next to ``--no-cache-dir`` is
  fine. A ``uv pip install`` under a mount of pip's cache alone is reported too (uv caches in
  ``~/.cache/uv``).
* ``code-before-deps`` treats as dependency files: requirement/constraint/lock files,
  ``versions*.txt``, ``pyproject.toml``/``setup.*``, files under the locks directory and every
  file a later install reads.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator

from lockaudit.parsing.dockerfile import (
    Copy,
    Dockerfile,
    FromLine,
    PackageCommand,
    PipInstall,
    Run,
    Stage,
)
from lockaudit.rules import CheckContext, distinct_dockerfiles, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import Image, Workspace

_VERSION_TAIL = re.compile(r"^=*\s*v?\d[\w.*+!,<>=~-]*$")
_SPEC_REDIRECTS = frozenset({">", ">>", "<", ">|"})
_DEPENDENCY_FILES = (
    "*requirements*.txt",
    "*constraints*.txt",
    "versions*.txt",
    "*.lock",
    "pylock*.toml",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "*.in",
)


# -- from-mismatch ------------------------------------------------------------------------------


@rule("from-mismatch", Severity.ERROR, "the final FROM is not the declared parent or base image")
def from_mismatch(ctx: CheckContext) -> Iterator[Finding]:
    workspace = ctx.workspace
    for image in workspace.images:
        dockerfile = ctx.dockerfiles[image.key]
        chain = stage_chain(dockerfile, built_stage(dockerfile, image))
        parent = _parent_stage(workspace, image, chain)
        if parent is not None:
            yield from _rebuilt_parent(dockerfile, image, parent, chain)
            continue
        line = chain[-1].from_line
        expected = workspace.from_reference(image)
        if line.unresolved:
            names = ", ".join(line.unresolved)
            yield from_mismatch.finding(
                f"FROM {line.raw} needs ARG {names}, which has no value when building {image.key}",
                line.location,
                image=image.key,
                hint=f"give ARG {names} a default, or set it in the image's build-args",
            )
        elif not _same_ref(line.image, expected, compare_namespace=bool(workspace.registry)):
            declared = (
                f"declared on {image.parent} ({expected})"
                if image.parent
                else f"declared with base-image {expected}"
            )
            yield from_mismatch.finding(
                f"FROM resolves to {line.image}, but {image.key} is {declared}",
                line.location,
                image=image.key,
                hint=_from_hint(image, expected),
            )


def built_stage(dockerfile: Dockerfile, image: Image) -> Stage:
    """The stage ``docker build`` builds for the image: its ``stage`` (``--target``), else the
    last one."""
    if image.stage:
        for stage in dockerfile.stages:
            if (stage.from_line.alias or "").lower() == image.stage.lower():
                return stage
    return dockerfile.final


def stage_chain(dockerfile: Dockerfile, stage: Stage) -> list[Stage]:
    """``stage`` and the stages it is built FROM (by alias), nearest first."""
    aliases = {s.from_line.alias.lower(): s for s in dockerfile.stages if s.from_line.alias}
    chain = [stage]
    while True:
        earlier = aliases.get(chain[-1].from_line.image.lower())
        if earlier is None or earlier in chain:
            return chain
        chain.append(earlier)


def root_from(dockerfile: Dockerfile, image: Image | None = None) -> FromLine:
    """The FROM the image's stage (the final one without an image) is really built on
    (``FROM builder`` chains followed)."""
    stage = dockerfile.final if image is None else built_stage(dockerfile, image)
    return stage_chain(dockerfile, stage)[-1].from_line


def _parent_stage(workspace: Workspace, image: Image, chain: list[Stage]) -> Image | None:
    """The parent, when it is the stage of the image's own Dockerfile that the image's stage
    is built FROM (``FROM runtime AS dev``, the parent built with ``--target runtime``)."""
    if image.parent is None:
        return None
    parent = workspace.image(image.parent)
    if parent.dockerfile != image.dockerfile or parent.stage is None:
        return None
    want = parent.stage.lower()
    return parent if any((s.from_line.alias or "").lower() == want for s in chain[1:]) else None


def _rebuilt_parent(
    dockerfile: Dockerfile, image: Image, parent: Image, chain: list[Stage]
) -> Iterator[Finding]:
    """Docker rebuilds the parent's stage inside the image's build, from the same file: that
    is the parent image only when the ARGs the stage reads have the parent's values."""
    want = (parent.stage or "").lower()
    upto = next(i for i, s in enumerate(chain) if (s.from_line.alias or "").lower() == want)
    read = {name for name, _, _ in dockerfile.global_args}
    read |= {name for stage in chain[upto:] for name, _, _ in stage.args}
    mine, theirs = dict(image.build_args), dict(parent.build_args)
    differ = sorted(name for name in read if mine.get(name) != theirs.get(name))
    if differ:
        names = ", ".join(differ)
        line = chain[upto - 1].from_line
        yield from_mismatch.finding(
            f"FROM {line.raw} rebuilds stage {parent.stage} of {parent.key} with other build "
            f"args ({names}): the result is not {parent.key}",
            line.location,
            image=image.key,
            hint=f"give {image.key} the build-args of {parent.key} for {names}",
        )


def _same_ref(actual: str, expected: str, *, compare_namespace: bool) -> bool:
    left, right = _normal_ref(actual), _normal_ref(expected)
    if not compare_namespace:
        left, right = left.rsplit("/", 1)[-1], right.rsplit("/", 1)[-1]
    return left == right


def _normal_ref(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        ref = ref.removeprefix(prefix)
    if ref.rfind(":") <= ref.rfind("/"):
        ref += ":latest"
    return ref


def _from_hint(image: Image, expected: str) -> str:
    if image.variant_of is not None:
        return (
            "a fallback is the same Dockerfile built with other build args: take the parent "
            "from an ARG (FROM ${REGISTRY}/${PARENT_IMAGE}) and set it in the fallback's "
            "build-args"
        )
    return f"change the FROM to {expected}, or fix `parent`/`base-image` in [tool.lockaudit]"


# -- shell-redirect -----------------------------------------------------------------------------


@rule("shell-redirect", Severity.ERROR, "an unquoted package argument the shell splits at < or >")
def shell_redirect(ctx: CheckContext) -> Iterator[Finding]:
    for image, dockerfile in distinct_dockerfiles(ctx):
        for stage in dockerfile.stages:
            for run in stage.runs:
                for package in run.packages:
                    if package.action == "install":
                        yield from _redirects(image, run, package)


def _redirects(image: Image, run: Run, package: PackageCommand) -> Iterator[Finding]:
    argv = run.commands[package.command].argv
    install = package.pip
    for redirect in package.redirects:
        if redirect.op not in _SPEC_REDIRECTS or not _VERSION_TAIL.match(redirect.target):
            continue
        index = redirect.word_index - 1
        before = argv[index] if 0 <= index < len(argv) else ""
        written = f"{before}{redirect.op}{redirect.target}"
        effect = (
            f"opens a file named `{redirect.target}` as its input: there is none, so "
            f"{package.tool} never runs and the RUN fails"
            if redirect.op == "<"
            else f"installs `{before}` at any version and writes {package.tool}'s output to a "
            f"file named `{redirect.target}`"
        )
        line = (
            None
            if install is None
            else next((r for r in install.requirements if r.raw == before), None)
        )
        yield shell_redirect.finding(
            f"`{written}` is not quoted: sh {effect}",
            line.location if line is not None else package.location,
            image=image.key,
            package=str(line.name) if line is not None else None,
            hint=f'quote it: {" ".join(_up_to_install(argv))} "{written}"',
        )


def _up_to_install(argv: tuple[str, ...]) -> tuple[str, ...]:
    """``uv pip install``, ``python3 -m pip install``: the command up to its verb."""
    return argv[: argv.index("install") + 1] if "install" in argv else argv[:1]


# -- cache-mount-disabled -----------------------------------------------------------------------

# Where pip and uv keep their caches for root (BuildKit runs RUN as root unless USER says).
_PIP_CACHE = re.compile(r"^(/root|~|\$HOME|\$\{HOME\})/\.cache(/pip)?/?$")
_UV_CACHE = re.compile(r"^(/root|~|\$HOME|\$\{HOME\})/\.cache(/uv)?/?$")


@rule(
    "cache-mount-disabled",
    Severity.WARNING,
    "a pip cache mount made useless by --no-cache-dir, PIP_NO_CACHE_DIR, or an installer that "
    "caches elsewhere",
)
def cache_mount_disabled(ctx: CheckContext) -> Iterator[Finding]:
    for image, dockerfile in distinct_dockerfiles(ctx):
        inherited = _inherited_no_cache(ctx, image)
        for stage in dockerfile.stages:
            cache_dir = next((v for k, v, _ in stage.env if k == "PIP_CACHE_DIR"), None)
            for run in stage.runs:
                targets = [m.target or "" for m in run.mounts if m.type == "cache"]
                pip_cache = [t for t in targets if _PIP_CACHE.match(t) or t == cache_dir]
                if not pip_cache:
                    continue
                for package in run.packages:
                    install = package.pip
                    if install is None:
                        continue
                    if package.tool == "uv" and not any(_UV_CACHE.match(t) for t in targets):
                        reason: str | None = (
                            f"uv keeps its cache in ~/.cache/uv, not in {pip_cache[0]}:"
                        )
                    else:
                        reason = _no_cache_reason(stage, install, inherited)
                        reason = f"{reason} turns the cache off:" if reason else None
                    if reason is not None:
                        yield cache_mount_disabled.finding(
                            f"RUN --mount=type=cache,target={pip_cache[0]} keeps pip's cache "
                            f"between builds, but {reason} every build downloads again",
                            install.location,
                            image=image.key,
                            hint="drop --no-cache-dir / PIP_NO_CACHE_DIR: a cache mount never "
                            "ends up in the image layer"
                            if package.tool == "pip"
                            else "mount the cache at /root/.cache/uv for uv",
                        )


def _no_cache_reason(stage: Stage, install: PipInstall, inherited: str | None) -> str | None:
    if install.no_cache_dir:
        return "--no-cache-dir"
    for key, _, location in stage.env:
        if key == "PIP_NO_CACHE_DIR" and location.line < install.location.line:
            return f"ENV PIP_NO_CACHE_DIR ({location}; pip disables the cache for any value)"
    return inherited


def _inherited_no_cache(ctx: CheckContext, image: Image) -> str | None:
    """PIP_NO_CACHE_DIR set by an ancestor image (ENV is inherited through FROM)."""
    for ancestor in reversed(ctx.workspace.ancestors(image.key)):
        for key, _, location in ctx.dockerfiles[ancestor.key].final.env:
            if key == "PIP_NO_CACHE_DIR":
                return f"ENV PIP_NO_CACHE_DIR inherited from {ancestor.key} ({location})"
    return None


# -- code-before-deps ---------------------------------------------------------------------------


@rule(
    "code-before-deps",
    Severity.WARNING,
    "code copied before the last dependency install (every code change reinstalls)",
)
def code_before_deps(ctx: CheckContext) -> Iterator[Finding]:
    for image, dockerfile in distinct_dockerfiles(ctx):
        installs = ctx.installs[image.key]
        read = {*installs.files, *installs.constraint_files}
        for stage in dockerfile.stages:
            last = _last_dependency_install(stage)
            if last is None:
                continue
            for copy in stage.copies:
                if copy.from_stage is None and copy.location.line < last.location.line:
                    code = _code_sources(ctx, copy, image.context, read)
                    if code:
                        yield code_before_deps.finding(
                            f"COPY {' '.join(code)} comes before the pip install at line "
                            f"{last.location.line}: any change to it rebuilds that layer",
                            copy.location,
                            image=image.key,
                            hint="copy only requirement files before installing; copy code "
                            "after the last pip install",
                        )


def _last_dependency_install(stage: Stage) -> PipInstall | None:
    """The last install of index packages (a ``pip install .`` alone needs the code first)."""
    found = [i for i in stage.pip_installs if i.requirements or i.requirement_files]
    return found[-1] if found else None


def _code_sources(ctx: CheckContext, copy: Copy, context: str, read: set[str]) -> list[str]:
    code = []
    for source in copy.sources:
        path = posixpath.normpath(posixpath.join(context, source))
        if path not in read and not ctx.is_lock(path) and not _is_dependency_file(source):
            code.append(source)
    return code


def _is_dependency_file(source: str) -> bool:
    name = posixpath.basename(source.rstrip("/"))
    if posixpath.basename(posixpath.dirname(source.rstrip("/"))) == "constraints":
        return True
    return any(fnmatch.fnmatch(name, pattern) for pattern in _DEPENDENCY_FILES)
