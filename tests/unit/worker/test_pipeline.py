"""The worker's pure parts: codec policy, graph descriptions, retry schedule, config."""

from __future__ import annotations

import pytest

from livestream_operator.api.v1alpha1 import OutputProtocol, WorkerMode
from livestream_operator.worker.config import parse_args, stream_id_from_url
from livestream_operator.worker.pipeline import (
    ABSENT_RETRY,
    CONNECT_TIMEOUT,
    HOLD_FPS,
    HOLD_SOURCE,
    INPUT_HOLD_S,
    KEYFRAME_TEE,
    LAST_KEYFRAME,
    RTMP_ANALYSIS_S,
    RTSP_TIMEOUT_US,
    Action,
    Element,
    av_offset,
    backoff,
    classify,
    counter_name,
    decide,
    flv_tag,
    hold_audio_chain,
    hold_fps,
    hold_url,
    hold_video_chain,
    input_absent,
    keyframe_tap,
    launch_line,
    link_order,
    output_chain,
    output_pad,
    output_protocol,
    payloader,
    pick,
    process_delay_ns,
    required_factories,
    required_media,
    sink,
    source,
    tone_chain,
    track_chain,
    unsupported_reason,
    with_keyframe_tap,
    with_query_credentials,
)

IN = "rtsp://mediamtx:8554/live/abc/in"
OUT = "rtmp://mediamtx:1935/live/abc/out"
RTSP_OUT = "rtsp://mediamtx:8554/live/abc/out"


@pytest.mark.parametrize(
    ("media", "encoding", "label", "supported", "depay"),
    [
        ("video", "H264", "H.264", True, "rtph264depay"),
        ("audio", "MPEG4-GENERIC", "AAC", True, "rtpmp4gdepay"),
        ("audio", "mp4a-latm", "AAC", True, "rtpmp4adepay"),
        ("video", "H265", "H.265/HEVC", False, ""),
        ("video", "VP9", "VP9", False, ""),
        ("audio", "OPUS", "Opus", False, ""),
        ("audio", "PCMU", "G.711 mu-law", False, ""),
        ("video", "", "unknown", False, ""),
        ("video", "X-NEW", "X-NEW", False, ""),
    ],
)
def test_classify(media: str, encoding: str, label: str, supported: bool, depay: str) -> None:
    codec = classify(media, encoding)
    assert (codec.label, codec.supported, codec.depay) == (label, supported, depay)
    assert codec.encoding == encoding.upper()


def test_decide_bypass_needs_h264_and_aac() -> None:
    assert decide(WorkerMode.BYPASS, classify("video", "H264")) is Action.USE
    assert decide(WorkerMode.BYPASS, classify("audio", "MPEG4-GENERIC")) is Action.USE
    assert decide(WorkerMode.BYPASS, classify("video", "H265")) is Action.REJECT
    assert decide(WorkerMode.BYPASS, classify("audio", "OPUS")) is Action.REJECT
    assert decide(WorkerMode.BYPASS, classify("application", "X-KLV")) is Action.SKIP
    assert required_media(WorkerMode.BYPASS) == frozenset()


def test_decide_tone_ignores_input_audio_whatever_it_is() -> None:
    assert decide(WorkerMode.TONE, classify("video", "H264")) is Action.USE
    assert decide(WorkerMode.TONE, classify("audio", "MPEG4-GENERIC")) is Action.SKIP
    assert decide(WorkerMode.TONE, classify("audio", "OPUS")) is Action.SKIP
    assert decide(WorkerMode.TONE, classify("video", "VP9")) is Action.REJECT
    assert required_media(WorkerMode.TONE) == frozenset({"video"})


def test_unsupported_reason_names_the_codec_and_the_need() -> None:
    reason = unsupported_reason(WorkerMode.BYPASS, classify("video", "H265"))
    assert "H.265/HEVC" in reason
    assert "H265" in reason
    assert "needs H.264" in reason
    assert "needs AAC" in unsupported_reason(WorkerMode.BYPASS, classify("audio", "OPUS"))


