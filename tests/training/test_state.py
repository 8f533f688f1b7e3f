"""Saving and restoring the complete training state, and the data order resume rebuilds."""
import pytest
import torch

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
                              device=torch.device("cpu"))
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
                      data_rng=torch.Generator(), device=torch.device("cpu"))
