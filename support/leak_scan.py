"""The suite's leak scan: no raw student id, prompt, API key or answer in any log or metrics text.

What must never be written is learned from the tests' own traffic: every HTTP exchange made
through httpx (the tests' clients and the OpenAI SDK) registers the student ids it names (body
and path), the prompts and learner texts it sends, the API key it authenticates with and the
answers it gets back; every `/metrics` answer is kept to scan. What is scanned: every JSON log
line written in this process, the log folders of the Ray clusters the suite starts
(`watch_ray_logs`, scanned when the cluster stops) and Ray's own metrics (`scrape`). At the end
of the session a finding fails the run, naming the kind of datum and where, never the datum.

Ids and keys are matched as whole tokens; texts (prompts, answers) by any run of SHINGLE words
they share with the log, so JSON escaping does not hide them and common phrases do not count.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from aivo.observability import JsonFormatter

SHINGLE = 7  # words in a row that a log must not share with a prompt or an answer
MIN_ID_CHARS = 3
MIN_KEY_CHARS = 24
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_WORD = re.compile(r"[a-z0-9]+")
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")  # JSON's \n, \", \u00d7: a word break
_STUDENT_PATH = re.compile(r"/students/([^/?#]+)")
_TEXT_FIELDS = ("prompt", "student_answer", "text", "content")
MAX_LOG_BYTES = 64 << 20  # per file: Ray's logs of one suite are far smaller


@dataclass
class Secrets:
    tokens: dict[str, str] = field(default_factory=dict)  # token -> kind (student id, api key)
    shingles: dict[int, str] = field(default_factory=dict)  # hash of words -> kind

    def add_token(self, value: str, kind: str) -> None:
        if value and (len(value) >= (MIN_KEY_CHARS if kind == "api key" else MIN_ID_CHARS)):
            self.tokens.setdefault(value, kind)

    def add_text(self, text: str, kind: str) -> None:
        for shingle in _shingles(text):
            self.shingles.setdefault(shingle, kind)

    def found_in(self, text: str) -> set[str]:
        """The kinds of data that appear in `text`."""
        kinds = {self.tokens[t] for t in set(_TOKEN.findall(text)) if t in self.tokens}
        kinds |= {self.shingles[s] for s in _shingles(text) if s in self.shingles}
        return kinds


def _shingles(text: str) -> set[int]:
    words = _WORD.findall(_ESCAPE.sub(" ", text).lower())
    return {hash(tuple(words[i : i + SHINGLE])) for i in range(len(words) - SHINGLE + 1)}


@dataclass
class LeakScan:
    secrets: Secrets = field(default_factory=Secrets)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text) to scan at the end
    findings: dict[str, set[str]] = field(default_factory=dict)  # where -> kinds
    scanned: int = 0

    def learn_request(self, request: httpx.Request) -> None:
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
            self.secrets.add_token(token, "api key")
            self.secrets.add_token(token.rsplit("_", 1)[-1], "api key")
        for student in _STUDENT_PATH.findall(unquote(request.url.path)):
            self.secrets.add_token(student, "student id")
        json_body = request.headers.get("content-type", "").startswith("application/json")
        if json_body and isinstance(request.stream, httpx.ByteStream):  # not a streamed upload
            self._learn(_json(request.read()), "prompt")

    def learn_response(self, request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path.endswith("/metrics"):
            self.texts.append((f"GET {request.url.path}", response.text))
        elif response.headers.get("content-type", "").startswith("application/json"):
            self._learn(_json(response.content), "answer")

    def _learn(self, value: Any, kind: str) -> None:
        """Student ids anywhere in a JSON document, and its texts."""
        if isinstance(value, dict):
            for name, item in value.items():
                if name == "student_id" and isinstance(item, str):
                    self.secrets.add_token(item, "student id")
                elif name in _TEXT_FIELDS and isinstance(item, str):
                    self.secrets.add_text(item, kind)
                else:
                    self._learn(item, kind)
        elif isinstance(value, list):
            for item in value:
                self._learn(item, kind)

    def scan(self, where: str, text: str) -> None:
        self.scanned += 1
        kinds = self.secrets.found_in(text)
        if kinds:
            self.findings.setdefault(where, set()).update(kinds)

    def scan_folder(self, folder: Path) -> None:
        """Every log-like file under `folder`, less Ray's `runtime_resources`: its copies of the
        application's own code and data, which nothing writes to (a word list is not a log)."""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if "runtime_resources" in path.relative_to(folder).parts:
                continue
            if path.suffix in (".log", ".out", ".err", ".txt", ".json", ""):
                with open(path, "rb") as f:
                    self.scan(str(path), f.read(MAX_LOG_BYTES).decode("utf-8", "replace"))

    def finish(self) -> int:
        """Scan what was kept; how many texts and files were scanned in all."""
        for where, text in self.texts:
            self.scan(where, text)
        self.texts.clear()
        return self.scanned


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


SCAN = LeakScan()


def watch_ray_logs(temp_dir: Path) -> None:
    """Scan a Ray cluster's logs (all sessions under its temp dir); call it as it stops."""
    SCAN.scan_folder(temp_dir)


def scrape(url: str) -> None:
    """Keep a metrics page (Ray's own exporter) to scan at the end of the session."""
    try:
        SCAN.texts.append((url, httpx.get(url, timeout=5).text))
    except httpx.HTTPError as error:
        SCAN.texts.append((url, f"unreachable: {type(error).__name__}"))


def pytest_configure(config: pytest.Config) -> None:
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        SCAN.learn_request(request)
        response = sync_send(client, request, **kwargs)
        if not kwargs.get("stream"):
            SCAN.learn_response(request, response)
        return response

    async def asend(
        client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        SCAN.learn_request(request)
        response = await async_send(client, request, **kwargs)
        if not kwargs.get("stream"):
            SCAN.learn_response(request, response)
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    format_json = JsonFormatter.format

    def format_and_keep(formatter: JsonFormatter, record: logging.LogRecord) -> str:
        line = format_json(formatter, record)
        SCAN.texts.append((f"log {record.name}", line))
        return line

    JsonFormatter.format = format_and_keep  # type: ignore[method-assign]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    scanned = SCAN.finish()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        known = f"{len(SCAN.secrets.tokens)} ids and keys, {len(SCAN.secrets.shingles)} phrases"
        reporter.write_line(f"leak scan: {known} sought in {scanned} texts and log files")
        for line in report(SCAN.findings):
            reporter.write_line(line, red=True)
    if SCAN.findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def report(findings: dict[str, set[str]]) -> Iterable[str]:
    if not findings:
        return
    yield f"LEAK SCAN: student data in {len(findings)} log or metrics texts"
    for where, kinds in sorted(findings.items()):
        yield f"  {where}: {', '.join(sorted(kinds))}"
