"""METADATA / PKG-INFO text → :class:`CoreMetadata`, and the PEP 643 rule for sdists.

Pure functions. Nothing here runs package code: an sdist whose dependencies are not static
(Metadata-Version < 2.2, or ``Requires-Dist`` listed in ``Dynamic``) is :class:`NeedsBuild`.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Sequence

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockaudit.index.types import CoreMetadata, NeedsBuild

__all__ = ["MetadataError", "parse_core_metadata", "read_pkg_info", "sdist_metadata"]


class MetadataError(ValueError):
    """METADATA that cannot be understood (the caller adds the URL)."""


def parse_core_metadata(raw: bytes, top_level: Sequence[str] = ()) -> CoreMetadata:
    fields, _unparsed = parse_email(raw)
    name, version = fields.get("name"), fields.get("version")
    if not name or not version:
        raise MetadataError("METADATA lacks Name or Version")
    try:
        parsed_version = Version(version)
    except InvalidVersion as e:
        raise MetadataError(f"METADATA has an invalid Version {version!r}") from e
    requires: list[Requirement] = []
    for text in fields.get("requires_dist", []):
        try:
            requires.append(Requirement(text))
        except InvalidRequirement as e:
            raise MetadataError(f"METADATA has an invalid Requires-Dist {text!r}: {e}") from e
    requires_python: SpecifierSet | None = None
    if fields.get("requires_python"):
        try:
            requires_python = SpecifierSet(fields["requires_python"])
        except InvalidSpecifier:
            requires_python = None  # as pip does: a broken Requires-Python is ignored
    extras = tuple(dict.fromkeys(canonicalize_name(e) for e in fields.get("provides_extra", [])))
    return CoreMetadata(
        name=canonicalize_name(name),
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
    return parse_core_metadata(pkg_info)


def _is_top_pkg_info(member: str) -> bool:
    parts = member.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def read_pkg_info(archive: bytes, filename: str) -> bytes | None:
    """The top-level ``<name>-<version>/PKG-INFO`` of a .tar.gz or .zip sdist, never extracted."""
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                for zname in zf.namelist():
                    if _is_top_pkg_info(zname):
                        return zf.read(zname)
            return None
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tf:
            for member in tf:
                if member.isfile() and _is_top_pkg_info(member.name):
                    extracted = tf.extractfile(member)
                    return extracted.read() if extracted is not None else None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise MetadataError(f"cannot read the sdist archive: {e}") from e
    return None
