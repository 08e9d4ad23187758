"""The chart's slates: rendered by an init container of the MediaMTX Pod from a
ConfigMap made of `slates`, and the same JSON in the operator's LSO_SLATES."""

from __future__ import annotations

import json
from typing import Any

import pytest

from livestream_operator.api.slates import SLATE_DIR, SLATES
from livestream_operator.settings import from_env

from .chart_support import FULLNAME, MEDIAMTX, by_name, container_env, render, render_fails

CONFIG = ("ConfigMap", f"{FULLNAME}-slates")
BARS = '{"bars": {"image": {"configMap": "my-art", "key": "bars.png"}, "audio": "tone"}}'


def _pod(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = docs[MEDIAMTX]["spec"]["template"]["spec"]
    return pod


def _renderer(pod: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in pod.get("initContainers", []) if c["name"] == "render-slates"
    ]
    (init,) = found
    return init


def test_black_is_shipped_rendered_by_the_worker_image_and_read_only_to_mediamtx() -> None:
    docs = by_name(render())
    assert SLATES.validate_json(docs[CONFIG]["data"]["slates.json"]) == {
        "black": SLATES.validate_python({"black": {"colour": "#000000"}})["black"]
    }
    pod = _pod(docs)
    init = _renderer(pod)
    assert init["image"].startswith("livestream-operator/worker:")
    assert init["args"][:1] == ["render-slates"]
    assert init["securityContext"]["runAsNonRoot"] is True
    (mediamtx,) = pod["containers"]
    (mount,) = [m for m in mediamtx["volumeMounts"] if m["mountPath"] == SLATE_DIR]
    assert mount["readOnly"] is True
    (written,) = [m for m in init["volumeMounts"] if m["mountPath"] == SLATE_DIR]
    assert written["name"] == mount["name"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume


def test_the_operator_reads_the_same_slates_the_renderer_does() -> None:
    docs = by_name(render("--set-json", f"slates={BARS}", "--set", "streams.inputLossSlate=bars"))
    for component in ("operator", "hooks"):
        env = container_env(docs[("Deployment", f"{FULLNAME}-{component}")])
        settings = from_env({k: e["value"] for k, e in env.items() if "value" in e})
        assert settings.slates == SLATES.validate_json(docs[CONFIG]["data"]["slates.json"])
        assert set(settings.slates) == {"black", "bars"}  # helm merges maps
        assert settings.default_input_loss_slate == "bars"


def test_image_configmaps_are_mounted_where_the_renderer_looks() -> None:
    pod = _pod(by_name(render("--set-json", f"slates={BARS}")))
    init = _renderer(pod)
    images = init["args"][init["args"].index("--images") + 1]
    (mount,) = [m for m in init["volumeMounts"] if m["mountPath"] == f"{images}/my-art"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    # A missing ConfigMap renders black rather than keep MediaMTX from starting.
    assert volume["configMap"] == {"name": "my-art", "optional": True}


def test_a_change_of_slates_restarts_mediamtx_and_nothing_else_of_it() -> None:
    def annotations(*args: str) -> dict[str, str]:
        found: dict[str, str] = by_name(render(*args))[MEDIAMTX]["spec"]["template"]["metadata"][
            "annotations"
        ]
        return found

    before, after = annotations(), annotations("--set-json", f"slates={BARS}")
    assert before["checksum/slates"] != after["checksum/slates"]
    assert before["checksum/config"] == after["checksum/config"]


def test_no_slates_no_renderer() -> None:
    docs = by_name(render("--set", "slates.black=null"))
    assert CONFIG not in docs
    pod = _pod(docs)
    assert "initContainers" not in pod
    assert SLATE_DIR not in [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]]
    env = container_env(docs[("Deployment", f"{FULLNAME}-operator")])
    assert json.loads(env["LSO_SLATES"]["value"]) == {}


def test_the_default_slate_must_be_declared() -> None:
    err = render_fails("--set", "streams.inputLossSlate=bars")
    assert "streams.inputLossSlate" in err
    assert "black" in err


@pytest.mark.parametrize(
    "slates",
    [
        '{"Bars": {"colour": "#000000"}}',
        '{"bars": {"colour": "#00000"}}',
        '{"bars": {"colour": "red"}}',
        '{"bars": {}}',
        '{"bars": {"colour": "#000000", "image": {"configMap": "a", "key": "b"}}}',
        '{"bars": {"image": {"configMap": "a"}}}',
        '{"bars": {"colour": "#000000", "audio": "beep"}}',
    ],
)
def test_values_schema_refuses_bad_slates(slates: str) -> None:
    assert "slates" in render_fails("--set-json", f"slates={slates}")
