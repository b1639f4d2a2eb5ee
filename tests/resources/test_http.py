"""The shared HTTP client against a real local server: retries, Retry-After, timeouts, size limit, 304."""

from __future__ import annotations

import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.errors import FetchError
from tests.conftest import fast_http


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


def test_connection_refused_names_the_url() -> None:
    client = fast_http(max_attempts=2)
    url = "http://127.0.0.1:9/nothing-listens-here"
    with pytest.raises(FetchError, match="connection failed") as caught:
        client.get(client.session(), "ons_infection_survey", url)
    assert url in str(caught.value)


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
