"""The command line: parse arguments, call the library, render. Nothing else lives here.

Exit codes: 0 clean, 1 findings at error severity (or an image that cannot be resolved),
2 usage or input error. Every :class:`LockauditError` becomes a message in ``render.error``.
Heavy modules (the index client, the resolver) are imported inside the commands that need
them, so ``lockaudit check`` stays fast enough for a pre-commit hook.
"""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from lockaudit import render
from lockaudit.errors import LockauditError, ResolutionError, UsageError
from lockaudit.rules.findings import Severity
from lockaudit.workspace.model import BuildBackend, Variant

if TYPE_CHECKING:
    from lockaudit.index.client import IndexClient
    from lockaudit.index.reporter import IndexReporter
    from lockaudit.workspace.model import Workspace
from lockaudit.render import Format

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2

app = typer.Typer(
    name="lockaudit",
    help="Machine-checked dependency locks for families of Python Docker images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace root (holds pyproject.toml).")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def _print_version(value: bool) -> None:
    # Eager, so it answers before a command is required; imports nothing beyond the package.
    if value:
        from lockaudit import __version__

        sys.stdout.write(f"lockaudit {__version__}\n")
        raise typer.Exit(EXIT_CLEAN)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Machine-checked dependency locks for families of Python Docker images."""


def _fail(exc: LockauditError, fmt: object = Format.TEXT) -> NoReturn:
    """Print the error (as JSON too under ``--format json``/``sarif``) and exit 2 (1: conflicts)."""
    render.error(exc, str(fmt))
    raise typer.Exit(EXIT_FINDINGS if isinstance(exc, ResolutionError) else EXIT_INPUT)


class CheckFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"  # workflow commands: annotations on a pull request's diff


@app.command()
def check(
    workspace: WorkspaceOpt = Path("."),
    fmt: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CheckFormat.TEXT,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these rule ids.")
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Skip these rule ids.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Check again even if no file changed.")
    ] = False,
) -> None:
    """Offline pre-build gate: locks fresh, layers consistent, Dockerfiles agree with the graph."""
    from lockaudit.rules.findings import Severity
    from lockaudit.workspace import checkcache

    key = checkcache.check_key(workspace, select or (), ignore or ())
    cached = None if no_cache else checkcache.load_result(key)
    if cached is None:
        from lockaudit.rules.runner import check_workspace
        from lockaudit.workspace.inputs import load_inputs

        try:
            result = check_workspace(load_inputs(workspace), select=select, ignore=ignore)
        except LockauditError as e:
            _fail(e, fmt)
        found, ignored = result.findings, result.ignored
        checkcache.store(key, found, ignored)
    else:
        found, ignored = cached
    if fmt is CheckFormat.GITHUB:
        render.github_annotations(found)
    else:
        render.findings(found, Format(fmt.value), ignored=ignored)
    if any(f.severity is Severity.ERROR for f in found):
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def graph(
    workspace: WorkspaceOpt = Path("."),
    fmt: FormatOpt = Format.TEXT,
    sizes: Annotated[
        bool, typer.Option("--sizes", help="Replay images; show sizes and duplicated bytes.")
    ] = False,
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Also write the picture as SVG here.")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use only the cache.")] = False,
) -> None:
    """Draw the image hierarchy (text tree) or print it in build order (JSON)."""
    from lockaudit.workspace.inputs import load_inputs

    try:
        inputs = load_inputs(workspace)
        ws = inputs.workspace
        if not (sizes or svg):
            from lockaudit.workspace.targets import workspace_targets

            inferred = workspace_targets(inputs) if fmt is Format.JSON else None
            render.graph(ws, fmt, inferred=inferred)
            return
        from lockaudit.audit import format_tree, hierarchy_svg, image_sizes, replay_workspace
        from lockaudit.report.sources import open_sources

        with (
            open_sources(ws, offline=offline) as (client, _),
            render.audit_progress() as progress,
        ):
            report = image_sizes(replay_workspace(inputs, client, reporter=progress))
    except LockauditError as e:
        _fail(e, fmt)
    if fmt is Format.JSON:
        render.emit_json(report.as_json())
    else:
        sys.stdout.write(format_tree(ws, report))
    if svg is not None:
        svg.write_text(hierarchy_svg(ws, report), encoding="utf-8")
        render.message(f"wrote {svg}")


class AuditFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"


@app.command()
def audit(
    workspace: WorkspaceOpt = Path("."),
    fmt: Annotated[
        AuditFormat, typer.Option("--format", "-f", help="Output format.")
    ] = AuditFormat.TEXT,
    offline: Annotated[bool, typer.Option("--offline", help="Use only the cache.")] = False,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            help="Only these rules (names or prefixes; repeatable, comma-separated). "
            "Replaces \\[tool.lockaudit.audit] select.",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            help="Skip these rules (names or prefixes; repeatable, comma-separated). "
            "Added to \\[tool.lockaudit.audit] ignore.",
        ),
    ] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option("--fail-on", help="Exit 1 for findings at or above this severity."),
    ] = None,
    show_info: Annotated[
        bool, typer.Option("--show-info", help="Show info findings in text output too.")
    ] = False,
) -> None:
    """Replay every image's pip installs as they would build: what is replaced, broken, big."""
    from lockaudit.audit import Tuning, audit_rules, audit_workspace, format_tree, to_sarif
    from lockaudit.audit.tuning import summary_line
    from lockaudit.report.sources import open_sources
    from lockaudit.rules.ignores import UNUSED_IGNORE
    from lockaudit.workspace.inputs import load_inputs

    try:
        inputs = load_inputs(workspace)
        ws = inputs.workspace
        known = (*audit_rules(), UNUSED_IGNORE)
        tuning = Tuning.of(ws, known, select=select or (), ignore=ignore or (), fail_on=fail_on)
        with (
            open_sources(ws, offline=offline) as (client, vulns),
            render.audit_progress() as progress,
        ):
            result = audit_workspace(
                inputs, client, vulns=vulns, reporter=progress, tuning=tuning
            )
    except LockauditError as e:
        _fail(e, fmt)
    if fmt is AuditFormat.SARIF:
        rules = [(r.id, r.severity, r.description) for r in audit_rules()]
        render.emit_json(to_sarif(result.findings, rules))
    elif fmt is AuditFormat.JSON:
        render.emit_json(result.as_json())
    elif fmt is AuditFormat.GITHUB:
        render.github_annotations(result.findings)
    else:
        # infos (hoist candidates, mostly) are many and never fail a gate: shown on request
        shown = [f for f in result.findings if show_info or f.severity is not Severity.INFO]
        render.findings(shown, Format.TEXT)
        hidden = len(result.findings) - len(shown)
        sys.stdout.write(summary_line(result.findings, hidden_infos=hidden, ignored=result.ignored))
        sys.stdout.write(format_tree(ws, result.sizes))
    if result.failed:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Repository to discover.")] = Path("."),
    write: Annotated[
        bool, typer.Option("--write/--print", help="Write pyproject.toml or only print.")
    ] = True,
    # Help text is rich markup: the brackets of the table name must be escaped to show.
    force: Annotated[
        bool, typer.Option(help=r"Replace an existing \[tool.lockaudit] table.")
    ] = False,
) -> None:
    """Discover a workspace in a repository that has never seen lockaudit."""
    from lockaudit.workspace.discover import discover_workspace, write_config

    try:
        discovery = discover_workspace(path)
        if write:
            write_config(path, discovery, force=force)
    except LockauditError as e:
        _fail(e)
    render.discovery(discovery, written=write)
    if discovery.problems:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def migrate(
    path: Annotated[Path, typer.Argument(help="Repository to migrate.")] = Path("."),
    write: Annotated[
        bool, typer.Option("--write", help="Compile the locks and write every change.")
    ] = False,
) -> None:
    """Turn loose `pip install` steps into per-image .in files, locks and lock installs."""
    from lockaudit.migrate import apply_migration, plan_migration, render_plan

    try:
        plan = plan_migration(path)
        if not write:
            sys.stdout.write(render_plan(plan))
            if plan.changes:
                render.message("nothing written: run again with --write to compile and write")
            return
        from lockaudit.index.factory import build_index_client

        result = apply_migration(plan, lambda ws: build_index_client(ws))
    except LockauditError as e:
        _fail(e)
    for note in result.plan.notes:
        sys.stdout.write(f"{note}\n")
    render.compile_result(result.compiled, Format.TEXT)
    for written in result.written:
        render.message(f"wrote {written}")
    if not result.ok:
        left_out = ", ".join(result.left_out)
        render.message(
            f"not migrated: {left_out} (no lock resolves; see above)"
            if result.written
            else "nothing written: the migrated workspace does not resolve"
        )
        raise typer.Exit(EXIT_FINDINGS)


