"""Audit rules about what the shell does with a RUN line, beyond what pip resolves.

Each rule reads the Dockerfiles as the shell runs them (:class:`~lockaudit.parsing.dockerfile.Run`)
and, where the effect depends on packages, the replay. Registered in the audit's registry
(``AUDIT_RULES``) on import; ``lockaudit.audit`` imports this module.

Rules (bad → good):

``install-failure-hidden``
    ``RUN pip install --only-binary :all: x || echo "no wheel"`` →
    ``RUN pip install --only-binary :all: x``. A warning when an install's failure would not fail
    the build (``|| true``/``|| echo``, ``| tee`` without ``pipefail``, ``;`` without ``set -e``,
    ``&``); an error when the replay shows the install does fail there.
``replaced-by-later-install``
    ``RUN pip install torch==2.1.0 && pip install needs-new-torch`` →
    ``RUN pip install torch==2.1.0 needs-new-torch`` (pip then refuses the conflict instead of
    replacing torch). A later install of the same image replaces a release an earlier one put
    there: the earlier pin is silently lost (and stored twice when the RUNs differ).
``uninstalls-parent-package``
    ``FROM base`` + ``RUN pip uninstall -y torch`` → drop torch from ``base``'s requirements,
    or build on an image without it. The files stay in the lower layer: the image does not
    shrink, and what requires the package breaks.
``conda-and-pip``
    ``RUN conda install numpy && pip install numpy==1.26.4`` → one installer per package. pip
    overwrites files conda owns without conda knowing, and the audit replays pip only.
``apt-python-package``
    ``RUN apt-get install -y python3-numpy`` + ``pip install numpy`` → drop ``python3-numpy``:
    the system copy shadows or duplicates pip's (in a venv it is unused bytes).

Decisions:

- Findings about a Dockerfile's text are reported once per file (the first image built from
  it), as ``check`` does; findings that depend on the replay are reported per image.
- ``install-failure-hidden`` leaves out deliberate fallbacks: ``a || pip install b`` (the
  replay runs ``b`` only when ``a`` fails) and fallbacks that fail anyway (``|| exit 1``).
  Uninstalls are left out too (``pip uninstall -y x || true`` is the usual way to say "if
  present").
- Package names of conda and apt are compared with pip's after normalisation and a small table
  of known renames (``python3-yaml`` is PyYAML); a name pip never installed is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName

from lockaudit.audit.replay import ImageReplay, Installed, LayerReplay, Step, stages_in_image
from lockaudit.audit.rules import AuditContext, Saving, _rule, required_by
from lockaudit.audit.sizes import format_bytes
from lockaudit.errors import Location
from lockaudit.parsing.dockerfile import PackageCommand, Run
from lockaudit.parsing.shell import Masking, always_succeeds
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import INSTALLER_TOOLS, Image, normalize

__all__ = [
    "apt_python_package",
    "conda_and_pip",
    "install_failure_hidden",
    "replaced_by_later_install",
    "uninstalls_parent_package",
]


@dataclass(frozen=True)
class _Command:
    """A package command of an image's Dockerfile, with the RUN that holds it."""

    image: Image
    run: Run
    package: PackageCommand


def _commands(ctx: AuditContext, *, once_per_file: bool) -> Iterator[_Command]:
    """Package commands of the stages that end up in each image (each file once if asked)."""
    seen: set[str] = set()
    for image in ctx.workspace.images:
        if once_per_file and image.dockerfile in seen:
            continue
        seen.add(image.dockerfile)
        dockerfile = ctx.check.dockerfiles.get(image.key)
        for stage in stages_in_image(dockerfile) if dockerfile else ():
            for run in stage.runs:
                for package in run.packages:
                    if package.reached:
                        yield _Command(image, run, package)


def _text(run: Run, package: PackageCommand) -> str:
    return " ".join(run.commands[package.command].argv)


# --------------------------------------------------------------------------- failures


