"""The data path of the ProLong recipe: sources -> token store -> packing (document boundaries) -> mixing.

    from prolong.data.mixing import MixtureStream
    stream = MixtureStream.from_yaml("params/tiny/mixtures/stage1.yaml", seq_len=1024, seed=0, dp_rank=0, dp_size=1)
    seq = next(iter(stream))     # a prolong.data.packing.PackedSequence

The tiny scale's corpus, tokenizer and token stores are built by prolong.tiny.build_tiny (`prolong data build-tiny`).
"""
