"""HELMET's prompt strings and the prompt builder (chat template or not, truncation of the context's end).

A task item carries template fields ("context", "question", "demos", ...). Without a chat template the model sees
`user_template + sep + answer_prefix` (HELMET's `prompt_template`, tokenised with special tokens, i.e. BOS), and the
answer prefix is prepended to the generated text before scoring (HELMET eval.py: "we are autocompleting 'Answer:'").
With a chat template the only turn is the user turn (HELMET's `--system_message` defaults to None, so no system
message), followed by the generation prompt; the answer prefix is not added but is still used to parse the output.
If the prompt has more than `input_length - max_new_tokens` tokens, the context is cut from its end by exactly the
excess (HELMET's `tokenize`), using the tokenizer's offsets when it is a fast tokenizer.
"""

from __future__ import annotations

from typing import Any

# ---- exact strings (HELMET data.py) ---------------------------------------------------------------------------
JSON_KV_USER = ("{context}\n\nExtract the value corresponding to the specified key in the JSON object below.\n\n"
                "{demos}Key: {question}")
JSON_KV_PREFIX = "Corresponding value:"
JSON_KV_DEMO = "Key: {key}\nCorresponding value: {value}"  # HELMET: "...value:{value}" with value=" " + value

RULER_NIAH_USER = ("A special magic {type_needle_v} is hidden within the following text. Make sure to memorize it. "
                   "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
                   "What is the special magic {type_needle_v} for {query} mentioned in the provided text?")
RULER_NIAH_PREFIX = "The special magic {type_needle_v} for {query} mentioned in the provided text is"
# multi-value (MV) uses RULER's plural template (HELMET data.py, "niah_mv")
RULER_MV_USER = ("Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
                 "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
                 "What are all the special magic {type_needle_v} for {query} mentioned in the provided text?")
RULER_MV_PREFIX = "The special magic {type_needle_v} for {query} mentioned in the provided text are"
RULER_NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."

RAG_USER = ("Use the given documents to write a concise and short answer to the question. Write your answer in the "
            "following format:\nAnswer: [answer]\n\n{demos}{context}\n\nQuestion: {question}")
RAG_PREFIX = "Answer:"
RAG_PASSAGE = "Document (Title: {title}): {text}"
RAG_DEMO = "{documents}\n\nQuestion: {question}\nAnswer: {answer}"

RERANK_USER = ("You are provided with a list of documents, each indicated by their ID. Rank each document based on "
               "their relevance to the question in descending order from most relelvant to least relevant texts. "
               "Include all documents in the rankings. Write your answer using the unique IDs, with the following "
               "format:\nRanking: ID3 > ID1 > ID2\n\n{demos}{context}\n\nQuery: {question}")
RERANK_PREFIX = "Ranking:"
RERANK_PASSAGE = "[ID: {id}] Document (Title: {title}): {text}"
RERANK_PASSAGE_NO_TITLE = "[ID: {id}] Document: {text}"

ICL_USER = ("Use the provided mapping from the text to label to assign a label to the text. Only output "
            "\"label: {{label}}\" and nothing else. \n\n{context}\n\n{question}")
ICL_PREFIX = "label:"
ICL_ITEM = "{text}\nlabel: {label}"

NARRATIVEQA_USER = ("You are given a story, which can be either a novel or a movie script, and a question. Answer the "
                    "question as concisely as you can, using a single phrase if possible.\n\n{demos}{context}\n\n"
                    "Question: {question}")
QA_PREFIX = "Answer:"
NARRATIVEQA_DEMOS_HEAD = "For example:\n\n"
NARRATIVEQA_DEMOS_TAIL = "\n\nNow, use the following story to answer the question:\n\n"
TRUNCATION_POSTFIX = " ... [the rest of the text is omitted]"

INFBENCH_QA_USER = ("You are given a story and a question. Answer the question as concisely as you can, using a single "
                    "phrase if possible.\n\n{demos}{context}\n\nQuestion: {question}")
INFBENCH_MC_USER = ("You are given a story and a question with multiple choices. Choose the best answer from the "
                    "options provided. Only one of the following options is correct, output the answer using one "
                    "single letter (A, B, C, or D). Don't say anything else.\n\n{demos}{context}\n\n"
                    "Question: {question}\nOptions:\n{options}")
INFBENCH_SUM_USER = ("You are given a book and you are tasked to summarize it. Write a summary of about 1000 to 1200 "
                     "words. Only write about the plot and characters of the story. Do not discuss the themes or "
                     "background of the book. Do not provide any analysis or commentary.\n\n{demos}{context}\n\n"
                     "Now summarize the book.")
SUMM_PREFIX = "Summary:"
MULTI_LEXSUM_USER = ("You are given the legal documents in a civil rights lawsuit, and you are tasked to summarize the "
                     "case. Write a concise summary of one paragraph (200 to 250 words). The summary should contain a "
                     "short description of the background, the parties involved, and the outcomes of the case.\n\n"
                     "{demos}Legal documents:\n{context}\n\nNow please summarize the case.")
