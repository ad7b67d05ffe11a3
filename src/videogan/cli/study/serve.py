"""`videogan study serve`: serve a study and record its answers."""
from __future__ import annotations

import asyncio

from ...files import hold_folder
from ...tasks.study.serve import StudyServer, check_address, serve_until_stopped


def run(args) -> None:
    check_address(args.host, args.port)
    with hold_folder(args.study, "study folder (its answers.jsonl)"):  # one server appends the answers
        asyncio.run(serve_until_stopped(StudyServer(args.study, args.host, args.port), args.study))


def add_arguments(parser) -> None:
    parser.add_argument("study", help="study folder (from `videogan study make`)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 opens the study to your network: see docs/study.md "
                             "for a reverse proxy with TLS)")
