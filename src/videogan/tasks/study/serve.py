"""`videogan study serve`: the study's pages, and every answer appended to answers.jsonl as it arrives.

Each answer is written, flushed and fsynced before the page hears back, so killing the server loses no
answer it acknowledged; a page that heard nothing keeps the answer and sends it again. The server also
tells a returning participant which trials they already answered (a participant can leave and come back,
even in another browser with the same ?pid=).
"""
from __future__ import annotations

import json
import os
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .answers import check_answer, read_answers, user_agent_hash
from .manifest import Study, load_study

MAX_BODY = 16_384


class AnswerBook:
    """answers.jsonl, appended under a lock, and who answered what (to drop resent answers)."""

    def __init__(self, study: Study):
        self.study, self.path, self.lock = study, study.answers_path, threading.Lock()
        self.answered: dict[str, set[str]] = {}
        if self.path.exists():
            log = read_answers(study, [self.path])
            for problem in log.problems:
                print(f"warning: {problem}", file=sys.stderr)
            for answer in log.answers:
                self.answered.setdefault(answer["participant"], set()).add(answer["trial"])
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as f:
                # a torn last line (killed mid-write) stays as it is, on its own line, for `tally` to report
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def add(self, answer: dict) -> bool:
        """Append the checked answer; False when this participant already answered this trial."""
        with self.lock:
            trials = self.answered.setdefault(answer["participant"], set())
            if answer["trial"] in trials:
                return False
            with open(self.path, "a") as f:
                f.write(json.dumps(answer) + "\n")
                f.flush()
                os.fsync(f.fileno())
            trials.add(answer["trial"])
            return True

    def count(self) -> int:
        return sum(len(t) for t in self.answered.values())


class StudyHandler(SimpleHTTPRequestHandler):
    book: AnswerBook

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/api/answers":
            participant = parse_qs(url.query).get("participant", [""])[0]
            return self._json(HTTPStatus.OK, {"trials": sorted(self.book.answered.get(participant, ()))})
        # participants' answers are not public, and study.json would tell which video is which source
        if Path(url.path).name.startswith(("answers", "tally", "study.json", "platform", ".")):
            return self.send_error(HTTPStatus.NOT_FOUND)
        return super().do_GET()

    def do_POST(self):
        if urlsplit(self.path).path != "/api/answer":
            return self.send_error(HTTPStatus.NOT_FOUND)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "an answer is a JSON object of at most 16 KB"})
        try:
            payload = json.loads(self.rfile.read(length))
            payload = {**payload, "ua_hash": user_agent_hash(self.headers.get("User-Agent", "")), "received": None}
            answer = check_answer(self.book.study, payload)
        except (json.JSONDecodeError, TypeError, ValueError) as err:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        recorded = self.book.add(answer)
        self._json(HTTPStatus.OK, {"status": "recorded" if recorded else "duplicate"})

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")  # a study made again in the same folder is seen at once
        super().end_headers()

    def log_message(self, format, *args):
        if self.command == "POST" or not str(args[1] if len(args) > 1 else "").startswith(("2", "3")):
            super().log_message(format, *args)


def make_server(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    study = load_study(study_dir)
    book = AnswerBook(study)
    handler = type("BoundStudyHandler", (StudyHandler,), {"book": book})
    server = ThreadingHTTPServer((host, port), partial(handler, directory=str(study.folder)))
    server.book = book
    return server
