"""The Gemini Live adapter against a local fake of the Live API
(tests/support/fake_gemini_live.py): what it sends, what it answers, and how it
behaves when the model side fails. The real service is not reachable here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from livestream_operator.api.backend_protocol import Hello
from livestream_operator.backend.gemini import (
    DEFAULT_INSTRUCTION,
    DEFAULT_MODEL,
    Backoff,
    GeminiProcessor,
    GeminiSession,
    Resampler,
    add_arguments,
)
from livestream_operator.backend.processor import Pcm
from livestream_operator.logs import JsonFormatter
from tests.conftest import require
from tests.support.fake_gemini_live import PATH, TONE_HZ, FakeGeminiLive, make_certificate
from tests.support.waiting import wait_for_async

KEY = "AIzaFakeKey-0123456789abcdefghijklmnop"
RATE = 48_000
FRAGMENT_MS = 100
SAMPLES = RATE * FRAGMENT_MS // 1000  # per fragment
FAST = Backoff(initial_s=0.05, maximum_s=0.2, stable_s=10.0)

MakeProcessor = Callable[..., GeminiProcessor]


def hello(**params: str) -> Hello:
    return Hello(stream_id="cam-1", fragment_ms=FRAGMENT_MS, params=params)


def fragment(index: int = 0, hz: float = 1_000.0, right: bool = True) -> Pcm:
    """One 48 kHz stereo fragment of a sine (left, and right unless told not to)."""
    n = index * SAMPLES + np.arange(SAMPLES)
    wave = np.rint(8_000 * np.sin(2 * np.pi * hz * n / RATE)).astype(np.int16)
    return np.stack([wave, wave if right else np.zeros_like(wave)], axis=1)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require(shutil.which("openssl") is not None, "openssl makes the fake's TLS certificate")
    return make_certificate(tmp_path_factory.mktemp("fake-gemini"))


@pytest.fixture
async def fake(certificate: tuple[Path, Path]) -> AsyncIterator[FakeGeminiLive]:
    server = await FakeGeminiLive(*certificate).start()
    yield server
    await server.stop()


@pytest.fixture
def make_processor(
    fake: FakeGeminiLive, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> MakeProcessor:
    # How a deployment trusts a private CA too: the SDK reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    def make(**kwargs: Any) -> GeminiProcessor:
        kwargs = {"api_key": KEY, "base_url": fake.base_url, "backoff": FAST, **kwargs}
        return GeminiProcessor(**kwargs)

    return make


@pytest.fixture
async def sessions() -> AsyncIterator[list[GeminiSession]]:
    """Sessions a test opened, closed at its end whatever happened."""
    opened: list[GeminiSession] = []
    yield opened
    for session in opened:
        await session.close()


async def open_session(
    processor: GeminiProcessor, sessions: list[GeminiSession], **params: str
) -> GeminiSession:
    session = processor.open(hello(**params))
    sessions.append(session)
    return session


async def feed_until_answered(
    session: GeminiSession, fake: FakeGeminiLive, start: int = 0, fragments: int = 3
) -> int:
    """Send fragments until the model's audio for them is queued; the next index."""
    before = session.stats.model_samples
    for i in range(start, start + fragments):
        await session.process(fragment(i))
    await wait_for_async(
        lambda: session.stats.model_samples - before >= (fragments - 1) * SAMPLES,
        timeout=10,
        what="the model's answer",
    )
    return start + fragments


def turns_reached(fake: FakeGeminiLive, turns: int) -> Callable[[], bool]:
    return lambda: fake.connections[0].turns >= turns


# -- the wire


