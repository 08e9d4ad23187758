"""Prometheus metrics of the reconcile side: the loop, its queue, the LiveStreams,
their start-ups and input losses."""

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
STARTUP = Histogram(
    "livestream_startup_seconds",
    "Time from live/<id>/in available (MediaMTX has the publish; for RTMP after its 2 s "
    "analysis) to live/<id>/out available (the worker publishes), per start.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60),
)
INPUT_LOSSES = Counter(
    "livestream_input_losses_total",
    "Times a live stream's publisher went away (the InputLoss condition turned True).",
)
INPUT_LOSS_DURATION = Histogram(
    "livestream_input_loss_seconds",
    "How long a publisher stayed away, by outcome (recovered within the grace period, or "
    "expired); its sum is the time the output spent on its input-loss fill.",
    ["outcome"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
)
