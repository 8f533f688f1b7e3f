"""``reproduce``: the report's whole experiment suite, run one experiment after another through the
library's own functions, then one report page of everything it made."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..console import say
from ..data import DataOptions, load_dataset
from ..device import pick_device
from ..errors import GanforgeError
from ..io import atomic_write_text, make_folder
from ..loading import open_generator
from ..records import write_record
from .report import build_report
from ..training import AEConfig, TrainConfig, train, train_ae
from .evaluate import evaluate
from .inputs import image_refs, pick_images
from .latent import InversionOptions, interpolate_images, invert_images, restore_images

RECORD_FILE = "reproduce.json"


@dataclass(frozen=True)
class Scale:
    mnist_epochs: Optional[int]  # None: as many as the time limit allows
    mnist_limit: Optional[int]  # training digits used (None: all 8,000 of the bundled sample)
    ae_epochs: Optional[int]
    celeb_epochs: int
    celeb_limit: Optional[int]
    inversion_images: int
    inversion_iters: int
    eval_samples: int
    gan_minutes: Optional[float] = None  # --time-limit of each of the report's MNIST GANs
    recipe_minutes: Optional[float] = None  # ... of the MNIST recipe's run
    ae_minutes: Optional[float] = None  # ... of each autoencoder


SCALES = {
    "smoke": Scale(mnist_epochs=1, mnist_limit=480, ae_epochs=2, celeb_epochs=1, celeb_limit=256, inversion_images=5,
                   inversion_iters=60, eval_samples=500),
    # about 50 minutes on a 2-core CPU: long enough for the report's findings to show (and the recipe's answer);
    # measured: 49.6 minutes for the whole suite, each GAN stopping within 2 seconds of its limit
    "cpu": Scale(mnist_epochs=None, mnist_limit=None, ae_epochs=None, celeb_epochs=1, celeb_limit=2_000,
                 inversion_images=8, inversion_iters=500, eval_samples=10_000, gan_minutes=8, recipe_minutes=10,
                 ae_minutes=3),
    # the report's epochs: -e 50 for both GANs
    "full": Scale(mnist_epochs=50, mnist_limit=None, ae_epochs=20, celeb_epochs=50, celeb_limit=None,
                  inversion_images=8, inversion_iters=1_000, eval_samples=10_000),
}


@dataclass
class Experiment:
    name: str
    folder: Path
    command: str  # the same experiment as one ganforge command line, for the reader of the report
    run: Callable[[], Any]
    needs: list[Path] = field(default_factory=list)  # run folders that must have finished first
    config: Any = None  # what a training experiment trains with
    status: str = "pending"
    seconds: float = 0.0
    reason: str = ""


def flags(cfg: Any) -> str:
    """The command-line flags that give a config dataclass's non-default values (``--field-name value``)."""
    default = type(cfg)()
    parts = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value == getattr(default, f.name) or value is None:
            continue
        flag = "--" + f.name.replace("_", "-")
        parts.append(flag if value is True else f"{flag} {value}")
    return " ".join(parts)


