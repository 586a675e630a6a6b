"""``lockaudit build``: build a workspace's images in order, from its locks, and skip the
ones that are up to date.

Layout (one module per role):

* :mod:`~lockaudit.builder.plan`: the pure planner (selection, order, build arguments, inputs
  digest labels, up-to-date skips).
* :mod:`~lockaudit.builder.backends`: the :class:`BuildBackend` Protocol and its two
  implementations, ``docker build`` image by image and ``docker buildx bake``.
* :mod:`~lockaudit.builder.bakefile`: the ``docker-bake.json`` a plan becomes.
* :mod:`~lockaudit.builder.platform`: the engine platform of an image, from its lock's target.
* :mod:`~lockaudit.builder.smoke`: imports every module an image's layer added, inside it.
* :mod:`~lockaudit.builder.runner`: the subprocess seam and the engine queries.
* :mod:`~lockaudit.builder.run`: the core, :func:`run_build`, returning a :class:`BuildReport`
  that :func:`render_build` prints.
"""

from __future__ import annotations

from lockaudit.builder._render import build_lines, render_build
from lockaudit.builder.backends import (
    BuildBackend,
    BuildOutcome,
    BuildReporter,
    BuildStatus,
    BuildxBake,
    DockerBuild,
)
from lockaudit.builder.bakefile import bake_definition, write_bakefile
from lockaudit.builder.plan import (
    IMAGE_LABEL,
    INPUTS_LABEL,
    Backend,
    BuildOptions,
    BuildPlan,
    BuildStep,
    build_args_for,
    builder_name,
    expand_cache_spec,
    image_ref,
    inputs_digest,
    plan_build,
    select_images,
)
from lockaudit.builder.platform import docker_platform
from lockaudit.builder.run import BuildReport, make_backend, run_build
from lockaudit.builder.runner import (
    Command,
    CommandResult,
    ImageState,
    Runner,
    SubprocessRunner,
    engine_version,
    inspect_image,
)
from lockaudit.builder.smoke import SmokeFailure, SmokeResult, layer_distributions, run_smoke

__all__ = [
    "IMAGE_LABEL",
    "INPUTS_LABEL",
    "Backend",
    "BuildBackend",
    "BuildOptions",
    "BuildOutcome",
    "BuildPlan",
    "BuildReport",
    "BuildReporter",
    "BuildStatus",
    "BuildStep",
    "BuildxBake",
    "Command",
    "CommandResult",
    "DockerBuild",
    "ImageState",
    "Runner",
    "SmokeFailure",
    "SmokeResult",
    "SubprocessRunner",
    "bake_definition",
    "build_args_for",
    "build_lines",
    "builder_name",
    "docker_platform",
    "engine_version",
    "expand_cache_spec",
    "image_ref",
    "inputs_digest",
    "inspect_image",
    "layer_distributions",
    "make_backend",
    "plan_build",
    "render_build",
    "run_build",
    "run_smoke",
    "select_images",
    "write_bakefile",
]
