"""Fuzz every parser of lockaudit with a million inputs; any crash fails the run (exit 1).

    python -m benchmarks.fuzz_parsers                    # 1,000,000 inputs on every core
    python -m benchmarks.fuzz_parsers --inputs 20000     # a quick run
    python -m benchmarks.fuzz_parsers --seed 7 --jobs 2 --out crashes/

The nightly/benchmark target; not part of the default test run (the hypothesis property tests
in ``tests/test_parsers_property.py`` and ``tests/test_reliability_properties.py`` are).

What is fuzzed, round robin: requirements files, ``versions.txt``, shell words of a RUN line,
Dockerfiles, lockaudit's lock files, the workspace configuration (TOML, then
``[tool.lockaudit]``), PEP 691 JSON and PEP 503 HTML project pages, METADATA and PKG-INFO.
A parser may accept an input or reject it with its own error (``InputError`` naming a line of
the input, ``WorkspaceError``, ``PageError``, ``MetadataError``, ``TOMLDecodeError``); any
other exception, or an ``InputError`` whose line is outside the input, is a crash.

Inputs are mutations of seeds (the bad-input corpus of ``tests/corpus``, the base workspace's
files, and the valid lock, config, pages and metadata of the property tests): one to six edits
each (a byte flipped, a token of the format inserted, a span deleted or duplicated, a line
dropped, a splice with another seed), plus one input in eight of random tokens or random bytes.

Decisions: a hand-written mutator instead of atheris (not installable everywhere, and a
coverage-guided engine needs a native build); it is seeded and deterministic per worker, so a
crash is replayed with the same ``--seed``/``--jobs``/``--inputs``, and each crashing input is
also written under ``--out`` (default: a temporary directory) with its parser's name.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import sys
import tempfile
import time
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.errors import InputError, Location, WorkspaceError
from lockaudit.index.coremeta import MetadataError, parse_core_metadata, sdist_metadata
from lockaudit.index.pages import PageError, parse_page
from lockaudit.locks import parse_lock
from lockaudit.parsing.dockerfile import parse_dockerfile_text
from lockaudit.parsing.requirements import parse_requirements_text
from lockaudit.parsing.shell import split_commands
from lockaudit.parsing.versions import parse_versions_text
from lockaudit.workspace.config import parse_config

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"

TOKENS = [
    b"\n", b"\r\n", b"\r", b" ", b"\t", b"\\\n", b"\\", b"'", b'"', b"`", b"$", b"${", b"}",
    b"$(", b")", b"<<EOF\n", b"\nEOF\n", b"==", b"===", b">=", b"<", b">", b"~=", b"!=", b"&&",
    b"||", b"|", b";", b"[", b"]", b"[[", b"]]", b"{", b"}", b"#", b"# ", b"=", b"-r ", b"-c ",
    b"-e ", b"--hash=sha256:", b"ab" * 32, b"--index-url ", b"@ ", b"git+https://h/r#egg=",
    b"FROM ", b"RUN ", b"ARG ", b"ENV ", b"COPY ", b"pip install ", b"python -m pip install ",
    b"torch", b"1.0", b"2.1.0+cu121", b".*", b"; python_version < '3'", b"extra == 'x'",
    b"# index: ", b"# file: ", b"# via ", b"# from parent ", b"# body-digest: ", b"# target: ",
    b"<a href=\"", b"</a>", b"&gt;", b"data-yanked", b'"files": [', b'"hashes": {', b"null",
    b"true", b"Requires-Dist: ", b"Dynamic: Requires-Dist\n", b"Metadata-Version: 2.2\n",
    b"\x00", b"\xff", b"\xef\xbb\xbf", "é".encode(), b"\xe2\x80\xa8",
]  # fmt: skip


def _config(text: str) -> object:
    section = tomllib.loads(text).get("tool", {}).get("lockaudit")
    if not isinstance(section, dict):
        return None
    return parse_config(section, root=Path(tempfile.gettempdir()) / "lockaudit-fuzz-none")


def _page(kind: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        body = text.encode("utf-8", "surrogatepass")
        return parse_page(body, kind, "http://h/s/p/", "http://h/s", lambda url: url)

    return parse


def _metadata(text: str) -> object:
    raw = text.encode("utf-8", "surrogatepass")
    with contextlib.suppress(MetadataError):
        parse_core_metadata(raw)
    return sdist_metadata(raw, canonicalize_name("p"), Version("1.0"))


# name → (parse, the path an InputError must name or None, seed files' name patterns)
PARSERS: dict[str, tuple[Callable[[str], object], str | None, tuple[str, ...]]] = {
    "requirements": (lambda t: parse_requirements_text(t, "r.txt"), "r.txt", ("requirements",)),
    "versions": (lambda t: parse_versions_text(t, "v.txt"), "v.txt", ("versions",)),
    "shell": (
        lambda t: split_commands(t, Location("Dockerfile", 1), {"A": "a b"}),
        "Dockerfile",
        ("dockerfile",),
    ),
    "dockerfile": (
        lambda t: parse_dockerfile_text(t, "Dockerfile", {"A": "1"}),
        "Dockerfile",
        ("dockerfile",),
    ),
    "lock": (lambda t: parse_lock(t, "locks/x.txt"), "locks/x.txt", ("lock",)),
    "config": (_config, "pyproject.toml", ("config",)),
    "json-page": (_page("application/vnd.pypi.simple.v1+json"), None, ("json-page",)),
    "html-page": (_page("text/html"), None, ("html-page",)),
    "metadata": (_metadata, None, ("metadata",)),
}
EXPECTED = (InputError, WorkspaceError, PageError, MetadataError, tomllib.TOMLDecodeError)


def load_seeds() -> dict[str, list[bytes]]:
    """Seed inputs per parser kind, from the corpus and the property tests' valid files."""
    from tests import test_reliability_properties as valid

    seeds: dict[str, list[bytes]] = {
        "requirements": [p.read_bytes() for p in sorted((CORPUS / "requirements").iterdir())],
        "versions": [p.read_bytes() for p in sorted((CORPUS / "versions").iterdir())],
        "dockerfile": [p.read_bytes() for p in sorted((CORPUS / "dockerfile").iterdir())],
        "lock": [valid.GOOD_LOCK.encode()],
        "config": [valid.GOOD_CONFIG.encode(), (CORPUS / "workspace/pyproject.toml").read_bytes()],
        "json-page": [valid.GOOD_JSON_PAGE],
        "html-page": [valid.GOOD_HTML_PAGE],
        "metadata": [valid.GOOD_METADATA],
    }
    workspace = CORPUS / "workspace"
    seeds["requirements"] += [p.read_bytes() for p in workspace.rglob("*.txt")]
    seeds["dockerfile"] += [p.read_bytes() for p in workspace.rglob("Dockerfile")]
    return seeds


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(data))
        match rng.randrange(7):
            case 0 if data:
                i = rng.randrange(len(data))
                data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
            case 1 | 2:
                data = data[:at] + rng.choice(TOKENS) + data[at:]
            case 3:
                end = min(len(data), at + rng.randint(1, 16))
                data = data[:at] + data[end:]
            case 4:
                end = min(len(data), at + rng.randint(1, 32))
                data = data[:end] + data[at:end] + data[end:]
            case 5:
                lines = data.split(b"\n")
                del lines[rng.randrange(len(lines))]
                data = b"\n".join(lines)
            case _:
                other = rng.choice(others)
                data = data[:at] + other[rng.randint(0, len(other)) :]
    return data


