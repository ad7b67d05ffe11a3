"""`videogan study make`: the study's site."""
from __future__ import annotations

from ...tasks.study.make import make_study


def run(args) -> None:
    out = make_study(args.sources, args.out, args.videos, args.per_comparison, args.catch, args.frames, args.size,
                     args.seed, args.fps, args.display, args.platform_csv, args.base_url, args.instructions,
                     args.min_response_ms, args.completion_url)
    print(f"wrote the study to {out}: open {out / 'index.html'}, or run `videogan study serve {out}`")


def add_arguments(parser) -> None:
    parser.add_argument("sources", nargs="+", metavar="[NAME=]SOURCE",
                        help="a checkpoint or run folder (GAN or baseline), a folder of video files, or real:DATA "
                             "(real:synthetic[:SEED] for the built-in set, real:PATH for a prepared dataset or "
                             "a folder of videos); comparisons read 'prefer the earlier over the later'")
    parser.add_argument("--out", required=True, help="study folder to write")
    parser.add_argument("--videos", type=int, default=20, help="videos drawn from each source")
    parser.add_argument("--per-comparison", type=int, default=20, help="trials for each pair of sources")
    parser.add_argument("--catch", type=int, default=None,
                        help="catch trials, real vs noise (default: a tenth of the trials, at least 2)")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default: the first model's)")
    parser.add_argument("--size", type=int, default=None, help="real videos' size (default: the first model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the videos and of the pairs")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second the videos play at")
    parser.add_argument("--instructions", metavar="FILE", default=None,
                        help="text shown before the first trial, in place of the default instructions and consent "
                             "(paragraphs split by blank lines; {trials} and {minutes} are filled in, e.g. '132' and "
                             "'9 minutes')")
    parser.add_argument("--min-response-ms", type=float, default=None,
                        help="answers quicker than this are flagged `fast` and left out of the tally "
                             "(default: one play-through of a video, frames / fps)")
    parser.add_argument("--completion-url", default="",
                        help="where the last page sends a participant, e.g. a recruiting platform's completion "
                             "link; {code} and {pid} are filled in")
    parser.add_argument("--display", type=int, default=256, help="pixels each video is shown at (enlarged, sharp)")
    parser.add_argument("--platform-csv", action="store_true",
                        help="also write platform.csv, one row per trial, for a crowd platform's template")
    parser.add_argument("--base-url", default="", help="prefix of the video URLs in platform.csv (where the "
                                                        "study folder is hosted)")
