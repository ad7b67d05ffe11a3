"""`videogan evaluate CHECKPOINT`: FVD and the diagnostics of a generator against real videos."""
from __future__ import annotations

from pathlib import Path

from ..checkpoint import load_checkpoint
from ..eval.evaluate import DEFAULT_N, evaluate_repeated
from ..eval.fvd import BATCH_SIZE, CPU_BATCH_SIZE, FRAMES
from ..eval.metrics import METRICS
from ..eval.results import metric_numbers
from ..files import check_not_an_input, check_writable, write_result_json
from ..train.tensorboard import TensorBoardLog, tensorboard_available
from . import one_line
from .sample import RAW_HELP


def send_to_tensorboard(out: Path, result: dict) -> None:
    """A result written into the run folder it evaluates (beside its checkpoints/, where the report reads
    it) goes to RUN/tb too, as eval/KEY at its iteration: FVD beside the training curves."""
    checkpoint = Path(result["checkpoint"]).resolve()
    run_dir = Path(out).resolve().parent
    in_its_run = checkpoint.parent.name == "checkpoints" and checkpoint.parent.parent == run_dir
    if not in_its_run or type(result.get("iteration")) is not int or not tensorboard_available():
        return
    numbers = {key: value for key, value in metric_numbers(result)[0].items() if value is not None}
    log = TensorBoardLog(run_dir)
    log.scalars(result["iteration"], numbers, group="eval")
    log.close()


def _spread(result: dict, key: str, digits: int) -> str:
    sd = result.get(f"{key}_sd")
    return f"{result[key]:.{digits}f}" + (f" +- {sd:.{digits}f}" if sd is not None else "")


def _run(args) -> None:
    metrics = tuple(args.metrics.split(",")) if args.metrics else None
    state = load_checkpoint(args.checkpoint)  # the one a run folder resolves to, and the default output's name
    out = Path(args.out) if args.out else Path(state["path"]).parent.parent / f"eval-{state['iteration']}.json"
    check_writable(out, is_file=True)
    check_not_an_input(out, inputs=[state["path"]])
    result = evaluate_repeated(state["path"], args.repeats, args.seed, data=args.data, n=args.n, metrics=metrics,
                               frames=args.frames, device=args.device, batch_size=args.batch_size,
                               weights_dir=args.cache_dir, use_cache=not args.no_cache, raw=args.raw,
                               floor_data=args.floor_data)
    print(write_result_json(out, result), end="")
    send_to_tensorboard(out, result)
    if result.get("fvd") is not None and result.get("fvd_real_floor") is not None:
        print(f"FVD {_spread(result, 'fvd', 1)}; real vs real at the same n, frames and size: "
              f"{_spread(result, 'fvd_real_floor', 1)}" + (f"; FVD / floor {_spread(result, 'fvd_over_floor', 2)} "
                                                           f"over seeds {result['seeds']}" if "seeds" in result else ""))
    if result.get("class_shares"):  # class names are folder names: one printable line whatever they hold
        print(one_line("classes, share of the generated / of the real videos: " + ", ".join(
            f"{name} {shares['generated']:.0%} / {shares['real']:.0%}" for name, shares in result["class_shares"].items())))
    print(f"wrote {out}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="FVD and diagnostics of a generator against real videos")
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("--data", default=None,
                        help="real videos: a folder of video files, synthetic[:SEED][,max_objects=N][,object_scale=S] "
                             "(the built-in dataset), or a prepared dataset (default: the run's data; for the "
                             "built-in dataset, held-out videos with the run's options)")
    parser.add_argument("--floor-data", default=None,
                        help="the real-vs-real floor's second set (default: other videos of --data): e.g. real "
                             "clips of other people or scenes than --data")
    parser.add_argument("--n", type=int, default=None,
                        help=f"videos per set (default: {DEFAULT_N}, the paper-style protocol, or all the real data "
                             "holds if fewer)")
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames FVD looks at (the first ones, >= 9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated codes and of the real subset")
    parser.add_argument("--repeats", type=int, default=1,
                        help="evaluate at seeds --seed .. --seed + REPEATS - 1 and write their mean and standard "
                             "deviation (and each seed's result): how far one draw can be trusted")
    parser.add_argument("--metrics", default=None, help=f"comma-separated subset of {','.join(METRICS)}")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"videos per I3D pass (default: {CPU_BATCH_SIZE} on the CPU, {BATCH_SIZE} on a GPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default=None, help="weights and cached statistics (default: ~/.cache/videogan)")
    parser.add_argument("--no-cache", action="store_true", help="recompute the real set's FVD statistics")
    parser.add_argument("--out", default=None, help="result JSON (default: RUN_DIR/eval-ITERATION.json)")
    parser.add_argument("--raw", action="store_true", help=RAW_HELP)
    parser.set_defaults(func=_run, out_is_file=True)
