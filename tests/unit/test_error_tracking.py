"""Errors reach Sentry without student data: a real local HTTP endpoint stands in for Sentry's
ingestion API and receives what sentry-sdk sends."""

from __future__ import annotations

import asyncio
import gzip
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from aivo.error_tracking import DSN_ENV, REDACTED, init_error_tracking, scrub
from aivo.observability import pseudonym
from support.keys import ApiKeys
from tests.unit.test_api import EchoTutor, make_client

STUDENT_ID = "s-maya-4471"
PROMPT = "My name is Maya Lopez and I live at 12 Elm Street, why do leaves fall?"
ANSWER = "Leaves fall because trees stop feeding them in autumn, Maya."
KEY = "aivo_lessons_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
EMAIL = "maya.lopez@example.org"
STUDENT_DATA = (STUDENT_ID, PROMPT, ANSWER, KEY, EMAIL, "Maya")


class Ingestion(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        Ingestion.received.append(body.decode())
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:  # the test's output stays quiet
        pass


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Ingestion.received = []
    monkeypatch.setenv(DSN_ENV, f"http://publickey@127.0.0.1:{server.server_address[1]}/1")
    try:
        assert init_error_tracking("inference") is True
        yield Ingestion.received
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)  # later tests start with Sentry off
        server.shutdown()
        server.server_close()


def tutor(prompt: str, student_id: str, api_key: str) -> None:
    answer = ANSWER  # a local variable Sentry would otherwise send with the frame
    logging.getLogger("aivo.test").info("answering %s for %s", prompt, student_id)  # breadcrumb
    raise ValueError(f"generation failed for {student_id} ({api_key}): {prompt} -> {answer}")


def test_an_unhandled_error_arrives_without_student_data(sentry: list[str]) -> None:
    sentry_sdk.set_user({"id": STUDENT_ID, "email": EMAIL})
    # Unhandled in a thread, as in a replica's background work: Sentry's hook reports it.
    worker = threading.Thread(target=tutor, args=(PROMPT, STUDENT_ID, KEY))
    worker.start()
    worker.join()
    logging.getLogger("aivo.test").error("could not answer %s", PROMPT)
    sentry_sdk.flush(timeout=10)
    deadline = time.monotonic() + 10
    while len(sentry) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert len(sentry) == 2, sentry
    everything = "\n".join(sentry)
    assert "ValueError" in everything
    assert '"component":"inference"' in everything.replace(" ", "")
    assert pseudonym(STUDENT_ID) in everything  # how many students, never who
    assert "tutor" in everything  # the frame that failed is still named
    for secret in STUDENT_DATA:
        assert secret not in everything, secret


def test_an_unexpected_error_behind_the_api_arrives_without_the_key_or_student(
    sentry: list[str], api_keys: ApiKeys
) -> None:
    async def call() -> int:
        async with make_client(EchoTutor(), api_keys, api_keys.app) as client:
            body = {"prompt": "bug", "grade_level": "5", "subject": "math"}
            r = await client.post("/v1/generate", json=body | {"student_id": STUDENT_ID})
            return r.status_code

    assert asyncio.run(call()) == 500  # the API answers its generic error...
    sentry_sdk.flush(timeout=10)
    deadline = time.monotonic() + 10
    while not sentry and time.monotonic() < deadline:
        time.sleep(0.05)
    everything = "\n".join(sentry)
    # ...and Sentry gets the error and its route, not the key, the student, the body or the
    # message (which may quote anything; the source lines around the raise are code, kept).
    assert "RuntimeError" in everything and "/v1/generate" in everything
    assert f'"value":"{REDACTED}"' in everything.replace(" ", "")
    for secret in (api_keys.app, STUDENT_ID, '"prompt"', '"grade_level"'):
        assert secret not in everything, secret


def test_it_is_off_without_a_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    assert init_error_tracking("ingress") is False
    assert not sentry_sdk.is_initialized()


def test_a_request_keeps_its_route_and_loses_its_body_keys_and_student_id() -> None:
    event = {
        "request": {
            "method": "POST",
            "url": f"http://aivo/v1/students/{STUDENT_ID}/clone?note={PROMPT}",
            "headers": {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            "data": {"prompt": PROMPT},
            "cookies": {"session": KEY},
            "query_string": f"note={PROMPT}",
        },
        "transaction": f"/v1/students/{STUDENT_ID}/clone",
        "tags": {"student_id": STUDENT_ID, "component": "ingress"},
        "extra": {"answer": ANSWER},
        "exception": {"values": [{"type": "KeyError", "value": f"'{STUDENT_ID}'"}]},
    }
    scrubbed = scrub(event)
    assert scrubbed["request"] == {
        "method": "POST",
        "url": f"http://aivo/v1/students/{pseudonym(STUDENT_ID)}/clone",
        "headers": {"Content-Type": "application/json"},
    }
    assert scrubbed["transaction"] == f"/v1/students/{pseudonym(STUDENT_ID)}/clone"
    assert scrubbed["tags"] == {"student_id": pseudonym(STUDENT_ID), "component": "ingress"}
    assert scrubbed["exception"]["values"] == [{"type": "KeyError", "value": REDACTED}]
    assert "extra" not in scrubbed
    assert all(secret not in repr(scrubbed) for secret in STUDENT_DATA)
