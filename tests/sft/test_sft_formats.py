import json

import pytest

from prolong.sft.formats import SFTRecordError, load_conversations, normalize_record

GOOD = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},      # ultrachat/tulu
    {"data": ["Hi", "Hello", "Bye", "Goodbye"]},                                                    # ultrachat data
    {"conversations": [{"from": "system", "value": "Be nice"}, {"from": "human", "value": "Hi"},
                       {"from": "gpt", "value": "Hello"}]},                                        # sharegpt
]


def _write(path, lines):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_formats_normalise_to_one_shape():
    assert normalize_record(GOOD[0], "ultrachat") == GOOD[0]["messages"]
    assert normalize_record(GOOD[0], "tulu") == GOOD[0]["messages"]
    assert normalize_record(GOOD[1], "ultrachat") == [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye"}]
    assert normalize_record(GOOD[2], "sharegpt") == [
        {"role": "system", "content": "Be nice"}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"}]
    for rec in GOOD:
        assert normalize_record(rec, "auto")


BAD = [
    ({"messages": [{"content": "Hi"}, {"role": "assistant", "content": "x"}]}, "missing 'role'"),
    ({"messages": [{"role": "robot", "content": "Hi"}, {"role": "assistant", "content": "x"}]}, "unknown role"),
    ({"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "x"}]}, "empty content"),
    ({"messages": [{"role": "user", "content": "Hi"}]}, "no assistant turn"),
    ({"conversations": [{"from": "alien", "value": "Hi"}, {"from": "gpt", "value": "x"}]}, "unknown role"),
    ("{not json", "unparsable JSON"),
    ({"text": "plain"}, "no 'messages' field"),
]


def test_bad_records_are_reported_with_file_and_line(tmp_path):
    path = _write(tmp_path / "mixed.jsonl", [GOOD[0]] + [b for b, _ in BAD] + [GOOD[1]])
    with pytest.raises(SFTRecordError, match=rf"{path}:2: .*missing 'role'"):
        load_conversations(path, strict=True)
    convs, report = load_conversations(path, strict=False)
    assert len(convs) == 2 and report.n_records == 2 + len(BAD) and report.n_skipped == len(BAD)
    for k, ((_, reason), msg) in enumerate(zip(BAD, report.skipped), start=2):
        assert msg.startswith(f"{path}:{k}: ") and reason in msg, msg
    assert convs[0].source == f"{path}:1" and convs[1].source == f"{path}:{len(BAD) + 2}"


def test_datasets_folder(tmp_path):
    from datasets import Dataset

    Dataset.from_list([GOOD[0], GOOD[0]]).save_to_disk(str(tmp_path / "ds"))
    convs, report = load_conversations(tmp_path / "ds", fmt="tulu")
    assert len(convs) == 2 and convs[1].source.endswith("ds:2")
