"""The paper's evaluation vocabulary, defined once: HELMET's long-context categories (the paper's six, plus Cite,
HELMET's seventh), which datasets each averages (ProLong's subset and HELMET's own, as named presets), and the
short-context tasks with their column names.

eval/ (task registration, aggregation) and report/ (table and figure columns) both import these names; this module
imports nothing, so it sits below both.
"""

from __future__ import annotations

RECALL, RAG, RERANK, ICL, QA, SUMM = "Recall", "RAG", "Re-rank", "ICL", "QA", "Summ"
CITE = "Cite"
"HELMET's seventh category (ALCE ASQA and QAMPARI); the ProLong paper does not report it"
NIAH = "NIAH"
"the passkey needle-in-a-haystack column (saturated; shown for contrast, not part of Avg)"
PPL = "PPL"
"perplexity on the last part of long documents (Figure 1)"
SHORT = "Short"
"the category of the short-context tasks (their average is the column 'Short Avg')"

CATEGORIES = [RECALL, RAG, RERANK, ICL, QA, SUMM]
"the paper's six long-context columns in its column order (the tables' columns; Avg is their unweighted mean)"
HELMET_ORDER = [RECALL, RAG, RERANK, ICL, QA, SUMM, CITE]
"every category a run can score, in column order: the paper's six, then Cite"

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
    CITE: ["alce_asqa", "alce_qampari"],
}
# HELMET's scripts/collect_results.py `custom_avgs`: the metrics each category averages (Cite averages six values, three
# per dataset); a dataset listed once above contributes its main metric.
CITE_METRICS = {"alce_asqa": ["str_em", "citation_rec", "citation_prec"],
                "alce_qampari": ["qampari_rec_top5", "citation_rec", "citation_prec"]}
"Cite dataset -> the metrics HELMET averages into the Cite category (each counts once)"

CATEGORY_PRESETS = {"helmet": HELMET_CATEGORIES, "prolong": PROLONG_CATEGORIES}
"""named category memberships: 'helmet' (HELMET's own, seven categories with Cite; the default of a HELMET run) and
'prolong' (the paper's Table 13 subset, which the paper-table comparisons use)"""

SHORT_TASKS = {"hellaswag": "HellaSwag", "mmlu": "MMLU", "arc_challenge": "ARC-c", "winogrande": "WinoGrande",
               "gsm8k": "GSM8K"}
"short-context dataset id (params, data files) -> its column in the paper's tables"
SHORT_COLUMNS = list(SHORT_TASKS.values())
