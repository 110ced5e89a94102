"""Partial-label learning methods as pure functions of logits and targets.

Base learners supply a loss and a confidence update (``corr``, ``proden``);
rebalancers adjust the logits the update sees and the test logits
(``rebalance``: RECORDS and Oracle-LA); ``mixup`` holds the mixing pieces;
``steps.py`` wires them into a train step. Nothing here knows about devices.
"""

from ltpll_jax.methods.corr import corr_loss
from ltpll_jax.methods.corr import corr_update
from ltpll_jax.methods.proden import proden_loss
from ltpll_jax.methods.proden import proden_update
from ltpll_jax.methods.rebalance import records_prior

__all__ = ['corr_loss', 'corr_update', 'proden_loss', 'proden_update',
           'records_prior']
