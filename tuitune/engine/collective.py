"""The few collectives tuitune itself needs in a group: agreeing on a stop, adding up tokens.

Outside a group (one process) each is a no-op that returns its input, so the callbacks read the
same either way.
"""

from __future__ import annotations

# torch.distributed is imported by each function, as the training stack is everywhere in tuitune:
# importing this module stays light.


def in_group() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _tensor(value: float):
    import torch
    import torch.distributed as dist

    # NCCL reduces CUDA tensors only; gloo (CPU) reduces CPU ones.
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    return torch.tensor([value], dtype=torch.float64, device=device)


def any_rank(flag: bool) -> bool:
    """True on every rank when it is true on any: all ranks stop at the same step, or none does
    (a rank that stops alone leaves the others waiting in the next collective forever)."""
    if not in_group():
        return flag
    import torch.distributed as dist

    value = _tensor(1.0 if flag else 0.0)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def group_sum(number: float) -> float:
    """The sum of `number` over every rank."""
    if not in_group():
        return number
    import torch.distributed as dist

    value = _tensor(float(number))
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return float(value.item())