def test_track_chain_remuxes_without_reencoding() -> None:
    video = track_chain(classify("video", "H264"))
    audio = [e.factory for e in track_chain(classify("audio", "MPEG4-GENERIC"))]
    assert [e.factory for e in video] == ["rtph264depay", "h264parse", "identity", "identity"]
    assert audio == ["rtpmp4gdepay", "aacparse", "identity", "identity"]
    # The identities are the counters the runner polls, named by media and side.
    assert [e.name for e in video if e.factory == "identity"] == ["video_in", "video_out"]
    assert dict(video[2].props) == {"silent": True, "signal-handoffs": False}
    with pytest.raises(ValueError, match="unsupported"):
        track_chain(classify("video", "H265"))


def test_source_and_sink_settings() -> None:
    src = dict(source(IN, 150).props)
    assert src["protocols"] == "tcp"
    assert src["latency"] == 150
    assert src["location"] == IN
    out = dict(sink(OUT, "rtmpsink").props)
    assert out == {"location": OUT, "sync": False, "enable-last-sample": False}
    chain = output_chain(OUT)
    assert [e.factory for e in chain] == ["flvmux", "identity", "rtmp2sink"]
    assert dict(chain[0].props) == {"streamable": True}
    assert chain[1].name == counter_name("mux", "out") == "mux_out"


@pytest.mark.parametrize(
    ("url", "protocol"),
    [
        (RTSP_OUT, OutputProtocol.RTSP),
        ("rtsps://m/live/a/out", OutputProtocol.RTSP),
        ("RTSP://m/live/a/out", OutputProtocol.RTSP),
        (OUT, OutputProtocol.RTMP),
        ("rtmps://m/live/a/out", OutputProtocol.RTMP),
    ],
)
def test_output_protocol_from_the_scheme(url: str, protocol: OutputProtocol) -> None:
    assert output_protocol(url) is protocol


def test_output_protocol_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match=r"'srt'.*rtsp/rtsps/rtmp/rtmps"):
        output_protocol("srt://m:8890?streamid=x")


def test_rtsp_output_has_no_muxer_and_a_pad_per_track() -> None:
    chain = output_chain(RTSP_OUT, OutputProtocol.RTSP)
    assert [e.factory for e in chain] == ["rtspclientsink"]
    props = dict(chain[0].props)
    assert props["location"] == RTSP_OUT
    assert props["protocols"] == "tcp"
    assert props["latency"] == 0
    assert "user-pw" not in props  # credentials are set on the element, never printed
    assert not str(props["user-agent"]).startswith("GStreamer")
    assert chain[0].name == "out"
    assert output_pad(OutputProtocol.RTSP, "video") == output_pad(OutputProtocol.RTSP, "audio")
    assert output_pad(OutputProtocol.RTSP, "audio") == "sink_%u"
    assert output_pad(OutputProtocol.RTMP, "audio") == "audio"
    # AAC as MPEG4-GENERIC (what FLV readers take), not rtspclientsink's LATM pick.
    assert payloader("audio").factory == "rtpmp4gpay"
    assert payloader("video").factory == "rtph264pay"
    with pytest.raises(ValueError, match="text"):
        payloader("text")


def test_tracks_are_announced_video_first_whatever_their_arrival_order() -> None:
    assert link_order(["audio", "video"], OutputProtocol.RTMP) == ["video", "audio"]
    # rtspclientsink announces the newest pad first
    assert link_order(["video", "audio"], OutputProtocol.RTSP) == ["audio", "video"]
    assert link_order({"audio"}, OutputProtocol.RTSP) == ["audio"]
    assert link_order([], OutputProtocol.RTMP) == []


def test_source_outlasts_mediamtx_early_reader_hold() -> None:
    src = dict(source(IN).props)
    # An early DESCRIBE waits up to INPUT_HOLD_S for the publisher.
    assert int(src["timeout"]) > INPUT_HOLD_S * 1e6
    assert int(src["tcp-timeout"]) > INPUT_HOLD_S * 1e6
    assert src["tcp-timeout"] == RTSP_TIMEOUT_US
    # MediaMTX answers each SETUP from a "GStreamer..." agent 1 s late.
    assert not str(src["user-agent"]).startswith("GStreamer")
    # No output within: the hold, then an RTMP publish's analysis, with margin.
    assert CONNECT_TIMEOUT >= INPUT_HOLD_S + RTMP_ANALYSIS_S + 5
    assert ABSENT_RETRY <= 1.0


