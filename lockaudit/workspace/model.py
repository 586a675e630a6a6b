"""The workspace model: one frozen, typed picture of a repository of Docker images.

Everything downstream (rules, resolver, build planner, reports) reads these values and never
re-parses configuration. ``lockaudit.workspace.config`` builds a :class:`Workspace` from
``[tool.lockaudit]``; ``lockaudit.workspace.discover`` proposes one for a repository that has none.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from lockaudit.errors import Location
from lockaudit.rules.findings import Severity

# Names or fnmatch patterns of packages that cost gigabytes when an image installs them twice.
DEFAULT_HEAVY = ("torch", "torchaudio", "torchvision", "triton", "nvidia-*")
# The installer's own tools: images upgrade them routinely and they weigh a few MB, so
# installing them again is never a duplicate worth a finding, whatever ``heavy`` says.
INSTALLER_TOOLS = frozenset({"pip", "setuptools", "wheel"})


class Variant(StrEnum):
    """The accelerator an image is built for."""

    CUDA = "cuda"
    CPU = "cpu"


class BuildBackend(StrEnum):
    """How images are built: one ``docker build`` each, or one ``docker buildx bake``."""

    BUILD = "build"
    BAKE = "bake"


@dataclass(frozen=True)
class Target:
    """The environment an image's Python packages are installed into: never the host's.

    ``python`` is the full interpreter version (``3.11.7``): a package with
    ``Requires-Python >=3.11.5`` is usable on 3.11.7 but not on 3.11.0.
    """

    python: str = "3.11.7"
    implementation: str = "cp"
    system: str = "linux"
    arch: str = "x86_64"
    glibc: str = "2.35"
    variant: Variant = Variant.CPU
    cuda: str | None = None  # "12.1" for a CUDA image, read from config or the base image tag

    @property
    def python_short(self) -> str:
        major, minor, *_ = self.python.split(".")
        return f"{major}.{minor}"

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker variables of the target (``packaging.markers`` keys)."""
        short = self.python_short
        cpython = self.implementation == "cp"
        return {
            "implementation_name": "cpython" if cpython else self.implementation,
            "implementation_version": self.python,
            "os_name": "posix",
            "platform_machine": self.arch,
            "platform_python_implementation": "CPython" if cpython else self.implementation,
            "platform_release": "",
            "platform_system": "Linux" if self.system == "linux" else self.system,
            "platform_version": "",
            "python_full_version": self.python,
            "python_version": short,
            "sys_platform": self.system,
        }

    def describe(self) -> str:
        accel = f"cuda {self.cuda}" if self.variant is Variant.CUDA and self.cuda else self.variant
        return f"CPython {self.python} {self.system} {self.arch} glibc {self.glibc} ({accel})"


