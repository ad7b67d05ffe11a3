"""`videogan report RUN`: one static page per run, RUN/report.html."""
from __future__ import annotations

from ..tasks.report import write_report


def run(args) -> None:
    print(f"wrote {write_report(args.run, not args.no_streams)}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="a static HTML page of a run: curves, samples, streams, config")
    parser.add_argument("run", help="run folder")
    parser.add_argument("--no-streams", action="store_true",
                        help="do not draw the final streams from the latest checkpoint")
    parser.set_defaults(func=run)
