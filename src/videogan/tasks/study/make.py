"""`videogan study make`: a self-contained static site for the two-alternative forced-choice study of
section 3.2 (Table 1): "Which video is more realistic?".

Every pair of sources gets the same number of trials, each with different videos; catch trials put a
real video against per-pixel noise (the check on participants). Which side shows which source, and the
order of the trials, are drawn per participant by the page itself.
"""
from __future__ import annotations

import csv
import dataclasses
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
from ...data.video_io import to_uint8, write_video
from ...eval.sources import VIDEO_SUFFIXES, VideoFolder, open_source
from ...files import write_atomic
from ...train.checkpoint import config_of, load_checkpoint
from ..sample import load_sampler
from .manifest import CATCH_SOURCE, Trial, study_dict

QUESTION = "Which video is more realistic?"
SITE_FILES = ("index.html", "study.js", "study.css")


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


def video_folders(names: list[str]) -> dict[str, str]:
    """Each source's folder under the site, named so that a video's address does not say its source."""
    return {name: f"videos/v{i}" for i, name in enumerate([*names, CATCH_SOURCE])}


def draw_trials(names: list[str], per_comparison: int, catch: int, real: str | None,
                videos: int, seed: int) -> tuple[list[tuple[str, str]], list[Trial]]:
    """Every pair of sources (in the given order: "prefer the earlier over the later", as Table 1) gets
    `per_comparison` trials; each source's videos are used in turn so a comparison shows different ones.
    Trial ids are given in a shuffled order, so neither an id nor its place tells a catch trial."""
    rng = np.random.default_rng(seed)
    folders = video_folders(names)
    comparisons = list(itertools.combinations(names, 2))
    order = {name: itertools.cycle(rng.permutation(videos).tolist()) for name in folders}
    pairs = [pair for pair in comparisons for _ in range(per_comparison)] + [(real, CATCH_SOURCE)] * catch
    trials = [Trial("", a, b, f"{folders[a]}/{next(order[a]):03d}", f"{folders[b]}/{next(order[b]):03d}",
                    catch=b == CATCH_SOURCE) for a, b in pairs]
    ids = rng.permutation(len(trials))
    return comparisons, [dataclasses.replace(t, id=f"t{i:04d}") for t, i in zip(trials, ids)]


def page_data(study: dict) -> dict:
    """What the page needs: the trials' videos, not their sources (the site is what participants see)."""
    return {"id": study["id"], "question": study["question"], "settings": {"display_px": study["settings"]["display_px"]},
            "trials": [{"id": t["id"], "a_video": t["a_video"], "b_video": t["b_video"]} for t in study["trials"]]}


def _write_clips(folder: Path, videos: np.ndarray, fps: float) -> None:
    """n t h w 3 videos as MP4 and GIF, enlarged by whole pixels to about 128 px (H.264 stores colour at
    half resolution: a 16 px video would be smeared); the page scales them the rest of the way."""
    scale = max(1, 128 // min(videos.shape[2:4]))
    for i, video in enumerate(videos):
        for ext in ("mp4", "gif"):
            write_video(folder / f"{i:03d}.{ext}", video, fps=fps, scale=scale)


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
               display: int = 256, platform: bool = False, base_url: str = "") -> Path:
    out = Path(out)
    sources = [parse_source(s) for s in specs]
    names = [s.name for s in sources]
    if min(videos, per_comparison, display) < 1 or (catch or 0) < 0:
        raise ValueError("--videos, --per-comparison and --display must be positive, --catch 0 or more")
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
    described, folders = [], video_folders(names)
    for i, source in enumerate(sources):
        clips = draw_videos(source, videos, frames, size, seed + i)
        if len(clips) < videos:
            raise ValueError(f"{source.spec}: has {len(clips)} videos, the study needs --videos {videos}")
        _write_clips(out / folders[source.name], clips, fps)
        described.append({"name": source.name, "spec": source.spec, "kind": source.kind, "videos": videos,
                          "folder": folders[source.name]})
    if catch:
        _write_clips(out / folders[CATCH_SOURCE], noise_videos(videos, frames, size, seed), fps)
    comparisons, trials = draw_trials(names, per_comparison, catch, real, videos, seed)
    settings = {"videos": videos, "per_comparison": per_comparison, "catch": catch, "frames": frames, "size": size,
                "seed": seed, "fps": fps, "display_px": display, "catch_folder": folders[CATCH_SOURCE],
                "videogan": __version__}
    study = study_dict(secrets.token_hex(6), described, comparisons, trials, QUESTION, settings)
    site = resources.files("videogan.tasks.study") / "site"
    for name in SITE_FILES:
        with resources.as_file(site / name) as path:
            shutil.copyfile(path, out / name)
    # a script, not a fetched JSON: browsers refuse fetch() on file:// pages, and the site must work offline
    write_atomic(out / "study-data.js", f"window.STUDY = {json.dumps(page_data(study))};\n")
    write_atomic(out / "study.json", json.dumps(study, indent=1) + "\n")
    if platform:
        write_atomic(out / "platform.csv", platform_csv(trials, base_url, seed))
    return out


def run(args) -> None:
    out = make_study(args.sources, args.out, args.videos, args.per_comparison, args.catch, args.frames, args.size,
                     args.seed, args.fps, args.display, args.platform_csv, args.base_url)
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
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--display", type=int, default=256, help="pixels each video is shown at (enlarged, sharp)")
    parser.add_argument("--platform-csv", action="store_true",
                        help="also write platform.csv, one row per trial, for a crowd platform's template")
    parser.add_argument("--base-url", default="", help="prefix of the video URLs in platform.csv (where the "
                                                        "study folder is hosted)")
