"""prolong: the reproducible companion to "How to Train Long-Context Language Models (Effectively)"."""

__version__ = "0.1.0"
