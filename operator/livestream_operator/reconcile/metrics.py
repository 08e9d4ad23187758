"""Prometheus metrics of the reconcile side: the loop, its queue, the LiveStreams."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RECONCILE_DURATION = Histogram(
    "livestream_reconcile_seconds",
    "Time of one reconcile of a LiveStream, API calls included.",
    ["result"],
    buckets=_LATENCY_BUCKETS,
)
LIVESTREAMS = Gauge("livestream_livestreams", "LiveStreams by phase.", ["phase"])
READY_TO_WORKER = Histogram(
    "livestream_ready_to_worker_seconds",
    "Time from the ingest becoming available to its worker Pod being created.",
    buckets=_LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge("livestream_reconcile_queue_depth", "LiveStreams waiting to be reconciled.")
POOL_IDLE = Gauge("livestream_worker_pool_idle", "Ready idle workers in the warm pool.")
POOL_CLAIMS = Counter(
    "livestream_worker_pool_claims_total",
    "Attempts to give a new stream a warm worker, by outcome (claimed, empty, conflict).",
    ["outcome"],
)
