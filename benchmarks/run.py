"""lockaudit against uv and pip-compile: one entry point for every benchmark.

    python benchmarks/run.py                 # every scenario on the loopback index (~10 min)
    python benchmarks/run.py --quick         # a ~1 minute smoke run
    python benchmarks/run.py --scenario embedded --reps 5
    python benchmarks/run.py --public        # opt-in: the embedded workspaces on the real indexes
    python benchmarks/run.py --public --scenario diarization --timeout 300

Scenarios: ``embedded`` (this repository's workspace, on a loopback copy of its real dependency
graph), ``diarization`` (one image with everything diarization:cuda installs), and the
synthetic scale series ``scale-10``, ``scale-50``, ``scale-200`` (images over 500, 2,000 and
5,000 generated packages with deep chains and backtracking traps; ``tests/indexserver/synthetic``).

For each scenario the tools run in fresh child processes, interleaved (A B C A B C ...) after
one warm-up pass, ``--reps`` times. Each tool is measured cold (empty cache), warm (cache
kept), offline (only the warm cache) and no-op (its previous outputs kept: lockaudit's locks
are up to date, uv and pip-compile read theirs as preferences), as far as it has the mode.
Printed: medians, the ratios lockaudit/uv and lockaudit/pip-compile, bytes and requests the
index served, peak memory, and for the scale series how time grows with the number of images.
Written: one JSON file per scenario,
``benchmarks/results/<date>-<scenario>.json``, with the command, tool versions, machine load
and a ``ratios`` object, and ``inputs``: every tool's commands and the variables set for them
(machine paths and index URLs as placeholders: ``$WORKSPACE``, ``$SCRATCH``, ``$INDEX_URL``),
the sha256 of every workspace file and the repository's commit, so a reader can repeat a run.
If any run of any tool fails (warm-ups included; a run that exits 0 without writing its output
fails too), the runner stops with exit status 1 and writes no results file at all. A
pip-compile run killed at ``--timeout`` is recorded as timed out (its ratios become bounds).

``--public`` runs on the real indexes as the machine's pip configuration names them, on a
machine that cannot reach the PyTorch indexes: the generated workspace mirrors them to the
default index (``[tool.lockaudit.mirrors]``), and the baselines then get no extra index.

Ratios are lockaudit's median time over the other tool's (below 1: lockaudit is faster), each
under the same cache state: ``compile_all_warm_vs_uv`` (both caches warm),
``compile_all_cold_vs_uv`` (both empty), ``compile_all_vs_pip_compile`` (cold against cold:
pip's cache barely helps on a loopback index, 171 s warm against 157 s cold in a trial, so one
pass is enough; ``compile_all_warm_vs_pip_compile`` when ``--tools`` asks for it) and
``check_seconds`` (median wall time of ``lockaudit check``, interpreter start included, as a
hook runs it: nothing changed since the previous run) and ``check_edit_seconds`` (``check
--no-cache``: every rule runs, as after an edit). The check budget is 0.3 s up to 30 images,
then 10 ms per image (2 s at 200).

Decisions: the loopback index runs in this process (threads), so its CPU time competes with the
measured child on a small machine; every tool pays that equally. On large synthetic workspaces
pip-compile is left out by default (it would take most of the time budget on its own) and the
repetitions are capped (see ``_PLANS``); ``--reps`` and ``--tools`` override.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a fresh clone: benchmarks/ and tests/ are not installed

from benchmarks.embedded import (  # noqa: E402
    copy_embedded_workspace,
    embedded_scenario,
    write_diarization_workspace,
)
from benchmarks.tools import (  # noqa: E402
    Bench,
    Executables,
    Invocation,
    Sample,
    child_env,
    file_digests,
    tool_versions,
    tools_for,
)
from lockaudit.index.pipconf import default_index_url, read_pip_config  # noqa: E402
from lockaudit.workspace.config import load_workspace  # noqa: E402
from tests.indexserver import IndexServer  # noqa: E402
from tests.indexserver.synthetic import (  # noqa: E402
    SCALE_SERIES,
    SyntheticSpec,
    synthetic_scenario,
    write_pip_config,
    write_workspace,
)

RESULTS = ROOT / "benchmarks" / "results"
# The interleaving order: offline and no-op runs follow a run that filled the cache or wrote
# the outputs they read.
ALL = (
    "lockaudit-compile-cold",
    "uv-cold",
    "pip-compile-cold",
    "lockaudit-compile-warm",
    "uv-warm",
    "pip-compile-warm",
    "lockaudit-compile-offline",
    "uv-offline",
    "lockaudit-compile-noop",
    "uv-noop",
    "pip-compile-noop",
    "lockaudit-check",
    "lockaudit-check-edit",
)
NO_PIP = tuple(t for t in ALL if not t.startswith("pip-compile"))
DEFAULT = tuple(t for t in ALL if t not in ("pip-compile-warm", "pip-compile-noop"))
QUICK = NO_PIP
SLOW = ("pip-compile-cold", "pip-compile-warm", "pip-compile-noop")
PLACEHOLDER_INDEX = "$INDEX_URL"


@dataclass(frozen=True)
class Plan:
    """What a scenario runs by default: its tools, repetitions caps, and whether to warm up.

    ``slow`` tools (pip-compile) run once, without a warm-up, unless ``--reps`` is given: on
    the embedded workspace one pip-compile pass takes minutes, and the 10x target is far
    from its noise.
    """

    tools: tuple[str, ...]
    max_reps: int | None = None
    warmup: bool = True
    slow: tuple[str, ...] = SLOW


_PLANS = {
    "embedded": Plan(DEFAULT),
    "diarization": Plan(DEFAULT),
    "scale-10": Plan(DEFAULT),
    "scale-50": Plan(NO_PIP, max_reps=1, warmup=False),
    "scale-200": Plan(NO_PIP, max_reps=1, warmup=False),
}
SCALE = {f"scale-{spec.images}": spec for spec in SCALE_SERIES}


# --------------------------------------------------------------------------- set-up


@contextlib.contextmanager
def _loopback(scenario: str, scratch: Path) -> Iterator[Bench]:
    spec = _synthetic_spec(scenario)
    index = embedded_scenario() if spec is None else synthetic_scenario(spec)
    with IndexServer(index) as server:
        conf = write_pip_config(scratch / "pip.conf", server.index_url("default"))
        (scratch / "xdg").mkdir()  # an empty XDG_CONFIG_DIRS hides the machine's pip.conf
        env = {"PIP_CONFIG_FILE": str(conf), "XDG_CONFIG_DIRS": str(scratch / "xdg")}
        workspace = _workspace(scenario, spec, scratch / "ws")
        model = load_workspace(workspace)
        mirrors = ",".join(f"{i.url}={server.index_url(i.name)}" for i in model.indexes)
        if mirrors:
            env["LOCKAUDIT_INDEX_MIRRORS"] = mirrors
        variants = {i.variant.value: server.index_url(i.name) for i in model.indexes if i.variant}
        base = server.index_url("default").removesuffix("/").rsplit("/", 2)[0]
        yield Bench(
            workspace=workspace,
            scratch=scratch,
            env=child_env(env),
            default_index=server.index_url("default"),
            variant_indexes=variants,
            counters=lambda: (server.bytes_sent, server.total_requests()),
            placeholders=(
                (str(conf), "$SCRATCH/pip.conf"),
                (base, "$LOOPBACK"),
            ),
            set_env=tuple(sorted(env.items())),
        )


def _synthetic_spec(scenario: str) -> SyntheticSpec | None:
    """``scale-N`` of the series, or ``synthetic-IxP`` (any size; tests use a tiny one)."""
    if scenario.startswith("synthetic-"):
        images, _, packages = scenario.removeprefix("synthetic-").partition("x")
        return SyntheticSpec(images=int(images), packages=int(packages), traps=1, depth=6)
    return SCALE.get(scenario)


def _workspace(
    scenario: str, spec: SyntheticSpec | None, dest: Path, *, mirrored: bool = False
) -> Path:
    """The scenario's workspace; ``mirrored``: its PyTorch indexes served by the default one."""
    if spec is not None:
        return write_workspace(dest, spec).root
    if scenario == "diarization":
        cu121 = next(i.url for i in load_workspace(ROOT).indexes if i.name == "pytorch-cu121")
        return write_diarization_workspace(dest, cu121, mirrored=mirrored)
    return copy_embedded_workspace(dest)  # its pyproject.toml mirrors them already


