import json

import pytest
import torch
from videos import video_distance

from videogan.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from videogan.cli import main
from videogan.config import get_preset
from videogan.data import MovingObjects
from videogan.models import CodeMixture, VideoDiscriminator, VideoEncoder, VideoGenerator
from videogan.models.sampler import load_sampler
from videogan.tasks.baseline import BaselineConfig, autoencoder_loss, init_autoencoder
from videogan.train.log import RunLog

TINY = ["--preset", "tiny", "--device", "cpu", "--no-progress", "--gmm-components", "4", "--gmm-clips", "12"]


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    """A tiny baseline run: 4 autoencoder iterations, then a 4-component mixture over 12 clips' codes."""
    run = tmp_path_factory.mktemp("baseline")
    assert main(["baseline", "train", "--out", str(run), "--iterations", "4", "--checkpoint-every", "2", *TINY]) == 0
    return run


def test_encoder_is_the_discriminator_ending_in_a_code():
    cfg = get_preset("tiny").model
    encoder = VideoEncoder(cfg)
    codes = encoder(torch.randn(3, 3, cfg.frames, cfg.size, cfg.size))
    assert codes.shape == (3, cfg.z_dim)
    discriminator = VideoDiscriminator(cfg)
    shapes = lambda net: {k: v.shape for k, v in net.features.state_dict().items()}  # noqa: E731
    assert shapes(encoder) == shapes(discriminator)  # same layers up to the output conv
    assert encoder.code.kernel_size == discriminator.classifier.kernel_size


def test_reconstruction_loss_decreases():
    cfg = get_preset("tiny").model
    encoder, decoder = init_autoencoder(cfg, seed=0)
    clips = MovingObjects(cfg.frames, cfg.size)
    real = torch.stack([clips[i]["video"] for i in range(4)])  # 4 3 t h w
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=2e-3)
    losses = []
    for _ in range(8):
        loss, stats = autoencoder_loss(encoder, decoder, real, "l1", mask_l1=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(stats["loss_rec"].item())
    assert losses[-1] < 0.9 * losses[0]


@pytest.mark.parametrize("kind", ["diag", "full", "tied", "spherical"])
def test_mixture_fit_and_sample_keep_the_codes_scale(kind):
    # two tight clusters of codes far from the origin, at a scale as small as an untrained encoder's
    rng = torch.Generator().manual_seed(0)
    centres = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]) * 1e-3
    codes = centres.repeat(50, 1) + 1e-5 * torch.randn(100, 3, generator=rng)
    mixture = CodeMixture.fit(codes, 2, kind)
    drawn = mixture.sample(400, torch.Generator().manual_seed(1))
    assert drawn.shape == (400, 3) and drawn.dtype == torch.float32
    nearest = torch.cdist(drawn.double(), centres.double()).min(1).values
    assert nearest.max() < 1e-4  # every draw sits on one of the clusters
    again = mixture.sample(400, torch.Generator().manual_seed(1))
    assert torch.equal(drawn, again)


def test_too_few_codes_for_the_mixture_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="3 codes cannot fit a 4-component mixture"):
        CodeMixture.fit(torch.randn(3, 5), 4)
    with pytest.raises(ValueError, match="fewer than --gmm-components"):
        BaselineConfig(gmm_components=256, gmm_clips=100)
    assert main(["baseline", "train", "--out", str(tmp_path / "run"), *TINY, "--gmm-clips", "2"]) == 2
    assert "--gmm-clips 2 is fewer than --gmm-components 4" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before any training


@pytest.mark.parametrize("flags, reason", [(["--task", "future"], "not of the 'future' task"),
                                           (["--arch", "one_stream"], "two-stream generator")])
def test_baseline_is_the_two_stream_video_autoencoder_only(tmp_path, capsys, flags, reason):
    assert main(["baseline", "train", "--out", str(tmp_path / "run"), *TINY, *flags]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before any training


def test_a_log_opened_after_training_counts_time_on(tmp_path):
    (tmp_path / "stats.jsonl").write_text(json.dumps({"iteration": 4, "time": 100.0}) + "\n")
    log = RunLog(tmp_path)
    log.continue_time()
    log.record(4, {"gmm_clips": 12})
    assert 100.0 <= json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[-1])["time"] < 160