MULTI_LEXSUM_DEMOS_HEAD = "Example summaries:\n\n"
MULTI_LEXSUM_DEMOS_TAIL = "\n\nNow, write a summary of the following legal documents.\n"

PASSKEY_USER = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
                "I will quiz you about the important information there.\n{context}\nWhat is the pass key?")
PASSKEY_PREFIX = "The pass key is"
PASSKEY_NEEDLE = "The pass key is {value}. Remember it. {value} is the pass key."

SYSTEM_MESSAGE: str | None = None  # HELMET arguments.py: --system_message defaults to None (no system turn)


def _messages(user: str, system: str | None) -> list[dict[str, str]]:
    msgs = [{"role": "user", "content": user}]
    return ([{"role": "system", "content": system}] + msgs) if system else msgs


def format_prompt(tokenizer: Any, user_template: str, prefix_template: str, fields: dict[str, str], chat: bool,
                  sep: str = "\n", system: str | None = SYSTEM_MESSAGE) -> tuple[str, bool]:
    """The prompt text and whether special tokens must be added when tokenising it."""
    user = user_template.format(**fields)
    if not chat:
        return user + sep + prefix_template.format(**fields), True
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this task uses the chat template but the tokenizer has none")
    try:
        text = tokenizer.apply_chat_template(_messages(user, system), tokenize=False, add_generation_prompt=True)
    except Exception:  # templates that refuse a system turn (HELMET retries without it)
        text = tokenizer.apply_chat_template(_messages(user, None), tokenize=False, add_generation_prompt=True)
    return text, False


def completion_output(generated: str, prefix_template: str, fields: dict[str, str], chat: bool) -> str:
    """The text HELMET scores: without a chat template the answer prefix the prompt ended with is prepended to the
    generation (eval.py), so "Answer:" + " Paris" is parsed like a chat model's "Answer: Paris"."""
    return generated if chat else prefix_template.format(**fields) + generated


def encode(tokenizer: Any, text: str, add_special_tokens: bool) -> list[int]:
    return tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]


def build_input_ids(tokenizer: Any, user_template: str, prefix_template: str, fields: dict[str, str], chat: bool,
                    max_prompt_tokens: int, sep: str = "\n") -> tuple[list[int], dict[str, str]]:
    """Token ids of the prompt, cutting the end of `fields["context"]` if the prompt exceeds `max_prompt_tokens`.
    Returns the ids and the (possibly truncated) fields."""
    text, special = format_prompt(tokenizer, user_template, prefix_template, fields, chat, sep)
    ids = encode(tokenizer, text, special)
    excess = len(ids) - max_prompt_tokens
    if excess <= 0:
        return ids, fields
    fields = dict(fields)
    fields["context"] = cut_context_end(tokenizer, fields.get("context", ""), excess)
    text, special = format_prompt(tokenizer, user_template, prefix_template, fields, chat, sep)
    ids = encode(tokenizer, text, special)
    if len(ids) > max_prompt_tokens:  # re-tokenisation at the cut can shift by a token or two: cut a bit more
        fields["context"] = cut_context_end(tokenizer, fields["context"], len(ids) - max_prompt_tokens)
        text, special = format_prompt(tokenizer, user_template, prefix_template, fields, chat, sep)
        ids = encode(tokenizer, text, special)
    return ids, fields


def cut_context_end(tokenizer: Any, context: str, n_tokens: int) -> str:
    """Drop the last `n_tokens` tokens of `context` (character offsets with fast tokenizers, decode otherwise)."""
    if n_tokens <= 0:
        return context
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if n_tokens >= len(offsets):
            return ""
        return context[: offsets[-n_tokens][0]]
    ids = tokenizer(context, add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids[: max(0, len(ids) - n_tokens)])


def truncate_document(tokenizer: Any, text: str, max_tokens: int, postfix: str = TRUNCATION_POSTFIX) -> str:
    """HELMET's `truncate_llama2`: if the document has more than `max_tokens` tokens (counted with special tokens, as
    HELMET's `tokenizer(context)` does), keep it up to the end of token `max_tokens - len(tokenizer(postfix))` and
    append the postfix. HELMET uses Llama-2's tokenizer for every model; pass that one to reproduce it exactly."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, return_offsets_mapping=True)
        if len(enc["input_ids"]) <= max_tokens:
            return text
        sep = len(tokenizer(postfix)["input_ids"])
        idx = max(0, max_tokens - sep)
        return text[: enc["offset_mapping"][idx][1]] + postfix
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    n_post = len(tokenizer(postfix, add_special_tokens=False)["input_ids"])
    keep = max(0, max_tokens - n_post)
    return cut_context_end(tokenizer, text, len(ids) - keep) + postfix
