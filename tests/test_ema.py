"""The average of G's weights (--ema-half-life): its rate, its place in checkpoints and resumes, and the
tools that sample from it by default (--raw for the trained G)."""
import torch
from torch import nn

from videogan.checkpoint import load_checkpoint
from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.models.sampler import load_generator, load_sampler
from videogan.train.ema import GeneratorAverage
from videogan.train.gan import train


def test_half_life_is_counted_in_videos():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    average = GeneratorAverage(net, half_life=64)
    with torch.no_grad():
        net[0].weight.fill_(3.0)
        net[1].running_mean.fill_(5.0)
    for _ in range(4):
        average.update(net, videos=16)  # 64 videos: one half-life
    assert torch.allclose(average.average[0].weight, torch.full((2, 2), 2.0))  # half of the start remains
    assert torch.equal(average.average[1].running_mean, torch.full((2,), 5.0))  # buffers are copied
    assert not any(p.requires_grad for p in average.average.parameters())


def _config(iterations, **train):
    return replace(get_preset("tiny"), train={"iterations": iterations, "checkpoint_every": 2, "sample_every": 100,
                                             "device": "cpu", "ema_half_life": 16.0, **train})


def test_checkpoint_holds_the_average_and_tools_sample_from_it(tmp_path, capsys):
    path = train(_config(2), tmp_path / "run", progress=False)
    state = load_checkpoint(path)
    trained, averaged = state["generator"], state["generator_ema"]
    assert trained.keys() == averaged.keys()
    assert any(not torch.equal(trained[k], averaged[k]) for k in trained if trained[k].is_floating_point())
    ema, raw = load_generator(path), load_generator(path, raw=True)
    assert all(torch.equal(v, averaged[k]) for k, v in ema.state_dict().items())
    assert all(torch.equal(v, trained[k]) for k, v in raw.state_dict().items())
    rng = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not torch.equal(load_sampler(path).sample(2, rng())["video"],
                           load_sampler(path, raw=True).sample(2, rng())["video"])
    assert main(["sample", str(tmp_path / "run"), "--n", "2", "--raw", "--out", str(tmp_path / "s")]) == 0


def test_resume_continues_the_average_exactly(tmp_path):
    straight = load_checkpoint(train(_config(4), tmp_path / "a", progress=False))
    train(_config(2), tmp_path / "b", progress=False)
    resumed = load_checkpoint(train(_config(4), tmp_path / "b", resume=True, progress=False))
    for key, value in straight["generator_ema"].items():
        assert torch.allclose(value.float(), resumed["generator_ema"][key].float(), rtol=1e-5, atol=1e-6), key


def test_without_half_life_there_is_no_average(tmp_path):
    state = load_checkpoint(train(_config(2, ema_half_life=0.0), tmp_path / "run", progress=False))
    assert "generator_ema" not in state