def _baseline_extra_indexes(model: Any) -> dict[str, str]:
    """variant → the extra index a baseline gets, after the workspace's mirrors.

    An index mirrored to ``default`` needs no extra index: the baselines get the default index
    anyway, and giving them the unreachable original would make them fail where lockaudit
    does not (or, where reachable, resolve from other files than lockaudit did).
    """
    extra = {}
    for index in model.indexes:
        if index.variant is None:
            continue
        mirror = model.mirror_of(index.url)
        if mirror != "default":
            extra[index.variant.value] = mirror or index.url
    return extra


@contextlib.contextmanager
def _public(scenario: str, scratch: Path) -> Iterator[Bench]:
    if _synthetic_spec(scenario) is not None:
        raise SystemExit(f"{scenario} is synthetic: it only exists on the loopback index")
    workspace = _workspace(scenario, None, scratch / "ws", mirrored=True)
    model = load_workspace(workspace)
    config = read_pip_config()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "LOCKAUDIT_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as child_env: no tool compiles its modules per run
    default = config.index_url or default_index_url()
    # the machine's index is recorded as a placeholder, its own variables by name only
    hidden = tuple((v, f"${k}") for k, v in sorted(env.items()) if k.startswith("PIP_") and v)
    yield Bench(
        workspace=workspace,
        scratch=scratch,
        env=env,
        default_index=default,
        variant_indexes=_baseline_extra_indexes(model),
        placeholders=((default.rstrip("/"), PLACEHOLDER_INDEX), *hidden),
        set_env=tuple((k, f"${k}") for k, _ in sorted(env.items()) if k.startswith("PIP_")),
    )


