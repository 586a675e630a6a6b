"""Audit findings: what the replayed images tell a maintainer, in ``check``'s finding schema.

Each rule is a small function ``(AuditContext) -> Iterable[Finding]`` listed in
:func:`audit_rules` (the one registry of :mod:`lockaudit.rules`, ``command="audit"``) with
its name, code, default severity and description. Rules read the replay only;
the two that need the index again (``matrix-conflict`` resolves ``versions.txt``,
``vulnerable-pin`` asks the vulnerability service) get it from the context.

Decisions:

- A finding is reported once, where it starts: a broken requirement in the image that breaks
  it (not again in every child), a replaced release in the layer that replaces it, a CUDA wheel
  in the CPU image whose layer installs it.
- ``version-drift`` compares fresh installs only (a name the parent does not have): a child that
  replaces its parent's release is ``reinstalls-parent-package`` already.
- ``matrix-conflict`` resolves every pin of ``versions.txt`` together on each distinct target of
  the workspace, over the workspace's index routing. On a CPU target a ``+cuXXX`` local label is
  dropped from a pin (the CPU fallbacks take the same version's ``+cpu`` build by routing).
- ``torch-family-mismatch`` knows the release train (torchaudio ``X.Y`` ↔ torch ``X.Y``,
  torchvision ``0.(Y+15)`` ↔ torch ``2.Y``) because some torchaudio releases declare no torch
  requirement at all; a declared requirement that is violated is ``broken-environment``.
  CUDA-versioned NVIDIA wheels (``nvidia-cuda-*-cu12``, ``nvidia-cublas-cu12``: their version
  starts with the CUDA version) of another CUDA minor than torch's are reported here too.
- ``needs-build`` is reported on images without a compiler: no ancestor Dockerfile installs
  ``build-essential``/``gcc``/``g++``/``clang`` and the base image is a ``slim``/``alpine`` Python
  image or a CUDA ``runtime``/``base`` image. On an image with a compiler, only an sdist whose
  requirement line is hash-pinned: pip builds it with build dependencies no hash checks.
- ``vulnerable-pin`` is an error when a fixed release exists, a warning when none does.
- ``index-unreachable`` is an error: an audit that could not see part of the images must not
  pass a gate silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.audit.replay import ImageReplay, Installed, LayerReplay, Replacement
from lockaudit.audit.sizes import format_bytes
from lockaudit.errors import IndexFetchError, Location, OfflineMissError
from lockaudit.index.types import MetadataSource, Vulnerability
from lockaudit.index.urls import MIRRORS_ENV, Mirrors, split_credentials
from lockaudit.index.vulns import VulnerabilityService
from lockaudit.resolve import Conflict, Origin, RequirementKind, RootRequirement, explain_every
from lockaudit.rules import Rule, registered_rules, rule
from lockaudit.rules.context import CheckContext
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import (
    INSTALLER_TOOLS,
    Image,
    Target,
    Variant,
    Workspace,
    normalize,
)

__all__ = ["AuditContext", "AuditRule", "Saving", "audit_rules", "run_audit_rules"]


@dataclass(frozen=True)
class AuditContext:
    """What audit rules read: the workspace, its parsed inputs, and the replay."""

    workspace: Workspace
    check: CheckContext
    replays: Mapping[str, ImageReplay]
    source: MetadataSource  # the workspace's routing (matrix resolution)
    vulns: VulnerabilityService | None = None

    def image(self, key: str) -> Image:
        return self.workspace.image(key)

    def heavy(self, name: str) -> bool:
        return normalize(name) not in NEVER_HEAVY and self.workspace.is_heavy(name)


# NVIDIA's Python libraries that are no CUDA runtime: NVML bindings (pure Python, they load
# the driver's libnvidia-ml at run time) and the index helper. ``nvidia-*`` must not catch them.
NOT_CUDA_RUNTIME = frozenset({"nvidia-ml-py", "nvidia-ml-py3", "nvidia-pyindex"})
NEVER_HEAVY = INSTALLER_TOOLS | NOT_CUDA_RUNTIME


@dataclass(frozen=True)
class Saving:
    """Bytes a fix would save, tied to the finding that suggests it."""

    finding: Finding
    bytes: int


AuditRule = Rule[AuditContext, Finding | Saving]


def _rule(
    id: str, severity: Severity, description: str
) -> Callable[[Callable[[AuditContext], Iterable[Finding | Saving]]], AuditRule]:
    """Register an audit rule in the one registry (:func:`lockaudit.rules.rule`)."""
    return rule(id, severity, description, command="audit")


def audit_rules() -> tuple[AuditRule, ...]:
    """Every audit rule, in name order (this module's and other audit rule modules')."""
    return registered_rules("audit")


if TYPE_CHECKING:
    AUDIT_RULES: tuple[AuditRule, ...]


def __getattr__(name: str) -> Any:
    # ``AUDIT_RULES``, the former list, kept for callers: the registry's audit rules, read
    # when asked so that rules registered by other modules are in it too.
    if name == "AUDIT_RULES":
        return audit_rules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_audit_rules(ctx: AuditContext) -> tuple[tuple[Finding, ...], tuple[Saving, ...]]:
    """Every audit rule; findings sorted worst first, and the savings some of them carry."""
    findings: set[Finding] = set()
    savings: list[Saving] = []
    for audit_rule in audit_rules():
        for item in audit_rule(ctx):
            if isinstance(item, Saving):
                savings.append(item)
                findings.add(item.finding)
            else:
                findings.add(item)
    ordered = tuple(sorted(findings, key=lambda f: (f.sort_key(), f.message)))
    return ordered, tuple(savings)


def _layers(ctx: AuditContext) -> Iterator[tuple[ImageReplay, LayerReplay]]:
    for replay in ctx.replays.values():
        for layer in replay.layers:
            yield replay, layer


def required_by(item: Installed) -> str:
    """`` (required by a, b)`` for what asked for ``item`` by name (not files, not images)."""
    asked = [entry for entry in item.required_by if ":" not in entry and "/" not in entry]
    return f" (required by {', '.join(asked)})" if asked else ""


# --------------------------------------------------------------------------- replaced, broken


@_rule(
    "reinstalls-parent-package",
    Severity.WARNING,
    "a layer replaces a release its parent image provides (its bytes are then stored twice)",
)
def reinstalls_parent_package(ctx: AuditContext) -> Iterator[Saving]:
    """One finding per replaced release of a parent, however many children replace it."""
    groups: dict[tuple[str, NormalizedName, Version], list[tuple[LayerReplay, Replacement]]] = {}
    for replay, layer in _layers(ctx):
        for change in layer.replaced:
            before, after = change.before, change.after
            if before.layer == replay.image or after.name in INSTALLER_TOOLS:
                continue
            groups.setdefault((before.layer, before.name, before.version), []).append(
                (layer, change)
            )
    for changes in groups.values():
        yield _replaced(ctx, sorted(changes, key=lambda lc: lc[1].after.layer))


def _duplicated(before: Installed, size: int) -> str:
    if before.size_known:
        return f"{format_bytes(size)} duplicated"
    return "its bytes are duplicated (how many is unknown: its index could not be read)"


def _replaced(ctx: AuditContext, changes: list[tuple[LayerReplay, Replacement]]) -> Saving:
    layer, first = changes[0]
    before, after = first.before, first.after
    severity = Severity.ERROR if ctx.heavy(after.name) else Severity.WARNING
    duplicated = before.size * len(changes)
    if len(changes) == 1:
        message = (
            f"{layer.step.location} replaces {before.name} {before.version} (from "
            f"{before.layer}) with {after.version}{required_by(after)}: "
            f"{_duplicated(before, before.size)}"
        )
        hint = (
            f"keep {before.name} {before.version}: pin the requirement at {after.where} to "
            f"a release that accepts it, or change {before.name} in {before.layer}"
        )
        image = after.layer
    else:
        by_version: dict[Version, list[str]] = {}
        for _, change in changes:
            by_version.setdefault(change.after.version, []).append(change.after.layer)
        where = "; ".join(
            f"{_and(images)} (by {version})" for version, images in by_version.items()
        )
        message = (
            f"{before.name} {before.version} of {before.layer} is replaced in {where}: "
            f"{_duplicated(before, duplicated)}"
        )
        hint = (
            f"keep {before.name} {before.version}: pin the requirements that replace it to "
            f"releases that accept it, or change {before.name} in {before.layer}"
        )
        image = before.layer
    related = tuple(
        dict.fromkeys(c.after.where for _, c in changes[1:] if c.after.where != after.where)
    )
    finding = reinstalls_parent_package.finding(
        message,
        after.where,
        image=image,
        package=after.name,
        hint=hint,
        severity=severity,
        related=related,
    )
    return Saving(finding, duplicated)


def _and(items: Sequence[str]) -> str:
    """``a, b and c``."""
    return " and ".join((", ".join(items[:-1]), items[-1])) if len(items) > 1 else "".join(items)


def _broken(replay: ImageReplay, target: Target) -> dict[tuple[str, str], tuple[str, Location]]:
    """(package, requirement) → (message, where) for every unmet requirement in the image."""
    env = {item.name: item for item in replay.environment}
    markers = target.marker_environment()
    found: dict[tuple[str, str], tuple[str, Location]] = {}
    for item in replay.environment:
        for requirement in item.metadata.requires_dist if item.metadata else ():
            marker = requirement.marker
            if marker is not None and not marker.evaluate({**markers, "extra": ""}):
                continue
            dep = env.get(normalize(requirement.name))
            key = (item.name, str(requirement))
            side = f"{item.name} {item.version} (from {item.layer}) requires {requirement}"
            if dep is None:
                found[key] = (f"{side}, which is not installed", item.where)
            elif not requirement.specifier.contains(dep.version, prereleases=True):
                later = dep if dep.layer == replay.image else item
                found[key] = (
                    f"{side}, but {dep.name} {dep.version} is installed (by {dep.layer}, "
                    f"{dep.where})",
                    later.where,
                )
    return found


@_rule(
    "broken-environment",
    Severity.ERROR,
    "an installed package's requirement is no longer met (what pip check says in the image)",
)
def broken_environment(ctx: AuditContext) -> Iterator[Finding]:
    broken: dict[str, dict[tuple[str, str], tuple[str, Location]]] = {}
    for replay in ctx.replays.values():
        image = ctx.image(replay.image)
        broken[replay.image] = mine = _broken(replay, image.target)
        if not replay.complete:
            continue  # a package may be missing only because a step could not be replayed
        inherited = broken.get(replay.parent, {}) if replay.parent else {}
        for key, (message, where) in sorted(mine.items()):
            if key in inherited:
                continue
            yield broken_environment.finding(
                message,
                where,
                image=replay.image,
                package=key[0],
                hint="pin both sides in one step so pip resolves them together",
            )


@_rule("install-conflict", Severity.ERROR, "a pip install step cannot be resolved: the build fails")
def install_conflict(ctx: AuditContext) -> Iterator[Finding]:
    for replay, layer in _layers(ctx):
        if layer.step.masked is not None and not layer.step.masked.rethrows:
            continue  # the build goes on: install-failure-hidden (shellrules) reports it
        for conflict in layer.conflicts:
            yield install_conflict.finding(
                _conflict_text(conflict),
                _blamed(conflict, layer.step.location),
                image=replay.image,
                package=_contested(conflict),
                hint=conflict.suggestion,
                related=conflict.related,
            )


def _conflict_text(conflict: Conflict) -> str:
    """The summary, and the links it leaves out (``a selects b``, ``b requires c``): each said
    once, never the chain repeated under its own summary."""
    return "; ".join((conflict.summary, *conflict.via))


def _blamed(conflict: Conflict, fallback: Location) -> Location:
    """The line of the requirement that conflicts (not merely the first file in order)."""
    if conflict.blame is not None:
        return conflict.blame
    return conflict.origins[0] if conflict.origins else fallback


def _contested(conflict: Conflict) -> str | None:
    if conflict.contested:
        return conflict.contested
    return conflict.packages[0] if conflict.packages else None


# --------------------------------------------------------------------------- the matrix


@_rule(
    "matrix-conflict",
    Severity.ERROR,
    "the pins of versions.txt cannot be installed together on a target",
)
def matrix_conflict(ctx: AuditContext) -> Iterator[Finding]:
    versions = ctx.check.versions
    if versions is None or not versions.pins:
        return
    seen: dict[str, list[str]] = {}
    found: dict[str, Finding] = {}
    for target in _targets(ctx.workspace):
        roots = [
            RootRequirement(
                _for_target(pin.requirement, target),
                Origin(pin.location, None, RequirementKind.REQUIREMENT),
            )
            for pin in versions.pins
            if not pin.requirement.url
        ]
        conflicts, failure = explain_every(ctx.source, target, roots)
        if failure is not None:
            rest = " beyond the conflicts below" if conflicts else ""
            yield index_unreachable.finding(
                f"{failure.url} could not be reached ({failure.message}): the matrix is "
                f"unverified on {target.describe()}{rest}",
                Location(versions.path),
                hint=_mirror_hint(failure.url),
            )
        for conflict in conflicts:
            text = _conflict_text(conflict)
            seen.setdefault(text, []).append(target.describe())
            found.setdefault(
                text,
                matrix_conflict.finding(
                    text,
                    _blamed(conflict, Location(versions.path)),
                    package=_contested(conflict),
                    hint=conflict.suggestion,
                    related=conflict.related,
                ),
            )
    for text, finding in found.items():
        on = "; ".join(seen[text])
        yield replace(finding, message=f"{finding.message} (on {on})")


def _targets(workspace: Workspace) -> list[Target]:
    return list(dict.fromkeys(image.target for image in workspace.images))


def _for_target(requirement: Requirement, target: Target) -> Requirement:
    if target.variant is not Variant.CPU or "+cu" not in str(requirement.specifier):
        return requirement
    relaxed = re.sub(r"\+cu\d+", "", str(requirement.specifier))
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return Requirement(f"{requirement.name}{relaxed}{marker}")


# --------------------------------------------------------------------------- drift, hoisting


def _root_of(workspace: Workspace, key: str) -> str:
    ancestors = workspace.ancestors(key)
    return ancestors[0].key if ancestors else key


def _fresh(ctx: AuditContext, replay: ImageReplay) -> Iterator[Installed]:
    """Packages this image installs that its parent does not have at all."""
    parent = ctx.replays.get(replay.parent) if replay.parent else None
    for layer in replay.layers:
        for item in layer.installed:
            if parent is None or parent.package(item.name) is None:
                yield item


@_rule("version-drift", Severity.WARNING, "one package at different versions in images of a base")
def version_drift(ctx: AuditContext) -> Iterator[Finding]:
    groups: dict[tuple[str, NormalizedName], dict[Version, list[Installed]]] = {}
    for replay in ctx.replays.values():
        base = _root_of(ctx.workspace, replay.image)
        for item in _fresh(ctx, replay):
            groups.setdefault((base, item.name), {}).setdefault(item.version, []).append(item)
    for (base, name), versions in sorted(groups.items()):
        if len(versions) < 2:
            continue
        ordered = sorted(versions.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        odd = ordered[-1][1][0]
        listing = "; ".join(
            f"{version} in {', '.join(item.layer for item in items)}" for version, items in ordered
        )
        yield version_drift.finding(
            f"{name} is installed at {len(versions)} versions in images built on {base}: {listing}",
            odd.where,
            image=odd.layer,
            package=name,
            hint="pin one version in versions.txt and use it in every image of this base",
        )


@_rule(
    "hoist-candidate",
    Severity.INFO,
    "a package installed identically by sibling images, or by a base no child needs it from",
)
def hoist_candidate(ctx: AuditContext) -> Iterator[Saving]:
    yield from _siblings(ctx)
    yield from _unused_in_base(ctx)


def _siblings(ctx: AuditContext) -> Iterator[Saving]:
    """One finding per parent and set of children: the releases they all install alike."""
    for parent in ctx.replays.values():
        same: dict[tuple[NormalizedName, Version], list[Installed]] = {}
        for child in ctx.workspace.children(parent.image):
            replay = ctx.replays.get(child.key)
            for item in _fresh(ctx, replay) if replay else ():
                same.setdefault((item.name, item.version), []).append(item)
        by_children: dict[tuple[str, ...], list[list[Installed]]] = {}
        for _, items in sorted(same.items()):
            if len(items) >= 2:
                by_children.setdefault(tuple(i.layer for i in items), []).append(items)
        for children, groups in by_children.items():
            yield _hoist(parent.image, children, groups)


def _hoist(parent: str, children: tuple[str, ...], groups: list[list[Installed]]) -> Saving:
    saved = sum((len(items) - 1) * items[0].size for items in groups)
    first = groups[0][0]
    if len(groups) == 1:
        message = (
            f"{first.name} {first.version} is installed by {len(children)} children of {parent} "
            f"({', '.join(children)}): installing it once in {parent} saves {format_bytes(saved)}"
        )
        hint = f"move {first.name}=={first.version} into {parent}"
    else:
        names = [f"{items[0].name} {items[0].version}" for items in groups]
        message = (
            f"{len(groups)} releases are installed alike by {len(children)} children of "
            f"{parent} ({', '.join(children)}): {_truncated(names)}; installing them once in "
            f"{parent} saves {format_bytes(saved)}"
        )
        hint = f"move them into {parent}"
    finding = hoist_candidate.finding(
        message,
        first.where,
        image=parent,
        package=first.name if len(groups) == 1 else None,
        hint=hint,
    )
    return Saving(finding, saved)


_SHOWN = 8  # names listed before a long list is cut


def _truncated(names: Sequence[str]) -> str:
    """The first names, then an ellipsis and how many were left out."""
    rest = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f", ... ({rest} more)" if rest > 0 else "")


def _unused_in_base(ctx: AuditContext) -> Iterator[Saving]:
    for replay in ctx.replays.values():
        children = [ctx.replays[c.key] for c in ctx.workspace.children(replay.image)]
        below = [r for r in ctx.replays.values() if replay.image in _chain(ctx.workspace, r)]
        if not children or any(not r.complete for r in below):
            continue
        needed = _needed_by(replay.environment)
        for image in below:
            needed |= _needed_by(image.own) | _asked_by(image)
        for item in replay.own:
            if item.requested_at is None or item.name in needed:
                continue
            saved = item.size * len(children)
            finding = hoist_candidate.finding(
                f"{item.name} {item.version} is installed in {replay.image} but none of its "
                f"{len(children)} child images needs it: {format_bytes(saved)} across them",
                item.where,
                image=replay.image,
                package=item.name,
                severity=Severity.INFO,
                hint="install it in the images whose code imports it (or keep it and say why)",
            )
            yield Saving(finding, saved)


def _needed_by(items: Iterable[Installed]) -> set[NormalizedName]:
    return {
        normalize(req.name)
        for item in items
        if item.metadata
        for req in item.metadata.requires_dist
    }


def _asked_by(replay: ImageReplay) -> set[NormalizedName]:
    return {
        root.name
        for layer in replay.layers
        for root in layer.step.roots
        if root.origin.kind is RequirementKind.REQUIREMENT
    }


# --------------------------------------------------------------------------- CUDA and torch


_CUDA_LABEL = re.compile(r"^cu(\d+)(\d)$")
_CUDA_TAG = re.compile(r"cuda:(\d+)\.(\d+)")
# the CUDA runtime a torch build pins: nvidia-cuda-runtime-cu12 (CUDA 12), the CUDA 13 names
# (nvidia-cuda-runtime-cu13, nvidia-cuda-runtime) and the cuda-toolkit meta-package
_CUDA_RUNTIME = re.compile(r"^(nvidia-cuda-runtime(-cu\d+)?|cuda-toolkit)$")
_CUDA_VERSIONED = re.compile(r"^nvidia-(cuda-[a-z]+|cublas)-cu\d+$")


def _is_cuda_wheel(item: Installed) -> bool:
    label = item.version.local or ""
    if item.name in NOT_CUDA_RUNTIME:
        return False
    return item.name.startswith("nvidia-") or bool(_CUDA_LABEL.match(label))


@_rule("cuda-in-cpu-image", Severity.ERROR, "a CPU image installs CUDA wheels")
def cuda_in_cpu_image(ctx: AuditContext) -> Iterator[Saving]:
    """One finding per set of CUDA wheels, however many CPU images install that same set."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, LayerReplay, list[Installed]]]] = {}
    for replay in ctx.replays.values():
        if ctx.image(replay.image).variant is not Variant.CPU:
            continue
        for layer in replay.layers:
            cuda = sorted(
                (
                    i
                    for i in (*layer.installed, *(r.after for r in layer.replaced))
                    if _is_cuda_wheel(i)
                ),
                key=lambda i: -i.size,
            )
            if cuda:
                key = tuple(sorted((i.name, str(i.version)) for i in cuda))
                groups.setdefault(key, []).append((replay.image, layer, cuda))
    for members in groups.values():
        yield _cuda_in_cpu(ctx.workspace, sorted(members, key=lambda m: m[0]))


