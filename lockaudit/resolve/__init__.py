"""Resolution of an image's requirements for its target, with explained conflicts.

``resolve`` pins every package the root requirements need on one
:class:`~lockaudit.workspace.model.Target` using resolvelib over a
:class:`~lockaudit.index.types.MetadataSource`; ``explain_all`` reports every independent
conflict of roots that cannot be resolved. Roots carry their origin (file, line, image, kind) so
pins say ``# via`` and conflicts name the files that disagree. Parent pins
(``RequirementKind.PARENT``) are the frozen environment of the parent image: never replaced, and
a conflict with one is marked ``with_parent``. """

from lockaudit.resolve._model import (
    Conflict,
    Origin,
    Pin,
    RequirementKind,
    Resolution,
    ResolutionFailed,
    RootRequirement,
)
from lockaudit.resolve._reporter import ResolveReporter
from lockaudit.resolve._resolver import explain_all, explain_every, resolve

__all__ = [
    "Conflict",
    "Origin",
    "Pin",
    "RequirementKind",
    "Resolution",
    "ResolutionFailed",
    "ResolveReporter",
    "RootRequirement",
    "explain_all",
    "explain_every",
    "resolve",
]
