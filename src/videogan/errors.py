"""The error a user's input causes, raised anywhere below the command line and reported by it."""
from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2, no traceback."""