def provenance(workspace: Workspace, item: Installed) -> str:
    """Said when a mirror served ``item``'s index: "torch came from <index>, which
    [tool.lockaudit.mirrors] serves from <mirror>" ("" when it came from the index itself).

    The candidate keeps the index it was asked of (the routed one); the mirror is the
    workspace's, else this machine's ``LOCKAUDIT_INDEX_MIRRORS``.
    """
    index = item.candidate.index
    dest, by = workspace.mirror_of(index), "[tool.lockaudit.mirrors]"
    if dest is None:
        rewritten = Mirrors.from_env().rewrite(index)
        dest, by = (rewritten, MIRRORS_ENV) if rewritten != index else (None, "")
    if dest is None:
        return ""
    where = "the default index" if dest == "default" else split_credentials(dest)[0]
    return f"{item.name} came from {split_credentials(index)[0]}, which {by} serves from {where}"


def _cuda_in_cpu(
    workspace: Workspace, members: list[tuple[str, LayerReplay, list[Installed]]]
) -> Saving:
    image, layer, cuda = members[0]
    each = sum(item.size for item in cuda)
    names = _truncated([f"{item.name} {item.version}" for item in cuda])
    first = next((i for i in cuda if i.name.startswith("torch")), cuda[0])
    if len(members) == 1:
        message = (
            f"{layer.step.location} installs CUDA wheels into a CPU image: {names} "
            f"({format_bytes(each)})"
        )
    else:
        images = _and([m[0] for m in members])
        message = (
            f"{images} install the same CUDA wheels into CPU images: {names} "
            f"({format_bytes(each)} each)"
        )
    places = (next((i for i in m[2] if i.name == first.name), m[2][0]).where for m in members)
    related = tuple(dict.fromkeys(p for p in places if p != first.where))
    mirrored = provenance(workspace, first)
    hint = (
        "install torch from the CPU wheel index in CPU images "
        "(--index-url of the +cpu builds), so no nvidia-* wheel is pulled in"
    )
    if mirrored:
        message += f"; {mirrored}: the mirror has no +cpu builds, so it serves the CUDA one"
        hint = "where the CPU index is reachable, drop its mirror and run again; " + hint
    finding = cuda_in_cpu_image.finding(
        message,
        first.where,
        image=image if len(members) == 1 else None,
        package=first.name,
        hint=hint,
        related=related,
    )
    return Saving(finding, each * len(members))


