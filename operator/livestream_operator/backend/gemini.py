"""The Gemini Live backend (`backend --kind gemini`): each stream session opens one
Gemini Live session (google-genai's `client.aio.live`) and streams the stream's
audio to it; whatever the model says (a spoken translation, with the default
instruction) comes back as the fragments' answers, for the worker to mix.

    fragment (hello rate, channels) --downmix, resample--> 16 kHz mono --> model
    model --24 kHz mono--> resample to the hello's rate --> FIFO --> next answers

The model answers when it has something to say, not once per fragment, so the two
directions are decoupled: `process()` queues the fragment for a sender task and
answers at once with the next fragment-length of model audio from the FIFO (a
receiver task fills it), padded with silence. It never waits for the model: the
worker has a deadline per fragment, and silence is the right answer when the
model has nothing (the worker's duck mix then leaves the original alone).

A failed or closed model session is never an error for the worker: the session
answers silence, logs once per outage, and reconnects in the background with
backoff (resuming the model's context when the service gave a resumption handle).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import logging
import math
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from google import genai
from google.genai import live, types

from .. import logs
from ..api.backend_protocol import Hello
from ..backoff import exponential
from .processor import Pcm

log = logging.getLogger(__name__)

# A current Gemini API Live model with native audio (ai.google.dev/gemini-api/docs/models).
DEFAULT_MODEL = "gemini-3.8-live"
DEFAULT_INSTRUCTION = "Translate everything you hear into English and speak only the translation."
# GEMINI_API_KEY first: it names this backend's own variable, and wins over a
# GOOGLE_API_KEY that a shared environment may carry for something else.
API_KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
# The Gemini API serves the Live WebSocket on v1beta only (the SDK's default is v1).
API_VERSION = "v1beta"
INPUT_RATE = 16_000  # what Live expects: s16le mono at 16 kHz
INPUT_MIME = f"audio/pcm;rate={INPUT_RATE}"
OUTPUT_RATE = 24_000  # what Live answers, unless its mime type says otherwise
# Model audio held for answers. The model speaks in bursts faster than real time,
# so this must hold a sentence or two; beyond it, the oldest is dropped.
DEFAULT_MAX_BACKLOG_MS = 10_000
# Input queued while the model is slow or reconnecting; older audio is dropped
# rather than sent late (its translation would come long after the picture).
MAX_INPUT_BACKLOG_S = 2.0
SETUP_TIMEOUT_S = 15.0
PARAMS = ("instruction", "voice")
_VOICE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_RATE = re.compile(r"rate=(\d+)")

Mono = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: initial, doubling up to maximum (with jitter); reset once a
    session has stayed up for `stable_s`, so that a session that fails right after
    its setup keeps backing off."""

    initial_s: float = 0.5
    maximum_s: float = 30.0
    stable_s: float = 10.0
    jitter: float = 0.5  # each delay between half of it and all of it

    def delay(self, attempt: int) -> float:
        return exponential(
            attempt,
            base=self.initial_s,
            cap=self.maximum_s,
            jitter=self.jitter,
            draw=random.random(),
        )


@dataclass
class Stats:
    """Counters for the session's close log line and for tests."""

    fragments: int = 0
    input_bytes_sent: int = 0  # 16 kHz s16le mono sent to the model
    input_bytes_dropped: int = 0  # queued input dropped (model slow or away)
    model_samples: int = 0  # model audio received, at the hello's rate
    backlog_samples_dropped: int = 0  # oldest model audio dropped (FIFO full)
    interrupted_samples_dropped: int = 0  # model audio the model itself cancelled
    silence_samples: int = 0  # answer samples padded with silence
    connects: int = 0  # sessions set up
    failures: int = 0  # sessions or connection attempts that failed


