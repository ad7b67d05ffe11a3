"""`videogan recognize finetune|split|probe|sweep`: action recognition from the discriminator (section 3.3,
Figure 4). See docs/recognition.md."""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from ..checkpoint import save_checkpoint
from ..data.labelled import is_ucf_root
from ..files import write_atomic
from ..runtime import pick_device
from ..tasks.recognition import write_split
from ..tasks.recognition.config import (PRESETS as RECOGNITION_PRESETS, RecognitionConfig, get_recognition_preset,
                                        random_init_model)
from ..tasks.recognition.data import load_labelled, parse_fraction
from ..tasks.recognition.finetune import finetune, load_discriminator
from ..tasks.recognition.probe import POOLS, run_probe
from ..tasks.recognition.sweep import DEFAULT_FRACTIONS, METHODS, run_sweep
from .config_flags import add_config_arguments, config_from_args


def _config(args) -> RecognitionConfig:
    return config_from_args(args, base=get_recognition_preset(args.preset))


def _write_result(out: Path, result: dict, config: RecognitionConfig) -> Path:
    return write_atomic(out / "result.json", json.dumps({**result, "config": config.to_dict()}, indent=2))


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
