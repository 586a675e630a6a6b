"""The text locks, in pip's requirements format: writer and reader.

Two of the three files of an image (the third is the pylock, :mod:`lockaudit.locks.pylock`):

``<slug>.txt``
    The full lock, in pip's requirements format: ``pip install --require-hashes -r`` accepts it.
    A header of ``# key: value`` comments (image, parent, target, the digest of every input, the
    digest of the body) is followed by ``--extra-index-url`` lines for the non-default indexes
    packages were routed to, then one entry per package, sorted by name::

        torch==2.1.0+cu121 \\
            --hash=sha256:<hex>
            # index: <index URL the files were listed on>
            # file: <filename> sha256=<hex> size=<bytes> url=<url>
            # from parent base-ml:cuda
            # via asr:cuda: docker/asr/requirements.txt:3
            # via whisperx

    A direct reference (an archive URL with its hash, see :mod:`lockaudit.parsing.directref`)
    is written ``tool @ <url> \\`` with its ``--hash`` line and ``# index: direct``; its
    version is the one its file name says.

    The default index is never written: pip inside the image uses its own configuration.
    ``# file:`` lines are the provenance record (``check`` verifies each file came from the
    index its package is routed to); pip ignores them.
``<slug>.layer.txt``
    Only the packages the image adds over its parent, same format plus a ``# layer-of:`` line,
    for ``pip install --no-deps --require-hashes -r``.

Decisions:
- Everything is sorted and nothing carries a time, so equal inputs give equal bytes and a
  recompile with no change rewrites nothing (:func:`write_atomically` compares bytes first).
- Inputs are digested after normalising line endings and trailing blanks only: a comment edit
  in a requirements file makes the lock stale (cheap, safe, and never wrong about a change).
- The user's default index URL is not an input: it comes from pip configuration, which differs
  between machines; the workspace's extra indexes and their routing are.
- A file without a sha256 on the index is still recorded (``sha256=-``) and gets no ``--hash``
  line; the ``lock-hash-missing`` rule reports it rather than the compile failing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockaudit.errors import InputError, Location
from lockaudit.locks.digest import sha256_digest
from lockaudit.locks.model import (
    GENERATED_BY,
    LOCK_FORMAT,
    Lock,
    LockedFile,
    LockedPackage,
    LockKind,
    parse_target_spec,
    target_spec,
)
from lockaudit.parsing import pep508
from lockaudit.parsing.directref import DIRECT_INDEX, archive_version, classify
from lockaudit.parsing.requirements import (
    IndexOptions,
    RequirementLine,
    RequirementsFile,
)
from lockaudit.workspace.model import Target, normalize

# --------------------------------------------------------------------------- requirements format


def render_lock(lock: Lock) -> bytes:
    """The full lock, ``<slug>.txt``."""
    return _render_txt(lock, lock.packages, layer_of=None)


def render_layer_lock(lock: Lock, full_path: str) -> bytes:
    """The layer lock, ``<slug>.layer.txt``: what the image adds over its parent."""
    return _render_txt(lock, lock.layer_packages, layer_of=full_path)


def render_body(lock: Lock, packages: Sequence[LockedPackage]) -> str:
    """Everything after the header: index lines and package entries (what body-digest covers)."""
    used = {p.index for p in packages}
    lines = [f"--extra-index-url {url}" for url in sorted(set(lock.index_urls)) if url in used]
    for package in sorted(packages, key=lambda p: p.name):
        lines.append("")
        lines.extend(_entry_lines(lock, package))
    return "\n".join(lines) + "\n"


def _render_txt(lock: Lock, packages: Sequence[LockedPackage], layer_of: str | None) -> bytes:
    body = render_body(lock, packages)
    header = [
        GENERATED_BY,
        f"# lock-format: {LOCK_FORMAT}",
        f"# image: {lock.image}",
        f"# parent: {lock.parent or '-'}",
        *([f"# layer-of: {layer_of}"] if layer_of else []),
        f"# target: {target_spec(lock.target)}",
        f"# inputs-digest: {lock.inputs_digest}",
        *(f"# input: {name} {digest}" for name, digest in lock.inputs),
        *(f"# mirror: {mirror}" for mirror in lock.mirrors),
        f"# body-digest: {sha256_digest(body.encode())}",
    ]
    return ("\n".join(header) + "\n" + body).encode()


def entry_head(package: LockedPackage) -> str:
    """``name==version``; ``name @ url`` for a direct reference (pip's hash-checking mode
    takes both, each with its ``--hash`` lines)."""
    if package.index == DIRECT_INDEX and len(package.files) == 1:
        return f"{package.name} @ {package.files[0].url}"
    return f"{package.name}=={package.version}"


def _entry_lines(lock: Lock, package: LockedPackage) -> list[str]:
    hashes = package.hashes
    head = entry_head(package)
    lines = [head + (" \\" if hashes else "")]
    lines.extend(
        f"    --hash=sha256:{digest}" + (" \\" if i < len(hashes) - 1 else "")
        for i, digest in enumerate(hashes)
    )
    lines.append(f"    # index: {package.index}")
    for file in sorted(package.files, key=lambda f: f.filename):
        size = "-" if file.size is None else str(file.size)
        lines.append(
            f"    # file: {file.filename} sha256={file.sha256 or '-'} size={size} url={file.url}"
        )
    if package.layer != lock.image:
        relation = "parent" if package.layer == lock.parent else "ancestor"
        lines.append(f"    # from {relation} {package.layer}")
    lines.extend(f"    # via {item}" for item in sorted(package.required_by))
    return lines


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LockText:
    """A lock file as read from disk, with what tamper and staleness checks need.

    ``lines`` maps each package to the line of its ``name==version`` entry.
    """

    path: str
    kind: LockKind
    lock: Lock
    layer_of: str | None
    recorded_body_digest: str
    body_digest: str
    body_line: int  # line number of the body's first line
    body: str
    lines: Mapping[NormalizedName, int] = field(default_factory=dict)
    header_lines: Mapping[str, int] = field(default_factory=dict)  # header key -> its line
    # The first line of the body that is not what lockaudit writes for the lock it records
    # (None: the body is exactly that). A body digest is recomputable by anyone; this is not
    # fooled by one: a hash line with no file record, an index line no package uses, blank
    # lines or a reordering all read as the same packages but are not the same text.
    noncanonical_line: int | None = None

    @property
    def digest_mismatch(self) -> bool:
        return self.recorded_body_digest != self.body_digest

    @property
    def tampered(self) -> bool:
        return self.digest_mismatch or self.noncanonical_line is not None

    def location(self, name: str | None = None) -> Location:
        line = self.lines.get(normalize(name), 1) if name else 1
        return Location(self.path, line)


def read_lock(path: Path, *, display: str | None = None) -> Lock:
    """Parse a lock file written by :func:`render_lock` (or a layer lock) back into a Lock."""
    return load_lock(path, display=display).lock


def load_lock(path: Path, *, display: str | None = None, memo: LockMemo | None = None) -> LockText:
    """Read and parse a ``.txt`` lock; errors are :class:`InputError` naming ``path:line``.

    Locks read with one ``memo`` share the entries they repeat (see :class:`LockMemo`).
    """
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(Location(shown), f"cannot read the lock: {e.strerror}") from e
    return parse_lock_data(data, shown, memo)


def parse_lock_data(data: bytes, path: str, memo: LockMemo | None = None) -> LockText:
    """:func:`parse_lock` of a file's bytes (which must be UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(Location(path, 1), "the lock is not UTF-8 text") from e
    return parse_lock(text, path, memo)


