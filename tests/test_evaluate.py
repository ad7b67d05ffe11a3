import json

import numpy as np
import pytest
import torch

from videogan.cli import main
from videogan.config import replace
from videogan.eval import diagnostics
from videogan.train.gan import train


def test_mask_motion_on_hand_made_videos():
    videos = -torch.ones(1, 3, 3, 2, 2)
    videos[:, :, 1:, 0, 0] = 1.0  # pixel (0, 0) changes between frames 0 and 1, nothing else ever does
    masks = torch.zeros(1, 1, 3, 2, 2)
    masks[:, :, :, 0, 0] = 0.9
    masks[:, :, :, 1, 1] = 0.3
    out = diagnostics.mask_motion(videos, masks)
    assert out["mask_on_moving"] == pytest.approx(0.9)
    assert out["mask_on_static"] == pytest.approx((0.9 + 0.3 * 2) / 7)  # 7 unchanged (t, pixel) pairs
    assert out["moving_fraction"] == pytest.approx(1 / 8)


def test_mask_location_sees_an_inverted_decomposition():
    """Real videos move in the centre; a mask on the centre correlates, a mask on the border ring (the
    inverted decomposition seen on real footage, which mask_motion scored as healthy) anti-correlates."""
    real = -torch.ones(4, 3, 6, 8, 8)
    real[:, :, ::2, 3:5, 3:5] = 1.0  # a blinking centre: where the real foreground moves
    centre = torch.zeros(4, 1, 6, 8, 8)
    centre[..., 2:6, 2:6] = 0.8
    ring = 0.8 - centre
    motion = diagnostics.motion_map_sums(real)
    good = diagnostics.mask_location(diagnostics.mask_map_sums(centre), motion)
    inverted = diagnostics.mask_location(diagnostics.mask_map_sums(ring), motion)
    assert good["mask_motion_correlation"] > 0.4 and inverted["mask_motion_correlation"] < -0.4
    assert good["mask_where_real_moves"] == pytest.approx(0.8)
    assert good["mask_where_real_still"] == pytest.approx(0.8 * 12 / 60)  # the mask's 12 pixels around the motion
    assert inverted["mask_where_real_moves"] == pytest.approx(0.0)
    assert inverted["mask_where_real_still"] == pytest.approx(0.8 * 48 / 60)
    halves = [diagnostics.mask_map_sums(centre[:2]) + diagnostics.mask_map_sums(centre[2:]),
              diagnostics.motion_map_sums(real[:1]) + diagnostics.motion_map_sums(real[1:])]
    assert diagnostics.mask_location(*halves) == pytest.approx(good)  # additive over batches
    with pytest.raises(ValueError, match="of one size"):
        diagnostics.mask_location(diagnostics.mask_map_sums(centre[..., :4, :4]), motion)


def test_flicker_is_zero_for_a_still_background_and_sees_flicker():
    still = torch.rand(2, 3, 8, 4, 4).mul(2).sub(1)[:, :, :1].expand(-1, -1, 8, -1, -1)
    moving = still.clone()
    moving[:, :, ::2, 0, :] = 1.0  # one row blinks: in the busiest half, so not counted as static
    assert diagnostics.static_flicker(still) == 0.0
    assert diagnostics.static_flicker(moving) == 0.0
    assert diagnostics.motion_energy(moving).min() > 0
    noisy = still + 0.05 * torch.randn_like(still)
    assert diagnostics.static_flicker(noisy) > 0.02


def test_motion_energy_distance_is_zero_for_equal_sets():
    videos = torch.rand(4, 3, 6, 8, 8)
    out = diagnostics.motion_energy_distance(videos, videos)
    assert out["motion_energy_w1"] == 0.0 and out["motion_energy"] == out["motion_energy_real"] > 0
    assert diagnostics.colour_distance(videos, videos) == 0.0


@pytest.fixture(scope="module")
def run16(tmp_path_factory):
    """A 16-frame checkpoint (FVD looks at 16 frames) trained for one iteration."""
    from videogan.config import get_preset

    run = tmp_path_factory.mktemp("run16")
    config = replace(get_preset("tiny"), model={"frames": 16}, train={"iterations": 1, "device": "cpu"})
    train(config, run, progress=False)
    return run


