"""Options: recipes fill what a command line leaves out; the report's command lines, which name
their models, keep the report's method with nothing added."""
import pytest

from ganforge.config import PLAIN, RECIPES, TrainConfig, resolve
from ganforge.errors import GanforgeError

REPORT_MNIST = dict(generator="M1", discriminator="M3", batch_size=24, loss="non_saturated", unroll_steps=4,
                    epochs=50, z_dim=50, dataset="MNIST")
REPORT_CELEB = dict(generator="M11", discriminator="M12", batch_size=128, loss="non_saturated", unroll_steps=2,
                    epochs=50, z_dim=100, g_steps=5, d_steps=2, dataset="celeb")


@pytest.mark.parametrize("line", [REPORT_MNIST, REPORT_CELEB])
def test_the_reports_command_lines_get_nothing_they_did_not_ask_for(line):
    cfg = resolve(TrainConfig(**line))
    assert cfg.recipe == "none"
    for key in ("r1", "r2", "ema", "pack", "spectral_norm", "augment"):
        assert getattr(cfg, key) == PLAIN[key], key
    if cfg.dataset == "celeb":  # the report's own CelebA settings
        assert (cfg.lr_g, cfg.lr_d, cfg.real_label) == (1e-4, 4e-4, 0.9)
    else:
        assert (cfg.lr_g, cfg.lr_d, cfg.real_label) == (2e-4, 2e-4, 1.0)


@pytest.mark.parametrize("dataset", list(RECIPES))
def test_a_dataset_alone_gets_its_recipe_and_flags_override_parts_of_it(dataset):
    cfg = resolve(TrainConfig(dataset=dataset))
    assert cfg.recipe == dataset
    for key, value in RECIPES[dataset].items():
        assert getattr(cfg, key) == value, key
    changed = resolve(TrainConfig(dataset=dataset, lr_g=3e-4, ema=0.0))
    assert (changed.lr_g, changed.ema) == (3e-4, 0.0) and changed.lr_d == cfg.lr_d


def test_a_conditional_colour_run_gets_packs_of_one_category():
    conditional = resolve(TrainConfig(dataset="emoji", conditional=True))
    assert (conditional.pack, conditional.pack_by_class, conditional.augment) == (2, True, "translation,cutout,color")
    plain = resolve(TrainConfig(dataset="emoji"))
    assert (plain.pack, plain.pack_by_class) == (1, False)
    assert resolve(TrainConfig(dataset="emoji", conditional=True, pack=1)).pack_by_class is False  # as asked


def test_recipe_none_and_a_recipe_for_named_models():
    plain = resolve(TrainConfig(dataset="mnist", recipe="none"))
    assert (plain.generator, plain.lr_g, plain.ema) == ("M4", 2e-4, 0.0)
    asked = resolve(TrainConfig(**REPORT_MNIST, recipe="mnist"))
    assert (asked.generator, asked.lr_g, asked.ema) == ("M1", 1e-3, 10.0)  # the named models stay
    with pytest.raises(GanforgeError, match="unknown --recipe 'faces'"):
        resolve(TrainConfig(recipe="faces"))


def test_resolving_twice_changes_nothing():
    once = resolve(TrainConfig(dataset="ring"))
    assert resolve(once) == once


def test_a_paired_loss_has_no_real_label_to_smooth():
    cfg = resolve(TrainConfig(**{**REPORT_CELEB, "loss": "relativistic"}))
    # The report's CelebA real label (0.9) is dropped, its learning rates kept.
    assert (cfg.loss, cfg.real_label, cfg.lr_d) == ("relativistic", 1.0, 4e-4)
    with pytest.raises(GanforgeError, match="-l relativistic .* drop --real-label 0.9"):
        resolve(TrainConfig(dataset="mnist", loss="relativistic", real_label=0.9))
