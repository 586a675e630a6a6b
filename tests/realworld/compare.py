"""The real-repository corpus: load a hand-written ``expected.toml``, run discovery on the
repository's trimmed files, and say field by field where the two differ.

Shared by ``tests/test_realworld.py`` (one test per repository) and ``measure.py`` (the table
of the closing note). The schema is documented in ``README.md`` beside this file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockaudit.workspace.discover import Discovery, FoundImage

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# Image fields compared one by one; each value of expected.toml is a string, a bool or a list
# (a list means "any of these": a CI matrix builds the same Dockerfile for several values, and a
# proposal that picks one cell of the matrix is right for that field).
COMPARED = ("name", "tag", "context", "stage", "python", "parent", "base", "requirements",
            "python_version", "variant", "cuda")
_FROM = re.compile(r"^[ \t]*FROM[ \t]+(?:--\S+[ \t]+)*\S+(?:[ \t]+AS[ \t]+(\S+))?",
                   re.IGNORECASE | re.MULTILINE)
_DOCKER_HUB = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "library/")


def data_root() -> Path:
    """Where the trimmed copies live: kept beside the repository, never committed (see README)."""
    override = os.environ.get("LOCKAUDIT_REALWORLD_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "realworld"


def corpus_repos() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / "expected.toml").is_file())


@dataclass(frozen=True)
class Expected:
    repo: str
    meta: dict[str, Any]
    images: tuple[dict[str, Any], ...]
    excluded: tuple[dict[str, Any], ...]
    findings: tuple[dict[str, Any], ...]
    non_defects: tuple[dict[str, Any], ...]
    files: tuple[tuple[str, str], ...]  # (sha256, path) of every trimmed file

    def dockerfiles(self) -> list[str]:
        return [path for _, path in self.files if is_dockerfile_name(path.rsplit("/", 1)[-1])]


def is_dockerfile_name(name: str) -> bool:
    """A file Docker users treat as a Dockerfile, whatever the case of its name."""
    lower = name.lower()
    if lower.endswith((".md", ".txt", ".dockerignore")):
        return False
    return lower == "dockerfile" or lower.endswith(".dockerfile") or lower.startswith("dockerfile.")


def load_expected(repo: str) -> Expected:
    folder = HERE / repo
    data = tomllib.loads((folder / "expected.toml").read_text(encoding="utf-8"))
    files = []
    for line in (folder / "files.sha256").read_text(encoding="utf-8").splitlines():
        digest, _, path = line.partition("  ")
        files.append((digest, path))
    return Expected(
        repo=repo,
        meta=data["repo"],
        images=tuple(data.get("images", [])),
        excluded=tuple(data.get("excluded", [])),
        findings=tuple(data.get("expected_findings", [])),
        non_defects=tuple(data.get("non_defects", [])),
        files=tuple(files),
    )


def verify_files(expected: Expected, tree: Path) -> list[str]:
    """Every trimmed file is there, byte-identical to the repository's (sha256)."""
    wrong = []
    for digest, path in expected.files:
        file = tree / path
        if not file.is_file():
            wrong.append(f"{path}: missing from {tree}")
        elif hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            wrong.append(f"{path}: differs from the repository's file (sha256)")
    return wrong


# -- what discovery found, in the vocabulary of expected.toml -----------------------------------


def _workspace(discovery: Discovery) -> tuple[dict[str, str], str]:
    """The proposal's workspace-wide target and image prefix (image names are kept without it)."""
    config = tomllib.loads(discovery.config_toml).get("tool", {}).get("lockaudit", {})
    target = {str(k): str(v) for k, v in config.get("target", {}).items()}
    return target, str(config.get("image-prefix", ""))


def found_fields(
    image: FoundImage, workspace_target: dict[str, str], prefix: str = ""
) -> dict[str, Any]:
    """One found image as expected.toml writes one. Fields discovery does not report yet read
    as what init assumes today (every image a Python image, built from its last stage)."""
    target = {**workspace_target, **dict(image.target)}
    python = getattr(image, "is_python", getattr(image, "python", True))
    return {
        "name": prefix + image.name,
        "tag": image.tag,
        "context": _norm_dir(image.context),
        "stage": getattr(image, "stage", None) or "",
        "python": bool(python),
        "parent": image.parent or "",
        "base": normalize_ref(image.base_image or "") if not image.parent else "",
        "requirements": sorted(image.requirements),
        "python_version": target.get("python", "") if python else "",
        "variant": str(image.variant),
        # the workspace's CUDA target applies to CUDA images only
        "cuda": target.get("cuda", "") if str(image.variant) == "cuda" else "",
    }