def test_evaluate_diagnostics_only(run16, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["evaluate", str(run16), "--n", "6", "--metrics", "mask_motion,mask_location,flicker,motion_energy,colour",
            "--out", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 6 and result["arch"] == "two_stream" and result["iteration"] == 1
    assert result["real"]["data_seed"] == 1235  # held-out videos of the built-in generator
    for key in ("flicker", "flicker_real", "motion_energy_w1", "colour_w1"):
        assert isinstance(result[key], float)
    # a generator after one iteration may move no pixel: the mask's mean over moving pixels is then 0/0,
    # written as null with the reason
    assert isinstance(result["mask_on_moving"], float) or "nan" in result["null_reasons"]["mask_on_moving"]
    assert "fvd" not in result


def test_evaluate_fvd_caches_the_real_statistics(run16, tmp_path, monkeypatch, capsys):
    from videogan.eval import evaluate as evaluate_module
    from videogan.eval.weights import converted_path

    computed = []
    real_fvd_stats = evaluate_module.real_fvd_stats
    monkeypatch.setattr(evaluate_module, "real_fvd_stats", lambda *a: computed.append(1) or real_fvd_stats(*a))

    if not converted_path().exists():
        pytest.fail("I3D weights missing: run `videogan weights i3d` (make test does)")
    cache = tmp_path / "cache"
    (cache / "i3d").mkdir(parents=True)
    (cache / "i3d" / converted_path().name).symlink_to(converted_path())
    results = []
    for _ in range(2):
        out = tmp_path / "fvd.json"
        assert main(["evaluate", str(run16), "--n", "3", "--metrics", "fvd", "--cache-dir", str(cache),
                     "--batch-size", "3", "--out", str(out)]) == 0
        results.append(json.loads(out.read_text()))
    # the real set and the floor's second real set, each computed once: the second run read them
    assert len(list((cache / "fvd_stats").glob("*.npz"))) == 2 and len(computed) == 2
    # an estimate from the first batch before the rest: 9 videos (real, generated, floor), then 3 (generated)
    err = capsys.readouterr().err
    assert "I3D embeds 9 videos; the first batch took" in err and "I3D embeds 3 videos; the first batch took" in err
    assert results[0]["real_floor"]["data_seed"] == 1236 and results[0]["fvd_real_floor"] > 0
    assert results[0]["real_floor_shared"] == 0
    assert results[0]["fvd"] == pytest.approx(results[1]["fvd"]) and results[0]["fvd"] > 0
    assert results[0]["weights_sha256"] and results[0]["frames"] == 16

    # footage with fewer than 2n videos: the floor's two sets are the same videos, which is said; --floor-data
    # gives a second set of other videos (other people, for a person-disjoint floor)
    from videos import moving_pattern, write_video
    for folder, seeds in (("held_out", (0, 1, 2)), ("other_people", (3, 4, 5))):
        for s in seeds:
            write_video(tmp_path / folder / f"{s}.mp4", moving_pattern(16, 32, 32, seed=s))
    out = tmp_path / "floor.json"
    common = ["evaluate", str(run16), "--n", "3", "--metrics", "fvd", "--cache-dir", str(cache), "--batch-size", "3",
              "--data", str(tmp_path / "held_out"), "--out", str(out)]
    assert main(common) == 0
    assert json.loads(out.read_text())["real_floor_shared"] == 1.0
    assert "shares 100% of its videos" in capsys.readouterr().err
    assert main([*common, "--floor-data", str(tmp_path / "other_people")]) == 0
    result = json.loads(out.read_text())
    assert result["real_floor_shared"] == 0 and result["fvd_real_floor"] > 0
    assert result["real_floor"]["path"].endswith("other_people")


def test_repeated_evaluation_is_the_mean_of_single_seeds(run16, tmp_path, capsys):
    from videogan.eval.weights import converted_path

    cache = tmp_path / "cache"
    (cache / "i3d").mkdir(parents=True)
    (cache / "i3d" / converted_path().name).symlink_to(converted_path())
    common = ["evaluate", str(run16), "--n", "3", "--metrics", "fvd,flicker", "--cache-dir", str(cache),
              "--batch-size", "3"]
    assert main([*common, "--seed", "4", "--repeats", "2", "--out", str(tmp_path / "both.json")]) == 0
    assert "FVD / floor" in capsys.readouterr().out
    assert main([*common, "--seed", "5", "--out", str(tmp_path / "one.json")]) == 0
    both, one = (json.loads((tmp_path / name).read_text()) for name in ("both.json", "one.json"))
    assert both["seeds"] == [4, 5] and both["n"] == 3 and both["arch"] == "two_stream"
    assert both["per_seed"][1]["fvd"] == pytest.approx(one["fvd"])
    for key in ("fvd", "fvd_real_floor", "flicker"):
        values = [result[key] for result in both["per_seed"]]
        assert both[key] == pytest.approx(np.mean(values)) and both[f"{key}_sd"] == pytest.approx(np.std(values, ddof=1))
    ratios = [result["fvd"] / result["fvd_real_floor"] for result in both["per_seed"]]
    assert both["fvd_over_floor"] == pytest.approx(np.mean(ratios))
    assert main([*common, "--repeats", "0", "--out", str(tmp_path / "none.json")]) != 0
    assert "--repeats 0" in capsys.readouterr().err


def test_metrics_over_batches_equal_the_diagnostics_of_the_whole_set():
    from videogan.eval.metrics import EvalContext, VideoSet, get_metric

    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, (70, 4, 8, 8, 3), dtype=np.uint8)  # more than one batch of 64
    videos[:, :, :4] = videos[:, :1, :4]  # a still top half, so the calm pixels are not random
    masks = rng.random((70, 4, 8, 8), dtype=np.float32)
    fake, real = VideoSet(list(videos), list(masks)), VideoSet(list(videos[::-1].copy()))
    whole = torch.from_numpy(videos).permute(0, 4, 1, 2, 3).float().div(127.5).sub(1)
    whole_masks = torch.from_numpy(masks).unsqueeze(1)
    context = EvalContext()
    assert get_metric("mask_motion")(fake, real, context) == pytest.approx(diagnostics.mask_motion(whole, whole_masks))
    assert get_metric("mask_location")(fake, real, context) == pytest.approx(diagnostics.mask_location(
        diagnostics.mask_map_sums(whole_masks), diagnostics.motion_map_sums(whole.flip(0))))
    assert get_metric("flicker")(fake, real, context)["flicker"] == pytest.approx(diagnostics.static_flicker(whole))
    assert get_metric("motion_energy")(fake, real, context) == pytest.approx(
        diagnostics.motion_energy_distance(whole, whole.flip(0)))
    assert get_metric("colour")(fake, real, context)["colour_w1"] == pytest.approx(0.0, abs=1e-6)


def test_real_set_description_changes_with_everything_that_changes_the_videos(tmp_path):
    from videogan.data.video_io import write_video
    from videogan.eval.sources import open_source

    base = open_source("synthetic:5", 16, 4, 0, 32).describe()
    for other in (open_source("synthetic:5", 16, 4, 0, 64), open_source("synthetic:5", 8, 4, 0, 32),
                  open_source("synthetic:5", 16, 4, 1, 32), open_source("synthetic:6", 16, 4, 0, 32)):
        assert other.describe() != base
    assert base["size"] == 32 and base["frames"] == 16
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        write_video(folder / f"{i}.mp4", np.zeros((4, 16, 16, 3), np.uint8))
    before = open_source(str(folder), 4, None, 0, 64).describe()
    write_video(folder / "1.mp4", np.full((5, 16, 16, 3), 200, np.uint8))  # same name, new content
    assert open_source(str(folder), 4, None, 0, 64).describe()["fingerprint"] != before["fingerprint"]


def test_evaluate_errors(tmp_path, tiny_config, capsys):
    train(replace(tiny_config, train={"iterations": 1}), tmp_path / "tiny", progress=False)
    assert main(["evaluate", str(tmp_path / "tiny"), "--n", "2", "--metrics", "fvd"]) == 2
    assert "at least 9 frames" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "tiny"), "--n", "2", "--metrics", "nope"]) == 2
    assert "unknown metric" in capsys.readouterr().err


