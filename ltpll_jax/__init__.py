"""ltpll_jax: long-tailed partial-label learning (RECORDS and baselines) in JAX.

RECORDS: "Long-Tailed Partial Label Learning via Dynamic Rebalancing", Hong et
al., ICLR 2023, https://openreview.net/forum?id=sXfWoK4KvSW.
"""

__version__ = '0.1.0'
