"""The maths of one GAN training step, apart from the loop that runs it.

Per real batch: ``d_steps`` discriminator updates, then ``g_steps`` generator updates. With
``unroll_steps`` k > 0 each generator update looks k discriminator steps ahead, in one of two
modes:

- ``restore`` (the report's method): snapshot D's weights and its optimiser state, take k real
  D steps on fresh batches, update G against that look-ahead D, then put D and its optimiser
  back exactly as they were. G's gradient treats the look-ahead D as a constant.
- ``differentiable`` (Metz et al. 2017): the k look-ahead updates are written as functions of
  D's parameters and of G's samples, so G's gradient also flows back through how D would
  react to G. The real D is never touched.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce
from torch.func import functional_call

from ..losses import GanLoss
from .distributed import SINGLE, World, unwrap
from .stats import GanStats


@dataclass
class GanParts:
    """What a step needs. Under DDP, ``G`` and ``D`` are the DistributedDataParallel wrappers;
    a forward pass whose gradients must not reach a model goes through the bare module."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: GanLoss
    z_dim: int
    real_label: float = 1.0
    world: World = SINGLE
    r1: float = 0.0  # gamma of the R1 penalty on real samples (Mescheder et al. 2018); 0: none
    r2: float = 0.0  # gamma of the R2 penalty on fake samples
    reg_every: int = 1  # the penalties are applied every reg_every iterations, scaled by it (lazy)
    classes: int = 0  # class-conditional G(z, y) and D(x, y) over this many classes; 0: unconditional
    prior: Tensor | None = None  # (classes,) how often G draws each class (self-conditioning); None: uniform
    class_runs: int = 1  # G's classes come in runs of this many, one class to each of D's packs (--pack-by-class)
    joint_d: bool = field(init=False)
    """Whether D scores real and fake batches in one pass: only when no layer of D mixes the
    samples of a batch (BatchNorm does), so one pass over both is the same as two."""

    def __post_init__(self) -> None:
        self.joint_d = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in unwrap(self.D).modules())

    def latents(self, n: int, device: torch.device | str) -> Tensor:
        """(n, z) latents for this rank: its slice of the global batch's latents, so that every
        rank's random stream stays the one a single process would have."""
        return self.world.shard(torch.randn(n * self.world.size, self.z_dim, device=device))

    def labels(self, n: int, device: torch.device | str) -> Tensor | None:
        """(n,) classes for G's samples, uniform or drawn from ``prior`` (in runs of ``class_runs``),
        sharded as the latents are; None when unconditional."""
        if not self.classes:
            return None
        draws = n * self.world.size // self.class_runs
        y = (torch.randint(self.classes, (draws,), device=device) if self.prior is None
             else torch.multinomial(self.prior, draws, replacement=True).to(device))
        return self.world.shard(y.repeat_interleave(self.class_runs) if self.class_runs > 1 else y)


def generate(G: nn.Module, z: Tensor, y: Tensor | None) -> Tensor:
    """G(z), or G(z, y) for a class-conditional G."""
    return G(z) if y is None else G(z, y)


