"""The data path of the ProLong recipe: sources -> token store -> packing (document boundaries) -> mixing.

    from prolong.data.mixing import MixtureStream
    stream = MixtureStream.from_yaml("params/tiny/mixtures/stage1.yaml", seq_len=1024, seed=0, dp_rank=0, dp_size=1)
    seq = next(iter(stream))     # a prolong.data.packing.PackedSequence

`build_tiny_data()` builds (once) the toy corpus, the tiny tokenizer and the tiny token stores.
"""

__all__ = ["TinyDataPaths", "build_tiny_data"]


def __getattr__(name: str):
    # Lazy: `import prolong.data.packing` must not pay for transformers/tokenizers imports.
    if name in __all__:
        from prolong.data import build

        return getattr(build, name)
    raise AttributeError(name)
