"""Self-conditioning (--clusters): the clusters, how G draws them, and runs that use them."""
import pytest
import torch

from ganforge.cli import main
from ganforge.config import TrainConfig, resolve
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.pipelines.export import metadata
from ganforge.loading import open_generator
from ganforge.losses import get_loss
from ganforge.models import build_model
from ganforge.models.conditional import ProjectionD, classes_in_turn, conditional_generator
from ganforge.pipelines import evaluate
from ganforge.training.clusters import find_clusters
from ganforge.training import GanTrainer
from ganforge.training.batches import ClassRuns


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two assignments group the items alike (cluster numbers aside)."""
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_clusters_of_separated_points_are_the_groups_and_the_prior_their_sizes():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    truth = torch.tensor([0] * 100 + [1] * 50 + [2] * 250)
    points = centres[truth] + 0.3 * torch.randn(400, 2, generator=g)
    found = find_clusters(points, 3, seed=0)
    assert same_partition(found.assignment, truth)
    assert sorted(found.prior.tolist()) == pytest.approx([50 / 400, 100 / 400, 250 / 400])
    assert find_clusters(points, 3, seed=0).digest() == found.digest()


def test_image_clusters_are_found_in_the_principal_components():
    """Two kinds of 10x10 images (top half or bottom half lit), 100 pixels > the 50 components kept."""
    g = torch.Generator().manual_seed(0)
    truth = torch.arange(200) % 2
    images = torch.full((200, 1, 10, 10), -1.0)
    images[truth == 0, :, :5] = 1.0
    images[truth == 1, :, 5:] = 1.0
    images += 0.5 * torch.randn(images.shape, generator=g)
    found = find_clusters(images, 2, seed=3)
    assert same_partition(found.assignment, truth) and found.prior.tolist() == [0.5, 0.5]


def test_classes_in_turn_follow_the_prior_in_every_prefix():
    prior = torch.tensor([0.5, 0.3, 0.15, 0.05])
    y = classes_in_turn(2000, 4, prior)
    for n in (20, 100, 2000):
        counts = torch.bincount(y[:n], minlength=4).double()
        assert (counts - n * prior.double()).abs().max() <= 2, (n, counts)
    assert classes_in_turn(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_g_draws_its_classes_from_the_prior_during_training():
    prior = torch.tensor([0.7, 0.2, 0.1])
    G, D = torch.nn.Linear(2, 1), torch.nn.Linear(1, 1)
    parts = GanTrainer(G, D, None, None, None, 2, classes=3, prior=prior)
    torch.manual_seed(0)
    counts = torch.bincount(parts.labels(20_000, "cpu"), minlength=3).double() / 20_000
    assert counts.tolist() == pytest.approx(prior.tolist(), abs=0.01)


def test_clusters_options_are_checked():
    assert resolve(TrainConfig(dataset="ring")).clusters == 8  # the recipes' self-conditioning
    assert resolve(TrainConfig(dataset="mnist")).clusters == 20
    assert resolve(TrainConfig(dataset="ring", recipe="none")).clusters == 0  # the report's method: none
    assert resolve(TrainConfig(dataset="mnist", conditional=True)).clusters == 0  # labels take their place
    assert resolve(TrainConfig(dataset="grid", clusters=25)).clusters == 25
    with pytest.raises(GanforgeError, match="0 \\(none\\) or at least 2"):
        resolve(TrainConfig(dataset="ring", clusters=1))
    with pytest.raises(GanforgeError, match="give one of them"):
        resolve(TrainConfig(dataset="mnist", clusters=10, conditional=True))


def test_a_self_conditioned_toy_gan_puts_each_cluster_at_its_own_mode():
    """The ring's eight modes found by k-means without labels; after 600 steps G(z, c) lands in cluster c."""
    data = load_dataset("ring")
    clusters = find_clusters(data.train, 8, seed=0)
    centres = torch.stack([data.train[clusters.assignment == c].mean(0) for c in range(8)])
    truth = torch.cdist(data.train, data.extras["centres"]).argmin(1)
    assert same_partition(clusters.assignment, truth)
    torch.manual_seed(0)
    G = conditional_generator("toy-g", shape=(2,), z_dim=4, classes=8)
    D = ProjectionD(build_model("toy-d", role="D", shape=(2,)), 8)
    parts = GanTrainer(G, D, torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999)),
                       torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.999)), get_loss("non_saturated"), 4,
                       classes=8, prior=clusters.prior)
    g = torch.Generator().manual_seed(1)
    for _ in range(600):
        index = torch.randint(len(data.train), (256,), generator=g)
        parts.train_step(data.train[index], clusters.assignment[index])
    with torch.no_grad():
        asked = torch.arange(4000) % 8
        points = G(torch.randn(4000, 4), asked)
    accuracy = float((torch.cdist(points, centres).argmin(1) == asked).double().mean())
    assert accuracy > 0.9, accuracy