def judge(D: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    """D(x), or D(x, y) for a class-conditional D."""
    return D(x) if y is None else D(x, y)


def _cat(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return None if a is None else torch.cat([a, b])


def adam(params, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam with the fused kernel where the device has one (CPU and CUDA: several times faster
    than the per-parameter loop for these models), the foreach one elsewhere."""
    fast = {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
    return torch.optim.Adam(params, lr=lr, betas=betas, **fast)


def decay_learning_rates(parts: GanParts, lr_g: float, lr_d: float, images: int, half_life: float) -> None:
    """Set G's and D's rates to ``lr_g`` and ``lr_d`` halved once per ``half_life`` of the ``images`` seen
    (a function of the position alone, so a resumed or distributed run sets the same rates)."""
    factor = 0.5 ** (images / half_life)
    for opt, lr in ((parts.opt_g, lr_g), (parts.opt_d, lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr * factor


def gradient_penalty(logits: Tensor, inputs: Tensor) -> Tensor:
    """E ||d logits / d inputs||^2 over the batch, differentiable (for R1 and R2)."""
    grad, = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def d_step(parts: GanParts, real: Tensor, real_y: Tensor | None = None, *, keep_fake: bool = False,
           penalise: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """One discriminator update on ``real`` (of classes ``real_y`` when conditional); returns (d_loss,
    real_logits, fake_logits) detached, and with ``keep_fake`` the fake batch still attached to G's
    graph, for the generator step to reuse, and its classes.
    With ``penalise``, the loss also has reg_every * (r1/2 * R1 + r2/2 * R2): lazy regularisation,
    the penalty of reg_every steps taken at once, as stylegan2 does."""
    z, fake_y = parts.latents(len(real), real.device), parts.labels(len(real), real.device)
    if keep_fake:
        fake = generate(parts.G, z, fake_y)
    else:
        with torch.no_grad():
            fake = generate(unwrap(parts.G), z, fake_y)
    r1, r2 = (parts.r1, parts.r2) if penalise else (0.0, 0.0)
    if parts.joint_d and not (r1 or r2):  # one larger pass: better use of the matrix kernels, one DDP forward
        both = judge(parts.D, torch.cat([real, fake.detach()]), _cat(real_y, fake_y))
        real_logits, fake_logits = both.chunk(2)  # (B, ) each, or (B/pack,)
    else:
        real_in, fake_in = real.detach().requires_grad_(bool(r1)), fake.detach().requires_grad_(bool(r2))
        real_logits, fake_logits = judge(parts.D, real_in, real_y), judge(parts.D, fake_in, fake_y)
    loss = parts.loss.d(real_logits, fake_logits, parts.real_label)
    total = loss
    if r1:
        total = total + parts.reg_every * r1 / 2 * gradient_penalty(real_logits, real_in)
    if r2:
        total = total + parts.reg_every * r2 / 2 * gradient_penalty(fake_logits, fake_in)
    parts.opt_d.zero_grad(set_to_none=True)
    total.backward()
    parts.opt_d.step()
    return (loss.detach(), real_logits.detach(), fake_logits.detach(), fake if keep_fake else None,
            fake_y if keep_fake else None)


def _g_update(parts: GanParts, loss: Tensor) -> Tensor:
    """Backpropagate into G only and step its optimiser; returns G's gradient norm."""
    params = [p for p in parts.G.parameters() if p.requires_grad]
    parts.opt_g.zero_grad(set_to_none=True)
    loss.backward(inputs=params)
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    parts.opt_g.step()
    return norm


def g_loss(parts: GanParts, fake_logits: Tensor, real_logits: Callable[[], Tensor]) -> Tensor:
    """G's loss on D's ``fake_logits``; a paired loss also reads D on real data, ``real_logits()``
    (called only then: the other losses cost no extra D pass)."""
    return parts.loss.g(fake_logits, real_logits()) if parts.loss.paired else parts.loss.g(fake_logits)


def g_step(parts: GanParts, batch_size: int, device: torch.device | str,
           fake: Tensor | None = None, fake_y: Tensor | None = None, *,
           real: Tensor | None = None, real_y: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One plain generator update, on ``fake`` (G's output of classes ``fake_y``, graph attached) if
    given, else on a fresh batch; returns (g_loss, G gradient norm). A paired loss compares each
    fake with D's current logit on ``real`` (of classes ``real_y``), which G cannot change."""
    if fake is None:
        fake_y = parts.labels(batch_size, device)
        fake = generate(parts.G, parts.latents(batch_size, device), fake_y)
    D = unwrap(parts.D)

    def real_logits() -> Tensor:
        with torch.no_grad():
            return judge(D, real, real_y)

    loss = g_loss(parts, judge(D, fake, fake_y), real_logits)
    return loss.detach(), _g_update(parts, loss)


Draw = Callable[[], tuple[Tensor, Tensor | None]]  # a fresh real batch and its classes (None: unconditional)


def g_step_unrolled_restore(parts: GanParts, k: int, draw: Draw) -> tuple[Tensor, Tensor]:
    """The report's unrolling: k real look-ahead D steps, the G step, then D restored exactly."""
    d_weights = copy.deepcopy(unwrap(parts.D).state_dict())
    d_opt_state = copy.deepcopy(parts.opt_d.state_dict())
    batch = None
    for _ in range(k):
        batch, batch_y = draw()
        d_step(parts, batch, batch_y)
    loss, norm = g_step(parts, len(batch), batch.device, real=batch, real_y=batch_y)
    unwrap(parts.D).load_state_dict(d_weights)
    parts.opt_d.load_state_dict(d_opt_state)
    return loss, norm


def _lookahead_update(opt: torch.optim.Optimizer, names: list[str], params: dict[str, Tensor],
                      grads: tuple[Tensor, ...], moments: dict[str, list[Tensor]], step: int) -> dict[str, Tensor]:
    """One differentiable optimiser step in the style of ``opt`` (Adam-family or SGD).

    Adam's denominator is sqrt(v_hat + eps^2) rather than sqrt(v_hat) + eps: the same step for
    any gradient of real size, but with a finite derivative where a gradient is exactly zero.
    """
    group = opt.param_groups[0]
    lr = float(group["lr"])
    if "betas" not in group:
        return {n: params[n] - lr * g for n, g in zip(names, grads)}
    b1, b2 = group["betas"]
    eps = group["eps"]
    new = {}
    for n, g in zip(names, grads):
        m, v = moments[n]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        moments[n] = [m, v]
        m_hat = m / (1 - b1**step)
        v_hat = v / (1 - b2**step)
        new[n] = params[n] - lr * m_hat / torch.sqrt(v_hat + eps * eps)
    return new


def unrolled_g_loss(parts: GanParts, reals: list[tuple[Tensor, Tensor | None]],
                    zs: list[tuple[Tensor, Tensor | None]], z_g: tuple[Tensor, Tensor | None]) -> Tensor:
    """G's loss against D after len(reals) look-ahead steps, differentiable w.r.t. G (Metz et al.).

    ``reals[i]`` and ``zs[i]`` (each a tensor and its classes, None when unconditional) feed
    look-ahead step i; ``z_g`` feeds the final G loss. D and its optimiser are read, never written
    (BatchNorm buffers are copied).
    """
    G, D, opt = parts.G, unwrap(parts.D), parts.opt_d
    named = [(n, p) for n, p in D.named_parameters() if p.requires_grad]
    names = [n for n, _ in named]
    params = {n: p for n, p in named}
    buffers = {n: b.clone() for n, b in D.named_buffers()}
    by_param = {p: n for n, p in named}
    moments, step = {}, 0
    for p, n in by_param.items():
        state = opt.state.get(p, {})
        m = state.get("exp_avg", torch.zeros_like(p)).detach()
        v = state.get("exp_avg_sq", torch.zeros_like(p)).detach()
        moments[n] = [m, v]
        step = max(step, int(state["step"])) if "step" in state else step

    def d(x: Tensor, y: Tensor | None, ps: dict[str, Tensor]) -> Tensor:
        return functional_call(D, {**ps, **buffers}, (x,) if y is None else (x, y))

    for i, ((real, real_y), (z, fake_y)) in enumerate(zip(reals, zs)):
        fake = generate(G, z, fake_y)  # not detached: D's look-ahead depends on G
        d_loss = parts.loss.d(d(real, real_y, params), d(fake, fake_y, params), parts.real_label)
        grads = torch.autograd.grad(d_loss, [params[n] for n in names], create_graph=True)
        if parts.world.enabled:  # the look-ahead D is the one all ranks' data would make
            grads = tuple(all_reduce(g) / parts.world.size for g in grads)
        params = _lookahead_update(opt, names, params, grads, moments, step + i + 1)
    real, real_y = reals[-1]  # a paired loss sets the fakes against the last look-ahead's real batch
    return g_loss(parts, d(generate(G, *z_g), z_g[1], params), lambda: d(real, real_y, params))


def g_step_unrolled_differentiable(parts: GanParts, k: int, draw: Draw) -> tuple[Tensor, Tensor]:
    reals = [draw() for _ in range(k)]
    device, n = reals[0][0].device, len(reals[0][0])
    zs = [(parts.latents(n, device), parts.labels(n, device)) for _ in range(k)]
    loss = unrolled_g_loss(parts, reals, zs, (parts.latents(n, device), parts.labels(n, device)))
    return loss.detach(), _g_update(parts, loss)


def gan_step(parts: GanParts, real: Tensor, real_y: Tensor | None = None, *, d_steps: int = 1, g_steps: int = 1,
             unroll_steps: int = 0, unroll_mode: str = "restore", draw: Draw | None = None,
             penalise: bool = False, observe: Callable[[Tensor], None] | None = None) -> GanStats:
    """One batch of training on ``real`` (of classes ``real_y`` for a class-conditional GAN). Returns
    its statistics as detached device tensors (no host sync here). ``penalise``: the first D update
    of this batch carries the (lazy) R1/R2 penalties. ``observe`` is given D's logits on the real
    batch in its last update (adaptive augmentation reads them); for a paired loss, and in the
    statistics' d_real and d_fake, each real logit less its fake's, and the other way round.

    Without unrolling, the first generator update reuses the last discriminator step's fake
    batch (as DCGAN's reference implementation does): G is unchanged in between, so this is
    the same update on the same distribution, with one generator forward pass fewer."""
    reuse = unroll_steps == 0
    for i in range(d_steps):
        d_loss, real_logits, fake_logits, fake, fake_y = d_step(parts, real, real_y,
                                                                keep_fake=reuse and i == d_steps - 1,
                                                                penalise=penalise and i == 0)
    if parts.loss.paired:  # only differences of a paired D's logits mean anything: real against its fake
        real_logits, fake_logits = real_logits - fake_logits, fake_logits - real_logits
    if observe is not None:
        observe(real_logits)
    for j in range(g_steps):
        if unroll_steps == 0:
            loss, g_norm = g_step(parts, len(real), real.device, *((fake, fake_y) if j == 0 else (None, None)),
                                  real=real, real_y=real_y)
        elif unroll_mode == "restore":
            loss, g_norm = g_step_unrolled_restore(parts, unroll_steps, draw)
        else:
            loss, g_norm = g_step_unrolled_differentiable(parts, unroll_steps, draw)
    return GanStats(d_loss, loss, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
                    g_norm.to(d_loss))
