"""Prometheus metrics of the ingest side: hook events, resync, recording segments,
the publishers' bitrates."""

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
RECORDING_SEGMENTS = Counter(
    "livestream_recording_segments_total",
    "Complete recording segments reported by MediaMTX, by role and result.",
    ["role", "result"],
)
HOOK_UNAUTHENTICATED = Counter(
    "livestream_hook_unauthenticated_total",
    "Hook calls refused for a missing or wrong hook token.",
)
INPUT_BITRATE = Gauge(
    "livestream_input_bitrate_bits_per_second",
    "What each publisher sends to live/<id>/in, from MediaMTX's inboundBytes between two "
    "resync passes (status.input.bitrateKbps is this, rounded and rewritten rarely).",
    ["stream"],
)
