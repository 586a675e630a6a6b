"""Property tests: any text either parses or fails as an InputError that names a line of it."""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from lockaudit.errors import InputError, Location
from lockaudit.parsing.dockerfile import parse_dockerfile, parse_dockerfile_text
from lockaudit.parsing.requirements import (
    parse_requirement_string,
    parse_requirements,
    parse_requirements_text,
)
from lockaudit.parsing.shell import split_commands
from lockaudit.parsing.versions import parse_versions, parse_versions_text
from lockaudit.workspace.model import normalize

# Fast by default; LOCKAUDIT_EXAMPLES=5000 for a deeper run.
FAST = settings(max_examples=int(os.environ.get("LOCKAUDIT_EXAMPLES", "200")), deadline=None)

# Pieces that exercise every tricky path of the parsers, glued in random order.
TOKENS = [
    "\\\n",
    "\\",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "'",
    '"',
    "`",
    "$",
    "${",
    "}",
    "$(",
    ")",
    "<<EOF",
    "<<-X",
    "EOF",
    "X",
    "==",
    "===",
    ">=",
    "<",
    ">",
    "2>&1",
    "&>",
    "&&",
    "||",
    "|",
    "&",
    ";",
    "[",
    "]",
    "#",
    "# escape=`",
    "# syntax=x",
    "=",
    "-r",
    "-c",
    "-e",
    "--hash=sha256:ab",
    "--index-url",
    "--no-index",
    "-",
    "--",
    "@",
    "git+https://h.example/r#egg=",
    "file:",
    "./",
    ".",
    "/",
    "*",
    "torch",
    "numpy",
    "1.0",
    "2.1.0+cu121",
    "A_B",
    "FROM",
    "from",
    "RUN",
    "ARG",
    "ENV",
    "COPY",
    "ADD",
    "AS",
    "--platform=x",
    "--mount=type=cache",
    "--from=a",
    "pip",
    "install",
    "python3",
    "-m",
    "uv",
    '["pip", "install", "x"]',
    "KEY=",
    "PYTHON_VERSION=3.11",
    "\ufeff",
    "\x00",
    "é",
    "${A:-b}",
    "$HOME",
    "; python_version < '3'",
]
texts = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", errors="replace")),
)


def line_count(text: str) -> int:
    return len(re.split(r"\r\n|\r|\n", text))


def check(parse: Callable[[str], object], text: str, path: str, first: int = 0) -> None:
    try:
        parse(text)
    except InputError as e:
        assert e.location.path == path
        assert first <= e.location.line <= first + line_count(text), (e, text)
        assert str(e).startswith(f"{e.location}: ")


@FAST
@given(texts)
def test_requirements_never_crash(text: str) -> None:
    check(lambda t: parse_requirements_text(t, "req.txt"), text, "req.txt")


@FAST
@given(texts)
def test_versions_never_crash(text: str) -> None:
    check(lambda t: parse_versions_text(t, "versions.txt"), text, "versions.txt")


@FAST
@given(texts)
def test_shell_never_crashes(text: str) -> None:
    check(
        lambda t: split_commands(t, Location("Dockerfile", 7), {"A": "a b"}),
        text,
        "Dockerfile",
        first=7,
    )


@FAST
@given(texts, st.booleans())
def test_dockerfile_never_crashes(text: str, prefix_from: bool) -> None:
    # Half the time a FROM line comes first so that the instruction paths are reached.
    text = ("FROM base\n" if prefix_from else "") + text
    check(lambda t: parse_dockerfile_text(t, "Dockerfile", {"A": "1"}), text, "Dockerfile")


@FAST
@given(st.binary(max_size=120))
def test_files_of_random_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "f.txt").write_bytes(data)
        lines = data.count(b"\n") + data.count(b"\r") + 1
        for parse in (
            lambda: parse_requirements(root, "f.txt"),
            lambda: parse_versions(root, "f.txt"),
            lambda: parse_dockerfile(root, "f.txt"),
        ):
            try:
                parse()
            except InputError as e:
                assert e.location.path == "f.txt"
                assert 0 <= e.location.line <= lines


# -- round trips ----------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True)
versions = st.builds(
    lambda parts, post: ".".join(map(str, parts)) + post,
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
    st.sampled_from(["", "rc1", ".post2", ".dev0", "+cu121", "a3"]),
)


@FAST
@given(names, versions)
def test_pin_round_trip(name: str, version: str) -> None:
    req = parse_requirement_string(f"{name}=={version}", Location("x", 3))
    assert req.name == normalize(name)
    assert req.pinned_version == Version(version)
    parsed = parse_requirements_text(f"# c\n{name} == {version}  # note\n", "r.txt")
    assert [(r.name, r.pinned_version, r.location.line) for r in parsed.requirements] == [
        (normalize(name), Version(version), 2)
    ]


@FAST
@given(
    names,
    versions,
    st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9.:/_-]{0,20}", fullmatch=True),
)
def test_versions_round_trip(name: str, version: str, key: str, value: str) -> None:
    parsed = parse_versions_text(f"{key}={value}\n{name}=={version}\n", "versions.txt")
    assert parsed.setting(key) == value
    pin = parsed.pin(name)
    assert pin is not None and pin.pinned_version == Version(version)


@FAST
@given(
    st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=12), max_size=6)
)
def test_shell_quoting_round_trip(words: list[str]) -> None:
    (command,) = split_commands(shlex.join(["cmd", *words]), Location("D", 1))
    assert command.argv == ("cmd", *words)
    assert command.redirects == ()


@FAST
@given(names, versions, st.integers(0, 3))
def test_dockerfile_pin_round_trip(name: str, version: str, blank_lines: int) -> None:
    text = "FROM base\n" + "\n" * blank_lines + f"RUN pip install \\\n    '{name}=={version}'\n"
    (install,) = parse_dockerfile_text(text, "Dockerfile").final.pip_installs
    (req,) = install.requirements
    assert (req.name, req.pinned_version) == (normalize(name), Version(version))
    assert req.location.line == 3 + blank_lines
    assert install.location.line == 2 + blank_lines
