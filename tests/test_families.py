"""Model families as plugins: the built-in 4M family, a throwaway third-party family (registered,
listed, picked by ``model.family``, trained by the unchanged trainer) and the hook's errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict
from torch import nn

from fourm_cli.app import build_app
from fourm_registry import FourmError, PluginError, Registry, UnknownNameError, hookimpl
from fourm_registry.config import ConfigError, load_config
from fourm_registry.families import FamilyModel, ModelFamilySpec, resolve_family
from fourm_registry.model import FourMConfig
from fourm_registry.training import TrainConfig, Trainer

from ._torch_threads import one_torch_thread  # noqa: F401
from ._train_shards import SMALL, write_shards

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"


class BagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = 16


class BagOutput:
    def __init__(self, loss, losses):
        self.loss, self.losses = loss, losses


class Bag(nn.Module):
    """Mean of the visible input-token embeddings → one linear head per target modality."""

    def __init__(self, cfg: BagConfig, specs):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.ModuleDict({s.name: nn.Embedding(s.tokenizer.vocab_size, cfg.width) for s in specs})
        self.heads = nn.ModuleDict({s.name: nn.Linear(cfg.width, s.tokenizer.vocab_size) for s in specs})

    def forward(self, batch):
        pooled = sum((self.embed[n](mb.inputs) * mb.input_mask[..., None]).sum(1) for n, mb in batch.items())
        count = sum(mb.input_mask.sum(1, keepdim=True) for mb in batch.values()).clamp(min=1)
        pooled = pooled / count
        losses = {}
        for name, mb in batch.items():
            if mb.targets is None or not mb.target_mask.any():
                continue
            logits = self.heads[name](pooled)[:, None].expand(-1, mb.targets.shape[1], -1)
            losses[name] = nn.functional.cross_entropy(logits[mb.target_mask], mb.targets[mb.target_mask])
        return BagOutput(sum(losses.values()) / max(len(losses), 1), losses)

    def save_pretrained(self, directory):
        from safetensors.torch import save_model

        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "config.json").write_text(json.dumps({"family": "bag", **self.cfg.model_dump()}))
        save_model(self, str(Path(directory) / "model.safetensors"))


BUILT: list[Bag] = []


def build_bag(cfg, registry, specs):
    BUILT.append(Bag(cfg, specs))
    return BUILT[-1]


class BagPlugin:
    @hookimpl
    def register_families(self, register):
        register(ModelFamilySpec(name="bag", description="bag of tokens", config=BagConfig, build=build_bag))


class SecondDefault:
    @hookimpl
    def register_families(self, register):
        register({"name": "other", "config": BagConfig, "build": build_bag, "default": True})


@pytest.fixture(scope="module")
def bag_registry():
    return Registry.build(BagPlugin(), allow=[])


def test_builtin_4m_family_is_the_default(registry):
    family = registry.get_family()
    assert family.name == "4m" and family.default and family.config is FourMConfig
    assert registry.providers["family:4m"] == "fourm4m"
    assert registry.get_family("4m") is family


def test_third_party_family_joins_and_is_listed(bag_registry, runner):
    assert bag_registry.list_families() == ["4m", "4m-cross", "bag"]
    assert bag_registry.providers["family:bag"] == "BagPlugin"
    rows = {r["name"]: r for r in json.loads(runner.invoke(build_app(bag_registry), ["families", "--json"]).output)}
    assert rows["bag"]["config"] == "BagConfig" and rows["bag"]["default"] == ""
    assert rows["4m"]["default"] == "yes" and rows["4m"]["generate"] == "yes" and rows["bag"]["generate"] == "n/a"
    table = runner.invoke(build_app(bag_registry), ["families"]).output
    assert "bag of tokens" in table and "BagPlugin" in table


def test_model_section_picks_the_family(bag_registry):
    base = {"modalities": {"inputs": ["rgb"], "targets": ["rgb"]}, "data": {"shards": "x.tar"},
            "optim": {"total_tokens": 1000}}
    named = TrainConfig.model_validate({**base, "model": {"family": "bag", "width": 8}})
    assert isinstance(named.model, FamilyModel) and named.model.family == "bag"
    family, cfg = resolve_family(named.model, bag_registry)
    assert family.name == "bag" and cfg == BagConfig(width=8)
    assert named.model_dump(mode="json")["model"] == {"family": "bag", "width": 8}  # exported as written
    plain = TrainConfig.model_validate({**base, "model": {"preset": "tiny"}})
    explicit = TrainConfig.model_validate({**base, "model": {"family": "4m", "preset": "tiny"}})
    assert resolve_family(plain.model, bag_registry)[1] == resolve_family(explicit.model, bag_registry)[1]
    assert resolve_family(plain.model, bag_registry)[0].name == "4m"


def test_family_errors_are_one_clear_line(bag_registry):
    with pytest.raises(UnknownNameError, match="Did you mean 'bag'"):
        bag_registry.get_family("bga")
    with pytest.raises(ConfigError, match="model.depth"):
        resolve_family(FamilyModel(family="bag", depth=3), bag_registry)
    with pytest.raises(PluginError, match="Several model families claim to be the default"):
        Registry.build(SecondDefault(), allow=[])
    with pytest.raises(PluginError, match="declared an invalid family"):
        Registry.build(type("Bad", (), {"register_families": hookimpl(
            lambda self, register: register({"name": "x"}))})(), allow=[])


@pytest.mark.slow
def test_throwaway_family_trains_with_the_unchanged_trainer(tmp_path, bag_registry):
    shards = write_shards(tmp_path / "shards", bag_registry.with_overrides(SMALL))
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["model"] = {"family": "bag", "width": 24}  # the example run, another family
    (tmp_path / "bag.yaml").write_text(yaml.safe_dump(raw))
    sets = [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", f"out_dir={tmp_path / 'run'}",
            "logging.progress=false", "train.device=cpu", "train.max_steps=12", "eval.every=12",
            "checkpoint.every=12", "optim.lr=0.05"]
    cfg = load_config(TrainConfig, tmp_path / "bag.yaml", sets)
    result = Trainer(cfg, bag_registry).fit()
    assert isinstance(BUILT[-1], Bag) and result.state.step == 12
    assert result.evals[-1]["loss"] < result.evals[0]["loss"] - 0.2, result.evals
    exported = json.loads((tmp_path / "run" / "export" / "config.json").read_text())
    assert exported == {"family": "bag", "width": 24}
    state = json.loads((tmp_path / "run" / "export" / "trainer_state.json").read_text())
    assert state["config"]["model"] == {"family": "bag", "width": 24}


def test_unknown_family_in_a_run_names_the_field(tmp_path, bag_registry):
    cfg = TrainConfig.model_validate({"modalities": {"inputs": ["rgb"], "targets": ["rgb"]},
                                      "data": {"shards": str(tmp_path / "none.tar")},
                                      "optim": {"total_tokens": 1000}, "model": {"family": "nope"}})
    with pytest.raises(FourmError, match="Unknown model family 'nope'"):
        Trainer(cfg, bag_registry).setup()
