"""AIVO's metrics (recorded through `aivo.metrics`, exported by Ray from every replica) and
structured JSON logs. Neither ever carries a prompt, an answer, a key or a student id in clear.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aivo.metrics import REGISTRY, Counter, Gauge, Histogram
from aivo.security.pseudonyms import keyed_pseudonym

__all__ = ["REGISTRY"]  # the ingress's /metrics and tests read this process's registry

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# --- ingress: HTTP, response cache, calls to the other deployments ----------------------------
HTTP_REQUESTS = Counter(
    "aivo_http_requests_total", "HTTP requests by route and status.", ["route", "status"]
)
HTTP_ERRORS = Counter(
    "aivo_http_errors_total",
    "HTTP error answers (status >= 400) by route and status.",
    ["route", "status"],
)
HTTP_LATENCY = Histogram(
    "aivo_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
# Tenants are the operator's configured names (few, and no student data).
GENERATED_TOKENS = Counter(
    "aivo_generated_tokens_total",
    "Completion tokens generated for clients, by tenant.",
    ["tenant"],
)
TENANT_REQUESTS = Counter(
    "aivo_tenant_requests_total",
    "Authenticated API requests by tenant and the scope they used.",
    ["tenant", "scope"],
)
CACHE_EVENTS = Counter(
    "aivo_cache_events_total", "Response cache lookups: hit, miss, error, bypass.", ["event"]
)
UPSTREAM_RETRIES = Counter(
    "aivo_upstream_retries_total",
    "Calls retried because the replica serving them died, by deployment.",
    ["deployment"],
)
CIRCUIT_OPEN = Gauge(
    "aivo_circuit_open",
    "1 while a circuit breaker bypasses Redis, by what it guards (cache, rate_limits).",
    ["circuit"],
)
FALLBACK_ANSWERS = Counter(
    "aivo_fallback_answers_total",
    "Answers from a model behind the primary in the fallback chain (circuit open, or not loaded).",
)
CACHE_HIT_RATIO = Gauge("aivo_cache_hit_ratio", "Hits over hits plus misses since start.")

# --- preprocessor ------------------------------------------------------------------------------
SCREENING_REJECTIONS = Counter(
    "aivo_screening_rejections_total",
    "Prompts screening kept from the model, by the kind of attack they are.",
    ["reason"],
)

# --- inference replicas: the batcher and the resident adapters, by model ----------------------
TIME_TO_FIRST_TOKEN = Histogram(
    "aivo_time_to_first_token_seconds",
    "From a request joining the queue to its first token (queue wait and prefill).",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
MODEL_TOKENS = Counter(
    "aivo_model_tokens_total", "Tokens the model produced, every request counted.", ["model"]
)
BATCH_ROWS = Histogram(
    "aivo_batch_rows",
    "Rows (requests) in each decoding step.",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
BATCH_ACTIVE_ROWS = Gauge("aivo_batch_active_rows", "Requests being decoded now.", ["model"])
BATCH_WAITING = Gauge(
    "aivo_batch_waiting_requests", "Requests queued for a place in the batch.", ["model"]
)
ADAPTER_LOADS = Counter(
    "aivo_adapter_loads_total",
    "Student adapters fetched and loaded into a replica, by outcome (loaded, failed).",
    ["model", "outcome"],
)
ADAPTER_LOAD_SECONDS = Histogram(
    "aivo_adapter_load_seconds",
    "Fetching and loading one student adapter, when it loaded.",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
ADAPTER_EVICTIONS = Counter(
    "aivo_adapter_evictions_total",
    "Student adapters that stopped being resident (least recently used, or superseded).",
    ["model"],
)
ADAPTERS_RESIDENT = Gauge(
    "aivo_adapters_resident", "Student adapters resident in the replica.", ["model"]
)

# --- clone coordinator ------------------------------------------------------------------------
CLONE_JOBS = Counter(
    "aivo_clone_jobs_total",
    "Finished clone jobs by outcome: published, not_published, failed, stopped.",
    ["outcome"],
)
PREFIX_CACHE_TOKENS = Counter(
    "aivo_prefix_cache_tokens_total",
    "Prompt tokens through the prefix KV cache by model: hit (KV reused), miss (prefilled).",
    ["model", "result"],
)
PREFIX_CACHE_BYTES = Gauge(
    "aivo_prefix_cache_bytes",
    "Bytes of KV the prefix cache holds, by model.",
    ["model"],
)
PREFIX_CACHE_EVICTIONS = Counter(
    "aivo_prefix_cache_evictions_total",
    "Prefix cache blocks evicted to stay within its bytes, by model.",
    ["model"],
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
