"""Pool mode's pure parts: flags, the assignment decision, POST /v1/assignment."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from livestream_operator.api.pod_contract import POOL_TOKEN_VAR, WorkerAssignment
from livestream_operator.api.v1alpha1 import WorkerMode
from livestream_operator.health_endpoint import authorized
from livestream_operator.problems import PROBLEM_JSON
from livestream_operator.worker.config import (
    WorkerConfig,
    assigned,
    assignment_errors,
    parse_args,
)
from livestream_operator.worker.metrics import State, WorkerMetrics
from livestream_operator.worker.pool import (
    MAX_BODY,
    Pool,
    Reply,
    Verdict,
    healthy,
    verdict,
)

TOKEN = "pool-token-0123456789abcdef"
AUTH = f"Bearer {TOKEN}"
POOL_ENV = {
    "LSO_METRICS_PORT": "9100",
    "LSO_MEDIA_USER": "lso-worker",
    "LSO_MEDIA_PASSWORD": "media-secret",
    POOL_TOKEN_VAR: TOKEN,
}
BODY: dict[str, object] = {
    "streamId": "cam-1",
    "inputUrl": "rtsp://mediamtx:8554/live/cam-1/in",
    "outputUrl": "rtsp://mediamtx:8554/live/cam-1/out",
    "mode": "bypass",
}


def _assignment(body: Mapping[str, object]) -> WorkerAssignment:
    """As the worker reads it: from JSON (strict mode takes enum values only there)."""
    return WorkerAssignment.model_validate_json(json.dumps(body))


def test_pool_flag_needs_no_stream_and_reads_the_token() -> None:
    cfg = parse_args(["--pool"], POOL_ENV)
    assert cfg.pool
    assert cfg.pool_token == TOKEN
    assert (cfg.input_url, cfg.output_url, cfg.stream_id) == ("", "", "")
    assert (cfg.media_user, cfg.media_password, cfg.metrics_port) == (
        "lso-worker",
        "media-secret",
        9100,
    )
    assert TOKEN not in repr(cfg)
    assert "media-secret" not in repr(cfg)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--pool", "--input", "rtsp://m/live/a/in"], POOL_ENV, "--pool takes its stream"),
        (["--pool"], {**POOL_ENV, "LSO_OUTPUT_URL": "rtsp://m/live/a/out"}, "LSO_OUTPUT_URL"),
        (["--pool", "--metrics-port", "0"], POOL_ENV, "metrics port"),
    ],
)
def test_pool_flag_rejects_a_stream_and_a_disabled_port(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv, env)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_assigned_config_keeps_the_pods_settings() -> None:
    base = parse_args(["--pool"], POOL_ENV)
    cfg = assigned(base, _assignment(BODY | {"mode": "tone"}))
    assert (cfg.stream_id, cfg.input_url, cfg.output_url, cfg.mode) == (
        "cam-1",
        BODY["inputUrl"],
        BODY["outputUrl"],
        WorkerMode.TONE,
    )
    assert (cfg.media_user, cfg.media_password, cfg.metrics_port) == (
        "lso-worker",
        "media-secret",
        9100,
    )


def test_assignment_errors_name_the_field() -> None:
    good = _assignment(BODY)
    assert assignment_errors(good) == []
    bad = _assignment(BODY | {"inputUrl": "rtmp://m/live/a/in", "outputUrl": "http://m/x"})
    fields = dict(assignment_errors(bad))
    assert set(fields) == {"inputUrl", "outputUrl"}
    assert "rtsp/rtsps" in fields["inputUrl"]
    assert "rtsp/rtsps/rtmp/rtmps" in fields["outputUrl"]


def test_verdict_accepts_once_then_repeats_or_conflicts() -> None:
    first = _assignment(BODY)
    again = _assignment(dict(BODY))
    other = _assignment(BODY | {"streamId": "cam-2"})
    assert verdict(None, first) is Verdict.ACCEPT
    assert verdict(first, again) is Verdict.SAME
    assert verdict(first, other) is Verdict.CONFLICT
    assert verdict(first, _assignment(BODY | {"mode": "tone"})) is (Verdict.CONFLICT)


@pytest.mark.parametrize(
    ("header", "token", "ok"),
    [
        (AUTH, TOKEN, True),
        (f"bearer   {TOKEN} ", TOKEN, True),
        (None, TOKEN, False),
        ("", TOKEN, False),
        (f"Bearer {TOKEN}x", TOKEN, False),
        (f"Basic {TOKEN}", TOKEN, False),
        ("Bearer ", "", False),  # no token configured: nothing is authorized
        (AUTH, "", False),
    ],
)
def test_authorized(header: str | None, token: str, ok: bool) -> None:
    assert authorized(header, token) is ok


class Harness:
    """A Pool whose starts are recorded instead of starting a Supervisor."""

    def __init__(self, token: str = TOKEN) -> None:
        self.started: list[WorkerConfig] = []
        self.pool = Pool(parse_args(["--pool"], POOL_ENV), token, self.started.append)

    def post(
        self,
        body: object = BODY,
        *,
        auth: str | None = AUTH,
        ctype: str | None = "application/json",
        length: str | None = None,
        no_length: bool = False,
    ) -> Reply:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        reads: list[int] = []

        def read(n: int) -> bytes:
            reads.append(n)
            return raw[:n]

        if no_length:
            length = None
        elif length is None:
            length = str(len(raw))
        reply = self.pool.post(auth, ctype, length, read)
        if reply.status in (401, 411, 413, 415):
            assert reads == [], "the body must not be read before the request may be served"
        return reply


def _problem(reply: Reply, status: int) -> dict[str, object]:
    assert reply.status == status
    assert reply.content_type == PROBLEM_JSON
    assert reply.body["status"] == status
    assert str(reply.body["type"]).startswith("https://")
    assert reply.body["title"]
    return reply.body


@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_post_without_the_token_is_401(auth: str | None) -> None:
    h = Harness()
    reply = h.post(auth=auth)
    _problem(reply, 401)
    assert ("WWW-Authenticate", 'Bearer realm="worker-pool"') in reply.headers
    assert h.started == []
    assert h.pool.assignment is None


def test_a_pool_without_a_token_refuses_everything() -> None:
    h = Harness(token="")
    _problem(h.post(auth="Bearer "), 401)
    _problem(h.post(), 401)
    assert h.started == []


def test_post_checks_media_type_and_size_before_reading() -> None:
    h = Harness()
    _problem(h.post(ctype="text/plain"), 415)
    _problem(h.post(ctype=None), 415)
    assert h.post(ctype="application/json; charset=utf-8").status == 200
    h = Harness()
    too_big = h.post(b"{" + b" " * MAX_BODY + b"}")
    assert str(MAX_BODY) in str(_problem(too_big, 413)["detail"])
    _problem(h.post(length="lots"), 400)
    _problem(h.post(length="-3"), 400)
    _problem(h.post(no_length=True), 411)
    assert h.started == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"{not json", {"body"}),
        (b"[]", {"body"}),
        ({k: v for k, v in BODY.items() if k != "outputUrl"}, {"outputUrl"}),
        (BODY | {"mode": "dub"}, {"mode"}),
        (BODY | {"streamId": "../etc"}, {"streamId"}),
        (BODY | {"inputUrl": 42}, {"inputUrl"}),  # strict: nothing is coerced
        (BODY | {"extra": 1}, {"extra"}),
        (BODY | {"inputUrl": "http://m/live/cam-1/in"}, {"inputUrl"}),
        (BODY | {"outputUrl": "srt://m:8890"}, {"outputUrl"}),
    ],
)
def test_bad_assignment_is_422_naming_the_field(body: object, fields: set[str]) -> None:
    h = Harness()
    problem = _problem(h.post(body), 422)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert {e["field"] for e in errors} == fields
    for name in fields - {"body"}:
        assert name in str(problem["detail"])
    assert h.started == []
    assert h.pool.assignment is None


def test_first_assignment_starts_once_and_repeats_are_idempotent() -> None:
    h = Harness()
    reply = h.post()
    assert (reply.status, reply.body) == (200, {"streamId": "cam-1", "assigned": True})
    assert reply.content_type == "application/json"
    assert [c.stream_id for c in h.started] == ["cam-1"]
    assert h.started[0].output_url == BODY["outputUrl"]
    assert h.started[0].media_password == "media-secret"
    # The operator retries after a restart: same answer, no second start.
    assert h.post(dict(BODY)).status == 200
    assert len(h.started) == 1


def test_a_different_assignment_is_409_naming_the_stream_served() -> None:
    h = Harness()
    assert h.post().status == 200
    problem = _problem(h.post(BODY | {"streamId": "cam-2"}), 409)
    assert problem["streamId"] == "cam-1"
    assert "cam-1" in str(problem["detail"])
    assert len(h.started) == 1
    assert h.pool.assignment == _assignment(BODY)


def test_healthy_while_idle_then_only_while_flowing() -> None:
    h = Harness()
    metrics = WorkerMetrics("", "")
    metrics.set_state(State.IDLE)
    assert healthy(h.pool, metrics)  # claimable
    assert h.post().status == 200
    assert not healthy(h.pool, metrics)  # assigned, not flowing yet
    metrics.set_state(State.CONNECTING)
    assert not healthy(h.pool, metrics)
    metrics.set_state(State.RUNNING)
    assert healthy(h.pool, metrics)
    metrics.set_state(State.RETRYING)
    assert not healthy(h.pool, metrics)


def test_stopped_idle_worker_is_not_claimable() -> None:
    metrics = WorkerMetrics("", "")
    metrics.set_state(State.STOPPED)
    assert not healthy(Harness().pool, metrics)
