"""The two SAM modalities: ``sam_instance`` (sequence) and ``sam_edge`` (dense, like depth)."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_4m21_common.draw import boxes
from fourm_4m21_common.edges import EDGE_CODEC, EDGE_TOKENIZER, draw_edges, example_edges
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.tokenizers import sequence_tokenizer_factory
from fourm_registry.tokenizers.sequence import TEXT_TOKENS_KEY

from . import instance
from .labelers import make_edge_labeler, make_instance_labeler
from .runner import DEFAULT_MODEL


def draw_instances(value: Any, size: int = 224) -> Image.Image:
    items = [(inst["box"], str(i)) for i, q in enumerate(instance.check_instances(value))
             for inst in q["instances"]]
    img = boxes(items, size)
    px = np.asarray(img).copy()
    for q in value:
        x, y = (int(min(max(v, 0), 1) * (size - 1)) for v in q["point"])
        px[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] = (220, 30, 30)
    return Image.fromarray(px)


SAM_INSTANCE = ModalitySpec(
    name="sam_instance",
    domains=("sam_instance",),  # its name in ml-4m checkpoints
    kind=ModalityKind.SEQUENCE,
    description="SAM instances around query points",
    value='list of {"point": [x, y], "instances": [{"box", "tokens": 16 ids, "mask": 64×64}]} (fractions)',
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=290, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=instance.CODEC,
    labeler=LabelerSpec(name="sam_points", modality="sam_instance", default_model=DEFAULT_MODEL,
                        factory=make_instance_labeler,
                        description="SamModel on 7 random points; masks tokenised by "
                                    "<model>/mask_tokenizer when present"),
    to_text=instance.to_text,
    from_text=instance.from_text,
    draw=draw_instances,
    extras={TEXT_TOKENS_KEY: ["point", "polygon", "none"], "examples": instance.examples,
            "distance": instance.distance, "roundtrip_tolerance": 1.0 / instance.BINS},
)

SAM_EDGE = ModalitySpec(
    name="sam_edge",
    domains=("tok_sam_edge@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.DENSE,
    description="SAM mask boundaries",
    value="H×W uint8 (255 on edges)",
    tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=16, factory=EDGE_TOKENIZER),
    masking=MaskingSpec(rule="uniform"),
    codec=EDGE_CODEC,
    labeler=LabelerSpec(name="sam_grid_edges", modality="sam_edge", default_model=DEFAULT_MODEL,
                        factory=make_edge_labeler,
                        description="boundaries of SamModel masks on a 16×16 point grid"),
    draw=draw_edges,
    extras={"examples": lambda spec, rng: example_edges(rng, spec.tokenizer.image_size)},
)

SPECS = [SAM_INSTANCE, SAM_EDGE]
