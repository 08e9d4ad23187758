"""Helpers for the end-to-end tests and benchmarks: kubectl, helm, ffmpeg publishers.

Cluster-agnostic: everything goes through `kubectl`/`helm` with the current
KUBECONFIG. Defaults match hack/up.sh; override with:

  KUBECONFIG            the cluster (default: hack/up.sh's kind kubeconfig if present)
  LSO_E2E_NAMESPACE     namespace of the installed release (else LSO_RELEASE_NAMESPACE or
                        LSO_NAMESPACE, as for hack/up.sh; default livestream)
  LSO_E2E_RELEASE       Helm release name (else LSO_RELEASE; default livestream-operator)
  LSO_E2E_RTMP_URL      RTMP base URL reachable from this host
  LSO_E2E_RTSP_URL      RTSP base URL (rtsp://host:port)
  LSO_E2E_SRT_URL       SRT base URL (srt://host:port)

Without them, the publish URLs come from hack/up.sh's kind node (CLUSTER_NAME):
the host port kind maps to each NodePort (LSO_{RTMP,RTSP,SRT}_HOST_PORT: 1935,
8554, 8890), or, for a cluster created before a mapping existed, the node
container's address and the NodePort (LSO_{RTMP,RTSP,SRT}_NODE_PORT: 31935,
30554, 30890); else 127.0.0.1 and the host port.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from livestream_operator.api import stream_keys
from tests.support import sessions
from tests.support.media_files import encode_test_file
from tests.support.tools import CACHE_DIR, tool
from tests.support.waiting import GiveUp, wait_for

REPO = Path(__file__).resolve().parents[2]
GROUP = "media.livestream-operator.dev"
API_VERSION = f"{GROUP}/v1alpha1"
MANAGED_BY = "app.kubernetes.io/managed-by=livestream-operator"
STREAM_LABEL = "media.livestream-operator.dev/stream"
POOL_LABEL = "media.livestream-operator.dev/pool"

T = TypeVar("T")


def _env_port(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit():
        raise ValueError(f"{name}={value!r} is not a port number")
    return int(value)


@functools.cache
def _kind_node_network() -> dict[str, Any]:
    """`docker inspect`'s NetworkSettings of hack/up.sh's kind node; {} if none."""
    docker = shutil.which("docker")
    if docker is None or os.environ.get("LSO_E2E_KUBECONFIG"):  # not hack/up.sh's cluster
        return {}
    node = f"{os.environ.get('CLUSTER_NAME', 'livestream')}-control-plane"
    try:
        proc = subprocess.run(
            [docker, "inspect", "-f", "{{json .NetworkSettings}}", node],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        settings: dict[str, Any] = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def ingest_url(scheme: str, host_port: int, node_port: int, transport: str = "tcp") -> str:
    """The base URL (scheme://host:port) where publishers of `scheme` reach MediaMTX
    from this host: LSO_E2E_<SCHEME>_URL; else on hack/up.sh's kind node the host
    port kind maps to the NodePort, or, where the cluster was created without that
    mapping, the node container's own address and the NodePort (the host reaches
    Docker's network directly); else 127.0.0.1:<host_port>."""
    override = os.environ.get(f"LSO_E2E_{scheme.upper()}_URL")
    if override:
        return override.rstrip("/")
    network = _kind_node_network()
    for binding in (network.get("Ports") or {}).get(f"{node_port}/{transport}") or []:
        host = binding.get("HostIp") or "127.0.0.1"
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"{scheme}://{host}:{binding['HostPort']}"
    for net in (network.get("Networks") or {}).values():
        if net.get("IPAddress"):
            return f"{scheme}://{net['IPAddress']}:{node_port}"
    return f"{scheme}://127.0.0.1:{host_port}"


def _default_kubeconfig() -> str | None:
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    cluster = os.environ.get("CLUSTER_NAME", "livestream")
    kind_cfg = CACHE_DIR / f"kind-{cluster}.kubeconfig"
    return str(kind_cfg) if kind_cfg.exists() else None


# The kind of each of the chart's workloads: MediaMTX is a StatefulSet, for its
# instances' stable names (<fullname>-mediamtx-0, ...).
WORKLOADS = {"operator": "deployment", "hooks": "deployment", "mediamtx": "statefulset"}


@dataclass(frozen=True)
class Config:
    namespace: str = os.environ.get(
        "LSO_E2E_NAMESPACE",
        os.environ.get("LSO_RELEASE_NAMESPACE", os.environ.get("LSO_NAMESPACE", "livestream")),
    )
    release: str = os.environ.get(
        "LSO_E2E_RELEASE", os.environ.get("LSO_RELEASE", "livestream-operator")
    )
    rtmp_url: str = field(
        default_factory=lambda: ingest_url(
            "rtmp", _env_port("LSO_RTMP_HOST_PORT", 1935), _env_port("LSO_RTMP_NODE_PORT", 31935)
        )
    )
    rtsp_url: str = field(
        default_factory=lambda: ingest_url(
            "rtsp", _env_port("LSO_RTSP_HOST_PORT", 8554), _env_port("LSO_RTSP_NODE_PORT", 30554)
        )
    )
    srt_url: str = field(
        default_factory=lambda: ingest_url(
            "srt",
            _env_port("LSO_SRT_HOST_PORT", 8890),
            _env_port("LSO_SRT_NODE_PORT", 30890),
            "udp",
        )
    )
    kubeconfig: str | None = field(default_factory=_default_kubeconfig)

    @property
    def fullname(self) -> str:
        """The chart's object name prefix (see lso.fullname in the chart)."""
        return fullname(self.release)

    def component(self, name: str) -> str:
        return f"{self.fullname}-{name}"


def fullname(release: str, chart: str = "livestream-operator") -> str:
    return release if chart in release else f"{release}-{chart}"


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Kube:
    """kubectl/helm against one namespace."""

    def __init__(self, cfg: Config, namespace: str | None = None) -> None:
        self.cfg = cfg
        self.ns = namespace or cfg.namespace
        kubectl, helm = tool("kubectl"), tool("helm")
        if kubectl is None:
            raise FileNotFoundError("kubectl not found (hack/build-tools.sh provides it)")
        self.kubectl_bin = kubectl
        self.helm_bin = helm
        self.env = dict(os.environ)
        if cfg.kubeconfig:
            self.env["KUBECONFIG"] = cfg.kubeconfig

    def in_namespace(self, namespace: str) -> Kube:
        return Kube(self.cfg, namespace)

    # -- raw commands
    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
        namespaced: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl_bin, *(["-n", self.ns] if namespaced else []), *args]
        proc = subprocess.run(
            cmd, input=input, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def helm(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        if self.helm_bin is None:
            raise FileNotFoundError("helm not found (hack/build-tools.sh provides it)")
        cmd = [self.helm_bin, "--namespace", self.ns, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def get_or_none(self, kind: str, name: str) -> dict[str, Any] | None:
        proc = self.kubectl("get", kind, name, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise RuntimeError(proc.stderr.strip())
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
        items = manifest if isinstance(manifest, list) else [manifest]
        body = {"apiVersion": "v1", "kind": "List", "items": items}
        self.kubectl("apply", "-f", "-", input=json.dumps(body))

    def delete(self, kind: str, *names: str, wait: bool = False) -> None:
        self.kubectl(
            "delete",
            kind,
            *names,
            "--ignore-not-found",
            f"--wait={'true' if wait else 'false'}",
            timeout=180,
        )

    def chart_image(self, component: str) -> str:
        """The image the installed release runs for a component (worker, forwarder...)."""
        values = json.loads(
            self.helm("get", "values", self.cfg.release, "--all", "-o", "json").stdout
        )
        image = values["images"][component]
        tag = image.get("tag") or values["image"].get("tag") or "0.1.0"
        registry = values["image"].get("registry")
        return f"{registry + '/' if registry else ''}{image['repository']}:{tag}"

    # -- project objects
    def stream_key(self, stream_id: str) -> str:
        """A new key Secret for the stream (as `livestream-operator keys` writes it)."""
        key = stream_keys.generate_key()
        self.apply(stream_keys.to_secret(stream_id, key, self.ns))
        # The receivers' watch sees the Secret within milliseconds; a publish
        # racing it would be refused.
        time.sleep(1.0)
        return key

    def publish_url(self, stream_id: str, role: str = "in", key: str | None = None) -> str:
        """Where a publisher of the stream pushes (`in`, or `backup` for the backup
        publish point, keyed alike), its key in the query (OBS's form); a new key
        Secret unless `key` is given."""
        key = key or self.stream_key(stream_id)
        return f"{self.cfg.rtmp_url}/live/{stream_id}/{role}?key={key}"

    def livestream(self, name: str) -> dict[str, Any] | None:
        return self.get_or_none("livestreams", name)

    def livestreams(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get_json("livestreams")["items"]
        return items

    def managed_pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get_json("pods", "-l", MANAGED_BY)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def pod(self, name: str) -> dict[str, Any] | None:
        return self.get_or_none("pod", name)

    def worker(self, livestream: str) -> dict[str, Any] | None:
        """The LiveStream's worker Pod, found by its labels: a claimed warm-pool
        worker keeps the name the pool gave it."""
        selector = f"{STREAM_LABEL}={livestream},app.kubernetes.io/component=worker"
        items: list[dict[str, Any]] = self.get_json("pods", "-l", selector)["items"]
        alive = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        return alive[0] if alive else None

    def pool_pods(self, state: str = "idle") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get_json("pods", "-l", f"{POOL_LABEL}={state}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_idle_workers(self) -> set[str]:
        """Names of the warm workers a new stream could claim now."""
        return {p["metadata"]["name"] for p in self.pool_pods("idle") if pod_ready(p)}

    def wait_phase(
        self, name: str, phase: str, timeout: float, publisher: Publisher | None = None
    ) -> dict[str, Any]:
        """Wait for the phase; fails at once if `publisher` has exited meanwhile."""
        last: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            if publisher is not None:
                publisher.check()
            ls = self.livestream(name)
            last["status"] = (ls or {}).get("status")
            return ls if ls and (ls.get("status") or {}).get("phase") == phase else None

        try:
            return wait_for(probe, timeout, f"LiveStream {self.ns}/{name} phase {phase}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast status: {json.dumps(last.get('status'))}") from None

    def diagnostics(self) -> str:
        """What an engineer looks at first when an end-to-end test fails."""
        parts = []
        for title, args in (
            ("pods", ("get", "pods", "-o", "wide")),
            ("livestreams", ("get", "livestreams", "-o", "wide")),
            ("events", ("get", "events", "--sort-by=.lastTimestamp")),
            ("operator log", ("logs", f"deployment/{self.cfg.component('operator')}", "--tail=40")),
            ("hooks log", ("logs", f"deployment/{self.cfg.component('hooks')}", "--tail=20")),
        ):
            try:
                proc = self.kubectl(*args, check=False, timeout=30)
                text = proc.stdout if proc.returncode == 0 else proc.stderr
            except (OSError, subprocess.SubprocessError) as exc:
                text = str(exc)
            lines = text.strip().splitlines()
            parts.append(f"--- {title}\n" + "\n".join(lines[-40:]))
        return "\n".join(parts)

    def wait_gone(self, kind: str, name: str, timeout: float) -> None:
        wait_for(
            lambda: self.get_or_none(kind, name) is None,
            timeout,
            f"{kind} {self.ns}/{name} to be gone",
        )

    def rolled_out(self, kind: str, name: str) -> bool:
        """Whether a Deployment or StatefulSet runs its spec: every replica updated and
        ready (a StatefulSet's current revision is its update revision too)."""
        d = self.get_or_none(kind, name)
        if not d:
            return False
        want = d["spec"].get("replicas", 1)
        st = d.get("status") or {}
        return bool(
            st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) == want
            and st.get("readyReplicas", 0) == want
            and st.get("replicas", 0) == want
            and st.get("currentRevision") == st.get("updateRevision")
        )

    def deployment_ready(self, name: str) -> bool:
        return self.rolled_out("deployment", name)


def pod_running(pod: dict[str, Any] | None) -> bool:
    return bool(pod and (pod.get("status") or {}).get("phase") == "Running")


def pod_ready(pod: dict[str, Any] | None) -> bool:
    if not pod:
        return False
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


class PortForward:
    """`kubectl port-forward <target> :<port>` on a free local port."""

    def __init__(self, kube: Kube, target: str, port: int) -> None:
        self.kube, self.target, self.remote = kube, target, port
        self.proc: subprocess.Popen[str] | None = None
        self.local = 0

    def start(self, timeout: float = 30) -> PortForward:
        self.proc = subprocess.Popen(
            [
                self.kube.kubectl_bin,
                "-n",
                self.kube.ns,
                "port-forward",
                "--address",
                "127.0.0.1",
                self.target,
                f":{self.remote}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.kube.env,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if m:
                self.local = int(m.group(1))
                # Keep draining the output so kubectl never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.stop()
        raise RuntimeError(f"kubectl port-forward {self.target} did not start")

    def _drain(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class MediaMTXApi:
    """MediaMTX's Control API through a port-forward (restarted if it drops)."""

    def __init__(self, kube: Kube, target: str, port: int = 9997) -> None:
        self.kube, self.target, self.port = kube, target, port
        self.pf: PortForward | None = None
        self._auth = ""

    def authorization(self) -> str:
        """The operator's credentials, read from the chart's internal Secret: MediaMTX
        grants its Control API to nobody else."""
        if not self._auth:
            secret = self.kube.get_json("secret", self.kube.cfg.component("internal"))
            password = base64.b64decode(secret["data"]["operator-password"]).decode()
            self._auth = "Basic " + base64.b64encode(f"lso-operator:{password}".encode()).decode()
        return self._auth

    def _base(self) -> str:
        if self.pf is None or not self.pf.alive():
            if self.pf:
                self.pf.stop()
            self.pf = PortForward(self.kube, self.target, self.port).start()
        return f"http://127.0.0.1:{self.pf.local}"

    def get(self, path: str) -> dict[str, Any] | None:
        url = f"{self._base()}/v3/paths/get/{urllib.parse.quote(path, safe='')}"
        request = urllib.request.Request(url, headers={"Authorization": self.authorization()})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                body: dict[str, Any] = json.load(resp)
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def available(self, path: str) -> bool:
        body = self.get(path)
        return bool(body and (body.get("available") or body.get("ready")))

    def close(self) -> None:
        if self.pf:
            self.pf.stop()


SINK_CONFIG = """\
logLevel: info
rtmp: true
rtmpAddress: :1935
rtsp: false
hls: false
webrtc: false
srt: false
api: true
apiAddress: :9997
authInternalUsers:
  - user: any
    pass:
    ips: []
    permissions:
      - action: publish
      - action: read
      - action: api
paths:
  all_others: {}
"""


def _sink_manifests(kube: Kube, name: str) -> list[dict[str, Any]]:
    mediamtx = kube.get_json(WORKLOADS["mediamtx"], kube.cfg.component("mediamtx"))
    image = mediamtx["spec"]["template"]["spec"]["containers"][0]["image"]
    labels = {"app.kubernetes.io/name": name}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"mediamtx.yml": SINK_CONFIG},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "mediamtx",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["/etc/sink/mediamtx.yml"],
                        "ports": [{"containerPort": 1935}, {"containerPort": 9997}],
                        "readinessProbe": {"tcpSocket": {"port": 1935}, "periodSeconds": 2},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/sink"}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": name}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": labels,
                "ports": [{"name": "rtmp", "port": 1935}, {"name": "api", "port": 9997}],
            },
        },
    ]


class Sink:
    """A MediaMTX Pod standing in for a third-party RTMP destination (YouTube,
    Twitch): forwarders push to `url(path)`, and `session(path)` tells whether the
    incoming publish session stayed the same (a new one is a new broadcast)."""

    def __init__(self, kube: Kube, name: str) -> None:
        self.kube, self.name = kube, name
        self.api = MediaMTXApi(kube, f"pod/{name}", 9997)

    def url(self, path: str) -> str:
        return f"rtmp://{self.name}.{self.kube.ns}.svc:1935/{path}"

    def start(self) -> Sink:
        self.kube.apply(_sink_manifests(self.kube, self.name))
        wait_for(lambda: pod_running(self.kube.pod(self.name)), 120, f"{self.name} ready")
        return self

    def session(self, path: str) -> str | None:
        """The id of the publish session on `path`, None while nothing publishes."""
        info = self.api.get(path)
        source = (info or {}).get("source")
        if not (info and info.get("ready") and isinstance(source, dict)):
            return None
        return str(source["id"])

    def inbound_bytes(self, path: str) -> int:
        return int((self.api.get(path) or {}).get("inboundBytes", 0))

    def delete(self) -> None:
        self.api.close()
        for kind in ("pod", "service", "configmap"):
            self.kube.delete(kind, self.name)


class SessionWatch(sessions.SessionWatch):
    """A sink's publish session on `path`, twice a second."""

    def __init__(self, sink: Sink, path: str, every: float = 0.5) -> None:
        super().__init__(lambda: sink.session(path), every, (OSError, urllib.error.URLError))


# ------------------------------------------------------------------ publishers


def lavfi_args(size: str = "320x240", rate: int = 15, sine_hz: int = 440) -> list[str]:
    """A synthetic H.264/AAC source, cheap to encode."""
    return [
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={sine_hz}:sample_rate=44100",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        str(rate),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
    ]


def pre_encoded(seconds: int = 10, size: str = "1280x720", rate: int = 30) -> Path:
    """A cached pre-encoded FLV file, so publishers can send it with -c copy."""
    path = CACHE_DIR / "media" / f"testsrc2-{size}-{rate}-{seconds}s.flv"
    return encode_test_file(path, seconds, size, rate, sine_hz=440, pattern="testsrc2")


# The container each publish protocol carries, by the URL's scheme.
_MUXERS = {
    "rtmp": ["-f", "flv"],
    "rtsp": ["-f", "rtsp", "-rtsp_transport", "tcp"],
    "srt": ["-f", "mpegts"],
}


class Publisher:
    """An ffmpeg publisher running in the background: RTMP, RTSP or SRT by the
    URL's scheme."""

    def __init__(
        self, url: str, input_args: list[str] | None = None, seconds: float | None = None
    ) -> None:
        self.url = url
        ffmpeg = tool("ffmpeg")
        if ffmpeg is None:
            raise FileNotFoundError("ffmpeg not found (apt install ffmpeg)")
        args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"]
        args += input_args if input_args is not None else lavfi_args()
        if seconds is not None:
            args += ["-t", str(seconds)]
        args += [*_MUXERS.get(urllib.parse.urlsplit(url).scheme, _MUXERS["rtmp"]), url]
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives with the process
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        """Raise GiveUp, with ffmpeg's output, if the publisher has exited."""
        code = self.proc.poll()
        if code is not None:
            raise GiveUp(f"the publisher to {self.url} exited ({code}):\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def publishing(url: str, **kwargs: Any) -> Iterator[Publisher]:
    pub = Publisher(url, **kwargs)
    try:
        yield pub
    finally:
        pub.stop()


def livestream_manifest(name: str, stream_id: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "LiveStream",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"streamId": stream_id, **spec},
    }


def owner_livestream(pod: dict[str, Any]) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "LiveStream":
            name: str = ref["name"]
            return name
    return None
