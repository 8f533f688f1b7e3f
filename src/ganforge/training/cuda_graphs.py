"""The GAN step as CUDA graphs (``--cuda-graphs``): captured once per kind of iteration, with and without
the lazy penalties, and replayed, so that a step of a small model costs one launch instead of hundreds.

What makes the step capturable is in the step itself (gan.py ``GanTrainer.update``): it never waits for the
device, its shapes are static, and what changes between iterations (learning rates, the classes' strength,
the moving average's weights) is set on the host by ``prepare`` into tensors the step reads. Here: the
step's inputs are copied into fixed tensors, the optimisers become capturable with their rates as device
tensors, a few eager iterations run first on a side stream (as torch.cuda.graph asks), and each graph's
outputs are cloned before the next replay overwrites them. Random numbers come from the default CUDA
generator, which torch registers with every graph: a replayed run draws what an eager one would, and its
checkpoints resume either way. Settings the capture cannot hold fall back to the eager step (``why_eager``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor

from ..console import say
from .stats import GanStats
from .step import Labelled

if TYPE_CHECKING:
    from .gan import GanTrainer

WARMUP = 3  # eager iterations before the first capture, on a side stream (torch.cuda.graph's advice)


def why_eager(t: GanTrainer, device: torch.device, *, compiled: bool, streamed: bool) -> Optional[str]:
    """Why the step of ``t`` on ``device`` cannot be captured, or None when it can."""
    if device.type != "cuda":
        return f"--cuda-graphs needs a CUDA device, not {device.type}"
    if t.world.enabled:
        return "--cuda-graphs: not under torchrun (DistributedDataParallel's gradient hooks are not captured)"
    if compiled:
        return "--cuda-graphs: not with --compile (torch.compile's own graphs would be captured again)"
    if streamed:
        return "--cuda-graphs: not with streamed data (the prefetching thread copies outside the graph)"
    return None


class GraphedStep:
    """``GanTrainer.update`` as CUDA graphs: call it as the trainer's ``update``."""

    def __init__(self, t: GanTrainer):
        self.t, self.calls = t, 0
        self.graphs: dict[bool, torch.cuda.CUDAGraph] = {}
        self.pool = None  # one memory pool for both graphs
        self.inputs: Optional[tuple[Tensor, Optional[Tensor], list[Labelled]]] = None
        self.outputs: dict[bool, GanStats] = {}
        self.side = torch.cuda.Stream()

    def _capturable(self) -> None:
        """The optimisers capturable, their rates device tensors that set_decayed_rates fills: at the first
        step, after a resume has loaded the optimisers' saved (eager) settings."""
        for opt in (self.t.opt_g, self.t.opt_d):
            device = opt.param_groups[0]["params"][0].device
            for group in opt.param_groups:
                group["capturable"] = True
                group["lr"] = torch.tensor(float(group["lr"]), device=device)

    def __call__(self, real: Tensor, real_y: Optional[Tensor], lookahead: list[Labelled], penalise: bool) -> GanStats:
        self.calls += 1
        if self.calls == 1:
            self._capturable()
        if self.calls <= WARMUP:
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                stats = self.t.update(real, real_y, lookahead, penalise)
            torch.cuda.current_stream().wait_stream(self.side)
            return stats
        if self.inputs is None:  # fixed tensors the graphs read their inputs from
            self.inputs = (real.clone(), None if real_y is None else real_y.clone(),
                           [(x.clone(), None if y is None else y.clone()) for x, y in lookahead])
        else:
            _copy_into(self.inputs, (real, real_y, lookahead))
        if penalise not in self.graphs:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self.outputs[penalise] = self.t.update(*self.inputs, penalise)
            self.pool = graph.pool()
            self.graphs[penalise] = graph
            say(f"--cuda-graphs: captured the step{' with its lazy penalties' if penalise else ''}")
        self.graphs[penalise].replay()
        return GanStats(*(s.clone() for s in self.outputs[penalise]))


def _copy_into(fixed: tuple, new: tuple) -> None:
    """Copy the step's inputs ``new`` into the ``fixed`` tensors of the same structure."""
    for a, b in zip(fixed, new):
        if isinstance(a, Tensor):
            a.copy_(b, non_blocking=True)
        elif isinstance(a, (list, tuple)):
            _copy_into(a, b)
