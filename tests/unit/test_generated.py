"""What is generated is what the code generates: the CRD and its chart copy from the
API types, values.schema.json from values.yaml and the settings model (generate.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livestream_operator import generate
from tests.conftest import REPO


@pytest.mark.parametrize("name", sorted(generate.GENERATED))
def test_each_generated_file_is_up_to_date(name: str) -> None:
    path = REPO / name
    assert path.exists(), f"{name} is missing: run `make generate`"
    assert path.read_text() == generate.GENERATED[name](REPO), (
        f"{name} is stale: run `make generate` and commit it"
    )


def _checkout(tmp_path: Path) -> Path:
    for name in generate.GENERATED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copy(REPO / generate.CHART / "values.yaml", tmp_path / generate.CHART / "values.yaml")
    return tmp_path


def test_verify_fails_on_a_stale_file_and_regenerates_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _checkout(tmp_path)
    values = root / generate.CHART / "values.yaml"
    values.write_text(
        values.read_text().replace("  gracePeriodSeconds: 30\n", "  gracePeriod: 30\n")
    )
    assert generate.main(["--root", str(root), "--verify"]) == 1
    out, err = capsys.readouterr()
    assert '+        "gracePeriod": {' in out  # the diff
    assert "values.schema.json" in err
    # Regenerated: a second run finds nothing stale.
    assert generate.main(["--root", str(root), "--verify"]) == 0


def test_generate_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        generate.main(["--root", str(tmp_path)])
