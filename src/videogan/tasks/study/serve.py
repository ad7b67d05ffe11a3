"""`videogan study serve`: the study's pages, and every answer appended to answers.jsonl as it arrives.

A participant may fetch only what the page needs: an allowlist of the page's files and the trials'
videos, matched against the request's path as sent. study.json (which video is which source), the
answers, the tally and anything else in the folder are not there, whatever the spelling of the request.

A participant id gets a token when the page starts (POST api/session), and an answer counts only with
its participant's token: nobody can answer in another participant's name. Each answer is written,
flushed and fsynced before the page hears back, so killing the server loses no answer it acknowledged;
a page that heard nothing keeps the answer and sends it again.

aiohttp serves it: asyncio (hundreds of simultaneous participants without a thread each), limits on
the body, the headers and idle or slow connections, and no second server program to run.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import posixpath
import secrets
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .answers import MAX_RECORD, check_answer, check_participant, parse_record, read_answers, user_agent_hash
from .manifest import ANSWERS, PAGE_DATA, SITE_FILES, Study, load_study

SESSIONS = "sessions.jsonl"  # study, participant and a hash of their token per line (tokens survive a restart)
# every response: no guessing of content types, no referrer to other sites, nothing from elsewhere
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                           "base-uri 'none'; form-action 'none'"}


class _QuietBadRequests(logging.Filter):
    """A malformed request is the client's mistake, answered with a 400: no traceback in the server's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], HttpProcessingError))


LOG = logging.getLogger("videogan.study.serve")
LOG.addFilter(_QuietBadRequests())


