"""Prometheus metrics and structured JSON logs.

Metrics live in the process that records them (the ingress serves `/metrics` from its own
registry). Logs never carry a prompt, an answer, a key or a student id in clear.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aivo.security.pseudonyms import keyed_pseudonym

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "aivo_http_requests_total",
    "HTTP requests by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
HTTP_ERRORS = Counter(
    "aivo_http_errors_total",
    "HTTP error answers (status >= 400) by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "aivo_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
# Tenants are the operator's configured names (few, and no student data).
GENERATED_TOKENS = Counter(
    "aivo_generated_tokens_total",
    "Completion tokens generated for clients, by tenant.",
    ["tenant"],
    registry=REGISTRY,
)
TENANT_REQUESTS = Counter(
    "aivo_tenant_requests_total",
    "Authenticated API requests by tenant and the scope they used.",
    ["tenant", "scope"],
    registry=REGISTRY,
)
CACHE_EVENTS = Counter(
    "aivo_cache_events_total",
    "Response cache lookups: hit, miss, error, bypass.",
    ["event"],
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "aivo_upstream_retries_total",
    "Calls retried because the replica serving them died, by deployment.",
    ["deployment"],
    registry=REGISTRY,
)
CIRCUIT_OPEN = Gauge(
    "aivo_circuit_open",
    "1 while a circuit breaker bypasses Redis, by what it guards (cache, rate_limits).",
    ["circuit"],
    registry=REGISTRY,
)
FALLBACK_ANSWERS = Counter(
    "aivo_fallback_answers_total",
    "Answers from a model behind the primary in the fallback chain (circuit open, or not loaded).",
    registry=REGISTRY,
)
CACHE_HIT_RATIO = Gauge(
    "aivo_cache_hit_ratio", "Hits over hits plus misses since start.", registry=REGISTRY
)
PREFIX_CACHE_TOKENS = Counter(
    "aivo_prefix_cache_tokens_total",
    "Prompt tokens through the prefix KV cache by model: hit (KV reused), miss (prefilled).",
    ["model", "result"],
    registry=REGISTRY,
)
PREFIX_CACHE_BYTES = Gauge(
    "aivo_prefix_cache_bytes",
    "Bytes of KV the prefix cache holds, by model.",
    ["model"],
    registry=REGISTRY,
)
PREFIX_CACHE_EVICTIONS = Counter(
    "aivo_prefix_cache_evictions_total",
    "Prefix cache blocks evicted to stay within its bytes, by model.",
    ["model"],
    registry=REGISTRY,
)


_lookups = {"hit": 0, "miss": 0}  # the ratio's own counts: a Counter's value is private


def record_cache_event(event: str) -> None:
    CACHE_EVENTS.labels(event=event).inc()
    if event in _lookups:
        _lookups[event] += 1
        CACHE_HIT_RATIO.set(_lookups["hit"] / (_lookups["hit"] + _lookups["miss"]))


def record_prefix_cache(model: str, hit: int, missed: int, evicted: int, nbytes: int) -> None:
    """The prefix cache's figures (hit rate: hit over hit plus miss tokens)."""
    PREFIX_CACHE_TOKENS.labels(model=model, result="hit").inc(hit)
    PREFIX_CACHE_TOKENS.labels(model=model, result="miss").inc(missed)
    PREFIX_CACHE_EVICTIONS.labels(model=model).inc(evicted)
    PREFIX_CACHE_BYTES.labels(model=model).set(nbytes)


def pseudonym(student_id: str | None) -> str | None:
    """A stable keyed tag for logs, labels and jobs: never let a student id out in clear."""
    if student_id is None:
        return None
    return keyed_pseudonym(student_id, "aivo-log", 16)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, separators=(",", ":"))


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def log_event(logger: logging.Logger, msg: str, **fields: Any) -> None:
    logger.info(msg, extra={"fields": fields})
