"""The shared HTTP client against a real local server: retries, Retry-After, timeouts, size limit, 304."""

from __future__ import annotations

import errno
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.errors import FetchError
from tests.conftest import TLS, fast_http, https_server


def test_retries_a_500_then_succeeds(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/data").respond_with_data("busy", status=500)
    httpserver.expect_ordered_request("/data").respond_with_data("a,b\n1,2\n", status=200)
    client = fast_http()
    result = client.get(client.session(), "phe_cases_by_region", httpserver.url_for("/data"))
    assert result.status == 200
    assert result.content == b"a,b\n1,2\n"
    assert result.attempts == 2


def test_honours_retry_after_on_429(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/data").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/data").respond_with_data("ok", status=200)
    client = fast_http()
    started = time.monotonic()
    result = client.get(client.session(), "phe_cases_by_region", httpserver.url_for("/data"))
    waited = time.monotonic() - started
    assert result.content == b"ok"
    # The backoff alone would wait at most 0.05 s: the second attempt came only after the server's 1 s.
    assert waited >= 1.0


def test_refuses_a_retry_after_longer_than_the_limit(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/data").respond_with_data("come back tomorrow", status=429,
                                                          headers={"Retry-After": "86400"})
    client = fast_http(max_retry_after_s=5)
    with pytest.raises(FetchError, match=r"429.*retry after 86400s"):
        client.get(client.session(), "phe_cases_by_region", httpserver.url_for("/data"))


def test_timeout_is_retried_then_fails_naming_source_and_url(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response("late", status=200)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    client = fast_http(read_timeout_s=0.1, max_attempts=3)
    url = httpserver.url_for("/slow")
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        client.get(client.session(), "nhs_111", url)
    message = str(caught.value)
    assert "[nhs_111]" in message
    assert url in message
    assert "timed out" in message and "3 attempts" in message
    # Three attempts, each abandoned at the 0.1 s read timeout.
    assert time.monotonic() - started >= 0.3


def test_client_error_is_not_retried_and_quotes_the_server(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("no such metric", status=404)
    client = fast_http()
    with pytest.raises(FetchError) as caught:
        client.get(client.session(), "phe_healthcare", httpserver.url_for("/missing"))
    assert caught.value.status == 404
    assert "no such metric" in str(caught.value)
    assert sum(1 for request, _ in httpserver.log if request.path == "/missing") == 1


def test_connection_refused_names_the_url_and_the_address_in_one_short_line() -> None:
    client = fast_http(max_attempts=2)
    url = "http://127.0.0.1:9/nothing-listens-here"
    with pytest.raises(FetchError, match="connection failed") as caught:
        client.get(client.session(), "ons_infection_survey", url)
    message = str(caught.value)
    assert url in message
    assert f"could not connect to 127.0.0.1:9: {os.strerror(errno.ECONNREFUSED)}" in message
    # Not requests' wrapping of urllib3's errors, which repeats the host and the URL in some 300 characters.
    assert "ConnectionPool" not in message and "Max retries" not in message and message.count(url) == 1


def test_a_host_name_that_does_not_resolve_says_so() -> None:
    """What a live run prints for every source with no network: the host it could not find, not a wrapper's text."""
    client = fast_http(max_attempts=1)
    url = "https://nowhere.invalid/data.csv"  # .invalid never resolves (RFC 6761)
    with pytest.raises(FetchError) as caught:
        client.get(client.session(), "nhs_111", url)
    message = str(caught.value)
    assert message.startswith(f"[nhs_111] {url}: connection failed: could not resolve the host name "
                              "'nowhere.invalid' (")
    assert message.endswith("): no network, or no DNS?")


@contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server on 127.0.0.1 that reads one request and then does `answer` with the connection (then closes it):
    what no well-behaved HTTP server does, and networks and proxies do."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(1024)
            answer(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/data.csv"
    finally:
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize(("answer", "expected"), [
    (lambda connection: None, "connection failed: 127.0.0.1 closed the connection without answering"),
    (lambda connection: connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"),
     "connection failed: the download broke off: IncompleteRead(3 bytes read, 97 more expected)"),
], ids=["closed", "cut-short"])
def test_a_connection_that_breaks_is_named_for_how_it_broke(answer: Callable[[socket.socket], None],
                                                          expected: str) -> None:
    client = fast_http(max_attempts=1)
    with raw_server(answer) as url, pytest.raises(FetchError) as caught:
        client.get(client.session(), "phe_healthcare", url)
    assert str(caught.value) == f"[phe_healthcare] {url}: {expected}"


def test_response_over_the_size_limit_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    client = fast_http(max_response_bytes=1000)
    with pytest.raises(FetchError, match="1,000-byte limit"):
        client.get(client.session(), "phe_cases_by_utla", httpserver.url_for("/big"))


def test_sends_project_user_agent_and_conditional_headers(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/data", headers={"If-None-Match": '"v1"'}).respond_with_data("", status=304)
    client = fast_http()
    result = client.get(client.session(), "phe_cases_by_region", httpserver.url_for("/data"),
                        {"If-None-Match": '"v1"'})
    assert result.not_modified
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"].startswith("london-covid-pipeline/")


def test_a_trickling_server_is_given_up_on_at_the_deadline(httpserver: HTTPServer) -> None:
    """A byte every 0.2 s never trips the 1 s read timeout: only the download's deadline stops it."""
    def trickle(request: Request) -> Response:
        def body():
            for _ in range(100):
                time.sleep(0.2)
                yield b"x"
        return Response(body(), status=200, direct_passthrough=True)

    httpserver.expect_request("/trickle").respond_with_handler(trickle)
    client = fast_http(read_timeout_s=1.0, deadline_s=1.5)
    url = httpserver.url_for("/trickle")
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        client.get(client.session(), "nhs_111", url)
    took = time.monotonic() - started
    assert 1.4 < took < 4  # the trickle alone would take 20 s
    message = str(caught.value)
    assert url in message and "[nhs_111]" in message
    assert "still downloading after 2s: gave up, a download may take 2s in all (HTTP_DEADLINE_S)" in message or (
        "still downloading after 1s: gave up, a download may take 2s in all (HTTP_DEADLINE_S)" in message)


def test_retries_stop_when_another_would_pass_the_deadline(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/busy").respond_with_data("busy", status=503, headers={"Retry-After": "2"})
    client = fast_http(max_attempts=5, deadline_s=3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"503.*gave up after \ds and 2 attempt\(s\): another would pass the "
                                         r"deadline: a download may take 3s in all \(HTTP_DEADLINE_S\)"):
        client.get(client.session(), "phe_healthcare", httpserver.url_for("/busy"))
    assert time.monotonic() - started < 3


def test_a_body_that_does_not_decompress_is_retried_then_named(httpserver: HTTPServer) -> None:
    """A gzip-encoded answer whose bytes are not gzip (mangled on the way): retried, as a broken connection is, then
    a FetchError naming the source and the URL (it was requests' bare ContentDecodingError, which the step's retries
    met again minutes later, naming neither)."""
    httpserver.expect_request("/data").respond_with_data(b"\x1f\x8b not gzip at all" * 10,
                                                         headers={"Content-Encoding": "gzip"})
    client = fast_http()
    with pytest.raises(FetchError) as caught:
        client.get(client.session(), "phe_cases_by_utla", httpserver.url_for("/data"))
    message = str(caught.value)
    assert message.startswith(f"[phe_cases_by_utla] {httpserver.url_for('/data')}: gave up after")
    assert "the body could not be decompressed" in message
    assert len(httpserver.log) == client.max_attempts


def test_a_redirect_loop_is_named_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/data").respond_with_response(Response(status=302, headers={"Location": "/data"}))
    client = fast_http()
    with pytest.raises(FetchError) as caught:
        client.get(client.session(), "phe_cases_by_utla", httpserver.url_for("/data"))
    assert str(caught.value).startswith(f"[phe_cases_by_utla] {httpserver.url_for('/data')}: TooManyRedirects: ")
    assert len(httpserver.log) == 31  # requests' own limit of 30 redirects, followed once: no retry repeats them


def test_a_certificate_that_cannot_be_verified_is_named_not_retried_and_mended_by_a_ca_bundle(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a network whose proxy inspects TLS every download fails this way: retrying shows the same certificate
    (7 minutes of retries before), and the message's remedy, REQUESTS_CA_BUNDLE, works."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client = fast_http(max_attempts=3)
    with https_server() as (url, accepted):
        with pytest.raises(FetchError) as caught:
            client.get(client.session(), "phe_cases_by_region", url)
        assert len(accepted) == 1  # one handshake: no retry
        message = str(caught.value)
        assert re.fullmatch(
            rf"\[phe_cases_by_region\] {re.escape(url)}: the TLS certificate of 127\.0\.0\.1 could not be verified "
            r"\(self.signed certificate\): not retried\. On a network whose proxy inspects TLS, set "
            r"REQUESTS_CA_BUNDLE to the proxy's CA certificate \(a PEM file\)", message), message
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS / "cert.pem"))
        assert client.get(client.session(), "phe_cases_by_region", url).content == b"a,b\n1,2\n"


def test_a_proxy_that_wants_credentials_is_named_and_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """An organisation's proxy asking for a password answers every attempt the same way (407)."""
    def ask_for_credentials(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"office\""
                           b"\r\nContent-Length: 0\r\n\r\n")

    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = fast_http(max_attempts=3)
    url = "https://upstream.invalid/data.csv"  # never resolved here: the proxy is asked to connect to it
    with raw_server(ask_for_credentials) as proxy_url:
        monkeypatch.setenv("HTTPS_PROXY", proxy_url.removesuffix("/data.csv"))
        with pytest.raises(FetchError) as caught:
            client.get(client.session(), "nhs_111", url)  # one attempt: the server answers one connection only
    assert str(caught.value) == (
        f"[nhs_111] {url}: the proxy asks for a user name and password (407 Proxy Authentication Required): not "
        "retried. Give them in HTTPS_PROXY as http://user:password@host:port (or check them, if they are there)")
    assert caught.value.final


def test_a_long_download_says_how_far_it_has_got(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    """A large file on a slow line showed nothing in the run's log until it ended: now a line every
    progress_every_s (10 s by default; 0.3 s here) gives the megabytes so far, of the size the server declared."""
    piece = b"x" * 256 * 1024
    pieces = 12

    def slow(request: Request) -> Response:
        def body():
            for _ in range(pieces):
                time.sleep(0.1)
                yield piece
        return Response(body(), status=200, headers={"Content-Length": str(len(piece) * pieces)},
                        direct_passthrough=True)

    httpserver.expect_request("/national.csv").respond_with_handler(slow)
    url = httpserver.url_for("/national.csv")
    client = fast_http(progress_every_s=0.3)
    with caplog.at_level("INFO"):
        result = client.get(client.session(), "nhs_111", url)
    assert len(result.content) == len(piece) * pieces
    progress = [record.getMessage() for record in caplog.records if "MB of" in record.getMessage()]
    assert len(progress) >= 2, progress
    total_mb = f"{len(piece) * pieces / 1e6:,.1f}"  # 3.1
    sizes = []
    for line in progress:
        found = re.fullmatch(rf"\[nhs_111\] {re.escape(url)}: ([\d.]+) MB of {total_mb} MB after \d+s", line)
        assert found, line
        sizes.append(float(found[1]))
    assert sizes == sorted(sizes) and 0 < sizes[0] and sizes[-1] <= float(total_mb)