def plan(scale: Scale, out: Path, device: str, data_root: Optional[str]) -> list[Experiment]:
    """The report's experiments at ``scale``, each writing into its own folder under ``out``."""
    exps: list[Experiment] = []

    def gan(name: str, folder: str, cfg: TrainConfig) -> None:
        cfg = dataclasses.replace(cfg, out=str(out / folder), device=device)
        exps.append(Experiment(name, out / folder, f"ganforge train {flags(cfg)}", lambda: train(cfg), config=cfg))

    def ae(name: str, folder: str, cfg: AEConfig) -> None:
        cfg = dataclasses.replace(cfg, out=str(out / folder), device=device)
        exps.append(Experiment(name, out / folder, f"ganforge train-ae {flags(cfg)}", lambda: train_ae(cfg),
                               config=cfg))

    def on(run: Path, name: str, folder: str, command: str, work: Callable[..., Any]) -> None:
        """An experiment over the generator of ``run``: ``work(generator, folder)``."""
        exps.append(Experiment(name, out / folder, f"ganforge {command} --generator {run} --device {device} "
                                                   f"-o {out / folder}",
                               lambda: work(open_generator(run, device=pick_device(device)), out / folder),
                               needs=[run]))

    report_gan = TrainConfig(generator="M1", discriminator="M3", batch_size=24, z_dim=50, epochs=scale.mnist_epochs,
                             dataset="mnist", limit=scale.mnist_limit, unroll_steps=4, time_limit=scale.gan_minutes)
    for loss in ("cross_entropy", "non_saturated", "mse"):
        gan(f"GAN, {loss} loss, k=4", f"gan-{loss}-k4", dataclasses.replace(report_gan, loss=loss))
    gan("GAN, non_saturated loss, unrolling off (k=0)", "gan-non_saturated-k0",
        dataclasses.replace(report_gan, unroll_steps=0))
    gan("GAN, the MNIST recipe (ganforge train --dataset mnist)", "gan-recipe",
        TrainConfig(dataset="mnist", epochs=scale.mnist_epochs, limit=scale.mnist_limit,
                    time_limit=scale.recipe_minutes))
    celeb = TrainConfig(dataset="celeb", generator="M11", discriminator="M12", batch_size=128, unroll_steps=2,
                        z_dim=100, g_steps=5, d_steps=2, epochs=scale.celeb_epochs, data_root=data_root)
    if scale.celeb_limit:
        celeb = dataclasses.replace(celeb, limit=scale.celeb_limit, batch_size=64)
    gan("GAN on CelebA (M11/M12, k=2, -gs 5 -ds 2)", "gan-celeb", celeb)

    # The latent-space experiments on the report's generator and, beside it, on the recipe's: at CPU scale the
    # first may draw little but one digit, which no inversion can fit to the test images
    best, recipe = out / "gan-non_saturated-k4", out / "gan-recipe"
    inversion = InversionOptions(restarts=5, iters=scale.inversion_iters)
    latent = f"-i {scale.inversion_iters} -s 5"
    n = scale.inversion_images
    a, b = _pairs()
    sweep = (0.5, 1.0, 1.5, 2.0, None)
    for run, tag, whose in ((best, "", "the report's generator"), (recipe, "-recipe", "the recipe's generator")):
        on(run, f"inversion, 5 restarts, {whose}", f"invert{tag}", f"invert {latent} -n {n}",
           lambda g, o: invert_images(g, *pick_images(g, n=n), inversion, o))
        on(run, f"restoration, three masks, {whose}", f"restore{tag}", f"restore {latent} -n {n} --masks all",
           lambda g, o: restore_images(g, *pick_images(g, n=n), inversion, o,
                                       masks=("pepper", "crosswalk", "square")))
        on(run, f"GAN interpolation, {whose}", f"interpolate-gan{tag}",
           f"interpolate {latent} --a {' '.join(a)} --b {' '.join(b)}", lambda g, o: _interpolate(g, o, inversion))
        on(run, f"metrics and truncation sweep, {whose}", f"{run.name}/evaluation",
           f"evaluate -n {scale.eval_samples} --truncation-sweep 0.5,1,1.5,2,inf",
           lambda g, o: evaluate(g, o, n=scale.eval_samples, truncations=sweep))

    report_ae = AEConfig(epochs=scale.ae_epochs, limit=scale.mnist_limit, time_limit=scale.ae_minutes)
    ae("autoencoder", "ae-none", report_ae)
    ae("autoencoder with moment matching", "ae-moments", dataclasses.replace(report_ae, latent_reg="moments"))
    ae_moments = out / "ae-moments"
    on(ae_moments, "AE interpolation (encoder as the image-to-z map)", "interpolate-ae",
       f"interpolate --a {' '.join(a)} --b {' '.join(b)}", lambda g, o: _interpolate(g, o, inversion))
    for folder in ("gan-cross_entropy-k4", "gan-mse-k4", "gan-non_saturated-k0"):
        on(out / folder, f"metrics of {folder}", f"{folder}/evaluation", f"evaluate -n {scale.eval_samples}",
           lambda g, o: evaluate(g, o, n=scale.eval_samples))
    on(ae_moments, "metrics of the AE with moment matching, as a generator", "ae-moments/evaluation",
       f"evaluate -n {scale.eval_samples}", lambda g, o: evaluate(g, o, n=scale.eval_samples))
    return exps


def _pairs() -> tuple[list[str], list[str]]:
    """The test images the interpolations run between: four of four classes (the test split comes grouped by
    class, so its first four are all zeros), two from each end."""
    picks = [str(i) for i in load_dataset("mnist").test_picks(4).tolist()]
    return picks[:2], picks[2:]


def _interpolate(gen, out: Path, inversion: InversionOptions) -> dict:
    a, b = _pairs()
    first, names_a = image_refs(gen, a)
    second, names_b = image_refs(gen, b)
    return interpolate_images(gen, first, second, (names_a, names_b), inversion, out)


def _celeb_missing(data_root: Optional[str]) -> Optional[str]:
    try:
        load_dataset("celeb", DataOptions(root=Path(data_root) if data_root else None))
    except GanforgeError as exc:
        return str(exc)
    return None


def reproduce(out: Path, *, scale: str = "smoke", device: str = "auto",
              data_root: Optional[str] = None) -> list[Experiment]:
    """Run the suite into ``out`` (new or empty), write reproduce.json and report.html; returns the
    experiments with their status. An experiment that fails is recorded with its error, and the
    ones that need its output are skipped with that reason."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GanforgeError(f"output folder {out} already holds files; choose another --out")
    make_folder(out)
    experiments = plan(SCALES[scale], out, device, data_root)
    celeb_reason = _celeb_missing(data_root)
    started = time.perf_counter()
    for i, exp in enumerate(experiments, 1):
        missing = [n for n in exp.needs if not (n / "generator.safetensors").exists()]
        if exp.folder.name == "gan-celeb" and celeb_reason:
            exp.status, exp.reason = "skipped", f"no CelebA data: {celeb_reason}"
        elif missing:
            exp.status, exp.reason = "skipped", f"needs {', '.join(m.name for m in missing)}, which failed"
        if exp.status == "skipped":
            say(f"[{i}/{len(experiments)}] {exp.name}: skipped ({exp.reason})")
            continue
        say(f"[{i}/{len(experiments)}] {exp.name} ... ({time.perf_counter() - started:.0f} s so far)")
        t0 = time.perf_counter()
        try:
            exp.run()
            exp.status = "done"
        except (GanforgeError, OSError) as exc:
            exp.status, exp.reason = "failed", str(exc)
        exp.seconds = time.perf_counter() - t0
        say(f"[{i}/{len(experiments)}] {exp.name}: {exp.status} in {exp.seconds:.0f} s"
            + (f" ({exp.reason})" if exp.reason else ""))
    write_record(out / RECORD_FILE, "reproduction", {
        "scale": scale, "seconds": round(time.perf_counter() - started, 1),
        "experiments": [{"name": e.name, "folder": e.folder.relative_to(out).as_posix(), "status": e.status,
                         "seconds": round(e.seconds, 1), "command": e.command, "reason": e.reason}
                        for e in experiments]})
    atomic_write_text(out / "report.html", build_report([out], title=f"ganforge reproduce --scale {scale}"))
    return experiments