async def test_setup_carries_model_instruction_voice_and_the_key(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    session = await open_session(make_processor(voice="Kore"), sessions)
    await wait_for_async(lambda: session.connected, timeout=10, what="the session")
    (conn,) = fake.connections
    assert conn.path == PATH  # the Gemini API's Live method, on v1beta
    assert conn.api_key == KEY
    assert conn.model == f"models/{DEFAULT_MODEL}"
    assert conn.instruction == DEFAULT_INSTRUCTION
    assert conn.voice == "Kore"
    assert conn.generation_config["responseModalities"] == ["AUDIO"]
    assert conn.resumption_handle is None  # a fresh session asks for resumption handles
    assert "sessionResumption" in conn.setup


async def test_params_override_instruction_and_voice(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    processor = make_processor(model="gemini-test-live", voice="Kore")
    session = await open_session(
        processor, sessions, instruction="Translate into French.", voice="Puck"
    )
    await wait_for_async(lambda: session.connected, timeout=10, what="the session")
    (conn,) = fake.connections
    assert (conn.model, conn.instruction, conn.voice) == (
        "models/gemini-test-live",
        "Translate into French.",
        "Puck",
    )


async def test_audio_reaches_the_model_as_16khz_mono(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    fake.silent = True
    session = await open_session(make_processor(), sessions)
    count = 10
    for i in range(count):  # the first ones before the session is up: queued, not lost
        await session.process(fragment(i, hz=1_000.0, right=False))
    expected = count * SAMPLES // 3 * 2  # 16 kHz, one channel, two bytes a sample
    await wait_for_async(lambda: fake.audio_bytes >= expected, timeout=10, what="the audio")
    await asyncio.sleep(0.1)
    (conn,) = fake.connections
    assert conn.audio_bytes == expected
    assert conn.audio_mime_types == {"audio/pcm;rate=16000"}
    received = np.frombuffer(bytes(conn.audio), dtype="<i2")
    assert peak_hz(received, 16_000) == pytest.approx(1_000.0, abs=5)
    # Left only, downmixed: half the amplitude (8000 / 2 / sqrt(2)), less the
    # boxcar's slight roll-off at 1 kHz.
    assert rms(received) == pytest.approx(8_000 / 2 / np.sqrt(2), rel=0.03)
    assert session.stats.input_bytes_sent == expected


# -- the answers


async def test_fragments_are_answered_at_once_with_silence_until_the_model_speaks(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    fake.silent = True
    session = await open_session(make_processor(), sessions)
    for i in range(5):
        started = time.perf_counter()
        answer = await session.process(fragment(i))
        assert time.perf_counter() - started < 0.05
        assert answer.shape == (SAMPLES, 2)
        assert answer.dtype == np.int16
        assert not answer.any()
    assert session.stats.silence_samples == 5 * SAMPLES


async def test_model_audio_comes_back_as_the_tone_at_48khz_stereo(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    session = await open_session(make_processor(), sessions)
    first = await session.process(fragment(0))
    assert not first.any()  # nothing from the model yet
    await feed_until_answered(session, fake, start=1)
    answer = await session.process(fragment(9))
    assert answer.shape == (SAMPLES, 2)
    assert np.array_equal(answer[:, 0], answer[:, 1])
    assert peak_hz(answer[:, 0], RATE) == pytest.approx(TONE_HZ, abs=5)
    assert rms(answer[:, 0]) == pytest.approx(0.3 * 32767 / np.sqrt(2), rel=0.02)


async def test_model_audio_keeps_coming_after_each_model_turn(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    fake.turn_every = 1  # every answer is a whole turn (the SDK's receive() ends there)
    session = await open_session(make_processor(), sessions)
    index = 0
    for turn in range(1, 4):
        index = await feed_until_answered(session, fake, start=index, fragments=2)
        await wait_for_async(turns_reached(fake, turn), timeout=5, what=f"turn {turn}")
    assert session.stats.connects == 1


async def test_the_backlog_is_bounded_by_dropping_the_oldest(
    fake: FakeGeminiLive, make_processor: MakeProcessor, sessions: list[GeminiSession]
) -> None:
    fake.answer_scale = 20.0  # the model talks far longer than it listens
    session = await open_session(make_processor(max_backlog_ms=500), sessions)
    await feed_until_answered(session, fake)
    assert session.backlog_samples <= RATE // 2
    assert session.stats.backlog_samples_dropped > 0
    assert session.stats.model_samples == (
        session.backlog_samples + session.stats.backlog_samples_dropped
    )


# -- failures


async def test_a_failed_session_answers_silence_then_reconnects(
    fake: FakeGeminiLive,
    make_processor: MakeProcessor,
    sessions: list[GeminiSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = await open_session(make_processor(), sessions)
    index = await feed_until_answered(session, fake)
    assert session.backlog_samples > 0

    await fake.fail()
    await wait_for_async(lambda: session.stats.failures == 1, timeout=10, what="the failure")
    answer = await session.process(fragment(index))  # never raises
    assert not answer.any()
    assert session.backlog_samples == 0

    await wait_for_async(lambda: session.stats.connects == 2, timeout=10, what="a reconnect")
    await feed_until_answered(session, fake, start=index + 1)
    answer = await session.process(fragment(index + 10))
    assert peak_hz(answer[:, 0], RATE) == pytest.approx(TONE_HZ, abs=5)
    # The new session resumes the old one's context with the handle it was given.
    assert fake.connections[1].resumption_handle == "handle-1"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "answering with silence" in warnings[0].getMessage()


async def test_refused_sessions_are_retried_with_backoff_and_logged_once(
    fake: FakeGeminiLive,
    make_processor: MakeProcessor,
    sessions: list[GeminiSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="livestream_operator")
    session = await open_session(make_processor(), sessions)
    await feed_until_answered(session, fake)
    fake.reject_code = 1011
    await fake.fail()
    await wait_for_async(lambda: session.stats.failures >= 4, timeout=10, what="retries")
    for i in range(3):
        assert not (await session.process(fragment(i))).any()
    # A handle refused (or any session that never came up) is not offered again.
    assert [c.resumption_handle for c in fake.connections[1:4]] == ["handle-1", None, None]
    fake.reject_code = None
    connects = session.stats.connects
    await wait_for_async(lambda: session.stats.connects > connects, timeout=10, what="recovery")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("livestream")]
    assert sum("failed" in m for m in messages) == 1
    assert any("re-established" in m for m in messages)


async def test_go_away_reconnects_at_once_and_keeps_the_audio(
    fake: FakeGeminiLive,
    make_processor: MakeProcessor,
    sessions: list[GeminiSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow = Backoff(initial_s=30.0, maximum_s=30.0)  # a backoff would show as a timeout
    session = await open_session(make_processor(backoff=slow), sessions)
    await feed_until_answered(session, fake)
    queued = session.backlog_samples
    await fake.go_away()
    await wait_for_async(lambda: session.stats.connects == 2, timeout=5, what="a reconnect")
    assert session.backlog_samples == queued
    assert session.stats.failures == 0
    assert fake.connections[1].resumption_handle == "handle-1"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_close_ends_the_model_session(
    fake: FakeGeminiLive, make_processor: MakeProcessor
) -> None:
    session = make_processor().open(hello())
    await wait_for_async(lambda: fake.live == 1, timeout=10, what="the session")
    await session.close()
    await wait_for_async(lambda: fake.live == 0, timeout=5, what="the fake to see it close")
    await session.close()  # twice is fine


# -- configuration


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"voice": "not a voice!"}, "params.voice"),
        ({"voice": ""}, "params.voice"),
        ({"instruction": "  "}, "params.instruction"),
        ({"instructions": "Translate."}, "params.instructions"),
    ],
)
def test_bad_params_are_refused_naming_the_param(
    make_processor: MakeProcessor, params: dict[str, str], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        make_processor().open(hello(**params))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_from_args_takes_the_key_from_the_environment(fake: FakeGeminiLive) -> None:
    args = parse(["--gemini-base-url", fake.base_url, "--gemini-voice", "Kore"])
    processor = GeminiProcessor.from_args(args, env={"GEMINI_API_KEY": f" {KEY}\n"})
    assert processor.name == f"gemini {DEFAULT_MODEL}"
    assert GeminiProcessor.from_args(args, env={"GOOGLE_API_KEY": KEY}).name == processor.name


def test_a_missing_key_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(SystemExit, match="GEMINI_API_KEY"):
        GeminiProcessor.from_args(parse([]), env={"GEMINI_API_KEY": "  "})


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--gemini-base-url", "http://127.0.0.1:1"], "--gemini-base-url"),
        (["--gemini-voice", "Ko re"], "--gemini-voice"),
        (["--gemini-instruction", ""], "--gemini-instruction"),
        (["--gemini-max-backlog-ms", "10"], "--gemini-max-backlog-ms"),
    ],
)
def test_bad_flags_stop_start_up_naming_the_flag(argv: list[str], named: str) -> None:
    with pytest.raises(SystemExit, match=named):
        GeminiProcessor.from_args(parse(argv), env={"GEMINI_API_KEY": KEY})


async def test_the_key_is_sent_but_never_logged(
    fake: FakeGeminiLive,
    make_processor: MakeProcessor,
    sessions: list[GeminiSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every library's debug lines too (websockets'...)
    printed = _Lines()  # what the process prints, formatted as it logs
    logging.getLogger().addHandler(printed)
    try:
        session = await open_session(make_processor(), sessions)
        await feed_until_answered(session, fake)
        fake.reject_code = 1008
        await fake.fail(1008, f"bad key {KEY}")  # even a service that quotes it back
        await wait_for_async(lambda: session.stats.failures >= 2, timeout=10, what="failures")
        await session.close()
    finally:
        logging.getLogger().removeHandler(printed)
    assert fake.connections[0].api_key == KEY
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("livestream_operator")]
    assert any("bad key ****" in m for m in ours)
    assert not [m for m in ours if KEY in m]
    assert any("x-goog-api-key" in line for line in printed.lines)  # websockets' debug
    assert not [line for line in printed.lines if KEY in line]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("backend"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


# -- resampling


@pytest.mark.parametrize(("src", "dst"), [(48_000, 16_000), (24_000, 48_000), (44_100, 16_000)])
def test_resampling_is_continuous_across_chunks(src: int, dst: int) -> None:
    seconds = 1.0
    n = np.arange(int(src * seconds))
    x = (8_000 * np.sin(2 * np.pi * 440.0 * n / src)).astype(np.float32)
    whole = Resampler(src, dst)(x)
    resampler = Resampler(src, dst)
    chunks = np.concatenate([resampler(c) for c in np.array_split(x, 37)])
    assert abs(len(chunks) - dst * seconds) <= 2
    assert np.allclose(chunks, whole[: len(chunks)], atol=1e-2)
    assert peak_hz(chunks, dst) == pytest.approx(440.0, abs=3)
