"""``lockaudit whatif --write``: put a what-if's change into the input files it set aside.

A what-if (:func:`lockaudit.report.whatif.whatif`) lists every input line that named a changed
package (``Replaced``). Writing the change means rewriting exactly those lines — the pin of
``versions.txt``, the line of a constraint or requirements file — and nothing else of the
file: comments, order and the other lines stay byte-identical. Then the affected images are
compiled as usual.

Decisions:

* Only a what-if that breaks no image is written; the user sees the breakage first.
* A line keeps its environment marker and its trailing comment (``numpy<2  # ABI`` becomes
  ``numpy==2.1.0  # ABI``); the change's own marker wins when it has one.
* A changed package that no editable line names (it is only a dependency of something, or only
  on a Dockerfile's ``pip install`` line) has nowhere to go: that is an error naming the
  package, before anything is written, rather than a change that vanishes at the next compile.
* A line that continues onto the next (``\\``) or carries options (``--hash``) is not rewritten:
  an error at its line says to edit it by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName

from lockaudit.compile import CompileOptions, CompileResult, compile_workspace
from lockaudit.errors import InputError, LockauditError
from lockaudit.index.types import MetadataSource
from lockaudit.locks import write_atomically
from lockaudit.report._model import Replaced, WhatIfReport
from lockaudit.workspace.inputs import Inputs, as_inputs, load_inputs
from lockaudit.workspace.model import Workspace, normalize

__all__ = ["planned_edits", "write_whatif"]

_EDITABLE = ("constraint", "pin", "requirement")
# the requirement part of a line, then optional spacing and a comment
_LINE = re.compile(r"^(?P<indent>\s*)(?P<requirement>[^#]*?)(?P<rest>\s+#.*)?$")


def planned_edits(
    given: Inputs | Workspace, report: WhatIfReport, changes: Sequence[Requirement]
) -> dict[str, bytes]:
    """The new bytes of every input file the change rewrites (path relative to the root)."""
    if report.broken:
        broken = ", ".join(image.key for image in report.broken)
        raise LockauditError(
            f"the change breaks {broken}: nothing written",
            hint="run the what-if without --write to see why",
        )
    by_name = {normalize(change.name): change for change in changes}
    editable = [r for r in report.replaced if r.kind in _EDITABLE]
    _every_change_has_a_line(by_name, editable)
    inputs = as_inputs(given)
    files: dict[str, list[str]] = {}
    for replaced in editable:
        path = replaced.location.path
        if path not in files:
            text = inputs.file_text(path)
            if text is None:
                raise InputError(replaced.location, "cannot read the file to rewrite it")
            files[path] = text.splitlines(keepends=True)
        _rewrite(files[path], replaced, by_name)
    return {path: "".join(lines).encode("utf-8") for path, lines in files.items()}


def _every_change_has_a_line(
    by_name: Mapping[NormalizedName, Requirement], editable: Iterable[Replaced]
) -> None:
    named = {normalize(_requirement(r).name) for r in editable}
    missing = sorted(set(by_name) - named)
    if missing:
        raise LockauditError(
            f"no input file of the workspace names {', '.join(missing)}: --write has no line to "
            "change",
            hint="add the requirement to the image's requirements file (or versions.txt) first",
        )


def _rewrite(
    lines: list[str], replaced: Replaced, by_name: Mapping[NormalizedName, Requirement]
) -> None:
    number = replaced.location.line
    if not 0 < number <= len(lines):
        raise InputError(replaced.location, "the what-if line is no longer in the file")
    text = lines[number - 1]
    body = text.rstrip("\r\n")
    ending = text[len(body) :]
    match = _LINE.match(body)
    if match is None or body.rstrip().endswith("\\") or " --" in f" {match['requirement']}":
        raise InputError(replaced.location, "this line has options or continues: edit it by hand")
    old = _requirement(replaced, match["requirement"])
    new = Requirement(str(by_name[normalize(old.name)]))
    if new.marker is None and old.marker is not None:
        new.marker = old.marker
    lines[number - 1] = f"{match['indent']}{new}{match['rest'] or ''}{ending}"


def _requirement(replaced: Replaced, text: str | None = None) -> Requirement:
    try:
        return Requirement((text if text is not None else replaced.requirement).strip())
    except InvalidRequirement as e:
        raise InputError(replaced.location, str(e)) from e


def write_whatif(
    given: Inputs | Workspace,
    source: MetadataSource,
    report: WhatIfReport,
    changes: Sequence[Requirement],
) -> tuple[tuple[str, ...], CompileResult]:
    """Rewrite the input lines, then compile every image whose inputs changed.

    A shared file (``versions.txt``, a constraint file) is an input of images the what-if did
    not re-resolve; they must be re-locked too, so every image is compiled — those whose
    inputs are unchanged cost nothing (no index request).

    The inputs are written all or nothing; if the compile then fails (the index moved since the
    what-if), they are put back byte for byte, so the workspace is never left half-changed.
    """
    inputs = as_inputs(given)
    workspace = inputs.workspace
    edits = planned_edits(inputs, report, changes)
    before = {path: inputs.file_bytes(path) or b"" for path in edits}
    written = write_atomically(workspace.root, edits)
    try:
        changed = load_inputs(workspace.root)  # the rewritten files, read afresh
        result = compile_workspace(changed, source, CompileOptions())
    except BaseException:
        write_atomically(workspace.root, before)
        raise
    if not result.ok:
        write_atomically(workspace.root, before)
    return written, result
