"""`livestream-operator keys create|rotate|revoke|list [streamId]`: manage stream keys.

A key is a Secret in the operator's namespace (api/stream_keys.py); the receivers
pick up every change within moments through their watch. `create` and `rotate`
print what to paste into OBS (server and stream key) and the ffmpeg URL; `revoke`
deletes the Secret, which also disconnects a publisher using the key.

Exit status: 0 done, 1 the API failed or the key does not exist / already exists,
2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import sys
from collections.abc import Sequence

from kubernetes_asyncio.config.config_exception import ConfigException

from ..api import naming, stream_keys
from ..api.v1alpha1 import STREAM_ID_PATTERN
from ..kube import Kube, KubeError, core_path, open_kube

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_SERVER = "rtmp://127.0.0.1:1935"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)


class KeyCommandError(Exception):
    """A user-facing failure: the message says what to do."""


def _stream_id(value: str) -> str:
    if not _STREAM_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"not a stream id: {value!r} (1-128 letters, digits, '.', '_', '~' or '-')"
        )
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="livestream-operator keys",
        description="Create, rotate, revoke and list stream keys (Kubernetes Secrets).",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("LSO_NAMESPACE", "livestream"),
        help="the operator's namespace (default: $LSO_NAMESPACE or livestream)",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("LSO_PUBLIC_RTMP_URL", DEFAULT_SERVER),
        help="the RTMP address publishers use, for the printed settings "
        f"(default: $LSO_PUBLIC_RTMP_URL or {DEFAULT_SERVER})",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, text in (
        ("create", "make a key for a stream and print the OBS settings"),
        ("rotate", "replace a stream's key (the old one stops working)"),
        ("revoke", "delete a stream's key (its publisher is disconnected)"),
    ):
        sub.add_parser(verb, help=text).add_argument("stream_id", type=_stream_id)
    sub.add_parser("list", help="list the streams that have keys (never the keys)")
    return parser.parse_args(list(argv))


async def _get(kube: Kube, namespace: str, stream_id: str) -> dict[str, object] | None:
    try:
        return await kube.request(
            "GET", core_path(namespace, "secrets", stream_keys.secret_name(stream_id))
        )
    except KubeError as exc:
        if exc.not_found:
            return None
        raise


async def run(args: argparse.Namespace, kube: Kube) -> str:
    ns = args.namespace
    if args.verb == "list":
        selector = f"{stream_keys.KEY_LABEL}=true"
        body = await kube.request(
            "GET", core_path(ns, "secrets"), query=[("labelSelector", selector)]
        )
        lines = []
        for item in body.get("items") or []:
            meta = item["metadata"]
            data = item.get("data") or {}
            raw = data.get(stream_keys.STREAM_ID_FIELD, "")
            sid = base64.b64decode(raw).decode(errors="replace") if raw else "?"
            lines.append(f"{sid}\t{meta['name']}\t{meta.get('creationTimestamp', '')}")
        return "\n".join(["STREAM\tSECRET\tCREATED", *sorted(lines)])

    sid = args.stream_id
    existing = await _get(kube, ns, sid)
    name = stream_keys.secret_name(sid)
    if args.verb == "revoke":
        if existing is None:
            raise KeyCommandError(f"stream {sid} has no key (no Secret {ns}/{name})")
        await kube.request("DELETE", core_path(ns, "secrets", name))
        return f"revoked the key of {sid}: new publishes are refused and a live one is stopped"
    if args.verb == "create" and existing is not None:
        raise KeyCommandError(f"stream {sid} already has a key; `rotate` replaces it")
    if args.verb == "rotate" and existing is None:
        raise KeyCommandError(f"stream {sid} has no key yet; `create` makes one")
    key = stream_keys.generate_key()
    manifest = stream_keys.to_secret(sid, key, ns)
    if existing is None:
        await kube.request("POST", core_path(ns, "secrets"), manifest)
    else:
        await kube.request("PUT", core_path(ns, "secrets", name), manifest)
    return publish_settings(args.server, sid, key)


def publish_settings(server: str, stream_id: str, key: str) -> str:
    base = f"{server.rstrip('/')}/{naming.PATH_PREFIX}/{stream_id}"
    return "\n".join(
        [
            f"Stream {stream_id} publishes with this key (keep it secret):",
            "OBS (Settings > Stream, Service: Custom):",
            f"  Server:     {base}",
            f"  Stream Key: in?key={key}",
            "ffmpeg:",
            f"  ffmpeg -re -i input.mp4 -c copy -f flv '{base}/in?key={key}'",
            f"  (or as user/password: '{base}/in?user=publisher&pass={key}')",
            f"Play the processed output: ffplay '{base}/out?key={key}'",
        ]
    )


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    async def go() -> str:
        kube = await open_kube()
        try:
            return await run(args, kube)
        finally:
            await kube.close()

    try:
        print(asyncio.run(go()))
    except KeyCommandError as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KubeError as exc:
        print(f"keys: Kubernetes API error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ConfigException, OSError) as exc:
        print(f"keys: cannot reach the Kubernetes API: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
