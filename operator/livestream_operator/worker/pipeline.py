"""Pure descriptions of the worker's GStreamer graph: no GStreamer import here.

The runner turns these descriptions into elements; keeping them as data makes
the codec policy and the element choices unit-testable without GStreamer, and
gives a `gst-launch-1.0` line to reproduce a worker by hand.

Graph (bypass):
    rtspsrc --video--> rtph264depay ! h264parse ! [video_in] ! [video_out] --> flvmux.video
            --audio--> rtpmp4gdepay ! aacparse  ! [audio_in] ! [audio_out] --> flvmux.audio
    flvmux streamable=true ! [mux_out] ! rtmp2sink
  where [x] is an `identity` named x whose counters the runner polls.

Graph (tone): the same video branch; the input's audio is not even set up, and
    audiotestsrc freq=440 ! audioconvert ! audioresample ! caps ! AAC encoder
      ! aacparse ! queue ! [audio_out] --> flvmux.audio
  feeds the muxer instead, its running time shifted to start with the first
  video frame.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from ..api.v1alpha1 import WorkerMode

PropValue = str | int | float | bool


@dataclass(frozen=True)
class Element:
    """One GStreamer element: factory name, optional name, properties in order."""

    factory: str
    props: tuple[tuple[str, PropValue], ...] = ()
    name: str | None = None

    def launch(self) -> str:
        parts = [self.factory]
        if self.name:
            parts.append(f"name={self.name}")
        parts += [f"{key}={_launch_value(value)}" for key, value in self.props]
        return " ".join(parts)


def _launch_value(value: PropValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return f'"{text}"' if any(c in text for c in ' ,;!"') else text


def prop_string(value: PropValue) -> str:
    """A property value as the string gst_util_set_object_arg() parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- codecs -----------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    media: str  # "video" | "audio" | other RTP media types
    encoding: str  # RTP encoding-name, upper case
    label: str  # for humans and metrics: "H.264", "H.265/HEVC", "Opus"
    supported: bool
    depay: str = ""
    parse: str = ""


# What the FLV output can carry without re-encoding.
_SUPPORTED: dict[tuple[str, str], tuple[str, str, str]] = {
    ("video", "H264"): ("H.264", "rtph264depay", "h264parse"),
    ("audio", "MPEG4-GENERIC"): ("AAC", "rtpmp4gdepay", "aacparse"),
    ("audio", "MP4A-LATM"): ("AAC", "rtpmp4adepay", "aacparse"),
}

# Names for the codecs MediaMTX can serve but the worker cannot pass through.
_LABELS = {
    "H265": "H.265/HEVC",
    "VP8": "VP8",
    "VP9": "VP9",
    "AV1": "AV1",
    "JPEG": "MJPEG",
    "MP4V-ES": "MPEG-4 Part 2",
    "MPV": "MPEG-1/2 video",
    "OPUS": "Opus",
    "PCMU": "G.711 mu-law",
    "PCMA": "G.711 A-law",
    "L16": "LPCM",
    "L24": "LPCM",
    "MPA": "MPEG-1/2 audio",
    "AC3": "AC-3",
    "G722": "G.722",
    "SPEEX": "Speex",
    "MP2T": "MPEG-TS",
}


def classify(media: str, encoding_name: str) -> Codec:
    """Classify an RTP stream from its caps' media and encoding-name fields."""
    media = media.lower()
    encoding = encoding_name.upper()
    known = _SUPPORTED.get((media, encoding))
    if known:
        label, depay, parse = known
        return Codec(media, encoding, label, True, depay, parse)
    return Codec(media, encoding, _LABELS.get(encoding, encoding or "unknown"), False)


class Action(enum.Enum):
    USE = "use"  # set the stream up and mux it
    SKIP = "skip"  # do not even SETUP it (saves the bandwidth)
    REJECT = "reject"  # the input is unusable for this mode


