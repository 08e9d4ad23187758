"""The chart's values.schema.json is generated from values.yaml and the settings model
(chart_values.py): what a tag makes of a value, and that values.yaml's defaults are
the settings' own. What Helm then refuses is tests/chart's."""

from __future__ import annotations

from typing import Any

import pytest

from livestream_operator import chart_values
from livestream_operator.api import v1alpha1 as models
from livestream_operator.chart_values import ChartValuesError, read_values
from livestream_operator.ingest import mtx_hook
from livestream_operator.settings import Settings
from tests.conftest import REPO

VALUES = read_values((REPO / "charts" / "livestream-operator" / "values.yaml").read_text())


def _schema(text: str) -> dict[str, Any]:
    properties: dict[str, Any] = chart_values.schema(read_values(text))["properties"]
    return properties


def test_values_yaml_defaults_are_the_settings_defaults() -> None:
    # Where the chart's default differs on purpose, +schema:chart-default says so and
    # the comment why; a stale chart-default is reported too.
    assert chart_values.default_drift(VALUES) == []


def test_the_values_that_become_settings() -> None:
    mapped = chart_values.settings_of(VALUES)
    assert mapped["default_grace_seconds"].name == "streams.gracePeriodSeconds"
    assert mapped["recording_max_retention"].name == "recording.maxRetention"
    assert set(mapped) <= set(Settings.model_fields)


def test_a_setting_brings_its_bounds_and_the_comment_its_description() -> None:
    schema = _schema(
        "streams:\n"
        "  # Seconds a publisher may be gone.\n"
        "  # +schema:setting=default_grace_seconds\n"
        "  gracePeriodSeconds: 30\n"
    )["streams"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["gracePeriodSeconds"] == {
        "type": "integer",
        "description": "Seconds a publisher may be gone.",
        "maximum": models.MAX_GRACE_SECONDS,
        "minimum": 0,
    }


def test_a_setting_of_a_model_type_brings_its_fields_and_rules() -> None:
    schema = _schema("# +schema:setting=default_processing\n# +schema:optional\nprocessing: {}\n")
    processing = schema["processing"]
    assert processing["if"] == {"not": {"enum": [{}]}}  # {}: none
    then = processing["then"]
    assert then["required"] == ["backend"]
    assert then["additionalProperties"] is False
    backend = then["properties"]["backend"]
    # The model validator's rule, from the same constant as the CRD's CEL rule.
    assert backend["oneOf"] == [{"required": ["url"]}, {"required": ["service"]}]
    assert backend["properties"]["url"]["pattern"] == models.BACKEND_URL_PATTERN
    params = backend["properties"]["params"]
    assert params["propertyNames"] == {"pattern": models.PARAM_KEY_PATTERN}
    assert params["additionalProperties"] == {"type": "string", "maxLength": 256}
    assert "default" not in str(then)  # values.yaml holds the chart's defaults


def test_keys_a_setting_does_not_have_are_refused_by_the_generator() -> None:
    with pytest.raises(ChartValuesError, match=r"resources\.request"):
        _schema("# +schema:setting=worker_resources\nresources:\n  request: {cpu: 1m}\n")


def test_inferred_types_and_closed_objects() -> None:
    schema = _schema(
        "a:\n  on: true\n  count: 2\n  ratio: 0.5\n  name: x\n  list: [x]\n  free: {}\n"
    )["a"]
    assert schema["additionalProperties"] is False
    assert {k: v["type"] for k, v in schema["properties"].items()} == {
        "on": "boolean",
        "count": "integer",
        "ratio": "number",
        "name": "string",
        "list": "array",
        "free": "object",
    }
    assert schema["properties"]["list"]["items"] == {"type": "string"}
    assert "additionalProperties" not in schema["properties"]["free"]  # any content


def test_a_ref_adds_to_the_keys_values_yaml_has() -> None:
    schema = _schema(
        "# +schema:ref=service\nservice:\n  enabled: true\n  type: NodePort\n  port: 1935\n"
    )["service"]
    properties = schema["properties"]
    assert properties["enabled"] == {"type": "boolean"}
    assert properties["type"]["enum"] == ["ClusterIP", "NodePort", "LoadBalancer"]
    assert (properties["port"]["minimum"], properties["port"]["maximum"]) == (1, 65535)
    # The definition's keys values.yaml lacks are still known (nodePort: null is allowed).
    assert properties["nodePort"]["type"] == ["integer", "null"]
    assert schema["additionalProperties"] is False


def test_a_map_takes_any_key_of_its_entry_schema() -> None:
    schema = _schema("# +schema:ref=resources\nres:\n  limits: {cpu: '1', memory: 1Gi}\n")["res"]
    limits = schema["properties"]["limits"]
    assert "properties" not in limits
    assert limits["additionalProperties"] == {"type": ["string", "number"]}


def test_optional_values_and_constants_from_the_code() -> None:
    schema = _schema(
        "# +schema:ref=dnsSubdomain\n"
        '# +schema:optional=["", "-"]\n'
        'storageClassName: ""\n'
        "# +schema:maximum=@ingest.mtx_hook:ATTEMPTS[2]\n"
        "attempts: 5\n"
    )
    assert schema["storageClassName"] == {
        "type": "string",
        "if": {"not": {"enum": ["", "-"]}},
        "then": {"pattern": models.DNS_SUBDOMAIN_PATTERN},
    }
    assert schema["attempts"] == {"type": "integer", "maximum": mtx_hook.ATTEMPTS[2]}


def test_a_default_that_is_not_the_codes_is_reported() -> None:
    values = read_values("# +schema:default=@ingest.mtx_hook:ATTEMPTS[0]\nattempts: 4\n")
    assert chart_values.default_drift(values) == [
        "attempts: default 4 is not @ingest.mtx_hook:ATTEMPTS[0] (5)"
    ]
    values = read_values("# +schema:setting=resync_seconds\nresync: 7\n")
    (problem,) = chart_values.default_drift(values)
    assert problem.startswith("resync: default 7 is not the setting's resync_seconds")
    values = read_values("# +schema:setting=resync_seconds\n# +schema:chart-default\nresync: 5\n")
    (problem,) = chart_values.default_drift(values)
    assert "drop +schema:chart-default" in problem


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("# +schema:minimun=1\nport: 1\n", "port: unknown tags"),
        ("# +schema:setting=no_such\nx: 1\n", "x: no setting no_such"),
        ("# +schema:ref=nothing\nx: 1\n", "x: no definition nothing"),
        ("# +schema:like=api.v1alpha1\nx: 1\n", "MODULE:NAME"),
        ("a:\n  # +schema:setting=log_level\n  x: INFO\nb:\n  # +schema:setting=log_level\n"
         "  y: INFO\n", "b.y and a.x both set log_level"),
    ],
)  # fmt: skip
def test_tags_the_generator_cannot_follow_name_the_value(text: str, words: str) -> None:
    with pytest.raises(ChartValuesError, match=words):
        _generate(text)