def test_tone_chain_generates_aligned_aac() -> None:
    chain = tone_chain(440.0, "avenc_aac")
    factories = [e.factory for e in chain]
    assert factories[0] == "audiotestsrc"
    assert "avenc_aac" in factories
    assert factories[-3:] == ["aacparse", "queue", "identity"]
    assert chain[-1].name == "audio_out"
    src = dict(chain[0].props)
    assert src["freq"] == 440.0
    assert src["is-live"] is False  # paced by the muxer against the video
    assert chain[0].name == "tone"
    # No muxer paces it before rtspclientsink: a clocksync does, after the queue.
    paced = [e.factory for e in tone_chain(440.0, "voaacenc", paced=True)]
    assert paced[-3:] == ["queue", "clocksync", "identity"]


def test_launch_line_matches_the_seed_bypass_pipeline() -> None:
    line = launch_line(WorkerMode.BYPASS, IN, OUT)
    assert line.startswith(f"rtspsrc name=src location={IN} protocols=tcp latency=100")
    counted = "silent=true signal-handoffs=false"
    assert (
        f"rtph264depay ! h264parse ! identity name=video_in {counted} "
        f"! identity name=video_out {counted} ! mux.video"
    ) in line
    assert "rtpmp4gdepay ! aacparse ! identity name=audio_in" in line
    assert line.endswith(
        f"flvmux name=mux streamable=true ! identity name=mux_out {counted} "
        f"! rtmp2sink name=out location={OUT} sync=false enable-last-sample=false"
    )
    tone = launch_line(WorkerMode.TONE, IN, OUT, tone_hz=880)
    assert "rtpmp4gdepay" not in tone
    assert "audiotestsrc name=tone wave=sine freq=880" in tone
    assert 'caps="audio/x-raw,format=S16LE,rate=44100,channels=2"' in tone
    assert "clocksync" not in tone


def test_launch_line_for_rtsp_output() -> None:
    line = launch_line(WorkerMode.BYPASS, IN, RTSP_OUT)
    assert "flvmux" not in line
    assert "identity name=video_out silent=true signal-handoffs=false ! out.sink_1" in line
    assert "identity name=audio_out silent=true signal-handoffs=false ! out.sink_0" in line
    assert line.endswith(
        f"rtspclientsink name=out location={RTSP_OUT} protocols=tcp latency=0 "
        "user-agent=livestream-operator-worker"
    )
    tone = launch_line(WorkerMode.TONE, IN, RTSP_OUT)
    assert "! clocksync name=audio_clock ! identity name=audio_out" in tone
    assert "out.sink_0" in tone


def test_bypass_with_a_slate_fill_re_encodes_only_the_audio_to_outs_declared_format() -> None:
    line = launch_line(WorkerMode.BYPASS, IN, RTSP_OUT, normalise_audio=True)
    counted = "silent=true signal-handoffs=false"
    assert (
        f"rtpmp4gdepay ! aacparse ! identity name=audio_in {counted} ! avdec_aac "
        "! audioconvert ! audioresample "
        '! capsfilter caps="audio/x-raw,format=S16LE,layout=interleaved,rate=44100,channels=2" '
        f"! voaacenc bitrate=128000 ! aacparse ! identity name=audio_out {counted} ! out.sink_0"
    ) in line
    # The video is untouched: no decoder, no encoder.
    assert f"rtph264depay ! h264parse ! identity name=video_in {counted} ! identity" in line
    assert "rtpmp4gdepay ! aacparse ! identity name=audio_in" in launch_line(
        WorkerMode.BYPASS, IN, RTSP_OUT
    )
    assert "avdec_aac" not in launch_line(WorkerMode.BYPASS, IN, RTSP_OUT)


def test_element_launch_quotes_values_with_separators() -> None:
    assert Element("x", (("a", "b c"), ("d", True), ("e", 3))).launch() == 'x a="b c" d=true e=3'


