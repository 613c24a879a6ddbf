"""Sentence splitting for RULER's essay haystack and ALCE's citation scoring, both of which use NLTK's
`sent_tokenize` in their reference code."""

from __future__ import annotations


def sentences(text: str) -> list[str]:
    """NLTK's sent_tokenize when its punkt data is installed; else Punkt with default parameters (no download is
    ever made; the untrained splitter breaks at sentence-final punctuation followed by a space, like the trained
    one except around abbreviations it has not learned)."""
    import nltk

    try:
        return nltk.sent_tokenize(text)
    except LookupError:
        from nltk.tokenize.punkt import PunktSentenceTokenizer

        return PunktSentenceTokenizer().tokenize(text)
