"""`videogan baseline train|sample`: the paper's autoencoder + Gaussian mixture baseline (section 3.2)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..models.autoencoder import COVARIANCE_TYPES
from ..models.sampler import load_sampler
from ..runtime import pick_device
from ..tasks.baseline import LOSSES, BaselineConfig, train_baseline
from ..tasks.sample import write_samples
from ..train.run_dir import writing_run
from .config_flags import add_config_arguments
from .runs import resolve_run
from .sample import add_sample_arguments

_BASELINE_FLAGS = {f.name: f for f in dataclasses.fields(BaselineConfig)}


def _baseline_config(args, saved: dict | None) -> BaselineConfig:
    """The saved run's settings (or the defaults) with the flags the user gave applied on top."""
    given = {name: getattr(args, name) for name in _BASELINE_FLAGS if getattr(args, name) is not None}
    return BaselineConfig(**{**(saved or {}), **given})


def _run_train(args) -> int:
    with writing_run(args):
        run_dir, config, state = resolve_run(args)
        bcfg = _baseline_config(args, state.get("baseline") if state else None)
        path = train_baseline(config, bcfg, run_dir, resume=state is not None, progress=not args.no_progress,
                              state=state)
        if path is not None:  # rank 0
            from ..tasks.report import write_report  # matplotlib: only once training has finished

            print(f"checkpoint: {path}\nreport: {write_report(run_dir)}")
    return 0


def _run_sample(args) -> None:
    sampler = load_sampler(args.checkpoint, pick_device(args.device))
    if sampler.prior != "gmm":
        raise ValueError(f"{args.checkpoint}: not a baseline checkpoint (its codes are N(0, I)): use `videogan sample`")
    out = Path(args.out)
    written = write_samples(sampler, out, args.n, args.seed, args.interpolate, args.each, args.fps)
    print(f"wrote {len(written)} files to {out}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("baseline", help="the paper's autoencoder + Gaussian mixture baseline")
    commands = parser.add_subparsers(dest="baseline_command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the autoencoder, then fit the mixture to training codes")
    train.add_argument("--out", help="run folder for a new run (config, logs, samples, checkpoints)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")
    group = train.add_argument_group("baseline config")
    group.add_argument("--loss", choices=LOSSES, default=None, help="reconstruction loss (default l1)")
    group.add_argument("--gmm-components", type=int, default=None, help="mixture components (default 256)")
    group.add_argument("--gmm-covariance", choices=COVARIANCE_TYPES, default=None,
                       help="covariance type of each component (default diag)")
    group.add_argument("--gmm-clips", type=int, default=None,
                       help="training clips encoded for the mixture (default 8192)")
    add_config_arguments(train)
    train.set_defaults(func=_run_train)

    sample = commands.add_parser("sample", help="videos decoded from codes drawn from the mixture")
    add_sample_arguments(sample)
    sample.set_defaults(func=_run_sample)