def normalize_ref(ref: str) -> str:
    """Docker Hub's implicit prefixes dropped, so ``python:3.12`` equals ``docker.io/library/…``."""
    for prefix in _DOCKER_HUB:
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _norm_dir(path: str) -> str:
    path = path.strip().removeprefix("./").rstrip("/")
    return path or "."


def expected_fields(image: dict[str, Any]) -> dict[str, Any]:
    """An expected image with the defaults the schema gives omitted keys."""
    python = bool(image.get("python", True))
    return {
        "name": image["name"],
        "aliases": list(image.get("aliases", [])),
        "tag": image.get("tag", ""),  # compared only when given
        "context": _norm_dir(image.get("context", ".")),
        "stage": image.get("stage", ""),
        "python": python,
        "parent": image.get("parent", ""),
        "base": _norm_any(image.get("base", "")),
        "requirements": sorted(image.get("requirements", [])),
        "python_version": image.get("python_version", "") if python else "",
        "variant": image.get("variant", "cpu"),
        "cuda": image.get("cuda", ""),
    }


def _norm_any(value: Any) -> Any:
    return [normalize_ref(v) for v in value] if isinstance(value, list) else normalize_ref(value)


# -- the comparison -----------------------------------------------------------------------------


@dataclass
class Comparison:
    """Field-by-field differences of one repository, and the counts the closing note needs."""

    repo: str
    differences: list[str] = field(default_factory=list)
    images_expected: int = 0
    images_found: int = 0
    images_matched: int = 0
    edges_expected: int = 0
    edges_right: int = 0
    requirements_expected: int = 0
    requirements_found: int = 0
    edge_sources_named: int = 0  # found edges whose file:line expected.toml names too
    undecided: list[str] = field(default_factory=list)
    problems: int = 0


def _matches(field_name: str, want: Any, got: Any) -> bool:
    if field_name == "name":
        # the namespace of the reference is the registry's business: jupyter/base-notebook is
        # the image base-notebook
        return bool(got == want or str(got).rsplit("/", 1)[-1] == want)
    if field_name in ("python_version", "cuda"):
        # "3.12" is met by "3.12.7": the repository floats the patch version; a CUDA version is
        # right to major.minor (wheels and indexes are keyed by it), so "12.4" meets "12.4.0"
        options = want if isinstance(want, list) else [want]
        return any(_same_version(field_name, o, str(got)) for o in options)
    if isinstance(want, list) and field_name != "requirements":
        return got in want
    return bool(want == got)


def _same_version(field_name: str, want: str, got: str) -> bool:
    if got == want or (want and got.startswith(f"{want}.")):
        return True
    return field_name == "cuda" and bool(got) and want.startswith(f"{got}.") and "." in got


Pair = tuple[dict[str, Any], FoundImage | None]


def pair_images(
    expected: Expected, discovery: Discovery, tree: Path, prefix: str = ""
) -> tuple[list[Pair], list[FoundImage]]:
    """Each expected image with the found image of the same Dockerfile and stage (no stage: the
    last one, as docker builds it). Where one Dockerfile builds several images (CI inserting a
    different FROM each time), the found ones pair by name first (and of those by tag, when
    expected.toml gives one), then in order."""
    found: dict[tuple[str, str], list[FoundImage]] = {}
    for image in discovery.images:
        stage = getattr(image, "stage", None) or last_stage(tree / image.dockerfile)
        found.setdefault(_key(image.dockerfile, stage), []).append(image)
    wanted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for want in expected.images:
        stage = want.get("stage") or last_stage(tree / want["dockerfile"])
        wanted.setdefault(_key(want["dockerfile"], stage), []).append(want)
    pairs: dict[int, FoundImage | None] = {}
    for key, wants in wanted.items():
        candidates = found.pop(key, [])
        for want in wants:
            names = [want["name"], *want.get("aliases", [])]
            same = [c for c in candidates
                    if any(_matches("name", n, c.name) or _matches("name", n, prefix + c.name)
                           for n in names)]
            tags = want.get("tag")
            tagged = [c for c in same
                      if tags is not None and c.tag in (tags if isinstance(tags, list) else [tags])]
            if same:
                pairs[id(want)] = (tagged or same)[0]
                candidates.remove((tagged or same)[0])
        for want in wants:
            if id(want) not in pairs:
                pairs[id(want)] = candidates.pop(0) if candidates else None
        found[key] = candidates  # left over: found, but not expected
    unexpected = [image for images in found.values() for image in images]
    return [(want, pairs[id(want)]) for want in expected.images], unexpected


