from __future__ import annotations

import re

import pytest

from livestream_operator.api import naming

DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("stream_id", ["cam1", "a", "studio-b", "x" * 50])
def test_valid_ids_keep_their_name(stream_id: str) -> None:
    assert naming.resource_name(stream_id) == stream_id


@pytest.mark.parametrize(
    "stream_id", ["Cam1", "cam_1", "cam.1", "x" * 51, "-a", "a~b", "abc-0123456789", "Z" * 128]
)
def test_other_ids_get_a_valid_hashed_name(stream_id: str) -> None:
    name = naming.resource_name(stream_id)
    assert DNS.match(name)
    assert len(name) <= 50
    assert re.search(r"-[0-9a-f]{10}$", name)
    assert naming.resource_name(stream_id) == name  # deterministic


def test_names_never_collide() -> None:
    ids = [
        "cam1",
        "Cam1",
        "CAM1",
        "cam_1",
        "cam-1",
        "cam.1",
        "cam~1",
        "cam-1-" + naming.resource_name("Cam1")[-10:],
    ]
    names = [naming.resource_name(i) for i in ids]
    assert len(set(names)) == len(ids)


def test_parse_path() -> None:
    assert naming.parse_path("live/cam/in") == naming.StreamPath("cam", naming.PathRole.INGEST)
    assert naming.parse_path("live/cam/out").role is naming.PathRole.OUTPUT
    assert naming.parse_path("live/cam/backup").role is naming.PathRole.BACKUP
    assert naming.backup_path("cam") == "live/cam/backup"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("live/cam", "must look like"),
        ("vod/cam/in", "must look like"),
        ("live/cam/mid", "must end in"),
        ("live/a b/in", "stream id"),
        ("live//in", "stream id"),
    ],
)
def test_parse_path_rejects(path: str, words: str) -> None:
    with pytest.raises(naming.PathError, match=words):
        naming.parse_path(path)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("lang=es", "lang=es"),
        ("key=abc&lang=es", "key=redacted&lang=es"),
        ("streamkey=abc", "streamkey=redacted"),
        ("user=u&pass=p", "user=redacted&pass=redacted"),
        ("sk_7Hj2kL9", "redacted"),
        ("token=a=b", "token=redacted"),
    ],
)
def test_redact_query(query: str, expected: str) -> None:
    assert naming.redact_query(query) == expected