def parse_lock(text: str, path: str, memo: LockMemo | None = None) -> LockText:
    lines = text.split("\n")
    header, body_start = _read_header(lines, path)
    body = "\n".join(lines[body_start:])
    parser = _BodyParser(path, header.image, memo or LockMemo())
    number = body_start + 1
    for block in body.split("\n\n"):
        parser.feed_block(number, block)
        number += block.count("\n") + 2
    lock = Lock(
        image=header.image,
        parent=header.parent,
        target=header.target,
        inputs_digest=header.inputs_digest,
        inputs=header.inputs,
        packages=tuple(parser.packages),
        index_urls=tuple(parser.index_urls),
        mirrors=header.mirrors,
    )
    return LockText(
        path=path,
        kind=LockKind.LAYER if header.layer_of else LockKind.FULL,
        lock=lock,
        layer_of=header.layer_of,
        recorded_body_digest=header.body_digest,
        body_digest=sha256_digest(body.encode()),
        body_line=body_start + 1,
        body=body,
        lines=parser.lines,
        header_lines=header.lines,
        noncanonical_line=_first_noncanonical_line(lock, body, body_start + 1),
    )


def _first_noncanonical_line(lock: Lock, body: str, first: int) -> int | None:
    """The first body line that differs from :func:`render_body` of the parsed lock, if any."""
    expected = render_body(lock, lock.packages)
    if expected == body:
        return None
    want, got = expected.split("\n"), body.split("\n")
    for offset, (line, seen) in enumerate(zip(want, got, strict=False)):
        if line != seen:
            return first + offset
    return first + min(len(want), len(got)) - 1


