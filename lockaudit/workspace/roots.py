"""What an image asks for: its root requirement lines, and the lines that constrain them.

One definition for every command: ``compile`` resolves from these lines (adding the parent's
pins), ``audit`` replays them, and ``check`` holds each lock against them, so a lock that pins
what its inputs never asked for is caught offline (``lock-unfounded``).

- The requirement lines are those of the image's requirement files (their ``-r`` includes
  too); an image that declares none asks for what its Dockerfile's ``pip install`` lines name,
  without the installer itself (``pip``, ``setuptools``, ``wheel``), which is not locked.
- The constraint lines are the ``-c`` files of those, the constraint files of the image's
  variant, the common requirements when the image inherits them without installing them,
  and the ``versions.txt`` pins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lockaudit.parsing.requirements import RequirementLine, RequirementsFile
from lockaudit.parsing.versions import VersionsFile
from lockaudit.workspace.inputs import Inputs
from lockaudit.workspace.model import Image

__all__ = ["INSTALLER", "ImageRoots", "image_root_lines"]

# Installing the installer is not the image's layer: lockaudit does not lock it.
INSTALLER = frozenset({"pip", "setuptools", "wheel"})


@dataclass(frozen=True)
class ImageRoots:
    """An image's own root lines, each with its ``file:line`` (``RequirementLine.location``)."""

    requirements: tuple[RequirementLine, ...]
    constraints: tuple[RequirementLine, ...]


def image_root_lines(
    inputs: Inputs,
    image: Image,
    load: Callable[[str], RequirementsFile] | None = None,
    load_versions: Callable[[str], VersionsFile] | None = None,
) -> ImageRoots:
    """The lines ``image`` asks for and is constrained by, in the order compile reads them."""
    loader = load or inputs.requirements
    requirements: list[RequirementLine] = []
    constraints: list[RequirementLine] = []
    for path in image.requirements:
        parsed = loader(path)
        requirements.extend(parsed.requirements)
        constraints.extend(parsed.constraints)
    if not image.requirements:
        requirements.extend(_dockerfile_lines(inputs, image))
    for parsed in _constraint_sources(inputs, image, loader):
        constraints.extend(parsed.requirements)
        constraints.extend(parsed.constraints)
    workspace = inputs.workspace
    if workspace.versions and inputs.exists(workspace.versions):
        versions = load_versions or inputs.versions_file
        constraints.extend(versions(workspace.versions).pins)
    return ImageRoots(tuple(requirements), tuple(constraints))


def _dockerfile_lines(inputs: Inputs, image: Image) -> Iterator[RequirementLine]:
    """An image that declares no requirement files is what its Dockerfile installs.

    A repository that has never been locked pins its packages on `pip install` lines: compiling
    those (layered on the parent's lock) is how its conflicts and duplicates come to light.
    """
    dockerfile = inputs.dockerfile(image)  # build args and ARG defaults, as `check` reads it
    for stage in dockerfile.stages:
        for install in stage.pip_installs:
            yield from (line for line in install.requirements if line.name not in INSTALLER)


def _constraint_sources(
    inputs: Inputs, image: Image, load: Callable[[str], RequirementsFile]
) -> Iterator[RequirementsFile]:
    workspace = inputs.workspace
    for path in workspace.constraint_files(image.variant):
        yield load(path)
    # The common requirements constrain every image that inherits them, installed or not.
    common = workspace.common
    if (
        common
        and common not in image.requirements
        and image.inherits_common
        and inputs.exists(common)
    ):
        yield load(common)
