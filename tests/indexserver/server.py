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
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    fail: dict[str, list[int]] = field(default_factory=dict)  # path → [remaining, status]
    delay: dict[str, float] = field(default_factory=dict)
    reset: dict[str, int] = field(default_factory=dict)  # path → remaining (-1: always)
    truncate: dict[str, int] = field(default_factory=dict)
    wrong_hash: set[str] = field(default_factory=set)  # filenames
    changing: set[str] = field(default_factory=set)  # page paths
    auth: dict[str, str] = field(default_factory=dict)  # index → expected Authorization


class _QuietServer(ThreadingHTTPServer):
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
                entries.append(
                    {
                        "filename": built.filename,
                        "url": "../../files/" + quote(built.filename) + "#sha256=" + built.sha256,
                        "hashes": {"sha256": built.sha256},
                        "requires-python": spec.requires_python or release.requires_python,
                        "yanked": spec.yanked if spec.yanked else spec.yanked == "",
                        "size": len(built.data),
                        "upload-time": "2023-10-04T12:00:00.000000Z",
                        "meta": meta_hash if spec.metadata is MetadataMode.ADVERTISED else None,
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
            if served is None or served.spec.metadata is MetadataMode.ABSENT:
                self._send(404, b"no metadata file", "text/plain", path)
            else:
                self._send(200, served.built.metadata, "application/octet-stream", path)

        def _file(self, index: str, filename: str, path: str) -> None:
            served = server._files.get((index, filename))
            if served is None:
                self._send(404, b"no such file", "text/plain", path)
                return
            data = served.built.data
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
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            sent = body[: len(body) // 2] if truncate else body
            self.wfile.write(sent)
            with server._lock:
                server._bytes[path] += len(sent)
            if truncate:
                self.wfile.flush()
                self.close_connection = True

        def _reset(self) -> None:
            # SO_LINGER 0 turns close() into a TCP RST: "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler


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
