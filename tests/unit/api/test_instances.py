"""Where each MediaMTX instance is: none configured is today's one MediaMTX."""

from __future__ import annotations

import pytest

from livestream_operator.api.instances import DEFAULT, Instance, Instances, InstancesError, home
from livestream_operator.api.v1alpha1 import LiveStream

URLS = {
    "api_url": "http://lso-mediamtx:9997",
    "rtsp_url": "rtsp://lso-mediamtx:8554",
    "rtmp_url": "rtmp://lso-mediamtx:1935",
    "playback_url": "http://lso-mediamtx:9996/",
}
DOMAIN = "lso-mediamtx-pods.media.svc"


def test_no_instances_is_the_one_behind_the_base_urls_unchanged() -> None:
    one = Instances([], "", **URLS)
    assert list(one) == [Instance(DEFAULT, **URLS)]
    assert one.get("") is one.default
    assert one.get("lso-mediamtx-7d9f") is one.default  # a Pod's name from its hooks


def test_each_instance_is_its_pod_host_with_the_schemes_and_ports_kept() -> None:
    two = Instances(["lso-mediamtx-0", "lso-mediamtx-1"], DOMAIN, **URLS)
    assert two.names == ("lso-mediamtx-0", "lso-mediamtx-1")
    b = two.get("lso-mediamtx-1")
    assert b == Instance(
        "lso-mediamtx-1",
        f"http://lso-mediamtx-1.{DOMAIN}:9997",
        f"rtsp://lso-mediamtx-1.{DOMAIN}:8554",
        f"rtmp://lso-mediamtx-1.{DOMAIN}:1935",
        f"http://lso-mediamtx-1.{DOMAIN}:9996/",
    )


def test_a_url_without_a_port_keeps_none_and_keeps_its_credentials_and_path() -> None:
    urls = {**URLS, "api_url": "https://op:pw@mediamtx/api"}
    a = Instances(["m-0"], "d.svc", **urls).default
    assert a.api_url == "https://op:pw@m-0.d.svc/api"


def test_an_unknown_or_empty_name_is_the_default_instance() -> None:
    # Events from an older wrapper carry no instance; a status may name a Pod that
    # is gone: both are taken to be the first instance, not nowhere.
    two = Instances(["m-0", "m-1"], DOMAIN, **URLS)
    assert two.get("").name == "m-0"
    assert two.get("m-9").name == "m-0"
    assert two.get("m-1").name == "m-1"


@pytest.mark.parametrize(
    ("names", "domain", "message"),
    [
        (["m-0"], "", "LSO_MEDIAMTX_DOMAIN: required"),
        (["M_0"], DOMAIN, "LSO_MEDIAMTX_INSTANCES: 'M_0' is not a Pod's name"),
        (["m-0", "m-0"], DOMAIN, "named twice"),
    ],
)
def test_instances_that_cannot_be_addressed_are_refused_naming_the_setting(
    names: list[str], domain: str, message: str
) -> None:
    with pytest.raises(InstancesError, match=message):
        Instances(names, domain, **URLS)


def test_a_stream_lives_where_its_publisher_is_and_on_the_default_before() -> None:
    def ls(ingest: dict[str, object] | None) -> LiveStream:
        status = {"ingest": ingest} if ingest is not None else {}
        return LiveStream.model_validate(
            {"metadata": {"name": "cam"}, "spec": {"streamId": "cam"}, "status": status}
        )

    names = ("m-0", "m-1")
    assert home(ls({"available": True, "instance": "m-1"}), names) == "m-1"
    assert home(ls({"available": True}), names) == "m-0"
    assert home(ls(None), names) == "m-0"
    assert home(ls({"instance": "m-1"}), (DEFAULT,)) == DEFAULT


def test_relays_read_each_instance_with_the_credentials_encoded_and_none_with_one() -> None:
    assert Instances([], "", **URLS).relay_sources("lso-operator", "pw") == {}
    two = Instances(["lso-mediamtx-0", "lso-mediamtx-1"], DOMAIN, **URLS)
    assert two.relay_sources("lso-operator", "p@ss/:w") == {
        name: f"rtsp://lso-operator:p%40ss%2F%3Aw@{name}.{DOMAIN}:8554"
        for name in ("lso-mediamtx-0", "lso-mediamtx-1")
    }
