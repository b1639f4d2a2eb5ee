"""The one HTTP client every source uses: timeouts, retries with backoff, size limit, clear errors."""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import dagster as dg
import requests
from requests.adapters import BaseAdapter

from resources.errors import FetchError

PROJECT_USER_AGENT = "london-covid-pipeline/0.1 (London Datastore COVID-19 tables; python-requests)"

# 429 is the gateway's fair-use limit; 5xx are the server's own transient failures.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Headers worth keeping in the archive sidecar: enough to make conditional requests and to audit a release.
KEPT_HEADERS = ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Date", "Content-Disposition")


@dataclass(frozen=True)
class HttpResult:
    url: str
    status: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def conditional_headers(seen: Mapping[str, str | None]) -> dict[str, str]:
    """The request headers that ask "changed since?" given what a server answered last time (`seen`: its
    response headers, `ETag` and `Last-Modified`): a 304 then says nothing new was released."""
    asks = {"ETag": "If-None-Match", "Last-Modified": "If-Modified-Since"}
    return {ask: value for answer, ask in asks.items() if (value := seen.get(answer))}


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HttpClient(dg.ConfigurableResource):
    """HTTP requests with connect/read timeouts, retries with exponential backoff and jitter on 429/5xx and
    connection errors (honouring Retry-After), a User-Agent naming the project and a maximum response size."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 300.0
    max_response_bytes: int = 500 * 1024 * 1024
    # A download's whole time, retries included (HTTP_DEADLINE_S): the read timeout alone restarts with every byte,
    # so a server sending a trickle could hold a run for as long as it liked.
    deadline_s: float = 300.0
    # What the deadline is, for the message of a request that passes it: the setting a user would change.
    deadline_rule: str = "a download may take {deadline}s in all (HTTP_DEADLINE_S)"
    user_agent: str = PROJECT_USER_AGENT
    # How often a download still under way says how far it has got, in the run's log.
    progress_every_s: float = 10.0

    def session(self, mounts: Mapping[str, BaseAdapter] | None = None) -> requests.Session:
        """A session for one source's downloads; `mounts` replaces the transport for URL prefixes
        (sample mode serves the shipped files this way, through the same code path as a live fetch)."""
        session = requests.Session()
        session.headers["User-Agent"] = self.user_agent
        for prefix, adapter in (mounts or {}).items():
            session.mount(prefix, adapter)
        return session

    def _rule(self) -> str:
        return self.deadline_rule.format(deadline=f"{self.deadline_s:.0f}")

    def backoff(self, attempt: int) -> float:
        """The wait before retry number `attempt` (also used by callers that retry at a higher level)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        # Jitter spreads retries from parallel steps so they do not hit the server in lockstep.
        return ceiling * random.uniform(0.5, 1.0)

    def _read_body(self, response: requests.Response, source: str, url: str, shown_url: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise FetchError(
                source, url,
                f"response is {int(declared):,} bytes, over the {self.max_response_bytes:,}-byte limit "
                "(max_response_bytes)", response.status_code,
            )
        chunks: list[bytes] = []
        size = 0
        of = f" of {int(declared) / 1e6:,.1f} MB" if declared and declared.isdigit() else ""
        started = reported = time.monotonic()
        for chunk in response.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            # A large file on a slow line would otherwise show nothing in the run's log until it ends or the deadline.
            if time.monotonic() - reported >= self.progress_every_s:
                reported = time.monotonic()
                dg.get_dagster_logger().info(f"[{source}] {shown_url}: {size / 1e6:,.1f} MB{of} after "
                                             f"{reported - started:.0f}s")
            if size > self.max_response_bytes:
                raise FetchError(
                    source, url,
                    f"response exceeded the {self.max_response_bytes:,}-byte limit (max_response_bytes)",
                    response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def get(
        self,
        session: requests.Session,
        source: str,
        url: str,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """GET `url` for `source`. Returns the body (or a 304 with no body); raises FetchError naming the
        source, URL and status once retries are exhausted or the error is not worth retrying."""
        return self.request(session, source, "GET", url, headers=headers)

    def request(
        self,
        session: requests.Session,
        source: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
        shown_url: str | None = None,
        **body: object,
    ) -> HttpResult:
        """Send one request (`body`: requests' data/files/json arguments, as bytes so a retry resends them).
        `retry=False` makes a single attempt, for requests that must not be repeated blindly. `shown_url` stands for
        the URL (and its path) in every error and log line, for an address that is itself a secret (a chat
        webhook's holds its token)."""
        if shown_url is None:
            return self._request(session, source, method, url, headers, retry, lambda text: text, body)

        # The whole address, then the path with and without its query (requests' own messages quote those).
        address = urlsplit(url)
        secrets = [part for part in (url, address.path + (f"?{address.query}" if address.query else ""), address.path)
                   if len(part) > 1]

        def masked(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, shown_url)
            return text

        try:
            return self._request(session, source, method, url, headers, retry, masked, body)
        except FetchError as error:
            # from None: the original error, with the address in it, would be shown as its cause.
            raise FetchError(error.source, shown_url, masked(error.problem), error.status, final=error.final) from None

    def _request(self, session: requests.Session, source: str, method: str, url: str,
                 headers: Mapping[str, str] | None, retry: bool, masked: Callable[[str], str],
                 body: Mapping[str, object]) -> HttpResult:
        attempts = self.max_attempts if retry else 1
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            outcome = self._attempt(session, source, method, url, masked, dict(headers or {}), attempt, body,
                                    started + self.deadline_s)
            if isinstance(outcome, HttpResult):
                return outcome
            if attempt == attempts:
                break
            delay = outcome.wait if outcome.wait is not None else self.backoff(attempt)
            if time.monotonic() + delay > started + self.deadline_s:
                raise FetchError(source, url, f"{outcome.problem}; gave up after {time.monotonic() - started:.0f}s "
                                 f"and {attempt} attempt(s): another would pass the deadline: {self._rule()}",
                                 outcome.status)
            dg.get_dagster_logger().warning(masked(
                f"[{source}] {method} {url}: {outcome.problem}; retry {attempt}/{attempts - 1} in {delay:.1f}s"))
            time.sleep(delay)
        if attempts == 1:
            raise FetchError(source, url, outcome.problem, outcome.status)
        raise FetchError(source, url, f"gave up after {attempts} attempts: {outcome.problem}", outcome.status)

    def _attempt(self, session: requests.Session, source: str, method: str, url: str, masked: Callable[[str], str],
                 headers: dict[str, str], attempt: int, body: Mapping[str, object],
                 deadline: float) -> HttpResult | _Retryable:
        """One try: the result, a failure worth retrying, or a FetchError for one that is not (a download past its
        `deadline`, a time.monotonic() value, among them)."""
        started = time.monotonic()
        remaining = deadline - started
        read_timeout = max(0.1, min(self.read_timeout_s, remaining))
        try:
            with session.request(method, url, headers=headers, timeout=(self.connect_timeout_s, read_timeout),
                                 stream=True, **body) as response, _Cutoff(response, deadline) as cutoff:
                status = response.status_code
                if status in RETRYABLE_STATUSES:
                    problem = f"server answered {status} {response.reason}"
                    wait = _retry_after_seconds(response.headers.get("Retry-After"))
                    if wait is not None and wait > self.max_retry_after_s:
                        raise FetchError(source, url, f"{problem} and asked to retry after {wait:.0f}s, longer than "
                                         f"max_retry_after_s={self.max_retry_after_s:.0f}", status)
                    return _Retryable(problem, status, wait)
                if status == 304:
                    return HttpResult(response.url, status, b"", _kept(response.headers), attempt)
                if status >= 400:
                    snippet = response.raw.read(300, decode_content=True) if response.raw else b""
                    raise FetchError(source, url, f"server answered {status} {response.reason}: "
                                     f"{snippet.decode('utf-8', 'replace').strip()[:300]!r}", status)
                try:
                    content = self._read_body(response, source, url, masked(url))
                except Exception:
                    if cutoff.fired:
                        raise cutoff.error(source, url, self._rule(), started) from None
                    raise
                if cutoff.fired:  # cut off between the last byte and the end of the body
                    raise cutoff.error(source, url, self._rule(), started)
                return HttpResult(response.url, status, content, _kept(response.headers), attempt)
        except requests.exceptions.Timeout as exc:
            # The read timeout as it was for this attempt: shortened to what the deadline left of it.
            return _Retryable(f"timed out ({type(exc).__name__}, connect {self.connect_timeout_s}s / read "
                              f"{read_timeout:.3g}s)")
        except requests.exceptions.SSLError as exc:
            cause = _root_cause(exc)
            if isinstance(cause, ssl.SSLCertVerificationError):
                # Another attempt would be shown the same certificate. Met on networks whose proxy inspects TLS (it
                # signs every site's certificate itself): only that proxy's CA certificate mends it.
                raise FetchError(source, url, f"the TLS certificate of {urlsplit(url).hostname} could not be "
                                 f"verified ({cause.verify_message}): not retried. On a network whose proxy "
                                 "inspects TLS, set REQUESTS_CA_BUNDLE to the proxy's CA certificate (a PEM file)",
                                 final=True) from exc
            return _Retryable(f"connection failed: {_connection_problem(exc, url)}")
        except requests.exceptions.ProxyError as exc:
            if "407" in str(_root_cause(exc)):
                # The proxy wants credentials: asking again without them gets the same answer. The proxy's address is
                # not named: where it carries the credentials, they are in it.
                raise FetchError(source, url, "the proxy asks for a user name and password (407 Proxy Authentication "
                                 "Required): not retried. Give them in HTTPS_PROXY as http://user:password@host:port "
                                 "(or check them, if they are there)", final=True) from None
            return _Retryable(f"connection failed: {_connection_problem(exc, url)}")
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return _Retryable(f"connection failed: {_connection_problem(exc, url)}")
        except requests.exceptions.ContentDecodingError as exc:
            # A compressed body that does not decompress: mangled on the way (a proxy) as often as at the source.
            return _Retryable(f"the body could not be decompressed ({exc.args[0]})")
        except requests.exceptions.RequestException as exc:
            # The rest (a redirect loop, a redirect to an address requests cannot follow) would only repeat.
            raise FetchError(source, url, f"{type(exc).__name__}: {exc}") from exc


class _Cutoff:
    """Closes a response's connection at the download's deadline, from a timer thread: a blocked read then returns,
    and the attempt says the deadline passed, not that the connection broke."""

    def __init__(self, response: requests.Response, deadline: float) -> None:
        self.response, self.fired = response, False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._cut)
        self.timer.daemon = True

    def __enter__(self) -> _Cutoff:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()

    def _cut(self) -> None:
        self.fired = True
        # urllib3 hands the socket to http.client's response: response.raw._fp is that, reading through a SocketIO.
        body = getattr(getattr(getattr(self.response.raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(body, "_sock", None)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv
            self.response.close()
        except OSError:
            pass  # already closed: the read has ended anyway

    def error(self, source: str, url: str, rule: str, started: float) -> FetchError:
        return FetchError(source, url, f"still downloading after {time.monotonic() - started:.0f}s: gave up, {rule}; "
                          "the server is sending too slowly or has stalled")


def _connection_problem(error: requests.exceptions.RequestException, url: str) -> str:
    """What broke, in a few words: requests' and urllib3's wrappers around the socket's error repeat the connection
    pool, the host and the URL in 300-400 characters ("HTTPSConnectionPool(host=...): Max retries exceeded with url:
    ... (Caused by NameResolutionError(...))"), once per retry line and again in the failure."""
    cause = _root_cause(error)
    address = urlsplit(url)
    host = address.hostname or url
    if isinstance(error, requests.exceptions.ProxyError):
        return f"the proxy failed: {cause}"
    if isinstance(cause, socket.gaierror):
        return f"could not resolve the host name {host!r} ({cause.strerror}): no network, or no DNS?"
    if isinstance(cause, http.client.RemoteDisconnected):  # a ConnectionResetError too: asked first
        return f"{host} closed the connection without answering"
    if isinstance(cause, ConnectionResetError):
        return f"{host} reset the connection"
    if isinstance(cause, ssl.SSLError):  # an OSError too: asked first
        return f"the TLS connection to {host} failed: {cause}"
    if isinstance(cause, OSError) and cause.strerror:
        port = address.port or {"https": 443, "http": 80}.get(address.scheme)
        return f"could not connect to {host}:{port}: {cause.strerror}"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return f"the download broke off: {cause}"
    return str(cause)


def _root_cause(error: BaseException) -> BaseException:
    """The error under the wrappers: urllib3's MaxRetryError keeps it as `reason`, its own errors as their cause,
    requests' as their first argument, and ProtocolError as its second."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        reason = getattr(error, "reason", None)
        inner = (reason if isinstance(reason, BaseException) else None) or error.__cause__ or next(
            (arg for arg in reversed(error.args) if isinstance(arg, BaseException)), None)
        if inner is None:
            break
        error = inner
    return error


@dataclass(frozen=True)
class _Retryable:
    """An attempt that failed in a way another attempt may mend: what went wrong, the status if the server answered,
    and how long it asked us to wait (Retry-After)."""

    problem: str
    status: int | None = None
    wait: float | None = None


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}
