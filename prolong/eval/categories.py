"""The paper's evaluation vocabulary, defined once: HELMET's six long-context categories, which datasets each
averages (ProLong's subset and HELMET's own), and the short-context tasks with their column names.

eval/ (task registration, aggregation) and report/ (table and figure columns) both import these names; this module
imports nothing, so it sits below both.
"""

from __future__ import annotations

RECALL, RAG, RERANK, ICL, QA, SUMM = "Recall", "RAG", "Re-rank", "ICL", "QA", "Summ"
NIAH = "NIAH"
"the passkey needle-in-a-haystack column (saturated; shown for contrast, not part of Avg)"
PPL = "PPL"
"perplexity on the last part of long documents (Figure 1)"
SHORT = "Short"
"the category of the short-context tasks (their average is the column 'Short Avg')"

CATEGORIES = [RECALL, RAG, RERANK, ICL, QA, SUMM]
"HELMET's long-context categories in the paper's column order; Avg is their unweighted mean"

# The paper's Table 13 (ProLong's HELMET subset); HELMET_CATEGORIES is HELMET's own category membership.
PROLONG_CATEGORIES = {
    RECALL: ["json_kv"],
    RAG: ["nq", "hotpotqa", "popqa"],
    RERANK: ["msmarco_rerank"],
    ICL: ["icl_trec_coarse", "icl_trec_fine", "icl_nlu", "icl_banking77", "icl_clinc150"],
    QA: ["narrativeqa"],
    SUMM: ["multi_lexsum"],
}
HELMET_CATEGORIES = {
    RECALL: ["json_kv", "ruler_mk_needle", "ruler_mk_uuid", "ruler_mv"],
    RAG: ["nq", "triviaqa", "hotpotqa", "popqa"],
    RERANK: ["msmarco_rerank"],
    ICL: ["icl_trec_coarse", "icl_trec_fine", "icl_nlu", "icl_banking77", "icl_clinc150"],
    QA: ["narrativeqa", "infbench_qa", "infbench_mc"],
    SUMM: ["multi_lexsum", "infbench_sum"],
}

SHORT_TASKS = {"hellaswag": "HellaSwag", "mmlu": "MMLU", "arc_challenge": "ARC-c", "winogrande": "WinoGrande",
               "gsm8k": "GSM8K"}
"short-context dataset id (params, data files) -> its column in the paper's tables"
SHORT_COLUMNS = list(SHORT_TASKS.values())