def base_cuda(ctx: AuditContext, image: Image) -> str | None:
    """The CUDA version (``12.1``) of the image's base image tag, else its target's."""
    chain = [*ctx.workspace.ancestors(image.key), image]
    root = chain[0]
    reference = root.base_image
    dockerfile = ctx.check.dockerfiles.get(root.key)
    if reference is None and dockerfile is not None and dockerfile.stages:
        reference = dockerfile.stages[0].from_line.image
    match = _CUDA_TAG.search(reference or "")
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    return image.target.cuda


def torch_cuda(item: Installed) -> str | None:
    """CUDA version of a torch build: its ``+cuXYZ`` label, else its CUDA runtime pin (the
    index's torch carries no label: 2.7.0 pins nvidia-cuda-runtime-cu12==12.6.77)."""
    match = _CUDA_LABEL.match(item.version.local or "")
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    for requirement in item.metadata.requires_dist if item.metadata else ():
        if _CUDA_RUNTIME.match(normalize(requirement.name)):
            for spec in requirement.specifier:
                if spec.operator == "==":
                    return ".".join(spec.version.split(".")[:2])
    return None


@_rule("cuda-mismatch", Severity.ERROR, "torch's CUDA runtime differs from the base image's CUDA")
def cuda_mismatch(ctx: AuditContext) -> Iterator[Finding]:
    for replay in ctx.replays.values():
        image = ctx.image(replay.image)
        torch = replay.package("torch")
        if image.variant is not Variant.CUDA or torch is None or torch.layer != replay.image:
            continue
        expected, actual = base_cuda(ctx, image), torch_cuda(torch)
        if expected and actual and expected != actual:
            yield cuda_mismatch.finding(
                f"torch {torch.version} is built for CUDA {actual}, but the base image of "
                f"{image.key} has CUDA {expected}",
                torch.where,
                image=image.key,
                package="torch",
                hint=f"install the torch build for CUDA {expected} (its wheel index), or change "
                f"the base image to CUDA {actual}",
            )


