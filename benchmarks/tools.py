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
  preferences; "cold" also empties that tool's caches, "warm" keeps them from the warm-up,
  "offline" reads only the warm cache (``--offline`` of lockaudit and uv; pip-compile has no
  such mode), "no-op" keeps the tool's own outputs of the previous run (lockaudit: locks whose
  input digests match; uv and pip-compile read the output file as preferences).
- A run succeeds when every child exits 0 *and* wrote what it was asked to write: a tool that
  exits 0 without an output (or a lockaudit no-op that rewrote a lock) is a failed run.
- Each child's command and the variables set for it are kept on the :class:`Bench` (the last
  run of each tool), so the results file can say exactly what every tool was given.
- pip-compile gets a time budget per run (``Bench.timeout``): past it the run is killed and
  recorded as timed out, which is a measurement (pip-compile took longer), not a failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lockaudit.parsing.versions import parse_versions
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Image, Workspace

__all__ = [
    "Bench",
    "Executables",
    "Invocation",
    "Sample",
    "Tool",
    "child_env",
    "tool_versions",
    "tools_for",
]


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
    timed_out: bool = False  # killed at the time budget: recorded as such, not as a failure


@dataclass(frozen=True)
class Invocation:
    """One child as started: its argument list and the variables set for it alone."""

    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Child:
    seconds: float
    peak_rss_kb: int
    returncode: int
    output: str
    invocation: Invocation = Invocation(())
    timed_out: bool = False


