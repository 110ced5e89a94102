"""Prints finished runs' results side by side, with where their plots are.

  python scripts/compare.py "CORR=runs/demo/corr" "CORR + RECORDS=runs/demo/records"
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ltpll_jax import report  # pylint: disable=g-import-not-at-top


def main(argv):
  rows, plots = {}, []
  for arg in argv[1:]:
    name, _, workdir = arg.rpartition('=')
    name = name or workdir
    with open(os.path.join(workdir, 'results.json')) as f:
      results = json.load(f)
    rows[f'{name} (last)'] = results['last']
    rows[f'{name} (best, epoch {results["best_epoch"] + 1})'] = (
        results['best'])
    plot_dir = os.path.join(workdir, 'plots')
    if os.path.isdir(plot_dir):
      plots += [os.path.join(plot_dir, p) for p in sorted(os.listdir(plot_dir))]
  print('Top-1 accuracy (%) on the balanced test set; many/medium/few are the '
        'rank-based splits (3/4/3 classes of 10), "few (<20)" the classes '
        'with fewer than 20 training images.\n')
  print(report.results_table(rows))
  print('\nplots:\n  ' + '\n  '.join(plots))


if __name__ == '__main__':
  main(sys.argv)
