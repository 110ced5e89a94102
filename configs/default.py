"""Shared base configuration: the published CIFAR-10-LT CORR protocol.

Every experiment file in ``configs/`` imports this one and overrides only its
deltas. The values are those of the RECORDS README command (ALGORITHMS.md
section 4.1): ResNet-18, SGD lr 0.01 with momentum 0.9, coupled weight decay
1e-3, per-epoch cosine to 1e-5, 800 epochs, batch 256, rho 100, q 0.3, seed 123.

Any key can be overridden on the command line, for example::

  python launch.py --config=configs/cifar10_corr.py --workdir=runs/x \\
      --config.data.partial_rate=0.5 --config.optim.epochs=400
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The base configuration."""
  config = ml_collections.ConfigDict()
  config.seed = 123
  # Base learner: 'corr' | 'proden' | 'solar'.
  config.method = 'corr'
  # Rebalancing of the disambiguation and test logits:
  # 'none' | 'records' | 'oracle_la'.
  config.rebalance = 'none'
  config.mixup = False
  # Weight of the mixup loss (the published --alpha; not the Beta parameter).
  config.mixup_weight = 1.0
  # 'pmap' (one replica per local device) or 'jit' (batch sharded on a mesh).
  config.parallel = 'pmap'

  config.data = data = ml_collections.ConfigDict()
  # 'cifar10' | 'cifar100' | 'fashion_mnist' | 'voc' | 'synthetic'.
  data.name = 'cifar10'
  data.num_classes = 10
  # 'tfds' (downloads on first use) or 'local' (files in data.data_dir).
  data.source = 'tfds'
  # Local source folder ('' = the data set's default, if it has one).
  data.data_dir = ''
  # TFDS data_dir ('' = TFDS's default, ~/tensorflow_datasets).
  data.tfds_dir = ''
  # Whether TFDS may download a data set that is not prepared yet.
  data.download = True
  data.imbalance_ratio = 100.0
  data.partial_rate = 0.3
  # 'uniform' or 'hierarchical' (CIFAR-100-LT-NU: 8q in-superclass, q out).
  data.candidates = 'uniform'
  # 'published' (bit-exact reference subsets) or 'seeded' (from config.seed).
  data.rng_mode = 'published'
  # The published code normalises CIFAR-10 *test* images with the CIFAR-100
  # constants (ALGORITHMS.md 1.5); False uses CIFAR-10's own.
  data.published_test_normalization = True
  # Only for data.name = 'synthetic' (tests and smoke runs).
  data.synthetic = ml_collections.ConfigDict(dict(
      train_per_class=100, test_per_class=20, image_size=16, channels=3,
      num_superclasses=2))

  config.model = ml_collections.ConfigDict()
  config.model.name = 'resnet18'
  # Channels of the first stage (0: the model's default).
  config.model.width = 0

  config.optim = optim = ml_collections.ConfigDict()
  optim.lr = 0.01
  optim.momentum = 0.9
  optim.weight_decay = 1e-3
  optim.min_lr = 1e-5
  optim.epochs = 800
  optim.batch_size = 256

  config.corr = ml_collections.ConfigDict()
  # Epoch from which the confidence table is updated (0-based).
  config.corr.update_start_epoch = 1

  config.records = ml_collections.ConfigDict()
  # Momentum of the feature-mean EMA that gives RECORDS' class prior.
  config.records.momentum = 0.9

  config.oracle_la = ml_collections.ConfigDict()
  # 'post_hoc' | 'constant_prior_disambiguation' | 'la_loss' (ALGORITHMS 6).
  config.oracle_la.variant = 'constant_prior_disambiguation'
  config.oracle_la.tau = 1.0

  config.solar = sol = ml_collections.ConfigDict()
  # SoLar as ported in the RECORDS code base (ALGORITHMS.md 7): a prior
  # pre-estimation stage of est_epochs with a fresh model, then optim.epochs.
  sol.est_epochs = 100
  sol.gamma_stage1 = 0.1
  sol.gamma_stage2 = 0.01
  sol.rho_start = 0.2
  sol.rho_end = 0.6
  sol.eta = 0.9
  sol.warmup_epochs = 50
  sol.tau = 0.99
  # Sinkhorn exponent lambda and iterations; queue of queue_batches batches.
  sol.power = 3.0
  sol.sinkhorn_iters = 50
  sol.queue_batches = 64

  config.eval_every_epochs = 1
  config.eval_batch_size = 1024
  config.checkpoint_every_epochs = 10
  config.keep_checkpoints = 3
  config.log_every_steps = 50
  return config
