"""Runs a grid of configs x partial rates x seeds and writes RESULTS.md.

Each cell is one ``launch.py`` run in its own workdir under ``--out``. A
cell whose ``results.json`` exists is skipped; an unfinished one resumes
from its checkpoints, so re-running the command after an interruption
continues where it stopped. At the end (and with ``--report_only``) the
finished cells are summarised in ``RESULTS.md`` (mean +- std over seeds of
overall / many / medium / few accuracy, last and best epoch, with the exact
command of every cell) and one summary plot.

  python benchmarks/reproduce.py --grid=fmnist            # the CPU table
  python benchmarks/reproduce.py --grid=fmnist --report_only
  python benchmarks/reproduce.py --grid=cifar10           # needs an accelerator

Seeds vary ``config.seed`` (initialisation, augmentation, data order) on the
same published data subset (``data.rng_mode='published'``), so every method
sees the same long-tailed candidate sets.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, config file) in table order.
FMNIST_METHODS = [
    ('CORR', 'fmnist_corr'),
    ('CORR + Oracle-LA', 'fmnist_oracle_la'),
    ('CORR + RECORDS', 'fmnist_records'),
    ('CORR + RECORDS + Mixup', 'fmnist_records_mixup'),
    ('SoLar', 'fmnist_solar'),
    ('PRODEN', 'fmnist_proden'),
    ('PRODEN + RECORDS', 'fmnist_proden_records'),
]
CIFAR10_METHODS = [
    ('CORR', 'cifar10_corr'),
    ('CORR + Oracle-LA', 'cifar10_oracle_la'),
    ('CORR + RECORDS', 'cifar10_records'),
    ('SoLar', 'cifar10_solar'),
    ('CORR + RECORDS + Mixup', 'cifar10_records_mixup'),
]
# name -> (methods, partial rates, seeds, extra overrides of every cell).
GRIDS = {
    # 42 cells in 64 minutes on 2 CPU cores: 5 epochs each (SoLar:
    # 1 + 5, its ramps over 2 epochs), the fmnist_*.py settings otherwise.
    'fmnist': (FMNIST_METHODS, (0.3, 0.5, 0.7), (0, 1),
               ('--config.optim.epochs=5', '--config.solar.est_epochs=1',
                '--config.solar.warmup_epochs=2')),
    'cifar10': (CIFAR10_METHODS, (0.3, 0.5, 0.7), (123,), ()),
    # A seconds-long grid for tests and smoke checks.
    'test': ([('CORR', 'test'), ('CORR + RECORDS', 'test')], (0.3,), (0, 1),
             ('--config.optim.epochs=1',)),
}
# What a reader of RESULTS.md needs to know about a grid's settings.
GRID_NOTES = {
    'fmnist': (
        'Real Fashion-MNIST-LT (Debian IDX files), rho 100 (6000 ... 60 '
        'training images per class), uniform candidates, the same published '
        'subset for every seed; the fmnist_*.py settings (3-layer CNN at '
        'width 16, batch 256, lr 0.05, SGD momentum 0.9, weight decay 1e-3, '
        'per-epoch cosine) cut to 5 epochs per cell so that the 42 cells fit '
        'about 90 minutes on 2 CPU cores. SoLar gets a 1-epoch prior '
        'pre-estimation stage, then 5 epochs with its rho / eta ramps over '
        'the first 2. These are minutes-long CPU runs, not the published '
        '800-epoch protocol.'),
}
# Per-method overrides of the test grid (it has one config file).
TEST_METHOD_OVERRIDES = {'CORR + RECORDS': ('--config.rebalance=records',)}
SPLITS = ('top1', 'many', 'medium', 'few')


def cells(grid: str) -> list[dict]:
  """Every run of ``grid``: label, q, seed, workdir name and arguments."""
  methods, rates, seeds, extra = GRIDS[grid]
  out = []
  for label, config in methods:
    for q in rates:
      for seed in seeds:
        name = f'{config}_q{q}_s{seed}'
        if grid == 'test':
          name = f'{label.replace(" + ", "_").lower()}_q{q}_s{seed}'
        args = [f'--config=configs/{config}.py',
                f'--config.data.partial_rate={q}', f'--config.seed={seed}',
                *extra, *(TEST_METHOD_OVERRIDES.get(label, ())
                          if grid == 'test' else ())]
        out.append({'label': label, 'q': q, 'seed': seed, 'name': name,
                    'args': args})
  return out


def command(cell: dict, out_dir: str) -> list[str]:
  return ['python', 'launch.py', *cell['args'],
          f'--workdir={os.path.join(out_dir, cell["name"])}']


def run_cells(grid: str, out_dir: str, python: str) -> None:
  """Runs every unfinished cell, one at a time."""
  todo = [c for c in cells(grid) if not os.path.exists(
      os.path.join(out_dir, c['name'], 'results.json'))]
  print(f'{len(cells(grid)) - len(todo)} cells done, {len(todo)} to run')
  for i, cell in enumerate(todo):
    cmd = command(cell, out_dir)
    print(f'[{i + 1}/{len(todo)}] {" ".join(cmd)}', flush=True)
    start = time.time()
    log = os.path.join(out_dir, cell['name'] + '.log')
    os.makedirs(out_dir, exist_ok=True)
    with open(log, 'a') as f:
      status = subprocess.call([python] + cmd[1:], cwd=ROOT, stdout=f,
                               stderr=subprocess.STDOUT)
    seconds = time.time() - start
    print(f'    exit {status} after {seconds:.0f} s (log {log})', flush=True)
    if status != 0:
      raise SystemExit(f'cell {cell["name"]} failed; see {log}')
    with open(os.path.join(out_dir, cell['name'] + '.seconds'), 'w') as f:
      f.write(f'{seconds:.1f}\n')


def _wall_minutes(grid: str, out_dir: str) -> tuple[int, float]:
  """(cells timed, their summed wall minutes) from the ``.seconds`` files.

  A cell that was resumed records only its last invocation.
  """
  total, count = 0.0, 0
  for cell in cells(grid):
    path = os.path.join(out_dir, cell['name'] + '.seconds')
    if os.path.exists(path):
      with open(path) as f:
        total += float(f.read())
      count += 1
  return count, total / 60


def _stat(values: list[float]) -> str:
  values = [v for v in values if v is not None]
  if not values:
    return '-'
  if len(values) == 1:
    return f'{values[0]:.2f}'
  return f'{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}'


def summarize(grid: str, out_dir: str) -> dict:
  """Collects finished cells: {(label, q): {'last': [R], 'best': [R]}}."""
  table = {}
  for cell in cells(grid):
    path = os.path.join(out_dir, cell['name'], 'results.json')
    if not os.path.exists(path):
      continue
    with open(path) as f:
      results = json.load(f)
    entry = table.setdefault((cell['label'], cell['q']),
                             {'last': [], 'best': [], 'cells': []})
    entry['last'].append(results['last'])
    entry['best'].append(results['best'])
    entry['cells'].append(cell)
  return table


def write_report(grid: str, out_dir: str, path: str, plot: str) -> None:
  """RESULTS.md and the summary plot from the finished cells."""
  table = summarize(grid, out_dir)
  methods, rates, seeds, _ = GRIDS[grid]
  lines = [f'# Results: grid `{grid}`', '',
           f'Regenerate: `python benchmarks/reproduce.py --grid={grid} '
           f'--out={out_dir}` (finished cells are skipped). Accuracy in % on '
           'the balanced test set, mean ± std over seeds '
           f'{", ".join(map(str, seeds))}; many/medium/few are the rank-based '
           'splits (3/4/3 classes of 10); "last" is the final epoch, "best" '
           'the best epoch on the test set.', '']
  if grid in GRID_NOTES:
    lines += [GRID_NOTES[grid], '']
  timed, minutes = _wall_minutes(grid, out_dir)
  if timed:
    lines += [f'Wall time: {timed} cells ran in {minutes:.0f} minutes '
              '(sum over cells, one at a time, on the machine that made '
              'them).', '']
  for q in rates:
    lines += [f'## q = {q}', '',
              '| method | seeds | overall (last) | many | medium | few | '
              'overall (best) |', '|---|---:|---:|---:|---:|---:|---:|']
    for label, _ in methods:
      entry = table.get((label, q))
      if entry is None:
        lines.append(f'| {label} | 0 | not run | | | | |')
        continue
      last = [_stat([r[k] for r in entry['last']]) for k in SPLITS]
      best = _stat([r['top1'] for r in entry['best']])
      lines.append(f'| {label} | {len(entry["last"])} | ' +
                   ' | '.join(last) + f' | {best} |')
    lines.append('')
  lines += ['## Commands', '']
  for (label, q), entry in sorted(table.items(), key=lambda kv: kv[0][1]):
    for cell in entry['cells']:
      lines.append(f'- {label}, q {q}, seed {cell["seed"]}: '
                   f'`{" ".join(command(cell, out_dir))}`')
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  _plot(table, methods, rates, plot)
  print(f'wrote {path} and {plot}')


def _plot(table, methods, rates, path):
  """Grouped bars: per q, per method, overall/many/medium/few (last epoch)."""
  from matplotlib import figure as mpl_figure  # pylint: disable=g-import-not-at-top
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top
  fig = mpl_figure.Figure(figsize=(4.5 * len(rates), 4.5))
  backend_agg.FigureCanvasAgg(fig)
  axes = fig.subplots(1, len(rates), squeeze=False)[0]
  width = 0.8 / len(SPLITS)
  for ax, q in zip(axes, rates):
    x = np.arange(len(methods))
    for i, split in enumerate(SPLITS):
      means, stds = [], []
      for label, _ in methods:
        vals = [r[split] for r in table.get((label, q), {'last': []})['last']
                if r[split] is not None]
        means.append(np.mean(vals) if vals else np.nan)
        stds.append(np.std(vals, ddof=1) if len(vals) > 1 else 0.0)
      ax.bar(x + (i - 1.5) * width, means, width, yerr=stds, label=split,
             capsize=2)
    ax.set_xticks(x)
    ax.set_xticklabels([m for m, _ in methods], rotation=45, ha='right',
                       fontsize=7)
    ax.set_title(f'q = {q}')
    ax.set_ylim(0, 100)
    ax.set_ylabel('test accuracy (%)')
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--grid', choices=sorted(GRIDS), default='fmnist')
  parser.add_argument('--out', default=None,
                      help='folder of the cells (default runs/reproduce_GRID)')
  parser.add_argument('--results', default=None,
                      help='report path (default RESULTS.md for fmnist, '
                      'else OUT/RESULTS.md)')
  parser.add_argument('--report_only', action='store_true')
  parser.add_argument('--python', default=sys.executable)
  args = parser.parse_args()
  out_dir = args.out or os.path.join('runs', f'reproduce_{args.grid}')
  results = args.results or ('RESULTS.md' if args.grid == 'fmnist' else
                             os.path.join(out_dir, 'RESULTS.md'))
  plot = os.path.join(os.path.dirname(os.path.abspath(results)),
                      f'results_{args.grid}.png')
  if not args.report_only:
    run_cells(args.grid, out_dir, args.python)
  write_report(args.grid, out_dir, results, plot)


if __name__ == '__main__':
  main()
