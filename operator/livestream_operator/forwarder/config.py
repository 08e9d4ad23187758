"""Forwarder configuration: the Pod contract's environment, flags as overrides."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..api.pod_contract import (
    FORWARDER_TOKEN_VAR,
    MEDIA_PASSWORD_VAR,
    ContractError,
    ForwarderEnv,
)
from ..media_urls import redact_url, with_userinfo_credentials
from .retries import Policy

SCHEMES = ("rtmp", "rtmps")


@dataclass(frozen=True)
class ForwarderConfig:
    input_url: str
    destination_url: str = field(repr=False)
    name: str
    metrics_port: int = 0
    # MediaMTX credentials for reading out (the password from the Pod's Secret).
    media_user: str = ""
    media_password: str = field(default="", repr=False)
    policy: Policy = field(default_factory=Policy)
    # The operator's token for POST RETRY_PATH; none: every retry-now is refused.
    token: str = field(default="", repr=False)

    @property
    def authenticated_input(self) -> str:
        """The input URL with the credentials in it, for ffmpeg only (never logged)."""
        return with_userinfo_credentials(self.input_url, self.media_user, self.media_password)


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> ForwarderConfig:
    parser = argparse.ArgumentParser(
        prog="livestream-operator forward",
        description="Copy live/<id>/out to one RTMP destination. The destination URL is "
        f"read from the {ForwarderEnv.DESTINATION_URL_VAR} environment variable only.",
    )
    try:
        contract = ForwarderEnv.from_env(env)
    except ContractError as exc:
        parser.error(str(exc))
    parser.add_argument(
        "--input",
        default=contract.input_url,
        help="RTSP URL of live/<id>/out (env LSO_INPUT_URL)",
    )
    parser.add_argument(
        "--name",
        default=contract.destination_name,
        help="destination name for logs and metrics (env LSO_DESTINATION_NAME)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=contract.metrics_port,
        help="Prometheus port, 0 disables (env LSO_METRICS_PORT)",
    )
    args = parser.parse_args(list(argv))
    var = ForwarderEnv.DESTINATION_URL_VAR
    destination = env.get(var, "")
    if urlsplit(args.input).scheme not in ("rtsp", "rtsps"):
        parser.error("--input/LSO_INPUT_URL must be an rtsp:// URL")
    if not destination:
        parser.error(f"{var} is not set")
    try:
        dest = urlsplit(destination)
        dest.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parser.error(f"{var} is not a valid URL")
    if dest.scheme not in SCHEMES or not dest.hostname:
        # Only the redacted form may appear, even in this error.
        parser.error(f"{var} must be an rtmp:// or rtmps:// URL, got {redact_url(destination)}")
    if not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be between 0 and 65535")
    return ForwarderConfig(
        args.input,
        destination,
        args.name or dest.hostname,
        args.metrics_port,
        media_user=contract.media_user,
        media_password=env.get(MEDIA_PASSWORD_VAR, ""),
        policy=Policy(contract.max_retries, contract.backoff_seconds, contract.backoff_cap_seconds),
        token=env.get(FORWARDER_TOKEN_VAR, ""),
    )
