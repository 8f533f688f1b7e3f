"""What only a GPU can check: a training step on CUDA against the same step on the CPU, bf16
autocast and torch.compile training, one-process NCCL DDP, and every command with --device cuda.
Skipped where torch sees no CUDA device; ``scripts/gpu-check.sh`` runs them on one."""
import copy
import pytest
import torch
import torch.distributed as dist

from ganforge.cli import main
from ganforge.losses import get_loss
from ganforge.models import build_model
from ganforge.training.distributed import ddp as wrap_ddp
from ganforge.training import GanTrainer
from ganforge.training.optim import adam
from ganforge.training.stats import read_metrics

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (scripts/gpu-check.sh runs "
                                                                         "these on a GPU)")]

# One M4/M5 step in float32: TF32 off, so CUDA's matmuls and convolutions round like the CPU's;
# what remains is summation order (cuDNN's algorithms against oneDNN's), measured well inside this.
STEP_TOLERANCE = dict(atol=1e-4, rtol=1e-3)
TINY = ["--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "256", "-b", "64", "-e", "1", "-q", "--log-every", "1",
        "--recipe", "none"]


def _parts(device: torch.device, G0, D0) -> GanTrainer:
    G, D = copy.deepcopy(G0).to(device), copy.deepcopy(D0).to(device)
    return GanTrainer(G, D, adam(G.parameters(), 2e-4, (0.5, 0.999), device),
                      adam(D.parameters(), 2e-4, (0.5, 0.999), device), get_loss("non_saturated"), 50)


@pytest.fixture
def no_tf32():
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        yield
    torch.set_float32_matmul_precision(precision)


def test_a_training_step_on_cuda_matches_the_cpu(no_tf32):
    torch.manual_seed(0)
    G0 = build_model("M4", role="G", shape=(1, 28, 28), z_dim=50)
    D0 = build_model("M5", role="D", shape=(1, 28, 28))
    real, z = torch.rand(64, 1, 28, 28) * 2 - 1, torch.randn(64, 50)
    results = {}
    for name in ("cpu", "cuda"):
        device = torch.device(name)
        parts = _parts(device, G0, D0)
        parts.latents = lambda n, dev: z.to(dev)  # the same latents on both devices
        stats = parts.train_step(real.to(device))
        results[name] = (stats, parts)
    (s_cpu, p_cpu), (s_gpu, p_gpu) = results["cpu"], results["cuda"]
    for a, b in zip(s_cpu, s_gpu):
        torch.testing.assert_close(b.cpu(), a, **STEP_TOLERANCE)
    for model in ("G", "D"):
        for (name, a), (_, b) in zip(getattr(p_cpu, model).state_dict().items(),
                                     getattr(p_gpu, model).state_dict().items()):
            if a.is_floating_point():
                torch.testing.assert_close(b.cpu(), a, **STEP_TOLERANCE, msg=f"{model}.{name}")


@pytest.mark.parametrize("extra", [["--amp", "bf16"], ["--compile"], ["--amp", "bf16", "--compile"]],
                         ids=["bf16", "compile", "bf16-compile"])
def test_bf16_and_compile_train_with_finite_losses(tmp_path, extra):
    assert main(["train", *TINY, "--device", "cuda", *extra, "-o", str(tmp_path / "run")]) == 0
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 4 and all(abs(r["d_loss"]) < 100 and abs(r["g_loss"]) < 100 for r in rows)