def _run_child(
    invocation: Invocation, env: Mapping[str, str], cwd: Path, timeout: float | None = None
) -> _Child:
    started = time.perf_counter()
    with subprocess.Popen(
        list(invocation.command),
        env={**env, **dict(invocation.env)},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a time-out kills the child's whole process group
    ) as process:
        assert process.stdout is not None
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            os.killpg(process.pid, signal.SIGKILL)

        # A timer, not polling: a poll interval would add its latency to every measured run.
        timer = threading.Timer(timeout, kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            output = process.stdout.read()
            # wait4 reports this child's own peak RSS; RUSAGE_CHILDREN is a running maximum.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    text = output.decode(errors="replace")
    if killed.is_set():
        text += f"\n(killed after the time budget of {timeout:.0f} s)"
    return _Child(seconds, usage.ru_maxrss, process.returncode, text, invocation, killed.is_set())


def _exe(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


@dataclass(frozen=True)
class Executables:
    """The baselines' programs: next to this interpreter, else on PATH, unless given."""

    uv: str = ""
    pip_compile: str = ""

    def resolved(self) -> Executables:
        return Executables(self.uv or _exe("uv"), self.pip_compile or _exe("pip-compile"))


def tool_versions(exes: Executables) -> dict[str, str]:
    def first_line(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else f"(no version: exit {done.returncode})"

    from importlib.metadata import version

    return {
        "python": sys.version.split()[0],
        "lockaudit": version("lockaudit"),
        "uv": first_line([exes.uv, "--version"]),
        "pip-compile": first_line([exes.pip_compile, "--version"]),
        "pip": version("pip"),
    }


def file_digests(root: Path, skip: Sequence[str] = ()) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative POSIX paths), except under ``skip``."""
    digests = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if not any(relative == s or relative.startswith(s.rstrip("/") + "/") for s in skip):
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


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
    exes: Executables = field(default_factory=Executables)
    timeout: float | None = None  # each pip-compile run's time budget, in seconds
    # (value, placeholder) pairs the results file shows instead of machine paths and index URLs
    placeholders: tuple[tuple[str, str], ...] = ()
    set_env: tuple[tuple[str, str], ...] = ()  # the variables the runner set for every child
    # the children of each tool's last run, for the results file
    invocations: dict[str, list[Invocation]] = field(default_factory=dict)
    _model: Workspace | None = field(default=None, repr=False)

    @property
    def model(self) -> Workspace:
        if self._model is None:
            self._model = load_workspace(self.workspace)
        return self._model

    @property
    def locks(self) -> Path:
        return self.workspace / self.model.locks_dir

    def clean_outputs(self) -> None:
        shutil.rmtree(self.locks, ignore_errors=True)
        for tool in ("uv", "pip-compile"):
            shutil.rmtree(self.scratch / f"out-{tool}", ignore_errors=True)

    def cache(self, name: str, *, cold: bool) -> Path:
        path = self.scratch / f"cache-{name}"
        if cold:
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def measure(
        self,
        tool: str,
        children: Callable[[], list[_Child]],
        verify: Callable[[], str | None] = lambda: None,
    ) -> Sample:
        """Run ``children`` and time them; ``verify`` names what a successful run failed to do."""
        before = self.counters() if self.counters else None
        started = time.perf_counter()
        runs = children()
        seconds = time.perf_counter() - started
        after = self.counters() if self.counters else None
        self.invocations[tool] = [c.invocation for c in runs]
        failed = next((c for c in runs if c.returncode != 0), None)
        error = failed.output[-2000:] if failed else ""
        if failed is None and (missing := verify()):
            error = missing
        return Sample(
            tool=tool,
            seconds=seconds,
            peak_rss_kb=max((c.peak_rss_kb for c in runs), default=0),
            bytes=after[0] - before[0] if before and after else None,
            requests=after[1] - before[1] if before and after else None,
            ok=not error,
            error=error,
            timed_out=any(c.timed_out for c in runs),
        )


# --------------------------------------------------------------------------- lockaudit


def _lockaudit(bench: Bench, *args: str, cache: Path) -> _Child:
    command = ("python", "-m", "lockaudit", *args, "--workspace", str(bench.workspace))
    invocation = Invocation(command, (("LOCKAUDIT_CACHE_DIR", str(cache)),))
    # "python" is recorded (a reader's own interpreter); this one is what runs
    started = Invocation((sys.executable, *command[1:]), invocation.env)
    child = _run_child(started, bench.env, bench.workspace)
    return _Child(child.seconds, child.peak_rss_kb, child.returncode, child.output, invocation)


def _lock_bytes(bench: Bench) -> dict[str, bytes]:
    if not bench.locks.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(bench.locks.iterdir()) if p.is_file()}


def _wrote_locks(bench: Bench) -> str | None:
    if _lock_bytes(bench):
        return None
    return f"lockaudit compile exited 0 but wrote no lock under {bench.model.locks_dir}/"


def lockaudit_compile(bench: Bench, *, cold: bool, offline: bool = False) -> Sample:
    bench.clean_outputs()
    cache = bench.cache("lockaudit", cold=cold)
    args = ("compile", "--all", *(("--offline",) if offline else ()))
    label = "lockaudit-compile-" + ("offline" if offline else "cold" if cold else "warm")
    return bench.measure(
        label, lambda: [_lockaudit(bench, *args, cache=cache)], lambda: _wrote_locks(bench)
    )


def _ensure_locks(bench: Bench, cache: Path) -> None:
    if not _lock_bytes(bench):
        _lockaudit(bench, "compile", "--all", cache=cache)


def lockaudit_noop(bench: Bench) -> Sample:
    """``compile --all`` over locks the previous compile wrote: every image is up to date.

    The run must leave every lock byte-identical; one that rewrites a lock is not a no-op.
    """
    cache = bench.cache("lockaudit", cold=False)
    _ensure_locks(bench, cache)
    before = _lock_bytes(bench)

    def unchanged() -> str | None:
        after = _lock_bytes(bench)
        changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
        return f"a no-op compile changed {', '.join(changed)}" if changed else None

    run = lambda: [_lockaudit(bench, "compile", "--all", cache=cache)]  # noqa: E731
    return bench.measure("lockaudit-compile-noop", run, unchanged)


def lockaudit_check(bench: Bench, *, every_rule: bool = False) -> Sample:
    """``check`` on the locks the last lockaudit compile wrote (compiled first if missing).

    As a hook runs it: with nothing changed the result cache answers; ``every_rule`` passes
    ``--no-cache``, which runs every rule as a check after an edit does.
    """
    cache = bench.cache("lockaudit", cold=False)
    _ensure_locks(bench, cache)
    extra = ("--no-cache",) if every_rule else ()

    def run() -> list[_Child]:
        child = _lockaudit(bench, "check", "--format", "json", *extra, cache=cache)
        # Exit 1 means findings, which is a successful check run.
        code = 0 if child.returncode == 1 else child.returncode
        return [_Child(child.seconds, child.peak_rss_kb, code, child.output, child.invocation)]

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


@dataclass(frozen=True)
class _Mode:
    """How one baseline run treats its cache and previous outputs."""

    name: str  # cold, warm, offline or noop
    cold: bool = False
    offline: bool = False
    keep_outputs: bool = False


COLD, WARM = _Mode("cold", cold=True), _Mode("warm")
OFFLINE, NOOP = _Mode("offline", offline=True), _Mode("noop", keep_outputs=True)


def _uv_image(bench: Bench, image: Image, out: Path, cache: Path, mode: _Mode) -> Invocation:
    inputs, constraints = _image_inputs(bench, image, out)
    command = [
        bench.exes.uv, "pip", "compile", "--no-config", "--quiet", "--generate-hashes",
        "--python", sys.executable, "--no-python-downloads",
        "--python-version", image.target.python, "--python-platform", _platform(image),
        "--cache-dir", str(cache), *_index_args(bench, image),
        *(["--offline"] if mode.offline else []),
        "--output-file", str(out / f"{image.slug}.txt"), *inputs,
    ]  # fmt: skip
    for path in constraints:
        command += ["--constraint", path]
    return Invocation(tuple(command))


def _pip_compile_image(
    bench: Bench, image: Image, out: Path, cache: Path, mode: _Mode
) -> Invocation:
    inputs, constraints = _image_inputs(bench, image, out)
    # Cold: no pip cache at all. With hashes pip downloads every file of every pin (gigabytes
    # for torch's builds on a real index); a cache it cannot reuse in that run only costs disk.
    pip_cache = "--no-cache-dir" if mode.cold else f"--cache-dir {cache / 'pip'}"
    command = [
        bench.exes.pip_compile, "--quiet", "--generate-hashes", "--no-header", "--strip-extras",
        "--cache-dir", str(cache / "pip-tools"), "--pip-args", pip_cache,
        *_index_args(bench, image), "--output-file", str(out / f"{image.slug}.txt"), *inputs,
    ]  # fmt: skip
    for path in constraints:
        command += ["--constraint", path]
    return Invocation(tuple(command))


_Command = Callable[[Bench, Image, Path, Path, _Mode], Invocation]


def _outputs_written(bench: Bench, tool: str, out: Path) -> str | None:
    missing = [
        f"{image.slug}.txt"
        for image in bench.model.images
        if not (out / f"{image.slug}.txt").is_file()
        or not (out / f"{image.slug}.txt").stat().st_size
    ]
    return f"{tool} exited 0 but wrote no {', '.join(missing)}" if missing else None


def _per_image(
    bench: Bench, tool: str, mode: _Mode, one: _Command, timeout: float | None = None
) -> Sample:
    out = bench.scratch / f"out-{tool}"
    cache = bench.cache(tool, cold=mode.cold)
    if mode.keep_outputs and _outputs_written(bench, tool, out):
        _per_image(bench, tool, WARM, one)  # no previous outputs: make them, unmeasured
    if not mode.keep_outputs:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    def run() -> list[_Child]:
        children = []
        deadline = None if timeout is None else time.perf_counter() + timeout
        for image in bench.model.images:  # already in build order
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
            child = _run_child(
                one(bench, image, out, cache, mode), bench.env, bench.workspace, left
            )
            children.append(child)
            if child.returncode != 0 or not (out / f"{image.slug}.txt").is_file():
                break  # the children of a failed image have no parent output
        return children

    return bench.measure(f"{tool}-{mode.name}", run, lambda: _outputs_written(bench, tool, out))


def uv_compile(bench: Bench, mode: _Mode) -> Sample:
    return _per_image(bench, "uv", mode, _uv_image)


def pip_compile(bench: Bench, mode: _Mode) -> Sample:
    return _per_image(bench, "pip-compile", mode, _pip_compile_image, bench.timeout)


Tool = Callable[[Bench], Sample]


def tools_for(names: Sequence[str]) -> list[tuple[str, Tool]]:
    """The runnable tools by name, in the order given (the interleaving order)."""
    table: dict[str, Tool] = {
        "lockaudit-compile-cold": lambda b: lockaudit_compile(b, cold=True),
        "lockaudit-compile-warm": lambda b: lockaudit_compile(b, cold=False),
        "lockaudit-compile-offline": lambda b: lockaudit_compile(b, cold=False, offline=True),
        "lockaudit-compile-noop": lockaudit_noop,
        "uv-cold": lambda b: uv_compile(b, COLD),
        "uv-warm": lambda b: uv_compile(b, WARM),
        "uv-offline": lambda b: uv_compile(b, OFFLINE),
        "uv-noop": lambda b: uv_compile(b, NOOP),
        "pip-compile-cold": lambda b: pip_compile(b, COLD),
        "pip-compile-warm": lambda b: pip_compile(b, WARM),
        "pip-compile-noop": lambda b: pip_compile(b, NOOP),
        "lockaudit-check": lockaudit_check,
        "lockaudit-check-edit": lambda b: lockaudit_check(b, every_rule=True),
    }
    return [(name, table[name]) for name in names]
