"""Run outputs: results.json, per-class and prior plots, Markdown tables.

Plots are drawn on a bare `matplotlib.figure.Figure` with the Agg canvas, so
nothing touches pyplot's global state or needs a display.
"""

import os
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib import figure as mpl_figure
from matplotlib.backends import backend_agg
import numpy as np

from ltpll_jax import metrics
from ltpll_jax import workdir as workdir_lib

# Above this many classes per-class tick labels overlap; ticks every
# `_TICK_STEP` ranks are drawn instead.
_MAX_LABELLED_CLASSES = 30
_TICK_STEP = 10


def write_results(workdir: str, last: dict[str, Any], best: dict[str, Any],
                  best_epoch: int, epochs_run: int, **extra: Any) -> str:
  """Writes `workdir/results.json` atomically (temp file, then os.replace).

  Args:
    workdir: the run's folder (created if missing).
    last: R of the last evaluated epoch (see `metrics.summarize`).
    best: R of the best-on-test epoch.
    best_epoch: the epoch `best` comes from.
    epochs_run: epochs trained so far.
    **extra: further JSON-serialisable top-level keys.

  Returns:
    The path written.
  """
  path = os.path.join(workdir, 'results.json')
  workdir_lib.write_json(path, {
      'last': last,
      'best': best,
      'best_epoch': int(best_epoch),
      'epochs_run': int(epochs_run),
      **extra,
  })
  return path


def total_variation(p: Any, q: Any) -> float:
  """Total-variation distance 0.5 * sum_k |p_k - q_k|.

  Args:
    p: [K] distribution.
    q: [K] distribution.

  Returns:
    The distance as a Python float (in [0, 1] for two distributions).

  Raises:
    ValueError: if the shapes differ.
  """
  p = np.asarray(p, np.float64)
  q = np.asarray(q, np.float64)
  if p.shape != q.shape:
    raise ValueError(f'shapes differ: {p.shape} vs {q.shape}')
  return float(0.5 * np.abs(p - q).sum())


def _order_by_size(values: np.ndarray) -> np.ndarray:
  # Stable, so equal-sized classes keep their index order.
  return np.argsort(-values, kind='stable')


def _set_class_ticks(ax, order: np.ndarray,
                     class_names: Sequence[str] | None) -> None:
  num_classes = len(order)
  if num_classes <= _MAX_LABELLED_CLASSES:
    names = ([class_names[i] for i in order] if class_names is not None
             else [str(i) for i in order])
    ax.set_xticks(np.arange(num_classes))
    ax.set_xticklabels(names, rotation=60, ha='right', fontsize=8)
    ax.set_xlabel('class (largest training set first)')
  else:
    ticks = np.arange(0, num_classes, _TICK_STEP)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel('class rank by training-set size (0 = largest)')
  ax.set_xlim(-0.6, num_classes - 0.4)


