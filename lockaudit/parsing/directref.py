"""Direct references (``name @ url``) and whether a hash-pinned lock can hold them.

PEP 610 records how an installer got a package from a URL: an archive (``archive_info``,
with its hash) or a VCS checkout (``vcs_info``, with the commit). A lock can pin exactly
those two when the requirement already names what is immutable:

* an archive URL with its sha256 (``name @ https://host/name-1.0-py3-none-any.whl#sha256=…``,
  a wheel or an sdist): the file is the release, the hash verifies it;
* a VCS URL at a full commit (``name @ git+https://host/org/name.git@<40 or 64 hex>``).

Everything else moves or is unverified: a VCS branch or tag, an archive without a sha256, a
local path (``file:``). :func:`classify` says which one a URL is; the rule that reports
unlockable references and the resolver that locks the others both ask it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

# The ``index`` a lock records for a package that no index listed: it came from its own URL.
DIRECT_INDEX = "direct"

_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
# A commit: 40 (sha-1) or 64 (sha-256) hex digits after the last `@` of the URL's path.
_COMMIT = re.compile(r"@([0-9a-f]{40}|[0-9a-f]{64})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DirectKind(StrEnum):
    ARCHIVE = "archive"  # lockable: an archive URL with its sha256
    VCS = "vcs"  # lockable: a VCS URL at a full commit
    VCS_REF = "vcs-ref"  # a VCS URL at a branch, a tag or nothing: moves
    UNHASHED = "unhashed"  # an archive URL without a sha256: unverified
    LOCAL = "local"  # a file: URL: resolved at build time
    UNNAMED_FILE = "unnamed-file"  # a URL whose last segment is no wheel or sdist name


@dataclass(frozen=True)
class DirectRef:
    """A direct URL taken apart: what a lock records for it (PEP 610 / PEP 751 terms).

    ``url`` is the URL without its fragment (and, for VCS, without the ``@commit``);
    ``sha256`` the archive's hash; ``vcs`` and ``commit`` a VCS checkout's;
    ``subdirectory`` the project's folder inside it, when the fragment names one.
    """

    kind: DirectKind
    url: str
    sha256: str | None = None
    vcs: str | None = None
    commit: str | None = None
    subdirectory: str | None = None

    @property
    def lockable(self) -> bool:
        return self.kind in (DirectKind.ARCHIVE, DirectKind.VCS)

    @property
    def filename(self) -> str:
        """The archive's file name: the URL's last path segment."""
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])

    @property
    def vcs_url(self) -> str:
        """The VCS URL as written in a requirement, commit included (no fragment)."""
        return f"{self.vcs}+{self.url}@{self.commit}"


def classify(url: str) -> DirectRef:
    """What kind of direct reference ``url`` is (see the module docstring)."""
    base, _, fragment = url.partition("#")
    fields = _fragment(fragment)
    subdirectory = fields.get("subdirectory")
    match = _VCS.match(base)
    if match:
        vcs = match[1].lower()
        bare = base[match.end() :]
        commit = _COMMIT.search(bare)
        if commit is None:
            return DirectRef(DirectKind.VCS_REF, base, vcs=vcs, subdirectory=subdirectory)
        return DirectRef(
            DirectKind.VCS,
            bare[: commit.start()],
            vcs=vcs,
            commit=commit[1],
            subdirectory=subdirectory,
        )
    if base.lower().startswith("file:"):
        return DirectRef(DirectKind.LOCAL, base)
    sha256 = fields.get("sha256", "").lower()
    if not _SHA256.match(sha256):
        return DirectRef(DirectKind.UNHASHED, base)
    ref = DirectRef(DirectKind.ARCHIVE, base, sha256=sha256, subdirectory=subdirectory)
    if archive_version(ref.filename) is None:
        return DirectRef(DirectKind.UNNAMED_FILE, base, sha256=sha256)
    return ref


def archive_version(filename: str) -> tuple[NormalizedName, Version] | None:
    """The project and version a wheel or sdist file name says, None for any other name."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def _fragment(fragment: str) -> dict[str, str]:
    """``sha256=…&subdirectory=…`` as a mapping (pip's fragment syntax)."""
    fields: dict[str, str] = {}
    for part in fragment.split("&"):
        key, sep, value = part.partition("=")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields
