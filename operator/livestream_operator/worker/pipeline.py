"""Pure descriptions of the worker's GStreamer graph: no GStreamer import here.

The runner turns these descriptions into elements; keeping them as data makes
the codec policy and the element choices unit-testable without GStreamer, and
gives a `gst-launch-1.0` line to reproduce a worker by hand.

Graph (bypass), the input side:
    rtspsrc --video--> rtph264depay ! h264parse ! [video_in] ! [video_out] --> out
            --audio--> rtpmp4gdepay ! aacparse  ! [audio_in] ! [audio_out] --> out
  where [x] is an `identity` named x whose counters the runner polls, and `out`
  is one of the two outputs, picked by the output URL's scheme:

    rtsp://, rtsps:// (the default): no muxer; one request pad per track,
      [audio_out] --> rtspclientsink.sink_0   (payloaded by rtpmp4gpay)
      [video_out] --> rtspclientsink.sink_1   (payloaded by rtph264pay)
      (requested in that order: it announces the newest pad first)
    rtmp://, rtmps://:
      [video_out] --> flvmux.video
      [audio_out] --> flvmux.audio
      flvmux streamable=true ! [mux_out] ! rtmp2sink

Graph (tone): the same video branch; the input's audio is not even set up, and
    audiotestsrc freq=440 ! audioconvert ! audioresample ! caps ! AAC encoder
      ! aacparse ! queue [! clocksync] ! [audio_out] --> out (audio)
  feeds the output instead, its running time shifted to start with the first
  video frame. flvmux paces it against the video; rtspclientsink does not wait
  for anything, so for RTSP a clocksync releases it in real time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..api import backend_protocol
from ..api.pod_contract import OUTPUT_AUDIO
from ..api.v1alpha1 import PROCESSING_MARGIN_MS, OutputProtocol, WorkerMode
from ..backoff import exponential

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


# What both outputs (FLV over RTMP, RTP over RTSP) carry without re-encoding.
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
    if mode is WorkerMode.TONE:
        return frozenset({"video"})
    if mode is WorkerMode.PROCESS:
        return frozenset({"audio"})
    return frozenset()


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
TONE_RATE, TONE_CHANNELS = OUTPUT_AUDIO[WorkerMode.TONE]
AAC_ENCODERS = ("voaacenc", "avenc_aac")
# rtmp2sink: connects asynchronously, has I/O timeouts, and measured ~20% less
# CPU than librtmp's rtmpsink for the same stream. rtmpsink is the fallback.
RTMP_SINKS = ("rtmp2sink", "rtmpsink")
RTSP_SINK = "rtspclientsink"
# MediaMTX (gortsplib) answers every SETUP from a User-Agent that starts with
# "GStreamer" one second late, a workaround for an old rtspclientsink bug that
# GStreamer 1.22 does not have: with the default agent a two-track input costs
# 2 s before its first frame, and an RTSP output 2 s more before RECORD.
USER_AGENT = "livestream-operator-worker"
# MediaMTX holds an RTSP reader of live/<id>/in that arrives before the
# publisher in DESCRIBE for up to runOnDemandStartTimeout (mediamtx.yml), then
# refuses it (400 in MediaMTX 1.20); the operator starts the worker ~2 s before
# an RTMP publish is available. RTSP's own timeouts must outlast that hold.
INPUT_HOLD_S = 10.0
RTSP_TIMEOUT_US = int((INPUT_HOLD_S + 5) * 1_000_000)

OUTPUT_SCHEMES = {
    "rtsp": OutputProtocol.RTSP,
    "rtsps": OutputProtocol.RTSP,
    "rtmp": OutputProtocol.RTMP,
    "rtmps": OutputProtocol.RTMP,
}
# Tracks are announced in this order (MediaMTX lists them so), whatever order
# they arrive in.
TRACK_ORDER = ("video", "audio")


def output_protocol(url: str) -> OutputProtocol:
    """The output a URL asks for, from its scheme (ValueError for others)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in OUTPUT_SCHEMES:
        raise ValueError(f"unsupported output scheme {scheme!r}: use {'/'.join(OUTPUT_SCHEMES)}")
    return OUTPUT_SCHEMES[scheme]