def lock_requirements(text: LockText, memo: LockMemo | None = None) -> RequirementsFile:
    """The lock as pip reads it with ``-r``, made from its parsed entries, not parsed again.

    Only for a lock whose body is what lockaudit wrote (``not text.tampered``): that body is
    :func:`render_body` of its packages, so this equals ``parse_requirements`` of the file (a
    test holds them equal). A tampered lock must be read as the text it now is.
    """
    requirements = memo.requirements if memo is not None else {}
    lines: list[RequirementLine] = []
    for package in text.lock.packages:
        head = entry_head(package)
        requirement = requirements.get(head)
        if requirement is None:
            requirement = requirements[head] = pep508.requirement(head)
        hashes = tuple(f"sha256:{digest}" for digest in package.hashes)
        raw = " ".join([head, *(f"    --hash={digest}" for digest in hashes)])
        location = Location(text.path, text.lines[package.name])
        lines.append(RequirementLine(requirement, location, hashes=hashes, raw=raw))
    return RequirementsFile(
        path=text.path,
        requirements=tuple(lines),
        constraints=(),
        options=IndexOptions(extra_index_urls=text.lock.index_urls),
        includes=(text.path,),
    )


@dataclass(frozen=True)
class _Header:
    image: str
    parent: str | None
    layer_of: str | None
    target: Target
    inputs_digest: str
    inputs: tuple[tuple[str, str], ...]
    body_digest: str
    lines: Mapping[str, int]
    mirrors: tuple[str, ...] = ()


_HEADER_LINE = re.compile(r"^# ([a-z-]+): (.*)$")


def _read_header(lines: Sequence[str], path: str) -> tuple[_Header, int]:
    """The header's values and the index of the first body line (after ``# body-digest:``)."""
    if not lines or lines[0] != GENERATED_BY:
        raise InputError(
            Location(path, 1),
            "not a lock written by lockaudit (the first line is not its generated-by line)",
            hint="run `lockaudit compile` to write it",
        )
    values: dict[str, str] = {}
    numbers: dict[str, int] = {}
    inputs: list[tuple[str, str]] = []
    mirrors: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        match = _HEADER_LINE.match(line)
        if not match:
            raise InputError(
                Location(path, number), f"expected a `# key: value` header line: {line!r}"
            )
        key, value = match.groups()
        if key == "input":
            name, _, digest = value.rpartition(" ")
            inputs.append((name, digest))
        elif key == "mirror":
            mirrors.append(value)
            numbers.setdefault(key, number)  # the first one: where a header lie is shown
        else:
            values[key] = value
            numbers[key] = number
        if key == "body-digest":
            return _header(values, numbers, inputs, tuple(mirrors), path), number
    raise InputError(Location(path, len(lines)), "the header has no `# body-digest:` line")


