"""Lock rules: is every image's lock present, current, consistent, and what its Dockerfile installs?

Offline and cheap: each lock file is read once per ``check`` (``CheckContext.locks``, parsed
locks cached between runs) and the input digests read only small local files.

Decisions:
- A lock that cannot be parsed is reported as ``lock-tampered`` at the line the parser stopped
  at: lockaudit wrote it, so an unreadable lock was edited by hand.
- To say *which* line of a tampered lock was edited, the image's ``pylock.<slug>.toml`` is the
  witness when its own recorded body digest still equals the ``.txt`` header's: the body is
  rendered again from it and compared line by line. Otherwise the finding names the header's
  ``# body-digest:`` line.
- Provenance: a package routed to an index must have been listed on that index (the ``# index:``
  line) and its file URLs must be on that index's host. An index whose files live on another
  host would need that host declared; none of the indexes the pipeline uses does that.
- ``dockerfile-not-from-lock``: every ``pip install`` of the image's Dockerfile that installs
  something other than its lock is reported (pip re-resolves it at build time), except steps
  that only upgrade the installer (pip, setuptools, wheel) and steps whose ``-r`` file cannot be
  traced to the workspace (it may be the lock). Installing the lock without
  ``--require-hashes`` fails the gate too: pip turns hash checking on by itself only while some
  line has a hash, so the flag is what keeps a hash-less lock (or a future edit) from installing.
- A layer lock whose inputs digest differs from its full lock's is stale: the two were not
  written by the same compile.
- ``lock-inconsistent``: a body digest is only a checksum anyone can recompute, so the three
  files of an image are held against each other. The full lock is the reference (its own body
  is vouched for by ``lock-tampered``); the layer lock must pin exactly the full lock's packages
  that the parent's full lock does not (the parent chain), and the pylock the same packages,
  versions and sha256 hashes as the full lock. The pylock is read only for names, versions and
  ``hashes.sha256`` of its files, so fields added to the format do not matter; what it yields
  is cached by the pylocks' bytes, keeping the gate's cost at reading a few small files.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockaudit.errors import InputError, Location
from lockaudit.locks import (
    DEFAULT_INDEX,
    FORMAT_INPUT,
    INDEXES_INPUT,
    NO_URL,
    PYLOCK_FORM,
    TARGET_INPUT,
    InputDigest,
    Lock,
    LockedPackage,
    LockText,
    RequirementsLoader,
    input_digest,
    lock_paths,
    pylock_body_digest,
    read_pylock,
    render_body,
    target_spec,
)
from lockaudit.locks.digest import sha256_digest
from lockaudit.parsing.directref import DIRECT_INDEX
from lockaudit.parsing.dockerfile import PipInstall
from lockaudit.parsing.requirements import RequirementsFile, parse_requirements
from lockaudit.redact import bare_url as _bare
from lockaudit.redact import redact
from lockaudit.rules import CheckContext, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import Image, normalize
from lockaudit.workspace.parsecache import cached_each, cached_in_slot

_COMPILE_HINT = "run `lockaudit compile --image {key}` and commit the result"


@dataclass
class _ImageLocks:
    """One image's lock files as read from disk (``InputError`` when a file cannot be parsed)."""

    full: LockText | InputError | None
    layer: LockText | InputError | None
    digest: InputDigest | None = None  # filled on first use


@dataclass
class _Locks:
    images: dict[str, _ImageLocks] = field(default_factory=dict)
    parents: dict[str, bytes | None] = field(default_factory=dict)  # full lock path -> bytes


def _locks(ctx: CheckContext) -> _Locks:
    """Every image's locks, gathered once per check context."""
    return ctx.derived("locks", lambda: _gather(ctx))


def _gather(ctx: CheckContext) -> _Locks:
    locks = _Locks()
    for image in ctx.lockable.images:
        paths = lock_paths(ctx.lockable, image)
        locks.images[image.key] = _ImageLocks(ctx.locks.get(paths.full), ctx.locks.get(paths.layer))
    return locks


