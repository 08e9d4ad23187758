"""A local stand-in for the Gemini Live API (BidiGenerateContent over a WebSocket),
speaking the wire protocol the google-genai SDK (3.x) speaks with an API key:

    wss://<host>/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent
    (the key in the x-goog-api-key header)
    client: {"setup": {"model": "models/...", "generationConfig": {...},
                       "systemInstruction": {"parts": [{"text": ...}]}, ...}}
    server: {"setupComplete": {}}
    server: {"sessionResumptionUpdate": {"newHandle": ..., "resumable": true}}
    client: {"realtime_input": {"audio": {"data": <base64>, "mime_type": "audio/pcm;rate=16000"}}}
    server: {"serverContent": {"modelTurn": {"parts": [{"inlineData":
                {"mimeType": "audio/pcm;rate=24000", "data": <base64>}}]}}}
    server: {"serverContent": {"turnComplete": true}}     (every few answers)
    server: {"goAway": {"timeLeft": "1s"}}                (on demand)

Its "translation" is a 660 Hz tone as long as the audio it got, so that a test can
find it in the answers. It records what each connection sent, and fails on
demand: it closes its sockets, or refuses new sessions at setup. The SDK always
connects with TLS (it makes any base URL wss://), hence the certificate.

Used by the unit tier: this machine cannot reach Google, and the real service
cannot be made to fail.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import ssl
import subprocess
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
INPUT_RATE = 16_000
OUTPUT_RATE = 24_000
OUTPUT_MIME = f"audio/pcm;rate={OUTPUT_RATE}"
TONE_HZ = 660.0
AMPLITUDE = 0.3 * 32767


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), by openssl."""
    cert, key = directory / "fake-gemini.crt", directory / "fake-gemini.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _b64decode(text: str) -> bytes:
    # The SDK sends URL-safe base64; proto3 JSON accepts both alphabets.
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


def _camel(message: dict[str, Any], name: str) -> Any:
    """A field by its camelCase or snake_case name (proto3 JSON takes both)."""
    if name in message:
        return message[name]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return message.get(snake)


@dataclass
class Connection:
    """What one client connection sent."""

    path: str
    api_key: str | None
    setup: dict[str, Any] = field(default_factory=dict)
    audio: bytearray = field(default_factory=bytearray)  # every audio chunk's PCM
    audio_mime_types: set[str] = field(default_factory=set)
    other_messages: list[dict[str, Any]] = field(default_factory=list)
    answered_samples: int = 0  # 24 kHz samples of tone sent back
    turns: int = 0  # turnComplete sent

    @property
    def audio_bytes(self) -> int:
        return len(self.audio)

    @property
    def model(self) -> str | None:
        return self.setup.get("model")

    @property
    def instruction(self) -> str:
        content = _camel(self.setup, "systemInstruction") or {}
        return "".join(part.get("text", "") for part in content.get("parts", []))

    @property
    def generation_config(self) -> dict[str, Any]:
        return _camel(self.setup, "generationConfig") or {}

    @property
    def voice(self) -> str | None:
        speech = _camel(self.generation_config, "speechConfig") or {}
        voice = _camel(speech, "voiceConfig") or {}
        prebuilt = _camel(voice, "prebuiltVoiceConfig") or {}
        name = _camel(prebuilt, "voiceName")
        return name if isinstance(name, str) else None

    @property
    def resumption_handle(self) -> str | None:
        resumption = _camel(self.setup, "sessionResumption") or {}
        handle = resumption.get("handle")
        return handle if isinstance(handle, str) else None


class FakeGeminiLive:
    def __init__(
        self, cert: Path, key: Path, *, turn_every: int = 4, answer_scale: float = 1.0
    ) -> None:
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ssl.load_cert_chain(cert, key)
        self.turn_every = turn_every
        self.answer_scale = answer_scale  # answers this many times as long as the input
        self.connections: list[Connection] = []
        self.reject_code: int | None = None  # close new sessions at setup with this code
        self.silent = False  # take audio, answer nothing
        self._sockets: set[ServerConnection] = set()
        self._server: Server | None = None
        self._tone_position = 0  # the tone's phase runs on across answers

    async def start(self) -> FakeGeminiLive:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=self._ssl,
            process_request=self._check_path,
            # The SDK's default is 1 MiB per message; a long fragment's audio fits.
            max_size=8 * 2**20,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def audio_bytes(self) -> int:
        return sum(c.audio_bytes for c in self.connections)

    @property
    def live(self) -> int:
        return len(self._sockets)

    async def fail(self, code: int = 1011, reason: str = "injected failure") -> None:
        """Close every open session, as the service does when it fails."""
        await asyncio.gather(*(ws.close(code, reason) for ws in list(self._sockets)))

    async def go_away(self, time_left: str = "1s") -> None:
        await asyncio.gather(
            *(self._send(ws, {"goAway": {"timeLeft": time_left}}) for ws in list(self._sockets))
        )

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such method: {request.path}\n")
        return None

    @staticmethod
    async def _send(ws: ServerConnection, message: dict[str, Any]) -> None:
        # The service sends its JSON in binary frames.
        await ws.send(json.dumps(message).encode())

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        conn = Connection(path=ws.request.path, api_key=ws.request.headers.get("x-goog-api-key"))
        self.connections.append(conn)
        self._sockets.add(ws)
        try:
            first = json.loads(await ws.recv())
            if "setup" not in first:
                await ws.close(1007, "the first message must be setup")
                return
            conn.setup = first["setup"]
            if self.reject_code is not None:
                await ws.close(self.reject_code, "injected rejection")
                return
            await self._send(ws, {"setupComplete": {}})
            await self._send(
                ws,
                {
                    "sessionResumptionUpdate": {
                        "newHandle": f"handle-{len(self.connections)}",
                        "resumable": True,
                    }
                },
            )
            answers = 0
            async for raw in ws:
                message = json.loads(raw)
                realtime = _camel(message, "realtimeInput")
                audio = _camel(realtime, "audio") if isinstance(realtime, dict) else None
                if not isinstance(audio, dict):
                    conn.other_messages.append(message)
                    continue
                data = _b64decode(audio["data"])
                conn.audio += data
                conn.audio_mime_types.add(str(_camel(audio, "mimeType")))
                if self.silent:
                    continue
                await self._answer(ws, conn, len(data) // 2)
                answers += 1
                if answers % self.turn_every == 0:
                    await self._send(ws, {"serverContent": {"turnComplete": True}})
                    conn.turns += 1
        except (ConnectionClosed, json.JSONDecodeError, binascii.Error, KeyError):
            pass
        finally:
            self._sockets.discard(ws)

    async def _answer(self, ws: ServerConnection, conn: Connection, input_samples: int) -> None:
        count = math.ceil(input_samples * OUTPUT_RATE / INPUT_RATE * self.answer_scale)
        n = self._tone_position + np.arange(count)
        self._tone_position += count
        tone = np.rint(AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * n / OUTPUT_RATE))
        data = tone.astype("<i2").tobytes()
        conn.answered_samples += count
        part = {"inlineData": {"mimeType": OUTPUT_MIME, "data": base64.b64encode(data).decode()}}
        await self._send(ws, {"serverContent": {"modelTurn": {"parts": [part]}}})
