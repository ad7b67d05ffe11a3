"""The one I/O layer below data, models, train, eval and tasks: atomic writes, the cleanup of dead writers'
temporaries, the checks of an output location before any work, and one writer per folder.

Light on purpose (no torch, no numpy): the command line checks every command's `--out` before it imports
the command.
"""
from .atomic import (AtomicFile, OutputError, remove_stale_temporaries, temporary_name, write_atomic, write_torch,
                     writing)
from .inputs import read_text_lines
from .lock import FolderBusy, current_holder, describe_holder, hold_folder
from .outputs import check_not_an_input, check_writable
from .results import finite_json, write_result_json

__all__ = ["AtomicFile", "FolderBusy", "OutputError", "check_not_an_input", "check_writable", "current_holder",
           "describe_holder", "finite_json", "hold_folder", "read_text_lines",
           "remove_stale_temporaries", "temporary_name", "write_atomic", "write_result_json", "write_torch", "writing"]
