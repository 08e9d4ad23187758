from __future__ import annotations

import pytest

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
