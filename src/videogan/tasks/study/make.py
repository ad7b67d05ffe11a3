"""`videogan study make`: a self-contained static site for the two-alternative forced-choice study of
section 3.2 (Table 1): "Which video is more realistic?".

Every pair of sources gets the same number of trials, each with different videos; catch trials put a
real video against per-pixel noise (the check on participants). Which side shows which source, and the
order of the trials, are drawn per participant by the page itself.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ... import __version__
from ...checkpoint import config_of, load_checkpoint
from ...data.video_io import to_uint8, write_video
from ...eval.sources import VIDEO_SUFFIXES, VideoFolder, open_source
from ...files import read_text_lines, write_atomic
from ...models.sampler import load_sampler
from .manifest import CATCH_SOURCE, PAGE_DATA, SITE_FILES, Trial, clip_ms, study_dict

QUESTION = "Which video is more realistic?"
MAX_INSTRUCTIONS = 20_000  # characters: a page of text, not a file given by mistake
# shown before the first trial; {trials} and {minutes} are filled in (also in a --instructions file)
INSTRUCTIONS = """In each of the {trials} comparisons you see two short videos side by side. Both play through \
once before you can answer; then they loop.

Choose the video that looks more realistic: the one more likely to be a real recording. Judge how the scene \
looks and how it moves. The videos are small on purpose, so do not judge their sharpness. If you cannot \
tell, go with your first impression.

The study takes about {minutes}. You can stop at any time by closing the page.

Consent: taking part is voluntary. We record your choices, how long each took and an anonymous hash of your \
browser's name, and nothing else about you. The answers are used for research on video generation. By \
pressing "I agree, start" you agree to this."""


@dataclass(frozen=True)
class Source:
    name: str  # shown in tallies; also the folder of its videos
    spec: str  # as given: a checkpoint or run folder, a folder of videos, or real:DATA
    kind: str  # model, folder or real


def parse_source(text: str) -> Source:
    """`[NAME=]SPEC`: SPEC is a checkpoint file or run folder, a folder of video files, or `real:DATA` (the
    real data: `real:synthetic[:SEED]` for the built-in set, or `real:PATH` for a prepared dataset or a
    folder of videos). NAME defaults to `real` or the folder's name."""
    name, sep, spec = text.partition("=")
    if not sep or ":" in name or "/" in name:
        name, spec = "", text
    if spec.startswith("real:"):
        kind, default = "real", "real"
    else:
        path = Path(spec)
        if path.is_file() or (path / "checkpoints").is_dir():
            kind = "model"
        elif path.is_dir() and any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.iterdir()):
            kind = "folder"
        else:
            raise FileNotFoundError(f"{spec}: not a checkpoint, a run folder, a folder of video files, or real:DATA")
        if path.is_file():
            default = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
        else:
            default = path.resolve().name
    name = name or default
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"source name {name!r}: use letters, digits, '.', '_' and '-' (give NAME=SPEC)")
    return Source(name, spec, kind)


def _model_shape(sources: list[Source]) -> tuple[int, int] | None:
    """(frames, size) of the first model source: real videos are drawn to match it."""
    for source in sources:
        if source.kind == "model":
            model = config_of(load_checkpoint(source.spec)).model
            return model.frames, model.size
    return None


def draw_videos(source: Source, n: int, frames: int, size: int, seed: int) -> np.ndarray:
    """n videos of a source: n t h w 3 uint8."""
    if source.kind == "model":
        sampler = load_sampler(source.spec, "cpu")
        return to_uint8(sampler.sample(n, torch.Generator().manual_seed(seed))["video"])
    videos = (VideoFolder(source.spec, frames, n, seed) if source.kind == "folder"
              else open_source(source.spec[len("real:"):], frames, n, seed, size))
    return np.stack(list(videos))


def noise_videos(n: int, frames: int, size: int, seed: int) -> np.ndarray:
    """Catch trials' broken videos: independent uniform noise per pixel and frame, n t h w 3 uint8."""
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)


