"""A section's run log as one short table (arm, stage, time, what happened) instead of a line per stage.

`run_graph` reports each step through its `log(message)` callable (prolong.experiments.runner): an arm's header
line, then one line per stage or evaluation, `  + <ref> (<N>s)` when it ran and `  = <ref> (logged)` when the run
store had it. `RunLog` is such a callable: it keeps the lines as rows and renders them as a Markdown table, which a
notebook displays once, so an executed report shows a table rather than a stderr block.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

_ARM = re.compile(r"^(?P<arm>\S+/\S+-s\d+): (?P<rest>.*)$")          # "T04/books-s0: Books" or ": indexed, skipped"
_RAN = re.compile(r"^\s+\+ (?P<ref>\S+) \((?P<secs>[\d.]+)s\)$")    # "  + train/stage1-0123456789 (12s)"
_LOGGED = re.compile(r"^\s+= (?P<ref>\S+) \(logged\)$")              # "  = eval/x-0123456789 (logged)"


@dataclass
class RunLogRow:
    arm: str
    "'<experiment>/<arm>-s<seed>'"
    stage: str
    "the run ('train/<run>', 'eval/<run>'), or '' for the whole arm"
    seconds: float | None
    "time it took here (None: nothing ran)"
    outcome: str
    "trained, evaluated, skipped (logged), skipped (indexed)"


@dataclass
class RunLog:
    """Callable as `log(message)`; `echo` also prints each line to stderr as it comes (a terminal's live view)."""

    echo: bool = False
    rows: list[RunLogRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _arm: str = ""

    def __call__(self, message: str) -> None:
        if self.echo:
            print(message, file=sys.stderr, flush=True)
        if m := _ARM.match(message):
            self._arm = m["arm"]
            if m["rest"] == "indexed, skipped":
                self.rows.append(RunLogRow(self._arm, "", None, "skipped (indexed)"))
        elif m := _RAN.match(message):
            kind = "trained" if m["ref"].startswith("train/") else "evaluated"
            self.rows.append(RunLogRow(self._arm, m["ref"], float(m["secs"]), kind))
        elif m := _LOGGED.match(message):
            self.rows.append(RunLogRow(self._arm, m["ref"], None, "skipped (logged)"))
        else:
            self.notes.append(message.strip())

    def markdown(self) -> str:
        """| arm | stage | time | outcome |, then the notes (lines of no known form) as a list."""
        if not self.rows and not self.notes:
            return ""
        if not self.rows:  # planned, or nothing to run: only what was said
            return "\n".join(f"- {n}" for n in self.notes) + "\n"
        ran = sum(r.seconds or 0.0 for r in self.rows)
        lines = [f"**Run log** ({sum(r.seconds is not None for r in self.rows)} runs here, {ran:.0f}s; "
                 f"{sum(r.outcome.startswith('skipped') for r in self.rows)} skipped as logged)", "",
                 "| arm | stage | time | outcome |", "|:---|:---|---:|:---|"]
        for r in self.rows:
            time = f"{r.seconds:.0f}s" if r.seconds is not None else ""
            lines.append(f"| {r.arm} | {r.stage or '(all stages)'} | {time} | {r.outcome} |")
        lines += [""] + [f"- {n}" for n in self.notes] if self.notes else []
        return "\n".join(lines) + "\n"

    def show(self) -> None:
        """Display the table in a notebook (Markdown); outside one, print it to stderr unless it was echoed."""
        text = self.markdown()
        if not text:
            return
        if _in_kernel():
            from IPython.display import Markdown, display

            display(Markdown(text))
        elif not self.echo:
            print(text, file=sys.stderr, flush=True)


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    return shell is not None and getattr(shell.get_ipython(), "kernel", None) is not None


def live_echo() -> bool:
    """Echo the lines as they come except in batch runs (PROLONG_QUIET=1: papermill, CI) and in a notebook."""
    return os.environ.get("PROLONG_QUIET") != "1" and not _in_kernel()