def decide(mode: WorkerMode, codec: Codec) -> Action:
    if codec.media == "video":
        return Action.USE if codec.supported else Action.REJECT
    if codec.media == "audio":
        if mode is WorkerMode.TONE:
            return Action.SKIP  # replaced by the tone whatever it is
        return Action.USE if codec.supported else Action.REJECT
    return Action.SKIP  # application/text streams are not forwarded


def required_media(mode: WorkerMode) -> frozenset[str]:
    """Media that must be among the used streams for the output to make sense."""
    return frozenset({"video"}) if mode is WorkerMode.TONE else frozenset()


def unsupported_reason(mode: WorkerMode, codec: Codec) -> str:
    need = "H.264" if codec.media == "video" else "AAC"
    return (
        f"unsupported {codec.media} codec {codec.label} "
        f"(encoding-name {codec.encoding}): the {mode.value} worker needs {need}"
    )


# --- elements ---------------------------------------------------------------

# Jitter-buffer latency. Over TCP packets arrive in order, and in-order packets
# leave the jitter buffer at once, so this only bounds the wait for a gap.
DEFAULT_LATENCY_MS = 100
TONE_RATE = 44100  # the FLV audio header has a flag for 44.1 kHz, not for 48 kHz
TONE_CHANNELS = 2
AAC_ENCODERS = ("voaacenc", "avenc_aac")
# rtmp2sink: connects asynchronously, has I/O timeouts, and measured ~20% less
# CPU than librtmp's rtmpsink for the same stream. rtmpsink is the fallback.
RTMP_SINKS = ("rtmp2sink", "rtmpsink")


def source(url: str, latency_ms: int = DEFAULT_LATENCY_MS) -> Element:
    return Element(
        "rtspsrc",
        (
            ("location", url),
            ("protocols", "tcp"),
            ("latency", latency_ms),
            # Send TEARDOWN on stop, but do not let a dead server hold us up.
            ("teardown-timeout", 500_000_000),
        ),
        name="src",
    )


def counter(name: str) -> Element:
    """A pass-through element whose `stats` (num-buffers, num-bytes) the runner
    polls: counting in C keeps Python out of the per-frame path."""
    return Element("identity", (("silent", True), ("signal-handoffs", False)), name=name)


def counter_name(media: str, side: str) -> str:
    """Name of the counter of `media` ("video", "audio", "mux") on `side` ("in", "out")."""
    return f"{media}_{side}"


def track_chain(codec: Codec) -> list[Element]:
    """Depayload and parse one supported RTP stream into FLV-ready frames."""
    if not codec.supported:
        raise ValueError(f"no chain for unsupported codec {codec.label}")
    # No re-encode and no parser options: the frames leave as they came in.
    # No queue either: rtspsrc's jitter buffers already give each track its
    # own thread, and a queue costs a thread hand-off per frame. The runner
    # holds frames between the two counters until every track is linked.
    return [
        Element(codec.depay),
        Element(codec.parse),
        counter(counter_name(codec.media, "in")),
        counter(counter_name(codec.media, "out")),
    ]


def tone_chain(freq_hz: float, encoder: str) -> list[Element]:
    # is-live=false: the muxer paces it against the video, and its timestamps
    # are exact sample counts, so the tone cannot drift from the video.
    return [
        Element(
            "audiotestsrc",
            (("wave", "sine"), ("freq", freq_hz), ("is-live", False), ("volume", 0.5)),
            name="tone",
        ),
        Element("audioconvert"),
        Element("audioresample"),
        Element(
            "capsfilter",
            (("caps", f"audio/x-raw,format=S16LE,rate={TONE_RATE},channels={TONE_CHANNELS}"),),
        ),
        Element(encoder, (("bitrate", 128000),)),
        Element("aacparse"),
        Element(
            "queue",
            (("max-size-time", 500_000_000), ("max-size-buffers", 0), ("max-size-bytes", 0)),
            name="audio_q",
        ),
        counter(counter_name("audio", "out")),
    ]


def mux() -> Element:
    return Element("flvmux", (("streamable", True),), name="mux")