def _generate(text: str) -> None:
    chart_values.settings_of(read_values(text))
    _schema(text)


def test_comments_become_descriptions_with_examples_kept_on_their_lines() -> None:
    schema = _schema(
        "# Where users reach it,\n"
        "# e.g.\n"
        "#   rtmp: rtmp://h:1935\n"
        "# and nowhere else.\n"
        "# +schema:ref=port\n"
        "port: 1\n"
        "flow: {a: 1}  # a flow mapping's keys have no comment of their own\n"
    )
    assert schema["port"]["description"] == (
        "Where users reach it, e.g.\n  rtmp: rtmp://h:1935\nand nowhere else."
    )
    assert "description" not in schema["flow"]["properties"]["a"]


def test_the_readme_table_has_every_setting_with_its_chart_value() -> None:
    table = chart_values.settings_table(VALUES)
    rows = {line.split(" | ")[0].strip("| `"): line for line in table.splitlines()[2:]}
    assert set(rows) == {f"LSO_{name.upper()}" for name in Settings.model_fields}
    assert rows["LSO_DEFAULT_GRACE_SECONDS"] == (
        f"| `LSO_DEFAULT_GRACE_SECONDS` | `{models.DEFAULT_GRACE_SECONDS}` | integer 0 to "
        f"{models.MAX_GRACE_SECONDS} | `streams.gracePeriodSeconds` |"
    )
    assert "`auth.maxStreams` (chart: `50`)" in rows["LSO_MAX_STREAMS"]
    assert "(any case)" in rows["LSO_LOG_LEVEL"]


def test_the_readme_needs_its_table_markers() -> None:
    with pytest.raises(ChartValuesError, match=r"README\.md lacks"):
        chart_values.readme("# no table here\n", VALUES)