def full_lock(ctx: CheckContext, image: Image) -> LockText | None:
    """``image``'s full lock when it exists and can be read."""
    found = _locks(ctx).images[image.key].full
    return found if isinstance(found, LockText) else None


def is_fresh(ctx: CheckContext, image: Image) -> bool:
    """True when ``image``'s full lock was compiled from the inputs as they are now."""
    text = full_lock(ctx, image)
    return text is not None and _digest(ctx, image).digest == text.lock.inputs_digest


def _digest(ctx: CheckContext, image: Image) -> InputDigest:
    entry = _locks(ctx).images[image.key]
    if entry.digest is None:
        parent_bytes = None
        if image.parent is not None:
            parent = ctx.lockable.image(image.parent)
            parent_bytes = _parent_bytes(ctx, lock_paths(ctx.lockable, parent).full)
        entry.digest = input_digest(ctx.lockable, image, parent_bytes, load=_loader(ctx))
    return entry.digest


def _parent_bytes(ctx: CheckContext, path: str) -> bytes | None:
    """A parent's full lock as on disk, read once however many children it has."""
    known = _locks(ctx).parents
    if path not in known:
        file = ctx.lockable.path(path)
        known[path] = file.read_bytes() if file.is_file() else None
    return known[path]


def _loader(ctx: CheckContext) -> RequirementsLoader:
    def load(path: str) -> RequirementsFile:
        cached = ctx.requirement_files.get(path) or ctx.constraints.get(path)
        if cached is None and ctx.common is not None and ctx.common.path == path:
            cached = ctx.common
        return cached or parse_requirements(ctx.lockable.root, path)

    return load


