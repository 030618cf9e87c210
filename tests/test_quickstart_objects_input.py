"""The caption diagnostics (`python -m fourm_quickstart.objects RUN`) answer bad run folders in one line."""
from __future__ import annotations

import json

import pytest

from fourm_quickstart import objects


@pytest.mark.parametrize("content, expect", [
    (None, "not a quickstart run directory"),
    ("{not json", "quickstart.json is not valid"),
    (json.dumps({"floor_tile": 1.0}), "floor_tile"),  # a setting this version does not know
    (json.dumps({"train_steps": "many"}), "train_steps"),
])
def test_bad_run_folder_is_one_line(tmp_path, capsys, content, expect):
    if content is not None:
        (tmp_path / "quickstart.json").write_text(content)
    assert objects.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and err.startswith("Error:")
    assert "Traceback" not in err


def test_run_without_a_model_is_one_line(tmp_path, capsys):
    (tmp_path / "quickstart.json").write_text("{}")
    assert objects.main([str(tmp_path)]) == 2
    assert "no trained model yet" in capsys.readouterr().err
