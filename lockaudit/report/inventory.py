"""Every pin of a workspace, by the image whose layer installs it.

Pins come from three places: the locks (what is installed, and which layer installs it), the
declared pins (``==`` lines of ``versions.txt``, of the common requirements, of each image's
requirement files and of its Dockerfile's ``pip install`` steps), and the constraint files
(which restrict, and so can hold a package back).

Decisions:
- A package is reported under the image whose layer installs it, once: a child image shows
  only what it adds over its parent.
- A declared pin is attached to every image whose own layer installs that package when the
  pin is in a shared file (``versions.txt``, the common requirements) or in that image's own
  files; a declared pin that no lock installs (no lock written yet) becomes a row of the
  image that declares it, or of the shared group.
- Constraint files (of the image's variant, and ``-c`` files its requirements name) hold; the
  pin sources do not: a pin is what the report proposes to move, not a reason it cannot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.errors import Location
from lockaudit.locks import LockedPackage, LockText, lock_paths
from lockaudit.parsing.requirements import RequirementLine
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Workspace


@dataclass(frozen=True)
class Pinned:
    """One pin of one image: the version installed and every place that states it."""

    name: NormalizedName
    version: Version
    pinned_at: tuple[Location, ...]
    size: int | None = None


@dataclass(frozen=True)
class ImagePins:
    """An image's own-layer pins, its lock (when written) and the lines that constrain it."""

    image: Image
    lock: LockText | None
    pins: tuple[Pinned, ...]
    constraints: tuple[RequirementLine, ...]

    def locked(self) -> tuple[LockedPackage, ...]:
        return self.lock.lock.packages if self.lock else ()


@dataclass(frozen=True)
class Inventory:
    images: tuple[ImagePins, ...]
    shared: tuple[Pinned, ...]

    def image(self, key: str) -> ImagePins | None:
        return next((i for i in self.images if i.image.key == key), None)


@dataclass(frozen=True)
class _Declared:
    line: RequirementLine
    version: Version
    image: str | None  # None: a shared file


def collect(given: Inputs | Workspace) -> Inventory:
    """Every lock and pin source of the workspace (errors name ``path:line``)."""
    inputs = as_inputs(given)
    declared = _declared_pins(inputs)
    used: set[tuple[str, int]] = set()
    images: list[ImagePins] = []
    for image in inputs.workspace.images:
        lock = inputs.lock_text(lock_paths(inputs.workspace, image).full)
        pins = _image_pins(image, lock, declared, used)
        images.append(ImagePins(image, lock, pins, _constraint_lines(inputs, image)))
    shared = _leftovers([d for d in declared if d.image is None], used)
    return Inventory(tuple(images), tuple(shared))


def _image_pins(
    image: Image,
    lock: LockText | None,
    declared: list[_Declared],
    used: set[tuple[str, int]],
) -> tuple[Pinned, ...]:
    mine = [d for d in declared if d.image in (None, image.key)]
    pins: dict[NormalizedName, Pinned] = {}
    if lock is not None:
        for package in lock.lock.layer_packages:
            places = [lock.location(package.name)]
            for item in mine:
                if item.line.name == package.name:
                    places.append(item.line.location)
                    used.add(_key(item))
            pins[package.name] = Pinned(
                package.name, package.version, tuple(places), package.install_size or None
            )
    own = [d for d in declared if d.image == image.key and _key(d) not in used]
    for pinned in _leftovers(own, used):
        pins.setdefault(pinned.name, pinned)
    return tuple(pins[name] for name in sorted(pins))


def _leftovers(items: Iterable[_Declared], used: set[tuple[str, int]]) -> list[Pinned]:
    """Declared pins no lock installs: one row per name, every place that states it."""
    by_name: dict[NormalizedName, list[_Declared]] = {}
    for item in items:
        if _key(item) not in used:
            by_name.setdefault(item.line.name, []).append(item)
            used.add(_key(item))
    return [
        Pinned(name, group[0].version, tuple(sorted(d.line.location for d in group)))
        for name, group in sorted(by_name.items())
    ]


def _key(item: _Declared) -> tuple[str, int]:
    return (item.line.location.path, item.line.location.line)


def _declared_pins(inputs: Inputs) -> list[_Declared]:
    found: list[_Declared] = []
    if inputs.versions is not None:
        found.extend(_pins(inputs.versions.pins, None))
    common = inputs.common_path
    if inputs.common is not None:
        found.extend(_pins(inputs.common.requirements, None))
    for image in inputs.workspace.images:
        for path in image.requirements:
            if path == common:
                continue
            found.extend(_pins(inputs.requirements(path).requirements, image.key))
        found.extend(_pins(_dockerfile_requirements(inputs, image), image.key))
    return found


def _dockerfile_requirements(inputs: Inputs, image: Image) -> list[RequirementLine]:
    if not inputs.exists(image.dockerfile):
        return []
    parsed = inputs.dockerfile(image)
    return [line for step in parsed.final.pip_installs for line in step.requirements]


def _pins(lines: Iterable[RequirementLine], image: str | None) -> list[_Declared]:
    return [
        _Declared(line, version, image)
        for line in lines
        if (version := line.pinned_version) is not None and not line.constraint
    ]


def _constraint_lines(inputs: Inputs, image: Image) -> tuple[RequirementLine, ...]:
    lines: list[RequirementLine] = []
    for path in inputs.workspace.constraint_files(image.variant):
        parsed = inputs.requirements(path)
        lines.extend(parsed.requirements)
        lines.extend(parsed.constraints)
    for path in image.requirements:
        lines.extend(inputs.requirements(path).constraints)
    unique = {(line.location, str(line.requirement)): line for line in lines}
    return tuple(unique[key] for key in sorted(unique))