def video_addresses(names: list[str], key: bytes):
    """Each video's address under the site, from its source and number: a keyed hash (the key lives only
    while the study is made), so that neither an address nor a folder tells two videos' sources apart."""
    def address(source: str, index: int) -> str:
        return "videos/" + hmac.new(key, f"{source}\0{index}".encode(), hashlib.sha256).hexdigest()[:20]
    return address


def draw_trials(names: list[str], per_comparison: int, catch: int, real: str | None,
                videos: int, seed: int, address) -> tuple[list[tuple[str, str]], list[Trial]]:
    """Every pair of sources (in the given order: "prefer the earlier over the later", as Table 1) gets
    `per_comparison` trials; each source's videos are used in turn so a comparison shows different ones.
    Trial ids are given in a shuffled order, so neither an id nor its place tells a catch trial."""
    rng = np.random.default_rng(seed)
    comparisons = list(itertools.combinations(names, 2))
    order = {name: itertools.cycle(rng.permutation(videos).tolist()) for name in [*names, CATCH_SOURCE]}
    pairs = [pair for pair in comparisons for _ in range(per_comparison)] + [(real, CATCH_SOURCE)] * catch
    trials = [Trial("", a, b, address(a, next(order[a])), address(b, next(order[b])), catch=b == CATCH_SOURCE)
              for a, b in pairs]
    ids = rng.permutation(len(trials))
    return comparisons, [dataclasses.replace(t, id=f"t{i:04d}") for t, i in zip(trials, ids)]


def page_data(study: dict, instructions: str, completion_url: str) -> dict:
    """What the page needs: the trials' videos, not their sources (the site is what participants see)."""
    settings = study["settings"]
    clip = clip_ms(settings["frames"], settings["fps"])
    minutes = max(1, round(len(study["trials"]) * (clip + 3000) / 60_000))  # a play-through and a choice each
    text = instructions.replace("{trials}", str(len(study["trials"])))
    text = text.replace("{minutes}", f"{minutes} minute{'s' if minutes > 1 else ''}")
    return {"id": study["id"], "question": study["question"],
            "settings": {"display_px": settings["display_px"], "clip_ms": clip},
            "instructions": [p.strip() for p in text.split("\n\n") if p.strip()], "completion_url": completion_url,
            "trials": [{"id": t["id"], "a_video": t["a_video"], "b_video": t["b_video"]} for t in study["trials"]]}


def read_instructions(path: str | Path | None) -> str:
    """The text of --instructions FILE (paragraphs split by blank lines), or the default."""
    if path is None:
        return INSTRUCTIONS
    text = "\n".join(read_text_lines(path, "--instructions file"))
    if not text.strip() or len(text) > MAX_INSTRUCTIONS:
        raise ValueError(f"--instructions {path}: {len(text)} characters; give 1 to {MAX_INSTRUCTIONS} of text")
    return text


def check_completion_url(url: str) -> str:
    """Where the page sends a participant who finished: a web address ({code} and {pid} are filled in)."""
    if url and not re.fullmatch(r"https?://[^\s\"'<>]+", url):
        raise ValueError(f"--completion-url {url!r}: give an http:// or https:// address without spaces or quotes")
    return url


def _write_clips(out: Path, addresses: list[str], videos: np.ndarray, fps: float) -> None:
    """n t h w 3 videos as MP4 and GIF, enlarged by whole pixels to about 128 px (H.264 stores colour at
    half resolution: a 16 px video would be smeared); the page scales them the rest of the way."""
    scale = max(1, 128 // min(videos.shape[2:4]))
    for address, video in zip(addresses, videos):
        for ext in ("mp4", "gif"):
            write_video(out / f"{address}.{ext}", video, fps=fps, scale=scale)


def platform_csv(trials: list[Trial], base_url: str, seed: int) -> str:
    """One row per trial for a crowd platform's template: the sides are drawn here (seeded), since a
    platform shows every worker the same row."""
    rng = np.random.default_rng(seed + 1)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["trial", "left_source", "right_source", "left_mp4", "right_mp4", "left_gif", "right_gif", "catch"])
    for trial in trials:
        sides = [(trial.a, trial.a_video), (trial.b, trial.b_video)]
        if rng.random() < 0.5:
            sides.reverse()
        (left, left_video), (right, right_video) = sides
        writer.writerow([trial.id, left, right, f"{base_url}{left_video}.mp4", f"{base_url}{right_video}.mp4",
                         f"{base_url}{left_video}.gif", f"{base_url}{right_video}.gif", int(trial.catch)])
    return text.getvalue()


