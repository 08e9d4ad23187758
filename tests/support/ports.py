"""Free local ports for the processes a test starts.

Binding port 0 and closing can hand the same port out twice (MediaMTX then
fails to bind its second listener), and a port from the kernel's ephemeral
range can be taken by any outgoing connection before the process binds it.
So ports are drawn below that range and never handed out twice per run.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1, unique within this run."""
    top = _ephemeral_start()
    for _ in range(1000):
        port = random.randrange(_LOWEST, top)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {_LOWEST}..{top}")
