"""What the `prolong` command reports as one `error:` line with exit status 2 instead of a traceback.

Every error the library raises for bad input or a damaged file names the file (and key or line) in its message:
params (`ConfigError`), results and data files (`CorruptFileError`), runs (`RunMismatchError`, `OldLayoutError`),
training that cannot go on (`TrainingDivergedError`). They are ValueErrors or `ProlongError`s; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class ProlongError(Exception):
    """An error the user can act on that is not a ValueError (a diverged run, an old run store)."""


USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, NotADirectoryError, ProlongError)
