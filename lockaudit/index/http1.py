"""A small keep-alive HTTP/1.1 client on asyncio streams, for plain ``http://`` origins.

Why not httpx everywhere: on a local or intranet index (a devpi or Artifactory mirror, the
loopback index of the benchmarks and tests) the round trip costs far less than httpx's own
machinery, 1.5-3 ms of CPU per request on a small machine (anyio and httpcore layers, several
event-loop hops, a failed ``import sniffio`` per request when sniffio is absent), against
0.4 ms a request here, the server's share included. A cold compile makes hundreds of
requests, so that overhead was most of its network time. httpx keeps serving ``https``
(HTTP/2 multiplexes on one TLS connection, and a TLS handshake per pooled connection would
cost more than it saves) and any origin reached through a proxy (see :func:`proxied`).

Only what an index client needs: GET, keep-alive connections per origin, ``Content-Length``,
chunked and read-until-close bodies, gzip/deflate content coding, a connect timeout and a
per-read timeout; the fetcher follows redirects. Failures raise :class:`HTTPError` or
:class:`HTTPTimeout`, which the fetcher retries like httpx's transport errors. A body longer
than the caller's ``max_body`` (as sent) or ``max_decoded`` (inflated) raises
:class:`~lockaudit.index.limits.LimitExceeded` as soon as that is known, before it is held.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from lockaudit.index.limits import LimitExceeded

__all__ = [
    "BodyLimit",
    "HTTPError",
    "HTTPTimeout",
    "PlainPool",
    "RawResponse",
    "inflate",
    "proxied",
]

_CHUNK = 1 << 16
_MAX_LINE = 1 << 16  # a status or header line longer than this is not an index answer
_MAX_HEADERS = 200
# Connections being opened at once per origin. Small servers listen with a backlog of 5
# (Python's socketserver, so `python -m http.server` and the test index); SYNs beyond it are
# dropped and the kernel resends them only after a second, which stalled a whole wave of
# requests. Opening a few at a time costs at most a connect round trip more.
_MAX_CONNECTING = 4


class HTTPError(Exception):
    """The connection failed or the answer was not valid HTTP/1.1 (retryable)."""


class HTTPTimeout(HTTPError):
    """Connecting or a read took longer than the policy allows (retryable)."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


@dataclass(frozen=True)
class BodyLimit:
    """Bytes one answer may have as sent (``wire``) and after its content coding; ``setting``
    names the :class:`~lockaudit.index.limits.Limits` field that set ``wire``."""

    wire: int
    decoded: int
    setting: str = "response_bytes"

    def exceeded(self, what: str) -> LimitExceeded:
        return LimitExceeded(what, self.wire, self.setting)

    def inflated(self) -> LimitExceeded:
        return LimitExceeded("the decompressed body", self.decoded, "decompressed_bytes")


_NO_LIMIT = BodyLimit(1 << 62, 1 << 62)


def proxied(scheme: str, netloc: str) -> bool:
    """Whether the environment routes an origin through a proxy (httpx's ``trust_env`` rules).

    Reads the environment on each call: callers remember the answer per origin.
    """
    # Imported here: urllib.request pulls in http.client and more, for one call per origin.
    from urllib.request import getproxies_environment, proxy_bypass

    proxies = getproxies_environment()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not proxy_bypass(netloc, proxies)


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


