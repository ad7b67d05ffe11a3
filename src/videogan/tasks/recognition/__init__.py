"""`videogan recognize finetune|probe|sweep`: action recognition from the discriminator (section 3.3,
Figure 4). See docs/recognition.md."""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from ...config import add_config_arguments, config_from_args
from ...data.labelled import is_ucf_root
from ...files import write_atomic
from ...runtime import pick_device
from ...train.checkpoint import save_checkpoint
from .config import PRESETS as RECOGNITION_PRESETS, RecognitionConfig, get_recognition_preset, random_init_model
from .data import LabelledVideos, load_labelled, parse_fraction
from .finetune import finetune, load_discriminator
from .probe import POOLS, run_probe
from .sweep import DEFAULT_FRACTIONS, METHODS, run_sweep


def _config(args) -> RecognitionConfig:
    return config_from_args(args, base=get_recognition_preset(args.preset))


def _write_result(out: Path, result: dict, config: RecognitionConfig) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "result.json"
    write_atomic(path, json.dumps({**result, "config": config.to_dict()}, indent=2))
    return path


def _report(result: dict, path: Path) -> None:
    print(f"{result['method']}: video accuracy {result['video_accuracy']:.4f}, clip accuracy "
          f"{result['clip_accuracy']:.4f} on {result['test_videos']} test videos; wrote {path}")


def run_finetune(args) -> None:
    config = _config(args)
    device = pick_device(config.finetune.device)
    train, test = load_labelled(config.data)
    # --init random takes the preset's architecture; a checkpoint brings its own
    model_cfg = random_init_model(args.preset) if args.init == "random" else None
    model, result = finetune(args.init, train, test, config.finetune, device, model_cfg, args.freeze_features,
                             log=functools.partial(print, flush=True))
    out = Path(args.out)
    save_checkpoint(out / "classifier.pt", {"config": {"model": dataclasses.asdict(model.cfg)},
                                            "classes": list(train.classes), "classifier": model.state_dict(),
                                            "recognition": config.to_dict()})
    _report(result, _write_result(out, result, config))


def run_probe_command(args) -> None:
    config = _config(args)
    device = pick_device(config.finetune.device)
    discriminator, state = load_discriminator(args.init)  # a bad --init fails before any video is read
    train, test = load_labelled(config.data)
    result = run_probe(discriminator, train, test, args.pool, config.finetune.eval_batch, device, config.finetune.seed)
    result["init"] = state["path"]
    _report(result, _write_result(Path(args.out), result, config))


def run_sweep_command(args) -> None:
    config = _config(args)
    fractions = [parse_fraction(f) for f in args.fractions.split(",")]
    methods = tuple(m.strip() for m in args.methods.split(","))
    summary = run_sweep(args.init, config, fractions, list(range(args.seeds)), methods, args.out,
                        pick_device(config.finetune.device), args.pool, log=functools.partial(print, flush=True))
    for method, rows in summary.items():
        if method != "finetune_over_random":
            print(method, ", ".join(f"{k}: {v['video_accuracy_mean']:.3f}±{v['video_accuracy_std']:.3f}"
                                    for k, v in rows.items()))
    print(f"wrote {args.out}/sweep.json, sweep.csv, sweep_summary.csv, figure4b.png, figure4c.png")


def write_split(train: LabelledVideos, test: LabelledVideos, root: str | Path, out: str | Path) -> Path:
    """The split as class-per-folder trees of links, OUT/train and OUT/test (each video under its class and
    its path below `root`), and OUT/split.json; `prepare OUT/train` then makes pretraining data that holds
    no test video."""
    out = Path(out)
    if (out / "split.json").exists():
        raise ValueError(f"{out} already holds a split: choose another --out")
    listing = {}
    for side, videos in (("train", train), ("test", test)):
        rows = []
        for source, label, group in zip(videos.sources, videos.labels, videos.groups or [None] * len(videos)):
            link = out / side / Path(source).relative_to(root)  # class/...: the tree's own layout
            link.parent.mkdir(parents=True, exist_ok=True)
            target = Path(source).resolve()
            link.symlink_to(target, target_is_directory=target.is_dir())
            rows.append({"video": str(target), "class": videos.classes[label], "group": group})
        listing[side] = rows
    path = out / "split.json"
    write_atomic(path, json.dumps(listing, indent=2) + "\n")
    return path


def run_split_command(args) -> None:
    config = _config(args)
    if config.data.data == "synthetic" or is_ucf_root(config.data.data):
        raise ValueError("recognize split writes the split of a class-per-folder tree (--data FOLDER); the "
                         "built-in set's labelled videos are never the GAN's, and UCF-101 has official lists")
    train, test = load_labelled(config.data)
    path = write_split(train, test, config.data.data, args.out)
    groups = "" if train.groups is None else f", {len(set(train.groups))} / {len(set(test.groups))} groups"
    print(f"train {len(train)} videos, test {len(test)} videos{groups}: wrote {Path(args.out) / 'train'}, "
          f"{Path(args.out) / 'test'} and {path}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("recognize", help="action recognition from the discriminator (Figure 4)")
    commands = parser.add_subparsers(dest="recognize_command", required=True, metavar="TASK")

    def task(name, help, func):
        sub = commands.add_parser(name, help=help)
        sub.add_argument("--out", required=True, help="output folder")
        add_config_arguments(sub, RecognitionConfig, RECOGNITION_PRESETS)
        sub.set_defaults(func=func)
        return sub

    finetune_parser = task("finetune", "fine-tune the discriminator with a K-way head", run_finetune)
    finetune_parser.add_argument("--init", required=True, help="GAN checkpoint or run folder, or 'random'")
    finetune_parser.add_argument("--freeze-features", action="store_true", help="train only the new head")
    task("split", "write the train/test split (the same as the other tasks use with these flags) as folders, "
         "to pretrain the GAN on the training side only", run_split_command)
    probe_parser = task("probe", "logistic regression on frozen discriminator features", run_probe_command)
    probe_parser.add_argument("--init", required=True, help="GAN checkpoint or run folder")
    sweep_parser = task("sweep", "fine-tune, random init and probe against labelled fractions", run_sweep_command)
    sweep_parser.add_argument("--init", required=True, help="GAN checkpoint or run folder")
    sweep_parser.add_argument("--fractions", default=",".join(DEFAULT_FRACTIONS), help="labelled fractions")
    sweep_parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (subsets, head init, crops)")
    sweep_parser.add_argument("--methods", default=",".join(METHODS))
    for sub in (probe_parser, sweep_parser):
        sub.add_argument("--pool", choices=POOLS, default="flatten", help="probe features (see docs)")