def _hides(run: Run, package: PackageCommand) -> Masking | None:
    """The masking of an install that a reviewer would call hidden (see the decisions)."""
    masked = package.masked
    if masked is None or package.action != "install" or masked.rethrows:
        return None
    if masked.kind == "fallback" and masked.by is not None:
        deliberate = any(
            run.commands[p.command] is masked.by for p in run.packages if p is not package
        )
        if deliberate or not masked.by.argv:
            return None
    return masked


def _why(masked: Masking, text: str) -> tuple[str, str]:
    """(what the shell does, how to fix it) for one masking."""
    by = masked.by.argv[0] if masked.by is not None and masked.by.argv else ""
    if masked.kind == "fallback":
        runs = "which always succeeds" if always_succeeds(masked.by) else "instead"
        return (
            f"`{text} || {by} ...`: when the install fails, `{by}` runs {runs} and the build "
            "goes on without the packages",
            f"drop the `|| {by} ...` so a failed install fails the build (or end the fallback "
            "with `exit 1`)",
        )
    if masked.kind == "pipe":
        return (
            f"`{text} | {by}`: a pipeline's status is its last command's (`{by}`), so a failed "
            "install does not fail the build",
            'set SHELL ["/bin/bash", "-o", "pipefail", "-c"] before this RUN, or drop the pipe',
        )
    if masked.kind == "background":
        return (
            f"`{text} &` runs in the background: its status never reaches the build",
            "drop the `&`",
        )
    return (
        f"`{text}` is followed by `{masked.operator.strip() or 'a newline'}` and `{by}`: the "
        "RUN's status is the last command's (without `set -e`, and `set -e` does not apply "
        "inside an `&&` list), so a failed install does not fail the build",
        "chain the commands with `&&` (every one of them), or start the RUN with `set -e` and "
        "keep installs out of `&&` lists that are followed by more commands",
    )


@_rule(
    "install-failure-hidden",
    Severity.WARNING,
    "a failed install would not fail the build (|| true, | tee, ; without set -e)",
)
def install_failure_hidden(ctx: AuditContext) -> Iterator[Finding]:
    failed = _failed_steps(ctx)
    for item in _commands(ctx, once_per_file=True):
        masked = _hides(item.run, item.package)
        if masked is None:
            continue
        what, hint = _why(masked, _text(item.run, item.package))
        failures = failed.get(item.package.location, [])
        if failures:
            images = ", ".join(image for image, _ in failures)
            summary = failures[0][1]
            yield install_failure_hidden.finding(
                f"this install fails in {images} ({summary}), and the build goes on: {what}",
                item.package.location,
                image=failures[0][0],
                package=_first_package(item.package),
                hint=hint,
                severity=Severity.ERROR,
            )
            continue
        yield install_failure_hidden.finding(
            what,
            item.package.location,
            image=item.image.key,
            package=_first_package(item.package),
            hint=hint,
        )


def _failed_steps(ctx: AuditContext) -> dict[Location, list[tuple[str, str]]]:
    """Location of each install step that fails in the replay → (image, why), in image order."""
    found: dict[Location, list[tuple[str, str]]] = {}
    for replay in ctx.replays.values():
        for layer in replay.layers:
            if layer.failed:
                summary = layer.conflicts[0].summary
                found.setdefault(layer.step.location, []).append((replay.image, summary))
    return found


def _first_package(package: PackageCommand) -> str | None:
    if package.pip is not None and package.pip.requirements:
        return str(package.pip.requirements[0].name)
    return None


# --------------------------------------------------------------------------- replaced, removed


def _run_of(step: Step) -> str:
    return str(step.run) if step.run is not None else str(step.location)