def test_pick_and_required_factories() -> None:
    assert pick(("rtmp2sink", "rtmpsink"), ["rtmpsink"]) == "rtmpsink"
    assert pick(("rtmp2sink", "rtmpsink"), ["rtmp2sink", "rtmpsink"]) == "rtmp2sink"
    assert pick(("a",), []) is None

    def needs(mode: WorkerMode, protocol: OutputProtocol | None = None) -> set[str]:
        return {alt for alts in required_factories(mode, protocol) for alt in alts}

    bypass, tone = needs(WorkerMode.BYPASS), needs(WorkerMode.TONE)
    # No protocol: a pool worker checks for both outputs.
    assert {"rtspsrc", "flvmux", "rtmp2sink", "rtspclientsink", "rtpmp4gdepay"} <= bypass
    assert "audiotestsrc" not in bypass
    assert {"audiotestsrc", "voaacenc", "avenc_aac", "clocksync"} <= tone
    rtsp = needs(WorkerMode.TONE, OutputProtocol.RTSP)
    assert {"rtspclientsink", "rtph264pay", "rtpmp4gpay", "clocksync"} <= rtsp
    assert "flvmux" not in rtsp
    rtmp = needs(WorkerMode.TONE, OutputProtocol.RTMP)
    assert {"flvmux", "rtmp2sink"} <= rtmp
    assert not {"rtspclientsink", "clocksync"} & rtmp


def test_backoff_schedule() -> None:
    assert [backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff(10_000) == 5.0
    with pytest.raises(ValueError, match="attempt"):
        backoff(-1)


def test_rtmp_output_carries_its_credentials_in_the_query() -> None:
    url = "rtmp://mediamtx:1935/live/a/out"
    assert with_query_credentials(url, "", "pw") == url
    assert with_query_credentials(url, "lso-worker", "p&w") == f"{url}?user=lso-worker&pass=p%26w"
    assert with_query_credentials(f"{url}?x=1", "u", "p") == f"{url}?x=1&user=u&pass=p"


def test_flv_tag_headers() -> None:
    # type, 24-bit size, 24-bit timestamp, extended timestamp byte, stream id
    video = bytes([9, 0, 0, 10, 0x01, 0x02, 0x03, 0x00])
    audio = bytes([8, 0, 0, 10, 0x00, 0x00, 0x05, 0x01])
    assert flv_tag(video) == ("video", 0x010203)
    assert flv_tag(audio) == ("audio", 0x01000005)
    assert flv_tag(b"FLV\x01\x05\x00\x00\x00") is None  # file header
    assert flv_tag(bytes([18, 0, 0, 1, 0, 0, 0, 0])) is None  # script data
    assert flv_tag(b"\x09") is None


def test_av_offset_compares_the_newest_frame_of_each_track() -> None:
    ms = 1_000_000
    assert av_offset([]) is None
    assert av_offset([("video", 0), ("video", 33 * ms)]) is None  # one track only
    in_sync = [("video", 0), ("audio", 0), ("video", 33 * ms), ("audio", 23 * ms)]
    # audio - video at each sample once both are known: 0, -33 ms, -10 ms
    assert av_offset(in_sync) == pytest.approx(-43 / 3 / 1000)
    audio_late = [("video", 1000 * ms), ("audio", 500 * ms), ("video", 1033 * ms)]
    assert av_offset(audio_late) == pytest.approx(-0.5165)


RESOURCE = "gst-resource-error-quark"
HELD_400 = "gst_rtspsrc_send (): /GstPipeline:worker/GstRTSPSrc:src:\nBad Request (400)"


@pytest.mark.parametrize(
    ("domain", "code", "debug", "waited", "absent"),
    [
        # 404 from MediaMTX: nobody publishes the path
        (RESOURCE, "not-found", "Not found", 0.1, True),
        # 400 once MediaMTX's hold of an early DESCRIBE ran out...
        (RESOURCE, "read", HELD_400, INPUT_HOLD_S + 0.01, True),
        # ... but a 400 at once is a request MediaMTX refuses
        (RESOURCE, "read", HELD_400, 0.2, False),
        # MediaMTX not listening (restart) or not resolvable yet
        (
            RESOURCE,
            "open-read-write",
            "retrieve_sdp (): Failed to connect. (Generic error)",
            0,
            True,
        ),
        (RESOURCE, "not-authorized", "Unauthorized", 0.1, False),
        (RESOURCE, "read", "Could not receive message. (Timeout while waiting)", 15, False),
        ("gst-stream-error-quark", "failed", "Internal data stream error", 20, False),
    ],
)
def test_input_absent_tells_waiting_from_failing(
    domain: str, code: str, debug: str, waited: float, absent: bool
) -> None:
    assert input_absent(domain, code, debug, waited) is absent


def test_config_flags_override_env_and_env_is_a_fallback() -> None:
    env = {"LSO_INPUT_URL": IN, "LSO_OUTPUT_URL": OUT, "LSO_MODE": "tone", "LSO_METRICS_PORT": "0"}
    cfg = parse_args([], env)
    assert (cfg.input_url, cfg.output_url, cfg.mode, cfg.metrics_port) == (
        IN,
        OUT,
        WorkerMode.TONE,
        0,
    )
    assert cfg.stream_id == "abc"  # derived from live/<id>/in
    cfg = parse_args(["--mode", "bypass", "--stream-id", "x", "--metrics-port", "9200"], env)
    assert (cfg.mode, cfg.stream_id, cfg.metrics_port) == (WorkerMode.BYPASS, "x", 9200)
    assert parse_args([], {"LSO_INPUT_URL": IN, "LSO_OUTPUT_URL": OUT}).metrics_port == 9100


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--input", IN],
        ["--input", "http://x/live/a/in", "--output", OUT],
        ["--input", IN, "--output", "http://x/live/a/out"],
        ["--input", IN, "--output", "srt://x:8890"],
        ["--input", IN, "--output", "rtsp:///live/a/out"],
        ["--input", IN, "--output", OUT, "--mode", "dub"],
        ["--input", IN, "--output", OUT, "--metrics-port", "70000"],
    ],
)
def test_config_rejects_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv, {})
    assert exc.value.code == 2