@rule("lock-missing", Severity.ERROR, "an image has no lock (full lock or layer lock)")
def lock_missing(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        entry = _locks(ctx).images[image.key]
        paths = lock_paths(ctx.lockable, image)
        for path, found in ((paths.full, entry.full), (paths.layer, entry.layer)):
            if found is None:
                yield lock_missing.finding(
                    f"{image.key} has no lock {path}",
                    Location(path),
                    image=image.key,
                    hint=_COMPILE_HINT.format(key=image.key),
                )


@rule("lock-stale", Severity.ERROR, "an input changed since the lock was compiled")
def lock_stale(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        text = full_lock(ctx, image)
        if text is None:
            continue
        layer = _locks(ctx).images[image.key].layer
        if isinstance(layer, LockText) and layer.lock.inputs_digest != text.lock.inputs_digest:
            yield lock_stale.finding(
                f"{layer.path} was not written with {text.path} (their inputs digests differ)",
                Location(layer.path, _header_line(layer, "inputs-digest")),
                image=image.key,
                hint=_COMPILE_HINT.format(key=image.key),
            )
        current = _digest(ctx, image)
        if current.digest == text.lock.inputs_digest:
            continue
        changed = current.changed_since(text.lock.inputs) or ("the recorded inputs",)
        yield lock_stale.finding(
            f"{text.path} is stale: {', '.join(_describe(name) for name in changed)} changed "
            "since it was compiled",
            Location(text.path, _header_line(text, "inputs-digest")),
            image=image.key,
            hint=_COMPILE_HINT.format(key=image.key),
        )


def _describe(name: str) -> str:
    pseudo = {
        TARGET_INPUT: "the target",
        INDEXES_INPUT: "the index configuration",
        FORMAT_INPUT: "lockaudit's lock format",
    }
    return pseudo.get(name, name)


def _header_line(text: LockText, key: str) -> int:
    return text.header_lines.get(key, 1)


@rule("lock-not-superset", Severity.ERROR, "a lock does not pin every parent package identically")
def lock_not_superset(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        text = full_lock(ctx, image)
        parent = full_lock(ctx, ctx.lockable.image(image.parent)) if image.parent else None
        if text is None or parent is None:
            continue
        for package in parent.lock.packages:
            mine = text.lock.package(package.name)
            if mine is not None and mine.pin_key() == package.pin_key():
                continue
            what = "does not pin" if mine is None else f"pins {mine.name}=={mine.version} for"
            yield lock_not_superset.finding(
                f"{text.path} {what} {package.name}=={package.version} of its parent "
                f"{parent.lock.image} ({parent.location(package.name)}), or with other hashes",
                text.location(package.name) if mine else Location(text.path, 1),
                image=image.key,
                package=package.name,
                hint=_COMPILE_HINT.format(key=image.key),
            )


@rule("lock-hash-missing", Severity.ERROR, "a locked package has a file without a sha256")
def lock_hash_missing(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        text = full_lock(ctx, image)
        if text is None:
            continue
        for package in text.lock.packages:
            bare = [f.filename for f in package.files if f.sha256 is None]
            if package.files and not bare:
                continue
            what = ", ".join(bare) if bare else "no file at all"
            yield lock_hash_missing.finding(
                f"{package.name}=={package.version} has no --hash for {what}: "
                "pip --require-hashes will refuse the lock",
                text.location(package.name),
                image=image.key,
                package=package.name,
                hint="the index gave no sha256; use an index that publishes hashes, then compile",
            )


@rule(
    "lock-provenance",
    Severity.ERROR,
    "a locked file is not from the index its package is routed to",
)
def lock_provenance(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        text = full_lock(ctx, image)
        if text is None:
            continue
        routes = ctx.lockable.routes(image.variant)
        known = _known_indexes(ctx, image)
        mirrored_here = {mirror.split(" ", 1)[0] for mirror in text.lock.mirrors}
        for package in text.lock.packages:
            index = routes.get(package.name)
            if index is None:
                if _bare(package.index) not in known:
                    yield lock_provenance.finding(
                        f"{package.name} is said to come from {redact(package.index)}, which is "
                        "not an index of this workspace (nor the default index)",
                        text.location(package.name),
                        image=image.key,
                        package=package.name,
                        hint=_COMPILE_HINT.format(key=image.key),
                    )
                continue
            routed = _bare(index.url)
            host = urlsplit(routed).netloc
            # behind a configured mirror, files come from the mirror's host: what must hold is
            # that the package was listed on its routed index (recorded as `index`)
            # (a file without a URL, `url=-`, came through a mirror of this machine: the lock's
            # header names it; pip finds the file by name and hash on the routed index)
            mirrored = ctx.lockable.mirror_of(index.url) is not None
            # A file of the image's own without a URL came through a mirror: the workspace's
            # (configured) or this machine's (the header names it); an inherited one is its
            # owner's lock's to account for.
            own = package.layer == text.lock.image
            unexplained = own and not mirrored and package.index not in mirrored_here
            strays = [
                f.url
                for f in package.files
                if _bare(f.index) != routed
                or (f.url == NO_URL and unexplained)
                or (not mirrored and f.url != NO_URL and urlsplit(f.url).netloc != host)
            ]
            if _bare(package.index) != routed or strays:
                taken = strays[0] if strays else package.index
                taken = "a file with no URL and no `# mirror:` line" if taken == NO_URL else taken
                yield lock_provenance.finding(
                    f"{package.name} is routed to the index {index.name} ({redact(index.url)}) but "
                    f"the lock takes it from {redact(taken)}",
                    text.location(package.name),
                    image=image.key,
                    package=package.name,
                    hint=_COMPILE_HINT.format(key=image.key),
                )


def _known_indexes(ctx: CheckContext, image: Image) -> set[str]:
    """Every index a package of ``image`` may be listed on (the user's own: ``default``)."""
    configured = ctx.lockable.indexes
    return {DEFAULT_INDEX, DIRECT_INDEX} | {
        _bare(index.url) for index in configured if index.variant in (None, image.variant)
    }


@rule("lock-tampered", Severity.ERROR, "a lock was edited by hand")
def lock_tampered(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        entry = _locks(ctx).images[image.key]
        pylock = ctx.lockable.path(lock_paths(ctx.lockable, image).pylock)
        for found in (entry.full, entry.layer):
            if isinstance(found, InputError):
                yield lock_tampered.finding(
                    f"the lock cannot be read: {found.message}",
                    found.location,
                    image=image.key,
                    hint=_COMPILE_HINT.format(key=image.key),
                )
            elif isinstance(found, LockText) and not found.digest_mismatch and found.tampered:
                yield lock_tampered.finding(
                    f"{found.path} is not as lockaudit writes it for the packages it records "
                    "(its body digest was recomputed over an edit): this line differs",
                    Location(found.path, found.noncanonical_line or found.body_line),
                    image=image.key,
                    hint=_COMPILE_HINT.format(key=image.key) + "; never edit a lock by hand",
                )
            elif isinstance(found, LockText) and found.tampered:
                full = entry.full if isinstance(entry.full, LockText) else None
                line = _first_edited_line(found, full, pylock)
                yield lock_tampered.finding(
                    f"{found.path} differs from what lockaudit wrote (its body digest does not "
                    "match the header): a version, a hash or a line was edited",
                    Location(found.path, line or _header_line(found, "body-digest")),
                    image=image.key,
                    hint=_COMPILE_HINT.format(key=image.key) + "; never edit a lock by hand",
                )


def _first_edited_line(text: LockText, full: LockText | None, pylock: Path) -> int | None:
    """The first body line that differs from an intact witness, when there is one.

    The pylock records the full lock's body digest; it witnesses a layer lock too while the full
    lock's header still agrees with it. Without a pylock (``pylock = false``) an intact full
    lock witnesses its layer lock: it records which layer each package belongs to.
    """
    if full is None:
        return None
    witness = _pylock_witness(full, pylock)
    if witness is None and text.layer_of and not full.tampered:
        witness = full.lock
    if witness is None:
        return None
    packages = witness.layer_packages if text.layer_of else witness.packages
    expected = render_body(witness, packages).split("\n")
    actual = text.body.split("\n")
    for offset, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return text.body_line + offset
    return text.body_line + min(len(expected), len(actual)) - 1


def _pylock_witness(full: LockText, pylock: Path) -> Lock | None:
    if pylock_body_digest(pylock) != full.recorded_body_digest:
        return None
    try:
        return read_pylock(pylock)
    except InputError:
        return None


# --------------------------------------------------------------------------- cross-verification


@dataclass(frozen=True)
class _PylockPin:
    """What a pylock pins for one package, and where: its ``name`` line, each hash's line."""

    version: str
    hashes: tuple[str, ...]
    line: int
    hash_lines: Mapping[str, int]


# by canonical name, or why it cannot be read (a plain pair: it is cached with pickle)
_PylockPins = dict[str, _PylockPin] | tuple[str, Location]

_TOML_NAME = re.compile(r'^name\s*=\s*"([^"]*)"')
_TOML_SHA256 = re.compile(r'sha256\s*=\s*"([0-9a-fA-F]*)"')


def _parse_pins(path: str, raw: bytes) -> _PylockPins:
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
        lines = _pin_lines(text)
        pins: dict[str, _PylockPin] = {}
        if data.get("tool", {}).get("lockaudit", {}).get("pylock-form") != PYLOCK_FORM:
            return (
                f"{path} was written by an older lockaudit in a form that is not valid PEP 751 "
                "(its files have no URL)",
                Location(path, _line_of(text, "[tool.lockaudit]")),
            )
        for number, package in enumerate(data.get("packages", [])):
            name = normalize(str(package["name"]))
            line, hash_lines = lines[number] if number < len(lines) else (1, {})
            hashes = tuple(sorted({str(f["hashes"]["sha256"]) for f in _files(package)}))
            pins[name] = _PylockPin(str(package["version"]), hashes, line, hash_lines)
        return pins
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return f"the pylock is not TOML: {e}", Location(path, 1)
    except (KeyError, TypeError, AttributeError) as e:
        return f"the pylock has no {e} where a package needs one", Location(path, 1)


def _line_of(text: str, wanted: str) -> int:
    lines = text.split("\n")
    return next((n for n, line in enumerate(lines, start=1) if line.strip() == wanted), 1)


def _files(package: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A pylock package's files with a sha256 (wheels, sdist, archive; PEP 751 allows each)."""
    files = [*package.get("wheels", [])]
    files.extend(package[key] for key in ("sdist", "archive") if key in package)
    return [f for f in files if "sha256" in f.get("hashes", {})]


def _pin_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each ``[[packages]]`` table in order: its ``name`` line and its hashes' lines."""
    found: list[tuple[int, dict[str, int]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped == "[[packages]]":
            found.append((number, {}))
        elif found:
            # the table's own name comes first; its files' names come later
            if _TOML_NAME.match(stripped) and found[-1][0] == number - 1:
                found[-1] = (number, found[-1][1])
            for digest in _TOML_SHA256.findall(stripped):
                found[-1][1].setdefault(digest, number)
    return found


@rule(
    "lock-inconsistent",
    Severity.ERROR,
    "an image's full lock, layer lock and pylock do not pin the same packages",
)
def lock_inconsistent(ctx: CheckContext) -> Iterator[Finding]:
    # The answer follows from the locks' bodies and the pylocks' bytes alone: cached by them
    # (one slot per workspace), a check reads and digests the pylocks and parses their TOML
    # only after a lock changed.
    key: list[bytes] = []
    pylocks: dict[str, bytes] = {}
    for image in ctx.lockable.images:
        entry = _locks(ctx).images[image.key]
        path = lock_paths(ctx.lockable, image).pylock
        with contextlib.suppress(OSError):  # compile writes it; a missing one is not compared
            if ctx.lockable.pylock:
                pylocks[path] = ctx.lockable.path(path).read_bytes()
        raw = pylocks.get(path)
        key.append(
            "\0".join(
                [image.key, image.parent or "", _body_key(entry.full), _body_key(entry.layer), path]
            ).encode()
            + (hashlib.sha256(raw).digest() if raw is not None else b"-")
        )
    slot = f"lock-inconsistent:{ctx.lockable.root.resolve()}"
    yield from cached_in_slot(
        slot, b"\n".join(key), lambda: tuple(_inconsistencies(ctx, _pylock_pins(ctx, pylocks)))
    )


def _pylock_pins(ctx: CheckContext, pylocks: Mapping[str, bytes]) -> dict[str, _PylockPins]:
    """Each pylock's pins, parsed again only when its bytes changed: TOML parsing is most of
    this rule's cost (about 25 ms a pylock of 200 packages), and a compile of one stage
    rewrites one image's files, not the workspace's."""
    keys = {
        path: hashlib.sha256(path.encode() + b"\0" + raw).digest()
        for path, raw in pylocks.items()
    }
    compute = {
        keys[path]: functools.partial(_parse_pins, path, raw) for path, raw in pylocks.items()
    }
    parsed = cached_each(f"pylock-pins:{ctx.lockable.root.resolve()}", compute)
    return {path: parsed[key] for path, key in keys.items()}


def _body_key(found: LockText | InputError | None) -> str:
    if not isinstance(found, LockText):
        return "-"
    lock = found.lock
    header = [lock.image, lock.parent or "-", found.layer_of or "-", target_spec(lock.target)]
    header += [f"{name} {digest}" for name, digest in lock.inputs] + list(lock.mirrors)
    header += [f"{key}={line}" for key, line in sorted(found.header_lines.items())]
    return "\0".join(
        [found.path, str(found.body_line), found.body_digest, found.recorded_body_digest, *header]
    )


def _inconsistencies(
    ctx: CheckContext, pylocks: Mapping[str, _PylockPins]
) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        entry = _locks(ctx).images[image.key]
        full = entry.full
        if not isinstance(full, LockText) or full.tampered:
            continue  # missing or edited: lock-missing and lock-tampered say so
        hint = _COMPILE_HINT.format(key=image.key) + "; never edit a lock by hand"
        paths = lock_paths(ctx.lockable, image)
        differences: list[tuple[str, Location]] = list(_header_differences(image, full, None))
        if differences:  # every other comparison would only repeat what the header got wrong
            for message, location in differences:
                yield lock_inconsistent.finding(message, location, image=image.key, hint=hint)
            continue
        found_parent = _locks(ctx).images[image.parent].full if image.parent else None
        parent = found_parent if isinstance(found_parent, LockText) else None
        differences.extend(_parent_chain_differences(image, full, parent))
        differences.extend(_file_differences(full))
        differences.extend(_mirror_differences(full))
        layer = entry.layer
        if isinstance(layer, LockText) and not layer.tampered:
            differences.extend(_header_differences(image, layer, full, paths.full))
            expected = _layer_of(full, parent)
            found = list(_layer_differences(full, layer, expected))
            differences.extend(found or _layer_text_differences(image, full, layer, expected))
        path = lock_paths(ctx.lockable, image).pylock
        pins = pylocks.get(path)
        if isinstance(pins, tuple):
            differences.append(pins)
        elif pins is not None:
            differences.extend(_pylock_differences(full, path, pins))
        for message, location in differences:
            yield lock_inconsistent.finding(message, location, image=image.key, hint=hint)


def _header_differences(
    image: Image, text: LockText, full: LockText | None, layer_of: str | None = None
) -> Iterator[tuple[str, Location]]:
    """What a header says that is not so: it lies outside the body digest.

    Its image and parent are the configuration's, a layer lock names its full lock and repeats
    its target and mirrors, and the target is the one its own ``<target>`` input digests.
    """
    lock = text.lock
    said = {"image": lock.image, "parent": lock.parent or "-"}
    wanted = {"image": image.key, "parent": image.parent or "-"}
    if full is not None:
        said["layer-of"], wanted["layer-of"] = text.layer_of or "-", layer_of or "-"
        said["target"] = target_spec(lock.target)
        wanted["target"] = target_spec(full.lock.target)
        said["mirror"] = " | ".join(lock.mirrors)
        wanted["mirror"] = " | ".join(full.lock.mirrors)
    recorded = dict(lock.inputs).get(TARGET_INPUT)
    if recorded is not None and recorded != sha256_digest(target_spec(lock.target).encode()):
        said["target"], wanted["target"] = (
            target_spec(lock.target),
            "the target it was compiled for",
        )
    for key, value in said.items():
        if value != wanted[key]:
            yield (
                f"{text.path} says `# {key}: {value}` in its header, but it is "
                f"{wanted[key] or 'absent'} for {image.key}",
                Location(
                    text.path,
                    _header_line(text, key if key in text.header_lines else "body-digest"),
                ),
            )


def _parent_chain_differences(
    image: Image, full: LockText, parent: LockText | None
) -> Iterator[tuple[str, Location]]:
    """A package is the image's own exactly when its parent does not pin it; an inherited entry
    is the parent's, byte for byte (index and files too)."""
    if image.parent is not None and parent is None:
        return  # lock-missing or lock-tampered speak for the parent
    for package in full.lock.packages:
        theirs = parent.lock.package(package.name) if parent is not None else None
        if theirs is None and package.layer != image.key:
            yield (
                f"{full.path} says {package.name} comes from {package.layer}, but "
                f"{image.parent or 'nothing'} does not pin it"
                + (f" ({parent.path})" if parent is not None else ""),
                full.location(package.name),
            )
        elif theirs is not None and (
            package.layer != theirs.layer
            or package.index != theirs.index
            or package.files != theirs.files
        ):
            yield (
                f"{full.path} pins {package.name} inherited from {theirs.layer} with another "
                f"entry than its parent's lock ({parent.location(package.name) if parent else ''})",
                full.location(package.name),
            )


def _file_differences(full: LockText) -> Iterator[tuple[str, Location]]:
    """Each file is named for its own release, and a sha256 names one file of the lock."""
    owners: dict[str, tuple[str, str]] = {}
    for package in full.lock.packages:
        for file in package.files:
            # a direct reference's archive may be named anything (`main.zip`)
            release = _release_of(file.filename) if package.index != DIRECT_INDEX else None
            if release is not None and release != (package.name, package.version):
                yield (
                    f"{full.path} lists {file.filename} for {package.name}=={package.version}: "
                    "that is another release's file",
                    full.location(package.name),
                )
            if file.sha256 is None:
                continue
            owner = owners.setdefault(file.sha256, (package.name, file.filename))
            if owner != (package.name, file.filename):
                yield (
                    f"{full.path} gives {package.name}'s {file.filename} the sha256 "
                    f"{file.sha256} of {owner[0]}'s {owner[1]}: one hash names one file",
                    full.location(package.name),
                )


def _mirror_differences(full: LockText) -> Iterator[tuple[str, Location]]:
    """A ``# mirror: <index> <mirror URL>`` line stands for the image's own packages of that
    index whose files carry no URL; one that stands for none is a lie. (The mirror URL itself
    is a record of where the compiling machine fetched the bytes: nothing trusts it, since pip
    verifies every file by its hash, so it is not verified.)"""
    through = {
        package.index
        for package in full.lock.layer_packages
        if package.index != DEFAULT_INDEX and any(f.url == NO_URL for f in package.files)
    }
    for mirror in full.lock.mirrors:
        index = mirror.split(" ", 1)[0]
        if index not in through:
            yield (
                f"{full.path} says `# mirror: {redact(mirror)}`, but none of {full.lock.image}'s "
                f"own packages from {redact(index)} came through a mirror",
                Location(full.path, _header_line(full, "mirror")),
            )


def _release_of(filename: str) -> tuple[str, Version] | None:
    """The (name, version) a wheel's or sdist's file name says; None for other names."""
    with contextlib.suppress(InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)
    return None


def _layer_text_differences(
    image: Image, full: LockText, layer: LockText, expected: Mapping[str, LockedPackage]
) -> Iterator[tuple[str, Location]]:
    """The layer lock pins the right releases; it must also be their entries as the full lock
    has them (index lines, files, annotations): the layer lock is what the build installs."""
    own = [replace(p, layer=image.key) for p in full.lock.packages if p.name in expected]
    want = render_body(full.lock, own).split("\n")
    got = layer.body.split("\n")
    for offset, (line, seen) in enumerate(zip(want, got, strict=False)):
        if line != seen:
            yield (
                f"{layer.path} differs from the entries of {full.path} it repeats: "
                f"{seen.strip()!r} where the full lock has {line.strip()!r}",
                Location(layer.path, layer.body_line + offset),
            )
            return
    if len(want) != len(got):
        yield (
            f"{layer.path} differs in length from the entries of {full.path} it repeats",
            Location(layer.path, layer.body_line + min(len(want), len(got)) - 1),
        )


def _layer_of(full: LockText, parent: LockText | None) -> dict[str, LockedPackage]:
    """What the layer lock must pin: the full lock minus the parent's (or its own annotations)."""
    if parent is None or parent.tampered:
        return {p.name: p for p in full.lock.layer_packages}
    return {p.name: p for p in full.lock.packages if parent.lock.package(p.name) is None}


def _layer_differences(
    full: LockText, layer: LockText, expected: Mapping[str, LockedPackage]
) -> Iterator[tuple[str, Location]]:
    for package in layer.lock.packages:
        want = expected.get(package.name)
        if want is None:
            where = (
                "is not in"
                if full.lock.package(package.name) is None
                else "comes from the parent in"
            )
            yield (
                f"{layer.path} pins {package.name}=={package.version}, which {where} {full.path}",
                layer.location(package.name),
            )
        elif want.pin_key() != package.pin_key():
            yield (
                f"{layer.path} pins {package.name}=={package.version} with other hashes or "
                f"version than {full.path} ({want.name}=={want.version}, "
                f"{full.location(want.name)})",
                layer.location(package.name),
            )
    for name, want in sorted(expected.items()):
        if layer.lock.package(name) is None:
            yield (
                f"{layer.path} does not pin {want.name}=={want.version}, which {full.path} pins "
                "and the parent does not",
                full.location(name),
            )


def _pylock_differences(
    full: LockText, path: str, pins: Mapping[str, _PylockPin]
) -> Iterator[tuple[str, Location]]:
    for name, pin in sorted(pins.items(), key=lambda item: item[1].line):
        mine = full.lock.package(name)
        if mine is None:
            yield (
                f"{path} pins {name}=={pin.version}, which is not in {full.path}",
                Location(path, pin.line),
            )
        elif pin.version != str(mine.version):
            yield (
                f"{path} pins {name}=={pin.version} but {full.path} pins =={mine.version} "
                f"({full.location(name)})",
                Location(path, pin.line),
            )
        elif pin.hashes != mine.hashes:
            stray = sorted(set(pin.hashes) ^ set(mine.hashes))
            line = min((pin.hash_lines[h] for h in stray if h in pin.hash_lines), default=pin.line)
            yield (
                f"{path} pins {name}=={pin.version} with other sha256 hashes than {full.path} "
                f"({full.location(name)})",
                Location(path, line),
            )
    for package in full.lock.packages:
        if package.name not in pins:
            yield (
                f"{path} does not pin {package.name}=={package.version}, which {full.path} pins",
                full.location(package.name),
            )


# Installing the installer itself is not the image's layer: lockaudit does not lock it.
_TOOLING = frozenset({"pip", "setuptools", "wheel"})


@rule(
    "dockerfile-not-from-lock",
    Severity.ERROR,
    "a Dockerfile installs packages without its layer lock and --require-hashes",
)
def dockerfile_not_from_lock(ctx: CheckContext) -> Iterator[Finding]:
    for image in ctx.lockable.images:
        text = full_lock(ctx, image)
        installs = ctx.installs.get(image.key)
        paths = lock_paths(ctx.lockable, image)
        layer = _locks(ctx).images[image.key].layer
        if (
            text is None
            or not isinstance(layer, LockText)
            or layer.tampered
            or installs is None
            or not text.lock.layer_packages
        ):
            continue  # no lock to install yet, or an unreadable one: lock-missing, lock-tampered
        from_lock = {
            item.via.location: item.via
            for item in installs.items
            if item.file in (paths.layer, paths.full)
        }
        hint = (
            f"COPY {paths.layer} into the image and RUN pip install --no-deps "
            "--require-hashes -r <it>"
        )
        for run in from_lock.values():
            if not run.require_hashes:
                # pip checks hashes unasked only while some line has one: make it a promise.
                yield dockerfile_not_from_lock.finding(
                    f"{image.key} installs its lock without --require-hashes",
                    run.location,
                    image=image.key,
                    hint=hint,
                )
        # A step whose file cannot be traced to the workspace may well be the lock: not judged.
        untraced = {location for location, _ in installs.untraced}
        others = _unlocked_runs(ctx, image, {*from_lock, *untraced})
        for run in others:
            yield dockerfile_not_from_lock.finding(
                f"{image.key} installs packages without its lock: pip re-resolves them at build "
                "time",
                run.location,
                image=image.key,
                hint=hint,
            )
        if not from_lock and not others:
            yield dockerfile_not_from_lock.finding(
                f"{image.key} never installs its layer lock {paths.layer}",
                Location(image.dockerfile, 1),
                image=image.key,
                hint=hint,
            )


def _unlocked_runs(ctx: CheckContext, image: Image, skip: set[Location]) -> list[PipInstall]:
    """``pip install`` steps of the image that install requirements not from its lock."""
    runs: list[PipInstall] = []
    for stage in ctx.dockerfiles[image.key].stages:
        for run in stage.pip_installs:
            if run.location in skip:
                continue
            names = {line.requirement.name.lower() for line in run.requirements}
            # `pip install --no-deps .` resolves nothing: the project's dependencies come
            # from the lock (the direct-reference rule asks for exactly that).
            local = run.local_args and not run.no_deps
            if run.requirement_files or local or names - _TOOLING:
                runs.append(run)
    return runs
