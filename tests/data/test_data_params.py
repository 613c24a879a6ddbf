"""The paper's mixtures in params/ equal the numbers stated in PAPER.md; every data params file loads."""

import re

import pytest

from prolong import paths
from prolong.data.config import CorpusConfig, MixtureConfig

PAPER = paths.REPO_ROOT / "docs" / "paper" / "PAPER.md"  # the paper summary shipped with the project
MIXTURES = paths.PARAMS_DIR / "paper" / "mixtures"

# PAPER.md's wording -> our domain names
NAMES = {"code repos >=64K docs": "code_repos_64k", "books >=64K docs": "books_64k", "FineWeb-Edu": "fineweb_edu",
         "FineWeb (2023-50)": "fineweb_2023_50", "StackExchange": "stackexchange", "Wikipedia": "wikipedia",
         "Tulu-v2": "tulu_v2", "ArXiv": "arxiv", "OpenWebMath": "openwebmath", "textbooks": "textbooks",
         "code repos >=512K": "code_repos_512k", "code repos 64K-docs": "code_repos_64k_docs",
         "books >=512K": "books_512k", "books 64K-docs": "books_64k_docs", "FineWeb": "fineweb_2023_50"}
SHORTMIX_NAMES = {**NAMES, "FineWeb": "fineweb", "FineWeb-Edu": "fineweb_edu"}


def _paper_text() -> str:
    if not PAPER.is_file():
        pytest.skip(f"{PAPER} not present")
    return " ".join(PAPER.read_text().split())


def _pairs(text: str, pattern: str) -> list[tuple[str, float]]:
    return [(m.group(1).strip(), float(m.group(2))) for m in re.finditer(pattern, text)]


def _paper_mixtures() -> dict[str, dict[str, float]]:
    text = _paper_text()
    s1 = text.split("Data mixture, Stage 1 (proportions of tokens):")[1].split("Stage 2:")[0]
    s2 = text.split("Stage 2:")[1].split("The ablation ShortMix")[0].replace("and the same short sources as Stage 1 (", "")
    sm = text.split("The ablation ShortMix (Table 5):")[1].split("Packing:")[0]
    num = r"\s*([A-Za-z][A-Za-z0-9 ()>=\-.]*?)\s+(0\.\d+)"
    out = {"stage1": {NAMES[k]: v for k, v in _pairs(s1, num)},
           "stage2": {NAMES[k]: v for k, v in _pairs(s2, num)},
           "shortmix_ablation": {SHORTMIX_NAMES[k]: v / 100 for k, v in _pairs(sm, r"\s*([A-Za-z][A-Za-z0-9\-]*) (\d+)%")}}
    return out


@pytest.mark.parametrize("name", ["stage1", "stage2", "shortmix_ablation"])
def test_paper_mixture_equals_paper_md(name):
    paper = _paper_mixtures()[name]
    assert len(paper) == {"stage1": 10, "stage2": 12, "shortmix_ablation": 7}[name]   # the parse found them all
    ours = MixtureConfig.from_yaml(MIXTURES / f"{name}.yaml").proportions()
    assert ours == pytest.approx(paper, abs=1e-12)
    assert list(ours) == list(paper)                                                 # same order as the paper


def test_paper_long_domains_keep_long_documents():
    s1 = MixtureConfig.from_yaml(MIXTURES / "stage1.yaml")
    s2 = MixtureConfig.from_yaml(MIXTURES / "stage2.yaml")
    assert s1.domains["code_repos_64k"].min_tokens == s1.domains["books_64k"].min_tokens == 65536
    assert s2.domains["code_repos_512k"].min_tokens == s2.domains["books_512k"].min_tokens == 524288


@pytest.mark.parametrize("path", sorted((paths.PARAMS_DIR / "tiny" / "mixtures").glob("*.yaml"))
                         + sorted(MIXTURES.glob("*.yaml")), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_data_params_load(path):
    if path.name == "corpus.yaml":
        assert CorpusConfig.from_yaml(path).sources
    else:
        assert abs(sum(MixtureConfig.from_yaml(path).proportions().values()) - 1) < 1e-9


def test_tiny_shortmix_matches_table5():
    ours = MixtureConfig.from_yaml(paths.PARAMS_DIR / "tiny" / "mixtures" / "shortmix.yaml").proportions()
    paper = _paper_mixtures()["shortmix_ablation"]
    rename = {"tulu": "tulu_v2"}
    assert {rename.get(k, k): v for k, v in ours.items()} == pytest.approx(paper)
