"""A real package index on loopback: PEP 691/503 pages, files with ranges, faults, counters.

Layout, for an index named ``NAME`` of the scenario::

    /NAME/simple/                      project list (JSON or HTML by Accept)
    /NAME/simple/<project>/            project page (PEP 691 JSON or PEP 503 HTML)
    /NAME/files/<filename>             a file (Accept-Ranges, 206 on a Range)
    /NAME/files/<filename>.metadata    its PEP 658 file, when the scenario serves one
    /NAME/pypi/<project>/<version>/json  project JSON API with ``vulnerabilities``

File URLs in pages are relative (``../../files/...``) and quote ``+`` as the PyTorch index
does. Every request is counted per path (:attr:`IndexServer.requests`), and body bytes sent
are counted (:attr:`IndexServer.bytes_sent`, :meth:`IndexServer.bytes_for`).

Faults are switched on per path with the methods of :class:`IndexServer` (``fail``,
``delay``, ``reset``, ``truncate``, ``wrong_metadata_hash``, ``change_page``, ``json``,
``ranges``, ``validators``, ``require_auth``); ``IndexServer.clear_faults()`` resets them.

Hostile answers, for the adversarial suite (``tests/adversarial/``): ``gzip_bomb`` (a page
whose gzip body inflates to gigabytes), ``zip_bomb`` (a wheel whose METADATA member does),
``huge_metadata`` (a PEP 658 file of any size), ``drip`` (a body fed a byte at a time, each
read inside the read timeout), ``extra_links`` (anchors to ``file:`` URLs or other hosts) and
``hash_fragment`` (a file's hash of another type or shape).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import socket
import struct
import threading
import time
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.indexserver.builder import Built, build_file
from tests.indexserver.scenario import FileSpec, MetadataMode, Project, Release, Scenario

__all__ = ["IndexServer"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class _Served:
    index: str
    project: Project
    release: Release
    spec: FileSpec
    built: Built


@dataclass
class _Faults:
    json: bool = True
    ranges: bool = True
    validators: bool = False
    chunked: bool = False  # 200 answers with Transfer-Encoding: chunked, no Content-Length
    gzip: bool = False  # 200 answers gzip-coded when the client accepts it
    redirect: dict[str, list[Any]] = field(default_factory=dict)  # path → [remaining, location]
    fail: dict[str, list[int]] = field(default_factory=dict)  # path → [remaining, status]
    delay: dict[str, float] = field(default_factory=dict)
    reset: dict[str, int] = field(default_factory=dict)  # path → remaining (-1: always)
    truncate: dict[str, int] = field(default_factory=dict)
    wrong_hash: set[str] = field(default_factory=set)  # filenames
    changing: set[str] = field(default_factory=set)  # page paths
    auth: dict[str, str] = field(default_factory=dict)  # index → expected Authorization
    gzip_bomb: dict[str, int] = field(default_factory=dict)  # path → inflated size
    zip_bomb: dict[str, bytes] = field(default_factory=dict)  # filename → the bomb wheel
    huge_metadata: dict[str, int] = field(default_factory=dict)  # filename → padding
    drip: dict[str, float] = field(default_factory=dict)  # path → seconds between bytes
    links: dict[str, list[str]] = field(default_factory=dict)  # page path → extra hrefs
    fragment: dict[str, str] = field(default_factory=dict)  # filename → URL fragment


class _QuietServer(ThreadingHTTPServer):
    # socketserver's backlog of 5 drops the SYNs of a client opening its pool at once, and the
    # kernel resends them only after a second: a listen queue as deep as a real server's.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # injected resets and truncations are expected; tests assert on counters


def _take(counts: dict[str, int], path: str) -> bool:
    remaining = counts.get(path, 0)
    if remaining == 0:
        return False
    if remaining > 0:
        counts[path] = remaining - 1
    return True


class IndexServer:
    """Serves a :class:`Scenario` on ``127.0.0.1:<free port>``; use as a context manager."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.requests: Counter[str] = Counter()
        self._bytes: Counter[str] = Counter()
        self._faults = _Faults()
        self._lock = threading.Lock()
        self._page_hits: Counter[str] = Counter()
        self.codings: Counter[str] = Counter()  # "chunked", "gzip": answers sent so
        self._files: dict[tuple[str, str], _Served] = {}
        for index in scenario.indexes:
            for project in index.projects:
                for release in project.releases:
                    for spec in release.files:
                        built = build_file(project.name, release, spec)
                        self._files[(index.name, built.filename)] = _Served(
                            index.name, project, release, spec, built
                        )
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> IndexServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def index_url(self, index: str = "default") -> str:
        return f"{self.base_url}/{index}/simple"

    @staticmethod
    def page_path(index: str, project: str) -> str:
        return f"/{index}/simple/{canonicalize_name(project)}/"

    @staticmethod
    def file_path(index: str, filename: str) -> str:
        return f"/{index}/files/{quote(filename)}"

    def built(self, index: str, filename: str) -> Built:
        return self._files[(index, filename)].built

    def filenames(self, index: str, project: str) -> list[str]:
        wanted = canonicalize_name(project)
        return [
            fn
            for (ix, fn), s in self._files.items()
            if ix == index and canonicalize_name(s.project.name) == wanted
        ]

    # counters --------------------------------------------------------------------------
    @property
    def bytes_sent(self) -> int:
        return sum(self._bytes.values())

    def bytes_for(self, path: str) -> int:
        return self._bytes[path]

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self._bytes.clear()

    # faults ----------------------------------------------------------------------------
    def fail(self, path: str, times: int, status: int = 500) -> None:
        """Answer ``status`` the next ``times`` requests of ``path`` (-1: always)."""
        self._faults.fail[path] = [times, status]

    def delay(self, path: str, seconds: float) -> None:
        self._faults.delay[path] = seconds

    def reset(self, path: str, times: int = 1) -> None:
        """Reset the connection (TCP RST) instead of answering, ``times`` times (-1: always)."""
        self._faults.reset[path] = times

    def truncate(self, path: str, times: int = 1) -> None:
        """Send half the body under a full Content-Length, then close."""
        self._faults.truncate[path] = times

    def wrong_metadata_hash(self, filename: str) -> None:
        """Declare a wrong PEP 658 hash for ``filename`` (in both page formats)."""
        self._faults.wrong_hash.add(filename)

    def change_page(self, index: str, project: str) -> None:
        """The first request of the page hides the newest release; later ones show it."""
        self._faults.changing.add(self.page_path(index, project))

    def json(self, enabled: bool) -> None:
        self._faults.json = enabled

    def ranges(self, enabled: bool) -> None:
        self._faults.ranges = enabled

    def validators(self, enabled: bool) -> None:
        """Send ETags on pages and answer 304 to a matching If-None-Match."""
        self._faults.validators = enabled

    def require_auth(self, index: str, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._faults.auth[index] = f"Basic {token}"

    def chunked(self, enabled: bool) -> None:
        """Send every 200 answer chunked (Transfer-Encoding), without a Content-Length."""
        self._faults.chunked = enabled

    def gzip(self, enabled: bool) -> None:
        """Gzip every 200 answer whose request accepts gzip (Content-Encoding)."""
        self._faults.gzip = enabled

    def redirect(self, path: str, location: str, times: int = 1, status: int = 302) -> None:
        """Answer ``path`` ``times`` times with a redirect to ``location`` (absolute or not)."""
        self._faults.redirect[path] = [times, location, status]

    def gzip_bomb(self, path: str, inflated: int) -> None:
        """Answer ``path`` with a gzip body (Content-Encoding) inflating to ``inflated`` bytes."""
        self._faults.gzip_bomb[path] = inflated

    def zip_bomb(self, index: str, filename: str, inflated: int) -> None:
        """Serve the wheel ``filename`` with a METADATA member that inflates to ``inflated``
        bytes (its page hash and size match the bomb; no PEP 658 file)."""
        served = self._files[(index, filename)]
        self._faults.zip_bomb[filename] = _bomb_wheel(served.built, inflated)

    def huge_metadata(self, filename: str, padding: int) -> None:
        """The PEP 658 file of ``filename``: its real METADATA plus ``padding`` bytes of body."""
        self._faults.huge_metadata[filename] = padding

    def drip(self, path: str, interval: float) -> None:
        """Send the body of ``path`` one byte every ``interval`` seconds."""
        self._faults.drip[path] = interval

    def extra_links(self, index: str, project: str, *hrefs: str) -> None:
        """Add anchors with these hrefs to a project page (both formats)."""
        self._faults.links.setdefault(self.page_path(index, project), []).extend(hrefs)

    def hash_fragment(self, filename: str, fragment: str) -> None:
        """List ``filename`` with this hash (``md5=...``, ``sha256=short``) instead of its own."""
        self._faults.fragment[filename] = fragment

    def clear_faults(self) -> None:
        self._faults = _Faults()

    # pages -----------------------------------------------------------------------------
    def _releases(self, index: str, project: Project, path: str) -> list[Release]:
        releases = sorted(project.releases, key=lambda r: Version(r.version))
        with self._lock:
            self._page_hits[path] += 1
            first = self._page_hits[path] == 1
        if path in self._faults.changing and first and releases:
            releases = releases[:-1]
        return releases

    def _file_entries(self, index: str, releases: list[Release], name: str) -> list[dict[str, Any]]:
        entries = []
        for release in releases:
            for spec in release.files:
                built = build_file(name, release, spec)
                meta_hash = built.metadata_sha256
                if built.filename in self._faults.wrong_hash:
                    meta_hash = hashlib.sha256(b"not the metadata").hexdigest()
                data = self._faults.zip_bomb.get(built.filename, built.data)
                fragment = self._faults.fragment.get(
                    built.filename, "sha256=" + hashlib.sha256(data).hexdigest()
                )
                name_, _, value = fragment.partition("=")
                advertised = spec.metadata is MetadataMode.ADVERTISED
                entries.append(
                    {
                        "filename": built.filename,
                        "url": "../../files/" + quote(built.filename) + "#" + fragment,
                        "hashes": {name_: value},
                        "requires-python": spec.requires_python or release.requires_python,
                        "yanked": spec.yanked if spec.yanked else spec.yanked == "",
                        "size": len(data),
                        "upload-time": "2023-10-04T12:00:00.000000Z",
                        "meta": meta_hash if advertised and data is built.data else None,
                    }
                )
        for href in self._faults.links.get(self.page_path(index, name), []):
            entries.append(
                {
                    "filename": href.rstrip("/").rsplit("/", 1)[-1],
                    "url": href,
                    "hashes": {},
                    "requires-python": None,
                    "yanked": False,
                    "size": None,
                    "upload-time": None,
                    "meta": None,
                }
            )
        return entries

    def project_page(self, index: str, name: str, path: str, as_json: bool) -> tuple[bytes, str]:
        spec = self.scenario.index(index).project(name)
        assert spec is not None
        entries = self._file_entries(index, self._releases(index, spec, path), spec.name)
        if as_json:
            files = []
            for e in entries:
                item = {k: v for k, v in e.items() if k != "meta"}
                if e["meta"]:
                    item["core-metadata"] = item["dist-info-metadata"] = {"sha256": e["meta"]}
                files.append(item)
            versions = sorted({str(Version(r.version)) for r in spec.releases})
            body = {
                "meta": {"api-version": "1.1"},
                "name": spec.name,
                "files": files,
                "versions": versions,
            }
            return json.dumps(body).encode(), JSON_TYPE
        anchors = []
        for e in entries:
            attrs = f'href="{html.escape(e["url"])}"'
            if e["requires-python"]:
                attrs += f' data-requires-python="{html.escape(e["requires-python"])}"'
            if e["yanked"] is not False:
                reason = e["yanked"] if isinstance(e["yanked"], str) else ""
                attrs += f' data-yanked="{html.escape(reason)}"'
            if e["meta"]:
                attrs += f' data-core-metadata="sha256={e["meta"]}"'
                attrs += f' data-dist-info-metadata="sha256={e["meta"]}"'
            anchors.append(f"<a {attrs}>{html.escape(e['filename'])}</a><br/>")
        page = (
            "<!DOCTYPE html>\n<html><head><title>Links for "
            f"{html.escape(spec.name)}</title></head><body>\n"
            + "\n".join(anchors)
            + "\n</body></html>\n"
        )
        return page.encode(), "text/html"

    def root_page(self, index: str, as_json: bool) -> tuple[bytes, str]:
        names = [p.name for p in self.scenario.index(index).projects]
        if as_json:
            projects = [{"name": n} for n in names]
            return json.dumps({"meta": {"api-version": "1.1"}, "projects": projects}).encode(), (
                JSON_TYPE
            )
        links = "".join(f'<a href="{canonicalize_name(n)}/">{n}</a>\n' for n in names)
        return f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode(), "text/html"

    def json_api(self, index: str, name: str, version: str) -> bytes | None:
        project = self.scenario.index(index).project(name)
        if project is None:
            return None
        release = next((r for r in project.releases if r.version == version), None)
        if release is None:
            return None
        vulns = project.vulns(version) or ()
        body = {
            "info": {"name": project.name, "version": version},
            "urls": [],
            "vulnerabilities": [
                {
                    "id": v.id,
                    "summary": v.summary,
                    "details": v.summary,
                    "aliases": list(v.aliases),
                    "fixed_in": list(v.fixed_in),
                    "link": v.link,
                    "source": "test",
                    "withdrawn": "2024-01-01" if v.withdrawn else None,
                }
                for v in vulns
            ],
        }
        return json.dumps(body).encode()


def _make_handler(server: IndexServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet tests; the counters say what happened

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            with server._lock:
                server.requests[path] += 1
            faults = server._faults
            if path in faults.gzip_bomb:
                self._gzip_bomb(faults.gzip_bomb[path], path)
                return
            moved = faults.redirect.get(path)
            if moved and moved[0] != 0:
                moved[0] -= 1
                self._send(moved[2], b"", "text/plain", path, {"Location": moved[1]})
                return
            if path in faults.delay:
                time.sleep(faults.delay[path])
            if _take(faults.reset, path):
                self._reset()
                return
            fail = faults.fail.get(path)
            if fail and fail[0] != 0:
                if fail[0] > 0:
                    fail[0] -= 1
                self._send(fail[1], b"injected failure", "text/plain", path)
                return
            parts = [unquote(p) for p in path.strip("/").split("/")]
            index = parts[0] if parts else ""
            if index in faults.auth and self.headers.get("Authorization") != faults.auth[index]:
                self._send(
                    401,
                    b"credentials needed",
                    "text/plain",
                    path,
                    {"WWW-Authenticate": 'Basic realm="test index"'},
                )
                return
            try:
                server.scenario.index(index)
            except KeyError:
                self._send(404, b"no such index", "text/plain", path)
                return
            self._route(index, parts[1:], path)

        def _route(self, index: str, rest: list[str], path: str) -> None:
            wants_json = server._faults.json and JSON_TYPE in self.headers.get("Accept", "")
            match rest:
                case ["simple"]:
                    self._page(*server.root_page(index, wants_json), path)
                case ["simple", name]:
                    if server.scenario.index(index).project(name) is None:
                        self._send(404, b"no such project", "text/plain", path)
                    elif name != canonicalize_name(name):
                        self._redirect(server.page_path(index, name))
                    else:
                        self._page(*server.project_page(index, name, path, wants_json), path)
                case ["files", filename] if filename.endswith(".metadata"):
                    self._metadata(index, filename.removesuffix(".metadata"), path)
                case ["files", filename]:
                    self._file(index, filename, path)
                case ["pypi", name, version, "json"]:
                    body = server.json_api(index, name, version)
                    if body is None:
                        self._send(404, b'{"message": "Not Found"}', "application/json", path)
                    else:
                        self._send(200, body, "application/json", path)
                case _:
                    self._send(404, b"not found", "text/plain", path)

        def _page(self, body: bytes, content_type: str, path: str) -> None:
            extra: dict[str, str] = {"Vary": "Accept"}
            if server._faults.validators:
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                extra["ETag"] = etag
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", content_type, path, extra)
                    return
            self._send(200, body, content_type, path, extra)

        def _metadata(self, index: str, filename: str, path: str) -> None:
            served = server._files.get((index, filename))
            padding = server._faults.huge_metadata.get(filename)
            if served is not None and padding is not None:
                body = served.built.metadata.rstrip(b"\n") + b"\n\n" + b"x" * padding
                self._send(200, body, "application/octet-stream", path)
            elif (
                served is None
                or served.spec.metadata is MetadataMode.ABSENT
                or filename in server._faults.zip_bomb
            ):
                self._send(404, b"no metadata file", "text/plain", path)
            else:
                self._send(200, served.built.metadata, "application/octet-stream", path)

        def _file(self, index: str, filename: str, path: str) -> None:
            served = server._files.get((index, filename))
            if served is None:
                self._send(404, b"no such file", "text/plain", path)
                return
            data = server._faults.zip_bomb.get(filename, served.built.data)
            wanted = self.headers.get("Range")
            if not (server._faults.ranges and wanted):
                headers = {"Accept-Ranges": "bytes"} if server._faults.ranges else {}
                self._send(200, data, "application/octet-stream", path, headers)
                return
            span = _parse_range(wanted, len(data))
            if span is None:
                self._send(416, b"", "text/plain", path, {"Content-Range": f"bytes */{len(data)}"})
                return
            start, end = span
            self._send(
                206,
                data[start:end],
                "application/octet-stream",
                path,
                {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end - 1}/{len(data)}"},
            )

        def _gzip_bomb(self, inflated: int, path: str) -> None:
            body = _gzip_zeros(inflated)
            headers = {"Content-Encoding": "gzip"}
            self._send(200, body, "text/html", path, headers)

        def _redirect(self, location: str) -> None:
            self._send(301, b"", "text/plain", self.path, {"Location": location})

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            path: str,
            headers: dict[str, str] | None = None,
        ) -> None:
            truncate = status == 200 and _take(server._faults.truncate, path)
            faults = server._faults
            headers = dict(headers or {})
            if status == 200 and faults.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, mtime=0)
                headers["Content-Encoding"] = "gzip"
                server.codings["gzip"] += 1
            chunked = status == 200 and faults.chunked and not truncate
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                server.codings["chunked"] += 1
            else:
                self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if chunked:
                self._send_chunked(body, path)
                return
            sent = body[: len(body) // 2] if truncate else body
            interval = server._faults.drip.get(path)
            step = 1 if interval is not None and status == 200 else 1 << 16
            for i in range(0, len(sent), step):
                piece = sent[i : i + step]
                # Counted before the write: a client may read the body and a test look at the
                # counter before this thread runs again (a race seen on a loaded machine); a
                # client that hangs up stops the count within a piece or a socket buffer.
                with server._lock:
                    server._bytes[path] += len(piece)
                self.wfile.write(piece)
                if interval is not None and step == 1:
                    self.wfile.flush()
                    time.sleep(interval)
            if truncate:
                self.wfile.flush()
                self.close_connection = True

        def _send_chunked(self, body: bytes, path: str) -> None:
            # Small odd-sized chunks, so that a client joining them is exercised.
            for i in range(0, len(body), 1000):
                piece = body[i : i + 1000]
                with server._lock:
                    server._bytes[path] += len(piece)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

        def _reset(self) -> None:
            # SO_LINGER 0 turns close() into a TCP RST: "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler


@lru_cache(maxsize=8)
def _gzip_zeros(size: int) -> bytes:
    """A gzip stream of ``size`` spaces after a page's first bytes: about 4 KB per MB."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b"<!DOCTYPE html><html><body>")]
    block = b" " * (1 << 20)
    for _ in range(size // len(block)):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b" " * (size % len(block))))
    parts.append(packer.flush())
    return b"".join(parts)


def _bomb_wheel(built: Built, inflated: int) -> bytes:
    """``built``'s wheel with its METADATA padded to ``inflated`` bytes (deflated: ~250:1)."""
    out = BytesIO()
    with (
        zipfile.ZipFile(BytesIO(built.data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bomb,
    ):
        for info in source.infolist():
            data = source.read(info)
            if not info.filename.endswith(".dist-info/METADATA"):
                bomb.writestr(info.filename, data)
                continue
            with bomb.open(info.filename, "w", force_zip64=True) as member:
                member.write(data.rstrip(b"\n") + b"\n\n")
                block = b" " * (1 << 20)
                for _ in range(inflated // len(block)):
                    member.write(block)
    return out.getvalue()


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            return max(0, size - int(last)), size
        start, end = int(first), (min(size, int(last) + 1) if last else size)
    except ValueError:
        return None
    return (start, end) if start < end else None
