"""Where training runs: the device, mixed precision, and DistributedDataParallel under ``torchrun``.

Multi-GPU: ``torchrun --nproc_per_node 4 -m train.all ...``. torchrun sets RANK / WORLD_SIZE /
LOCAL_RANK; each process then takes one GPU (or CPU with the gloo backend), every global batch is split
across the ranks, and PyTorch's DDP all-reduces the gradients. Only rank 0 evaluates, logs and writes.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from train.config import ConfigError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str  # "fp32", "bf16" or "fp16"
    rank: int = 0
    world: int = 1
    distributed: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes; a no-op in fp32."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and needs none.
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available here; use --device auto")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    elif device.type != "cpu":
        raise ConfigError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"  # CPU autocast is slower than fp32 on most CPUs, and gains nothing in accuracy
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("fp16 autocast needs a GPU; on CPU use fp32 or bf16")
    return precision


def setup_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Resolve the device and precision; join the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if launched and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    distributed = dist.is_available() and dist.is_initialized()
    if distributed:
        world, rank = dist.get_world_size(), dist.get_rank()
    return Runtime(dev, resolve_precision(precision, dev), rank, world if distributed else 1, distributed)


def barrier(rt: Runtime) -> None:
    if rt.distributed:
        dist.barrier()


def broadcast_flag(rt: Runtime, flag: bool) -> bool:
    """Rank 0's decision, on every rank (e.g. "stop now")."""
    if not rt.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=rt.device if dist.get_backend() == "nccl" else "cpu")
    dist.broadcast(t, 0)
    return bool(t.item())


def shutdown(rt: Runtime) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()
