from prolong.sft.synthetic import GenerationReport, generate_long_qa, parse_qa


def test_model_generated_long_qa_with_a_generator():
    doc = "\n\n".join(f"Paragraph {i}: the value of item {i} is {i * 7}." for i in range(50))
    prompts = []

    def fake(prompt):
        prompts.append(prompt)
        return "nonsense" if len(prompts) == 2 else "Question: What is the value of item 3?\nAnswer: 21."

    rep = GenerationReport()
    convs = generate_long_qa([doc, doc], fake, n_questions=2, chunk_chars=200, seed=0, report=rep)
    assert rep.n_documents == 2 and rep.n_unparsed == 1 and rep.n_conversations == 2
    assert "Snippet:" in prompts[0] and len(prompts[0]) < 1000          # the model sees one chunk ...
    assert doc in convs[0]["messages"][0]["content"]                     # ... the SFT example the whole document
    assert parse_qa("Question: a?\nAnswer: b") == ("a?", "b") and parse_qa("Answer only") is None