def source(url: str, latency_ms: int = DEFAULT_LATENCY_MS) -> Element:
    return Element(
        "rtspsrc",
        (
            ("location", url),
            ("protocols", "tcp"),
            ("latency", latency_ms),
            # Send TEARDOWN on stop, but do not let a dead server hold us up.
            ("teardown-timeout", 500_000_000),
            ("timeout", RTSP_TIMEOUT_US),
            ("tcp-timeout", RTSP_TIMEOUT_US),
            ("user-agent", USER_AGENT),
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
    """Depayload and parse one supported RTP stream into output-ready frames."""
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


def normalised_audio_chain(codec: Codec, encoder: str) -> list[Element]:
    """Bypass mode's audio when out declares its format (spec.inputLoss.fill Slate):
    the input's AAC decoded and re-encoded to OUTPUT_AUDIO, whatever rate and
    channels the publisher sends, so a publisher that comes back with other audio
    is still taken by MediaMTX. The video stays untouched."""
    head, parse, count_in, count_out = track_chain(codec)
    rate, channels = OUTPUT_AUDIO[WorkerMode.BYPASS]
    return [
        head,
        parse,
        count_in,
        Element(AUDIO_DECODER),
        *pcm_convert(rate, channels),
        *aac_encode(encoder),
        count_out,
    ]


# spec.inputLoss.holdLastFrameSeconds: the video track keeps its newest keyframe
# (SPS/PPS in its caps or in-band) at a side branch, all in C: a tee before the
# video_out counter, an identity that drops every delta unit, a fakesink whose
# last-sample is that keyframe. hold.py decodes it only once the input is lost.
KEYFRAME_TEE = "video_keep"
LAST_KEYFRAME = "video_last_key"


def with_keyframe_tap(chain: list[Element]) -> list[Element]:
    """A video track's chain with KEYFRAME_TEE before its video_out counter."""
    out = counter_name("video", "out")
    at = next(i for i, e in enumerate(chain) if e.name == out)
    return [*chain[:at], Element("tee", name=KEYFRAME_TEE), *chain[at:]]


def keyframe_tap() -> list[Element]:
    """The side branch off KEYFRAME_TEE that keeps the newest keyframe."""
    return [
        Element("identity", (("drop-buffer-flags", "delta-unit"), ("silent", True))),
        Element(
            "fakesink",
            (("sync", False), ("async", False), ("enable-last-sample", True)),
            name=LAST_KEYFRAME,
        ),
    ]


HOLD_SOURCE = "hold_src"  # the appsrc the held keyframe is pushed into
HOLD_FPS = 30  # without a declared rate in the input's caps
# The still picture's encoder: openh264 (gstreamer1.0-plugins-bad; x264 is not
# installed). A still costs bits only at its keyframes: one every 2 s, at a rate
# that keeps the picture sharp.
HOLD_ENCODER = "openh264enc"
HOLD_BITRATE = 4_000_000


# What a hold needs beyond an attempt's elements; without them the slate plays at once.
HOLD_FACTORIES = ("appsrc", "avdec_h264", "imagefreeze", "videoconvert", HOLD_ENCODER, "clocksync")


def hold_url(input_url: str, output_url: str) -> str:
    """Where a hold publishes: out over RTSP, on out's MediaMTX (with several
    instances, a backup input may be on another one), at the RTSP port the input
    is read from.

    Whatever the worker's output (spec.worker.output): MediaMTX analyses an RTMP
    publish for 2 s before it takes it, which the slate would fill between the
    live picture and the still; an RTSP publish is taken at RECORD.
    """
    source, out = urlsplit(input_url), urlsplit(output_url)
    userinfo, _, _ = source.netloc.rpartition("@")
    netloc = (userinfo + "@" if userinfo else "") + (out.hostname or source.hostname or "")
    if source.port is not None:
        netloc += f":{source.port}"
    return urlunsplit((source.scheme, netloc, out.path, out.query, ""))


def hold_fps(rate: float | None) -> int:
    """The still's frame rate: the input's declared one, rounded, or HOLD_FPS."""
    if rate is None or not 1 <= rate <= 120:
        return HOLD_FPS
    return round(rate)


def hold_video_chain(fps: int) -> list[Element]:
    """The held keyframe, decoded once and repeated at `fps` as H.264.

    Not live: its frames are numbered from 0, and the clocksync releases them in
    real time; while MediaMTX answers ANNOUNCE/SETUP/RECORD they wait, then go at
    once, so the timestamps out has keep one frame interval apart (a live still
    would skip the time the handshake took: a gap at every reader)."""
    return [
        Element("appsrc", (("format", "time"), ("is-live", False)), name=HOLD_SOURCE),
        Element("h264parse"),
        Element("avdec_h264"),
        Element("videoconvert"),
        Element("imagefreeze", (("is-live", False),)),
        Element("capsfilter", (("caps", f"video/x-raw,format=I420,framerate={fps}/1"),)),
        Element(
            HOLD_ENCODER,
            (("bitrate", HOLD_BITRATE), ("gop-size", 2 * fps), ("complexity", "low")),
        ),
        Element("h264parse"),
        Element("clocksync"),
        counter(counter_name("video", "out")),
    ]


def hold_audio_chain(rate: int, channels: int, encoder: str) -> list[Element]:
    """Silence in out's declared audio format (OUTPUT_AUDIO), paced as the still."""
    return [
        Element("audiotestsrc", (("wave", "silence"), ("is-live", False))),
        *pcm_convert(rate, channels),
        *aac_encode(encoder),
        Element("clocksync"),
        counter(counter_name("audio", "out")),
    ]


TONE_GATE = "audio_q"  # the runner holds the tone's frames, and shifts them, at its src


def tone_chain(freq_hz: float, encoder: str, *, paced: bool = False) -> list[Element]:
    """The 440 Hz tone as AAC; `paced`: released in real time (no muxer paces it)."""
    # is-live=false: its timestamps are exact sample counts, so the tone cannot
    # drift from the video; flvmux, or the clocksync, paces it.
    chain = [
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
        *aac_encode(encoder),
        Element(
            "queue",
            (("max-size-time", 500_000_000), ("max-size-buffers", 0), ("max-size-bytes", 0)),
            name=TONE_GATE,
        ),
    ]
    if paced:
        chain.append(Element("clocksync", name="audio_clock"))
    return [*chain, counter(counter_name("audio", "out"))]


# --- process mode -------------------------------------------------------------

# What the worker sends its backend: the output's format (no resampling back).
PROCESS_RATE = backend_protocol.SAMPLE_RATE
PROCESS_CHANNELS = backend_protocol.CHANNELS
PCM_IN = "pcm_in"  # the appsink the runner takes fragments from
PCM_OUT = "pcm_out"  # the appsrc it pushes what goes out into
AUDIO_DECODER = "avdec_aac"


def process_delay_ns(fragment_ms: int, deadline_ms: int) -> int:
    """How far process mode holds both tracks: a fragment's length (it is cut
    once complete), its deadline, and PROCESSING_MARGIN_MS for the decode,
    encode and scheduling around it (spec.worker.processing's added latency)."""
    return (fragment_ms + deadline_ms + PROCESSING_MARGIN_MS) * 1_000_000


def pcm_caps(rate: int, channels: int) -> str:
    return f"audio/x-raw,format=S16LE,layout=interleaved,rate={rate},channels={channels}"


def pcm_convert(rate: int, channels: int) -> list[Element]:
    """Raw audio of any format to interleaved S16LE at `rate` and `channels`."""
    return [
        Element("audioconvert"),
        Element("audioresample"),
        Element("capsfilter", (("caps", pcm_caps(rate, channels)),)),
    ]


AAC_BITRATE = 128000  # every AAC the worker encodes: the tone, normalised, processed, held


def aac_encode(encoder: str) -> list[Element]:
    """S16LE to parsed AAC with `encoder` (fdkaacenc, voaacenc or avenc_aac)."""
    return [Element(encoder, (("bitrate", AAC_BITRATE),)), Element("aacparse")]


def _delay(name: str, delay_ns: int) -> list[Element]:
    """Hold a track `delay_ns` behind its running time: a queue deep enough for
    the wait, then a clocksync that releases each frame at running time + delay.

    Process mode delays both tracks by the same amount, so the audio, which
    comes back from the backend up to fragment + deadline late, and the video
    leave together, in real time, as MediaMTX and its readers expect.
    """
    return [
        Element(
            "queue",
            (
                ("max-size-time", delay_ns + 2_000_000_000),
                ("max-size-buffers", 0),
                ("max-size-bytes", 0),
            ),
            name=f"{name}_delay",
        ),
        Element("clocksync", (("ts-offset", delay_ns),), name=f"{name}_clock"),
    ]


def delayed_video_chain(codec: Codec, delay_ns: int) -> list[Element]:
    """Process mode's video: untouched, as track_chain(), but held `delay_ns`."""
    head, parse, count_in, count_out = track_chain(codec)
    return [head, parse, count_in, *_delay("video", delay_ns), count_out]


def pcm_capture_chain(codec: Codec, fragment_ms: int, rate: int, channels: int) -> list[Element]:
    """Process mode's input audio: decoded and cut into fragments for the runner."""
    head, parse, count_in, _ = track_chain(codec)
    return [
        head,
        parse,
        count_in,
        Element(AUDIO_DECODER),
        *pcm_convert(rate, channels),
        # Cuts in C: Python sees one buffer per fragment, not one per AAC frame.
        Element(
            "audiobuffersplit",
            (("output-buffer-duration", f"{fragment_ms}/1000"), ("strict-buffer-size", False)),
        ),
        Element(
            "appsink",
            (("emit-signals", True), ("sync", False), ("async", False), ("max-buffers", 0)),
            name=PCM_IN,
        ),
    ]


def pcm_output_chain(
    encoder: str, rate: int, channels: int, delay_ns: int, latency_ms: int = DEFAULT_LATENCY_MS
) -> list[Element]:
    """Process mode's output audio: what the runner pushes, encoded, held `delay_ns`.

    The appsrc declares the input's jitter-buffer latency (`latency_ms`, as
    rtspsrc does for the video): clocksync adds its upstream latency to each
    release time, and both tracks must be released alike.
    """
    return [
        Element(
            "appsrc",
            (
                ("caps", pcm_caps(rate, channels)),
                ("format", "time"),
                ("is-live", True),
                ("min-latency", latency_ms * 1_000_000),
                ("do-timestamp", False),
                ("max-bytes", 0),
                ("block", False),
            ),
            name=PCM_OUT,
        ),
        Element("audioconvert"),
        *aac_encode(encoder),
        *_delay("audio", delay_ns),
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


def rtsp_sink(url: str) -> Element:
    """rtspclientsink: ANNOUNCE/SETUP/RECORD, then RTP interleaved over the RTSP
    connection. Credentials are set on the element by the runner, never here."""
    return Element(
        RTSP_SINK,
        (
            ("location", url),
            ("protocols", "tcp"),
            # Sizes rtpbin's jitter buffers, which only a receiver uses.
            ("latency", 0),
            ("user-agent", USER_AGENT),
        ),
        name="out",
    )


def payloader(media: str) -> Element:
    """The RTP payloader rtspclientsink uses for a track (set on its request pad).

    Left to itself it picks rtpmp4apay (MP4A-LATM) for AAC, which RTMP readers
    of MediaMTX and ffmpeg's `-c copy` to FLV cannot take; MPEG4-GENERIC can.
    config-interval=-1: SPS/PPS before every IDR, for readers joining late.
    """
    if media == "video":
        return Element("rtph264pay", (("config-interval", -1),))
    if media == "audio":
        return Element("rtpmp4gpay")
    raise ValueError(f"no payloader for {media!r}")


def with_query_credentials(rtmp_url: str, user: str, password: str) -> str:
    """The RTMP URL with MediaMTX's query credentials (how RTMP carries a user)."""
    if not user:
        return rtmp_url
    query = urlencode({"user": user, "pass": password})
    return f"{rtmp_url}{'&' if '?' in rtmp_url else '?'}{query}"


def output_chain(
    url: str, protocol: OutputProtocol = OutputProtocol.RTMP, factory: str = RTMP_SINKS[0]
) -> list[Element]:
    """The elements after the tracks; the tracks link to the first one."""
    if protocol is OutputProtocol.RTSP:
        return [rtsp_sink(url)]
    return [mux(), counter(counter_name("mux", "out")), sink(url, factory)]


def output_pad(protocol: OutputProtocol, media: str) -> str:
    """The request-pad template a track links to on the output's first element."""
    return "sink_%u" if protocol is OutputProtocol.RTSP else media


def link_order(media: Iterable[str], protocol: OutputProtocol) -> list[str]:
    """The tracks in the order their output pads are requested.

    rtspclientsink announces its streams newest pad first, so for RTSP the
    pads are requested in reverse TRACK_ORDER (flvmux does not care).
    """
    ordered = sorted(media, key=lambda m: (TRACK_ORDER.index(m) if m in TRACK_ORDER else 99, m))
    return ordered[::-1] if protocol is OutputProtocol.RTSP else ordered


def pick(preferred: Iterable[str], available: Iterable[str]) -> str | None:
    have = set(available)
    return next((f for f in preferred if f in have), None)


def required_factories(
    mode: WorkerMode, protocol: OutputProtocol | None = None
) -> list[tuple[str, ...]]:
    """Alternatives per role; each tuple needs at least one installed factory.

    `protocol` None: what both outputs need (a pool worker does not know yet).
    """
    roles: list[tuple[str, ...]] = [
        ("rtspsrc",),
        ("rtph264depay",),
        ("h264parse",),
        ("queue",),
        ("identity",),
    ]
    if protocol in (OutputProtocol.RTMP, None):
        roles += [("flvmux",), RTMP_SINKS]
    if protocol in (OutputProtocol.RTSP, None):
        roles += [(RTSP_SINK,), ("rtph264pay",), ("rtpmp4gpay",)]
    if mode is WorkerMode.BYPASS:
        roles += [("rtpmp4gdepay",), ("rtpmp4adepay",), ("aacparse",)]
        # normalised_audio_chain (spec.inputLoss.fill Slate)
        roles += [(AUDIO_DECODER,), ("audioconvert",), ("audioresample",), ("capsfilter",)]
        roles.append(AAC_ENCODERS)
    elif mode is WorkerMode.PROCESS:
        roles += [
            ("rtpmp4gdepay",),
            ("rtpmp4adepay",),
            ("aacparse",),
            (AUDIO_DECODER,),
            ("audioconvert",),
            ("audioresample",),
            ("capsfilter",),
            ("audiobuffersplit",),
            ("appsink",),
            ("appsrc",),
            AAC_ENCODERS,
            ("clocksync",),
        ]
    else:
        roles += [
            ("audiotestsrc",),
            ("audioconvert",),
            ("audioresample",),
            ("capsfilter",),
            AAC_ENCODERS,
            ("aacparse",),
        ]
        if protocol in (OutputProtocol.RTSP, None):
            roles.append(("clocksync",))
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
    fragment_ms: int = 500,
    delay_ns: int = 0,
    normalise_audio: bool = False,
) -> str:
    """The equivalent `gst-launch-1.0` pipeline for an H.264 + AAC input.

    For RTSP the worker also sets each pad's payloader (see payloader()), which
    a launch line cannot express; gst-launch-1.0 picks MP4A-LATM for the AAC.
    In process mode the worker itself carries the fragments from pcm_in to
    pcm_out, through the backend.
    """

    def chain(elements: list[Element]) -> str:
        return " ! ".join(e.launch() for e in elements)

    protocol = output_protocol(output_url)
    out = output_chain(output_url, protocol, sink_factory)
    into = {
        media: f"{out[0].name}.{output_pad(protocol, media).replace('%u', str(index))}"
        for index, media in enumerate(link_order(TRACK_ORDER, protocol))
    }
    video = classify("video", "H264")
    audio = classify("audio", "MPEG4-GENERIC")
    video_chain = (
        delayed_video_chain(video, delay_ns) if mode is WorkerMode.PROCESS else track_chain(video)
    )
    parts = [
        source(input_url, latency_ms).launch(),
        f"src. ! application/x-rtp,media=video ! {chain(video_chain)} ! {into['video']}",
    ]
    if mode is WorkerMode.PROCESS:
        rate, channels = PROCESS_RATE, PROCESS_CHANNELS
        capture = pcm_capture_chain(audio, fragment_ms, rate, channels)
        parts.append(f"src. ! application/x-rtp,media=audio ! {chain(capture)}")
        parts.append(
            f"{chain(pcm_output_chain(encoder, rate, channels, delay_ns, latency_ms))}"
            f" ! {into['audio']}"
        )
    elif mode is WorkerMode.BYPASS:
        audio_chain = (
            normalised_audio_chain(audio, encoder) if normalise_audio else track_chain(audio)
        )
        parts.append(
            f"src. ! application/x-rtp,media=audio ! {chain(audio_chain)} ! {into['audio']}"
        )
    else:
        tone = tone_chain(tone_hz, encoder, paced=protocol is OutputProtocol.RTSP)
        parts.append(f"{chain(tone)} ! {into['audio']}")
    parts.append(chain(out))
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


def av_offset(samples: Iterable[tuple[str, int]]) -> float | None:
    """Mean A/V offset (s) over (track, time in ns) samples in the order sent.

    The samples are FLV tags leaving flvmux (RTMP), or frames handed to
    rtspclientsink (RTSP, their running time). At each sample once both tracks
    were seen: the newest audio's time minus the newest video's. About zero in
    sync, growing when one track lags. None without both tracks.
    """
    last: dict[str, int] = {}
    offsets: list[int] = []
    for track, running_time in samples:
        last[track] = running_time
        if "audio" in last and "video" in last:
            offsets.append(last["audio"] - last["video"])
    return sum(offsets) / len(offsets) / 1e9 if offsets else None


# --- retry policy -----------------------------------------------------------

# Before the first output: how long an attempt may take. It covers MediaMTX's
# DESCRIBE hold of an early reader (INPUT_HOLD_S, after which rtspsrc fails
# anyway), an RTMP publisher's 2 s of analysis, and a margin.
RTMP_ANALYSIS_S = 2.0
CONNECT_TIMEOUT = INPUT_HOLD_S + RTMP_ANALYSIS_S + 8
# Input not published yet (see input_absent()):
# retry at once, without backoff, so a publisher is picked up as it arrives;
# logged once at info, and once more as a warning if it lasts.
ABSENT_RETRY = 0.5
ABSENT_WARN = 60.0
_RESOURCE_ERROR = "gst-resource-error-quark"


def input_absent(domain: str, code: str, debug: str, waited_s: float) -> bool:
    """Is this rtspsrc error "the input is not there (yet)" rather than a fault?

    Absent: MediaMTX answered DESCRIBE with 404 (nobody publishes the path),
    or with 400 once its runOnDemand hold of an early reader ran out (MediaMTX
    1.20 says "source of path has timed out" with a 400, hence `waited_s`, how
    long the attempt waited: a 400 at once is a real fault); or rtspsrc could
    not connect at all (MediaMTX not listening yet, restarting, its Service
    not resolvable yet), which GStreamer reports as "Failed to connect".
    `code` is the GstResourceError nick ("not-found", "open-read-write", ...).
    """
    if domain != _RESOURCE_ERROR:
        return False
    if code == "not-found":
        return True
    if code == "read" and "Bad Request (400)" in debug:
        return waited_s >= INPUT_HOLD_S - 1
    return code == "open-read-write" and "Failed to connect" in debug


def backoff(attempt: int, *, base: float = 0.5, cap: float = 5.0) -> float:
    """Delay before retry number `attempt` (0-based): 0.5, 1, 2, 4, 5, 5, ...

    The cap is short because a publisher that comes back should be picked up
    within seconds; the operator, not the worker, decides when to give up.
    """
    return exponential(attempt, base=base, cap=cap)
