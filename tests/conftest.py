"""Pytest set-up shared by every test module.

Eight fake CPU devices are requested before JAX initialises, so multi-device
code (pmap, sharded jit) is exercised on a machine without accelerators.
"""

import os

os.environ.setdefault('XLA_FLAGS', '')
if '--xla_force_host_platform_device_count' not in os.environ['XLA_FLAGS']:
  os.environ['XLA_FLAGS'] += ' --xla_force_host_platform_device_count=8'
# TensorFlow is imported by TFDS only; keep it quiet and off any accelerator.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Tests are CPU tests, also on a machine that has an accelerator.
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

from absl import flags  # pylint: disable=g-import-not-at-top

flags.FLAGS.mark_as_parsed()

import tempfile  # pylint: disable=g-import-not-at-top,g-bad-import-order

import jax  # pylint: disable=g-import-not-at-top

# Tests compile many small programs: skip XLA's expensive optimisation passes
# and share compiled programs between tests through a session-local cache.
jax.config.update('jax_disable_most_optimizations', True)
jax.config.update('jax_compilation_cache_dir',
                  tempfile.mkdtemp(prefix='ltpll_jax_test_cache_'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
