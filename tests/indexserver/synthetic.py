"""Synthetic index scenarios and matching workspaces, for scale tests and benchmarks.

One :class:`SyntheticSpec` (image count, package count, shape, seed) gives two things that fit
together:

- :func:`synthetic_scenario`: a :class:`~tests.indexserver.scenario.Scenario` with one index,
  ``default``, serving ``spec.packages`` generated projects (real wheels, tiny);
- :func:`write_workspace`: a lockaudit workspace on disk (``pyproject.toml`` with
  ``[tool.lockaudit]``, Dockerfiles, requirement files, ``versions.txt``) whose images require
  only packages of that scenario, so ``lockaudit compile --all`` resolves every image.

Typical use (a 200-image / 5,000-package scale test)::

    from tests.indexserver import IndexServer
    from tests.indexserver.synthetic import SCALE_SERIES, synthetic_scenario, write_workspace,
        write_pip_config

    spec = SCALE_SERIES[-1]                      # 200 images over 5,000 packages
    with IndexServer(synthetic_scenario(spec)) as server:
        ws = write_workspace(tmp_path / "ws", spec)
        conf = write_pip_config(tmp_path / "pip.conf", server.index_url())
        # run with PIP_CONFIG_FILE=conf (and no other PIP_* variables)

The shape, all deterministic for a given spec (``random.Random(seed)``):

- **Layers.** Regular packages (``syn-00042``) sit on ``depth`` levels; a package of level L
  depends on one package of level L+1 near its own position (a deep chain) and, with
  probability ``extra_dep_rate``, on a second one. Closures stay local, so an image pulls in a
  few hundred packages, not the whole index.
- **Releases.** Each project has ``releases`` versions ``1.0.0``, ``2.0.0``, …; some
  dependencies carry an upper bound that excludes the newest release, and some newest releases
  need Python >=3.12, so a resolver must look past "newest" on a 3.11 target.
- **Backtracking traps** (``traps`` of them, ``syn-trap-N``): every release of the trap but the
  oldest needs ``syn-bait-N>=2``; a guard chain (``syn-guard-N`` → ``-a`` → ``-b``) reached
  through the same image needs ``syn-bait-N<2``. A resolver that picks the newest trap first
  only learns of the conflict three levels down and must backtrack through every release.
- **Files.** Wheels alternate between ``py3-none-any`` and a manylinux cp311 tag; their PEP 658
  metadata is served in the rotation ``metadata_modes`` (advertised by default, as the public
  index does for new uploads).
- **Images.** ``base:cpu`` installs ``requirements-common.txt``; ``max(1, images // 10)``
  ``ml-NN:cpu`` images build on it; the remaining stage images (``stage-NNN:cpu``) build on the
  ml images in rotation. All images are CPU images of one target (CPython 3.11.7, manylinux
  glibc 2.35, x86_64); pins of the requirement files are repeated in ``versions.txt``.

Decisions: one index only (routing is exercised by the PyTorch-style scenarios); requirement
lines are ranges (``>=1.0``), not pins, so compile has real choices to make; Dockerfiles follow
the embedded workspace's pattern (parent by ``ARG PARENT_IMAGE``, a layer lock installed with
``--require-hashes``) so ``lockaudit check`` has the same kind of work per image. Each
:class:`~tests.indexserver.scenario.IndexSpec` is an :class:`IndexedSpec`, whose ``project``
lookup is a dict instead of a scan: the server looks a project up on every request, and a
5,000-project scan per request would make the server the bottleneck of any measurement.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.indexserver.scenario import (
    FileSpec,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
)

__all__ = [
    "SCALE_SERIES",
    "IndexedSpec",
    "SyntheticSpec",
    "SyntheticWorkspace",
    "synthetic_scenario",
    "write_pip_config",
    "write_workspace",
]

MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
PURE = "py3-none-any"
PYTHON = "3.11.7"
_TRAP_SIZE = 5  # trap, bait, guard, guard-a, guard-b


@dataclass(frozen=True)
class SyntheticSpec:
    """The size and shape of a synthetic workspace and its index (see the module docstring)."""

    images: int = 10
    packages: int = 500
    releases: int = 3
    depth: int = 12
    roots_per_image: int = 3
    common_roots: int = 4
    traps: int = 2
    extra_dep_rate: float = 0.3
    upper_bound_rate: float = 0.1
    new_python_rate: float = 0.1
    metadata_modes: tuple[MetadataMode, ...] = (MetadataMode.ADVERTISED,)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.images < 2:
            raise ValueError("a synthetic workspace has at least base:cpu and one ml image")
        if self.regular < self.depth * 2:
            raise ValueError(
                f"{self.packages} packages leave too few regular ones for depth {self.depth}"
            )

    @property
    def regular(self) -> int:
        """Packages on the levels (everything but the traps)."""
        return self.packages - self.traps * _TRAP_SIZE

    @property
    def label(self) -> str:
        return f"{self.images}x{self.packages}"


# 10, 50 and 200 images over indexes of growing size: the benchmark's scale series.
SCALE_SERIES = (
    SyntheticSpec(images=10, packages=500, traps=2),
    SyntheticSpec(images=50, packages=2000, traps=5),
    SyntheticSpec(images=200, packages=5000, traps=10),
)


@dataclass(frozen=True)
class IndexedSpec(IndexSpec):
    """An IndexSpec whose ``project(name)`` is a dict lookup (same values, same equality)."""

    _by_name: Mapping[str, Project] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        table = {canonicalize_name(p.name): p for p in self.projects}
        object.__setattr__(self, "_by_name", table)

    def project(self, name: str) -> Project | None:
        return self._by_name.get(canonicalize_name(name))


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class _Layout:
    """Names of the regular packages, level by level."""

    levels: tuple[tuple[str, ...], ...]
    capped: frozenset[str]  # every dependent of these excludes their newest release

    @classmethod
    def of(cls, spec: SyntheticSpec) -> _Layout:
        width = len(str(spec.packages))
        names = [f"syn-{i:0{width}d}" for i in range(spec.regular)]
        size = len(names) // spec.depth
        levels = [names[d * size : (d + 1) * size] for d in range(spec.depth)]
        levels[-1] += names[spec.depth * size :]  # the remainder joins the leaves
        # A cap belongs to the package, not to one edge: all dependents agree, so an image
        # never needs a release its parent's lock did not choose (the workspace stays
        # resolvable layer by layer), yet "newest" is wrong for every capped package.
        rng = random.Random(spec.seed + 2)
        below_top = names[2 * size :]  # images ask for levels 0 and 1 directly, uncapped
        count = int(len(below_top) * spec.upper_bound_rate) if spec.releases > 1 else 0
        capped = frozenset(rng.sample(below_top, count))
        return cls(tuple(tuple(level) for level in levels), capped)

    def near(self, level: int, position: int, rng: random.Random) -> str:
        """A package of ``level`` close to ``position`` of the level above (local closures)."""
        names = self.levels[level]
        scaled = position * len(names) // max(1, len(self.levels[level - 1]))
        return names[(scaled + rng.randint(-2, 2)) % len(names)]


def _version(index: int) -> str:
    return f"{index + 1}.0.0"


def _file(spec: SyntheticSpec, counter: int, tags: str) -> FileSpec:
    mode = spec.metadata_modes[counter % len(spec.metadata_modes)]
    return FileSpec(kind="wheel", tags=tags, metadata=mode)


def _regular_project(
    spec: SyntheticSpec, layout: _Layout, level: int, position: int, rng: random.Random
) -> Project:
    name = layout.levels[level][position]
    deps: list[str] = []
    if level + 1 < spec.depth:
        wanted = {layout.near(level + 1, position, rng)}
        if rng.random() < spec.extra_dep_rate:
            wanted.add(layout.near(level + 1, position, rng))
        for dep in sorted(wanted):
            capped = dep in layout.capped
            deps.append(f"{dep}>=1.0,<{spec.releases}" if capped else f"{dep}>=1.0")
    tags = MANYLINUX if (level + position) % 2 else PURE
    newest_needs_312 = spec.releases > 1 and rng.random() < spec.new_python_rate
    releases = []
    for i in range(spec.releases):
        newest = i == spec.releases - 1
        python = ">=3.12" if newest and newest_needs_312 else ">=3.8"
        files = (_file(spec, level + position + i, tags),)
        releases.append(Release(_version(i), tuple(deps), python, files=files))
    return Project(name, tuple(releases))


def _trap_projects(spec: SyntheticSpec, number: int) -> tuple[Project, ...]:
    trap, bait, guard = (f"syn-{kind}-{number}" for kind in ("trap", "bait", "guard"))
    pure = (FileSpec(kind="wheel", tags=PURE, metadata=spec.metadata_modes[0]),)
    trap_releases = tuple(
        Release(_version(i), (f"{bait}<2",) if i == 0 else (f"{bait}>=2",), files=pure)
        for i in range(max(2, spec.releases + 2))  # more releases: more to backtrack through
    )
    return (
        Project(trap, trap_releases),
        Project(bait, tuple(Release(_version(i), files=pure) for i in range(2))),
        Project(guard, (Release("1.0.0", (f"{guard}-a",), files=pure),)),
        Project(f"{guard}-a", (Release("1.0.0", (f"{guard}-b",), files=pure),)),
        Project(f"{guard}-b", (Release("1.0.0", (f"{bait}<2",), files=pure),)),
    )


@lru_cache(maxsize=8)
def synthetic_scenario(spec: SyntheticSpec) -> Scenario:
    """The index of ``spec``: one ``default`` index of ``spec.packages`` projects."""
    rng = random.Random(spec.seed)
    layout = _Layout.of(spec)
    projects: list[Project] = []
    for level, names in enumerate(layout.levels):
        for position in range(len(names)):
            projects.append(_regular_project(spec, layout, level, position, rng))
    for number in range(spec.traps):
        projects.extend(_trap_projects(spec, number))
    return Scenario((IndexedSpec("default", tuple(projects)),))


# --------------------------------------------------------------------------- the workspace


@dataclass(frozen=True)
class SyntheticWorkspace:
    """A workspace written by :func:`write_workspace`.

    ``images`` are keys in build order; ``roots`` maps each key to the requirement lines of
    its own requirements file (the common file for ``base:cpu``).
    """

    root: Path
    spec: SyntheticSpec
    images: tuple[str, ...]
    roots: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class _ImagePlan:
    name: str
    parent: str | None
    requirements: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.name}:cpu"


def _plan(spec: SyntheticSpec) -> tuple[_ImagePlan, ...]:
    rng = random.Random(spec.seed + 1)
    layout = _Layout.of(spec)
    tops = list(layout.levels[0]) + list(layout.levels[1])

    def pick(count: int) -> tuple[str, ...]:
        return tuple(f"{name}>=1.0" for name in sorted(rng.sample(tops, count)))

    ml_count = max(1, spec.images // 10)
    stage_count = spec.images - 1 - ml_count
    plans = [_ImagePlan("base", None, pick(spec.common_roots))]
    for i in range(ml_count):
        plans.append(_ImagePlan(f"ml-{i:02d}", "base:cpu", pick(spec.roots_per_image)))
    for i in range(stage_count):
        parent = plans[1 + i % ml_count].key
        plans.append(_ImagePlan(f"stage-{i:03d}", parent, pick(spec.roots_per_image)))
    return _place_traps(spec, tuple(plans))


def _place_traps(spec: SyntheticSpec, plans: tuple[_ImagePlan, ...]) -> tuple[_ImagePlan, ...]:
    """Trap N goes to the leaf images in rotation (the ml images when there are no stages)."""
    leaves = [i for i, p in enumerate(plans) if p.name.startswith("stage-")]
    leaves = leaves or [i for i, p in enumerate(plans) if p.parent is not None]
    placed = list(plans)
    for number in range(spec.traps):
        i = leaves[number % len(leaves)]
        extra = (f"syn-trap-{number}>=1.0", f"syn-guard-{number}>=1.0")
        placed[i] = _ImagePlan(placed[i].name, placed[i].parent, (*placed[i].requirements, *extra))
    return tuple(placed)


_PYPROJECT_HEAD = """\
[project]
name = "synthetic-workspace"
version = "0"

