"""Prometheus metrics of who may publish and read: auth decisions and the key view."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

AUTH_DECISIONS = Counter(
    "livestream_auth_decisions_total",
    "MediaMTX auth requests answered, by action, outcome (allowed/refused) and reason.",
    ["action", "outcome", "reason"],
)
AUTH_LATENCY = Histogram(
    "livestream_auth_seconds",
    "Time to answer one MediaMTX auth request (from memory, no API call).",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)
AUTH_UNAVAILABLE = Counter(
    "livestream_auth_unavailable_total",
    "Auth requests refused because the key and stream views have not synced yet.",
)
STREAM_KEYS = Gauge("livestream_stream_keys", "Stream keys held in memory (from key Secrets).")