@pytest.mark.parametrize("out", [RTSP_OUT, "rtsps://m/live/a/out", OUT, "rtmps://m/live/a/out"])
def test_config_accepts_every_output_scheme(out: str) -> None:
    assert parse_args(["--input", IN, "--output", out], {}).output_url == out


def test_config_output_error_names_the_flag_and_the_schemes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--input", IN, "--output", "http://u:secret@x/live/a/out"], {})
    err = capsys.readouterr().err
    assert "--output must be a rtsp/rtsps/rtmp/rtmps:// URL with a host, not http://" in err
    assert "secret" not in err  # the URL is not echoed: it may carry credentials
    with pytest.raises(SystemExit):
        parse_args(["--input", "rtsp:///live/a/in", "--output", OUT], {})
    assert "--input must be a rtsp/rtsps:// URL with a host; it has none" in capsys.readouterr().err


def test_stream_id_from_url() -> None:
    assert stream_id_from_url("rtsp://h:8554/live/s-1/in") == "s-1"
    assert stream_id_from_url("rtmp://h/live/s-1/out") == "s-1"
    assert stream_id_from_url("rtsp://h/other/x") == ""


def test_process_mode_holds_both_tracks_by_fragment_deadline_and_margin() -> None:
    delay = process_delay_ns(500, 1000)
    assert delay == 1_750_000_000
    line = launch_line(
        WorkerMode.PROCESS,
        "rtsp://m:8554/live/a/in",
        "rtsp://m:8554/live/a/out",
        fragment_ms=500,
        delay_ns=delay,
    )
    assert "audiobuffersplit output-buffer-duration=500/1000" in line
    assert "appsink name=pcm_in" in line
    assert "appsrc name=pcm_out" in line
    assert line.count(f"clocksync name=video_clock ts-offset={delay}") == 1
    assert line.count(f"clocksync name=audio_clock ts-offset={delay}") == 1


def test_process_mode_needs_an_audio_track_and_decodes_aac() -> None:
    assert required_media(WorkerMode.PROCESS) == frozenset({"audio"})
    roles = required_factories(WorkerMode.PROCESS, None)
    assert ("avdec_aac",) in roles
    assert ("audiobuffersplit",) in roles
    assert decide(WorkerMode.PROCESS, classify("audio", "MPEG4-GENERIC")) is Action.USE
    assert decide(WorkerMode.PROCESS, classify("audio", "OPUS")) is Action.REJECT