def _expected_companion(name: str, torch: Version) -> str | None:
    """``major.minor`` of the torchaudio / torchvision release train of ``torch``."""
    if name == "torchaudio":
        return f"{torch.major}.{torch.minor}" if torch.major >= 2 else f"0.{torch.minor}"
    if name == "torchvision":
        return f"0.{torch.minor + 15}" if torch.major >= 2 else f"0.{torch.minor + 1}"
    return None


def _declares_torch(item: Installed) -> bool:
    return any(
        normalize(req.name) == "torch"
        for req in (item.metadata.requires_dist if item.metadata else ())
    )


@_rule(
    "torch-family-mismatch",
    Severity.ERROR,
    "torchaudio/torchvision or CUDA wheels that do not belong with the image's torch",
)
def torch_family_mismatch(ctx: AuditContext) -> Iterator[Finding]:
    for replay in ctx.replays.values():
        torch = replay.package("torch")
        if torch is None:
            continue
        for name in ("torchaudio", "torchvision"):
            item = replay.package(name)
            if item is None or replay.image not in (item.layer, torch.layer):
                continue
            problem = _companion_problem(item, torch)
            if problem:
                yield torch_family_mismatch.finding(
                    problem,
                    item.where if item.layer == replay.image else torch.where,
                    image=replay.image,
                    package=name,
                    hint=f"pin {name} to the release of torch {torch.version.public}'s train "
                    "and install both from the same wheel index in one step",
                )
        yield from _mixed_cuda(replay, torch)


