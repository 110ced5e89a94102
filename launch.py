"""Entry point: ``python launch.py --config=configs/X.py --workdir=DIR``.

Exit status: 0 done, 2 invalid config or input (one line on stderr naming the
problem), 1 anything else. ``--only_data`` builds and checks the data set,
writes ``config.json`` and ``dataset.json`` to the workdir, and stops.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ltpll_jax.errors import InputError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    'config', None, 'Experiment configuration file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints and results.')
flags.DEFINE_bool('distributed', False,
                  'Call jax.distributed.initialize() first: every host of a '
                  'TPU pod slice or GPU cluster runs the same command.')
flags.DEFINE_bool('only_data', False,
                  'Build and check the data set, write config.json and '
                  'dataset.json, and exit without training.')
flags.mark_flags_as_required(['config', 'workdir'])


def _exit_invalid(message: str) -> None:
  print('error: ' + ' '.join(message.split()), file=sys.stderr)
  sys.exit(2)


def _parse_flags(argv):
  # A typo in a --config.KEY override or a bad value is bad input.
  try:
    return FLAGS(argv)
  except (AttributeError, KeyError) as e:
    key = str(e).strip('"\'')
    _exit_invalid(f'unknown config key {key!r} in a --config.* override (the '
                  'config is locked against typos)')
  except (flags.Error, TypeError, ValueError) as e:
    _exit_invalid(str(e))


def main(argv):
  del argv
  config, workdir = FLAGS.config, FLAGS.workdir
  try:
    config.keys()
  except Exception as e:  # pylint: disable=broad-except
    # The config file is loaded lazily: a missing or broken one lands here.
    _exit_invalid(f'--config={FLAGS["config"].config_filename}: {e}')
  if not FLAGS['verbosity'].present:
    # JAX and orbax log at INFO on every start and save; progress and results
    # go through ltpll_jax's own console logger.
    logging.set_verbosity(logging.WARNING)
  # Imported here so that flag errors do not pay for importing JAX.
  import jax  # pylint: disable=g-import-not-at-top
  if FLAGS.distributed:
    jax.distributed.initialize()
  from ltpll_jax import prepare  # pylint: disable=g-import-not-at-top
  from ltpll_jax import validation  # pylint: disable=g-import-not-at-top
  try:
    if FLAGS.only_data:
      validation.validate_config(config)
      prepare.prepare_data(config, workdir)
      return
    validation.validate_config(config, num_devices=jax.device_count())
    from ltpll_jax import train  # pylint: disable=g-import-not-at-top
    train.train_and_evaluate(config, workdir)
  except InputError as e:
    _exit_invalid(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
