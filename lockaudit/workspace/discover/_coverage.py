"""The ``exclude`` entries ``init`` proposes: every Dockerfile ``check`` will count
(``workspace/tree.py``) that the proposal makes no image of.

Dockerfiles under folders discovery never proposes images from (test data, fixtures, build
output, vendored code) are excluded outright, one entry per folder, with that reason. So is a
Dockerfile that no build source of the repository builds while the sources build others, when
it lies under a folder of examples, tests, docs or editor tooling (:func:`side_dockerfiles`):
two independent signs that it is not an image of the family; one entry per file, so that a new
Dockerfile there is still counted. Any other
Dockerfile left out (one init could not read, or could not place) is written as a *commented*
entry with the reason: the gate fails on it until the user decides — uncomment the exclusion
or declare the image — so nothing is silently dropped.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from lockaudit.workspace.tree import repository_dockerfiles

# Folder names (and paths) under which discovery proposes no images: their Dockerfiles are
# data of something else (tests, fixtures) or copies (build output, vendored packages).
_DATA_FOLDERS = ("testdata", "fixtures", "__fixtures__", "build", "dist", "venv", "env")
_DATA_PATHS = ("tests/data", "test/data")


# Folder names whose Dockerfiles serve something beside the image family: examples, tests,
# documentation recipes, benchmarks and load tests, editor and notebook-service environments.
_SIDE_FOLDERS = frozenset(
    {"example", "examples", "sample", "samples", "test", "tests", "e2e", "doc", "docs",
     "hack", "loadtest", "loadtests", ".devcontainer", "binder", ".molecule", "molecule"}
)


def side_dockerfiles(dockerfiles: Iterable[str], built: Iterable[str]) -> dict[str, str]:
    """Dockerfile -> why it is excluded, for those no build source builds (``built``: the
    Dockerfiles the sources build) under a side folder; none when no source builds anything
    (then there is no evidence either way)."""
    built_set = {posixpath.normpath(path) for path in built}
    if not built_set:
        return {}
    out: dict[str, str] = {}
    for path in dockerfiles:
        folders = path.split("/")[:-1]
        side = next((f for f in folders if f.lower() in _SIDE_FOLDERS), None)
        if side is not None and posixpath.normpath(path) not in built_set:
            out[path] = (
                f"no build file of the repository builds it, and it lies under {side}/ "
                "(an example, test or tool, not an image of the family)"
            )
    return out


# A word of a build source that names a Dockerfile, literally or as a pattern
# (``-f Dockerfile_amd``, ``file: docker/cpu.Dockerfile``, ``-f "src/$1/genproto/Dockerfile"``).
_NAMING_WORD = re.compile(r"[^\s\"'=,;|<>]*dockerfile[^\s\"'=,;|<>]*", re.IGNORECASE)
# Expansions only a run knows: in a pattern each stands for any text.
_EXPANSION = re.compile(r"\$\{\{.*?\}\}|\$\{[^}]*\}|\$\([^)]*\)|\$\w+|%\w+%")


def unnamed_dockerfiles(
    dockerfiles: Iterable[str], built: Iterable[str], sources: Iterable[str]
) -> dict[str, str]:
    """Dockerfile -> why init proposes no image of it: a file with a name of its own
    (``Dockerfile_llamacpp``, ``custom_tokenizer.Dockerfile``) that no build source builds and
    none even names, while the sources (``sources``: their texts) build others. Such a file is
    built only with ``-f`` naming it, so no line of the repository builds it; only the user
    knows whether something else does. A plain ``Dockerfile`` is left alone: ``docker build
    <folder>`` builds it without naming it, from a folder only a run may know."""
    built_set = {posixpath.normpath(path) for path in built}
    if not built_set:
        return {}
    patterns = [
        pattern for text in sources for word in _NAMING_WORD.findall(text)
        if (pattern := _word_pattern(word)) is not None
    ]
    out: dict[str, str] = {}
    for path in dockerfiles:
        name = posixpath.basename(path)
        if name == "Dockerfile" or posixpath.normpath(path) in built_set:
            continue
        if not any(p.fullmatch(path) or p.fullmatch(name) for p in patterns):
            out[path] = (
                "no build file of the repository builds or names it (they build other "
                "Dockerfiles); declare it as an image if something builds it, or exclude it"
            )
    return out


def _word_pattern(word: str) -> re.Pattern[str] | None:
    """``word`` as a pattern of paths, each expansion any text; None for a word that is only
    an expansion (``${{ env.DOCKERFILE }}``: its values are literals elsewhere in the sources)."""
    word = word.strip("()[]{}`").removeprefix("./")
    parts = _EXPANSION.split(word)
    if not "".join(parts).strip("/.-_"):
        return None
    body = ".*".join(re.escape(part.removeprefix("./")) for part in parts)
    return re.compile(f"(?:.*/)?{body}" if not word.startswith("/") else body, re.IGNORECASE)


def exclude_entries(
    root: Path, imaged: Iterable[str], problems: Mapping[str, str],
    side: Mapping[str, str] | None = None,
) -> list[tuple[str, str, bool]]:
    """``(path, reason, decided)`` for each Dockerfile that no proposed image is built from;
    ``decided`` False for one the user must decide on (written commented out).
    ``problems`` maps a Dockerfile to what discovery could not read in it; ``side`` the
    Dockerfiles :func:`side_dockerfiles` excludes, with the reason."""
    built = {posixpath.normpath(path) for path in imaged}
    entries: dict[str, tuple[str, bool]] = {}
    for path in repository_dockerfiles(root):
        if path in built:
            continue
        folder = _data_folder(path)
        if side and path in side:
            entries[path] = (side[path], True)
        elif folder is not None:
            entries.setdefault(
                f"{folder}/**", (f"{folder}/: data or copies, not images (init skips it)", True)
            )
        else:
            why = problems.get(path, "init made no image of it")
            entries[path] = (f"undecided: {why}", False)
    return [(path, reason, decided) for path, (reason, decided) in entries.items()]


def _data_folder(path: str) -> str | None:
    parts = path.split("/")[:-1]
    for end in range(1, len(parts) + 1):
        folder = "/".join(parts[:end])
        if parts[end - 1] in _DATA_FOLDERS or folder.endswith(_DATA_PATHS):
            return folder
    return None


def render_excludes(entries: Iterable[tuple[str, str, bool]]) -> str:
    """The entries as ``[[tool.lockaudit.exclude]]`` tables (valid after any other table)."""
    out: list[str] = []
    for path, reason, decided in entries:
        table = [
            "[[tool.lockaudit.exclude]]",
            f"path = {_quoted(path)}",
            f"reason = {_quoted(reason)}",
        ]
        if not decided:
            out += ["", "# `check` fails until this Dockerfile is an image or excluded:"]
            out += [f"# {line}" for line in table]
        else:
            out += ["", *table]
    return "\n".join(out) + "\n" if out else ""


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string
