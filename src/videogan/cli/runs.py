"""What `train` and `baseline train` share: the run folder and config from --out / --resume and the flags."""
from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint import config_of, list_checkpoints
from ..config import RunConfig
from ..runtime import join_group
from ..train.agreement import agreed_resume_state, decided_by_rank_0
from ..train.run_dir import prepare_run_dir
from .config_flags import config_from_args


def resolve_run(args) -> tuple[Path, RunConfig, dict | None]:
    """(run folder, config, latest checkpoint or None) for `--out NEW` or `--resume RUN_DIR` (one of them
    given: `writing_run`); flags given on the command line apply on top of the preset, or of the saved config
    when resuming.
    Under torchrun, rank 0 alone checks and prepares the folder and chooses the checkpoint (`agreement`)."""
    if args.resume:
        if args.out is not None:  # a resume writes into the run it continues
            raise ValueError(f"--out {args.out}: --resume continues {args.resume} in place; give one of them")
        if args.preset is not None:  # the run's saved config is what continues
            raise ValueError(f"--preset {args.preset}: --resume continues {args.resume} with the config it was "
                             "started with; drop --preset (flags that apply on resume can still be given)")
        run_dir = Path(args.resume)

        def prepare() -> None:
            if not list_checkpoints(run_dir):
                raise FileNotFoundError(f"{run_dir}: nothing to resume (no checkpoints in {run_dir / 'checkpoints'})")
            prepare_run_dir(run_dir)

        state = agreed_resume_state(run_dir, prepare)
        return run_dir, config_from_args(args, base=config_of(state)), state
    run_dir = Path(args.out)

    def prepare_new() -> None:
        if list_checkpoints(run_dir):
            raise ValueError(f"{run_dir} already holds a run: continue it with --resume {run_dir}, or choose "
                             "another --out")
        prepare_run_dir(run_dir)

    decided_by_rank_0(prepare_new)
    config = config_from_args(args)
    if join_group() == 0 and (note := clip_size_note(config, args)):
        print(note)
    return run_dir, config, None


def clip_size_note(config: RunConfig, args) -> str | None:
    """One line when a run without --preset, --frames or --size trains on prepared clips of another length or
    size than the default preset's: the clips are cropped and resized, which the user may not expect."""
    data = Path(config.data.data)
    chosen = any(getattr(args, name, None) is not None for name in ("preset", "model.frames", "model.size"))
    if chosen or config.data.data == "synthetic" or not data.is_dir():
        return None
    from ..data.prepare import OPTIONS_FILE  # decoders: only for the user's own data

    try:
        prepared = json.loads((data / OPTIONS_FILE).read_text())
        frames, size = int(prepared["frames"]), int(prepared["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    model = config.model
    if (frames, size) == (model.frames, model.size):
        return None
    return (f"note: {data} holds clips of {frames} frames of {size}x{size}; this run trains on {model.frames} "
            f"frames of {model.size}x{model.size} (crops and resizes them). For the clips' own size give "
            f"--frames {frames} --size {size}, or --preset paper for 32 x 64x64")
