"""A minimal RTMP publisher for benchmarks: only as far as the server's answer to
`publish`, which is where MediaMTX asks its auth (and sends no media).

What it sends is what OBS sends before its first frame: the plain handshake
(C0 version 3, C1 with a zero time and random bytes, C2 echoing S1), Set Chunk
Size, then AMF0 commands `connect` (app, tcUrl), `releaseStream`, `FCPublish`,
`createStream` and `publish` with the stream key in the stream name
("in?key=sk_..."). It reads the server's chunked replies until `onStatus` says
NetStream.Publish.Start (accepted), another code (refused), or the connection
closes.

Written from the RTMP 1.0 specification (handshake, chunk stream, message
formats) and the AMF0 specification; no media, no AMF3, no encryption.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from dataclasses import dataclass, field
from typing import TypeAlias

AMF: TypeAlias = "float | bool | str | dict[str, AMF] | list[AMF] | None"

HANDSHAKE_SIZE = 1536
PUBLISH_START = "NetStream.Publish.Start"

# Message type ids (RTMP 1.0, 5.4 and 7.1).
SET_CHUNK_SIZE = 1
ABORT = 2
COMMAND_AMF0 = 20

# Chunk stream ids this client writes on: 2 for protocol control, as the
# specification asks; commands on 3 and the publish on 4, as OBS does.
CONTROL_CSID = 2
COMMAND_CSID = 3
PUBLISH_CSID = 4
WRITE_CHUNK_SIZE = 4096


class RtmpError(Exception):
    """The server said something this client does not understand."""


# --- AMF0 ------------------------------------------------------------------------


def amf_encode(value: AMF) -> bytes:
    if value is None:
        return b"\x05"
    if isinstance(value, bool):
        return b"\x01" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:
            return b"\x0c" + struct.pack(">I", len(raw)) + raw
        return b"\x02" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, dict):
        out = bytearray(b"\x03")
        for key, item in value.items():
            name = key.encode()
            out += struct.pack(">H", len(name)) + name + amf_encode(item)
        return bytes(out + b"\x00\x00\x09")
    out = bytearray(b"\x0a" + struct.pack(">I", len(value)))
    for item in value:
        out += amf_encode(item)
    return bytes(out)


class _AmfReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RtmpError("AMF0 value runs past the message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def string(self, wide: bool = False) -> str:
        size = (
            struct.unpack(">I", self.take(4))[0] if wide else struct.unpack(">H", self.take(2))[0]
        )
        return self.take(size).decode(errors="replace")

    def pairs(self) -> dict[str, AMF]:
        out: dict[str, AMF] = {}
        while True:
            key = self.string()
            if not key and self.data[self.pos : self.pos + 1] == b"\x09":
                self.pos += 1
                return out
            out[key] = self.value()

    def value(self) -> AMF:
        marker = self.take(1)[0]
        if marker == 0x00:
            number: float = struct.unpack(">d", self.take(8))[0]
            return number
        if marker == 0x01:
            return self.take(1) != b"\x00"
        if marker == 0x02:
            return self.string()
        if marker == 0x0C:
            return self.string(wide=True)
        if marker in (0x03, 0x10):  # object, typed object
            if marker == 0x10:
                self.string()  # the class name
            return self.pairs()
        if marker == 0x08:  # ECMA array: a count (advisory), then pairs
            self.take(4)
            return self.pairs()
        if marker == 0x0A:
            count = struct.unpack(">I", self.take(4))[0]
            return [self.value() for _ in range(count)]
        if marker in (0x05, 0x06):  # null, undefined
            return None
        if marker == 0x0B:  # date: a double and a time zone
            self.take(10)
            return None
        raise RtmpError(f"unsupported AMF0 marker 0x{marker:02x}")


def amf_decode_all(data: bytes) -> list[AMF]:
    reader = _AmfReader(data)
    values = []
    while reader.pos < len(data):
        values.append(reader.value())
    return values


# --- chunk stream ------------------------------------------------------------------


def chunked(
    csid: int, msg_type: int, stream_id: int, payload: bytes, chunk_size: int = WRITE_CHUNK_SIZE
) -> bytes:
    """One message as chunks: a type 0 header, then type 3 continuations."""
    assert 2 <= csid <= 63
    header = (
        bytes([csid])
        + (0).to_bytes(3, "big")  # timestamp
        + len(payload).to_bytes(3, "big")
        + bytes([msg_type])
        + stream_id.to_bytes(4, "little")
    )
    out = bytearray(header + payload[:chunk_size])
    for offset in range(chunk_size, len(payload), chunk_size):
        out += bytes([0xC0 | csid]) + payload[offset : offset + chunk_size]
    return bytes(out)


@dataclass
class _ChunkStream:
    length: int = 0
    msg_type: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytearray = field(default_factory=bytearray)


@dataclass
class Message:
    msg_type: int
    stream_id: int
    payload: bytes


class ChunkReader:
    """Reassembles messages from the server's chunk stream (all four header types)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.chunk_size = 128
        self.streams: dict[int, _ChunkStream] = {}

    async def _read(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    async def message(self) -> Message:
        while True:
            first = (await self._read(1))[0]
            fmt, csid = first >> 6, first & 0x3F
            if csid == 0:
                csid = 64 + (await self._read(1))[0]
            elif csid == 1:
                b = await self._read(2)
                csid = 64 + b[0] + b[1] * 256
            st = self.streams.setdefault(csid, _ChunkStream())
            if fmt <= 2:
                header = await self._read((11, 7, 3)[fmt])
                st.extended = header[0:3] == b"\xff\xff\xff"
                if fmt <= 1:
                    st.length = int.from_bytes(header[3:6], "big")
                    st.msg_type = header[6]
                if fmt == 0:
                    st.stream_id = int.from_bytes(header[7:11], "little")
            if st.extended:
                await self._read(4)  # extended timestamp (unused)
            want = min(self.chunk_size, st.length - len(st.buffer))
            st.buffer += await self._read(want)
            if len(st.buffer) < st.length:
                continue
            msg = Message(st.msg_type, st.stream_id, bytes(st.buffer))
            st.buffer = bytearray()
            if msg.msg_type == SET_CHUNK_SIZE:
                self.chunk_size = struct.unpack(">I", msg.payload[:4])[0] & 0x7FFFFFFF
            elif msg.msg_type == ABORT:
                aborted = struct.unpack(">I", msg.payload[:4])[0]
                self.streams.pop(aborted, None)
            return msg


# --- the publisher ----------------------------------------------------------------


@dataclass
class PublishResult:
    code: str  # the onStatus code, or "closed" when the server hung up first
    setup_seconds: float  # TCP connect .. createStream answered
    publish_seconds: float  # `publish` sent .. the server's answer (or its close)
    description: str = ""

    @property
    def accepted(self) -> bool:
        return self.code == PUBLISH_START


class _Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.chunks = ChunkReader(reader)
        self.writer = writer

    def command(self, csid: int, stream_id: int, *values: AMF) -> None:
        payload = b"".join(amf_encode(v) for v in values)
        self.writer.write(chunked(csid, COMMAND_AMF0, stream_id, payload))

    async def reply(self, names: tuple[str, ...], txn: float | None = None) -> list[AMF]:
        """The next command named one of `names` (with transaction id `txn`, if given)."""
        while True:
            msg = await self.chunks.message()
            if msg.msg_type != COMMAND_AMF0:
                continue
            values = amf_decode_all(msg.payload)
            if not values or values[0] not in names:
                continue
            if txn is None or (len(values) > 1 and values[1] == txn):
                return values


def _status(values: list[AMF]) -> tuple[str, str]:
    info = next((v for v in values[2:] if isinstance(v, dict)), {})
    return str(info.get("code", "")), str(info.get("description", ""))


async def publish(
    host: str, port: int, app: str, stream_name: str, timeout: float = 10.0
) -> PublishResult:
    """Connect, publish `stream_name` on `app` and return the server's answer, timed."""
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    session = _Session(reader, writer)
    setup = sent = 0.0
    try:
        async with asyncio.timeout(timeout):
            # Handshake: C0 + C1, then S0 + S1 + S2; C2 echoes S1.
            writer.write(b"\x03" + bytes(8) + os.urandom(HANDSHAKE_SIZE - 8))
            s0s1 = await reader.readexactly(1 + HANDSHAKE_SIZE)
            if s0s1[0] != 3:
                raise RtmpError(f"server handshake version {s0s1[0]}")
            writer.write(s0s1[1:])
            await reader.readexactly(HANDSHAKE_SIZE)  # S2
            writer.write(
                chunked(CONTROL_CSID, SET_CHUNK_SIZE, 0, struct.pack(">I", WRITE_CHUNK_SIZE))
            )
            session.command(
                COMMAND_CSID,
                0,
                "connect",
                1,
                {
                    "app": app,
                    "type": "nonprivate",
                    "flashVer": "FMLE/3.0 (compatible; lso-bench)",
                    "tcUrl": f"rtmp://{host}:{port}/{app}",
                },
            )
            connected = await session.reply(("_result", "_error"), 1)
            if connected[0] != "_result":
                code, desc = _status(connected)
                return PublishResult(code or "connect-error", 0.0, 0.0, desc)
            session.command(COMMAND_CSID, 0, "releaseStream", 2, None, stream_name)
            session.command(COMMAND_CSID, 0, "FCPublish", 3, None, stream_name)
            session.command(COMMAND_CSID, 0, "createStream", 4, None)
            created = await session.reply(("_result", "_error"), 4)
            if created[0] != "_result" or len(created) < 4:
                return PublishResult("createStream-error", 0.0, 0.0)
            stream_id = created[3]
            if not isinstance(stream_id, float):
                raise RtmpError(f"createStream answered {created!r}")
            setup = time.perf_counter() - started
            sent = time.perf_counter()
            session.command(PUBLISH_CSID, int(stream_id), "publish", 5, None, stream_name, "live")
            await writer.drain()
            try:
                answer = await session.reply(("onStatus", "_error"))
            except (asyncio.IncompleteReadError, ConnectionError):
                return PublishResult("closed", setup, time.perf_counter() - sent)
            code, desc = _status(answer)
            return PublishResult(code, setup, time.perf_counter() - sent, desc)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
