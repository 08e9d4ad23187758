"""Prometheus metrics of the ingest side: hook events, resync, the Control API."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HOOK_EVENTS = Counter(
    "livestream_hook_events_total",
    "Hook events received, by event (ready/not-ready), role (in/out) and result.",
    ["event", "role", "result"],
)
HOOK_LATENCY = Histogram(
    "livestream_hook_handling_seconds",
    "Time to handle one hook event, API calls included.",
    ["event"],
    buckets=_LATENCY_BUCKETS,
)
RESYNC_RUNS = Counter(
    "livestream_resync_total", "Resync passes against the MediaMTX Control API.", ["result"]
)
RESYNC_HEALED = Counter(
    "livestream_resync_healed_total", "Differences the resync repaired.", ["action"]
)
RECORDING_CHANGES = Counter(
    "livestream_recording_config_changes_total",
    "Path configuration changes made for recording, by verb and result.",
    ["verb", "result"],
)
RECORDING_SEGMENTS = Counter(
    "livestream_recording_segments_total",
    "Complete recording segments reported by MediaMTX, by role and result.",
    ["role", "result"],
)
CIRCUIT_STATE = Gauge(
    "livestream_mediamtx_circuit_open", "1 while the MediaMTX Control API circuit is open."
)
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
HOOK_UNAUTHENTICATED = Counter(
    "livestream_hook_unauthenticated_total",
    "Hook calls refused for a missing or wrong hook token.",
)
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