# --------------------------------------------------------------------------- running


def _run(
    bench: Bench, tools: Sequence[str], reps: int, warmup: bool, slow: Sequence[str] = ()
) -> tuple[list[Sample], list[Sample]]:
    """The measured samples, and the warm-up runs (not measured, but a failure still counts)."""
    table = tools_for(tools)
    warmups = []
    if warmup:
        for name, tool in table:
            if name in slow:
                continue
            done = tool(bench)
            warmups.append(done)
            print(f"  warm-up {name}: {done.seconds:.2f} s{'' if done.ok else ' FAILED'}")
            if not done.ok:
                print(_indent(done.error))
    samples = []
    for rep in range(reps):
        for name, tool in table:  # interleaved: a load spike hits every tool alike
            if name in slow and rep > 0:
                continue
            sample = tool(bench)
            samples.append(sample)
            state = "" if sample.ok else " FAILED"
            print(f"  rep {rep + 1} {name}: {sample.seconds:.2f} s{state}", flush=True)
            if not sample.ok:
                print(_indent(sample.error))
    return warmups, samples


def failed_runs(record: dict[str, Any]) -> list[str]:
    """Every failed run of a scenario, warm-ups included: one such run makes the figures a lie.

    A median over the runs that happened to succeed (or a ratio against a tool that never ran)
    is not a measurement of the workspace, so a scenario with any of these writes no results.
    """
    runs = [*record["warmup_samples"], *record["samples"]]
    # A time-out (pip-compile's budget) is a measurement: that run took longer than the budget.
    failed = [s for s in runs if not s["ok"] and not s.get("timed_out")]
    return [f"{record['scenario']}: {s['tool']} failed" for s in failed]


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines()[-20:])


