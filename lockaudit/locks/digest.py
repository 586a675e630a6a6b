"""Input digests: the digest of every input that decides an image's lock.

Inputs are digested after normalising line endings and trailing blanks only: a comment edit
in a requirements file makes the lock stale (cheap, safe, and never wrong about a change).
The user's default index URL is not an input: it comes from pip configuration, which differs
between machines; the workspace's extra indexes and their routing are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockaudit.locks.model import (
    BUILD_ARGS_INPUT,
    FORMAT_INPUT,
    INDEXES_INPUT,
    LOCK_FORMAT,
    MISSING,
    TARGET_INPUT,
    lock_paths,
    target_spec,
)
from lockaudit.parsing.requirements import (
    RequirementsFile,
    parse_requirements,
)
from lockaudit.redact import bare_url as _bare
from lockaudit.workspace.model import Image, Variant, Workspace

# --------------------------------------------------------------------------- input digests


@dataclass(frozen=True)
class InputDigest:
    """The digest of every input of an image, and of each one (to name what changed)."""

    digest: str  # "sha256:<hex>"
    inputs: tuple[tuple[str, str], ...]

    def changed_since(self, recorded: Sequence[tuple[str, str]]) -> tuple[str, ...]:
        """Inputs added, removed or changed compared with ``recorded``, in input order."""
        old = dict(recorded)
        new = dict(self.inputs)
        names = [*new, *(name for name in old if name not in new)]
        return tuple(name for name in names if old.get(name) != new.get(name))


RequirementsLoader = Callable[[str], RequirementsFile]


def input_digest(
    workspace: Workspace,
    image: Image,
    parent_lock: bytes | None,
    *,
    load: RequirementsLoader | None = None,
) -> InputDigest:
    """Digest every input of ``image``; ``parent_lock`` is the parent's full lock, if any.

    Inputs: the image's requirement files and what they include (``-r``/``-c``) — or, for an
    image that declares none, its Dockerfile and build args —, the constraint files of its
    variant, ``versions.txt``, the common requirements, the parent's full lock, the
    target, the extra indexes with their routing, and the lock format. Reads only small local
    files: this runs on every ``check``. ``load`` parses a requirements file (``check`` passes
    its cache so nothing is parsed twice).
    """
    loader = load or (lambda path: parse_requirements(workspace.root, path))
    entries: dict[str, str] = {}
    for path in _input_files(workspace, image, loader):
        entries[path] = _file_digest(workspace.root / path)
    if image.parent is not None:
        parent_path = lock_paths(workspace, workspace.image(image.parent)).full
        entries[parent_path] = sha256_digest(parent_lock) if parent_lock is not None else MISSING
    if not image.requirements:
        # The Dockerfile's `pip install` lines are the inputs, read with the image's build
        # args: `pip install torch==${TORCH}` resolves differently when the config changes one.
        args = json.dumps(sorted(image.build_args), separators=(",", ":"))
        entries[BUILD_ARGS_INPUT] = sha256_digest(args.encode())
    entries[TARGET_INPUT] = sha256_digest(target_spec(image.target).encode())
    entries[INDEXES_INPUT] = sha256_digest(_index_config(workspace, image.variant).encode())
    entries[FORMAT_INPUT] = sha256_digest(LOCK_FORMAT.encode())
    inputs = tuple(entries.items())
    return InputDigest(sha256_digest(_canonical_inputs(inputs)), inputs)


def _input_files(workspace: Workspace, image: Image, load: RequirementsLoader) -> list[str]:
    """Every file an image's lock depends on, each once, in a stable order."""
    requirement_files = [*image.requirements, *workspace.constraint_files(image.variant)]
    if workspace.common and image.inherits_common:
        requirement_files.append(workspace.common)
    seen: dict[str, None] = {}
    if not image.requirements:
        seen[image.dockerfile] = None  # its `pip install` lines are the image's inputs
    for path in requirement_files:
        # A missing file is recorded as missing (another rule names it), never parsed.
        included = load(path).includes if workspace.path(path).is_file() else (path,)
        seen.update(dict.fromkeys(included))
    if workspace.versions:
        seen[workspace.versions] = None
    return list(seen)


def _file_digest(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError:
        return MISSING
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    return sha256_digest(b"\n".join(line.rstrip() for line in lines).rstrip(b"\n") + b"\n")


def _index_config(workspace: Workspace, variant: Variant) -> str:
    routes = workspace.routes(variant)
    data = {
        "indexes": sorted(
            _bare(index.url) for index in workspace.indexes if index.variant in (None, variant)
        ),
        # without credentials: a lock stays fresh when a token is rotated or comes from netrc
        "routes": {name: _bare(routes[name].url) for name in sorted(routes)},
        # hand-declared dependencies of sdists change what resolves: they are inputs too
        "reviewed-sdists": [
            [r.name, r.version, list(r.requires_dist)] for r in workspace.reviewed_sdists
        ],
    }
    return json.dumps(data, sort_keys=True)


def _canonical_inputs(inputs: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{name} {digest}\n" for name, digest in inputs).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
