"""CORR + RECORDS with Mixup on PASCAL VOC 2007, partial-label version.

Data, model and training as in configs/voc_corr.py (its docstring says where
the data comes from). Published top-1: UNKNOWN.

  python launch.py --config=configs/voc_records_mixup.py \\
      --workdir=runs/voc_records_mixup --config.data.data_dir=/path/to/VOC2007
"""

from configs import voc_records


def get_config():
  """CORR + RECORDS + Mixup, PASCAL VOC 2007 PLL."""
  config = voc_records.get_config()
  config.mixup = True
  return config
