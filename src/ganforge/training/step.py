"""The maths of one GAN training step: updates of D and of G, as functions of the trainer they
update (gan.py ``GanTrainer``, which calls them in order; nothing here calls back).

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

from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce
from torch.func import functional_call

from .distributed import World, gathered

if TYPE_CHECKING:
    from .gan import GanTrainer

Labelled = tuple[Tensor, "Tensor | None"]  # a batch and its classes (None: unconditional)


def generate(G: nn.Module, z: Tensor, y: Tensor | None) -> Tensor:
    """G(z), or G(z, y) for a class-conditional G."""
    return G(z) if y is None else G(z, y)


def judge(D: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    """D(x), or D(x, y) for a class-conditional D."""
    return D(x) if y is None else D(x, y)


def _cat(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return None if a is None else torch.cat([a, b])


def gradient_penalty(logits: Tensor, inputs: Tensor) -> Tensor:
    """E ||d logits / d inputs||^2 over the batch, differentiable (for R1 and R2)."""
    grad, = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def d_step(t: GanTrainer, real: Tensor, real_y: Tensor | None = None, *, keep_fake: bool = False,
           penalise: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """One discriminator update on ``real`` (of classes ``real_y`` when conditional); returns (d_loss,
    real_logits, fake_logits) detached, and with ``keep_fake`` the fake batch still attached to G's
    graph, for the generator step to reuse, and its classes.
    With ``penalise``, the loss also has reg_every * (r1/2 * R1 + r2/2 * R2): lazy regularisation,
    the penalty of reg_every steps taken at once, as stylegan2 does."""
    z, fake_y = t.latents(len(real), real.device), t.labels(len(real), real.device)
    if keep_fake:
        fake = generate(t.G_ddp, z, fake_y)
    else:
        with torch.no_grad():
            fake = generate(t.G, z, fake_y)
    r1, r2 = (t.r1, t.r2) if penalise else (0.0, 0.0)
    if t.joint_d and not (r1 or r2):  # one larger pass: better use of the matrix kernels, one DDP forward
        both = judge(t.D_ddp, torch.cat([real, fake.detach()]), _cat(real_y, fake_y))
        real_logits, fake_logits = both.chunk(2)  # (B, ) each, or (B/pack,)
    else:
        real_in, fake_in = real.detach().requires_grad_(bool(r1)), fake.detach().requires_grad_(bool(r2))
        real_logits, fake_logits = judge(t.D_ddp, real_in, real_y), judge(t.D_ddp, fake_in, fake_y)
    loss = t.loss.d(real_logits, fake_logits, t.real_label)
    total = loss
    reg_every = t.schedule.reg_every
    if r1:
        total = total + reg_every * r1 / 2 * gradient_penalty(real_logits, real_in)
    if r2:
        total = total + reg_every * r2 / 2 * gradient_penalty(fake_logits, fake_in)
    t.opt_d.zero_grad(set_to_none=True)
    total.backward()
    t.opt_d.step()
    return (loss.detach(), real_logits.detach(), fake_logits.detach(), fake if keep_fake else None,
            fake_y if keep_fake else None)


def _g_update(t: GanTrainer, loss: Tensor) -> Tensor:
    """Backpropagate into G only and step its optimiser; returns G's gradient norm."""
    params = [p for p in t.G.parameters() if p.requires_grad]
    t.opt_g.zero_grad(set_to_none=True)
    loss.backward(inputs=params)
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    t.opt_g.step()
    return norm


def top_k(logits: Tensor, share: Tensor, world: World) -> Tensor:
    """``logits`` (B,) with G's gradient cut from all but the ``share`` (a 0-dim tensor) of the global batch
    that D rates most real, and each kept one's gradient weighted as a mean over the kept would weigh it:
    top-k training (Sinha et al. 2020), where the worst-rated fakes push G away from the nearest mode.
    The values stay as they were, and the shapes are static (no host sync)."""
    held = logits.detach()
    everyone = gathered(held, world)  # (N,) the global batch's logits, N = B * ranks
    count = (share * everyone.numel()).ceil().clamp(min=1)  # how many the share keeps, at least one
    threshold = everyone.sort(descending=True).values.gather(0, count.long().reshape(1) - 1)
    weight = (held >= threshold) * (everyone.numel() / count)  # DDP averages over ranks: means over N
    return held + (logits - held) * weight


def g_loss(t: GanTrainer, fake_logits: Tensor, real_logits: Callable[[], Tensor]) -> Tensor:
    """G's loss on D's ``fake_logits``; a paired loss also reads D on real data, ``real_logits()``
    (called only then: the other losses cost no extra D pass)."""
    if t.top_k < 1:
        fake_logits = top_k(fake_logits, t.top_k_share, t.world)
    return t.loss.g(fake_logits, real_logits()) if t.loss.paired else t.loss.g(fake_logits)