def test_a_tiny_run_gets_every_metric_but_fvd_and_the_reason(tmp_path, tiny_config, capsys):
    """The tiny preset makes 8 frames, one fewer than I3D takes: the default metrics leave FVD out and say why."""
    train(replace(tiny_config, train={"iterations": 1}), tmp_path / "tiny", progress=False)
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tmp_path / "tiny"), "--n", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert "fvd" not in result["metrics"] and "fvd" not in result and "fvd_real_floor" not in result
    assert "fvd and class_coverage need at least 9 frames" in result["fvd_skipped"]
    assert "makes 8" in result["fvd_skipped"] and "class_coverage" not in result["metrics"]
    assert isinstance(result["flicker"], float) and isinstance(result["colour_w1"], float)


def test_a_small_test_set_sets_n_or_fails_before_any_work(tmp_path, tiny_config, capsys, monkeypatch):
    from videos import moving_pattern, write_video

    from videogan.eval import evaluate as evaluate_module

    train(replace(tiny_config, train={"iterations": 1}), tmp_path / "tiny", progress=False)
    for s in range(3):
        write_video(tmp_path / "test" / f"{s}.mp4", moving_pattern(8, 16, 16, seed=s))
    out = tmp_path / "eval.json"
    common = ["evaluate", str(tmp_path / "tiny"), "--data", str(tmp_path / "test"), "--metrics", "flicker,colour",
              "--out", str(out)]
    assert main(common) == 0  # no --n: the default 2048, or all the data holds
    result = json.loads(out.read_text())
    assert result["n"] == 3 and "holds 3 videos, fewer than the default --n 2048: n = 3" in result["n_note"]
    assert "n = 3" in capsys.readouterr().err
    # an --n the data cannot give: an error with the n that fits, before any video is generated
    monkeypatch.setattr(evaluate_module, "generated_set", lambda *a, **k: pytest.fail("work started"))
    assert main([*common, "--n", "5"]) == 2
    assert "--n 5" in (err := capsys.readouterr().err) and "holds 3 videos; give --n 3 or fewer" in err


