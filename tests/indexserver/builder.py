"""Real distribution files for the test index: wheels and sdists with true sha256s.

A wheel is a zip with a tiny module (plus optional incompressible padding, stored first so
that the dist-info sits at the end like in real wheels), then ``name-ver.dist-info/`` with
``METADATA``, ``WHEEL``, ``top_level.txt`` and ``RECORD``. An sdist is a .tar.gz with
``PKG-INFO`` and a ``setup.py`` that writes a marker file if it is ever run — tests assert
the marker never appears. Outputs are deterministic (fixed timestamps, seeded padding).
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import tarfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache

from packaging.utils import canonicalize_name

from tests.indexserver.scenario import FileSpec, Release

__all__ = ["Built", "build_file", "metadata_text", "sdist_marker_name"]

_DATE = (2023, 10, 4, 12, 0, 0)


@dataclass(frozen=True)
class Built:
    filename: str
    data: bytes
    metadata: bytes  # what the PEP 658 file holds (METADATA or PKG-INFO)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def metadata_sha256(self) -> str:
        return hashlib.sha256(self.metadata).hexdigest()


def _module(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def sdist_marker_name(name: str, version: str) -> str:
    """The file an sdist's setup.py would create in the working directory if it ran."""
    return f"SETUP_PY_RAN_{_module(name)}_{version}"


def metadata_text(
    name: str, release: Release, *, metadata_version: str = "2.1", dynamic: bool = False
) -> bytes:
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {release.version}",
    ]
    lines.append(f"Summary: test package {name}")
    if release.requires_python:
        lines.append(f"Requires-Python: {release.requires_python}")
    if dynamic:
        lines.append("Dynamic: Requires-Dist")
    lines += [f"Provides-Extra: {extra}" for extra in release.extras]
    lines += [f"Requires-Dist: {req}" for req in release.requires_dist]
    return ("\n".join(lines) + "\n\nA package made by the lockaudit test index.\n").encode()


def _zip_add(zf: zipfile.ZipFile, name: str, data: bytes, *, stored: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _init_source(release: Release) -> bytes:
    imports = "".join(f"import {module}\n" for module in release.imports)
    return (imports + f'__version__ = "{release.version}"\n').encode()


def _wheel(name: str, release: Release, spec: FileSpec) -> Built:
    module = _module(name)
    dist_info = f"{module}-{release.version}.dist-info"
    metadata = metadata_text(name, release)
    members: list[tuple[str, bytes, bool]] = [
        (f"{module}/__init__.py", _init_source(release), False)
    ]
    if spec.padding:
        pad = random.Random(f"{name}-{release.version}").randbytes(spec.padding)
        members.append((f"{module}/_padding.bin", pad, True))
    top_level = "\n".join(release.top_level or (module,)) + "\n"
    wheel_text = (
        "Wheel-Version: 1.0\nGenerator: lockaudit-test-index\nRoot-Is-Purelib: "
        f"{'true' if spec.tags.endswith('none-any') else 'false'}\nTag: {spec.tags}\n"
    )
    members += [
        (f"{dist_info}/METADATA", metadata, False),
        (f"{dist_info}/WHEEL", wheel_text.encode(), False),
        (f"{dist_info}/top_level.txt", top_level.encode(), False),
    ]
    record = [_record_line(path, data) for path, data, _ in members]
    record.append(f"{dist_info}/RECORD,,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path, data, stored in members:
            _zip_add(zf, path, data, stored=stored)
        _zip_add(zf, f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode())
    return Built(spec.filename(name, release.version), buffer.getvalue(), metadata)


def _tar_add(tf: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mtime, info.mode = len(data), 1696420800, 0o644
    tf.addfile(info, io.BytesIO(data))


def _sdist(name: str, release: Release, spec: FileSpec) -> Built:
    root = f"{_module(name)}-{release.version}"
    pkg_info = metadata_text(
        name, release, metadata_version=spec.pkg_info_version, dynamic=spec.dynamic
    )
    marker = sdist_marker_name(name, release.version)
    setup_py = (
        "# Running this file is a bug in whoever ran it: metadata must never need a build.\n"
        f"open({marker!r}, 'w').write('setup.py was run')\n"
        "from setuptools import setup\nsetup()\n"
    ).encode()
    buffer = io.BytesIO()
    # mtime=0 in the gzip header keeps the bytes (and the sha256) stable across runs.
    with (
        io.BytesIO() as raw,
        tarfile.open(fileobj=raw, mode="w") as tf,
    ):
        _tar_add(tf, f"{root}/PKG-INFO", pkg_info)
        _tar_add(tf, f"{root}/setup.py", setup_py)
        _tar_add(tf, f"{root}/{_module(name)}/__init__.py", b"")
        tf.close()
        import gzip

        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
            gz.write(raw.getvalue())
    return Built(spec.filename(name, release.version), buffer.getvalue(), pkg_info)


@lru_cache(maxsize=4096)
def build_file(name: str, release: Release, spec: FileSpec) -> Built:
    """The bytes of one file of a release (cached: scenario values are hashable)."""
    if spec.kind == "wheel":
        return _wheel(name, release, spec)
    if spec.kind == "sdist":
        return _sdist(name, release, spec)
    raise ValueError(f"unknown file kind {spec.kind!r}")