def last_stage(dockerfile: Path) -> str:
    """The name of a Dockerfile's last stage (``FROM … AS name``), "" when it has none."""
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    froms = _FROM.findall(text)
    return froms[-1].lower() if froms else ""


def compare(expected: Expected, discovery: Discovery, tree: Path) -> Comparison:
    result = Comparison(expected.repo, problems=len(discovery.problems))
    workspace_target, prefix = _workspace(discovery)
    pairs, unexpected = pair_images(expected, discovery, tree, prefix)
    # a parent is named "name" (the variant without a tag) or "name:tag"
    found_of = {_ref(want): got for want, got in pairs}
    result.images_expected = len(expected.images)
    result.images_found = len(discovery.images)
    for image, got_image in pairs:
        want = expected_fields(image)
        result.edges_expected += 1
        result.requirements_expected += len(want["requirements"])
        stage = f":{want['stage']}" if want["stage"] else ""
        label = f"{want['name']} ({image['dockerfile']}{stage})"
        if got_image is None:
            result.differences.append(f"{label}: not found")
            continue
        result.images_matched += 1
        got = found_fields(got_image, workspace_target, prefix)
        if not got["stage"] and want["stage"] == last_stage(tree / image["dockerfile"]):
            got["stage"] = want["stage"]  # no --target builds the last stage: the same image
        result.requirements_found += len(set(got["requirements"]) & set(want["requirements"]))
        if _edge_source_named(image, getattr(got_image, "edge", "")):
            result.edge_sources_named += 1
        wrong = [name for name in COMPARED if not _field_right(name, want, got, found_of)]
        if not {"parent", "base"} & set(wrong):
            result.edges_right += 1
        result.differences += [
            f"{label}: {name}: expected {want[name]!r}, found {got[name]!r}" for name in wrong
        ]
    excluded = {_norm_path(e["dockerfile"]) for e in expected.excluded}
    for image in unexpected:
        path = _norm_path(image.dockerfile)
        why = "excluded in expected.toml" if path in excluded else "not an image of expected.toml"
        result.differences.append(f"{image.key} ({path}): found as an image, but {why}")
    configured = {_norm_path(image.dockerfile) for image in discovery.images}
    result.undecided = sorted(d for d in expected.dockerfiles() if d not in configured)
    return result


def _field_right(
    name: str, want: dict[str, Any], got: dict[str, Any], found_of: dict[str, FoundImage | None]
) -> bool:
    if name == "python_version" and not want["python"]:
        return True  # said once, by the python field
    if name == "tag" and not want["tag"]:
        return True  # compared only when expected.toml gives one
    if name == "name" and any(_matches("name", alias, got["name"]) for alias in want["aliases"]):
        return True  # another name the repository's files justify as well
    if name == "parent" and want["parent"]:
        # right when it points at the image found for the expected parent (names are compared
        # on their own line)
        target = found_of.get(want["parent"])
        return target is not None and got["parent"] in (target.name, target.key)
    return _matches(name, want[name], got[name])


_FILE_LINE = re.compile(r"([\w./${}-]+):(\d+)")


def _edge_source_named(image: dict[str, Any], edge: str) -> bool:
    """The file:line discovery gives for an edge is one the hand-written from/built_by names."""
    text = f"{image.get('from', '')} {image.get('built_by', '')}"
    said = {(path.removeprefix("./"), line) for path, line in _FILE_LINE.findall(text)}
    return any((path.removeprefix("./"), line) in said for path, line in _FILE_LINE.findall(edge))


def _ref(image: dict[str, Any]) -> str:
    return f"{image['name']}:{image['tag']}" if image.get("tag") else image["name"]


def _key(dockerfile: str, stage: str) -> tuple[str, str]:
    return (_norm_path(dockerfile), stage)


def _norm_path(path: str) -> str:
    return path.strip().removeprefix("./")


def render(comparison: Comparison) -> str:
    head = (f"{comparison.repo}: {len(comparison.differences)} difference(s) between init's "
            "proposal and expected.toml")
    return "\n".join([head, *(f"  - {d}" for d in comparison.differences)])
