"""The MediaMTX Control API paths endpoints, served from a recording of MediaMTX
1.20.1 (tests/fixtures/mediamtx-1.20.1-paths-list.json) that tests edit.

Used by the integration tier, where no media runs; the media tier runs the real
MediaMTX. It can also fail on demand, which the real one cannot be made to do.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "mediamtx-1.20.1-paths-list.json"


class FakeMediaMTX:
    def __init__(self) -> None:
        recorded = json.loads(RECORDING.read_text())
        # One recorded path item is the template for every path a test adds.
        self.template: dict[str, Any] = recorded["items"][0]
        self.paths: dict[str, dict[str, Any]] = {}
        self.failing = False
        self.requests = 0
        self._rates: dict[str, tuple[float, float, int]] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeMediaMTX:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def publish(
        self, name: str, source_id: str, source_type: str = "rtmpConn", bitrate: float = 0
    ) -> None:
        """`bitrate` (bits/s): inboundBytes grows at that rate from now on."""
        item = copy.deepcopy(self.template)
        item.update(name=name, confName="~^live/", available=True, ready=True)
        item["source"] = {"type": source_type, "id": source_id}
        with self._lock:
            self.paths[name] = item
            self._rates[name] = (bitrate, time.monotonic(), int(item.get("inboundBytes") or 0))

    def _listed(self, item: dict[str, Any]) -> dict[str, Any]:
        rate, since, base = self._rates.get(item["name"], (0.0, 0.0, 0))
        if not rate:
            return item
        grown = base + int(rate / 8 * (time.monotonic() - since))
        return {**item, "inboundBytes": grown, "bytesReceived": grown}

    def unpublish(self, name: str) -> None:
        with self._lock:
            self.paths.pop(name, None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests += 1
                if fake.failing:
                    self.send_error(500, "injected failure")
                    return
                url = urlparse(self.path)
                if url.path != "/v3/paths/list":
                    self.send_error(404)
                    return
                query = parse_qs(url.query)
                page = int(query.get("page", ["0"])[0])
                per_page = int(query.get("itemsPerPage", ["100"])[0])
                with fake._lock:
                    items = [
                        fake._listed(i)
                        for i in sorted(fake.paths.values(), key=lambda i: i["name"])
                    ]
                page_count = max(1, -(-len(items) // per_page))
                body = json.dumps(
                    {
                        "itemCount": len(items),
                        "pageCount": page_count,
                        "items": items[page * per_page : (page + 1) * per_page],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
