"""The compared tools, each run in fresh child processes: lockaudit, uv and pip-compile.

Every measurement is a :class:`Sample`: wall time, the peak resident memory of the child
(``os.wait4`` gives each child's own ``ru_maxrss``, so no run inherits another's peak), and the
bytes and requests the loopback index served during it.

How the baselines compile a workspace ("the best a pip-tools or uv user can do"): one
invocation per image, in build order, with the image's requirement files as inputs and as
constraints (``-c``) its variant's constraint files, the common requirements, the pins of
``versions.txt`` and the pins of the parent image's output from the same tool. The default
index comes from the benchmark's pip configuration; the PyTorch index of the image's variant is
an extra index (uv searches it first; pip prefers ``2.1.0+cu121`` over ``2.1.0`` by version).
Both write ``--generate-hashes`` output; uv targets ``--python-version``/``--python-platform``
of the image (given this interpreter with ``--python`` and ``--no-python-downloads``: otherwise
uv spends seconds per run searching for, or downloading, a 3.11.14 it does not need), and
pip-compile runs on this interpreter (Linux x86_64, CPython 3.11: the same target).

Decisions:
- lockaudit runs as ``python -m lockaudit`` of this interpreter, so a fresh clone with the
  package installed needs nothing on PATH; uv and pip-compile are looked up next to it first.
- Outputs are deleted before every run of every tool, so no tool reuses a previous result as
  preferences; "cold" also empties that tool's caches, "warm" keeps them from the warm-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lockaudit.parsing.versions import parse_versions
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Image, Workspace

__all__ = ["Bench", "Sample", "Tool", "child_env", "tool_versions", "tools_for"]


@dataclass(frozen=True)
class Sample:
    """One run of one tool over the whole workspace."""

    tool: str
    seconds: float
    peak_rss_kb: int
    bytes: int | None  # None when not served by the loopback index (``--public``)
    requests: int | None
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class _Child:
    seconds: float
    peak_rss_kb: int
    returncode: int
    output: str


def _run_child(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> _Child:
    started = time.perf_counter()
    with subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    ) as process:
        assert process.stdout is not None
        output = process.stdout.read()
        # wait4 reports this child's own peak RSS; RUSAGE_CHILDREN would be a running maximum.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    text = output.decode(errors="replace")
    return _Child(seconds, usage.ru_maxrss, process.returncode, text)


def _exe(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


def tool_versions() -> dict[str, str]:
    def first_line(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0]

    from importlib.metadata import version

    return {
        "python": sys.version.split()[0],
        "lockaudit": version("lockaudit"),
        "uv": first_line([_exe("uv"), "--version"]),
        "pip-compile": first_line([_exe("pip-compile"), "--version"]),
        "pip": version("pip"),
    }


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without pip/uv/lockaudit settings, plus ``extra``."""
    prefixes = ("PIP_", "UV_", "LOCKAUDIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    # Some CI images forbid writing bytecode caches: every Python tool (lockaudit, pip-compile)
    # would then compile its modules from source on each run, which no user's machine does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(extra)
    return env


@dataclass
class Bench:
    """One scenario's workspace, indexes and scratch space (mutable: counters move)."""

    workspace: Path
    scratch: Path
    env: dict[str, str]
    default_index: str
    variant_indexes: Mapping[str, str]  # variant → the URL baselines use as an extra index
    counters: Callable[[], tuple[int, int]] | None = None  # (bytes, requests) so far
    _model: Workspace | None = field(default=None, repr=False)

    @property
    def model(self) -> Workspace:
        if self._model is None:
            self._model = load_workspace(self.workspace)
        return self._model

    def clean_outputs(self) -> None:
        shutil.rmtree(self.workspace / self.model.locks_dir, ignore_errors=True)
        for tool in ("uv", "pip-compile"):
            shutil.rmtree(self.scratch / f"out-{tool}", ignore_errors=True)

    def cache(self, name: str, *, cold: bool) -> Path:
        path = self.scratch / f"cache-{name}"
        if cold:
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def measure(self, tool: str, children: Callable[[], list[_Child]]) -> Sample:
        before = self.counters() if self.counters else None
        started = time.perf_counter()
        runs = children()
        seconds = time.perf_counter() - started
        after = self.counters() if self.counters else None
        failed = next((c for c in runs if c.returncode not in (0,)), None)
        return Sample(
            tool=tool,
            seconds=seconds,
            peak_rss_kb=max((c.peak_rss_kb for c in runs), default=0),
            bytes=after[0] - before[0] if before and after else None,
            requests=after[1] - before[1] if before and after else None,
            ok=failed is None,
            error=failed.output[-2000:] if failed else "",
        )


# --------------------------------------------------------------------------- lockaudit


def _lockaudit(bench: Bench, *args: str, cache: Path) -> _Child:
    command = [sys.executable, "-m", "lockaudit", *args, "--workspace", str(bench.workspace)]
    env = {**bench.env, "LOCKAUDIT_CACHE_DIR": str(cache)}
    return _run_child(command, env, bench.workspace)


def lockaudit_compile(bench: Bench, *, cold: bool) -> Sample:
    bench.clean_outputs()
    cache = bench.cache("lockaudit", cold=cold)
    label = "lockaudit-compile-" + ("cold" if cold else "warm")
    return bench.measure(label, lambda: [_lockaudit(bench, "compile", "--all", cache=cache)])


def lockaudit_check(bench: Bench, *, every_rule: bool = False) -> Sample:
    """``check`` on the locks the last lockaudit compile wrote (compiled first if missing).

    As a hook runs it: with nothing changed the result cache answers; ``every_rule`` passes
    ``--no-cache``, which runs every rule as a check after an edit does.
    """
    locks = bench.workspace / bench.model.locks_dir
    cache = bench.cache("lockaudit", cold=False)
    if not locks.is_dir():
        _lockaudit(bench, "compile", "--all", cache=cache)
    extra = ("--no-cache",) if every_rule else ()

    def run() -> list[_Child]:
        child = _lockaudit(bench, "check", "--format", "json", *extra, cache=cache)
        # Exit 1 means findings, which is a successful check run.
        return [
            _Child(
                child.seconds,
                child.peak_rss_kb,
                0 if child.returncode == 1 else child.returncode,
                child.output,
            )
        ]

    return bench.measure("lockaudit-check-edit" if every_rule else "lockaudit-check", run)


# --------------------------------------------------------------------------- baselines


def _pins_only(lock: Path, dest: Path) -> Path:
    """``name==version`` lines of a tool's output (no hashes, options or comments)."""
    pins = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip().rstrip("\\").strip()
        if "==" in text and not text.startswith("-"):
            pins.append(text.split(";", 1)[0].strip())
    dest.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return dest


def _versions_pins(bench: Bench) -> Path | None:
    model = bench.model
    if not model.versions or not model.path(model.versions).is_file():
        return None
    dest = bench.scratch / "versions-pins.txt"
    if not dest.exists():
        pins = parse_versions(model.root, model.versions).pins
        dest.write_text("".join(f"{p.requirement}\n" for p in pins), encoding="utf-8")
    return dest


def _image_inputs(bench: Bench, image: Image, out: Path) -> tuple[list[str], list[str]]:
    """(input files, constraint files) for one baseline invocation, as absolute paths."""
    model = bench.model
    inputs = [str(model.path(p)) for p in image.requirements]
    constraints = [str(model.path(p)) for p in model.constraint_files(image.variant)]
    common = model.common
    inherited = common and common not in image.requirements and image.inherits_common
    if common and inherited and model.path(common).is_file():
        constraints.append(str(model.path(common)))
    pins = _versions_pins(bench)
    if pins is not None:
        constraints.append(str(pins))
    if image.parent is not None:
        parent = model.image(image.parent)
        parent_pins = _pins_only(out / f"{parent.slug}.txt", out / f"{parent.slug}.pins.txt")
        constraints.append(str(parent_pins))
    return inputs, constraints


def _index_args(bench: Bench, image: Image) -> list[str]:
    args = ["--index-url", bench.default_index]
    extra = bench.variant_indexes.get(image.variant.value)
    if extra:
        args += ["--extra-index-url", extra]
    return args


def _platform(image: Image) -> str:
    return f"{image.target.arch}-manylinux_{image.target.glibc.replace('.', '_')}"


def _uv_image(bench: Bench, image: Image, out: Path, cache: Path) -> _Child:
    inputs, constraints = _image_inputs(bench, image, out)
    command = [
        _exe("uv"), "pip", "compile", "--no-config", "--quiet", "--generate-hashes",
        "--python", sys.executable, "--no-python-downloads",
        "--python-version", image.target.python, "--python-platform", _platform(image),
        "--cache-dir", str(cache), *_index_args(bench, image),
        "--output-file", str(out / f"{image.slug}.txt"), *inputs,
    ]  # fmt: skip
    for path in constraints:
        command += ["--constraint", path]
    return _run_child(command, bench.env, bench.workspace)


def _pip_compile_image(bench: Bench, image: Image, out: Path, cache: Path) -> _Child:
    inputs, constraints = _image_inputs(bench, image, out)
    command = [
        _exe("pip-compile"), "--quiet", "--generate-hashes", "--no-header", "--strip-extras",
        "--cache-dir", str(cache / "pip-tools"), "--pip-args", f"--cache-dir {cache / 'pip'}",
        *_index_args(bench, image), "--output-file", str(out / f"{image.slug}.txt"), *inputs,
    ]  # fmt: skip
    for path in constraints:
        command += ["--constraint", path]
    return _run_child(command, bench.env, bench.workspace)


def _per_image(
    bench: Bench, tool: str, cold: bool, one: Callable[[Bench, Image, Path, Path], _Child]
) -> Sample:
    bench.clean_outputs()
    out = bench.scratch / f"out-{tool}"
    out.mkdir(parents=True)
    cache = bench.cache(tool, cold=cold)

    def run() -> list[_Child]:
        children = []
        for image in bench.model.images:  # already in build order
            child = one(bench, image, out, cache)
            children.append(child)
            if child.returncode != 0:
                break  # the children of a failed image have no parent output
        return children

    return bench.measure(f"{tool}-" + ("cold" if cold else "warm"), run)


def uv_compile(bench: Bench, *, cold: bool) -> Sample:
    return _per_image(bench, "uv", cold, _uv_image)


def pip_compile(bench: Bench, *, cold: bool) -> Sample:
    return _per_image(bench, "pip-compile", cold, _pip_compile_image)


Tool = Callable[[Bench], Sample]


def tools_for(names: Sequence[str]) -> list[tuple[str, Tool]]:
    """The runnable tools by name, in the order given (the interleaving order)."""
    table: dict[str, Tool] = {
        "lockaudit-compile-cold": lambda b: lockaudit_compile(b, cold=True),
        "lockaudit-compile-warm": lambda b: lockaudit_compile(b, cold=False),
        "uv-cold": lambda b: uv_compile(b, cold=True),
        "uv-warm": lambda b: uv_compile(b, cold=False),
        "pip-compile-cold": lambda b: pip_compile(b, cold=True),
        "pip-compile-warm": lambda b: pip_compile(b, cold=False),
        "lockaudit-check": lockaudit_check,
        "lockaudit-check-edit": lambda b: lockaudit_check(b, every_rule=True),
    }
    return [(name, table[name]) for name in names]
