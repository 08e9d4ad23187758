"""Prometheus metrics of the users' HTTP API: snapshot decodes and their cache."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SNAPSHOT_DECODES = Counter(
    "livestream_snapshot_decodes_total",
    "Snapshot decodes (one ffmpeg run each), by path (in/out) and result "
    "(ok, failed, timeout, or busy: no decode slot within the timeout).",
    ["path", "result"],
)
SNAPSHOT_CACHE_HITS = Counter(
    "livestream_snapshot_cache_hits_total",
    "Snapshot requests served without a decode of their own: a fresh picture "
    "(cached) or the decode another request started (joined).",
    ["kind"],
)
SNAPSHOT_DECODE_SECONDS = Histogram(
    "livestream_snapshot_decode_seconds",
    "Time of one snapshot decode: waiting for a slot, RTSP setup, the wait for a "
    "keyframe, JPEG encoding.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
