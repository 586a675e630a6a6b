"""The one I/O model of lockaudit: HTTP clients on one private event-loop thread.

Synchronous callers (the resolver) call :meth:`Fetcher.run`; concurrency comes from running
many coroutines on the loop at once, bounded per origin by a semaphore (16 streams where
HTTP/2 is possible, i.e. ``https``; 8 otherwise, since many parallel HTTP/1.1 connections
stall on the networks this runs on). ``file:`` URLs are read from disk (ranges included) so a
local index goes through the same code. Plain ``http`` origins that no proxy stands in front
httpx, imported on first use, serves every other URL: one HTTP stack, so the loopback index of
the tests exercises what users run. HTTP/2 is offered everywhere and used where the server agrees
through TLS ALPN (``https``); plain ``http`` stays HTTP/1.1 (no index speaks h2c).

Faults: timeouts, connection resets, truncated bodies (httpx raises on a Content-Length
mismatch), undecodable content coding, 5xx and 429, and bodies a caller's ``validate`` rejects
are retried with exponential backoff; then :class:`~lockaudit.errors.IndexFetchError` names
the URL (without credentials) and what to check. An answer over one of
:class:`~lockaudit.index.limits.Limits` (its size as sent or inflated) is refused at once:
bodies are streamed raw and inflated here, a bounded amount at a time, so a bomb is never held;
each request (retries included) and the whole session have a deadline: a drip-fed body, each
byte inside the read timeout, still ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import netrc
import os
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

import lockaudit
from lockaudit.errors import IndexFetchError, OfflineMissError
from lockaudit.index.limits import LimitExceeded, Limits
from lockaudit.index.reporter import IndexReporter, NullReporter
from lockaudit.index.urls import Credentials, redact, split_credentials

if TYPE_CHECKING:
    import httpx

__all__ = ["Fetcher", "Response", "RetryPolicy"]

T = TypeVar("T")

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Only codings this module inflates itself (under the limits): never br or zstd, which httpx
# would announce when their packages happen to be installed.
_ACCEPT_ENCODING = "gzip, deflate"


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


class BadBody(Exception):
    """A body whose content coding does not decode (retried like a transport error)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all, sleeping ``backoff * 2**n`` (capped) between."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.max_backoff, self.backoff * 2.0**attempt)
        if retry_after is not None:
            wait = min(self.max_backoff, max(wait, retry_after))
        return wait


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


Validate = Callable[[Response], None]


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="lockaudit-index-io", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


def _load_netrc(path: Path | None) -> netrc.netrc | None:
    candidate = path or Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not candidate.is_file():
        return None
    try:
        return netrc.netrc(str(candidate))
    except (netrc.NetrcParseError, OSError):
        return None  # as pip: a broken netrc means no credentials, not a crash