def test_checkpoint_holds_the_mixture_as_plain_tensors(baseline_run):
    path = list_checkpoints(baseline_run)[-1]
    state = torch.load(path, weights_only=True)  # plain data: no code runs on load
    assert state["kind"] == "baseline" and state["iteration"] == 4
    gmm = state["gmm"]
    assert gmm["covariance_type"] == "diag"
    assert gmm["weights"].shape == (4,) and gmm["means"].shape == gmm["covariances"].shape == (4, 16)
    assert torch.isclose(gmm["weights"].sum(), torch.tensor(1.0, dtype=gmm["weights"].dtype))
    # sampling from the checkpoint alone: codes from the mixture, decoded by the generator it holds
    decoder = VideoGenerator(get_preset("tiny").model)
    decoder.load_state_dict(state["generator"])
    codes = CodeMixture.from_state(gmm).sample(3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        videos = decoder.eval()(codes)
    assert videos.shape == (3, 3, 8, 16, 16) and videos.abs().max() <= 1
    sampler = load_sampler(path)
    assert sampler.prior == "gmm"
    assert torch.equal(sampler.draw_codes(3, torch.Generator().manual_seed(0)), codes)
    # the periodic checkpoint before the end holds no mixture yet, and says how to finish
    early = list_checkpoints(baseline_run)[0]
    assert "gmm" not in load_checkpoint(early)
    with pytest.raises(ValueError, match="baseline train --resume"):
        load_sampler(early)
    stats = [json.loads(line) for line in (baseline_run / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["gmm_clips"] == 12 and stats[-1]["loss_rec_eval"] > 0
    # the mixture's record counts time on from the training's, not from zero
    assert stats[-1]["time"] >= stats[-2]["time"] + stats[-1]["gmm_seconds"] - 0.05
    assert json.loads((baseline_run / "config.json").read_text())["baseline"]["gmm_components"] == 4


def test_baseline_sample_and_videogan_sample_and_evaluate(baseline_run, tmp_path, capsys):
    for command in ("baseline sample", "sample"):
        out = tmp_path / command.replace(" ", "_")
        assert main([*command.split(), str(baseline_run), "--n", "4", "--seed", "1", "--out", str(out), "--each",
                     "--device", "cpu"]) == 0
        assert (out / "videos.mp4").exists() and (out / "mask.gif").exists() and (out / "background.png").exists()
        assert len(list((out / "videos").glob("*.mp4"))) == 4
    # both draw the codes from the mixture (which codes: test_checkpoint_holds_the_mixture_as_plain_tensors)
    first = [tmp_path / d / "videos" / "00000.mp4" for d in ("baseline_sample", "sample")]
    assert video_distance(*first) < 0.05
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(baseline_run), "--n", "4", "--metrics", "flicker,motion_energy",
                 "--device", "cpu", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["kind"] == "baseline"


def test_the_baseline_report_shows_the_real_clips_beside_reconstructions_and_samples(baseline_run):
    page = (baseline_run / "report.html").read_text()
    for src in ("samples/real_videos.gif", "samples/0000004_reconstruction_videos.gif", "samples/0000004_gmm_videos.gif"):
        assert f'src="{src}"' in page
    assert "the autoencoder baseline (section 3.2)" in page


def test_baseline_sample_refuses_a_gan_checkpoint(tmp_path, capsys):
    config = get_preset("tiny")
    path = save_checkpoint(tmp_path / "gan.pt", {"config": config.to_dict(), "iteration": 0,
                                                  "generator": VideoGenerator(config.model).state_dict()})
    assert main(["baseline", "sample", str(path), "--out", str(tmp_path / "s"), "--device", "cpu"]) == 2
    assert "not a baseline checkpoint" in capsys.readouterr().err
    assert load_sampler(path).prior == "normal"


def test_interrupted_run_resumes_and_then_fits_the_mixture(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["baseline", "train", "--out", str(run), "--iterations", "2", *TINY]) == 0
    last = list_checkpoints(run)[-1]
    state = torch.load(last, weights_only=True)
    del state["gmm"]  # as if stopped by Ctrl-C: weights saved, no mixture yet
    save_checkpoint(last, {k: v for k, v in state.items() if k != "format_version"})
    assert main(["baseline", "train", "--out", str(run), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["baseline", "train", "--resume", str(run), "--iterations", "2", "--gmm-clips", "8",
                 "--no-progress"]) == 0
    state = load_checkpoint(run)
    assert state["iteration"] == 2 and state["baseline"]["gmm_clips"] == 8 and "gmm" in state
    written = last.stat().st_mtime_ns
    assert main(["baseline", "train", "--resume", str(run), "--no-progress"]) == 0  # finished: nothing to do
    assert last.stat().st_mtime_ns == written


def test_resumed_baseline_logs_the_losses_of_an_uninterrupted_run(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["baseline", "train", "--out", str(whole), "--iterations", "4", "--log-every", "1", *TINY]) == 0
    assert main(["baseline", "train", "--out", str(parts), "--iterations", "2", "--log-every", "1", *TINY]) == 0
    assert main(["baseline", "train", "--resume", str(parts), "--iterations", "4", "--no-progress"]) == 0

    def losses(run):
        return [(r["iteration"], r["loss_rec"]) for r in map(json.loads, (run / "stats.jsonl").read_text().splitlines())
                if "loss_rec" in r]

    assert [i for i, _ in losses(parts)] == [1, 2, 3, 4]
    for (i, a), (_, b) in zip(losses(whole), losses(parts)):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6), i
    assert "gmm" in load_checkpoint(parts)