@dataclass(frozen=True)
class Summary:
    tool: str
    runs: int
    failed: int
    timed_out: int
    timed_out_after_s: float | None  # the budget, when every run of the tool hit it
    median_s: float | None
    min_s: float | None
    max_s: float | None
    peak_rss_mb: float | None
    bytes: int | None
    requests: int | None


def _summary(tool: str, samples: list[Sample]) -> Summary:
    mine = [s for s in samples if s.tool == tool]
    ok = [s for s in mine if s.ok]
    late = [s for s in mine if s.timed_out]
    times = [s.seconds for s in ok]
    byte_counts = [s.bytes for s in ok if s.bytes is not None]
    request_counts = [s.requests for s in ok if s.requests is not None]
    return Summary(
        tool=tool,
        runs=len(mine),
        failed=len(mine) - len(ok) - len(late),
        timed_out=len(late),
        timed_out_after_s=round(min(s.seconds for s in late), 1) if late and not ok else None,
        median_s=statistics.median(times) if times else None,
        min_s=min(times) if times else None,
        max_s=max(times) if times else None,
        peak_rss_mb=max(s.peak_rss_kb for s in ok) / 1024 if ok else None,
        bytes=int(statistics.median(byte_counts)) if byte_counts else None,
        requests=int(statistics.median(request_counts)) if request_counts else None,
    )


def _other_seconds(summary: Summary | None) -> float | None:
    """The other tool's median, or its time budget when every run of it timed out."""
    if summary is None:
        return None
    return summary.median_s if summary.median_s else summary.timed_out_after_s


def _ratio(by: dict[str, Summary], mine: str, other: str) -> float | None:
    a, b = by.get(mine), _other_seconds(by.get(other))
    if a is None or a.median_s is None or not b:
        return None
    return round(a.median_s / b, 3)


def _rss_ratio(by: dict[str, Summary], mine: str, other: str) -> float | None:
    a, b = by.get(mine), by.get(other)
    if a is None or b is None or not a.peak_rss_mb or not b.peak_rss_mb:
        return None
    return round(a.peak_rss_mb / b.peak_rss_mb, 3)


# ratio key → (lockaudit tool, other tool); below 1: lockaudit is faster
PAIRS = {
    "compile_all_cold_vs_uv": ("lockaudit-compile-cold", "uv-cold"),
    "compile_all_warm_vs_uv": ("lockaudit-compile-warm", "uv-warm"),
    "compile_all_offline_vs_uv": ("lockaudit-compile-offline", "uv-offline"),
    "compile_noop_vs_uv": ("lockaudit-compile-noop", "uv-noop"),
    "compile_all_vs_pip_compile": ("lockaudit-compile-cold", "pip-compile-cold"),
    "compile_all_warm_vs_pip_compile": ("lockaudit-compile-warm", "pip-compile-warm"),
    "compile_noop_vs_pip_compile": ("lockaudit-compile-noop", "pip-compile-noop"),
    "compile_noop_vs_check": ("lockaudit-compile-noop", "lockaudit-check"),
}
RSS_PAIRS = {
    "peak_rss_cold_vs_uv": ("lockaudit-compile-cold", "uv-cold"),
    "peak_rss_warm_vs_uv": ("lockaudit-compile-warm", "uv-warm"),
    "peak_rss_cold_vs_pip_compile": ("lockaudit-compile-cold", "pip-compile-cold"),
}


def _ratios(by: dict[str, Summary]) -> dict[str, float | None]:
    ratios = {key: _ratio(by, mine, other) for key, (mine, other) in PAIRS.items()}
    ratios |= {key: _rss_ratio(by, mine, other) for key, (mine, other) in RSS_PAIRS.items()}
    ratios["check_seconds"] = _seconds(by.get("lockaudit-check"))
    ratios["check_edit_seconds"] = _seconds(by.get("lockaudit-check-edit"))
    ratios["compile_noop_seconds"] = _seconds(by.get("lockaudit-compile-noop"))
    return ratios