def test_fitting_n_takes_the_smallest_source():
    from videogan.eval.evaluate import DEFAULT_N, fitting_n

    assert fitting_n(None, {"synthetic:1235": 1_000_000}) == (DEFAULT_N, None)
    assert fitting_n(64, {"a": 100, "--floor-data b": 64}) == (64, None)
    n, note = fitting_n(None, {"a": 3000, "--floor-data b": 300})
    assert n == 300 and note.startswith("--floor-data b holds 300 videos")
    with pytest.raises(ValueError, match="--n 301: --floor-data b holds 300 videos; give --n 300 or fewer"):
        fitting_n(301, {"a": 3000, "--floor-data b": 300})


def test_builtin_dataset_specs_carry_its_options_and_evaluate_holds_out_the_runs_own(tmp_path, tiny_config):
    from videogan.eval.evaluate import default_real_data, evaluate
    from videogan.eval.sources import dataset_config, open_source
    from videogan.checkpoint import load_checkpoint

    config = dataset_config("synthetic:7,max_objects=1,object_scale=2")
    assert (config.data_seed, config.max_objects, config.object_scale) == (7, 1, 2.0)
    assert dataset_config("my,videos").data == "my,videos"  # a path is taken whole
    for bad, message in (("synthetic:7,colour=red", "not OPTION=VALUE"), ("synthetic:7,max_objects=0", "at least 1"),
                         ("synthetic:x", "synthetic:x")):
        with pytest.raises(ValueError, match=message):
            dataset_config(bad)
    # the default options are left out of the description, so default sets keep their FVD cache keys
    assert "max_objects" not in open_source("synthetic:7", 8, 2, 0, 16).describe()
    one = open_source("synthetic:7,max_objects=1", 8, 12, 0, 16)
    assert one.describe()["max_objects"] == 1 and one.dataset.max_objects == 1
    train(replace(tiny_config, train={"iterations": 1}, data={"max_objects": 1, "object_scale": 1.5}),
          tmp_path / "run", progress=False)
    assert default_real_data(load_checkpoint(tmp_path / "run")) == "synthetic:1235,max_objects=1,object_scale=1.5"
    result = evaluate(tmp_path / "run", n=2, metrics=("flicker",), device="cpu")
    assert result["real"]["max_objects"] == 1 and result["real"]["data_seed"] == 1235
