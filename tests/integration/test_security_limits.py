"""Bounded consumption over HTTP on the real graph: the token budget is reserved at admission
(concurrent requests never spend past it) and settled for what was used (a dropped stream
pays for its tokens); a key is checked before a body is read, and a slow body answers 408."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from support.security_graph import BODY_READ_TIMEOUT_S, TOKENS_PER_MINUTE, SecurityGraph

pytestmark = pytest.mark.slow
FIELDS = {"grade_level": "5", "subject": "science", "temperature": 0}
# topics no key idea answers from vetted text: these answers are the model's, and cost tokens
TOPICS = ["bats", "owls", "cats", "sharks", "spiders", "bridges", "kites", "robots", "trains"]


def fresh_minute() -> None:
    """Budgets are per minute: start where none of the test's requests cross into the next."""
    if time.time() % 60 > 30:
        time.sleep(60.5 - time.time() % 60)


def test_concurrent_requests_never_spend_past_the_budget(security_graph: SecurityGraph) -> None:
    fresh_minute()

    def ask(topic: str) -> httpx.Response:
        with security_graph.client("budget") as client:
            body = {"prompt": f"Why are {topic} interesting?", **FIELDS, "max_tokens": 96}
            return client.post("/v1/generate", json=body)

    with ThreadPoolExecutor(len(TOPICS)) as pool:
        answers = list(pool.map(ask, TOPICS))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {200, 429}, statuses
    spent = sum(r.json()["usage"]["completion_tokens"] for r in answers if r.status_code == 200)
    assert spent <= TOKENS_PER_MINUTE


def test_a_dropped_stream_is_charged_what_it_used(security_graph: SecurityGraph) -> None:
    fresh_minute()
    with security_graph.client("dropped") as client:
        body = {"prompt": "Why do cats purr?", **FIELDS, "max_tokens": 200}
        with client.stream("POST", "/v1/generate", json={**body, "stream": True}) as r:
            assert r.status_code == 200
            next(r.iter_text())  # the first chunk, then the client hangs up
        time.sleep(2)
        whole = {"prompt": "What is a comet?", **FIELDS, "max_tokens": TOKENS_PER_MINUTE}
        assert client.post("/v1/generate", json=whole).status_code == 429  # it paid something
        # had it kept its 200 tokens, 250 more would be over the budget; it used fewer than 150
        # (its first chunk comes once the opening's reading level can be measured: 50 words)
        rest = {"prompt": "What is a comet?", **FIELDS, "max_tokens": TOKENS_PER_MINUTE - 150}
        assert client.post("/v1/generate", json=rest).status_code == 200  # it got the rest back


def raw_request(url: str, headers: dict[str, str], body_start: bytes) -> tuple[float, bytes]:
    """POST /v1/generate declaring a 60 kB body and sending only its start; the seconds until
    the answer came, and its head."""
    parts = urlsplit(url)
    lines = [f"POST {parts.path}/v1/generate HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/json", "Content-Length: 60000", "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall("\r\n".join(lines).encode() + body_start)
        head = sock.recv(4096)
        return time.monotonic() - started, head


def test_no_key_is_refused_before_the_body_is_read(security_graph: SecurityGraph) -> None:
    elapsed, head = raw_request(security_graph.url, {}, b'{"prompt": "')
    assert head.startswith(b"HTTP/1.1 401"), head
    assert elapsed < BODY_READ_TIMEOUT_S  # answered at once, without waiting for the body


def test_a_slow_body_is_408(security_graph: SecurityGraph) -> None:
    headers = {"Authorization": f"Bearer {security_graph.tokens['bodies']}"}
    elapsed, head = raw_request(security_graph.url, headers, b'{"prompt": "')
    assert head.startswith(b"HTTP/1.1 408"), head
    assert BODY_READ_TIMEOUT_S <= elapsed < BODY_READ_TIMEOUT_S + 10