def _header(
    values: Mapping[str, str],
    numbers: Mapping[str, int],
    inputs: list[tuple[str, str]],
    mirrors: tuple[str, ...],
    path: str,
) -> _Header:
    for key in ("lock-format", "image", "parent", "target", "inputs-digest"):
        if key not in values:
            end = numbers["body-digest"]
            raise InputError(Location(path, end), f"the header has no `# {key}:` line")
    if values["lock-format"] != LOCK_FORMAT:
        raise InputError(
            Location(path, numbers["lock-format"]),
            f"lock format {values['lock-format']} is not {LOCK_FORMAT}, the one this lockaudit "
            "writes",
            hint="run `lockaudit compile` to rewrite it",
        )
    try:
        target = parse_target_spec(values["target"])
    except ValueError as e:
        raise InputError(Location(path, numbers["target"]), f"unreadable target: {e}") from e
    return _Header(
        image=values["image"],
        parent=None if values["parent"] == "-" else values["parent"],
        layer_of=values.get("layer-of"),
        target=target,
        inputs_digest=values["inputs-digest"],
        inputs=tuple(inputs),
        body_digest=values["body-digest"],
        lines=dict(numbers),
        mirrors=mirrors,
    )


_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(\s*\\)?$")
_DIRECT_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*) @ (\S+?)(\s*\\)?$")
_HASH = re.compile(r"^\s+--hash=sha256:([0-9a-f]{64})(\s*\\)?$")
_FILE = re.compile(r"^(\S+) sha256=([0-9a-f]{64}|-) size=(\d+|-) url=(\S+)$")


@dataclass
class _Entry:
    """A package entry being read (mutable only while parsing)."""

    name: NormalizedName
    version: Version
    line: int
    hashes: set[str] = field(default_factory=set)
    index: str = ""
    files: list[tuple[str, str | None, int | None, str]] = field(default_factory=list)
    layer: str | None = None
    required_by: list[str] = field(default_factory=list)
    direct_url: str | None = None  # the URL of a `name @ url` entry


@dataclass
class LockMemo:
    """Entries already parsed in one run, shared by every lock read with the same memo.

    A child's full lock repeats each entry of its parent's (with a ``# from`` line), siblings
    repeat their ancestors' entries identically, and a layer lock repeats its full lock's own
    entries: keyed by their exact text, each distinct entry is parsed once, so reading a
    workspace's locks costs what the images add, not what they repeat. An entry without a
    ``# from`` line belongs to the lock's own image, which its key therefore includes.
    """

    entries: dict[object, LockedPackage] = field(default_factory=dict)
    requirements: dict[str, Requirement] = field(default_factory=dict)  # "name==version"
    versions: dict[str, Version] = field(default_factory=dict)


_FROM_LINE = "\n    # from "


