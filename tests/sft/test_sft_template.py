import numpy as np
import pytest

from prolong.sft.template import encode_conversation

CONV = [{"role": "user", "content": "Where does Mira live?"},
        {"role": "assistant", "content": "Mira lives in Ostrel."},
        {"role": "user", "content": "And her number?"},
        {"role": "assistant", "content": "It is 4821."}]


def _expected(tok):
    """Hand-built: the tiny template's pieces, False for instructions/headers, True for assistant text + <|end|>."""
    pieces = [("<|user|>\nWhere does Mira live?<|end|>\n<|assistant|>\n", False),
              ("Mira lives in Ostrel.<|end|>", True),
              ("<|user|>\nAnd her number?<|end|>\n<|assistant|>\n", False),
              ("It is 4821.<|end|>", True)]
    ids, mask = [tok.bos_token_id], [False]
    for text, is_asst in pieces:
        t = tok(text, add_special_tokens=False)["input_ids"]
        ids += t
        mask += [is_asst] * len(t)
    return np.array(ids), np.array(mask)


@pytest.mark.parametrize("method", ["tags", "prefix", "auto"])
def test_mask_is_exactly_the_assistant_tokens(tok, method):
    enc = encode_conversation(tok, CONV, method)
    ids, mask = _expected(tok)
    assert enc.input_ids.tolist() == ids.tolist()
    assert enc.loss_mask.tolist() == mask.tolist()
    # the end-of-turn token of each assistant message is a target; the user's is not
    end = tok.convert_tokens_to_ids("<|end|>")
    assert [bool(m) for i, m in zip(enc.input_ids, enc.loss_mask) if i == end] == [False, True, False, True]
    assert tok.decode(enc.input_ids[enc.loss_mask]) == "Mira lives in Ostrel.<|end|>It is 4821.<|end|>"


def test_prefix_method_without_generation_tags(tok):
    """A template without {% generation %} tags (like Llama-3's) goes through prefix rendering."""
    import copy

    plain = copy.deepcopy(tok)
    plain.chat_template = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    enc = encode_conversation(plain, CONV, "auto")
    # the prefix method gives an assistant message what the template emits for it after its header up to its
    # end-of-turn token (Llama-3: content + <|eot_id|>); the "\n" the template adds after <|end|> is the next turn's,
    # as with the tags, so both methods give the same mask
    assert tok.decode(enc.input_ids[enc.loss_mask]) == "Mira lives in Ostrel.<|end|>It is 4821.<|end|>"
    assert tok.decode(enc.input_ids[~enc.loss_mask]) == ("<|bos|><|user|>\nWhere does Mira live?<|end|>\n"
                                                         "<|assistant|>\n\n<|user|>\nAnd her number?<|end|>\n"
                                                         "<|assistant|>\n\n")
    tagged = encode_conversation(tok, CONV, "tags")
    assert tok.decode(tagged.input_ids[tagged.loss_mask]) == tok.decode(enc.input_ids[enc.loss_mask])
