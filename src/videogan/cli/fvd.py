"""`videogan fvd A B`: the FVD of two sets of videos, written as JSON with the whole protocol."""
from __future__ import annotations

import json

from ..eval import fvd as fvd_lib
from ..eval.fvd import protocol
from ..eval.i3d import MIN_FRAMES
from ..eval.sources import open_source
from ..eval.weights import load_i3d
from ..files import finite_json, write_result_json
from ..runtime import pick_device


def _run(args) -> None:
    if args.frames < MIN_FRAMES:
        raise ValueError(f"--frames {args.frames}: I3D needs at least {MIN_FRAMES} frames (FVD uses 16)")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size}: give at least 1 video per I3D pass")
    if args.n is not None and args.n < 2:
        raise ValueError(f"--n {args.n}: FVD fits a Gaussian to each set and needs at least 2 videos")
    sources = [open_source(spec, args.frames, args.n, args.seed, args.size) for spec in (args.a, args.b)]
    for spec, source in zip((args.a, args.b), sources):  # before any embedding work
        if len(source) < 2:
            raise ValueError(f"{spec}: holds {len(source)} video; FVD fits a Gaussian to each set and needs "
                             "at least 2")
    device = pick_device(args.device)
    model = load_i3d(device, args.cache_dir)
    with fvd_lib.Progress(sum(len(source) for source in sources)) as progress:
        embeddings = [fvd_lib.embed_videos(source, model, args.frames, args.batch_size, progress.stage(name))
                      for name, source in zip("AB", sources)]
    result = {"metric": "fvd", "fvd": fvd_lib.frechet_distance(*embeddings),
              "a": sources[0].describe(), "b": sources[1].describe(), **protocol(args.frames, args.seed, device)}
    print(write_result_json(args.out, result) if args.out else json.dumps(finite_json(result), indent=2) + "\n",
          end="")


def register(subparsers) -> None:
    parser = subparsers.add_parser("fvd", help="Fréchet Video Distance between two sets of videos")
    for name in ("a", "b"):
        parser.add_argument(name, metavar=name.upper(),
                            help="folder of video files, or a dataset: synthetic, synthetic:SEED, a prepared path")
    parser.add_argument("--n", type=int, default=None,
                        help="videos per set (default: all files of a folder; required for a dataset)")
    parser.add_argument("--frames", type=int, default=fvd_lib.FRAMES, help="first frames of each video (>= 9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset drawn when --n is below the total")
    parser.add_argument("--size", type=int, default=64, help="frame size a dataset renders at before the resize")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"videos per I3D pass (default: {fvd_lib.CPU_BATCH_SIZE} on the CPU, "
                             f"{fvd_lib.BATCH_SIZE} on a GPU)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--cache-dir", default=None, help="weights folder (default: $VIDEOGAN_CACHE or ~/.cache/videogan)")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    parser.set_defaults(func=_run, out_is_file=True)
