"""METADATA / PKG-INFO text → :class:`CoreMetadata`, and the PEP 643 rule for sdists.

Pure functions. Nothing here runs package code: an sdist whose dependencies are not static
(Metadata-Version < 2.2, or ``Requires-Dist`` listed in ``Dynamic``) is :class:`NeedsBuild`.
"""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from collections.abc import Sequence

import msgspec
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockaudit.index.limits import LimitExceeded
from lockaudit.index.types import CoreMetadata, NeedsBuild
from lockaudit.parsing.pep508 import requirement

__all__ = [
    "MetadataError",
    "MetadataFields",
    "from_fields",
    "parse_core_metadata",
    "read_fields",
    "read_pkg_info",
    "sdist_fields",
    "sdist_metadata",
]


class MetadataError(ValueError):
    """METADATA that cannot be understood (the caller adds the URL)."""


# The first empty line ends the headers (as the email parser decides), whatever the line ends.
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")


class MetadataFields(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The header values resolving reads, as written: what the metadata cache keeps, so a
    warm run rebuilds :class:`CoreMetadata` without the email parser."""

    name: str
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extra: tuple[str, ...]


def read_fields(raw: bytes) -> MetadataFields:
    # Only the header block: the body is the long description (a README, often tens of KB),
    # which nothing here reads and which the email parser spent most of its time on.
    end = _END_OF_HEADERS.search(raw)
    fields, _unparsed = parse_email(raw if end is None else raw[: end.end()])
    name, version = fields.get("name"), fields.get("version")
    if not name or not version:
        raise MetadataError("METADATA lacks Name or Version")
    return MetadataFields(
        name,
        version,
        tuple(fields.get("requires_dist", [])),
        fields.get("requires_python") or None,
        tuple(fields.get("provides_extra", [])),
    )


def parse_core_metadata(raw: bytes, top_level: Sequence[str] = ()) -> CoreMetadata:
    return from_fields(read_fields(raw), top_level)


def from_fields(fields: MetadataFields, top_level: Sequence[str] = ()) -> CoreMetadata:
    try:
        parsed_version = Version(fields.version)
    except InvalidVersion as e:
        raise MetadataError(f"METADATA has an invalid Version {fields.version!r}") from e
    requires: list[Requirement] = []
    for text in fields.requires_dist:
        try:
            requires.append(requirement(text))
        except InvalidRequirement as e:
            raise MetadataError(f"METADATA has an invalid Requires-Dist {text!r}: {e}") from e
    requires_python: SpecifierSet | None = None
    if fields.requires_python:
        try:
            requires_python = SpecifierSet(fields.requires_python)
        except InvalidSpecifier:
            requires_python = None  # as pip does: a broken Requires-Python is ignored
    extras = tuple(dict.fromkeys(canonicalize_name(e) for e in fields.provides_extra))
    return CoreMetadata(
        name=canonicalize_name(fields.name),
        version=parsed_version,
        requires_dist=tuple(requires),
        requires_python=requires_python,
        provides_extra=extras,
        top_level=tuple(line.strip() for line in top_level if line.strip()),
    )


def _metadata_version(raw: bytes) -> Version | None:
    fields, _ = parse_email(raw)
    try:
        return Version(fields.get("metadata_version", ""))
    except InvalidVersion:
        return None


def sdist_metadata(
    pkg_info: bytes | None, name: NormalizedName, version: Version
) -> CoreMetadata | NeedsBuild:
    """Accept PKG-INFO only when it makes dependencies static (PEP 643)."""
    found = sdist_fields(pkg_info, name, version)
    return found if isinstance(found, NeedsBuild) else from_fields(found)


def sdist_fields(
    pkg_info: bytes | None, name: NormalizedName, version: Version
) -> MetadataFields | NeedsBuild:
    """:func:`sdist_metadata` before its requirements are parsed (what the cache keeps)."""
    if pkg_info is None:
        return NeedsBuild(name, version, "sdist only, and it has no PKG-INFO")
    meta_version = _metadata_version(pkg_info)
    if meta_version is None or meta_version < Version("2.2"):
        return NeedsBuild(
            name,
            version,
            f"sdist only, PKG-INFO Metadata-Version {meta_version or '?'} < 2.2: "
            "dependencies are only known by building it (PEP 643)",
        )
    fields, _ = parse_email(pkg_info)
    dynamic = {field.lower() for field in fields.get("dynamic", [])}
    if "requires-dist" in dynamic:
        return NeedsBuild(
            name, version, "sdist only, PKG-INFO marks Requires-Dist dynamic (PEP 643)"
        )
    return read_fields(pkg_info)


def _is_top_pkg_info(member: str) -> bool:
    parts = member.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def read_pkg_info(archive: bytes, filename: str, most: int = 1 << 62) -> bytes | None:
    """The top-level ``<name>-<version>/PKG-INFO`` of a .tar.gz or .zip sdist, never extracted.

    A PKG-INFO that declares more than ``most`` bytes is refused (LimitExceeded) unread.
    """
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                for info in zf.infolist():
                    if _is_top_pkg_info(info.filename):
                        _bounded(info.filename, info.file_size, most)
                        return zf.read(info)
            return None
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tf:
            for member in tf:
                if member.isfile() and _is_top_pkg_info(member.name):
                    _bounded(member.name, member.size, most)
                    extracted = tf.extractfile(member)
                    return extracted.read() if extracted is not None else None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise MetadataError(f"cannot read the sdist archive: {e}") from e
    return None


def _bounded(name: str, size: int, most: int) -> None:
    if size > most:
        raise LimitExceeded(f"{name} of the sdist", most, "metadata_bytes")
