"""`videogan train`: train the video GAN, then write the run's report.html."""
from __future__ import annotations

from ..train.gan import train
from ..train.run_dir import writing_run
from .config_flags import add_config_arguments
from .runs import resolve_run


def run(args) -> int:
    with writing_run(args):
        run_dir, config, state = resolve_run(args)
        last = train(config, run_dir, resume=state is not None, progress=not args.no_progress, state=state)
        if last is not None:  # rank 0
            from ..tasks.report import write_report  # matplotlib: only once training has finished

            print(f"report: {write_report(run_dir)}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the video GAN (default data: the built-in dataset)")
    parser.add_argument("--out", help="run folder for a new run (config, logs, samples, checkpoints)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)