def _bounds(by: dict[str, Summary]) -> dict[str, str]:
    """Ratios against a tool that timed out every run: lockaudit over its budget, an upper bound."""
    bounds = {}
    for key, (_, other) in PAIRS.items():
        summary = by.get(other)
        if summary and summary.median_s is None and summary.timed_out_after_s:
            bounds[key] = f"at most: {other} timed out after {summary.timed_out_after_s:g} s"
    return bounds


def _seconds(summary: Summary | None) -> float | None:
    return round(summary.median_s, 3) if summary and summary.median_s else None


def _targets(
    ratios: dict[str, float | None], by: dict[str, Summary], images: int
) -> dict[str, bool | None]:
    def below(value: float | None, limit: float) -> bool | None:
        return None if value is None else value < limit

    peak = max((s.peak_rss_mb or 0 for k, s in by.items() if k.startswith("lockaudit")), default=0)
    # issue 19: a warm single-image compile in 200 MiB, ``compile --all`` in 250 MiB
    memory_budget = 200 if images == 1 else 250
    check_budget = 0.3 if images <= 30 else round(0.01 * images, 2)
    return {
        "warm faster than uv": below(ratios["compile_all_warm_vs_uv"], 1.0),
        "cold no slower than uv": below(ratios["compile_all_cold_vs_uv"], 1.0 + 1e-9),
        "offline no slower than uv": below(ratios["compile_all_offline_vs_uv"], 1.0 + 1e-9),
        "no-op compile under 0.3 s": below(ratios["compile_noop_seconds"], 0.3),
        "10x faster than pip-compile (cold)": below(ratios["compile_all_vs_pip_compile"], 0.1),
        "10x faster than pip-compile (warm)": below(ratios["compile_all_warm_vs_pip_compile"], 0.1),
        # the budget: 0.3 s for the embedded workspace, 2 s at 200 images (linear: 10 ms each)
        f"check under {check_budget:g} s": below(ratios["check_seconds"], check_budget),
        f"check after an edit under {check_budget:g} s": below(
            ratios["check_edit_seconds"], check_budget
        ),
        f"peak memory under {memory_budget} MiB": peak < memory_budget if peak else None,
    }


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _table(summaries: list[Summary]) -> str:
    columns = ("median", 9), ("min", 8), ("max", 8), ("peak MB", 8), ("KB sent", 9), ("reqs", 6)
    rows = [f"  {'tool':24} " + " ".join(f"{name:>{width}}" for name, width in columns)]
    for s in summaries:
        kb = None if s.bytes is None else s.bytes / 1024
        failed = f"  ({s.failed} failed)" if s.failed else ""
        failed += f"  ({s.timed_out} timed out)" if s.timed_out else ""
        rows.append(
            f"  {s.tool:24} {_fmt(s.median_s, ' s'):>9} {_fmt(s.min_s):>8} {_fmt(s.max_s):>8} "
            f"{_fmt(s.peak_rss_mb, '', 0):>8} {_fmt(kb, '', 0):>9} "
            f"{'-' if s.requests is None else s.requests:>6}{failed}"
        )
    return "\n".join(rows)


WORK = (  # the ratio table's rows: (label, lockaudit tool, uv tool, pip-compile tool)
    ("cold", "lockaudit-compile-cold", "uv-cold", "pip-compile-cold"),
    ("warm", "lockaudit-compile-warm", "uv-warm", "pip-compile-warm"),
    ("offline", "lockaudit-compile-offline", "uv-offline", None),
    ("no-op", "lockaudit-compile-noop", "uv-noop", "pip-compile-noop"),
    ("check", "lockaudit-check", None, None),
    ("check after an edit", "lockaudit-check-edit", None, None),
)