def _companion_problem(item: Installed, torch: Installed) -> str | None:
    expected = _expected_companion(item.name, torch.version)
    actual = f"{item.version.major}.{item.version.minor}"
    label, torch_label = item.version.local or "", torch.version.local or ""
    if expected and expected != actual and not _declares_torch(item):
        return (
            f"{item.name} {item.version} belongs with torch {_train_of(item)}, but torch "
            f"{torch.version} is installed; {item.name} declares no torch requirement, so "
            "nothing stops the pairing"
        )
    if label and torch_label and label != torch_label:
        return (
            f"{item.name} {item.version} is the +{label} build, but torch {torch.version} "
            f"is the +{torch_label} build"
        )
    return None


def _train_of(item: Installed) -> str:
    major, minor = item.version.major, item.version.minor
    if item.name == "torchaudio":
        return f"{major}.{minor}" if major >= 2 else f"1.{minor}"
    return f"2.{minor - 15}" if minor >= 15 else f"1.{minor - 1}"


def _mixed_cuda(replay: ImageReplay, torch: Installed) -> Iterator[Finding]:
    cuda = torch_cuda(torch)
    if cuda is None:
        return
    for item in replay.own:
        if not _CUDA_VERSIONED.match(item.name):
            continue
        minor = ".".join(item.version.public.split(".")[:2])
        if minor != cuda:
            yield torch_family_mismatch.finding(
                f"{item.name} {item.version} is a CUDA {minor} wheel{required_by(item)}, but torch "
                f"{torch.version} runs on CUDA {cuda}",
                item.where,
                image=replay.image,
                package=item.name,
                hint=f"pin {item.name} to torch's release (CUDA {cuda}), so an unpinned "
                "requirement cannot pull another CUDA minor",
            )


