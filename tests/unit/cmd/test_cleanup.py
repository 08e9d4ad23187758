"""`livestream-operator cleanup`: arguments and exit codes (no API server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livestream_operator.cli import COMMANDS
from livestream_operator.cmd import cleanup


def test_is_a_subcommand() -> None:
    assert "cleanup" in COMMANDS


def test_defaults_and_namespace_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSO_NAMESPACE", "media")
    opts = cleanup.parse_args([])
    assert opts == cleanup.Options("media", 60.0, 5.0)
    assert cleanup.parse_args(["--namespace", "other", "--timeout", "7.5"]).namespace == "other"
    assert cleanup.parse_args(["--timeout", "7.5", "--finalizer-wait", "0"]).timeout == 7.5


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no namespace at all
        ["--namespace", "Bad_Name"],
        ["--namespace", "media", "--timeout", "soon"],
        ["--namespace", "media", "--timeout", "-1"],
        ["--namespace", "media", "--finalizer-wait", "1e9"],
        ["--namespace", "media", "--what"],
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LSO_NAMESPACE", raising=False)
    assert cleanup.main(argv) == 2
    assert "usage: livestream-operator cleanup" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cleanup.main(["--help"]) == 0
    assert "--timeout" in capsys.readouterr().out


def test_unreachable_api_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1 of the loopback address.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
        "    insecure-skip-tls-verify: true\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
        "current-context: c\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cleanup.main(["--namespace", "media", "--timeout", "1"]) == 1
    assert "cannot reach the Kubernetes API" in capsys.readouterr().err


def test_missing_kubeconfig_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cleanup.main(["--namespace", "media"]) == 1
    assert "cleanup:" in capsys.readouterr().err