def ratio_table(by: dict[str, Summary]) -> str:
    """Seconds and peak MiB of lockaudit, uv and pip-compile per kind of work, with ratios."""

    def cell(tool: str | None) -> str:
        summary = by.get(tool or "")
        if summary is None:
            return "-"
        if summary.median_s is None and summary.timed_out_after_s:
            return f">{summary.timed_out_after_s:g} s (timed out)"
        return f"{_fmt(summary.median_s, ' s')} / {_fmt(summary.peak_rss_mb, ' MiB', 0)}"

    def ratio(mine: str, other: str | None) -> str:
        if other is None or other not in by:
            return "-"
        value = _ratio(by, mine, other)
        late = by[other].median_s is None and by[other].timed_out_after_s
        return "-" if value is None else f"{'<' if late else ''}{value:.3f}"

    head = ("work", "lockaudit", "uv", "ratio", "pip-compile", "ratio")
    rows = [head, tuple("---" for _ in head)]
    for label, mine, uv, pip in WORK:
        if mine in by:
            rows.append((label, cell(mine), cell(uv), ratio(mine, uv), cell(pip), ratio(mine, pip)))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _write(scenario: str, record: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-public" if record["public"] else ""
    path = out / f"{datetime.date.today().isoformat()}-{scenario}{suffix}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def run_scenario(
    scenario: str, args: argparse.Namespace, versions: dict[str, str]
) -> dict[str, Any]:
    plan = _PLANS.get(scenario, Plan(NO_PIP))
    tools = tuple(args.tools) if args.tools else (QUICK if args.quick else plan.tools)
    reps = args.reps if args.reps_given or plan.max_reps is None else min(args.reps, plan.max_reps)
    warmup = plan.warmup and not args.quick
    print(f"\n== {scenario}: {', '.join(tools)}; {reps} rep(s){', warm-up' if warmup else ''}")
    load_before = os.getloadavg()
    uptime_before = _uptime()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"lockaudit-bench-{scenario}-") as d:
        setup = _public if args.public else _loopback
        with setup(scenario, Path(d)) as bench:
            bench.exes, bench.timeout = args.exes, args.timeout
            images = len(bench.model.images)
            files = file_digests(bench.workspace, skip=(bench.model.locks_dir,))
            slow = () if args.reps_given else plan.slow
            warmups, samples = _run(bench, tools, reps, warmup, slow)
            inputs = recorded_inputs(bench, files)
    summaries = [_summary(tool, samples) for tool in tools]
    by = {s.tool: s for s in summaries}
    ratios = _ratios(by)
    print(_table(summaries))
    print("  ratios: " + ", ".join(f"{k}={_fmt(v, '', 3)}" for k, v in ratios.items()))
    load_after = os.getloadavg()
    print(
        f"\n{ratio_table(by)}\n  (median seconds / peak MiB; load {_load(load_before)} before,"
        f" {_load(load_after)} after)"
    )
    record: dict[str, Any] = {
        "scenario": scenario,
        "images": images,
        "public": args.public,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "versions": versions,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "uptime_before": uptime_before,
            "uptime_after": _uptime(),
        },
        "reps": reps,
        "warmup": warmup,
        "seconds_total": round(time.perf_counter() - started, 1),
        "ratios": ratios,
        "ratio_bounds": _bounds(by),
        "timeout_s": args.timeout,
        "targets": _targets(ratios, by, images),
        "inputs": inputs,
        "summary": [asdict(s) for s in summaries],
        "samples": [asdict(s) for s in samples],
        "warmup_samples": [asdict(s) for s in warmups],
    }
    return record


