"""Each chart value tagged `+schema:setting=FIELD` in values.yaml reaches the operator
and the receiver as LSO_FIELD, as the settings model reads it, and every LSO_*
variable they get is a setting, from a value or derived by the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from livestream_operator import chart_values
from livestream_operator.settings import Settings, env_names, from_env

from .chart_support import CHART, by_name, container_env, render

VALUES = chart_values.read_values((CHART / "values.yaml").read_text())
SETTINGS = chart_values.settings_of(VALUES)
COMPONENTS = ("operator", "hooks")

# Settings the chart builds from other values (Service addresses, images, the Pod's
# namespace, the internal Secret's name) rather than passing one value on.
DERIVED = {
    "LSO_NAMESPACE",
    "LSO_MEDIAMTX_API_URL",
    "LSO_MEDIAMTX_RTSP_URL",
    "LSO_MEDIAMTX_RTMP_URL",
    "LSO_MEDIAMTX_PLAYBACK_URL",
    "LSO_MEDIAMTX_INSTANCES",
    "LSO_MEDIAMTX_DOMAIN",
    "LSO_WORKER_IMAGE",
    "LSO_FORWARDER_IMAGE",
    "LSO_INTERNAL_SECRET",
    "LSO_POOL_TOKEN",
    "LSO_FORWARDER_TOKEN",
    "LSO_HOOK_TOKEN",
    "LSO_OPERATOR_PASSWORD",
    "LSO_WORKER_PASSWORD",
    "LSO_FORWARDER_PASSWORD",
}
# A value other than the default for the settings no rule below picks one for.
SAMPLES: dict[str, Any] = {
    "default_destinations": [{"name": "yt", "urlSecretRef": {"name": "keys", "key": "yt"}}],
    "default_processing": {"backend": {"url": "wss://backend.example.com/v1"}, "fragmentMs": 250},
    "worker_resources": {"requests": {"cpu": "30m"}, "limits": {"memory": "1Gi"}},
    "forwarder_resources": {"requests": {"memory": "40Mi"}},
    "recording_max_retention": "72h",
    "public_urls": {"rtmp": "rtmp://media.example.com:1935", "rtsp": "", "hls": "", "webrtc": ""},
    "playback_public_url": "https://dl.example.com/recordings",
    "slates": {"bars": {"image": {"configMap": "art", "key": "bars.png"}, "audio": "tone"}},
    "default_input_loss_slate": "bars",
}


def _sample(name: str, value: chart_values.Value) -> Any:
    """A valid value unlike the default: another enum member, the other boolean, a
    number one step inside the bounds."""
    if name in SAMPLES:
        return SAMPLES[name]
    schema = chart_values.field_schema(Settings, name)
    default = value.default
    if "enum" in schema:
        return next(v for v in schema["enum"] if v.upper() != str(default).upper())
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        step = default + 1
        return step if step <= schema.get("maximum", step) else default - 1
    raise AssertionError(f"{value.name}: add a sample for {name} to SAMPLES")


def _merged(default: Any, given: Any) -> Any:
    """What Helm makes of a value given over the chart's: mappings merged key by key."""
    if isinstance(default, dict) and isinstance(given, dict):
        return {**default, **{k: _merged(default.get(k), v) for k, v in given.items()}}
    return given


def _values_file(tmp_path: Path, samples: dict[str, Any]) -> Path:
    values: dict[str, Any] = {}
    for name, sample in samples.items():
        *parents, last = SETTINGS[name].path
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = sample
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _plain_env(deployment: dict[str, Any]) -> dict[str, str]:
    return {k: e["value"] for k, e in container_env(deployment).items() if "value" in e}


def test_every_setting_value_reaches_its_variable(tmp_path: Path) -> None:
    samples = {name: _sample(name, value) for name, value in SETTINGS.items()}
    docs = by_name(render("-f", str(_values_file(tmp_path, samples))))
    variables = env_names()
    seen = set()
    for component in COMPONENTS:
        env = _plain_env(docs[("Deployment", f"lso-livestream-operator-{component}")])
        settings = from_env({k: v for k, v in env.items() if k.startswith("LSO_")})
        for name, value in SETTINGS.items():
            if variables[name] not in env:
                continue
            seen.add(name)
            # What the settings model makes of the value the user gave the chart.
            given = chart_values.as_given(value, _merged(value.default, samples[name]))
            expected = Settings.model_validate({} if given is chart_values.UNSET else {name: given})
            assert getattr(settings, name) == getattr(expected, name), value.name
    assert seen == set(SETTINGS), f"rendered into no LSO_* variable: {set(SETTINGS) - seen}"


def test_every_lso_variable_is_a_setting_from_a_value_or_derived() -> None:
    docs = by_name(render())
    variables = env_names()
    from_values = {variables[name] for name in SETTINGS}
    for component in COMPONENTS:
        env = container_env(docs[("Deployment", f"lso-livestream-operator-{component}")])
        names = {name for name in env if name.startswith("LSO_")}
        # An LSO_* name the settings do not have would be ignored without a word.
        assert names <= set(variables.values()), component
        unaccounted = names - from_values - DERIVED
        assert unaccounted == set(), (
            f"{component}: {sorted(unaccounted)} come from values not tagged "
            "+schema:setting=... in values.yaml"
        )
