"""Action recognition from the discriminator (section 3.3, Figure 4), which `videogan recognize
finetune|split|probe|sweep` runs. See docs/recognition.md."""
from __future__ import annotations

import json
from pathlib import Path

from ...files import write_atomic
from .data import LabelledVideos


def write_split(train: LabelledVideos, test: LabelledVideos, root: str | Path, out: str | Path) -> Path:
    """The split as class-per-folder trees of links, OUT/train and OUT/test (each video under its class and
    its path below `root`), and OUT/split.json; `prepare OUT/train` then makes pretraining data that holds
    no test video."""
    out = Path(out)
    if (out / "split.json").exists():
        raise ValueError(f"{out} already holds a split: choose another --out")
    listing = {}
    for side, videos in (("train", train), ("test", test)):
        rows = []
        for source, label, group in zip(videos.sources, videos.labels, videos.groups or [None] * len(videos)):
            link = out / side / Path(source).relative_to(root)  # class/...: the tree's own layout
            link.parent.mkdir(parents=True, exist_ok=True)
            target = Path(source).resolve()
            link.symlink_to(target, target_is_directory=target.is_dir())
            rows.append({"video": str(target), "class": videos.classes[label], "group": group})
        listing[side] = rows
    path = out / "split.json"
    write_atomic(path, json.dumps(listing, indent=2) + "\n")
    return path