# --------------------------------------------------------------------------- builds, pins


_COMPILER = re.compile(r"\b(build-essential|gcc|g\+\+|clang)\b")
_NO_COMPILER_BASE = re.compile(r"(slim|alpine|cuda:[^ ]*-(runtime|base))")


def has_compiler(ctx: AuditContext, image: Image) -> bool:
    """Whether a C compiler is available when ``image``'s steps run (see the module docstring)."""
    chain = [*ctx.workspace.ancestors(image.key), image]
    for member in chain:
        dockerfile = ctx.check.dockerfiles.get(member.key)
        for stage in dockerfile.stages if dockerfile else ():
            for instruction in stage.instructions:
                if instruction.keyword == "RUN" and _COMPILER.search(instruction.value):
                    return True
    dockerfile = ctx.check.dockerfiles.get(chain[0].key)
    base = chain[0].base_image or (dockerfile.stages[0].from_line.image if dockerfile else "")
    return not _NO_COMPILER_BASE.search(base or "")


@_rule(
    "needs-build", Severity.WARNING, "a package needs a source build on an image without a compiler"
)
def needs_build(ctx: AuditContext) -> Iterator[Finding]:
    """One finding per release and reason, listing every image it concerns.

    An image with a compiler builds the sdist: said only when the step is hash-pinned, since
    pip then runs the package's build code with build dependencies no hash checks.
    """
    groups: dict[tuple[str, str, str, bool], list[tuple[Image, Location, str]]] = {}
    key: tuple[str, str, str, bool]
    for replay in ctx.replays.values():
        image = ctx.image(replay.image)
        compiler = has_compiler(ctx, image)
        for layer in replay.layers:
            present = {(i.name, i.version): i for i in (*layer.installed,
                                                        *(r.after for r in layer.replaced))}
            for skipped in layer.needs_build:
                item = present.get((skipped.name, skipped.version))
                if compiler:
                    if item is None or not _hash_pinned(ctx, item.requested_at):
                        continue
                    why = f"no wheel ({skipped.reason}){required_by(item)}"
                    key = (skipped.name, str(skipped.version), why, True)
                    groups.setdefault(key, []).append((image, item.where, "source"))
                    continue
                key = (skipped.name, str(skipped.version), f"({skipped.reason})", False)
                groups.setdefault(key, []).append((image, layer.step.location, "source"))
            reported = {(b.name, b.version) for b in layer.needs_build}
            for item in present.values():
                if (item.name, item.version) in reported:
                    continue
                if item.candidate.files and not item.candidate.has_wheel:
                    if compiler and not _hash_pinned(ctx, item.requested_at):
                        continue
                    why = f"no wheel for {image.target.describe()}{required_by(item)}"
                    key = (item.name, str(item.version), why, compiler)
                    groups.setdefault(key, []).append((image, item.where, "wheel"))
    for (name, version, why, compiler), sites in groups.items():
        ordered = sorted(sites, key=lambda site: site[0].key)
        yield (_built_unhashed if compiler else _needs_build)(name, version, why, ordered)


