"""The GAN step without host synchronisation and with static shapes, for every option a recipe uses: what
capturing it as a CUDA graph needs. On the CPU a dispatch mode sees every operator the step runs (the
backward passes and the optimiser's kernels included) and fails on the ones that make the host wait for the
device: a scalar read (``.item()``, ``bool()``, ``int()`` or ``float()`` of a tensor) and operators whose
output shape depends on the data. scripts/gpu-check.sh adds torch.cuda's own sync check (tests/cuda)."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ganforge.config import TrainConfig, resolve
from ganforge.training.gan import build_gan_trainer
from ganforge.training.loop import setup

aten = torch.ops.aten
HOST_WAITS = {aten._local_scalar_dense: "a scalar read (.item(), bool(), int() or float() of a tensor)",
              aten.nonzero: "nonzero (a shape that depends on the data)",
              aten.masked_select: "masked_select (a shape that depends on the data)",
              aten._unique2: "unique (a shape that depends on the data)", aten.equal: "torch.equal"}


class HostSyncGuard(TorchDispatchMode):
    """Fails on any operator that waits for the device; records every operator with its output shapes."""

    def __init__(self):
        super().__init__()
        self.trace: list[tuple[str, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        why = HOST_WAITS.get(func.overloadpacket)
        if why is not None:
            raise AssertionError(f"the step waits for the device: {why}, {func}")
        out = func(*args, **(kwargs or {}))
        self.trace.append((str(func), tuple(tuple(t.shape) for t in tree_leaves(out) if isinstance(t, torch.Tensor))))
        return out


def traced_steps(args: dict, iterations: int) -> list[list[tuple[str, tuple]]]:
    """Each of ``iterations`` steps of the run ``ganforge train`` makes of ``args``, under the guard: their traces."""
    cfg = resolve(TrainConfig(limit=256, batch_size=16, z_dim=8, seed=0, **args))
    cfg.epochs, cfg.quiet = 1, True
    run = setup(cfg, build_gan_trainer, default_out="no files", files=False)
    task, order, traces = run.task, run.task.batches.epoch_order(0), []
    try:
        for i in range(iterations):
            index = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            with HostSyncGuard() as guard:
                task.step(index, i)
            traces.append(guard.trace)
    finally:
        task.close()
        run.close()
    return traces


MNIST = dict(dataset="mnist", generator="M4", discriminator="M5")
OPTIONS = {
    "mnist recipe (pack, clusters, lazy R1, EMA)": dict(dataset="mnist", reg_every=2),
    "cross_entropy, -gs 2 -ds 2": dict(MNIST, loss="cross_entropy", g_steps=2, d_steps=2),
    "mse, -k 2 restore": dict(MNIST, loss="mse", unroll_steps=2),
    "relativistic, -k 2 differentiable": dict(MNIST, loss="relativistic", unroll_steps=2, unroll_mode="differentiable"),
    "relativistic, top-k": dict(MNIST, loss="relativistic", top_k=0.5, top_k_half_life=0.01),
    "hinge, conditional, R1 and R2 lazy, ramp, rate decay": dict(MNIST, loss="hinge", conditional=True, r1=1.0,
                                                                 r2=1.0, reg_every=2, condition_ramp=1,
                                                                 lr_half_life=1.0),
    "ADA, every augmentation, spectral norm": dict(dataset="stacked-mnist", generator="M4", discriminator="M5",
                                                   ema=1.0, augment_p=0.5, augment="translation,cutout,color",
                                                   ada_target=0.6, spectral_norm="both"),
    "stacked-mnist recipe, packs of 2 by class": dict(dataset="stacked-mnist", clusters=4, pack=2, pack_by_class=True),
}


@pytest.mark.parametrize("args", OPTIONS.values(), ids=OPTIONS)
def test_the_step_never_waits_for_the_device_and_keeps_its_shapes(args):
    traces = traced_steps(args, 9)  # lazy penalties every 2 iterations, ADA's adjustment every 4
    assert all(len(t) > 50 for t in traces)
    # iteration 0 is the first: Adam's moments and the moving average start there; after it, every
    # iteration of a kind (with or without the lazy penalty) runs the same operators on the same shapes
    period = 2 if args.get("reg_every") == 2 else 1
    for i in range(1, 9 - period):
        assert traces[i] == traces[i + period], f"iteration {i} and {i + period} differ"


def test_cuda_graphs_off_cuda_say_so_and_train_as_the_eager_step(tmp_path, capsys):
    from ganforge.checkpoint import load_checkpoint
    from ganforge.cli import main

    args = ["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "64", "-b", "16", "-e", "1", "-q"]
    assert main(args + ["-o", str(tmp_path / "eager")]) == 0
    capsys.readouterr()
    assert main(args + ["--cuda-graphs", "-o", str(tmp_path / "asked")]) == 0
    assert "note: --cuda-graphs needs a CUDA device, not cpu; the step runs eagerly" in capsys.readouterr().err
    a, b = (load_checkpoint(tmp_path / run / "checkpoints" / "last.safetensors")[0] for run in ("eager", "asked"))
    assert all(torch.equal(a[k], b[k]) for k in a)