[tool.lockaudit]
registry = "example"
versions = "versions.txt"
common = "requirements-common.txt"
locks = "locks"

[tool.lockaudit.target]
python = "{python}"
platform = "linux"
arch = "x86_64"
glibc = "2.35"
"""

_IMAGE = """
[[tool.lockaudit.images]]
name = "{name}"
tag = "cpu"
dockerfile = "docker/{name}/Dockerfile"
{parent}
variant = "cpu"
requirements = ["{requirements}"]
"""

_DOCKERFILE = """\
# syntax=docker/dockerfile:1
# {key}: a synthetic image of the benchmark workspace.
ARG REGISTRY=example
ARG PARENT_IMAGE={parent_ref}
FROM {from_ref}

ARG LAYER_LOCK=locks/{slug}.layer.txt
COPY ${{LAYER_LOCK}} /tmp/layer.txt
RUN pip install --no-deps --require-hashes -r /tmp/layer.txt
"""


def _requirements_path(plan: _ImagePlan) -> str:
    if plan.parent is None:
        return "requirements-common.txt"
    return f"docker/{plan.name}/requirements.txt"


def _dockerfile(plan: _ImagePlan) -> str:
    if plan.parent is None:
        parent_ref, from_ref = f"python:{PYTHON}-slim", "${PARENT_IMAGE}"
    else:
        parent_ref, from_ref = plan.parent, "${REGISTRY}/${PARENT_IMAGE}"
    return _DOCKERFILE.format(
        key=plan.key, parent_ref=parent_ref, from_ref=from_ref, slug=f"{plan.name}-cpu"
    )


def _pyproject(plans: tuple[_ImagePlan, ...]) -> str:
    parts = [_PYPROJECT_HEAD.format(python=PYTHON)]
    for plan in plans:
        if plan.parent is None:
            parent = f'base-image = "python:{PYTHON}-slim"'
        else:
            parent = f'parent = "{plan.parent}"'
        parts.append(
            _IMAGE.format(name=plan.name, parent=parent, requirements=_requirements_path(plan))
        )
    return "".join(parts)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_workspace(root: Path, spec: SyntheticSpec) -> SyntheticWorkspace:
    """Write the workspace of ``spec`` under ``root`` (created; existing files overwritten)."""
    plans = _plan(spec)
    _write(root / "pyproject.toml", _pyproject(plans))
    _write(root / "versions.txt", f"# synthetic workspace {spec.label}\nPYTHON_VERSION=3.11\n")
    for plan in plans:
        header = f"# {plan.key}: synthetic requirements\n"
        _write(root / _requirements_path(plan), header + "\n".join(plan.requirements) + "\n")
        _write(root / "docker" / plan.name / "Dockerfile", _dockerfile(plan))
    (root / "locks").mkdir(exist_ok=True)
    return SyntheticWorkspace(
        root=root,
        spec=spec,
        images=tuple(plan.key for plan in plans),
        roots={plan.key: plan.requirements for plan in plans},
    )


def write_pip_config(path: Path, index_url: str) -> Path:
    """A pip configuration file whose only setting is ``index-url`` (use as PIP_CONFIG_FILE)."""
    _write(path, f"[global]\nindex-url = {index_url}\n")
    return path
