"""Counters, gauges and histograms that every deployment records, wherever it runs.

A metric records into this process's prometheus_client registry (`REGISTRY`: the ingress serves
it on /metrics, tests read it without Ray) and, in a process connected to Ray (a Serve replica,
an actor, a job's driver), through `ray.util.metrics` as well: each node's metrics agent exports
those for every process on the node, with Ray's `ray_` prefix (a counter `aivo_x_total` is
scraped as `ray_aivo_x_total`). That is what Prometheus reads, since a scrape of one process's
/metrics sees one replica only.

Label values must come from a small fixed set (routes, statuses, categories, model names):
never a student id, a prompt or anything a request chose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import prometheus_client
import ray
import ray.util.metrics

REGISTRY = prometheus_client.CollectorRegistry(auto_describe=True)
# Ray's agent drops a gauge two report intervals (at least 1 s each) after its last record
GAUGE_REFRESH_S = 1.0


class _Metric:
    """One metric under one name in both places; Ray's half is made on first use inside Ray."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._local: Any = self._make_local()
        self._ray: Any = None
        self._lock = threading.Lock()

    def labels(self, **values: object) -> _Labelled:
        if set(values) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(values)}")
        return _Labelled(self, {key: str(value) for key, value in values.items()})

    def _record(self, value: float, tags: dict[str, str]) -> None:
        local = self._local.labels(**tags) if self.labelnames else self._local
        self._apply_local(local, value)
        if ray.is_initialized():
            self._apply_ray(self._ray_metric(), value, tags)

    def _ray_metric(self) -> Any:
        with self._lock:
            if self._ray is None:
                self._ray = self._make_ray()
            return self._ray

    def _make_local(self) -> Any:
        raise NotImplementedError

    def _make_ray(self) -> Any:
        raise NotImplementedError

    def _apply_local(self, local: Any, value: float) -> None:
        raise NotImplementedError

    def _apply_ray(self, metric: Any, value: float, tags: dict[str, str]) -> None:
        raise NotImplementedError


class _Labelled:
    """A metric with its label values chosen, as prometheus_client's `.labels(...)` gives."""

    def __init__(self, metric: _Metric, tags: dict[str, str]) -> None:
        self._metric = metric
        self._tags = tags

    def inc(self, amount: float = 1) -> None:
        self._metric._record(amount, self._tags)

    def set(self, value: float) -> None:
        self._metric._record(value, self._tags)

    def observe(self, value: float) -> None:
        self._metric._record(value, self._tags)


class Counter(_Metric):
    """Counts up; `name` ends in `_total`, the name Prometheus sees. `inc(0)` exports the series
    at 0, so that `rate()` sees its first increment."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {name}")
        super().__init__(name, documentation, labelnames)

    def inc(self, amount: float = 1) -> None:
        self._record(amount, {})

    def _make_local(self) -> Any:
        return prometheus_client.Counter(
            self.name, self.documentation, self.labelnames, registry=REGISTRY
        )

    def _make_ray(self) -> Any:
        # Ray's exporter adds `_total` to a counter's name itself
        base = self.name.removesuffix("_total")
        return ray.util.metrics.Counter(base, self.documentation, self.labelnames)

    def _apply_local(self, local: Any, value: float) -> None:
        local.inc(value)

    def _apply_ray(self, metric: Any, value: float, tags: dict[str, str]) -> None:
        if value:
            metric.inc(value, tags=tags)
        else:  # Ray's inc refuses 0, which makes the series exist (as `.labels()` does here)
            metric._record(0, tags=tags)


class Gauge(_Metric):
    """A value that goes up and down; each process (replica) exports its own. Inside Ray its
    last values are recorded again every GAUGE_REFRESH_S, so an idle replica's stay exported."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._ray_values: dict[tuple[tuple[str, str], ...], float] = {}

    def set(self, value: float) -> None:
        self._record(value, {})

    def _make_local(self) -> Any:
        return prometheus_client.Gauge(
            self.name, self.documentation, self.labelnames, registry=REGISTRY
        )

    def _make_ray(self) -> Any:
        return ray.util.metrics.Gauge(self.name, self.documentation, self.labelnames)

    def _apply_local(self, local: Any, value: float) -> None:
        local.set(value)

    def _apply_ray(self, metric: Any, value: float, tags: dict[str, str]) -> None:
        with self._lock:  # one lock with _refresh: it never records an older value over this
            metric.set(value, tags=tags)
            self._ray_values[tuple(sorted(tags.items()))] = value
        _keep_exported(self)

    def _refresh(self) -> None:
        with self._lock:
            for tags, value in self._ray_values.items():
                self._ray.set(value, tags=dict(tags))


_refreshed: set[Gauge] = set()
_refreshing = threading.Lock()
_refresher: threading.Thread | None = None


def _keep_exported(gauge: Gauge) -> None:
    global _refresher
    with _refreshing:
        _refreshed.add(gauge)
        if _refresher is None:
            _refresher = threading.Thread(target=_refresh_gauges, name="aivo-gauges", daemon=True)
            _refresher.start()


def _refresh_gauges() -> None:
    while True:
        time.sleep(GAUGE_REFRESH_S)
        if not ray.is_initialized():
            continue
        with _refreshing:
            gauges = list(_refreshed)
        for gauge in gauges:
            gauge._refresh()


class Histogram(_Metric):
    """Observations counted into buckets (upper bounds, positive, ascending)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
    ) -> None:
        self.buckets = tuple(buckets)
        super().__init__(name, documentation, labelnames)

    def observe(self, value: float) -> None:
        self._record(value, {})

    def _make_local(self) -> Any:
        return prometheus_client.Histogram(
            self.name, self.documentation, self.labelnames, buckets=self.buckets, registry=REGISTRY
        )

    def _make_ray(self) -> Any:
        return ray.util.metrics.Histogram(
            self.name, self.documentation, list(self.buckets), self.labelnames
        )

    def _apply_local(self, local: Any, value: float) -> None:
        local.observe(value)

    def _apply_ray(self, metric: Any, value: float, tags: dict[str, str]) -> None:
        metric.observe(value, tags=tags)