def test_a_step_through_nccl_ddp_matches_the_plain_step(tmp_path, no_tf32):
    """One process in an NCCL group: DDP's gradient all-reduce over one rank must leave the step as it was.
    Gradients and buffers are compared, not the stepped weights: Adam's first step moves each weight by about
    lr times the sign of its gradient, so a gradient near zero that flips in its last bits moves by 2 lr."""
    torch.manual_seed(0)
    G0 = build_model("M4", role="G", shape=(1, 28, 28), z_dim=50)
    D0 = build_model("M5", role="D", shape=(1, 28, 28))
    device = torch.device("cuda")
    real, z = torch.rand(64, 1, 28, 28, device=device) * 2 - 1, torch.randn(64, 50, device=device)
    plain = _parts(device, G0, D0)
    plain.latents = lambda n, dev: z
    expected = plain.train_step(real)
    dist.init_process_group("nccl", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = _parts(device, G0, D0)
        ddp.G_ddp, ddp.D_ddp = wrap_ddp(ddp.G, device), wrap_ddp(ddp.D, device)  # as build_gan wraps them
        ddp.latents = lambda n, dev: z
        got = ddp.train_step(real)
        assert dist.get_backend() == "nccl"
    finally:
        dist.destroy_process_group()
    for a, b in zip(expected, got):
        torch.testing.assert_close(b, a, **STEP_TOLERANCE)
    for model in ("G", "D"):
        mine, theirs = getattr(plain, model), getattr(ddp, model)  # the bare modules DDP wraps
        for (name, a), b in zip(mine.named_parameters(), theirs.parameters()):
            torch.testing.assert_close(b.grad, a.grad, **STEP_TOLERANCE, msg=f"{model}.{name}.grad")
        for (name, a), b in zip(mine.named_buffers(), theirs.buffers()):
            if a.is_floating_point():
                torch.testing.assert_close(b, a, **STEP_TOLERANCE, msg=f"{model}.{name}")


def test_every_command_runs_with_device_cuda(tmp_path):
    run, ae = tmp_path / "run", tmp_path / "ae"
    cuda = ["--device", "cuda"]
    assert main(["train", *TINY, *cuda, "-o", str(run)]) == 0
    assert main(["train-ae", "--limit", "256", "-e", "1", "-q", *cuda, "-o", str(ae)]) == 0
    for argv in (["sample", "--generator", str(run), "-n", "16"],
                 ["evaluate", "--generator", str(run), "-n", "500"],
                 ["invert", "--generator", str(run), "-n", "2", "-i", "20"],
                 ["restore", "--generator", str(run), "-n", "2", "-i", "20"],
                 ["interpolate", "--generator", str(run), "--a", "3", "--b", "5", "-i", "20"],
                 ["sample", "--generator", str(ae / "generator.safetensors"), "-n", "16"]):
        assert main([*argv, *cuda, "-o", str(tmp_path / argv[0] / str(len(argv)))]) == 0, argv
    assert main(["report", str(tmp_path / "evaluate" / "5"), str(run), "-o", str(tmp_path / "report")]) == 0


# ---- the step as CUDA graphs (--cuda-graphs)

GRAPH_OPTIONS = {
    "mnist recipe": ["--dataset", "mnist", "--reg-every", "4"],
    "conditional, hinge, R1/R2, ramp, -gs/-ds 2": ["--dataset", "mnist", "-g", "M4", "-d", "M5", "--conditional",
                                                   "-l", "hinge", "--r1", "1", "--r2", "1", "--reg-every", "4",
                                                   "--condition-ramp", "4", "-gs", "2", "-ds", "2",
                                                   "--lr-half-life", "1"],
    "-k 2 restore, mse": ["--dataset", "mnist", "-g", "M4", "-d", "M5", "-k", "2", "-l", "mse"],
    "-k 2 differentiable": ["--dataset", "mnist", "-g", "M4", "-d", "M5", "-k", "2", "--unroll-mode",
                            "differentiable", "-l", "relativistic"],
    "ADA, colour, packing by class": ["--dataset", "stacked-mnist", "--augment", "translation,cutout,color",
                                      "--ada-target", "0.6", "--augment-p", "0.5", "--clusters", "4",
                                      "--pack-by-class"],
}
GRAPHED = ["--limit", "256", "-b", "16", "-q", "--log-every", "1", "--device", "cuda"]


def _last(run) -> dict:
    from ganforge.checkpoint import load_checkpoint
    return load_checkpoint(run / "checkpoints" / "last.safetensors")[0]


@pytest.mark.parametrize("extra", GRAPH_OPTIONS.values(), ids=GRAPH_OPTIONS)
def test_the_graphed_step_matches_the_eager_step_and_resumes_as_it_does(tmp_path, no_tf32, extra, capsys):
    """16 iterations eager against graphed (3 eager, then replays), and graphed for 8 then resumed to 16."""
    eager, graphed, cut = tmp_path / "eager", tmp_path / "graphed", tmp_path / "cut"
    assert main(["train", *extra, *GRAPHED, "-e", "1", "-o", str(eager)]) == 0
    assert main(["train", *extra, *GRAPHED, "-e", "1", "--cuda-graphs", "-o", str(graphed)]) == 0
    assert "--cuda-graphs: captured the step" in capsys.readouterr().err
    a, b = _last(eager), _last(graphed)
    for name in a:
        if a[name].is_floating_point() and not name.startswith("rng"):
            torch.testing.assert_close(b[name], a[name], atol=2e-3, rtol=2e-2, msg=name)
    for x, y in zip(read_metrics(eager / "metrics.csv"), read_metrics(graphed / "metrics.csv")):
        assert x["d_loss"] == pytest.approx(y["d_loss"], rel=0.05, abs=0.02)
    # a graphed run cut after 8 iterations and resumed (graphs captured afresh) ends where the whole one does
    assert main(["train", *extra, *GRAPHED, "-e", "2", "--limit", "128", "--cuda-graphs", "-o", str(cut)]) == 0
    whole = _last(cut)
    half = tmp_path / "half"
    assert main(["train", *extra, *GRAPHED, "-e", "1", "--limit", "128", "--cuda-graphs", "-o", str(half)]) == 0
    assert main(["train", "--resume", str(half), "-e", "2", "-q"]) == 0
    resumed = _last(half)
    for name in whole:
        if whole[name].is_floating_point() and not name.startswith("rng"):
            torch.testing.assert_close(resumed[name], whole[name], atol=2e-3, rtol=2e-2, msg=name)


def test_the_step_makes_no_host_sync_on_cuda():
    """torch.cuda's own check, around the step's maths (what a graph captures), for the MNIST recipe with
    its lazy penalty, ADA and the moving average."""
    from ganforge.config import TrainConfig, resolve
    from ganforge.training.gan import build_gan_trainer
    from ganforge.training.loop import setup
    cfg = resolve(TrainConfig(dataset="mnist", limit=256, batch_size=16, reg_every=2, augment="translation,cutout",
                              ada_target=0.6, device="cuda"))
    cfg.epochs, cfg.quiet = 1, True
    run = setup(cfg, build_gan_trainer, default_out="no files", files=False)
    task, order = run.task, run.task.batches.epoch_order(0)
    try:
        for i in range(8):
            real, real_y = task.batches.take(order[i * 16:(i + 1) * 16])
            penalise, lookahead = task.prepare(i, len(real)), task.lookahead()
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                task.update(real, real_y, lookahead, penalise)
            finally:
                torch.cuda.set_sync_debug_mode("default")
    finally:
        task.close()
        run.close()
