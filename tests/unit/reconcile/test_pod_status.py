"""A Pod's summary in status.worker/forwarder."""

from __future__ import annotations

from typing import Any

from livestream_operator.api.v1alpha1 import PodState, PodStatusSummary
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.reconcile.pod_status import pod_state


def test_pod_state_summaries() -> None:
    assert pod_state(None).state is PodState.ABSENT
    pod: dict[str, Any] = {"metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    assert pod_state(ObservedPod.parse(pod)).state is PodState.PENDING
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "w", "ready": False, "restartCount": 2, "state": {"running": {}}}
            ],
        },
    }
    assert pod_state(ObservedPod.parse(pod)) == PodStatusSummary(
        pod_name="p", state=PodState.RUNNING, restarts=2, message=None
    )
