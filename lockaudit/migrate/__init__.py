"""``lockaudit migrate``: turn a repository of loose ``pip install`` steps into a locked workspace.

:func:`plan_migration` reads the repository (running discovery first when ``pyproject.toml``
has no ``[tool.lockaudit]``) and returns a frozen :class:`MigrationPlan`: the new ``.in`` file
of each image, the rewritten Dockerfiles (with the exact spans replaced), the configuration and
versions edits, and notes on what it kept as written or could not merge. Nothing is written.
:func:`apply_migration` compiles the planned workspace aside and writes plan and locks together,
or nothing at all.

Layout: ``_plan`` decides, ``_rewrite`` edits Dockerfile text (``_spans`` finds the commands in
it), ``_config`` edits ``pyproject.toml`` with tomlkit, ``_apply`` compiles and writes,
``stage`` scaffolds a new stage (``lockaudit add-stage``).
"""

from __future__ import annotations

from lockaudit.migrate._apply import MigrationResult, SourceFactory, apply_migration
from lockaudit.migrate._model import (
    Edit,
    FileChange,
    MigrationPlan,
    Note,
    NoteKind,
    apply_edits,
)
from lockaudit.migrate._plan import plan_migration

__all__ = [
    "Edit",
    "FileChange",
    "MigrationPlan",
    "MigrationResult",
    "Note",
    "NoteKind",
    "SourceFactory",
    "apply_edits",
    "apply_migration",
    "plan_migration",
    "render_plan",
]


def render_plan(plan: MigrationPlan) -> str:
    """The plan as a reader sees it: notes, then a unified diff of every file."""
    out = [f"{note}\n" for note in plan.notes]
    if out:
        out.append("\n")
    out.extend(change.diff() for change in plan.changes)
    if not plan.changes:
        out.append("nothing to migrate: no Dockerfile installs loose packages\n")
    return "".join(out)
