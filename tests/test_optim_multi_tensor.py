"""GuardedAdamW uses torch's fused (or foreach) AdamW, not the single-tensor loop, with the same updates."""
from __future__ import annotations

import torch

from fourm_registry.training.optim import GuardedAdamW, multi_tensor_kwargs

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in [(7, 5), (5,), (3, 2, 4)]]


def test_cpu_float_parameters_get_the_fused_kernel():
    params = _params(0)
    assert multi_tensor_kwargs(params) == {"fused": True}
    assert multi_tensor_kwargs([{"params": iter(params)}]) == {"fused": True}
    opt = GuardedAdamW([{"params": iter(params), "weight_decay": 0.1}], lr=1e-3)
    assert opt.defaults["fused"] is True and len(opt.param_groups[0]["params"]) == 3
    assert GuardedAdamW(params, lr=1e-3, foreach=True).defaults["foreach"] is True  # explicit choice kept


def test_fused_updates_match_the_single_tensor_loop():
    a, b = _params(1), _params(1)
    opt_a = GuardedAdamW(a, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.05)
    opt_b = torch.optim.AdamW(b, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.05, foreach=False)
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        for pa, pb in zip(a, b):
            grad = torch.randn(pa.shape, generator=g)
            pa.grad, pb.grad = grad.clone(), grad.clone()
        opt_a.step()
        opt_b.step()
    for pa, pb, p0 in zip(a, b, _params(1)):
        assert torch.allclose(pa, pb, atol=1e-6) and not torch.allclose(pa, p0, atol=1e-3)
