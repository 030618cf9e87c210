"""Process set-up before DeepSpeed is imported: rank variables, accelerator, process group.

DeepSpeed picks its accelerator when it is first imported and initialises
``torch.distributed`` from ``RANK``/``WORLD_SIZE``/``MASTER_*``. A plain ``python`` or
``fourm train`` process has none of these, so we make it rank 0 of 1 (with a free port);
``torchrun`` and the ``deepspeed`` launcher set them and are left alone.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def free_port() -> int:
    """A TCP port nobody listens on right now (for a single-process rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def use_cuda(device: str) -> bool:
    """``auto``: CUDA when available; ``cpu`` / ``cuda`` force it."""
    if device == "cuda" and not torch.cuda.is_available():
        from ..errors import FourmError

        raise FourmError("train.device is 'cuda' but no CUDA device is available.")
    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def prepare_environment(local_rank: int | None = None, device: str = "auto") -> None:
    """Fill in the rank variables and accelerator choice; keeps whatever a launcher set."""
    if local_rank is not None:  # the deepspeed launcher may pass --local_rank instead
        os.environ.setdefault("LOCAL_RANK", str(local_rank))
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        os.environ["RANK"] = "0"
        os.environ["WORLD_SIZE"] = "1"
        os.environ["LOCAL_RANK"] = os.environ.get("LOCAL_RANK", "0")
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(free_port())
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if not use_cuda(device):
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def init_distributed(local_rank: int | None = None, device: str = "auto") -> DistInfo:
    """Prepare the environment, start the process group through DeepSpeed, report this rank."""
    prepare_environment(local_rank, device)
    cuda = use_cuda(device)
    import deepspeed
    import torch.distributed as dist
    from deepspeed.accelerator import get_accelerator

    deepspeed.utils.logger.setLevel(logging.WARNING)
    picked = get_accelerator().device_name()
    if (picked == "cuda") != cuda:
        from ..errors import FourmError

        raise FourmError(f"DeepSpeed already runs on {picked!r} in this process; train.device="
                         f"{device!r} needs a fresh process (or DS_ACCELERATOR set before start).")
    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo", auto_mpi_discovery=False)
    lr = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(lr)
        device = torch.device("cuda", lr)
    else:
        device = torch.device("cpu")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=lr,
                    device=device)
