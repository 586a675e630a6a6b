"""The one rendering layer: rich for humans, JSON for machines.

The core never prints; commands hand their results here. rich is imported only in this module.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

from lockaudit.errors import LockauditError
from lockaudit.redact import redact_text
from lockaudit.rules.findings import SCHEMA_VERSION, Finding, Severity
from lockaudit.units import format_bytes
from lockaudit.workspace.model import Image, Workspace

if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree

    from lockaudit.compile import CompileResult
    from lockaudit.workspace.discover import Discovery
    from lockaudit.workspace.targets import TargetFacts


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


def escape(text: str) -> str:
    """rich markup escaping; rich is imported only when something is printed for humans.

    Every shown text passes here, so it is also where URL credentials are masked.
    """
    from rich.markup import escape as rich_escape

    return rich_escape(redact_text(text))


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def github_annotations(items: Sequence[Finding]) -> None:
    """Findings as GitHub Actions workflow commands, worst first (``--format github``)."""
    from lockaudit.output.github import workflow_commands

    sys.stdout.write(redact_text(workflow_commands(sorted(items, key=Finding.sort_key))))


def emit_json(data: Any) -> None:
    sys.stdout.write(redact_text(json.dumps(data, indent=2, sort_keys=False)) + "\n")


def findings(
    items: Sequence[Finding],
    fmt: Format,
    *,
    out: Console | None = None,
    ignored: Sequence[Finding] = (),
) -> None:
    """Findings grouped by image, worst first (JSON: the documented ``findings`` schema).

    ``ignored`` are the findings inline ignores silenced: counted per code in the summary
    (listed under ``ignored_inline`` in JSON), never shown as findings.
    """
    ordered = sorted(items, key=Finding.sort_key)
    if fmt is Format.JSON:
        emit_json(
            {
                "schema_version": SCHEMA_VERSION,
                "findings": [f.as_json() for f in ordered],
                "ignored_inline": [f.as_json() for f in ignored],
            }
        )
        return
    segments = _finding_segments(ordered, ignored)
    if out is None and not _styled(sys.stdout):
        # a hook or a pipe: nothing to style, so rich is not even imported
        sys.stdout.write(redact_text("".join(text for text, _ in segments)) + "\n")
        return
    from rich.text import Text

    # One Text printed once: a big workspace's hundreds of findings cost one render, not one
    # markup parse and console round-trip per line.
    styled = Text()
    for text, style in segments:
        styled.append(text, style=style)
    (out or console()).print(styled)


def _finding_segments(
    ordered: Sequence[Finding], ignored: Sequence[Finding] = ()
) -> list[tuple[str, str | None]]:
    """The text of :func:`findings` as (text, rich style) pieces."""
    if not ordered:
        return [("no findings" + _ignored_note(ignored), "green")]
    groups: dict[str, list[Finding]] = {}
    for finding in ordered:
        groups.setdefault(finding.image or "(shared files)", []).append(finding)
    worst = sorted(groups.items(), key=lambda kv: (min(f.severity.rank for f in kv[1]), kv[0]))
    out: list[tuple[str, str | None]] = []
    for image, group in worst:
        out += [(image, "bold"), ("\n", None)]
        for finding in group:
            out += [
                ("  ", None),
                (f"{finding.severity.value:<7}", _STYLE[finding.severity]),
                (f" {finding.location} ", None),
                (f"{finding.code} {finding.rule}".lstrip(), "dim"),
                (f": {terminal_text(finding.message)}\n", None),
            ]
            if finding.related:
                also = ", ".join(str(place) for place in finding.related)
                out.append((f"           also: {also}\n", "dim"))
            if finding.hint:
                out.append((f"           hint: {terminal_text(finding.hint)}\n", "dim"))
    out.append((_summary(ordered) + _ignored_note(ignored), None))
    return out


def _ignored_note(ignored: Sequence[Finding]) -> str:
    if not ignored:
        return ""
    from lockaudit.rules.ignores import counts

    return f" ({len(ignored)} ignored inline: {counts(ignored)})"


_CODE_SPAN = re.compile(r"`([^`]+)`")


def terminal_text(text: str) -> str:
    """Markdown code spans as a terminal shows them: quoted, without raw backticks (JSON and
    SARIF keep the text as written)."""
    return _CODE_SPAN.sub(r"'\1'", text)


def _styled(stream: TextIO) -> bool:
    """Whether rich would style output to ``stream``: a terminal, or colour forced."""
    forced = os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1"
    return bool(forced) or stream.isatty()


def _summary(items: Iterable[Finding]) -> str:
    counts = {severity: 0 for severity in Severity}
    for finding in items:
        counts[finding.severity] += 1
    parts = [f"{counts[s]} {s.value}{'s' if counts[s] != 1 else ''}" for s in Severity]
    return ", ".join(parts)


def graph(
    workspace: Workspace,
    fmt: Format,
    *,
    inferred: Mapping[str, TargetFacts] | None = None,
    out: Console | None = None,
) -> None:
    """The image hierarchy: a tree in the terminal, build order in JSON (with what each
    image's Dockerfile and base say about its target, and why, when ``inferred`` is given)."""
    if fmt is Format.JSON:
        found = inferred or {}
        images = [_image_json(i, found.get(i.key)) for i in workspace.images]
        emit_json({"schema_version": SCHEMA_VERSION, "images": images})
        return
    out = out or console()
    from rich.tree import Tree

    roots = [image for image in workspace.images if image.parent is None]
    for root in roots:
        tree = Tree(_label(root))
        _grow(workspace, root, tree)
        out.print(tree)


def _grow(workspace: Workspace, image: Image, node: Tree) -> None:
    for child in workspace.children(image.key):
        _grow(workspace, child, node.add(_label(child)))


def _label(image: Image) -> str:
    extra = f" [dim]FROM {escape(image.base_image)}[/dim]" if image.base_image else ""
    fallback = f" [dim](CPU fallback of {image.variant_of})[/dim]" if image.variant_of else ""
    python = "" if image.python else " [dim](no Python: not locked)[/dim]"
    return (
        f"[bold]{escape(image.key)}[/bold] [dim]{image.dockerfile}[/dim]{extra}{fallback}{python}"
    )


def _image_json(image: Image, inferred: TargetFacts | None) -> dict[str, Any]:
    target = image.target
    found: dict[str, Any] = {
        "name": image.name,
        "tag": image.tag,
        "dockerfile": image.dockerfile,
        "stage": image.stage,
        "context": image.context,
        "requirements": list(image.requirements),
        "parent": image.parent,
        "base_image": image.base_image,
        "variant": image.variant.value,
        "python": image.python,
        "target": {
            "python": target.python,
            "platform": target.system,
            "arch": target.arch,
            "glibc": target.glibc,
            "cuda": target.cuda,
        },
    }
    if inferred is not None:
        found["inferred"] = inferred.as_json()
    return found


def error(exc: LockauditError, fmt: str = "text") -> None:
    """The one place an error becomes a user message (stderr, never a traceback).

    Under ``--format json`` (or ``sarif``) stdout also gets the error as a JSON document, so a
    machine reading stdout sees why there is no result instead of an empty stream.
    """
    if fmt == "github":
        from lockaudit.output.github import error_annotation

        sys.stdout.write(error_annotation(error_json(exc)))
    elif fmt != "text":
        emit_json({"schema_version": ERROR_SCHEMA_VERSION, "error": error_json(exc)})
    err = console(stderr=True)
    err.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
    if exc.hint:
        err.print(f"[dim]hint: {escape(exc.hint)}[/dim]")


# Version of the error document (``{"schema_version": 1, "error": {...}}``), docs/schemas/.
ERROR_SCHEMA_VERSION = 1


def error_json(exc: LockauditError) -> dict[str, Any]:
    """An error as JSON: its kind, message, where (path and line apart) and the hint."""
    location = getattr(exc, "location", None)
    return {
        "kind": _error_kind(exc),
        "message": exc.message,
        "path": location.path if location is not None else None,
        "line": (location.line or None) if location is not None else None,
        "url": getattr(exc, "url", None),
        "hint": exc.hint,
    }


def _error_kind(exc: LockauditError) -> str:
    name = type(exc).__name__.removesuffix("Error") or "Lockaudit"
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def message(text: str) -> None:
    console(stderr=True).print(text)


def discovery(found: Discovery, *, written: bool, out: Console | None = None) -> None:
    """What `lockaudit init` found: the images and parents, then what it could not decide.

    With ``--print`` stdout carries only the proposed TOML, written raw (rich markup would eat
    ``[tool.lockaudit]``), so it can be piped into a file; the summary goes to stderr.
    """
    out = out or console(stderr=not written)
    for image in found.images:
        parent = image.parent or f"FROM {image.base_image}"
        out.print(
            f"[bold]{escape(image.name)}:{escape(image.tag)}[/bold] <- {escape(parent)}"
            f" [dim]{escape(image.dockerfile)}[/dim]"
        )
        if image.edge:
            out.print(f"  [dim]from {escape(image.edge)}[/dim]")
        if image.fallback is not None:
            fb = image.fallback
            out.print(
                f"  [dim]CPU fallback {escape(image.name)}:{escape(fb.tag)} on "
                f"{escape(fb.parent)}[/dim]"
            )
    for problem in found.problems:
        out.print(f"[yellow]undecided:[/yellow] {escape(problem)}")
    if written:
        out.print("[green]wrote " + escape("[tool.lockaudit]") + " to pyproject.toml[/green]")
    else:
        sys.stdout.write(found.config_toml)


def compile_result(result: CompileResult, fmt: Format, *, out: Console | None = None) -> None:
    """Per image: written / unchanged / failed, and every conflict explained."""
    if fmt is Format.JSON:
        emit_json(
            {"schema_version": SCHEMA_VERSION, "images": [_compile_json(r) for r in result.results]}
        )
        return
    _print_segments(_compile_segments(result), out)


def _compile_segments(result: CompileResult) -> list[tuple[str, str | None]]:
    """The compile summary as (text, style) pieces, newlines included."""
    styles = {"written": "green", "unchanged": "dim", "not-written": "yellow"}
    out: list[tuple[str, str | None]] = []
    for item in result.results:
        packages = f" ({len(item.lock.packages)} packages)" if item.lock else ""
        out.append((f"{item.status.value:<11}", styles.get(item.status.value, "bold red")))
        out.append((f" {item.image}{packages}\n", None))
        if item.reason:
            out.append((f"            {item.reason}\n", "dim"))
        for conflict in item.conflicts:
            where = "with the parent image" if conflict.with_parent else "inside the image"
            out.append((f"  conflict {where}:", "bold red"))
            out.append((f" {conflict.summary}\n", None))
            out.extend((f"    {line}\n", None) for line in conflict.chain)
            if conflict.with_parent and item.reinstall:
                names = ", ".join(item.reinstall)
                text = f"    fixing it in this layer would reinstall {names} "
                out.append((text + f"({format_bytes(item.reinstall_bytes)})\n", "dim"))
            if conflict.suggestion:
                out.append(("    hint:", "cyan"))
                out.append((f" {conflict.suggestion}\n", None))
    return out


def _print_segments(segments: Sequence[tuple[str, str | None]], out: Console | None) -> None:
    """Plain text to a pipe (rich not even imported), one styled Text to a terminal."""
    if out is None and not _styled(sys.stdout):
        sys.stdout.write(redact_text("".join(text for text, _ in segments)))
        return
    from rich.text import Text

    styled = Text()
    for text, style in segments:
        styled.append(redact_text(text), style=style)
    (out or console()).print(styled, end="")


def _compile_json(item: Any) -> dict[str, Any]:
    return {
        "image": item.image,
        "status": item.status.value,
        "changed": list(item.changed),
        "packages": len(item.lock.packages) if item.lock else None,
        "reason": item.reason,
        "reinstall": list(item.reinstall),
        "reinstall_bytes": item.reinstall_bytes,
        "conflicts": [
            {
                "summary": c.summary,
                "chain": list(c.chain),
                "with_parent": c.with_parent,
                "packages": list(c.packages),
                "suggestion": c.suggestion,
                "origins": [str(o) for o in c.origins],
            }
            for c in item.conflicts
        ],
    }


@contextmanager
def audit_progress() -> Iterator[Any]:
    """A transient progress bar on stderr while images are replayed."""
    from rich.progress import Progress

    from lockaudit.audit import ReplayReporter

    with Progress(console=console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying images", total=None)

        class _Bar(ReplayReporter):
            def image_started(self, image: str, index: int, total: int) -> None:
                bar.update(task, total=total, completed=index, description=f"replaying {image}")

        yield _Bar()