def sink(url: str, factory: str = RTMP_SINKS[0]) -> Element:
    props: list[tuple[str, PropValue]] = [("location", url)]
    # No clock sync: forward each frame as soon as it is muxed (lowest latency);
    # the timestamps in the stream carry the timing.
    # No last-sample: it would keep a reference to every buffer for nothing.
    props += [("sync", False), ("enable-last-sample", False)]
    return Element(factory, tuple(props), name="out")


def with_credentials(rtmp_url: str, user: str, password: str) -> str:
    """The RTMP URL with MediaMTX's query credentials (how RTMP carries a user)."""
    if not user:
        return rtmp_url
    query = urlencode({"user": user, "pass": password})
    return f"{rtmp_url}{'&' if '?' in rtmp_url else '?'}{query}"


def output_chain(url: str, factory: str = RTMP_SINKS[0]) -> list[Element]:
    """flvmux and what follows it."""
    return [mux(), counter(counter_name("mux", "out")), sink(url, factory)]


def pick(preferred: Iterable[str], available: Iterable[str]) -> str | None:
    have = set(available)
    return next((f for f in preferred if f in have), None)


def required_factories(mode: WorkerMode) -> list[tuple[str, ...]]:
    """Alternatives per role; each tuple needs at least one installed factory."""
    roles: list[tuple[str, ...]] = [
        ("rtspsrc",),
        ("rtph264depay",),
        ("h264parse",),
        ("flvmux",),
        ("queue",),
        ("identity",),
        RTMP_SINKS,
    ]
    if mode is WorkerMode.BYPASS:
        roles += [("rtpmp4gdepay",), ("rtpmp4adepay",), ("aacparse",)]
    else:
        roles += [
            ("audiotestsrc",),
            ("audioconvert",),
            ("audioresample",),
            ("capsfilter",),
            AAC_ENCODERS,
            ("aacparse",),
        ]
    return roles


def launch_line(
    mode: WorkerMode,
    input_url: str,
    output_url: str,
    *,
    tone_hz: float = 440.0,
    latency_ms: int = DEFAULT_LATENCY_MS,
    encoder: str = AAC_ENCODERS[0],
    sink_factory: str = RTMP_SINKS[0],
) -> str:
    """The equivalent `gst-launch-1.0` pipeline for an H.264 + AAC input."""

    def chain(elements: list[Element]) -> str:
        return " ! ".join(e.launch() for e in elements)

    video = classify("video", "H264")
    parts = [
        source(input_url, latency_ms).launch(),
        f"src. ! application/x-rtp,media=video ! {chain(track_chain(video))} ! mux.video",
    ]
    if mode is WorkerMode.BYPASS:
        audio = classify("audio", "MPEG4-GENERIC")
        parts.append(
            f"src. ! application/x-rtp,media=audio ! {chain(track_chain(audio))} ! mux.audio"
        )
    else:
        parts.append(f"{chain(tone_chain(tone_hz, encoder))} ! mux.audio")
    parts.append(chain(output_chain(output_url, sink_factory)))
    return "  ".join(parts)


# --- output inspection ------------------------------------------------------

_FLV_TRACKS = {8: "audio", 9: "video"}


def flv_tag(head: bytes) -> tuple[str, int] | None:
    """(track, timestamp in ms) of an FLV tag from its first 8 bytes, else None.

    flvmux pushes one tag per buffer; the FLV header and script tags give None.
    The timestamp is 24 bits plus an extension byte holding bits 24-31.
    """
    if len(head) < 8 or head[0] & 0x1F not in _FLV_TRACKS:
        return None
    ts = (head[7] << 24) | (head[4] << 16) | (head[5] << 8) | head[6]
    return _FLV_TRACKS[head[0] & 0x1F], ts


# --- retry policy -----------------------------------------------------------


def backoff(attempt: int, *, base: float = 0.5, cap: float = 5.0) -> float:
    """Delay before retry number `attempt` (0-based): 0.5, 1, 2, 4, 5, 5, ...

    The cap is short because a publisher that comes back should be picked up
    within seconds; the operator, not the worker, decides when to give up.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    return float(min(cap, base * 2 ** min(attempt, 32)))