def make_study(specs: list[str], out: str | Path, videos: int = 20, per_comparison: int = 20, catch: int | None = None,
               frames: int | None = None, size: int | None = None, seed: int = 0, fps: float = 8.0,
               display: int = 256, platform: bool = False, base_url: str = "", instructions: str | None = None,
               min_response_ms: float | None = None, completion_url: str = "") -> Path:
    out = Path(out)
    if min(videos, per_comparison, display) < 1 or (catch or 0) < 0:
        raise ValueError("--videos, --per-comparison and --display must be positive, --catch 0 or more")
    for flag, value in (("--frames", frames), ("--size", size)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} {value}: give 1 or more (or leave it out for the first model's)")
    if not 0 < fps <= 240:  # also refuses NaN
        raise ValueError(f"--fps {fps}: give a frame rate above 0 and at most 240")
    if min_response_ms is not None and not 0 <= min_response_ms <= 600_000:
        raise ValueError(f"--min-response-ms {min_response_ms}: give 0 to 600000 milliseconds")
    text, completion_url = read_instructions(instructions), check_completion_url(completion_url)
    sources = [parse_source(s) for s in specs]
    names = [s.name for s in sources]
    if len(sources) < 2:
        raise ValueError("a study compares at least two sources")
    if len(set(names)) < len(names):
        raise ValueError(f"two sources share a name ({', '.join(names)}): name them with NAME=SPEC")
    if (out / "study.json").exists() and (out / "answers.jsonl").exists():
        raise ValueError(f"{out} already holds a study with answers: choose another --out")
    shape = _model_shape(sources)
    frames, size = frames or (shape or (16, 32))[0], size or (shape or (16, 32))[1]
    real = next((s.name for s in sources if s.kind == "real"), None)
    if catch is None:  # a tenth of the trials, at least 2
        catch = max(2, round(0.1 * per_comparison * len(names) * (len(names) - 1) / 2)) if real else 0
    if catch and real is None:
        raise ValueError("catch trials show a real video against noise: add a real source (e.g. real:synthetic) "
                         "or give --catch 0")
    out.mkdir(parents=True, exist_ok=True)
    described, address = [], video_addresses(names, secrets.token_bytes(16))
    for i, source in enumerate(sources):
        clips = draw_videos(source, videos, frames, size, seed + i)
        if len(clips) < videos:
            raise ValueError(f"{source.spec}: has {len(clips)} videos, the study needs --videos {videos}")
        _write_clips(out, [address(source.name, i) for i in range(videos)], clips, fps)
        described.append({"name": source.name, "spec": source.spec, "kind": source.kind, "videos": videos})
    if catch:
        _write_clips(out, [address(CATCH_SOURCE, i) for i in range(videos)], noise_videos(videos, frames, size, seed),
                     fps)
    comparisons, trials = draw_trials(names, per_comparison, catch, real, videos, seed, address)
    settings = {"videos": videos, "per_comparison": per_comparison, "catch": catch, "frames": frames, "size": size,
                "seed": seed, "fps": fps, "display_px": display,
                "min_response_ms": clip_ms(frames, fps) if min_response_ms is None else min_response_ms,
                "videogan": __version__}
    study = study_dict(secrets.token_hex(6), described, comparisons, trials, QUESTION, settings)
    site = resources.files("videogan.tasks.study") / "site"
    for name in SITE_FILES:
        with resources.as_file(site / name) as path:
            shutil.copyfile(path, out / name)
    # a script, not a fetched JSON: browsers refuse fetch() on file:// pages, and the site must work offline
    write_atomic(out / PAGE_DATA, f"window.STUDY = {json.dumps(page_data(study, text, completion_url))};\n")
    write_atomic(out / "study.json", json.dumps(study, indent=1) + "\n")
    if platform:
        write_atomic(out / "platform.csv", platform_csv(trials, base_url, seed))
    return out