class PlainPool:
    """Idle keep-alive connections per origin; the caller bounds concurrency per origin."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, user_agent: str) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._connecting: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def get(
        self, url: str, headers: Mapping[str, str], limit: BodyLimit = _NO_LIMIT
    ) -> RawResponse:
        """One GET on a pooled connection; a stale keep-alive connection is retried once."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise HTTPError(f"not a plain http URL: {url}")
        origin = (parts.hostname, parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rpartition("@")[2]
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}",
            f"User-Agent: {self.user_agent}",
            "Accept-Encoding: gzip, deflate",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        while True:
            conn = await self._connection(origin)
            try:
                response, keep = await self._exchange(conn, request, limit)
            except _Stale:
                conn.close()
                continue  # the server closed an idle connection: a fresh one is not stale
            except BaseException:
                conn.close()
                raise
            if keep:
                conn.reused = True
                self._idle.setdefault(origin, []).append(conn)
            else:
                conn.close()
            return response

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def _connection(self, origin: tuple[str, int]) -> _Conn:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        gate = self._connecting.setdefault(origin, asyncio.Semaphore(_MAX_CONNECTING))
        try:
            async with gate, asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(*origin, limit=_MAX_LINE)
        except TimeoutError as e:
            raise HTTPTimeout("ConnectTimeout") from e
        except OSError as e:
            raise HTTPError(f"ConnectError: {e}") from e
        return _Conn(reader, writer)

    async def _read(self, what: str, op: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self.read_timeout):
                return await op
        except TimeoutError as e:
            raise HTTPTimeout(f"ReadTimeout ({what})") from e
        except asyncio.IncompleteReadError as e:
            raise HTTPError(
                f"RemoteProtocolError: the connection closed after {len(e.partial)} of "
                f"{e.expected} bytes ({what})"
            ) from e
        except asyncio.LimitOverrunError as e:
            raise HTTPError(f"RemoteProtocolError: line too long ({what})") from e
        except OSError as e:
            raise HTTPError(f"ReadError: {e}") from e

    async def _exchange(
        self, conn: _Conn, request: bytes, limit: BodyLimit
    ) -> tuple[RawResponse, bool]:
        try:
            conn.writer.write(request)
            await conn.writer.drain()
        except OSError as e:
            if conn.reused:
                raise _Stale from e
            raise HTTPError(f"WriteError: {e}") from e
        try:
            status_line = await self._read("status line", conn.reader.readline())
        except HTTPError:
            if conn.reused:
                raise _Stale from None
            raise
        if not status_line:
            if conn.reused:
                raise _Stale
            raise HTTPError("RemoteProtocolError: the server closed the connection")
        version, status = _status(status_line)
        headers = await self._headers(conn)
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        if status in (204, 304) or 100 <= status < 200:
            return RawResponse(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked(conn, limit)
        elif (length := headers.get("content-length")) is not None:
            if not length.strip().isdigit():
                raise HTTPError(f"RemoteProtocolError: bad Content-Length {length!r}")
            if int(length) > limit.wire:
                raise limit.exceeded(f"a body of {length} bytes")
            body = await self._exactly(conn, int(length))
        else:
            body, keep = await self._until_close(conn, limit), False
        return RawResponse(status, headers, _decode(body, headers, limit.decoded)), keep

    async def _headers(self, conn: _Conn) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = await self._read("headers", conn.reader.readline())
            if not line.endswith(b"\n"):
                raise HTTPError("RemoteProtocolError: the connection closed in the headers")
            if line in (b"\r\n", b"\n"):
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise HTTPError(f"RemoteProtocolError: bad header line {line[:80]!r}")
            key, text = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        raise HTTPError("RemoteProtocolError: too many headers")

    async def _exactly(self, conn: _Conn, size: int) -> bytes:
        parts: list[bytes] = []
        left = size
        while left:  # chunk by chunk, so the read timeout applies per read as in httpx
            part = await self._read("body", conn.reader.readexactly(min(left, _CHUNK)))
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    async def _chunked(self, conn: _Conn, limit: BodyLimit) -> bytes:
        parts: list[bytes] = []
        held = 0
        while True:
            line = await self._read("chunk size", conn.reader.readline())
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HTTPError(f"RemoteProtocolError: bad chunk size {line[:40]!r}") from None
            if size == 0:
                while (await self._read("trailer", conn.reader.readline())) not in (
                    b"\r\n",
                    b"\n",
                    b"",
                ):
                    pass
                return b"".join(parts)
            held += size
            if held > limit.wire:
                raise limit.exceeded("a chunked body")
            parts.append(await self._exactly(conn, size))
            await self._read("chunk end", conn.reader.readexactly(2))

    async def _until_close(self, conn: _Conn, limit: BodyLimit) -> bytes:
        parts: list[bytes] = []
        held = 0
        while part := await self._read("body", conn.reader.read(_CHUNK)):
            held += len(part)
            if held > limit.wire:
                raise limit.exceeded("a body read until close")
            parts.append(part)
        return b"".join(parts)


class _Stale(Exception):
    """A reused keep-alive connection turned out closed before any answer: try a new one."""


def _status(line: bytes) -> tuple[str, int]:
    version, _, rest = line.decode("latin-1").strip().partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise HTTPError(f"RemoteProtocolError: bad status line {line[:80]!r}")
    return version, int(code)


def _decode(body: bytes, headers: Mapping[str, str], most: int = 1 << 62) -> bytes:
    coding = headers.get("content-encoding", "").strip().lower()
    if coding in ("", "identity") or not body:
        return body
    try:
        if coding in ("gzip", "x-gzip"):
            return inflate(body, 16 + zlib.MAX_WBITS, most)
        if coding == "deflate":
            try:
                return inflate(body, zlib.MAX_WBITS, most)
            except zlib.error:
                return inflate(body, -zlib.MAX_WBITS, most)  # raw deflate, as some servers send
    except zlib.error as e:
        raise HTTPError(f"DecodingError: {coding} body: {e}") from e
    raise HTTPError(f"DecodingError: unsupported Content-Encoding {coding!r}")


def inflate(data: bytes, wbits: int, most: int) -> bytes:
    """``data`` inflated, refusing to hold more than ``most`` bytes of output (a bomb)."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, most + 1)
    if len(out) > most:
        raise LimitExceeded("the decompressed body", most, "decompressed_bytes")
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return out
