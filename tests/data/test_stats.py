"""Table 3 / Table 14 statistics of token stores (prolong.data.stats) on known document lengths."""

import numpy as np


def test_stats_tables_on_known_lengths(make_store):
    from tests.helpers.data import FAKE_TOK  # noqa: F401
    from prolong.data.stats import length_share_table, long_tokens_table
    from prolong.data.token_store import TokenStore

    docs = [np.zeros(n, np.uint32) for n in (100, 5000, 9000, 40000)]
    store = TokenStore.open(make_store("s", docs))
    t3 = long_tokens_table({"S": store}, min_tokens=5000, unit=1000)
    assert t3.to_dict("records") == [{"source": "S", "long_tokens_B": 54.0}]
    t14 = length_share_table({"S": store})
    assert t14.to_dict("records") == [{"source": "S", ">4K": 75.0, ">8K": 50.0, ">16K": 25.0, ">32K": 25.0}]
