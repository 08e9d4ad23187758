"""A real kube-apiserver and etcd (and optionally kube-controller-manager for
garbage collection), started from binaries that hack/build-k8s.sh builds, in the
spirit of controller-runtime's envtest. No kubelet runs: tests patch Pod status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from ssl import CERT_NONE, create_default_context

from .ports import free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "lso-envtest-admin-token"


class Unavailable(RuntimeError):
    """A prerequisite (binaries, ports) is missing."""


def binaries(
    names: tuple[str, ...] = ("kube-apiserver", "etcd", "kube-controller-manager"),
) -> Path:
    """The directory with the binaries, building them (slow, cached) if needed."""
    configured = os.environ.get("LSO_K8S_BIN_DIR")
    if configured:
        return Path(configured)
    try:
        out = subprocess.run(
            ["bash", str(REPO / "hack/build-k8s.sh"), *names],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        raise Unavailable(f"hack/build-k8s.sh failed: {stderr[-2000:]}") from None
    return Path(out.stdout.strip().splitlines()[-1])


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    ctx = create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"{log.stem} exited: {log.read_text()[-3000:]}")
        try:
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, timeout=1, context=ctx) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise Unavailable(f"{url} did not answer in {timeout}s: {log.read_text()[-3000:]}")


@dataclass
class ControlPlane:
    bin_dir: Path
    with_controller_manager: bool = True
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lso-envtest-")))
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    url: str = ""
    kubeconfig: Path = Path()

    def start(self) -> ControlPlane:
        d = self.workdir
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--data-dir",
                str(d / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        subprocess.run(
            ["openssl", "genrsa", "-out", str(d / "sa.key"), "2048"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(d / "sa.key"), "-pubout", "-out", str(d / "sa.pub")],
            check=True,
            capture_output=True,
        )
        (d / "tokens.csv").write_text(f'{TOKEN},envtest-admin,1,"system:masters"\n')
        self.url = f"https://127.0.0.1:{api_port}"
        api = self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                "--etcd-servers",
                etcd_url,
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(api_port),
                "--cert-dir",
                str(d / "certs"),
                "--token-auth-file",
                str(d / "tokens.csv"),
                "--authorization-mode",
                "RBAC",
                "--service-cluster-ip-range",
                "10.96.0.0/16",
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-account-key-file",
                str(d / "sa.pub"),
                "--service-account-signing-key-file",
                str(d / "sa.key"),
                # No service-account controller runs to create the default accounts.
                "--disable-admission-plugins",
                "ServiceAccount",
                "--allow-privileged=true",
            ],
        )
        _wait_http(f"{self.url}/readyz", 60, api, d / "kube-apiserver.log")
        self.kubeconfig = d / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: envtest\n  cluster:\n    server: {self.url}\n"
            "    insecure-skip-tls-verify: true\n"
            f"users:\n- name: admin\n  user:\n    token: {TOKEN}\n"
            "contexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: admin\n"
            "current-context: envtest\n"
        )
        if self.with_controller_manager:
            # Only the garbage collector: it deletes Pods whose LiveStream is gone.
            self._spawn(
                "kube-controller-manager",
                [
                    str(self.bin_dir / "kube-controller-manager"),
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--controllers",
                    "garbagecollector,namespace",
                    "--leader-elect=false",
                    "--secure-port",
                    "0",
                    "--concurrent-gc-syncs",
                    "5",
                ],
            )
        return self

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