class _BodyParser:
    """Reads the body entry by entry: pip's syntax for the entry, our comments for the rest.

    Entries are separated by one blank line and an annotation belongs to the entry above it, so
    a blank line closes the entry: a hash or comment line after it is an error.
    """

    def __init__(self, path: str, image: str, memo: LockMemo) -> None:
        self.path = path
        self.image = image
        self.memo = memo
        self.index_urls: list[str] = []
        self.lines: dict[NormalizedName, int] = {}
        self.packages: list[LockedPackage] = []
        self._open: _Entry | None = None

    def error(self, line: int, message: str) -> InputError:
        return InputError(Location(self.path, line), message, hint="run `lockaudit compile`")

    def feed_block(self, number: int, block: str) -> None:
        """Lines between two blank lines, the first numbered ``number``."""
        text = block.lstrip("\n")  # the body's first entry follows a blank line, the last ends
        number += len(block) - len(text)  # with one: neither is part of the entry
        block = text.rstrip("\n")
        if not block:
            return
        key: object = block if _FROM_LINE in block else (self.image, block)
        known = self.memo.entries.get(key)
        if known is not None:
            self._claim(number, known.name)
            self.packages.append(known)
            return
        lines = block.split("\n")
        before = len(self.packages)
        for offset, line in enumerate(lines):
            self.feed(number + offset, line)
        self._close()
        if len(self.packages) == before + 1 and (
            _ENTRY.match(lines[0]) or _DIRECT_ENTRY.match(lines[0])
        ):
            self.memo.entries[key] = self.packages[-1]

    def feed(self, number: int, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self._close()
            return
        # Dispatch on the first character: most lines are annotations, then hashes.
        first = stripped[0]
        if first == "#" and stripped.startswith("# "):
            self._comment(number, stripped[2:])
        elif first == "-" and (match := _HASH.match(line)):
            self._current(number).hashes.add(match[1])
        elif first == "-" and stripped.startswith("--extra-index-url "):
            self.index_urls.append(stripped.split(None, 1)[1])
        elif match := _ENTRY.match(line):
            self._start(number, match[1], match[2])
        elif match := _DIRECT_ENTRY.match(line):
            self._start_direct(number, match[1], match[2])
        else:
            raise self.error(number, f"not a lock line: {stripped!r}")

    def _claim(self, number: int, name: NormalizedName) -> None:
        if name in self.lines:
            raise self.error(number, f"{name} is pinned twice")
        self.lines[name] = number

    def _start(self, number: int, name: str, version: str) -> None:
        self._close()
        parsed = self.memo.versions.get(version)
        if parsed is None:
            try:
                parsed = self.memo.versions[version] = Version(version)
            except InvalidVersion as e:
                raise self.error(number, f"invalid version {version!r}") from e
        entry = _Entry(normalize(name), parsed, number)
        self._claim(number, entry.name)
        self._open = entry

    def _start_direct(self, number: int, name: str, url: str) -> None:
        """``name @ url``: a direct reference, its version the one its file name says."""
        self._close()
        found = archive_version(classify(url).filename)
        if found is None or found[0] != normalize(name):
            raise self.error(number, f"{name} @ {url}: the file name says no version of {name}")
        entry = _Entry(found[0], found[1], number, direct_url=url)
        self._claim(number, entry.name)
        self._open = entry

    def _current(self, number: int) -> _Entry:
        if self._open is None:
            raise self.error(number, "a hash or annotation line must follow its package line")
        return self._open

    def _comment(self, number: int, text: str) -> None:
        key, _, value = text.partition(" ")
        entry = self._current(number)
        if key == "index:":
            entry.index = value
        elif key == "file:":
            entry.files.append(self._file(number, value))
        elif key == "from" and value.split(" ")[0] in ("parent", "ancestor") and " " in value:
            entry.layer = value.split(" ", 1)[1]
        elif key == "via":
            entry.required_by.append(value)
        else:
            raise self.error(number, f"unknown annotation: # {text}")

    def _file(self, number: int, value: str) -> tuple[str, str | None, int | None, str]:
        match = _FILE.match(value)
        if not match:
            raise self.error(number, "expected `# file: NAME sha256=HEX size=N url=URL`")
        name, digest, size, url = match.groups()
        return name, None if digest == "-" else digest, None if size == "-" else int(size), url

    def _close(self) -> None:
        if self._open is not None:
            self.packages.append(self._package(self._open))
            self._open = None

    def _package(self, entry: _Entry) -> LockedPackage:
        if not entry.index:
            raise self.error(entry.line, f"{entry.name} has no `# index:` line")
        if (entry.direct_url is not None) != (entry.index == DIRECT_INDEX) or (
            entry.direct_url is not None and [f[3] for f in entry.files] != [entry.direct_url]
        ):
            raise self.error(
                entry.line,
                f"{entry.name}: a `name @ url` entry has `# index: {DIRECT_INDEX}` and one "
                "`# file:` line of that URL, and only it",
            )
        # A file's hash counts only when pip would see it: on a --hash line of the entry.
        files = tuple(
            LockedFile(name, url, digest if digest in entry.hashes else None, size, entry.index)
            for name, digest, size, url in entry.files
        )
        return LockedPackage(
            name=entry.name,
            version=entry.version,
            files=files,
            index=entry.index,
            required_by=tuple(entry.required_by),
            layer=entry.layer or self.image,
        )