class Fetcher:
    """GETs with retries, credentials, mirrors already applied by the caller, and no cache.

    ``credentials`` maps ``host[:port]`` to credentials taken from configured index URLs;
    otherwise ``~/.netrc`` (or ``$NETRC``) is asked by host name.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        cafile: str | None = None,
        credentials: Mapping[str, Credentials] | None = None,
        netrc_path: Path | None = None,
        client_cert: str | None = None,
        trusted_hosts: tuple[str, ...] = (),
        reporter: IndexReporter | None = None,
        offline: bool = False,
        max_streams: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.limits = limits or Limits()
        # Every request of this session must be answered before this moment (monotonic clock).
        self._deadline = time.monotonic() + self.limits.command_timeout
        self.reporter: IndexReporter = reporter or NullReporter()
        self.offline = offline
        self._credentials = dict(credentials or {})
        self._netrc = _load_netrc(netrc_path)
        self._max_streams = max_streams
        # Loading the CA store costs tens of milliseconds: only when an https URL needs it.
        self._ssl = ssl_context
        self._cafile = cafile or os.environ.get("SSL_CERT_FILE") or None
        self._client_cert = client_cert
        self._trusted = frozenset(trusted_hosts)
        self._thread = _LoopThread()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._client: httpx.AsyncClient | None = None
        self._unverified: httpx.AsyncClient | None = None  # for pip's trusted hosts
        self._closed = False

    # the sync facade ---------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the I/O loop and wait for it (from any thread but the loop's)."""
        if self._closed:
            coro.close()
            raise RuntimeError("the index client is closed")
        return self._thread.submit(coro).result()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._thread.loop

    def close(self) -> None:
        if self._closed:
            return
        with contextlib.suppress(Exception):
            self._thread.submit(_cancel_pending()).result(timeout=5)
        for client in (self._client, self._unverified):
            if client is not None:
                with contextlib.suppress(Exception):
                    self._thread.submit(client.aclose()).result(timeout=5)
        self._closed = True
        self._thread.stop()

    # requests ----------------------------------------------------------------------------
    def _tls(self) -> ssl.SSLContext:
        """The TLS context: the CA bundle pip would use, and pip's client certificate."""
        if self._ssl is None:
            try:
                context = ssl.create_default_context(cafile=self._cafile)
            except (OSError, ssl.SSLError) as e:
                raise IndexFetchError(
                    str(self._cafile),
                    f"cannot load this CA bundle: {_reason(e)}",
                    hint="check pip's `cert` (PIP_CERT), REQUESTS_CA_BUNDLE and SSL_CERT_FILE",
                ) from None
            if self._client_cert:
                try:
                    context.load_cert_chain(self._client_cert)
                except (OSError, ssl.SSLError) as e:
                    raise IndexFetchError(
                        self._client_cert,
                        f"cannot load this client certificate: {_reason(e)}",
                        hint="pip's `client-cert` (PIP_CLIENT_CERT) must be a PEM file holding "
                        "the private key and the certificate",
                    ) from None
            self._ssl = context
        return self._ssl

    def _http(self, url: str = "") -> httpx.AsyncClient:
        host = urlsplit(url)
        trusted = bool(self._trusted) and (
            host.netloc in self._trusted or host.hostname in self._trusted
        )
        if trusted:
            if self._unverified is None:
                self._unverified = self._new_client(False)
            return self._unverified
        if self._client is None:
            self._client = self._new_client(self._tls())
        return self._client

    def _new_client(self, verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
        # Imported here: ~0.15 s of start-up that a run against plain-http indexes never needs.
        import httpx

        return httpx.AsyncClient(
            http2=True,  # used where ALPN agrees (https); plain http stays HTTP/1.1
            verify=verify,
            timeout=httpx.Timeout(self.retry.read_timeout, connect=self.retry.connect_timeout),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
            follow_redirects=True,
            headers={
                "User-Agent": f"lockaudit/{lockaudit.__version__}",
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
            trust_env=True,  # proxies from the environment; netrc is handled here
        )

    def _semaphore(self, url: str) -> asyncio.Semaphore:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        sem = self._semaphores.get(origin)
        if sem is None:
            limit = self._max_streams or (16 if parts.scheme == "https" else 8)
            sem = self._semaphores[origin] = asyncio.Semaphore(limit)
        return sem

    def _auth(self, url: str) -> tuple[str, str | None]:
        bare, creds = split_credentials(url)
        parts = urlsplit(bare)
        creds = creds or self._credentials.get(parts.netloc)
        if creds is None and self._netrc is not None and parts.hostname:
            found = self._netrc.authenticators(parts.hostname)
            if found is not None:
                creds = Credentials(found[0], found[2] or "")
        if creds is None:
            return bare, None
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        # What httpx.BasicAuth sends; httpx drops it on a redirect to another origin.
        return bare, f"Basic {token}"

    async def get(
        self,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        expect: frozenset[int] = frozenset({200}),
        validate: Validate | None = None,
        attempts: int | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        """GET ``url``; a status outside ``expect`` that is not retryable is an error.

        ``validate`` may raise ``ValueError`` to reject a body (a hash mismatch, broken JSON):
        that counts as a failed attempt, never as an answer. ``max_bytes`` lowers the size
        limits for this answer (a METADATA file); exceeding a limit is never retried.
        """
        limits = self.limits
        if max_bytes is not None and max_bytes < limits.response_bytes:
            limit = BodyLimit(
                max_bytes, min(limits.decompressed_bytes, max_bytes), "metadata_bytes"
            )
        else:
            limit = BodyLimit(limits.response_bytes, limits.decompressed_bytes)
        try:
            if url.startswith("file:"):
                return _read_file(url, headers or {}, limit)
            bare, auth = self._auth(url)
            if self.offline:
                raise OfflineMissError(bare, what)
            left = self._deadline - time.monotonic()
            per_request = limits.request_timeout <= left
            try:
                async with asyncio.timeout(max(0.0, min(limits.request_timeout, left))):
                    return await self._attempts(
                        bare, auth, what, headers, expect, validate, attempts, limit
                    )
            except TimeoutError:
                if per_request:
                    over = LimitExceeded(
                        "the time spent on it", limits.request_timeout, "request_timeout"
                    )
                else:
                    over = LimitExceeded("the command", limits.command_timeout, "command_timeout")
                raise IndexFetchError(
                    bare,
                    f"{what}: {over}",
                    hint=f"a slow or drip-feeding index; raise {limits.setting(over.attribute)}",
                ) from None
        except LimitExceeded as e:
            raise IndexFetchError(redact(url), f"{what}: {e}", hint=e.hint) from None

    async def _attempts(
        self,
        bare: str,
        auth: str | None,
        what: str,
        headers: Mapping[str, str] | None,
        expect: frozenset[int],
        validate: Validate | None,
        attempts: int | None,
        limit: BodyLimit,
    ) -> Response:
        total = attempts or self.retry.attempts
        problem = "no attempt made"
        for attempt in range(total):
            retry_after: float | None = None
            try:
                async with self._semaphore(bare):
                    self.reporter.on_request(bare)
                    response = await self._send(bare, dict(headers or {}), auth, limit)
            except BadBody as e:
                problem = str(e)
            except ssl.SSLError as e:
                # A TLS alert after the handshake (TLS 1.3 sends "certificate required" with
                # the first read) reaches here unwrapped; asking again cannot change it.
                raise IndexFetchError(
                    bare,
                    f"{what}: TLS failed: {_reason(e)}",
                    hint="check pip's cert / client-cert settings (or PIP_CERT, "
                    "PIP_CLIENT_CERT) for this index",
                ) from e
            except Exception as e:
                # httpx's errors, told apart by name so that httpx is imported only when used.
                kind = _httpx_error(e)
                if kind is None:
                    raise
                problem = kind
            else:
                if response.status in expect:
                    if validate is None:
                        return response
                    try:
                        validate(response)
                        return response
                    except ValueError as e:
                        problem = str(e)
                elif response.status in _RETRY_STATUSES:
                    problem = f"HTTP {response.status}"
                    retry_after = _retry_after(response.headers.get("retry-after"))
                else:
                    raise _status_error(bare, response.status, what)
            if attempt + 1 < total:
                await asyncio.sleep(self.retry.delay(attempt, retry_after))
        raise IndexFetchError(
            bare,
            f"{what}: {problem} (after {total} attempt{'s' if total > 1 else ''})",
            hint="check the index URL, your network or proxy, and the index's status; "
            "run again later, or use --offline with a warm cache",
        )

    async def _send(
        self, url: str, headers: dict[str, str], auth: str | None, limit: BodyLimit
    ) -> Response:
        """One GET, redirects followed by httpx; the body streamed raw and inflated here."""
        sent = {**headers, "Authorization": auth} if auth else headers
        # Streamed, so that an answer over a limit is dropped before it is held.
        async with self._http(url).stream("GET", url, headers=sent) as raw:
            declared = raw.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit.wire:
                raise limit.exceeded(f"a body of {declared} bytes")
            decoder = Decoder(raw.headers.get("content-encoding", ""), limit)
            held = 0
            async for part in raw.aiter_raw():
                held += len(part)
                if held > limit.wire:
                    raise limit.exceeded("the body")
                decoder.feed(part)
            return Response(url, raw.status_code, dict(raw.headers), decoder.finish())


class Decoder:
    """Content coding undone chunk by chunk, never holding more than ``limit.decoded`` bytes.

    httpx's own decoders inflate a whole network chunk at once (64 KiB of a bomb is 64 MiB);
    here each step asks zlib for no more output than the room left under the limit.
    """

    def __init__(self, coding: str, limit: BodyLimit) -> None:
        self.coding = coding.strip().lower()
        self.limit = limit
        self._parts: list[bytes] = []
        self._held = 0
        self._inflater: Any = None
        self._head = b""  # deflate: the first bytes, until zlib-wrapped or raw is known
        if self.coding in ("", "identity"):
            return
        if self.coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding != "deflate":
            raise BadBody(f"DecodingError: unsupported Content-Encoding {self.coding!r}")

    def feed(self, data: bytes) -> None:
        if self.coding in ("", "identity"):
            self._parts.append(data)
            return
        if self._inflater is None:  # deflate: zlib-wrapped, or raw as some servers send
            self._head += data
            if len(self._head) < 2:
                return
            cmf, flg = self._head[0], self._head[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        room = self.limit.decoded - self._held
        try:
            out = self._inflater.decompress(data, room + 1)
        except zlib.error as e:
            raise BadBody(f"DecodingError: {self.coding} body: {e}") from None
        if len(out) > room:
            raise self.limit.inflated()
        self._held += len(out)
        self._parts.append(out)

    def finish(self) -> bytes:
        if self._inflater is None and self._head:
            raise BadBody(f"DecodingError: {self.coding} body: truncated")
        if self._inflater is not None and not self._inflater.eof:
            raise BadBody(f"DecodingError: {self.coding} body: incomplete or truncated stream")
        return b"".join(self._parts)


async def _cancel_pending() -> None:
    """Cancel what still runs on the loop (memoised fetches nobody waits for after an error),
    and let it unwind, so that no task is destroyed pending when the loop closes."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLError):
        return error.reason or str(error)
    return error.strerror or str(error) if isinstance(error, OSError) else str(error)


def _httpx_error(error: Exception) -> str | None:
    """The retry message for an httpx timeout or transport error; None for anything else."""
    httpx = sys.modules.get("httpx")
    if httpx is None:
        return None
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, httpx.TransportError):
        return f"connection failed: {type(error).__name__}: {error or 'no detail'}"
    if isinstance(error, httpx.RequestError):  # too many redirects, a bad redirect URL
        return f"failed: {type(error).__name__}: {error or 'no detail'}"
    return None


def _status_error(url: str, status: int, what: str) -> IndexFetchError:
    if status in (401, 403):
        return IndexFetchError(
            url,
            f"{what}: HTTP {status}, the index refused the credentials (or got none)",
            hint="put the credentials in ~/.netrc or the index URL (user:password@host)",
        )
    return IndexFetchError(
        redact(url), f"{what}: unexpected HTTP {status}", hint="check the index URL"
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    if not first:
        start = max(0, size - int(last))
        return start, size
    end = min(size, int(last) + 1) if last else size
    return int(first), end


def _read_file(url: str, headers: Mapping[str, str], limit: BodyLimit) -> Response:
    """A ``file:`` URL as an HTTP server would answer it (directory → its index.html)."""
    path = Path(unquote(urlsplit(url).path))
    if path.is_dir():
        path = path / "index.html"
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            wanted = headers.get("Range")
            span = _parse_range(wanted, size) if wanted else None
            if span is None:
                if size > limit.wire:
                    raise limit.exceeded(f"a file of {size} bytes")
                return Response(url, 200, {"content-type": "text/html"}, f.read())
            f.seek(span[0])
            body = f.read(span[1] - span[0])
            content_range = f"bytes {span[0]}-{span[1] - 1}/{size}"
            return Response(url, 206, {"content-range": content_range}, body)
    except FileNotFoundError:
        return Response(url, 404, {}, b"")
    except OSError as e:
        raise IndexFetchError(url, f"cannot read local file: {e}") from e
