"""The options schema: one declaration per option, and the parser, the config classes, resolve's
checks, the resume rules and the docs' flag table all made from it."""
import dataclasses
from pathlib import Path

import pytest

from ganforge.cli import build_parser
from ganforge.config import PLAIN, SCHEMA, AEConfig, TrainConfig, resolve, resolve_ae, resumed
from ganforge.errors import GanforgeError
from ganforge.options import AE_OPTIONS, RUN_OPTIONS, TRAIN_OPTIONS, Range, options_page
from ganforge.records import write_record

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("cls", [TrainConfig, AEConfig])
def test_every_config_field_is_one_declared_option(cls):
    names = [o.name for o in SCHEMA[cls]]
    assert len(names) == len(set(names))
    assert [f.name for f in dataclasses.fields(cls)] == names
    flags = [f for o in SCHEMA[cls] for f in o.flags]
    assert len(flags) == len(set(flags))


def test_plain_values_are_the_options_that_recipes_may_set():
    assert PLAIN["reg_every"] == 16 and PLAIN["loss"] == "non_saturated" and PLAIN["pack_by_class"] is False
    assert set(PLAIN) == {o.name for o in TRAIN_OPTIONS if o.recipe} - {"generator", "discriminator"}
    assert all(getattr(TrainConfig(), name) is None for name in PLAIN)  # resolve fills them


@pytest.mark.parametrize("command,options", [("train", TRAIN_OPTIONS + RUN_OPTIONS),
                                             ("train-ae", AE_OPTIONS + RUN_OPTIONS)])
def test_the_parser_has_every_option_with_its_default_in_the_help(command, options):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    by_dest = {a.dest: a for a in sub._actions}
    for o in options:
        action = by_dest[o.name]
        assert set(o.flags) <= set(action.option_strings)
        assert action.help.endswith(f"(default: {o.default_text()})")
    # nothing given: no option in the namespace, so the config's defaults hold
    args = build_parser().parse_args([command])
    assert set(vars(args)) == {"command", "func"}


def test_defaults_in_help_come_from_the_tables():
    by_name = {o.name: o for o in TRAIN_OPTIONS}
    assert by_name["lr_d"].default_text() == "the recipe's, else 0.0002 (celeb 0.0004, ring 0.0001, grid 0.0001)"
    assert by_name["reg_every"].default_text() == "the recipe's, else 16"
    assert by_name["unroll_steps"].default_text() == "0"


def test_the_docs_flag_table_is_generated_from_the_schema():
    page = (ROOT / "docs" / "training-options.md").read_text()
    assert page == options_page(), "run python scripts/build_docs.py"
    assert "| `--reg-every N` | lazy regularisation" in page


@pytest.mark.parametrize("field,value,message", [
    ("unroll_steps", -1, "-k/--unroll-steps must be an integer >= 0, got -1"),
    ("batch_size", 2.5, "-b/--batch-size must be an integer >= 1, got 2.5"),
    ("lr_g", 0.0, "--lr-g must be a positive number, got 0.0"),
    ("beta1", 1.0, "--beta1 must be in [0, 1), got 1.0"),
    ("real_label", 0.0, "--real-label must be in (0, 1], got 0.0"),
    ("ema", float("nan"), "--ema must be a half-life >= 0, got nan"),
    ("time_limit", -2.0, "--time-limit must be a positive number of minutes, got -2.0"),
    ("unroll_mode", "sideways", "unknown --unroll-mode 'sideways'; valid: restore, differentiable"),
    ("pack", True, "--pack must be an integer >= 1, got True"),
])
def test_resolve_checks_each_option_against_its_declaration(field, value, message):
    with pytest.raises(GanforgeError) as info:
        resolve(TrainConfig(**{field: value}))
    assert str(info.value) == message


def test_autoencoder_options_are_checked_the_same_way():
    with pytest.raises(GanforgeError, match="^-b/--batch-size must be an integer >= 2, got 1$"):
        resolve_ae(AEConfig(batch_size=1))
    with pytest.raises(GanforgeError, match="^--factor-cap must be a positive number, got -1"):
        resolve_ae(AEConfig(factor_cap=-1.0))


def test_range_reads_as_the_end_of_a_sentence():
    assert str(Range(0, 1, low_open=True)) == "in (0, 1]"
    assert str(Range(3, noun="integer")) == "an integer >= 3"
    assert 0.5 in Range(0, 1) and 1.5 not in Range(0, 1) and float("inf") not in Range(0)


def _saved_run(tmp_path, **options):
    cfg = resolve(TrainConfig(dataset="ring", **options))
    write_record(tmp_path / "config.json", "gan-run", cfg.to_dict())
    return cfg


def test_resume_rules_are_the_librarys_so_the_python_api_has_them(tmp_path):
    saved = _saved_run(tmp_path, epochs=2)
    cfg = resumed(TrainConfig(epochs=5, quiet=True), tmp_path)  # options marked resumable may change
    assert (cfg.epochs, cfg.quiet, cfg.lr_g, cfg.out) == (5, True, saved.lr_g, str(tmp_path))
    with pytest.raises(GanforgeError, match=r"^--lr-g 0.5 differs from the run being resumed \(0.001\); only "
                                            r"--device, --data-memory, --log-every, .* may change$"):
        resumed(TrainConfig(lr_g=0.5), tmp_path)
    with pytest.raises(GanforgeError, match="latent size -z 7 does not match the checkpoint"):
        resumed(TrainConfig(z_dim=7), tmp_path)
    assert resumed(TrainConfig(lr_g=saved.lr_g, out=str(tmp_path)), tmp_path).lr_g == saved.lr_g