@app.command("add-stage")
def add_stage(
    name: Annotated[str, typer.Argument(help="Name of the new stage image.")],
    parent: Annotated[str, typer.Option("--parent", help="Parent image (name or name:tag).")],
    variant: Annotated[Variant | None, typer.Option("--variant")] = None,
    package: Annotated[
        list[str] | None,
        typer.Option("--package", "-p", help="A requirement of the stage (repeatable)."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Scaffold a stage: Dockerfile, requirements.in, config entry and its lock."""
    from lockaudit.index.factory import build_index_client
    from lockaudit.migrate.stage import StageRequest, add_stage_files, plan_stage
    from lockaudit.workspace.inputs import load_inputs

    try:
        ws = load_inputs(workspace).workspace
        request = StageRequest(name, _image_keys(ws, [parent])[0], variant, tuple(package or ()))
        plan = plan_stage(ws, request)
        result = add_stage_files(plan, lambda staged: build_index_client(staged))
    except LockauditError as e:
        _fail(e)
    render.compile_result(result.compiled, Format.TEXT)
    if not result.ok:
        render.message("nothing written: the new stage does not resolve")
        raise typer.Exit(EXIT_FINDINGS)
    for written in result.written:
        render.message(f"wrote {written}")


@app.command()
def build(
    workspace: WorkspaceOpt = Path("."),
    fmt: FormatOpt = Format.TEXT,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", "--image", help="Image name or key.")
    ] = None,
    variant: Annotated[Variant | None, typer.Option("--variant")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print plan and commands.")] = False,
    push: Annotated[bool, typer.Option("--push")] = False,
    backend: Annotated[BuildBackend, typer.Option("--backend")] = BuildBackend.BUILD,
    no_gate: Annotated[bool, typer.Option("--no-gate", help="Build without `check`.")] = False,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke/--no-smoke",
            help="After building, import each layer's modules in the image (on by default).",
        ),
    ] = True,
    network: Annotated[str | None, typer.Option("--network", help="e.g. host")] = None,
    builder: Annotated[
        str | None, typer.Option("--builder", help="The buildx builder to build on.")
    ] = None,
    cache_from: Annotated[
        list[str] | None,
        typer.Option(
            "--cache-from",
            help="Cache to import, e.g. type=registry,ref=REPO:{slug} (repeatable; "
            "replaces the configured ones; `none`: no import).",
        ),
    ] = None,
    cache_to: Annotated[
        list[str] | None,
        typer.Option(
            "--cache-to",
            help="Cache to export (repeatable; replaces the configured ones; `none`: no export).",
        ),
    ] = None,
    record_sizes: Annotated[
        bool,
        typer.Option(help="Append each built image's size to reports/sizes.jsonl."),
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Build images parents first from their locks; skip the ones that are up to date."""
    from lockaudit.builder import BuildOptions, render_build, run_build
    from lockaudit.output import progress
    from lockaudit.output.build_progress import build_progress
    from lockaudit.workspace.inputs import load_inputs

    options = BuildOptions(
        stages=tuple(stage or ()),
        variant=variant,
        dry_run=dry_run,
        push=push,
        backend=backend,
        gate=not no_gate,
        smoke=smoke,
        network=network,
        builder=builder,
        cache_from=_cache_option(cache_from),
        cache_to=_cache_option(cache_to),
        record_sizes=record_sizes,
    )
    try:
        with build_progress(enabled=progress.wanted(quiet=quiet)) as reporter:
            report = run_build(load_inputs(workspace), options, reporter=reporter)
    except LockauditError as e:
        _fail(e, fmt)
    render_build(report, fmt)
    if not report.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _cache_option(values: list[str] | None) -> tuple[str, ...] | None:
    """None keeps the configured specs; ``none`` alone means no cache at all."""
    if not values:
        return None
    return () if values == ["none"] else tuple(values)


OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Use only the metadata cache; name what is missing.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress line on stderr.")]


@app.command("compile")
def compile_(
    workspace: WorkspaceOpt = Path("."),
    fmt: FormatOpt = Format.TEXT,
    stage: Annotated[
        list[str] | None,
        typer.Option("--stage", "--image", help="Image name or key (repeatable)."),
    ] = None,
    all_images: Annotated[bool, typer.Option("--all", help="Every image.")] = False,
    upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Ignore existing pins.")] = False,
    upgrade_package: Annotated[
        list[str] | None,
        typer.Option("--upgrade-package", "-P", help="Upgrade only this package (repeatable)."),
    ] = None,
    offline: OfflineOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Resolve; write nothing.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress line on stderr.")
    ] = False,
) -> None:
    """Resolve images into hash-pinned locks layered on their parents' locks."""
    from lockaudit.compile import CompileOptions, compile_workspace
    from lockaudit.index.lazy import LazySource
    from lockaudit.output import progress
    from lockaudit.workspace.inputs import load_inputs
    from lockaudit.workspace.model import normalize

    try:
        inputs = load_inputs(workspace)
        ws = inputs.workspace
        options = CompileOptions(
            images=None if all_images or not stage else _image_keys(ws, stage),
            upgrade=upgrade,
            upgrade_packages=frozenset(normalize(p) for p in upgrade_package or ()),
            offline=offline,
            dry_run=dry_run,
        )
        total = len(options.images) if options.images is not None else len(ws.images)
        show = progress.wanted(quiet=quiet)
        with (
            progress.compile_progress(total, enabled=show) as reporter,
            LazySource(lambda: _index_client(ws, offline, reporter)) as source,
        ):
            result = compile_workspace(inputs, source, options, reporter)
    except LockauditError as e:
        _fail(e, fmt)
    render.compile_result(result, fmt)
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _index_client(ws: Workspace, offline: bool, reporter: IndexReporter) -> IndexClient:
    from lockaudit.index.factory import build_index_client  # only when the index is asked

    return build_index_client(ws, offline=offline, reporter=reporter)


def _image_keys(workspace: Workspace, names: list[str]) -> tuple[str, ...]:
    """``--stage asr`` means every tag of asr; ``--stage asr:cpu`` just that one."""
    keys: list[str] = []
    for name in names:
        matches = [i.key for i in workspace.images if name in (i.key, i.name)]
        if not matches:
            known = ", ".join(sorted({i.name for i in workspace.images}))
            raise UsageError(f"no image named {name!r}", hint=f"images: {known}")
        keys.extend(matches)
    return tuple(dict.fromkeys(keys))


class ReportFormat(StrEnum):
    TABLE = "table"
    MD = "md"
    JSON = "json"
    HTML = "html"


def _write_or_print(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        render.message(f"wrote {output}")


@app.command()
def outdated(
    workspace: WorkspaceOpt = Path("."),
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ReportFormat.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Every pin: newest usable release, newest allowed, what holds it back, advisories."""
    from lockaudit import report
    from lockaudit.output import progress
    from lockaudit.report.sources import open_sources
    from lockaudit.workspace.inputs import load_inputs

    try:
        inputs = load_inputs(workspace)
        show = progress.wanted(quiet=quiet)
        with (
            progress.fetch_progress("checking releases", enabled=show) as reporter,
            open_sources(inputs.workspace, offline=offline, reporter=reporter) as (client, vulns),
        ):
            result = report.outdated_report(inputs, client, vulns, date.today())
    except LockauditError as e:
        _fail(e, fmt)
    writers = {
        ReportFormat.TABLE: report.render_table,
        ReportFormat.MD: report.render_markdown,
        ReportFormat.JSON: report.render_json,
        ReportFormat.HTML: report.render_html,
    }
    _write_or_print(writers[fmt](result), output)


@app.command("report")
def monthly_report(
    workspace: WorkspaceOpt = Path("."),
    reports_dir: Annotated[
        Path | None, typer.Option("--dir", help="Where to write (default: <workspace>/reports).")
    ] = None,
    offline: OfflineOpt = False,
    upgrades: Annotated[
        int,
        typer.Option("--upgrades", min=0, help="What-if of this many top upgrades (0: none)."),
    ] = 5,
    quiet: QuietOpt = False,
) -> None:
    """Write this month's report: reports/YYYY-MM.md, .json and .html."""
    from lockaudit import report
    from lockaudit.output import progress
    from lockaudit.report.sources import open_sources
    from lockaudit.workspace.inputs import load_inputs

    today = date.today()
    try:
        inputs = load_inputs(workspace)
        ws = inputs.workspace
        show = progress.wanted(quiet=quiet)
        with (
            progress.fetch_progress("checking releases", enabled=show) as reporter,
            open_sources(ws, offline=offline, reporter=reporter) as (client, vulns),
        ):
            result = report.outdated_report(inputs, client, vulns, today)
            reporter.step("trying upgrades")
            result = report.try_upgrades(ws, client, result, upgrades)
        result = report.with_size_history(result, ws)
        paths = report.write_reports(result, reports_dir or ws.root / "reports", f"{today:%Y-%m}")
    except LockauditError as e:
        _fail(e)
    for path in paths:
        render.message(f"wrote {path}")


@app.command()
def whatif(
    requirements: Annotated[
        list[str], typer.Argument(help="Changes to try, e.g. torch==2.5.1.", metavar="REQ...")
    ],
    workspace: WorkspaceOpt = Path("."),
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="Apply only to these images.")
    ] = None,
    keep_constraints: Annotated[
        bool,
        typer.Option(
            "--keep-constraints", help="Keep the constraint files' lines on these packages."
        ),
    ] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Put the change into the input files and re-lock."),
    ] = False,
    fmt: FormatOpt = Format.TEXT,
    offline: OfflineOpt = False,
) -> None:
    """Re-resolve the affected images with a change: moves, breaks, why; --write applies it.

    Pins and constraints on the named packages are set aside (the output lists each line);
    --keep-constraints keeps the constraint files' lines.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    from lockaudit import report
    from lockaudit.errors import InputError, Location
    from lockaudit.report.sources import open_sources
    from lockaudit.report.whatif_write import write_whatif
    from lockaudit.workspace.inputs import load_inputs

    try:
        changes = []
        for text in requirements:
            try:
                changes.append(Requirement(text))
            except InvalidRequirement as e:
                raise InputError(Location("<command line>"), f"{text!r}: {e}") from e
        inputs = load_inputs(workspace)
        with open_sources(inputs.workspace, offline=offline) as (client, _):
            result = report.whatif(
                inputs, client, changes, tuple(stage or ()), keep_constraints=keep_constraints
            )
            written, compiled = (
                write_whatif(inputs, client, result, changes)
                if write and not result.broken
                else ((), None)
            )
    except LockauditError as e:
        _fail(e, fmt)
    if fmt is Format.JSON:
        document = report.whatif_json(result)
        if compiled is not None:
            document["written"] = list(written)
            document["compiled"] = compiled.ok
        render.emit_json(document)
    else:
        sys.stdout.write(report.render_whatif_text(result))
        for path in written:
            render.message(f"rewrote {path}")
        if compiled is not None:
            render.compile_result(compiled, fmt)
    if result.broken or (compiled is not None and not compiled.ok):
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def unused(
    workspace: WorkspaceOpt = Path("."),
    fmt: FormatOpt = Format.TEXT,
    offline: OfflineOpt = False,
) -> None:
    """Quarterly review: installed but never imported, imported but never installed."""
    from lockaudit import report
    from lockaudit.report.sources import open_sources
    from lockaudit.workspace.inputs import load_inputs

    try:
        inputs = load_inputs(workspace)
        with open_sources(inputs.workspace, offline=offline) as (client, _):
            result = report.unused_report(inputs, client, inputs.unused_allow)
    except LockauditError as e:
        _fail(e, fmt)
    if fmt is Format.JSON:
        render.emit_json(report.unused_json(result))
    else:
        sys.stdout.write(report.render_unused_text(result))


def main() -> None:
    """Console-script entry point."""
    try:
        # One program name however it is started (``python -m lockaudit`` too), so usage lines
        # and the completion script name the command users type.
        app(prog_name="lockaudit")
    except KeyboardInterrupt:
        render.message("interrupted")
        sys.exit(130)
