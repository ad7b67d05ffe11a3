"""Groups of related videos that a train/test split keeps on one side (`--groups`).

Videos of one recording, one actor or one scene look alike: when one of them is trained on and another
tested, a network that memorises scores as if it recognised the action. UCF-101's official splits hold
out whole groups (the `gXX` in its file names); a class-per-folder tree names its groups with `--groups`:

- `re:PATTERN`: a regular expression searched in each video's path relative to the data folder; its first
  capture group (the whole match when it has none) is the group. `re:_g(\\d+)_` reads UCF-101's groups.
- a file: one `NAME GROUP` per line (whitespace-separated, `#` starts a comment), NAME a video's path
  relative to the data folder, or its file name when that is unique.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...files import read_text_lines

PATTERN_PREFIX = "re:"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _groups_from_pattern(pattern: str, names: list[str]) -> list[str]:
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"--groups {PATTERN_PREFIX}{pattern}: not a regular expression ({err})") from None
    groups, unmatched = [], []
    for name in names:
        match = regex.search(name)
        if match is None:
            unmatched.append(name)
            continue
        groups.append(match.group(1) if regex.groups else match.group(0))
    if unmatched:
        raise ValueError(f"--groups {PATTERN_PREFIX}{pattern} matches no group in {len(unmatched)} video(s), "
                         f"first: {', '.join(unmatched[:3])}")
    return groups


def _read_group_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"--groups {path}: no such file (give a file of 'NAME GROUP' lines, or "
                                f"{PATTERN_PREFIX}PATTERN)")
    table = {}
    for number, line in enumerate(read_text_lines(path, "--groups file"), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected 'NAME GROUP', got {line.strip()!r}")
        name, group = fields
        if table.get(name, group) != group:
            raise ValueError(f"{path}:{number}: {name} is already in group {table[name]!r}")
        table[name] = group
    return table


def _groups_from_file(path: Path, names: list[str]) -> list[str]:
    table = _read_group_file(path)
    base_counts: dict[str, int] = {}
    for name in names:
        base = name.rsplit("/", 1)[-1]
        base_counts[base] = base_counts.get(base, 0) + 1
    groups, missing, used = [], [], set()
    for name in names:
        base = name.rsplit("/", 1)[-1]
        key = name if name in table else base if base_counts[base] == 1 and base in table else None
        if key is None:
            missing.append(name)
            continue
        used.add(key)
        groups.append(table[key])
    if missing:
        raise ValueError(f"{path}: no group for {len(missing)} video(s), first: {', '.join(missing[:3])}")
    unknown = sorted(set(table) - used)
    if unknown:
        raise ValueError(f"{path}: names {len(unknown)} video(s) that are not in the data, first: "
                         f"{', '.join(unknown[:3])}")
    return groups


def read_groups(spec: str, sources, root) -> list[str]:
    """The group of each video in `sources` (paths below the folder `root`) by the `--groups` spec."""
    names = [_relative(Path(s), Path(root)) for s in sources]
    if spec.startswith(PATTERN_PREFIX):
        return _groups_from_pattern(spec[len(PATTERN_PREFIX):], names)
    return _groups_from_file(Path(spec), names)


def hold_out_groups(labels, groups, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held) sorted indices with no group on both sides. Groups are visited in a random order and
    held out while every class they hold is still short of round(fraction * its size) (at least one)
    held-out videos, and taking them leaves that class a training video; so each class gets about its
    share, from whole groups."""
    labels, groups = np.asarray(labels), np.asarray(groups, dtype=object)
    sizes = np.bincount(labels)
    target = np.maximum(1, np.round(fraction * sizes)).astype(int)
    held_per_class = np.zeros_like(sizes)
    names = sorted(set(groups.tolist()))
    held = []
    for g in rng.permutation(len(names)):
        members = np.flatnonzero(groups == names[g])
        counts = np.bincount(labels[members], minlength=len(sizes))
        present = counts > 0
        short = (held_per_class < target)[present].all()
        keeps_one = (held_per_class + counts < sizes)[present].all()
        if short and keeps_one:
            held += members.tolist()
            held_per_class += counts
    held = np.sort(np.asarray(held, dtype=int))
    kept = np.setdiff1d(np.arange(len(labels)), held)
    return kept, held