def _hash_pinned(ctx: AuditContext, where: Location | None) -> bool:
    """Whether the requirement line at ``where`` carries ``--hash`` values."""
    parsed = ctx.check.requirement_files.get(where.path) if where else None
    return parsed is not None and any(
        line.location == where and line.hashes for line in parsed.requirements
    )


def _built_unhashed(
    name: str, version: str, why: str, sites: list[tuple[Image, Location, str]]
) -> Finding:
    images = [image.key for image, _, _ in sites]
    image, where, _ = sites[0]
    return needs_build.finding(
        f"{name} {version} has {why}: pip builds it from source in {_and(images)} — it runs "
        "the package's build code, and the build dependencies it fetches are checked by no "
        "hash of the hash-pinned file",
        where,
        image=image.key if len(sites) == 1 else None,
        package=normalize(name),
        hint="pin a release with a wheel for the target, or build the wheel once in a builder "
        "stage and install that file by its hash",
        related=tuple(dict.fromkeys(w for _, w, _ in sites[1:] if w != where)),
    )


def _needs_build(
    name: str, version: str, why: str, sites: list[tuple[Image, Location, str]]
) -> Finding:
    images = [image.key for image, _, _ in sites]
    who = f"{images[0]} has" if len(images) == 1 else f"{_and(images)} have"
    image, where, kind = sites[0]
    if kind == "source":
        message = f"{name} {version} can only be installed from source {why} and {who} no compiler"
        hint = "pin a release with a wheel for the target, or add build tools"
    else:
        message = f"{name} {version} has {why}: pip builds it from source, and {who} no compiler"
        hint = "pin a release with a wheel for the target, or add build tools in a builder stage"
    related = tuple(dict.fromkeys(w for _, w, _ in sites[1:] if w != where))
    return needs_build.finding(
        message,
        where,
        image=image.key if len(sites) == 1 else None,
        package=normalize(name),
        hint=hint,
        related=related,
    )


