"""Start the project's own processes (receiver, operator) as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .ports import free_port

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "livestream_operator"]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


# Internal credentials the tiers give the receiver, MediaMTX's wrapper and the Pods.
HOOK_TOKEN = "test-hook-token-0123456789"
HOOK_AUTH = {"Authorization": f"Bearer {HOOK_TOKEN}"}
INTERNAL = {
    "LSO_HOOK_TOKEN": HOOK_TOKEN,
    "LSO_OPERATOR_PASSWORD": "test-operator-password",
    "LSO_WORKER_PASSWORD": "test-worker-password",
    "LSO_FORWARDER_PASSWORD": "test-forwarder-password",
}


class Process:
    """A project subprocess with its log in a temp file (printed on failure)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.env = {**os.environ, **env, "PYTHONPATH": str(REPO / "operator")}
        self.log = Path(tempfile.mkstemp(prefix=f"lso-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        """SIGKILL: the crash a restart-safety test needs."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def receiver(kubeconfig: Path, namespace: str, **env: str) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        "hooks",
        [*CLI, "hooks", "--host", "127.0.0.1", "--port", str(port)],
        {"KUBECONFIG": str(kubeconfig), "LSO_NAMESPACE": namespace, **INTERNAL, **env},
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc=proc.proc)
    return proc, url


def operator(kubeconfig: Path, namespace: str, mediamtx_api: str, **env: str) -> Process:
    health = free_port()
    proc = Process(
        "operator",
        [*CLI, "operator"],
        {
            "KUBECONFIG": str(kubeconfig),
            "LSO_NAMESPACE": namespace,
            "LSO_MEDIAMTX_API_URL": mediamtx_api,
            "LSO_HEALTH_PORT": str(health),
            "LSO_METRICS_PORT": str(free_port()),
            "LSO_RESYNC_SECONDS": "1",
            **INTERNAL,
            **env,
        },
    )
    proc.start()
    wait_http(f"http://127.0.0.1:{health}/healthz", proc=proc.proc)
    return proc
