"""Reading ``*.dist-info/METADATA`` out of a remote wheel with a few HTTP range requests.

A wheel is a zip: its end-of-central-directory record (EOCD) sits in the last bytes, the
central directory just before it lists every member with its offset, and METADATA is a few KB.
So: fetch the tail (which often already holds the dist-info members, written last), parse the
EOCD (ZIP64 too: wheels over 4 GB exist), then each needed member's local header and data, and
inflate. These are pure functions over bytes; the client drives the requests.

Range-read bytes cannot be checked against the file's sha256 (only a whole file can); this is
the same trust pip's and uv's lazy wheels place in the index. A whole download is verified.
A member is inflated only up to the caller's ``most`` bytes (a zip bomb raises
:class:`~lockaudit.index.limits.LimitExceeded`, whatever size the directory declares).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from lockaudit.index.limits import LimitExceeded

__all__ = [
    "LOCAL_HEADER_SIZE",
    "ZipEntry",
    "ZipFormatError",
    "dist_info_members",
    "find_directory",
    "member_data",
    "parse_central_directory",
    "read_members_from_whole",
]

EOCD_SIG = b"PK\x05\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
ZIP64_EOCD_SIG = b"PK\x06\x06"
CD_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
LOCAL_HEADER_SIZE = 30
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
TAIL_SIZE = 64 * 1024  # holds EOCD + the comment limit, and usually the whole dist-info


class ZipFormatError(ValueError):
    """The bytes are not the zip the index said they were."""


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    compressed_size: int
    size: int
    local_offset: int
    extra_len: int  # central extra length: a good guess of the local one


def find_directory(tail: bytes, tail_start: int) -> tuple[int, int]:
    """(offset, size) of the central directory, from the file's tail starting at ``tail_start``."""
    at = tail.rfind(EOCD_SIG, max(0, len(tail) - _EOCD_SIZE - _MAX_COMMENT))
    if at < 0 or len(tail) < at + _EOCD_SIZE:
        raise ZipFormatError("no end-of-central-directory record: not a zip file")
    _, _, _, _, _, cd_size, cd_offset, _ = struct.unpack("<4sHHHHIIH", tail[at : at + _EOCD_SIZE])
    if cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        loc = at - 20
        if loc < 0 or tail[loc : loc + 4] != ZIP64_LOCATOR_SIG:
            raise ZipFormatError("ZIP64 archive without a ZIP64 locator in the tail")
        (z64_offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        rel = z64_offset - tail_start
        if rel < 0 or tail[rel : rel + 4] != ZIP64_EOCD_SIG:
            raise ZipFormatError("ZIP64 end record is not where the locator says")
        cd_size, cd_offset = struct.unpack("<QQ", tail[rel + 40 : rel + 56])
    return cd_offset, cd_size


def _zip64_extra(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[i : i + 4])
        body = extra[i + 4 : i + 4 + length]
        if tag == 0x0001:
            values = list(struct.unpack(f"<{len(body) // 8}Q", body[: len(body) // 8 * 8]))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
        i += 4 + length
    return size, csize, offset


def parse_central_directory(data: bytes) -> tuple[ZipEntry, ...]:
    entries: list[ZipEntry] = []
    i = 0
    while i + 46 <= len(data) and data[i : i + 4] == CD_SIG:
        (method,) = struct.unpack("<H", data[i + 10 : i + 12])
        csize, size = struct.unpack("<II", data[i + 20 : i + 28])
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[i + 28 : i + 34])
        (offset,) = struct.unpack("<I", data[i + 42 : i + 46])
        name = data[i + 46 : i + 46 + name_len].decode("utf-8", "replace")
        extra = data[i + 46 + name_len : i + 46 + name_len + extra_len]
        size, csize, offset = _zip64_extra(extra, size, csize, offset)
        entries.append(ZipEntry(name, method, csize, size, offset, extra_len))
        i += 46 + name_len + extra_len + comment_len
    if not entries:
        raise ZipFormatError("empty or unreadable central directory")
    return tuple(entries)


_DIST_INFO = re.compile(r"^([^/]+)-([^/-]+)\.dist-info/(METADATA|top_level\.txt)$")


def dist_info_members(
    entries: tuple[ZipEntry, ...], project: str
) -> tuple[ZipEntry, ZipEntry | None]:
    """The METADATA member of the wheel's own ``.dist-info`` (and its top_level.txt, if any)."""
    wanted = canonicalize_name(project)
    found: dict[str, dict[str, ZipEntry]] = {}
    for entry in entries:
        match = _DIST_INFO.match(entry.name)
        if match:
            found.setdefault(match.group(1) + "-" + match.group(2), {})[match.group(3)] = entry
    for prefix, members in sorted(found.items()):
        if canonicalize_name(prefix.rsplit("-", 1)[0]) == wanted and "METADATA" in members:
            return members["METADATA"], members.get("top_level.txt")
    raise ZipFormatError(f"no {project}-*.dist-info/METADATA in the wheel")


def member_span(entry: ZipEntry) -> int:
    """Bytes from the local header to the end of the data, guessing the local extra length."""
    return LOCAL_HEADER_SIZE + len(entry.name.encode()) + entry.extra_len + entry.compressed_size


def _too_big(name: str, most: int) -> LimitExceeded:
    return LimitExceeded(f"{name} of the wheel", most, "metadata_bytes")


def member_data(local: bytes, entry: ZipEntry, most: int = 1 << 62) -> bytes | int:
    """Inflate a member from bytes starting at its local header; an int: that many are needed."""
    if entry.size > most or (entry.method == zipfile.ZIP_STORED and entry.compressed_size > most):
        raise _too_big(entry.name, most)
    if local[:4] != LOCAL_SIG:
        raise ZipFormatError(f"no local header for {entry.name}")
    name_len: int
    extra_len: int
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = LOCAL_HEADER_SIZE + name_len + extra_len
    end = start + entry.compressed_size
    if len(local) < end:
        return end
    raw = local[start:end]
    if entry.method == zipfile.ZIP_STORED:
        return raw
    if entry.method == zipfile.ZIP_DEFLATED:
        try:
            out = zlib.decompressobj(-15).decompress(raw, most + 1)
        except zlib.error as e:
            raise ZipFormatError(f"cannot inflate {entry.name}: {e}") from e
        if len(out) > most:  # the directory understated the size
            raise _too_big(entry.name, most)
        return out
    raise ZipFormatError(f"{entry.name} uses unsupported zip method {entry.method}")


def read_members_from_whole(
    wheel: bytes, project: str, most: int = 1 << 62
) -> tuple[bytes, list[str]]:
    """METADATA and top_level.txt lines from a whole wheel (ranges refused by the server).

    zipfile inflates a member only up to the size its directory declares (then checks the
    CRC), so refusing a declared size over ``most`` bounds what is held.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
            entries = tuple(
                ZipEntry(i.filename, i.compress_type, i.compress_size, i.file_size, 0, 0)
                for i in zf.infolist()
            )
            meta, top = dist_info_members(entries, project)
            for member in (meta, top):
                if member is not None and member.size > most:
                    raise _too_big(member.name, most)
            top_lines = zf.read(top.name).decode("utf-8", "replace").splitlines() if top else []
            return zf.read(meta.name), top_lines
    except (zipfile.BadZipFile, zlib.error, OSError) as e:
        raise ZipFormatError(f"not a valid wheel: {e}") from e
