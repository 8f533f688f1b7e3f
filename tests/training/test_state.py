"""Saving and restoring the complete training state, and the data order resume rebuilds."""
import json

import pytest
import torch
from safetensors.torch import save_file

from ganforge.checkpoint import load_checkpoint
from ganforge.errors import GanforgeError
from ganforge.training.batches import epoch_order
from ganforge.training.state import Position, restore_state, save_state


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = epoch_order(100, 3, 7)
    assert torch.equal(a, epoch_order(100, 3, 7))
    assert not torch.equal(a, epoch_order(100, 3, 8))
    assert sorted(a.tolist()) == list(range(100))


def _model_and_optimiser(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(8, 3)).sum().backward()
    opt.step()
    return model, opt


def test_state_round_trip_restores_weights_moments_rngs_and_position(tmp_path):
    model, opt = _model_and_optimiser(0)
    data_rng = torch.Generator().manual_seed(5)
    data_rng.manual_seed(5), torch.manual_seed(11)
    path = tmp_path / "last.safetensors"
    save_state(path, modules={"M": model}, optimizers={"opt": opt}, data_rng=data_rng, device=torch.device("cpu"),
               pos=Position(2, 3, 23), meta={"z_dim": 4})
    expected_global, expected_data = torch.rand(3), torch.rand(3, generator=data_rng)

    other, other_opt = _model_and_optimiser(1)
    other_rng = torch.Generator().manual_seed(99)
    pos, meta = restore_state(path, modules={"M": other}, optimizers={"opt": other_opt}, data_rng=other_rng,
                              device=torch.device("cpu"), expect={"z_dim": 4})
    assert pos == Position(2, 3, 23) and meta["z_dim"] == 4
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    for p, q in zip(model.parameters(), other.parameters()):
        assert torch.equal(opt.state[p]["exp_avg_sq"], other_opt.state[q]["exp_avg_sq"])
    assert torch.equal(torch.rand(3), expected_global)
    assert torch.equal(torch.rand(3, generator=other_rng), expected_data)


def test_a_checkpoint_of_other_modules_is_refused_in_one_line(tmp_path):
    model, opt = _model_and_optimiser(0)
    path = tmp_path / "last.safetensors"
    save_state(path, modules={"M": model}, optimizers={"opt": opt}, data_rng=torch.Generator(),
               device=torch.device("cpu"), pos=Position(), meta={})
    wrong = torch.nn.Linear(3, 1)
    with pytest.raises(GanforgeError, match="does not fit the model"):
        restore_state(path, modules={"M": wrong}, optimizers={"opt": torch.optim.Adam(wrong.parameters())},
                      data_rng=torch.Generator(), device=torch.device("cpu"), expect={})


def test_a_checkpoint_of_another_run_is_refused_naming_each_difference(tmp_path):
    model, opt = _model_and_optimiser(0)
    path = tmp_path / "last.safetensors"
    saved = {"dataset": "ring", "generator": "toy-g", "loss": "wasserstein", "z_dim": 4, "shape": [2], "classes": 0}
    save_state(path, modules={"M": model}, optimizers={"opt": opt}, data_rng=torch.Generator(),
               device=torch.device("cpu"), pos=Position(), meta=saved)
    expect = {**saved, "dataset": "grid", "z_dim": 8, "shape": (2,), "classes": None}  # tuple and None: the same
    with pytest.raises(GanforgeError, match=r"^cannot resume from .*: --dataset grid here, ring in the checkpoint; "
                                            r"-z 8 here, 4 in the checkpoint \(resume with the options"):
        restore_state(path, modules={"M": model}, optimizers={"opt": opt}, data_rng=torch.Generator(),
                      device=torch.device("cpu"), expect=expect)


def test_one_flipped_bit_anywhere_in_a_checkpoints_tensors_is_one_clear_error(tmp_path):
    model, opt = _model_and_optimiser(0)
    path = tmp_path / "last.safetensors"
    save_state(path, modules={"M": model}, optimizers={"opt": opt}, data_rng=torch.Generator(),
               device=torch.device("cpu"), pos=Position(), meta={})
    blob = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(blob[:8], "little")
    for offset in (header, header + (len(blob) - header) // 2, len(blob) - 1):  # first, middle and last byte
        flipped = bytearray(blob)
        flipped[offset] ^= 0x04
        path.write_bytes(bytes(flipped))
        with pytest.raises(GanforgeError, match="is damaged: its tensors are not the ones written"):
            load_checkpoint(path)


def test_a_checkpoint_without_a_digest_from_ganforge_0_2_still_loads(tmp_path):
    path = tmp_path / "old.safetensors"
    meta = {"format": "ganforge-checkpoint-1", "kind": "generator", "z_dim": 4}
    save_file({"G.w": torch.ones(3)}, path, metadata={"ganforge": json.dumps(meta)})
    tensors, loaded = load_checkpoint(path)
    assert torch.equal(tensors["G.w"], torch.ones(3)) and "digest" not in loaded
