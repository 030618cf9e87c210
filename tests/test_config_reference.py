"""The README's training config reference is generated from the pydantic models and kept in sync."""
from __future__ import annotations

from pathlib import Path

from fourm_registry.config_docs import END, START, reference, rows
from fourm_registry.training.config import TrainConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_reference_is_up_to_date():
    text = README.read_text()
    current = text[text.index(START):text.index(END) + len(END)]
    assert current == reference(), "README config reference is stale: python -m fourm_registry.config_docs --write README.md"


def test_every_section_and_nested_field_is_listed():
    keys = {k for k, *_ in rows(TrainConfig)}
    for section, model in TrainConfig.model_fields.items():
        assert section in keys
    assert {"data.repeat", "data.shards", "optim.lr", "masking.components[].input_alphas",
            "modalities.settings.<name>.vocab_size", "modalities.allow_tokenizer_mismatch"} <= keys
    meaning = {k: m for k, _, _, m in rows(TrainConfig)}
    assert "masked and used this many times" in meaning["data.repeat"]  # comments become meanings
