"""`videogan weights i3d`: download and convert pretrained weights."""
from __future__ import annotations

from ..eval.weights import converted_path, fetch_i3d
from ..files import check_writable


def _run(args) -> None:
    check_writable(converted_path(args.cache_dir).parent, what="--cache-dir")
    fetch_i3d(args.cache_dir)


def register(subparsers) -> None:
    parser = subparsers.add_parser("weights", help="download and convert pretrained weights (I3D for FVD)")
    parser.add_argument("name", choices=["i3d"], help="which weights: i3d (Kinetics-400, for FVD)")
    parser.add_argument("--cache-dir", default=None,
                        help="folder of downloaded weights (default: $VIDEOGAN_CACHE or ~/.cache/videogan)")
    parser.set_defaults(func=_run)
