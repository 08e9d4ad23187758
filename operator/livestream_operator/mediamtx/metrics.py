"""Prometheus metrics of MediaMTX's configuration: the Control API circuit and
path-configuration changes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CIRCUIT_STATE = Gauge(
    "livestream_mediamtx_circuit_open",
    '1 while the MediaMTX Control API circuit is open, by instance ("": the only one).',
    ["instance"],
)
RECORDING_CHANGES = Counter(
    "livestream_recording_config_changes_total",
    "Path configuration changes made for recording, by verb and result.",
    ["verb", "result"],
)
