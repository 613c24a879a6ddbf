import pytest

from prolong.eval import prompts as P
from prolong.eval.tasks import recall


@pytest.mark.parametrize("tok_name", ["bpe_tokenizer", "word_tokenizer"])
@pytest.mark.parametrize("task", ["json_kv", "ruler_mk_needle", "ruler_mk_uuid", "ruler_mv", "niah_passkey"])
def test_generated_tasks_hit_target_length(request, tok_name, task):
    tok = request.getfixturevalue(tok_name)
    length = 4096
    if task == "json_kv":
        spec, items = recall.json_kv(tok, length, 3)
    elif task == "niah_passkey":
        spec, items = recall.passkey(tok, length, 3)
    else:
        spec, items = recall.ruler(task, tok, length, 3)
    target = length - spec.max_new_tokens
    for it in items:
        ids, fields = P.build_input_ids(tok, spec.user_template, spec.prefix_template, it.fields, spec.chat, target)
        assert len(ids) <= target
        assert len(ids) >= 0.95 * target, (task, tok_name, len(ids), target)
        assert fields["context"] == it.fields["context"] or len(ids) == target  # at most a tiny truncation
    # every gold is present in its context
    for it in items:
        for a in it.answers:
            assert a in it.fields["context"]


def test_truncation_cuts_the_end_of_the_context(bpe_tokenizer):
    spec, items = recall.json_kv(bpe_tokenizer, 4096, 1)
    ids, fields = P.build_input_ids(bpe_tokenizer, spec.user_template, spec.prefix_template, items[0].fields, False,
                                    2000)
    assert len(ids) <= 2000 and len(ids) >= 1990
    assert items[0].fields["context"].startswith(fields["context"])
    text = bpe_tokenizer.decode(ids, skip_special_tokens=True)
    assert text.endswith("Key: " + items[0].fields["question"] + "\nCorresponding value:")
