"""Item 1 of the reliability suite: every bad input ends in exit 2, ``path:line: message``.

A Dockerfile that cannot be read is the exception under ``check``: the gate reports it as a
``dockerfile-unreadable`` finding at the same ``path:line`` with the same message (exit 1),
and checks the rest of the workspace; so is a case marked ``check-finding`` (a requirement
without a name is a ``direct-reference`` finding at its line; ``compile`` still refuses it).

Each case of ``tests/corpus/cases.toml`` breaks one file of a workspace whose locks are already
compiled, then runs ``lockaudit check`` and ``lockaudit compile`` (only ``check`` for
Dockerfiles: ``compile`` does not read them). Every run must exit 2, print
``error: <path>:<line>: <message>`` on stderr, print no traceback, and leave every byte of the
workspace as it was (the good locks included).

Decisions:
- Every case runs through the CLI application in this process (typer's runner: the real
  command functions and error rendering, with an uncaught exception reported as such rather
  than printed), which costs milliseconds a case. A sample of cases also runs as a real
  ``python -m lockaudit`` child in the default run, and the whole matrix does under
  ``-m slow`` (about 110 children: a minute and a half on two busy cores).
- The 100,000-line case is generated (not committed); its last line is the bad one, so the
  line number shows the whole file was read, and its time is bounded.
- CRLF and BOM files are generated from LF corpus files so git's line-ending settings cannot
  change what is tested; the same files without the bad line must compile to the same pins.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.locks import read_lock
from tests.corpus.harness import (
    CORPUS,
    Cli,
    cli_env,
    compile_in_process,
    make_workspace,
    reliability_scenario,
    snapshot,
)
from tests.indexserver import IndexServer

HUGE_LINES = 100_000


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    file: str
    error: str
    source: str | None = None
    edit: tuple[str, str] | None = None
    also: tuple[tuple[str, str], ...] = ()
    transform: str | None = None
    commands: tuple[str, ...] = ("check", "compile")
    check_finding: str | None = None  # check reports it as this rule's finding (exit 1)

    def finding_under(self, command: str) -> bool:
        """True when ``command`` reports this case as a finding rather than an input error."""
        return command == "check" and self.check_rule is not None

    @property
    def check_rule(self) -> str | None:
        """The rule ``check`` reports this case under: an unreadable Dockerfile, or one the
        case names (``check-finding``); None for an input error (exit 2)."""
        if self.check_finding is not None:
            return self.check_finding
        return "dockerfile-unreadable" if self.file.rpartition("/")[2] == "Dockerfile" else None

    def options(self, command: str) -> tuple[str, ...]:
        return ("--format", "json") if self.finding_under(command) else ()

    def apply(self, root: Path) -> None:
        """Write the broken file (and its companions) into the workspace at ``root``."""
        target = root / self.file
        if self.edit is not None:
            old, new = self.edit
            text = target.read_text(encoding="utf-8")
            assert old in text, f"{self.id}: the edit does not apply"
            target.write_text(text.replace(old, new, 1), encoding="utf-8")
        else:
            assert self.source is not None
            target.write_bytes(transform((CORPUS / self.source).read_bytes(), self.transform))
        for path, source in self.also:
            (root / path).write_bytes((CORPUS / source).read_bytes())


def transform(data: bytes, how: str | None) -> bytes:
    match how:
        case None:
            return data
        case "crlf":
            return data.replace(b"\n", b"\r\n")
        case "bom":
            return b"\xef\xbb\xbf" + data
        case "huge":
            filler = b"".join(b"# line %d of a generated file\n" % n for n in range(HUGE_LINES - 2))
            return filler + data
    raise ValueError(how)


def load_cases() -> list[Case]:
    with (CORPUS / "cases.toml").open("rb") as f:
        raw: list[dict[str, Any]] = tomllib.load(f)["case"]
    return [
        Case(
            **{
                **{key: value for key, value in item.items() if key != "check-finding"},
                "edit": tuple(item["edit"]) if "edit" in item else None,
                "also": tuple(item.get("also", {}).items()),
                "commands": tuple(item.get("commands", ("check", "compile"))),
                "check_finding": item.get("check-finding"),
            }
        )
        for item in raw
    ]


CASES = load_cases()


# One run per kind of file and of failure, as real child processes in the default run.
SAMPLE = (
    ("requirements-invalid-version", "compile"),
    ("requirements-huge", "check"),
    ("requirements-include-cycle", "check"),
    ("dockerfile-unterminated-heredoc", "check"),
    ("config-from-cycle", "compile"),
)


@dataclass(frozen=True)
class Outcome:
    """One command run on one broken workspace: what it printed, and the workspace around it."""

    case: Case
    command: str
    before: dict[str, bytes]
    after: dict[str, bytes]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    exception: BaseException | None = None  # in-process only: escaped the CLI's error handling


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(reliability_scenario()) as running:
        yield running


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Path:
    """The base workspace with fresh locks, compiled once."""
    root = make_workspace(tmp_path_factory.mktemp("good") / "ws", server)
    result = compile_in_process(root, server)
    assert result.ok, [r.reason for r in result.results]
    return root


def _broken(case: Case, command: str, good: Path, work: Path) -> Path:
    root = work / f"{case.id}-{command}"
    shutil.copytree(good, root)
    case.apply(root)
    return root


def _in_process(case: Case, command: str, good: Path, work: Path, server: IndexServer) -> Outcome:
    root = _broken(case, command, good, work)
    before = snapshot(root)
    hermetic: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("PIP_", "LOCKAUDIT_"))
    }
    hermetic.update(cli_env(server, root / ".cache"))
    started = time.monotonic()
    args = [command, "--workspace", str(root), *case.options(command)]
    result = CliRunner().invoke(app, args, env=hermetic)
    seconds = time.monotonic() - started
    escaped = None if isinstance(result.exception, SystemExit) else result.exception
    return Outcome(
        case,
        command,
        before,
        snapshot(root),
        result.exit_code,
        result.stdout,
        result.stderr,
        seconds,
        escaped,
    )


def _child(case: Case, command: str, good: Path, work: Path, server: IndexServer) -> Outcome:
    root = _broken(case, command, good, work)
    before = snapshot(root)
    started = time.monotonic()
    process = Cli(root, cli_env(server, root / ".cache")).run(command, *case.options(command))
    seconds = time.monotonic() - started
    return Outcome(
        case,
        command,
        before,
        snapshot(root),
        process.returncode,
        process.stdout,
        process.stderr,
        seconds,
    )


def _check(outcome: Outcome) -> None:
    assert outcome.exception is None, outcome.exception
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert outcome.after == outcome.before  # the good locks byte for byte, no stray file
    if outcome.case.finding_under(outcome.command):
        assert outcome.exit_code == 1, (outcome.stderr, outcome.stdout)
        location, _, message = outcome.case.error.partition(": ")
        found = [
            f
            for f in json.loads(outcome.stdout)["findings"]
            if f["rule"] == outcome.case.check_rule and f["location"] == location
        ]
        assert found, outcome.stdout
        if outcome.case.check_rule == "dockerfile-unreadable":  # the parser's own message
            assert all(message in f["message"] for f in found), outcome.stdout
        return
    assert outcome.exit_code == 2, (outcome.stderr, outcome.stdout)
    assert f"error: {outcome.case.error}" in outcome.stderr, outcome.stderr


def _jobs(only: tuple[tuple[str, str], ...] | None = None) -> list[Any]:
    return [
        pytest.param(c, cmd, id=f"{c.id}-{cmd}")
        for c in CASES
        for cmd in c.commands
        if only is None or (c.id, cmd) in only
    ]


@pytest.fixture(scope="module")
def children(
    good: Path, server: IndexServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Outcome]:
    """The sample's (case, command) runs as child processes, a few at a time."""
    work = tmp_path_factory.mktemp("children")
    jobs = [
        (case, command)
        for case in CASES
        for command in case.commands
        if (case.id, command) in SAMPLE
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(lambda job: _child(job[0], job[1], good, work, server), jobs)
        return {(o.case.id, o.command): o for o in done}


@pytest.mark.parametrize(("case", "command"), _jobs())
def test_bad_input_exits_2_with_path_line_and_changes_nothing(
    good: Path, server: IndexServer, tmp_path: Path, case: Case, command: str
) -> None:
    _check(_in_process(case, command, good, tmp_path, server))


@pytest.mark.parametrize(("case", "command"), _jobs(SAMPLE))
def test_bad_input_as_a_child_process(
    children: dict[tuple[str, str], Outcome], case: Case, command: str
) -> None:
    _check(children[(case.id, command)])


@pytest.mark.slow
@pytest.mark.parametrize(("case", "command"), _jobs())
def test_bad_input_as_a_child_process_full_matrix(
    good: Path, server: IndexServer, tmp_path: Path, case: Case, command: str
) -> None:
    _check(_child(case, command, good, tmp_path, server))


# Cases whose error cannot name a line yet, and why (each is listed in docs/RELIABILITY.md).
def test_every_error_names_a_line() -> None:
    """``path:line:`` for every case: a message without a line is not actionable."""
    for case in CASES:
        location = case.error.split(": ", 1)[0]
        path, _, line = location.rpartition(":")
        assert path and line.isdigit() and int(line) > 0, case.id


def test_huge_file_is_read_to_the_end_quickly(children: dict[tuple[str, str], Outcome]) -> None:
    outcome = children[("requirements-huge", "check")]
    assert f":{HUGE_LINES}: " in outcome.stderr
    assert outcome.seconds < 30  # a few seconds on a busy machine; quadratic would be minutes


@pytest.mark.parametrize("how", ["crlf", "bom", "bom+crlf"])
def test_crlf_and_bom_inputs_compile_to_the_same_pins(
    good: Path, server: IndexServer, tmp_path: Path, how: str
) -> None:
    """A good file with other line endings or a BOM is the same input, not an error."""
    root = tmp_path / "ws"
    shutil.copytree(good, root)
    for path in ("requirements-common.txt", "docker/asr/requirements.txt", "versions.txt"):
        data = (root / path).read_bytes()
        for step in how.split("+"):
            data = transform(data, step)
        (root / path).write_bytes(data)
    result = compile_in_process(root, server)
    assert result.ok, [r.reason for r in result.results]
    for slug in ("base-cuda", "asr-cuda", "asr-cpu"):
        mine, theirs = (
            {(p.name, p.version, p.hashes) for p in read_lock(r / f"locks/{slug}.txt").packages}
            for r in (root, good)
        )
        assert mine == theirs, slug