@_rule("yanked-pin", Severity.WARNING, "an install picks a yanked release")
def yanked_pin(ctx: AuditContext) -> Iterator[Finding]:
    for replay in ctx.replays.values():
        for item in replay.own:
            reason = item.candidate.yanked
            if reason is not None:
                why = f" ({reason})" if reason else ""
                yield yanked_pin.finding(
                    f"{item.name} {item.version} is yanked{why}",
                    item.where,
                    image=replay.image,
                    package=item.name,
                    hint="pin the next release that is not yanked",
                )


@_rule("vulnerable-pin", Severity.ERROR, "an installed release has known vulnerabilities")
def vulnerable_pin(ctx: AuditContext) -> Iterator[Finding]:
    if ctx.vulns is None:
        return
    owned = [(r, item) for r in ctx.replays.values() for item in r.own]
    try:
        known = ctx.vulns.query((item.name, item.version) for _, item in owned)
    except (IndexFetchError, OfflineMissError) as e:
        yield index_unreachable.finding(
            f"{e.url} could not be reached ({e.message}): vulnerabilities are unverified",
            ctx.workspace.config_location,
            hint=_mirror_hint(e.url),
            severity=Severity.WARNING,
        )
        return
    for replay, item in owned:
        found = known.get((item.name, item.version), ())
        if found:
            yield _vulnerable(replay, item, found)


def _vulnerable(replay: ImageReplay, item: Installed, found: Sequence[Vulnerability]) -> Finding:
    ids = ", ".join(sorted(v.id for v in found))
    fixes = sorted(f for v in found for f in v.fixed_in if f > item.version)
    fixed = f"; first fixed in {fixes[0]}" if fixes else "; no fixed release yet"
    return vulnerable_pin.finding(
        f"{item.name} {item.version} has known vulnerabilities: {ids}{fixed}",
        item.where,
        image=replay.image,
        package=item.name,
        hint=f"pin {item.name}>={fixes[0]}" if fixes else "watch the advisories; no fix exists",
        severity=Severity.ERROR if fixes else Severity.WARNING,
    )


# --------------------------------------------------------------------------- unverified


def _mirror_hint(url: str) -> str:
    return (
        f"if a mirror of it is reachable, set {MIRRORS_ENV}='{url}=<mirror URL>' (or pip's "
        "index-url) and run again"
    )


@_rule(
    "index-unreachable",
    Severity.ERROR,
    "an index could not be reached: the lines that use it, and what depends on them, are "
    "unverified",
)
def index_unreachable(ctx: AuditContext) -> Iterator[Finding]:
    for replay, layer in _layers(ctx):
        if layer.unreachable is None:
            continue
        below = [c.key for c in ctx.workspace.images if replay.image in _chain(ctx.workspace, c)]
        after = f"; {', '.join(below)} built on it too" if below else ""
        yield index_unreachable.finding(
            f"{layer.unreachable.url} could not be reached ({layer.unreachable.message}): "
            f"this layer is unverified{after}",
            layer.step.location,
            image=replay.image,
            hint=_mirror_hint(layer.unreachable.url),
        )


def _chain(workspace: Workspace, image: Image | ImageReplay) -> list[str]:
    key = image.key if isinstance(image, Image) else image.image
    return [a.key for a in workspace.ancestors(key)]


@_rule(
    "replay-skipped", Severity.INFO, "part of a pip install step could not be replayed as written"
)
def replay_skipped(ctx: AuditContext) -> Iterator[Finding]:
    for replay, layer in _layers(ctx):
        step = layer.step
        notes = [n for n in (step.problem, step.note) if n]
        if step.skipped:
            notes.append(f"not from an index, not audited: {', '.join(step.skipped)}")
        for note in notes:
            yield replay_skipped.finding(
                note,
                step.location,
                image=replay.image,
                severity=Severity.WARNING if note == step.problem else Severity.INFO,
                hint="run `lockaudit compile` to make the lock" if step.note else None,
            )