class Resampler:
    """Mono float32 from one rate to another, continuous across chunks.

    Simple and vectorised rather than high-fidelity: downsampling first averages
    blocks of src // dst samples (a boxcar, a cheap anti-alias filter, and exact
    for 48 kHz -> 16 kHz), then linear interpolation covers any ratio left
    (24 kHz -> 48 kHz, 44.1 kHz -> 16 kHz). The boxcar leaks some aliasing (its
    first sidelobe is only ~13 dB down) and linear interpolation dulls the top
    octave and leaves faint images; that is fine for speech into a recogniser and
    for a voice mixed over the programme, not for music. State (a partial block,
    the last sample, the phase) carries over, so chunk edges do not click.
    """

    def __init__(self, src: int, dst: int) -> None:
        self._block = max(1, src // dst)
        rate = src / self._block
        self._step = rate / dst  # input samples per output sample
        self._exact = rate == dst
        self._partial: Mono = np.zeros(0, np.float32)
        self._last: Mono = np.zeros(0, np.float32)  # the previous chunk's last sample
        self._pos = 0.0  # the next output's position, from the start of _last

    def __call__(self, x: Mono) -> Mono:
        if self._block > 1:
            x = np.concatenate((self._partial, x))
            whole = len(x) - len(x) % self._block
            self._partial = x[whole:]
            x = x[:whole].reshape(-1, self._block).mean(axis=1, dtype=np.float32)
        if self._exact or not len(x):
            return x
        buf = np.concatenate((self._last, x))
        end = len(buf) - 1  # outputs need a sample on either side: positions <= end
        count = math.floor((end - self._pos) / self._step) + 1 if end >= self._pos else 0
        positions = self._pos + self._step * np.arange(count)
        out: Mono = np.interp(positions, np.arange(len(buf)), buf).astype(np.float32)
        self._pos += count * self._step - end
        self._last = buf[-1:]
        return out


def downmix(pcm: Pcm) -> Mono:
    samples = pcm.astype(np.float32)
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


def to_s16le(x: Mono) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def _mime_rate(mime_type: str | None) -> int:
    found = _RATE.search(mime_type or "")
    return int(found.group(1)) if found else OUTPUT_RATE


class _GoAway(Exception):
    """The service announced it will close the connection: reconnect now."""


@dataclass
class _Settings:
    model: str
    instruction: str
    voice: str | None
    max_backlog_ms: int
    api_key: str = field(repr=False)
    backoff: Backoff = field(default_factory=Backoff)

    def describe(self, exc: BaseException) -> str:
        """An exception for a log line, without the key should the service quote it."""
        return f"{type(exc).__name__}: {str(exc)[:300]}".replace(self.api_key, logs.MASK)


class GeminiSession:
    """One stream's Gemini Live session, and the FIFO of the model's audio."""

    def __init__(self, client: genai.Client, settings: _Settings, hello: Hello) -> None:
        self._client = client
        self._settings = settings
        self._hello = hello
        self.stats = Stats()
        self.connected = False
        self._resample_in = Resampler(hello.sample_rate, INPUT_RATE)
        self._resample_out: tuple[int, Resampler] | None = None
        # Model audio at the hello's rate, mono; chunks as they came.
        self._fifo: collections.deque[Mono] = collections.deque()
        self._fifo_samples = 0
        self._max_fifo = hello.sample_rate * settings.max_backlog_ms // 1000
        self._outbox: collections.deque[bytes] = collections.deque()
        self._outbox_bytes = 0
        self._max_outbox = int(INPUT_RATE * 2 * MAX_INPUT_BACKLOG_S)
        self._wake = asyncio.Event()
        self._handle: str | None = None  # session resumption
        self._outage = False  # a failure was logged and no session is up since
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        with contextlib.suppress(RuntimeError):  # no loop yet: start on the first fragment
            asyncio.get_running_loop()
            self._start()

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name=f"gemini {self._hello.stream_id}")

    @property
    def backlog_samples(self) -> int:
        """Model audio waiting for answers, in samples at the hello's rate."""
        return self._fifo_samples

    async def process(self, pcm: Pcm) -> Pcm:
        # No await in here: the answer depends on nothing but the FIFO, and
        # concurrent calls take their spans in call order.
        self._start()
        self.stats.fragments += 1
        self._queue_input(to_s16le(self._resample_in(downmix(pcm))))
        mono = self._take(pcm.shape[0])
        out = np.clip(np.rint(mono), -32768, 32767).astype(np.int16)
        return np.repeat(out[:, None], self._hello.channels, axis=1)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        log.info(
            "Gemini Live session closed",
            extra={"model": self._settings.model, **vars(self.stats)},
        )

    # -- the FIFOs

    def _queue_input(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._outbox.append(chunk)
        self._outbox_bytes += len(chunk)
        while self._outbox_bytes > self._max_outbox:
            dropped = self._outbox.popleft()
            self._outbox_bytes -= len(dropped)
            self.stats.input_bytes_dropped += len(dropped)
        self._wake.set()

    def _take_input(self) -> bytes:
        data = b"".join(self._outbox)
        self._outbox.clear()
        self._outbox_bytes = 0
        self._wake.clear()
        return data

    def _take(self, count: int) -> Mono:
        out = np.zeros(count, np.float32)
        filled = 0
        while filled < count and self._fifo:
            chunk = self._fifo[0]
            n = min(count - filled, len(chunk))
            out[filled : filled + n] = chunk[:n]
            filled += n
            if n == len(chunk):
                self._fifo.popleft()
            else:
                self._fifo[0] = chunk[n:]
        self._fifo_samples -= filled
        self.stats.silence_samples += count - filled
        return out

    def _put_model_audio(self, data: bytes, mime_type: str | None) -> None:
        rate = _mime_rate(mime_type)
        if self._resample_out is None or self._resample_out[0] != rate:
            self._resample_out = (rate, Resampler(rate, self._hello.sample_rate))
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32)
        chunk = self._resample_out[1](pcm)
        if not len(chunk):
            return
        self._fifo.append(chunk)
        self._fifo_samples += len(chunk)
        self.stats.model_samples += len(chunk)
        # Drop the oldest audio: latency stays bounded if the model talks faster
        # (or longer) than real time.
        excess = self._fifo_samples - self._max_fifo
        if excess > 0:
            self._take(excess)  # the FIFO holds more than excess: no silence counted
            self.stats.backlog_samples_dropped += excess

    def _flush(self) -> int:
        flushed = self._fifo_samples
        self._fifo.clear()
        self._fifo_samples = 0
        self._resample_out = None
        return flushed

    # -- the model side

    def _config(self) -> types.LiveConnectConfig:
        voice = self._settings.voice
        return types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            system_instruction=self._settings.instruction,
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(
                    prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)
                )
            )
            if voice
            else None,
            # A programme's speech never pauses for the model: let it finish
            # its sentence instead of cutting it off whenever someone talks.
            realtime_input_config=types.RealtimeInputConfig(
                activity_handling=types.ActivityHandling.NO_INTERRUPTION
            ),
            # Without compression an audio session ends when its context is full
            # (about 15 minutes); a live stream runs for hours.
            context_window_compression=types.ContextWindowCompressionConfig(
                sliding_window=types.SlidingWindow()
            ),
            session_resumption=types.SessionResumptionConfig(handle=self._handle),
        )

    async def _run(self) -> None:
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._connect_once()
            except _GoAway:
                attempt = 0
                continue  # at once: the service asked, and the handle resumes the context
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc)
            finally:
                self.connected = False
            if time.monotonic() - started >= self._settings.backoff.stable_s:
                attempt = 0
            await asyncio.sleep(self._settings.backoff.delay(attempt))
            attempt += 1

    def _failed(self, exc: Exception) -> None:
        self.stats.failures += 1
        # Audio already received is dropped with the session: answers go silent
        # (the original plays) rather than trailing a session that is gone.
        self._flush()
        if not self.connected:
            # It never came up with this handle: start the next one afresh.
            self._handle = None
        if not self._outage:
            self._outage = True
            log.warning(
                "Gemini Live session failed (%s); answering with silence and reconnecting",
                self._settings.describe(exc),
            )
        else:
            log.debug("Gemini Live reconnect failed (%s)", self._settings.describe(exc))

    async def _connect_once(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            # The SDK waits for the setup's answer without a limit of its own.
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                session = await stack.enter_async_context(
                    self._client.aio.live.connect(model=self._settings.model, config=self._config())
                )
            self.connected = True
            self.stats.connects += 1
            if self._outage:
                self._outage = False
                log.info("Gemini Live session re-established")
            else:
                log.info("Gemini Live session up", extra={"model": self._settings.model})
            tasks = {
                asyncio.create_task(self._send_loop(session)),
                asyncio.create_task(self._receive_loop(session)),
            }
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()  # raises the failure (or _GoAway)
            raise ConnectionError("Gemini Live session ended")

    async def _send_loop(self, session: live.AsyncSession) -> None:
        while True:
            await self._wake.wait()
            data = self._take_input()  # everything queued, in one message
            if data:
                await session.send_realtime_input(audio=types.Blob(data=data, mime_type=INPUT_MIME))
                self.stats.input_bytes_sent += len(data)

    async def _receive_loop(self, session: live.AsyncSession) -> None:
        while True:  # receive() ends with each model turn; the session goes on
            async for message in session.receive():
                self._on_message(message)

    def _on_message(self, message: types.LiveServerMessage) -> None:
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            self._handle = update.new_handle
        content = message.server_content
        if content is not None:
            if content.interrupted:
                self.stats.interrupted_samples_dropped += self._flush()
            parts = content.model_turn.parts if content.model_turn else None
            for part in parts or []:
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                    self._put_model_audio(blob.data, blob.mime_type)
        if message.go_away is not None:
            log.info(
                "Gemini Live asked to reconnect (goAway, time left %s)", message.go_away.time_left
            )
            raise _GoAway


class GeminiProcessor:
    """Opens a Gemini Live session per stream; one SDK client for the process."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        instruction: str = DEFAULT_INSTRUCTION,
        voice: str | None = None,
        base_url: str | None = None,
        max_backlog_ms: int = DEFAULT_MAX_BACKLOG_MS,
        backoff: Backoff | None = None,
    ) -> None:
        api_key = api_key.strip()
        if not api_key:
            raise ValueError(f"{API_KEY_VARS[0]} is empty")
        logs.never_log(api_key)
        if not model.strip():
            raise ValueError("--gemini-model must not be empty")
        _check_instruction("--gemini-instruction", instruction)
        if voice is not None:
            _check_voice("--gemini-voice", voice)
        if base_url is not None and urlsplit(base_url).scheme not in ("https", "wss"):
            # The SDK always connects with TLS (it turns any scheme into wss://).
            raise ValueError(f"--gemini-base-url must be an https:// URL, not {base_url!r}")
        if not 100 <= max_backlog_ms <= 600_000:
            raise ValueError("--gemini-max-backlog-ms must be between 100 and 600000")
        self.name = f"gemini {model}"[:128]
        self._settings = _Settings(
            model=model.strip(),
            instruction=instruction,
            voice=voice,
            max_backlog_ms=max_backlog_ms,
            api_key=api_key,
            backoff=backoff or Backoff(),
        )
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(base_url=base_url, api_version=API_VERSION),
        )

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, env: Mapping[str, str] | None = None
    ) -> GeminiProcessor:
        """The processor the flags describe; SystemExit with a message when the key
        is missing or a flag is wrong, for the CLI to exit non-zero."""
        env = os.environ if env is None else env
        api_key = next((env[v].strip() for v in API_KEY_VARS if env.get(v, "").strip()), "")
        if not api_key:
            raise SystemExit(
                "livestream-operator backend --kind gemini: set GEMINI_API_KEY "
                "(or GOOGLE_API_KEY) to a Gemini API key"
            )
        try:
            return cls(
                api_key=api_key,
                model=args.gemini_model,
                instruction=args.gemini_instruction,
                voice=args.gemini_voice,
                base_url=args.gemini_base_url,
                max_backlog_ms=args.gemini_max_backlog_ms,
            )
        except ValueError as exc:
            raise SystemExit(f"livestream-operator backend --kind gemini: {exc}") from None

    def open(self, hello: Hello) -> GeminiSession:
        unknown = sorted(set(hello.params) - set(PARAMS))
        if unknown:
            raise ValueError(
                f"params.{unknown[0]} is not a gemini backend param (known: {', '.join(PARAMS)})"
            )
        instruction = hello.params.get("instruction", self._settings.instruction)
        voice = hello.params.get("voice", self._settings.voice)
        _check_instruction("params.instruction", instruction)
        if voice is not None:
            _check_voice("params.voice", voice)
        settings = dataclasses.replace(self._settings, instruction=instruction, voice=voice)
        return GeminiSession(self._client, settings, hello)


def _check_instruction(what: str, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{what} must not be empty")


def _check_voice(what: str, value: str) -> None:
    if not _VOICE.fullmatch(value):
        raise ValueError(f"{what} must be a prebuilt voice name such as Kore, not {value[:64]!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "gemini", "--kind gemini (API key from env GEMINI_API_KEY, or GOOGLE_API_KEY)"
    )
    group.add_argument(
        "--gemini-model", default=DEFAULT_MODEL, help=f"Live model (default {DEFAULT_MODEL})"
    )
    group.add_argument(
        "--gemini-instruction",
        default=DEFAULT_INSTRUCTION,
        help="system instruction; a stream's params.instruction overrides it",
    )
    group.add_argument(
        "--gemini-voice",
        default=None,
        help="prebuilt voice (e.g. Kore; default the model's); params.voice overrides it",
    )
    group.add_argument(
        "--gemini-base-url",
        default=None,
        help="API endpoint, https:// (default the SDK's, generativelanguage.googleapis.com)",
    )
    group.add_argument(
        "--gemini-max-backlog-ms",
        type=int,
        default=DEFAULT_MAX_BACKLOG_MS,
        help="model audio held for answers at most; older is dropped "
        f"(default {DEFAULT_MAX_BACKLOG_MS})",
    )