@_rule(
    "replaced-by-later-install",
    Severity.WARNING,
    "a later install of the same image replaces a release an earlier one installed",
)
def replaced_by_later_install(ctx: AuditContext) -> Iterator[Finding | Saving]:
    for replay in ctx.replays.values():
        steps = {layer.step.location: layer.step for layer in replay.layers}
        for layer in replay.layers:
            for change in layer.replaced:
                before, after = change.before, change.after
                if before.layer != replay.image or after.name in INSTALLER_TOOLS:
                    continue
                earlier = steps.get(before.location)
                same_run = earlier is not None and earlier.run == layer.step.run
                cost = (
                    "in the same RUN: the earlier pin is lost"
                    if same_run
                    else f"in another RUN: the pin is lost and {format_bytes(before.size)} are "
                    "stored twice"
                )
                finding = replaced_by_later_install.finding(
                    f"{layer.step.location} replaces {before.name} {before.version}, installed by "
                    f"{before.where}, with {after.version}{required_by(after)}, {cost}",
                    after.where,
                    image=replay.image,
                    package=after.name,
                    hint=f"install both in one pip command (pip then resolves {before.name} once "
                    f"and refuses a conflict), or pin {before.name}=={after.version} at "
                    f"{before.where}",
                    severity=Severity.ERROR if ctx.heavy(after.name) else None,
                )
                yield finding if same_run else Saving(finding, before.size)


@_rule(
    "uninstalls-parent-package",
    Severity.WARNING,
    "pip uninstall of a package a lower layer installed: its bytes stay, what needs it breaks",
)
def uninstalls_parent_package(ctx: AuditContext) -> Iterator[Saving]:
    for replay in ctx.replays.values():
        for layer in replay.layers:
            for item in layer.removed:
                found = _uninstalled(replay, layer, item)
                if found is not None:
                    yield found


def _uninstalled(replay: ImageReplay, layer: LayerReplay, item: Installed) -> Saving | None:
    needs = [] if replay.package(item.name) else _dependents(replay, item.name)
    breaks = f"; {', '.join(needs)} require it" if needs else ""
    if item.layer != replay.image:
        where = f"{item.layer} ({item.where})"
        hint = f"remove {item.name} from {item.layer}'s requirements, or build on a base without it"
    else:
        steps = {s.step.location: s.step for s in replay.layers}
        earlier = steps.get(item.location)
        if earlier is not None and earlier.run == layer.step.run:
            where = ""  # installed and removed in one RUN: no layer keeps it
        else:
            where = f"an earlier RUN of this image ({item.where})"
        hint = f"do not install {item.name} (drop it from {item.where}), or remove it in that RUN"
    if not where and not needs:
        return None
    kept = (
        f", installed by {where}: its {format_bytes(item.size)} stay in that layer" if where else ""
    )
    finding = uninstalls_parent_package.finding(
        f"{layer.step.location} uninstalls {item.name} {item.version}{kept}{breaks}",
        layer.step.location,
        image=replay.image,
        package=item.name,
        hint=hint,
    )
    return Saving(finding, item.size if where else 0)


def _dependents(replay: ImageReplay, name: NormalizedName) -> list[str]:
    out = []
    for other in replay.environment:
        for requirement in other.metadata.requires_dist if other.metadata else ():
            if normalize(requirement.name) == name and requirement.marker is None:
                out.append(other.name)
    return sorted(set(out))


# --------------------------------------------------------------------------- other installers

# conda and apt names of packages pip knows under another name.
_CONDA_NAMES = {"pytorch": "torch", "py-opencv": "opencv-python"}
_APT_NAMES = {
    "yaml": "pyyaml",
    "opencv": "opencv-python",
    "dateutil": "python-dateutil",
    "pil": "pillow",
    "sklearn": "scikit-learn",
    "bs4": "beautifulsoup4",
    "serial": "pyserial",
    "zmq": "pyzmq",
    "jwt": "pyjwt",
    "dotenv": "python-dotenv",
    "git": "gitpython",
    "magic": "python-magic",
}
_CONDA_SPEC = re.compile(r"^(?:[^:]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)")
_APT_PYTHON = re.compile(r"^python3-([a-z0-9][a-z0-9.+-]*?)(?::[a-z0-9]+)?(?:=.*)?$")


