"""CORR + RECORDS on PASCAL VOC 2007, partial-label version.

CORR with RECORDS' dynamic rebalancing of the disambiguation and the test
logits; data, model and training as in configs/voc_corr.py (its docstring
says where the data comes from). Published top-1: UNKNOWN.

  python launch.py --config=configs/voc_records.py --workdir=runs/voc_records \\
      --config.data.data_dir=/path/to/VOC2007
"""

from configs import voc_corr


def get_config():
  """CORR + RECORDS, PASCAL VOC 2007 PLL."""
  config = voc_corr.get_config()
  config.rebalance = 'records'
  return config