@dataclass(frozen=True)
class PackageIndex:
    """A package index the workspace names, with the packages routed to it.

    A package listed in ``packages`` is looked up **only** on this index (for images of
    ``variant``, or of every variant when ``variant`` is None): a same-named package on another
    index can never be chosen. ``link_hosts``: other hosts (``host`` or ``host:port``) its
    pages may link files on; a link to any other host is refused.
    """

    name: str
    url: str
    packages: tuple[NormalizedName, ...] = ()
    variant: Variant | None = None
    link_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewedSdist:
    """Dependencies a maintainer declared by hand for a release published only as an sdist
    whose metadata is dynamic: lockaudit never runs ``setup.py`` to learn them.

    Written in ``[tool.lockaudit.reviewed-sdists]`` as ``"docopt==0.6.2" = []``.
    """

    name: NormalizedName
    version: str
    requires_dist: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class Image:
    """One image tag the workspace builds.

    ``key`` (``name:tag``) identifies it everywhere. ``parent`` is the key of the workspace image
    it is built FROM, or None when it is built FROM an external image (``base_image``).
    ``variant_of`` names the image a CPU fallback is derived from: the same Dockerfile, built
    with ``build_args`` (another parent tag, another torch index), never a rewritten file.
    """

    name: str
    tag: str
    dockerfile: str
    parent: str | None
    base_image: str | None
    requirements: tuple[str, ...]
    target: Target
    variant_of: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    inherits_common: bool = True
    context: str = "."
    # BuildKit cache import/export specs (``type=registry,ref=...``); None: the workspace's
    # ``[tool.lockaudit.build]`` lists apply. Placeholders ({name}, {tag}, {slug}) are kept.
    cache_from: tuple[str, ...] | None = None
    cache_to: tuple[str, ...] | None = None
    python: bool = True  # False: no Python in the image (node, nginx...): built, never locked
    # This image's locks folder, when its build context does not contain the workspace's
    # (the Dockerfile must COPY its layer lock from the context); None: the workspace's.
    locks_dir: str | None = None
    stage: str | None = None  # the Dockerfile stage built (``--target``); None: the last one
    # The Dockerfile has no FROM of its own: its build writes ``FROM <parent or base image>``
    # above line 1 (``sed -i '1i FROM …'`` in CI), and lockaudit reads it so.
    from_inserted: bool = False

    @cached_property  # the lookup key of every rule and map: built once
    def key(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def variant(self) -> Variant:
        return self.target.variant

    @property
    def slug(self) -> str:
        """File-name friendly key: ``asr-cuda``."""
        return f"{self.name}-{self.tag}"


@dataclass(frozen=True)
class Exclude:
    """A Dockerfile (or a glob of them) the workspace deliberately does not build as an image.

    ``check`` fails for a Dockerfile of the repository that is neither an image's nor excluded,
    so every exclusion is written down with its reason. In ``pattern``, ``*`` also matches
    across folders and a folder stands for everything under it (``tests``, ``tests/**``).
    """

    pattern: str
    reason: str
    location: Location

    def matches(self, path: str) -> bool:
        pattern = self.pattern.strip("/")
        return (
            fnmatch.fnmatchcase(path, pattern)
            or path.startswith(pattern + "/")
            or fnmatch.fnmatchcase(path, pattern + "/*")
        )


@dataclass(frozen=True)
class AuditSettings:
    """``[tool.lockaudit.audit]``: which audit findings count, and how much.

    Selectors are rule names or prefixes of them (``cuda`` selects every ``cuda-*`` rule).
    ``lines`` keeps the configuration line of each selector so that one naming no rule can be
    reported there (the config layer does not know the audit's rules).
    """

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()  # rule name -> severity it is reported at
    fail_on: Severity = Severity.ERROR  # exit 1 for a finding at or above this
    lines: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class BuildSettings:
    """``[tool.lockaudit.build]``: where and with which layer cache ``lockaudit build`` builds.

    ``builder`` names a buildx builder (None: the engine's default). ``cache_from`` and
    ``cache_to`` are BuildKit cache specs applied to every image that sets none of its own;
    ``{name}``, ``{tag}`` and ``{slug}`` in them become the image's, so one line gives every
    image its own cache reference.
    """

    builder: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workspace:
    """A repository of images, their shared inputs and the indexes they install from.

    Paths are relative to ``root``; ``images`` are in build order (parents first).
    """

    root: Path
    images: tuple[Image, ...]
    versions: str | None = "versions.txt"
    common: str | None = "requirements-common.txt"
    constraints: tuple[tuple[Variant | None, str], ...] = ()
    indexes: tuple[PackageIndex, ...] = ()
    registry: str = ""
    image_prefix: str = ""
    locks_dir: str = "locks"
    # Write PEP 751 ``pylock.<image>.toml`` beside the text locks. A valid pylock names the URL
    # of every file, so a repository that must not record its index's host turns it off.
    pylock: bool = True
    heavy_packages: tuple[str, ...] = ()
    reviewed_sdists: tuple[ReviewedSdist, ...] = ()
    # index URL prefix -> where to fetch it from instead ("default": the user's default index)
    mirrors: tuple[tuple[str, str], ...] = ()  # names or fnmatch patterns ("nvidia-*")
    # [tool.lockaudit.limits]: what an index answer may cost (key → bytes or seconds)
    limits: tuple[tuple[str, float], ...] = ()
    config_location: Location = field(default_factory=lambda: Location("pyproject.toml"))
    audit: AuditSettings = field(default_factory=AuditSettings)
    excludes: tuple[Exclude, ...] = ()  # Dockerfiles that are deliberately not images
    build: BuildSettings = field(default_factory=BuildSettings)

    def image(self, key: str) -> Image:
        return self._by_key[key]  # KeyError for an unknown key

    def reference(self, image: Image) -> str:
        """``{registry}/{image_prefix}{name}:{tag}`` (no registry part when none is set)."""
        name = f"{self.image_prefix}{image.name}:{image.tag}"
        return f"{self.registry}/{name}" if self.registry else name

    def from_reference(self, image: Image) -> str:
        """The reference the image's FROM must name: its parent's, or its base image."""
        if image.parent is None:
            return image.base_image or ""
        return self.reference(self.image(image.parent))

    @cached_property
    def _by_key(self) -> dict[str, Image]:
        return {image.key: image for image in self.images}

    def children(self, key: str) -> tuple[Image, ...]:
        return tuple(image for image in self.images if image.parent == key)

    def ancestors(self, key: str) -> tuple[Image, ...]:
        """Parents of ``key`` from the root down (not including ``key`` itself)."""
        chain: list[Image] = []
        parent = self.image(key).parent
        while parent is not None:
            image = self.image(parent)
            chain.append(image)
            parent = image.parent
        return tuple(reversed(chain))

    def constraint_files(self, variant: Variant) -> tuple[str, ...]:
        return tuple(path for v, path in self.constraints if v is None or v is variant)

    def routes(self, variant: Variant) -> dict[NormalizedName, PackageIndex]:
        """Package name → the only index it may come from, for images of ``variant``."""
        routed: dict[NormalizedName, PackageIndex] = {}
        for index in self.indexes:
            if index.variant is None or index.variant is variant:
                for package in index.packages:
                    routed[package] = index
        return routed

    def mirror_of(self, url: str) -> str | None:
        """The configured mirror for an index URL, if any (longest prefix wins)."""
        found = [(src, dest) for src, dest in self.mirrors if url.startswith(src.rstrip("/"))]
        return max(found, key=lambda item: len(item[0]))[1] if found else None

    def is_heavy(self, name: str) -> bool:
        """Heavy packages cost gigabytes when installed twice (torch, the CUDA wheels...)."""
        canonical = normalize(name)
        return any(fnmatch.fnmatchcase(canonical, pattern) for pattern in self.heavy_packages)

    def path(self, relative: str) -> Path:
        return self.root / relative


@functools.cache  # names repeat across every lock and rule: the regex runs once per name
def normalize(name: str) -> NormalizedName:
    """The one place names are canonicalised (PEP 503)."""
    return canonicalize_name(name)
