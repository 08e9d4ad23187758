"""status.input's frame rate and keyframe interval from the worker's report: the
operator's two fields beside the ingest's, and no write while they hold."""

from __future__ import annotations

from livestream_operator.api.ownership import FieldManager, owned_part
from livestream_operator.api.pod_contract import InputReport
from livestream_operator.api.v1alpha1 import InputStatus
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.input_cadence import cadence_status, complete
from livestream_operator.reconcile.plan import plan

from .test_plan import LIVE_IN, SETTINGS, T0, children, ls, running, written

REPORT = InputReport(frame_rate=29.970029, keyframe_interval=2.002)


def test_the_report_is_rounded_and_kept_until_the_next_one() -> None:
    got = cadence_status(None, REPORT)
    assert got == InputStatus(frame_rate=29.97, keyframe_interval=2.0)
    assert cadence_status(got, None) == got
    assert cadence_status(got, InputReport()) == got  # a new attempt has no sample yet
    assert cadence_status(None, InputReport()) is None
    assert cadence_status(got, InputReport(frame_rate=25)) == InputStatus(frame_rate=25)
    assert (complete(REPORT), complete(InputReport()), complete(None)) == (True, False, False)


def test_the_plan_writes_them_beside_the_ingests_fields_and_then_nothing() -> None:
    body = ls(ingest=LIVE_IN, output={"available": True})
    status = body.status.model_validate(
        {**body.status.wire(), "input": {"sourceId": "s1", "video": {"codec": "H264"}}}
    )
    body = body.model_copy(update={"status": status})
    worker = children(running(manifests.worker_pod(body, SETTINGS)))
    first = plan(body, worker, SETTINGS, T0, input_report=REPORT)
    assert owned_part(first.status, FieldManager.OPERATOR)["input"] == {
        "frameRate": 29.97,
        "keyframeInterval": 2.0,
    }
    after = written(body, first)
    assert after.status.input is not None
    assert after.status.input.video is not None  # the ingest's, untouched
    for report in (REPORT, None):
        again = plan(after, worker, SETTINGS, T0, input_report=report)
        assert owned_part(again.status, FieldManager.OPERATOR) == owned_part(
            after.status, FieldManager.OPERATOR
        )
