"""`videogan study serve`: serve a study and record its answers."""
from __future__ import annotations

from pathlib import Path

from ...tasks.study.manifest import ANSWERS
from ...tasks.study.serve import make_server


def run(args) -> None:
    server = make_server(args.study, args.host, args.port)
    host, port = server.server_address[:2]
    book = server.book
    print(f"serving {args.study} at http://{host}:{port}/ ({book.count()} answers so far in "
          f"{Path(args.study) / ANSWERS}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"stopped: {book.count()} answers in {Path(args.study) / ANSWERS}")


def add_arguments(parser) -> None:
    parser.add_argument("study", help="study folder (from `videogan study make`)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 opens the study to your network)")