@dataclass(frozen=True)
class Limits:
    body_bytes: int = MAX_RECORD
    header_bytes: int = 8190  # a request line or one header field
    headers: int = 64  # a browser sends about 15
    idle_s: float = 15.0  # a connection without a complete request is closed (slow or silent clients)
    body_s: float = 10.0  # to send an answer's body, once its headers arrived
    linger_s: float = 2.0  # to read the unread rest of a refused request's body before closing
    participants: int = 100_000  # sessions.jsonl stays small whoever asks
    backlog: int = 1024  # connections waiting to be accepted: a burst of participants is not reset


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AnswerBook:
    """answers.jsonl and sessions.jsonl, appended under a lock; who answered what (to drop resent
    answers) and each participant's token."""

    def __init__(self, study: Study):
        self.study, self.path, self.lock = study, study.answers_path, threading.Lock()
        self.sessions_path = study.folder / SESSIONS
        self.answered: dict[str, set[str]] = {}
        self.tokens: dict[str, str] = {}  # participant: sha256 of their token
        if self.path.exists():
            log = read_answers(study, [self.path])
            for problem in log.problems:
                print(f"warning: {problem}", file=sys.stderr)
            for answer in log.answers:
                self.answered.setdefault(answer["participant"], set()).add(answer["trial"])
        if self.sessions_path.exists():
            self._read_sessions()
        for path in (self.path, self.sessions_path):
            _end_torn_line(path)

    def _read_sessions(self) -> None:
        for number, line in enumerate(self.sessions_path.read_bytes().split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                record = parse_record(line)
                if record.get("study") != self.study.id:  # a session of a study made earlier in this folder
                    continue
                participant, token_hash = check_participant(record.get("participant")), record.get("token_sha256")
                if not isinstance(token_hash, str) or len(token_hash) != 64:
                    raise ValueError("token_sha256 must be 64 hex digits")
            except ValueError as err:
                print(f"warning: {self.sessions_path}:{number}: {err}, left out", file=sys.stderr)
                continue
            self.tokens.setdefault(participant, token_hash)

    def start(self, participant: str, token: str | None, limit: int) -> tuple[str, list[str]]:
        """The participant's token (a new one for a new participant, the one given back for a known one)
        and the trials they answered. PermissionError when the id is taken and no (or another) token
        comes with it."""
        with self.lock:
            if participant in self.tokens:
                if not self.holds(participant, token):
                    raise PermissionError(f"participant {participant!r} already started in another browser: "
                                          "continue there, or open the study with the link that browser shows")
            elif len(self.tokens) >= limit:
                raise OverflowError("the study has as many participants as it takes")
            else:
                token = secrets.token_urlsafe(18)
                _append(self.sessions_path, {"study": self.study.id, "participant": participant,
                                             "token_sha256": _token_hash(token)})
                self.tokens[participant] = _token_hash(token)
            return token, sorted(self.answered.get(participant, ()))

    def holds(self, participant, token) -> bool:
        known = self.tokens.get(participant) if isinstance(participant, str) else None
        return known is not None and isinstance(token, str) and hmac.compare_digest(known, _token_hash(token))

    def add(self, answer: dict) -> bool:
        """Append the checked answer; False when this participant already answered this trial."""
        with self.lock:
            trials = self.answered.setdefault(answer["participant"], set())
            if answer["trial"] in trials:
                return False
            _append(self.path, answer)
            trials.add(answer["trial"])
            return True

    def count(self) -> int:
        return sum(len(t) for t in self.answered.values())


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _end_torn_line(path: Path) -> None:
    """A torn last line (killed mid-write) stays as it is, on its own line, for `tally` to report."""
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def allowlist(study: Study) -> dict[str, Path]:
    """URL path: file, for everything a participant's page fetches, and nothing else."""
    videos = {f"{video}.{ext}" for trial in study.trials.values() for video in (trial.a_video, trial.b_video)
              for ext in ("mp4", "gif")}
    allowed = {f"/{name}": study.folder / name for name in [*SITE_FILES, PAGE_DATA, *sorted(videos)]}
    allowed["/"] = study.folder / "index.html"
    return allowed


def _error(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status, headers={"Cache-Control": "no-store"})
    if status in (408, 413):  # the rest of the body is not waited for: the connection closes
        response.force_close()
    return response


class StudyApp:
    def __init__(self, study: Study, limits: Limits):
        self.study, self.limits, self.book = study, limits, AnswerBook(study)
        self.folder, self.allowed = study.folder.resolve(), allowlist(study)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.body_bytes)
        app.router.add_route("*", "/{path:.*}", self.dispatch)
        app.on_response_prepare.append(self._headers)
        return app

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SAFE_HEADERS)
        response.headers["Server"] = "videogan"  # not the server's versions

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path.partition("?")[0]
        if raw in ("/api/session", "/api/answer"):
            if request.method != "POST":
                return _error(405, "POST only")
            return await (self.session(request) if raw == "/api/session" else self.answer(request))
        # The decoded, normalised path must be allowed, and the request must have spelled it plainly: a
        # percent-encoded or dotted spelling is refused even where it decodes to an allowed file.
        decoded = posixpath.normpath(unquote(raw))
        if decoded not in self.allowed or raw != decoded:
            return _error(404, "not found")
        if request.method not in ("GET", "HEAD"):
            return _error(405, "GET only")
        path = self.allowed[raw]
        if not path.is_file() or not path.resolve().is_relative_to(self.folder):  # e.g. a symlink out
            return _error(404, "not found")
        # no-cache: a study made again in the same folder is seen at once
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def _record(self, request: web.Request) -> dict:
        """The request's body as a JSON object, else Refused (400, 408, 413, 415)."""
        if request.content_type != "application/json":  # a form or text/plain post from another site's page
            raise Refused(415, "send a JSON object as application/json")
        try:
            async with asyncio.timeout(self.limits.body_s):
                raw = await request.read()
        except TimeoutError:
            raise Refused(408, "the body took too long to arrive") from None
        except ConnectionError:
            raise Refused(400, "the connection was lost") from None
        except web.HTTPRequestEntityTooLarge:
            raise Refused(413, f"an answer is a JSON object of at most {self.limits.body_bytes} bytes") from None
        try:
            return parse_record(raw)
        except ValueError as err:
            raise Refused(400, str(err)) from None

    async def session(self, request: web.Request) -> web.Response:
        """{participant, token?} -> {participant, token, trials they answered}."""
        try:
            record = await self._record(request)
            participant = check_participant(record.get("participant"))
            token, trials = await asyncio.to_thread(self.book.start, participant, record.get("token"),
                                                    self.limits.participants)
        except Refused as err:
            return _error(err.status, err.message)
        except ValueError as err:
            return _error(400, str(err))
        except PermissionError as err:
            return _error(403, str(err))
        except OverflowError as err:
            return _error(503, str(err))
        return web.json_response({"participant": participant, "token": token, "trials": trials},
                                 headers={"Cache-Control": "no-store"})

    async def answer(self, request: web.Request) -> web.Response:
        try:
            record = await self._record(request)
            if not self.book.holds(record.get("participant"), record.get("token")):
                return _error(403, "no session for this participant and token: reload the study page")
            record = {**record, "ua_hash": user_agent_hash(request.headers.get("User-Agent", "")), "received": ""}
            answer = check_answer(self.study, record)
        except Refused as err:
            return _error(err.status, err.message)
        except ValueError as err:
            return _error(400, str(err))
        recorded = await asyncio.to_thread(self.book.add, answer)
        return web.json_response({"status": "recorded" if recorded else "duplicate"},
                                 headers={"Cache-Control": "no-store"})


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class StudyServer:
    """The study served on host:port until `stop`; port 0 takes a free one (see `port` once started)."""

    def __init__(self, study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits()):
        self.app = StudyApp(load_study(study_dir), limits)
        self.host, self.port, self.limits = host, port, limits
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        limits = self.limits
        self.runner = web.AppRunner(self.app.application(), access_log=None, logger=LOG, keepalive_timeout=limits.idle_s,
                                    max_line_size=limits.header_bytes, max_field_size=limits.header_bytes,
                                    max_headers=limits.headers, lingering_time=limits.linger_s, auto_decompress=False, shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, backlog=limits.backlog)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def check_address(host: str, port: int) -> None:
    """A port that can exist; a note when the address is reachable from other machines."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port}: a port is a number from 0 to 65535")
    if any(char.isspace() or not char.isprintable() for char in host):  # no host name has them; nor may a line
        raise ValueError(f"--host {host!r}: a host name or address has no spaces or control characters")
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        print(f"warning: --host {host}: the study is reachable from the network, over plain HTTP; for an "
              "online study put it behind a reverse proxy with TLS (docs/study.md)", file=sys.stderr)


async def serve_until_stopped(server: StudyServer, folder: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    book = server.app.book
    print(f"serving {folder} at http://{server.host}:{server.port}/ ({book.count()} answers so far in "
          f"{Path(folder) / ANSWERS}); Ctrl-C stops", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print(f"stopped: {book.count()} answers in {Path(folder) / ANSWERS}", flush=True)

