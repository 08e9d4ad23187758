"""The `livestream-operator` command: one entry point, a subcommand per process."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

Runner = Callable[[list[str]], int]


def _operator(argv: list[str]) -> int:
    from .cmd.operator import main

    return main(argv)


def _hooks(argv: list[str]) -> int:
    from .cmd.hook_receiver import main

    return main(argv)


def _crd(argv: list[str]) -> int:
    from .api.crd import render

    argparse.ArgumentParser(
        prog="livestream-operator crd",
        description="Print the LiveStream CRD generated from the API types.",
    ).parse_args(argv)
    sys.stdout.write(render())
    return 0


def _generate(argv: list[str]) -> int:
    from .generate import main

    return main(argv)


def _mtx_hook(argv: list[str]) -> int:
    from .ingest.mtx_hook import main

    return main(argv)


def _worker(argv: list[str]) -> int:
    from .worker import main

    return main(argv)


def _render_slates(argv: list[str]) -> int:
    from .worker.slates import main

    return main(argv)


def _forward(argv: list[str]) -> int:
    from .forwarder import main

    return main(argv)


def _keys(argv: list[str]) -> int:
    from .cmd.keys import main

    return main(argv)


def _backend(argv: list[str]) -> int:
    # Before numpy loads: a backend serves each stream on its event loop, and
    # OpenBLAS's idle threads would spin a core between the loudness filter's
    # matrix products (18 % of a core per stream measured, 0.6 % with one).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .backend import main

    return main(argv)


def _cleanup(argv: list[str]) -> int:
    from .cmd.cleanup import main

    return main(argv)


COMMANDS: dict[str, tuple[Runner, str]] = {
    "operator": (_operator, "run the kopf operator that reconciles LiveStreams"),
    "hooks": (_hooks, "run the HTTP receiver for MediaMTX hook events"),
    "crd": (_crd, "print the LiveStream CRD generated from the models"),
    "generate": (_generate, "write the generated files (CRD, values.schema.json); --verify"),
    "mtx-hook": (_mtx_hook, "the wrapper MediaMTX runs: mtx-hook ready|not-ready"),
    "worker": (_worker, "run a stream worker: RTSP live/<id>/in -> RTSP (or RTMP) live/<id>/out"),
    "render-slates": (
        _render_slates,
        "render the chart's slates to the MP4 files MediaMTX plays while no worker publishes",
    ),
    "forward": (_forward, "push live/<id>/out to one third-party RTMP destination"),
    "keys": (_keys, "create, rotate, revoke or list stream keys: keys create <streamId>"),
    "backend": (
        _backend,
        "run a reference processing backend: backend --kind tone|loudness|gemini",
    ),
    "cleanup": (_cleanup, "delete a namespace's LiveStreams and left-over Pods (helm uninstall)"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="livestream-operator",
        description="RTMP/RTSP/SRT in, a worker per stream, restream out, on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not args:
        parser.print_help(sys.stderr)
        return 2
    if args[0] not in COMMANDS:
        parser.parse_args(args[:1])  # -h prints help (exit 0); anything else exits 2
        return 2
    runner, _ = COMMANDS[args[0]]
    return runner(args[1:])


if __name__ == "__main__":
    sys.exit(main())
