from __future__ import annotations

import json
import re

import pytest

from livestream_operator.api.v1alpha1 import MAX_DESTINATIONS, RETENTION_MESSAGE
from livestream_operator.settings import SettingsError, from_env


def test_defaults_and_overrides() -> None:
    s = from_env(
        {
            "LSO_NAMESPACE": "media",
            "LSO_RESYNC_SECONDS": "2.5",
            "LSO_WORKER_RESOURCES": '{"limits": {"cpu": "2"}}',
        }
    )
    assert (s.namespace, s.resync_seconds) == ("media", 2.5)
    assert s.worker_resources.limits == {"cpu": "2"}


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LSO_RESYNC_SECONDS": "often"}, "LSO_RESYNC_SECONDS"),
        ({"LSO_DEFAULT_WORKER_MODE": "dub"}, "LSO_DEFAULT_WORKER_MODE"),
        ({"LSO_DEFAULT_DESTINATIONS": "[{"}, "LSO_DEFAULT_DESTINATIONS: not valid JSON"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        from_env(env)


DESTINATION = {"name": "yt", "urlSecretRef": {"name": "keys", "key": "yt"}}
BACKEND = '{"backend": {"service": {"name": "loudness", "port": 8080, "path": "/v1/audio"}}}'


def test_default_processing_is_json() -> None:
    s = from_env({"LSO_DEFAULT_WORKER_MODE": "process", "LSO_DEFAULT_PROCESSING": BACKEND})
    assert s.default_processing is not None
    assert s.default_processing.backend.service is not None
    assert s.default_processing.backend.service.name == "loudness"
    assert s.default_processing.fragment_ms == 500  # the API's defaults
    assert from_env({}).default_processing is None


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"LSO_DEFAULT_WORKER_MODE": "process"},
            "LSO_DEFAULT_PROCESSING: required when LSO_DEFAULT_WORKER_MODE is process",
        ),
        ({"LSO_DEFAULT_PROCESSING": "{"}, "LSO_DEFAULT_PROCESSING: not valid JSON"),
        (
            {"LSO_DEFAULT_PROCESSING": '{"backend": {"url": "http://x/"}}'},
            r"LSO_DEFAULT_PROCESSING \(backend.url\): String should match pattern",
        ),
        (
            {"LSO_DEFAULT_PROCESSING": '{"backend": {}}'},
            "LSO_DEFAULT_PROCESSING .*exactly one of url and service",
        ),
        (
            {
                "LSO_INTERNAL_SECRET": "lso-internal",
                "LSO_DEFAULT_PROCESSING": '{"backend": {"url": "ws://b/", "credentialsSecretRef":'
                ' {"name": "lso-internal", "key": "pool-token"}}}',
            },
            "LSO_DEFAULT_PROCESSING: backend.credentialsSecretRef must not name the operator's "
            "internal Secret",
        ),
    ],
)
def test_bad_default_processing_names_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        from_env(env)


def test_the_retention_cap_is_bounded_as_a_streams_retention() -> None:
    with pytest.raises(SettingsError) as info:
        from_env({"LSO_RECORDING_MAX_RETENTION": "5s"})
    assert str(info.value).endswith(RETENTION_MESSAGE.removeprefix("spec.recording.retention"))


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LSO_IMAGE_PULL_POLICY": "Sometimes"}, "LSO_IMAGE_PULL_POLICY: Input should be 'Always'"),
        ({"LSO_LOG_LEVEL": "loud"}, "LSO_LOG_LEVEL: Input should be 'DEBUG'"),
        (
            {"LSO_DEFAULT_DESTINATIONS": json.dumps([DESTINATION] * 2)},
            "LSO_DEFAULT_DESTINATIONS: Value error, destination names must be unique",
        ),
        (
            {"LSO_DEFAULT_DESTINATIONS": json.dumps([DESTINATION] * (MAX_DESTINATIONS + 1))},
            f"LSO_DEFAULT_DESTINATIONS: List should have at most {MAX_DESTINATIONS} items",
        ),
    ],
)
def test_settings_refuse_what_the_pods_and_streams_they_make_would(
    env: dict[str, str], words: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(words)):
        from_env(env)


def test_the_log_level_in_either_case() -> None:
    assert from_env({"LSO_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert from_env({}).log_level == "INFO"


def test_mediamtx_instances_are_a_comma_separated_list_of_dns_labels() -> None:
    s = from_env(
        {
            "LSO_MEDIAMTX_INSTANCES": "lso-mediamtx-0, lso-mediamtx-1",
            "LSO_MEDIAMTX_DOMAIN": "lso-mediamtx-headless.media.svc",
        }
    )
    assert s.mediamtx_instances == ["lso-mediamtx-0", "lso-mediamtx-1"]
    assert s.mediamtx_domain == "lso-mediamtx-headless.media.svc"
    # Unset or empty: the one instance behind the mediamtx_* URLs.
    for env in ({}, {"LSO_MEDIAMTX_INSTANCES": "", "LSO_MEDIAMTX_DOMAIN": ""}):
        assert (from_env(env).mediamtx_instances, from_env(env).mediamtx_domain) == ([], "")


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LSO_MEDIAMTX_INSTANCES": '["a"]'}, "LSO_MEDIAMTX_INSTANCES (0): String should match"),
        ({"LSO_MEDIAMTX_INSTANCES": "a,,b"}, "LSO_MEDIAMTX_INSTANCES (1): String should match"),
        ({"LSO_MEDIAMTX_INSTANCES": "Mtx_0"}, "LSO_MEDIAMTX_INSTANCES (0): String should match"),
        ({"LSO_MEDIAMTX_INSTANCES": "a,b,a"}, "LSO_MEDIAMTX_INSTANCES: Value error, lists a more"),
        ({"LSO_MEDIAMTX_DOMAIN": "headless.media.svc."}, "LSO_MEDIAMTX_DOMAIN: String should"),
        ({"LSO_MEDIAMTX_DOMAIN": "http://x"}, "LSO_MEDIAMTX_DOMAIN: String should match"),
    ],
)
def test_bad_mediamtx_instances_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(words)):
        from_env(env)