def make_input(rng: random.Random, seeds: list[bytes]) -> bytes:
    roll = rng.randrange(16)
    if roll == 0:
        return b"".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 40)))
    if roll == 1:
        return rng.randbytes(rng.randint(0, 200))
    return mutate(rng, rng.choice(seeds), seeds)


@dataclass(frozen=True)
class Crash:
    parser: str
    data: bytes
    error: str


def _line_count(text: str) -> int:
    return text.count("\n") + text.count("\r") + 1


def run_one(name: str, data: bytes) -> Crash | None:
    parse, path, _ = PARSERS[name]
    # Files are read as lockaudit reads them: UTF-8 with a BOM allowed; others are rejected
    # before any parser sees them, so undecodable bytes are replaced here to reach the parser.
    text = data.decode("utf-8-sig", errors="replace")
    try:
        parse(text)
    except InputError as e:
        if path is not None and (
            e.location.path != path or not 0 <= e.location.line <= _line_count(text) + 1
        ):
            return Crash(name, data, f"InputError at a wrong place: {e}")
    except EXPECTED:
        pass
    except Exception:
        return Crash(name, data, traceback.format_exc())
    return None


def worker(args: tuple[int, int, int]) -> tuple[Counter[str], list[Crash]]:
    seed, worker_id, count = args
    rng = random.Random(f"{seed}-{worker_id}")
    seeds = load_seeds()
    names = list(PARSERS)
    done: Counter[str] = Counter()
    crashes: list[Crash] = []
    for number in range(count):
        name = names[number % len(names)]
        pool = seeds.get(PARSERS[name][2][0]) or seeds["requirements"]
        crash = run_one(name, make_input(rng, pool))
        done[name] += 1
        if crash is not None and len(crashes) < 50:
            crashes.append(crash)
    return done, crashes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=None, help="where crashing inputs go")
    options = parser.parse_args(argv)
    jobs = max(1, options.jobs)
    shares = [options.inputs // jobs + (1 if i < options.inputs % jobs else 0) for i in range(jobs)]
    started = time.monotonic()
    with multiprocessing.Pool(jobs) as pool:
        results = pool.map(worker, [(options.seed, i, n) for i, n in enumerate(shares)])
    seconds = time.monotonic() - started
    total: Counter[str] = Counter()
    crashes: list[Crash] = []
    for done, found in results:
        total.update(done)
        crashes.extend(found)
    inputs = sum(total.values())
    print(f"{inputs:,} inputs in {seconds:.1f}s ({inputs / seconds:,.0f}/s), seed {options.seed}")
    for name in PARSERS:
        print(f"  {name:<13} {total[name]:>9,}")
    if not crashes:
        print("crashes: 0")
        return 0
    out = options.out or Path(tempfile.mkdtemp(prefix="lockaudit-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    for number, crash in enumerate(crashes):
        (out / f"{number:03d}-{crash.parser}.bin").write_bytes(crash.data)
        (out / f"{number:03d}-{crash.parser}.txt").write_text(crash.error)
    print(f"crashes: {len(crashes)} (inputs and tracebacks in {out})")
    print(crashes[0].error, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