def test_a_clustered_run_keeps_its_prior_resumes_exactly_and_checks_its_clusters(tmp_path, capsys,
                                                                                   whole_and_resumed):
    a, b = whole_and_resumed(["train", "--dataset", "ring", "--clusters", "8", "-b", "100", "--limit", "1000", "-q"])
    assert "D.embed.weight" in a and all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))

    gen = open_generator(tmp_path / "whole")
    assert gen.classes == 8 and not gen.labelled
    assert gen.prior.sum().item() == pytest.approx(1.0) and (gen.prior > 0.08).all()  # the ring: 1/8 each
    assert metadata(gen)["class_prior"] == gen.prior.tolist()  # what an exported file's users draw clusters by
    record = evaluate(gen, tmp_path / "ev")
    assert "conditional_accuracy" not in record["results"][0]  # clusters are not classes to be right about

    capsys.readouterr()  # the same run on other data finds other clusters: refused, the run left as it was
    before = (tmp_path / "cut" / "checkpoints" / "last.safetensors").read_bytes()
    config = (tmp_path / "cut" / "config.json").read_text().replace('"limit": 1000', '"limit": 900')
    (tmp_path / "cut" / "config.json").write_text(config)
    assert main(["train", "--resume", str(tmp_path / "cut"), "-e", "3", "-q"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "clusters are not the checkpoint's" in errors[0]
    assert (tmp_path / "cut" / "checkpoints" / "last.safetensors").read_bytes() == before


def test_more_clusters_than_training_items_is_one_line_and_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "ring", "--clusters", "2000", "--limit", "1000", "-b", "100", "-e", "1", "-q",
                 "-o", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == ["ganforge: error: --clusters must be between 2 and the 1,000 training items, got 2000"]
    assert not out.exists()


def test_class_runs_order_an_epoch_in_runs_of_one_class_with_every_item():
    labels = torch.tensor([0] * 10 + [1] * 7 + [3] * 1)  # class 2 empty, class 3 smaller than a run
    runs = ClassRuns(labels, 4)
    order = runs.epoch_order(seed=5, epoch=2)
    assert len(order) == 12 + 8 + 4  # each class filled up to whole runs
    assert all(len(set(labels[run].tolist())) == 1 for run in order.view(-1, 4))
    assert set(order.tolist()) == set(range(18))  # every item at least once
    assert torch.equal(order, runs.epoch_order(seed=5, epoch=2))  # what resume rebuilds
    assert not torch.equal(order, runs.epoch_order(seed=5, epoch=3))


def test_class_runs_draws_come_in_runs_with_classes_as_often_as_they_occur():
    labels = torch.tensor([0] * 600 + [1] * 300 + [2] * 100)
    drawn = ClassRuns(labels, 4).draw(40_000, torch.Generator().manual_seed(0))
    classes = labels[drawn].view(-1, 4)
    assert (classes == classes[:, :1]).all()
    assert (torch.bincount(classes[:, 0], minlength=3) / 10_000).tolist() == pytest.approx([0.6, 0.3, 0.1], abs=0.02)
    assert len(set(drawn[labels[drawn] == 2].tolist())) == 100  # any item of the class, not only some


def test_g_draws_classes_in_runs_of_the_pack_under_pack_by_class():
    prior = torch.tensor([0.7, 0.2, 0.1])
    parts = GanTrainer(torch.nn.Linear(2, 1), torch.nn.Linear(1, 1), None, None, None, 2, classes=3, prior=prior,
                       class_run=4)
    torch.manual_seed(0)
    y = parts.labels(40_000, "cpu").view(-1, 4)
    assert (y == y[:, :1]).all()
    assert (torch.bincount(y[:, 0], minlength=3) / 10_000).tolist() == pytest.approx(prior.tolist(), abs=0.02)


def test_pack_by_class_options_are_checked():
    assert resolve(TrainConfig(dataset="grid", pack_by_class=True)).pack_by_class
    assert not resolve(TrainConfig(dataset="mnist", recipe="none")).pack_by_class
    with pytest.raises(GanforgeError, match="--pack-by-class needs --pack of at least 2 and classes"):
        resolve(TrainConfig(dataset="grid", pack_by_class=True, clusters=0))
    with pytest.raises(GanforgeError, match="--pack-by-class needs"):
        resolve(TrainConfig(dataset="mnist", pack_by_class=True, pack=1))


def test_a_run_packed_by_class_shows_d_packs_of_one_class_and_resumes_exactly(whole_and_resumed, monkeypatch):
    seen = []
    original = ProjectionD.forward

    def spy(self, x, y):
        seen.append(y.view(-1, 4))
        return original(self, x, y)

    monkeypatch.setattr(ProjectionD, "forward", spy)
    a, b = whole_and_resumed(["train", "--dataset", "ring", "--pack-by-class", "-k", "2", "--limit", "1000", "-q"])
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))
    ys = torch.cat(seen)
    assert len(ys) > 100 and (ys == ys[:, :1]).all()  # real, fake and look-ahead packs alike