def conda_name(spec: str) -> NormalizedName | None:
    """``conda-forge::numpy=1.26`` → ``numpy`` (pip's name); None for ``python`` itself."""
    match = _CONDA_SPEC.match(spec)
    if match is None:
        return None
    name = normalize(match.group(1))
    return None if name == "python" else normalize(_CONDA_NAMES.get(name, name))


def apt_python_name(package: str) -> NormalizedName | None:
    """``python3-yaml`` → ``pyyaml``; None for a package that is not a Python library."""
    match = _APT_PYTHON.match(package)
    if match is None:
        return None
    name = normalize(match.group(1))
    return normalize(_APT_NAMES.get(name, name))


def _pip_installed(ctx: AuditContext, image: Image) -> dict[NormalizedName, Installed]:
    replay = ctx.replays.get(image.key)
    return {item.name: item for item in replay.environment} if replay else {}


def _others(ctx: AuditContext, tools: Sequence[str]) -> Iterator[tuple[_Command, Installed]]:
    """(command of another installer, pip's release of a package it installs too)."""
    for item in _commands(ctx, once_per_file=True):
        package = item.package
        if package.tool not in tools or package.action != "install":
            continue
        pip = _pip_installed(ctx, item.image)
        convert = conda_name if package.tool not in ("apt-get", "apt") else apt_python_name
        for word in package.packages:
            name = convert(word)
            if name is not None and name not in INSTALLER_TOOLS and name in pip:
                yield item, pip[name]


@_rule(
    "conda-and-pip",
    Severity.WARNING,
    "a package installed by conda/mamba and by pip in one image",
)
def conda_and_pip(ctx: AuditContext) -> Iterator[Finding]:
    for item, installed in _others(ctx, ("conda", "mamba", "micromamba")):
        tool = item.package.tool
        yield conda_and_pip.finding(
            f"{tool} installs {installed.name} here, and pip installs {installed.name} "
            f"{installed.version} ({installed.where}, {installed.layer}): pip overwrites files "
            f"{tool} owns without {tool} knowing, and the audit sees only pip's",
            item.package.location,
            image=item.image.key,
            package=installed.name,
            hint=f"install {installed.name} with one installer: drop it from `{tool} install` "
            f"(keep {tool} for the interpreter and non-Python libraries), or from pip's "
            "requirements",
        )


def _uses_venv(ctx: AuditContext, image: Image) -> bool:
    chain = [*ctx.workspace.ancestors(image.key), image]
    for member in chain:
        dockerfile = ctx.check.dockerfiles.get(member.key)
        for stage in dockerfile.stages if dockerfile else ():
            for run in stage.runs:
                for command in run.commands:
                    argv = command.argv
                    if "venv" in argv[1:3] or (
                        argv[:1] in (("virtualenv",), ("uv",)) and ("venv" in argv)
                    ):
                        return True
    return False


@_rule(
    "apt-python-package",
    Severity.WARNING,
    "apt-get install python3-<pkg> for a package pip installs too",
)
def apt_python_package(ctx: AuditContext) -> Iterator[Finding]:
    for item, installed in _others(ctx, ("apt-get", "apt")):
        word = next(w for w in item.package.packages if apt_python_name(w) == installed.name)
        effect = (
            "pip's venv does not see it: its bytes are unused"
            if _uses_venv(ctx, item.image)
            else "two copies of one package, and which one `import` finds depends on sys.path"
        )
        yield apt_python_package.finding(
            f"apt installs {word} (the system Python's {installed.name}), and pip installs "
            f"{installed.name} {installed.version} ({installed.where}, {installed.layer}): "
            f"{effect}",
            item.package.location,
            image=item.image.key,
            package=installed.name,
            hint=f"drop {word} from the apt-get install: pip's {installed.name} is the one "
            "the requirements pin",
        )