def g_step(t: GanTrainer, batch_size: int, device: torch.device | str,
           fake: Tensor | None = None, fake_y: Tensor | None = None, *,
           real: Tensor | None = None, real_y: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One plain generator update, on ``fake`` (G's output of classes ``fake_y``, graph attached) if
    given, else on a fresh batch; returns (g_loss, G gradient norm). A paired loss compares each
    fake with D's current logit on ``real`` (of classes ``real_y``), which G cannot change."""
    if fake is None:
        fake_y = t.labels(batch_size, device)
        fake = generate(t.G_ddp, t.latents(batch_size, device), fake_y)

    def real_logits() -> Tensor:
        with torch.no_grad():
            return judge(t.D, real, real_y)

    loss = g_loss(t, judge(t.D, fake, fake_y), real_logits)
    return loss.detach(), _g_update(t, loss)


def _d_state(t: GanTrainer) -> list[Tensor]:
    """Every tensor D's training changes: its parameters and buffers, and its optimiser's state."""
    own = [v.detach() for v in t.D.state_dict(keep_vars=True).values()]
    return own + [v for state in t.opt_d.state.values() for v in state.values() if torch.is_tensor(v)]


def g_step_unrolled_restore(t: GanTrainer, lookahead: list[Labelled]) -> tuple[Tensor, Tensor]:
    """The report's unrolling: a real D step on each ``lookahead`` batch, the G step, then D restored exactly.
    D is put back in place, into the tensors it had (what a CUDA graph of the step reads), not as new ones."""
    kept = [(live, live.clone()) for live in _d_state(t)]
    fresh = not t.opt_d.state  # the first step: the look-ahead makes D's optimiser state, which D did not have
    for batch, batch_y in lookahead:
        d_step(t, batch, batch_y)
    loss, norm = g_step(t, len(batch), batch.device, real=batch, real_y=batch_y)
    for live, saved in kept:
        live.copy_(saved)
    if fresh:
        t.opt_d.state.clear()
    return loss, norm


def _lookahead_update(opt: torch.optim.Optimizer, names: list[str], params: dict[str, Tensor],
                      grads: tuple[Tensor, ...], moments: dict[str, list[Tensor]], step: Tensor) -> dict[str, Tensor]:
    """One differentiable optimiser step in the style of ``opt`` (Adam-family or SGD), the ``step``-th
    (a tensor: the optimiser's own count, read without a host sync).

    Adam's denominator is sqrt(v_hat + eps^2) rather than sqrt(v_hat) + eps: the same step for
    any gradient of real size, but with a finite derivative where a gradient is exactly zero.
    """
    group = opt.param_groups[0]
    lr = group["lr"]
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


def unrolled_g_loss(t: GanTrainer, reals: list[Labelled], zs: list[Labelled], z_g: Labelled) -> Tensor:
    """G's loss against D after len(reals) look-ahead steps, differentiable w.r.t. G (Metz et al.).

    ``reals[i]`` and ``zs[i]`` (each a tensor and its classes, None when unconditional) feed
    look-ahead step i; ``z_g`` feeds the final G loss. D and its optimiser are read, never written
    (BatchNorm buffers are copied).
    """
    G, D, opt = t.G_ddp, t.D, t.opt_d
    named = [(n, p) for n, p in D.named_parameters() if p.requires_grad]
    names = [n for n, _ in named]
    params = {n: p for n, p in named}
    buffers = {n: b.clone() for n, b in D.named_buffers()}
    by_param = {p: n for n, p in named}
    moments = {}
    for p, n in by_param.items():
        state = opt.state.get(p, {})
        m = state.get("exp_avg", torch.zeros_like(p)).detach()
        v = state.get("exp_avg_sq", torch.zeros_like(p)).detach()
        moments[n] = [m, v]
    # D's optimiser steps all its parameters together: the first one's count is everyone's
    step = opt.state.get(named[0][1], {}).get("step", torch.zeros(()))
    step = step.to(named[0][1].device, torch.float64)

    def d(x: Tensor, y: Tensor | None, ps: dict[str, Tensor]) -> Tensor:
        return functional_call(D, {**ps, **buffers}, (x,) if y is None else (x, y))

    for i, ((real, real_y), (z, fake_y)) in enumerate(zip(reals, zs)):
        fake = generate(G, z, fake_y)  # not detached: D's look-ahead depends on G
        d_loss = t.loss.d(d(real, real_y, params), d(fake, fake_y, params), t.real_label)
        grads = torch.autograd.grad(d_loss, [params[n] for n in names], create_graph=True)
        if t.world.enabled:  # the look-ahead D is the one all ranks' data would make
            grads = tuple(all_reduce(g) / t.world.size for g in grads)
        params = _lookahead_update(opt, names, params, grads, moments, step + (i + 1))
    real, real_y = reals[-1]  # a paired loss sets the fakes against the last look-ahead's real batch
    return g_loss(t, d(generate(G, *z_g), z_g[1], params), lambda: d(real, real_y, params))


def g_step_unrolled_differentiable(t: GanTrainer, lookahead: list[Labelled]) -> tuple[Tensor, Tensor]:
    """Metz et al.'s unrolling: G's update through D's look-ahead steps on the ``lookahead`` batches."""
    device, n = lookahead[0][0].device, len(lookahead[0][0])
    zs = [(t.latents(n, device), t.labels(n, device)) for _ in lookahead]
    loss = unrolled_g_loss(t, lookahead, zs, (t.latents(n, device), t.labels(n, device)))
    return loss.detach(), _g_update(t, loss)
