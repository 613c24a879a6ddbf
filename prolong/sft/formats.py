"""SFT data sources -> one conversation format: a list of {"role": "system" | "user" | "assistant", "content": str}.

Accepted record shapes (from a JSONL file or a `datasets` folder saved with `save_to_disk`):
    ultrachat   {"messages": [{"role", "content"}, ...]}  or  {"data": ["user text", "assistant text", ...]}
    tulu        {"messages": [{"role", "content"}, ...]}            (Tulu-v2; also our tiny instruction files)
    sharegpt    {"conversations": [{"from": "human" | "gpt" | "system", "value"}, ...]}
    auto        whichever of the keys above the record has

A bad record (unparsable line, no conversation field, unknown role, missing role or content, empty turn, no
assistant turn, system turn not first) is reported as `file:line: reason`: `strict=True` raises `SFTRecordError`,
`strict=False` skips it and lists it in `LoadReport.skipped`. For a `datasets` folder the "line" is the 1-based row.

    convs, report = load_conversations("ultrachat.jsonl", fmt="ultrachat", strict=False)
    report.skipped   # ["ultrachat.jsonl:17: turn 3: empty content", ...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

Format = Literal["auto", "ultrachat", "tulu", "sharegpt"]
FORMATS = ("auto", "ultrachat", "tulu", "sharegpt")
ROLES = ("system", "user", "assistant")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "chatgpt": "assistant", "system": "system"}


class SFTRecordError(ValueError):
    """A conversation record that cannot be used; the message names file:line and the reason."""


@dataclass
class Conversation:
    """One normalised conversation and where it came from."""

    messages: list[dict[str, str]]
    source: str = ""
    "file:line of the record"


@dataclass
class LoadReport:
    """What `load_conversations` read."""

    path: str
    n_records: int = 0
    n_loaded: int = 0
    skipped: list[str] = field(default_factory=list)
    "file:line: reason of every skipped record (lenient mode)"

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)


def _check_messages(msgs: list[dict[str, str]]) -> list[dict[str, str]]:
    """Validate a normalised message list; raise ValueError(reason)."""
    if not msgs:
        raise ValueError("no turns")
    for i, m in enumerate(msgs, start=1):
        if m["role"] not in ROLES:
            raise ValueError(f"turn {i}: unknown role {m['role']!r} (expected one of {', '.join(ROLES)})")
        if not m["content"].strip():
            raise ValueError(f"turn {i}: empty content")
        if m["role"] == "system" and i != 1:
            raise ValueError(f"turn {i}: a system turn must come first")
    if not any(m["role"] == "assistant" for m in msgs):
        raise ValueError("no assistant turn")
    return msgs


def _from_messages(turns: Any, role_key: str, content_key: str, roles: dict[str, str] | None) -> list[dict]:
    if not isinstance(turns, list):
        raise ValueError(f"expected a list of turns, got {type(turns).__name__}")
    out = []
    for i, t in enumerate(turns, start=1):
        if not isinstance(t, dict):
            raise ValueError(f"turn {i}: expected an object, got {type(t).__name__}")
        if role_key not in t:
            raise ValueError(f"turn {i}: missing {role_key!r}")
        if content_key not in t or t[content_key] is None:
            raise ValueError(f"turn {i}: missing {content_key!r}")
        role, content = t[role_key], t[content_key]
        if not isinstance(role, str) or not isinstance(content, str):
            raise ValueError(f"turn {i}: {role_key!r} and {content_key!r} must be strings")
        if roles is not None:
            if role.lower() not in roles:
                raise ValueError(f"turn {i}: unknown role {role!r} (expected one of {', '.join(sorted(roles))})")
            role = roles[role.lower()]
        out.append({"role": role, "content": content})
    return out


def normalize_record(record: Any, fmt: Format = "auto") -> list[dict[str, str]]:
    """The record's conversation as [{"role", "content"}, ...]; raises ValueError(reason) for a bad record."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown SFT format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if fmt == "auto":
        fmt = ("sharegpt" if "conversations" in record else "ultrachat" if "data" in record and "messages" not in
               record else "tulu")
    if fmt == "sharegpt":
        if "conversations" not in record:
            raise ValueError("no 'conversations' field (ShareGPT)")
        msgs = _from_messages(record["conversations"], "from", "value", _SHAREGPT_ROLES)
    elif fmt == "ultrachat" and "messages" not in record:
        if "data" not in record:
            raise ValueError("no 'messages' or 'data' field (UltraChat)")
        data = record["data"]
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise ValueError("'data' must be a list of strings (user, assistant, user, ...)")
        msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": x} for i, x in enumerate(data)]
    else:
        if "messages" not in record:
            raise ValueError("no 'messages' field")
        msgs = _from_messages(record["messages"], "role", "content", None)
    return _check_messages(msgs)


def iter_records(path: str | Path) -> Iterator[tuple[int, Any | Exception]]:
    """(line, record or the parse error) of a JSONL file, or (row, record) of a `datasets` folder."""
    path = Path(path)
    if path.is_dir():
        from datasets import load_from_disk

        ds = load_from_disk(str(path))
        if hasattr(ds, "keys"):                     # a DatasetDict: its "train" split (or the only one)
            ds = ds["train"] if "train" in ds else ds[next(iter(ds.keys()))]
        for i, rec in enumerate(ds, start=1):
            yield i, rec
        return
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SFT data file not found")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:  # a bad record like any other: named with file and line
                yield lineno, ValueError(f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})")
                continue
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                yield lineno, ValueError(f"unparsable JSON ({err.msg})")


def load_conversations(path: str | Path, fmt: Format = "auto", strict: bool = True,
                       limit: int | None = None) -> tuple[list[Conversation], LoadReport]:
    """All conversations of a file (or `datasets` folder), normalised; see the module docstring for bad records."""
    report = LoadReport(str(path))
    out: list[Conversation] = []
    for line, rec in iter_records(path):
        if limit is not None and len(out) >= limit:
            break
        report.n_records += 1
        where = f"{path}:{line}"
        try:
            if isinstance(rec, Exception):
                raise rec
            msgs = normalize_record(rec, fmt)
        except ValueError as err:
            if strict:
                raise SFTRecordError(f"{where}: {err}") from None
            report.skipped.append(f"{where}: {err}")
            continue
        out.append(Conversation(msgs, where))
    report.n_loaded = len(out)
    return out, report
