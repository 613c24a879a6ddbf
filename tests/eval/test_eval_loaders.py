import pytest

from prolong.eval import prompts as P
from prolong.eval.tasks import icl, longdoc, rag, rerank
from prolong.tiny.eval_suite import write_tiny_suite


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return write_tiny_suite(tmp_path_factory.mktemp("helmet"), n_items=6, n_sent=200, ppl_docs=1, ppl_words=500)


def test_rag_loader(suite, bpe_tokenizer):
    spec, items = rag.rag("hotpotqa", suite / "rag" / "hotpotqa.jsonl", bpe_tokenizer, 2048, 4)
    assert len(items) == 4 and spec.main_metric == "substring_exact_match"
    f = items[0].fields
    assert f["context"].startswith("Document (Title: ") and f["demos"].endswith("\n\n")
    assert "\nAnswer: " in f["demos"]
    text, _ = P.format_prompt(bpe_tokenizer, spec.user_template, spec.prefix_template, f, False)
    assert text.startswith("Use the given documents to write a concise and short answer") and text.endswith(
        "\nAnswer:")
    ids, _ = P.build_input_ids(bpe_tokenizer, spec.user_template, spec.prefix_template, f, False, 2048 - 20)
    assert 0.8 * 2028 <= len(ids) <= 2028  # passages fitted to the length
    mets, parsed = spec.score("Answer: " + items[0].answers[0], items[0])
    assert mets["substring_exact_match"] == 1.0


def test_rerank_loader(suite, bpe_tokenizer):
    spec, items = rerank.msmarco(suite / "rerank" / "msmarco.jsonl", bpe_tokenizer, 2048, 3)
    it = items[0]
    assert it.fields["context"].startswith("[ID: ") and "\nRanking: " in it.fields["demos"]
    mets, _ = spec.score(it.extra["gold_ranking"], it)
    assert mets["NDCG@10"] == pytest.approx(1.0)


def test_icl_loader(suite, word_tokenizer):
    spec, items = icl.icl("icl_trec_coarse", suite / "icl", word_tokenizer, 1024, 5)
    assert len(items) == 5 and items[0].extra["shots"] > 6
    assert all(line.rsplit("label: ", 1)[1].isdigit() for line in items[0].fields["context"].split("\n\n"))
    mets, _ = spec.score(" " + items[0].answers, items[0])
    assert mets["exact_match"] == 1.0


@pytest.mark.parametrize("name", ["narrativeqa", "infbench_qa", "infbench_mc", "multi_lexsum", "infbench_sum"])
def test_longdoc_loaders_truncate_to_length(suite, bpe_tokenizer, name):
    length = 2048 if name == "infbench_sum" else 1024  # its generation budget is 1200 tokens
    spec, items = longdoc.longdoc(name, suite / "longdoc" / f"{name}.jsonl", bpe_tokenizer, length, 2)
    assert spec.chat
    for it in items:
        ids, fields = P.build_input_ids(bpe_tokenizer, spec.user_template, spec.prefix_template, it.fields, True,
                                        length - spec.max_new_tokens)
        assert len(ids) <= length - spec.max_new_tokens
        assert it.fields["context"].endswith(P.TRUNCATION_POSTFIX)
    if name == "infbench_mc":
        letter = items[0].answers[0]
        assert spec.score(f"Answer: {letter}", items[0])[0]["exact_match"] == 1.0
