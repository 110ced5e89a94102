"""CORR on PASCAL VOC 2007, partial-label version (ALGORITHMS.md 1.6).

The data is the RECORDS authors' Google-Drive archive (linked from their
README; it cannot be downloaded automatically). Extract it so that
``<data.data_dir>/PLL/train_var/images_PLL.csv`` exists; the published code
reads it from ``./data/VOC2017`` (a typo for 2007), the default here is
``data/VOC2007`` relative to the working directory. ``launch.py
--only_data`` checks the folder and reports the class counts it finds.

The candidate sets come with the data and the class sizes are VOC's own, so
``data.imbalance_ratio``, ``data.partial_rate``, ``data.candidates`` and
``data.rng_mode`` are ignored. Images are padded to squares and resized to
128x128; the CIFAR-stem ResNet-18 and the augmentations are unchanged (the
crops follow the image size), so the last feature map is 16x16. Training
keeps the CIFAR protocol of configs/default.py (the published code has no
VOC command). Published top-1: UNKNOWN.

  python launch.py --config=configs/voc_corr.py --workdir=runs/voc_corr \\
      --config.data.data_dir=/path/to/VOC2007
"""

from configs import default


def get_config():
  """CORR, PASCAL VOC 2007 PLL."""
  config = default.get_config()
  config.data.name = 'voc'
  config.data.num_classes = 20
  config.data.source = 'local'
  config.data.data_dir = 'data/VOC2007'
  return config