def _save(fig: mpl_figure.Figure, path: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  backend_agg.FigureCanvasAgg(fig)
  fig.savefig(path, format='png', dpi=100)


def plot_per_class(path: str, per_class_acc: Any, train_counts: Any,
                   class_names: Sequence[str] | None = None,
                   title: str = '') -> None:
  """PNG of test accuracy per class next to the training-set size.

  Classes run left to right from the largest training set to the smallest;
  bars are test accuracies, a line on a second (log) axis the training
  counts, and dotted lines mark the rank-based many/medium/few boundaries.

  Args:
    path: the PNG to write (parent folders are created).
    per_class_acc: [K] test accuracy per class in percent; None or NaN for a
      class without test images (no bar).
    train_counts: [K] training images per class.
    class_names: optional K names for the ticks (used when K <= 30).
    title: figure title.
  """
  acc = np.array([np.nan if a is None else a for a in per_class_acc],
                 np.float64)
  counts = np.asarray(train_counts, np.float64)
  if acc.shape != counts.shape:
    raise ValueError(f'shapes differ: {acc.shape} vs {counts.shape}')
  order = _order_by_size(counts)
  num_classes = len(order)
  x = np.arange(num_classes)
  fig = mpl_figure.Figure(figsize=(max(6.0, min(16.0, 0.35 * num_classes)),
                                   4.5))
  ax = fig.add_subplot()
  ax.bar(x, acc[order], color='tab:blue', alpha=0.8, label='test accuracy')
  ax.set_ylabel('test accuracy (%)')
  ax.set_ylim(0, 100)
  many, medium, _ = metrics.rank_splits(counts)
  for boundary in (many.sum(), many.sum() + medium.sum()):
    if 0 < boundary < num_classes:
      ax.axvline(boundary - 0.5, color='gray', linestyle=':', linewidth=1)
  twin = ax.twinx()
  twin.plot(x, np.maximum(counts[order], 1), color='tab:red', marker='.',
            label='training images')
  twin.set_yscale('log')
  twin.set_ylabel('training images (log)')
  _set_class_ticks(ax, order, class_names)
  handles = ax.get_legend_handles_labels()
  twin_handles = twin.get_legend_handles_labels()
  ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1],
            loc='upper right', fontsize=8)
  if title:
    ax.set_title(title)
  fig.tight_layout()
  _save(fig, path)


def plot_prior(path: str, true_prior: Any,
               snapshots: Sequence[tuple[int, Any]],
               class_names: Sequence[str] | None = None) -> None:
  """PNG of the true training prior against RECORDS' estimated priors.

  Every curve is normalised to sum to 1, so `true_prior` may also be given as
  raw class counts. Classes are ordered by true prior (largest first) on a log
  y axis; each legend entry carries the total-variation distance to the true
  prior.

  Args:
    path: the PNG to write (parent folders are created).
    true_prior: [K] training class prior or counts.
    snapshots: (epoch, [K] estimated prior) pairs, drawn in the given order.
    class_names: optional K names for the ticks (used when K <= 30).
  """
  true_p = np.asarray(true_prior, np.float64)
  true_p = true_p / true_p.sum()
  order = _order_by_size(true_p)
  x = np.arange(len(order))
  fig = mpl_figure.Figure(figsize=(max(6.0, min(16.0, 0.35 * len(order))),
                                   4.5))
  ax = fig.add_subplot()
  ax.plot(x, true_p[order], color='black', linewidth=2.5, label='true prior')
  cmap = matplotlib.colormaps['viridis']
  for i, (epoch, prior) in enumerate(snapshots):
    p = np.asarray(prior, np.float64)
    if p.shape != true_p.shape:
      raise ValueError(
          f'snapshot of epoch {epoch} has shape {p.shape}, expected '
          f'{true_p.shape}')
    p = p / p.sum()
    tv = total_variation(p, true_p)
    ax.plot(x, p[order], marker='.', linewidth=1.2,
            color=cmap(i / max(1, len(snapshots) - 1) * 0.9),
            label=f'epoch {epoch} (TV {tv:.3f})')
  ax.set_yscale('log')
  ax.set_ylabel('class prior (log)')
  ax.set_title('training class prior: true vs estimated')
  _set_class_ticks(ax, order, class_names)
  ax.legend(fontsize=8)
  fig.tight_layout()
  _save(fig, path)


def results_table(rows: dict[str, dict[str, Any]]) -> str:
  """A Markdown table of results dicts, one row per method.

  Args:
    rows: {method name: R}, R as from `metrics.summarize`.

  Returns:
    The table (no trailing newline); columns overall (top1), many, medium,
    few (rank splits) and few_threshold, to two decimals, '-' where missing.
  """
  columns = (('overall', 'top1'), ('many', 'many'), ('medium', 'medium'),
             ('few', 'few'), ('few (<20)', 'few_threshold'))
  lines = ['| method | ' + ' | '.join(c for c, _ in columns) + ' |',
           '|---|' + '---:|' * len(columns)]
  for name, r in rows.items():
    cells = []
    for _, key in columns:
      value = r.get(key)
      cells.append('-' if value is None else f'{value:.2f}')
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)