def _load(values: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _uptime() -> str:
    """``uptime`` as the machine prints it: how loaded the shared machine was."""
    try:
        done = subprocess.run(["uptime"], capture_output=True, text=True, check=False, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def redact(text: str, placeholders: Sequence[tuple[str, str]]) -> str:
    """``text`` with every machine-specific value replaced by its placeholder, longest first."""
    for value, name in sorted(placeholders, key=lambda p: -len(p[0])):
        if value:
            text = text.replace(value, name)
    return text


def recorded_inputs(bench: Bench, files: dict[str, str]) -> dict[str, Any]:
    """What every tool was given, with paths and index URLs as placeholders."""
    placeholders = (
        *bench.placeholders,
        (str(bench.workspace), "$WORKSPACE"),
        (str(bench.scratch), "$SCRATCH"),
        (sys.executable, "python"),
        (bench.exes.uv, "uv"),
        (bench.exes.pip_compile, "pip-compile"),
    )

    def show(invocation: Invocation) -> dict[str, Any]:
        return {
            "command": [redact(word, placeholders) for word in invocation.command],
            "env": {k: redact(v, placeholders) for k, v in invocation.env},
        }

    return {
        "repository_commit": _commit(),
        "environment": {k: redact(v, placeholders) for k, v in bench.set_env},
        "workspace_files_sha256": files,
        "derived": {
            "$SCRATCH/versions-pins.txt": "the pins of the workspace's versions file, one a line",
            "$SCRATCH/out-<tool>/<image>.pins.txt": (
                "the name==version lines of that tool's output for the parent image"
            ),
        },
        "tools": {tool: [show(i) for i in runs] for tool, runs in bench.invocations.items()},
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _write_all(records: Sequence[dict[str, Any]], out: Path) -> None:
    for record in records:
        written = _write(record["scenario"], record, out)
        shown = written.relative_to(ROOT) if written.is_relative_to(ROOT) else written
        print(f"  wrote {shown}")


def _growth(records: list[dict[str, Any]]) -> None:
    scale = [r for r in records if r["scenario"].startswith("scale-")]
    if len(scale) < 2:
        return
    tools = (
        "lockaudit-compile-cold",
        "lockaudit-compile-warm",
        "uv-cold",
        "uv-warm",
        "lockaudit-check",
        "lockaudit-check-edit",
    )
    print("\n== growth with workspace size (median seconds; per image in brackets)")
    print(f"  {'images':>6} " + " ".join(f"{t:>26}" for t in tools))
    for record in scale:
        by = {s["tool"]: s for s in record["summary"]}
        cells = []
        for tool in tools:
            median = by.get(tool, {}).get("median_s")
            per = None if median is None else median / record["images"]
            cells.append(f"{_fmt(median):>14} [{_fmt(per, '', 3):>8}] ")
        print(f"  {record['images']:>6} " + " ".join(cells))


def _scenario_name(value: str) -> str:
    if value in _PLANS:
        return value
    try:
        _synthetic_spec(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value}: {e}") from None
    if not value.startswith("synthetic-"):
        raise argparse.ArgumentTypeError(f"unknown scenario {value!r}")
    return value


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        action="append",
        type=_scenario_name,
        help=f"{', '.join(_PLANS)} or synthetic-IMAGESxPACKAGES; repeatable; default: all",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument("--quick", action="store_true", help="a ~1 minute run")
    parser.add_argument("--public", action="store_true", help="the real indexes (opt-in)")
    parser.add_argument("--tools", nargs="+", choices=list(ALL), help="override the tool set")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where JSON results go")
    parser.add_argument("--uv", default="", help="the uv program (default: beside python)")
    parser.add_argument("--pip-compile", default="", help="the pip-compile program")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds a pip-compile run may take; past it, recorded as timed out (default 600)",
    )
    args = parser.parse_args(argv)
    args.exes = Executables(args.uv, args.pip_compile).resolved()
    args.reps_given = args.reps is not None
    args.reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    default = ("embedded", "scale-10") if args.quick else tuple(_PLANS)
    if args.public:
        default = ("embedded", "diarization")
    scenarios = args.scenario or list(default)
    versions = tool_versions(args.exes)
    print("tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    records = []
    for scenario in scenarios:
        record = run_scenario(scenario, args, versions)
        # Stop at the first failure and write nothing, not even earlier scenarios' files: a
        # partial set of results reads like a complete one.
        if failures := failed_runs(record):
            print("\n".join(["", *failures, "no results written"]), file=sys.stderr)
            raise SystemExit(1)
        records.append(record)
    _write_all(records, args.out)
    _growth(records)
    return records


if __name__ == "__main__":
    main()