def test_process_mode_config_comes_from_lso_processing() -> None:
    raw = (
        '{"backendUrl": "ws://b:8080/v1/audio", "fragmentMs": 500, "deadlineMs": 1000,'
        ' "maxInFlight": 4, "mix": "duck", "duckDb": -12}'
    )
    env = {"LSO_PROCESSING": raw, "LSO_BACKEND_TOKEN": "t0k"}
    cfg = parse_args(
        ["--input", "rtsp://m/live/a/in", "--output", "rtsp://m/live/a/out", "--mode", "process"],
        env,
    )
    assert cfg.processing is not None
    assert cfg.processing.backend_url == "ws://b:8080/v1/audio"
    assert cfg.backend_token == "t0k"
    assert "t0k" not in repr(cfg)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "needs --processing"),
        ("{not json", "LSO_PROCESSING"),
        ('{"backendUrl": "ws://b/", "fragmentMs": 1}', "fragmentMs"),
        (
            '{"backendUrl": "http://b/", "fragmentMs": 500, "deadlineMs": 1000,'
            ' "maxInFlight": 4, "mix": "duck", "duckDb": -12}',
            "ws/wss",
        ),
    ],
)
def test_process_mode_bad_config_is_a_usage_error_naming_it(
    raw: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(
            [
                "--input",
                "rtsp://m/live/a/in",
                "--output",
                "rtsp://m/live/a/out",
                "--mode",
                "process",
            ],
            {"LSO_PROCESSING": raw},
        )
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err


def test_the_keyframe_tap_sits_before_the_video_out_counter_and_keeps_only_keyframes() -> None:
    chain = with_keyframe_tap(track_chain(classify("video", "H264")))
    names = [e.name for e in chain]
    assert names[-2:] == [KEYFRAME_TEE, "video_out"]
    drop, sink = keyframe_tap()
    assert ("drop-buffer-flags", "delta-unit") in drop.props
    assert sink.name == LAST_KEYFRAME
    assert dict(sink.props) == {"sync": False, "async": False, "enable-last-sample": True}


def test_the_hold_sends_a_paced_still_and_silence_in_outs_declared_format() -> None:
    video = hold_video_chain(25)
    assert video[0].name == HOLD_SOURCE
    factories = [e.factory for e in video]
    # Decoded once, repeated, encoded; numbered from 0 and released in real time.
    assert (
        factories.index("avdec_h264")
        < factories.index("imagefreeze")
        < factories.index("openh264enc")
    )
    assert ("is-live", False) in video[factories.index("imagefreeze")].props
    assert "framerate=25/1" in str(dict(video[factories.index("capsfilter")].props)["caps"])
    assert factories[-2:] == ["clocksync", "identity"]
    audio = hold_audio_chain(48000, 2, "voaacenc")
    assert ("wave", "silence") in audio[0].props
    assert "rate=48000,channels=2" in str(dict(audio[3].props)["caps"])
    assert [e.factory for e in audio][-2:] == ["clocksync", "identity"]


@pytest.mark.parametrize(
    ("declared", "fps"),
    [(None, HOLD_FPS), (29.97, 30), (25.0, 25), (0.5, HOLD_FPS), (240, HOLD_FPS)],
)
def test_the_still_keeps_the_inputs_declared_frame_rate(declared: float | None, fps: int) -> None:
    assert hold_fps(declared) == fps


def test_a_hold_publishes_out_over_rtsp_on_outs_mediamtx_whatever_the_output() -> None:
    # An RTMP publish is taken only after MediaMTX's 2 s analysis: slate meanwhile.
    rtsp_in = "rtsp://mediamtx:8554/live/cam/backup"
    assert hold_url(rtsp_in, "rtmp://mediamtx:1935/live/cam/out") == (
        "rtsp://mediamtx:8554/live/cam/out"
    )
    assert hold_url(rtsp_in, "rtsp://mediamtx:8554/live/cam/out") == (
        "rtsp://mediamtx:8554/live/cam/out"
    )
    # A backup read on another MediaMTX instance: the hold still goes to out's.
    assert hold_url("rtsp://mtx-0.h:8554/live/cam/backup", "rtmp://mtx-1.h:1935/live/cam/out") == (
        "rtsp://mtx-1.h:8554/live/cam/out"
    )
