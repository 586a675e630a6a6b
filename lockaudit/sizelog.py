"""``reports/sizes.jsonl``: the size of every image ``lockaudit build`` built, build after build.

One JSON object per line (schema ``lockaudit-sizes/1``), appended after each build::

    {"schema": "lockaudit-sizes/1", "built_at": "2026-12-03T13:20:07Z", "image": "asr:cuda",
     "ref": "example/cp-whisperx-app-asr:cuda", "id": "sha256:...", "platform": "linux/amd64",
     "lock": "locks/asr-cuda.txt", "lock_digest": "sha256:...", "inputs_digest": "sha256:...",
     "estimate": {"layer": 331350016, "total": 3221225472},
     "size": 9663676416, "layers": [{"size": 77862554, "step": "ADD file:... in /"}, ...]}

* ``size`` and ``layers`` are the engine's own figures (measured by
  :mod:`lockaudit.builder.sizes`: ``docker image inspect`` for
  the total, ``docker history`` for each layer, oldest first); ``estimate`` is what the image's
  locks download (the largest usable file of each locked release: ``layer`` for its own lock,
  ``total`` with every ancestor's), so a reader can tell what the lock explains.
* ``lock_digest`` is the sha256 of the full lock the image was built from, ``inputs_digest``
  the image's ``org.lockaudit.inputs-digest`` label.
* A layer's ``step`` is its instruction as the engine recorded it, with build-argument values
  dropped and URLs replaced by ``<url>``: a build argument may carry a token, and an index URL
  has no business in a file a repository commits.

Appending is atomic: each record is one ``write`` on a descriptor opened with ``O_APPEND``,
under an exclusive ``flock``, so concurrent builds interleave whole lines and a reader never
sees half of one. Reading is strict: a line that is not a record is ``sizes.jsonl:N: ...``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockaudit.errors import InputError, Location

__all__ = [
    "SCHEMA",
    "SIZES_LOG",
    "LayerSize",
    "SizeRecord",
    "append_records",
    "clean_step",
    "read_size_log",
]

SCHEMA = "lockaudit-sizes/1"
SIZES_LOG = "reports/sizes.jsonl"  # relative to the workspace root
_STEP_CHARS = 160  # a layer's step is for a reader to recognise, not to replay


@dataclass(frozen=True)
class LayerSize:
    size: int
    step: str


@dataclass(frozen=True)
class SizeRecord:
    """One built image, measured right after its build (see the module docstring)."""

    built_at: str
    image: str
    ref: str
    id: str
    platform: str
    lock: str
    lock_digest: str
    inputs_digest: str
    estimate_layer: int
    estimate_total: int
    size: int
    layers: tuple[LayerSize, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "built_at": self.built_at,
            "image": self.image,
            "ref": self.ref,
            "id": self.id,
            "platform": self.platform,
            "lock": self.lock,
            "lock_digest": self.lock_digest,
            "inputs_digest": self.inputs_digest,
            "estimate": {"layer": self.estimate_layer, "total": self.estimate_total},
            "size": self.size,
            "layers": [{"size": layer.size, "step": layer.step} for layer in self.layers],
        }


_ARGS = re.compile(r"^(RUN )?\|\d+ (\S+=\S* )*")  # BuildKit's "RUN |2 A=x B=y " prefix
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def clean_step(created_by: str) -> str:
    """A layer's instruction without build-argument values or URLs (module docstring)."""
    text = created_by.replace("/bin/sh -c #(nop) ", "").removesuffix(" # buildkit").strip()
    text = _ARGS.sub(lambda m: m.group(1) or "", text)
    text = _URL.sub("<url>", text)
    text = " ".join(text.split())
    return text if len(text) <= _STEP_CHARS else text[: _STEP_CHARS - 1] + "…"


# --------------------------------------------------------------------------- the log file


def append_records(path: Path, records: Iterable[SizeRecord]) -> int:
    """Append ``records`` to the log at ``path`` (made with its folder when missing)."""
    lines = [
        (json.dumps(r.as_json(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        for r in records
    ]
    if not lines:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _ends_mid_line(fd):
            os.write(fd, b"\n")  # a torn write before us: start our lines on a line of their own
        for line in lines:
            os.write(fd, line)
    finally:
        os.close(fd)  # closing releases the lock
    return len(lines)


def _ends_mid_line(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def read_size_log(path: Path, display: str = SIZES_LOG) -> tuple[SizeRecord, ...]:
    """Every record of the log, in file order; none when there is no log."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(Location(display), f"cannot read the size log: {e}") from e
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records.append(_parse(line, Location(display, number)))
    return tuple(records)


def _parse(line: str, where: Location) -> SizeRecord:
    try:
        data = json.loads(line)
    except ValueError as e:
        raise InputError(where, f"not a JSON object: {e}", hint=_HINT) from e
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(where, f"not a {SCHEMA} record", hint=_HINT)
    try:
        estimate = data["estimate"]
        return SizeRecord(
            built_at=_text(data, "built_at"),
            image=_text(data, "image"),
            ref=_text(data, "ref"),
            id=_text(data, "id"),
            platform=_text(data, "platform"),
            lock=_text(data, "lock"),
            lock_digest=_text(data, "lock_digest"),
            inputs_digest=_text(data, "inputs_digest"),
            estimate_layer=_count(estimate, "layer"),
            estimate_total=_count(estimate, "total"),
            size=_count(data, "size"),
            layers=tuple(
                LayerSize(_count(layer, "size"), _text(layer, "step"))
                for layer in _list(data, "layers")
            ),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(where, f"bad {SCHEMA} record: {e}", hint=_HINT) from e


_HINT = "each line is one record `lockaudit build` appended; remove or fix this one"


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer")
    return value


def _list(data: dict[str, Any], key: str) -> Sequence[dict[str, Any]]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} must be a list of objects")
    return value
