"""Networks: the CIFAR ResNet-18 of the published code and small CPU nets.

Every model maps ``[B, H, W, C]`` float images to ``(logits [B, K], features
[B, D])``: ``features`` is the pooled encoder output after the last ReLU (so
non-negative), the input of the linear ``head`` (a Dense *with* bias, which
RECORDS reads to turn its feature mean into a class prior).

ResNet-18 follows ALGORITHMS.md section 3 ("ResNet_s"): a 3x3 stride-1 stem
without max-pool, four stages of two BasicBlocks (64/128/256/512, strides
1/2/2/2), 1x1 conv + BN shortcuts where the shape changes, Kaiming-normal
fan-out convolutions, PyTorch's default Linear init (uniform in
+-1/sqrt(fan_in) for weight and bias), BatchNorm with PyTorch's momentum 0.1
(Flax 0.9) and eps 1e-5. ``axis_name`` makes BatchNorm average its batch
statistics across devices under ``pmap``.
"""

import functools
import math
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# Kaiming normal, fan-out mode, ReLU gain: std = sqrt(2 / (out_ch * kh * kw)).
conv_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


def _torch_linear_bias_init(fan_in: int) -> Callable[..., jax.Array]:
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def head(num_classes: int, fan_in: int) -> nn.Dense:
  """PyTorch-style ``nn.Linear(fan_in, K)``: weight, bias U(+-1/sqrt(fan_in)).

  Created inside a parent's compact ``__call__``, so its parameters sit at
  ``params['head']`` in every model.
  """
  # variance_scaling(1/3, fan_in, uniform) is U(+-sqrt(3 * 1/3 / fan_in)).
  return nn.Dense(
      num_classes, name='head',
      kernel_init=nn.initializers.variance_scaling(1.0 / 3.0, 'fan_in',
                                                   'uniform'),
      bias_init=_torch_linear_bias_init(fan_in))


def _norm(train: bool, axis_name: Optional[str]) -> Callable[..., Any]:
  # Two-pass variance, as PyTorch computes it (not E[x^2] - E[x]^2).
  return functools.partial(nn.BatchNorm, use_running_average=not train,
                           momentum=0.9, epsilon=1e-5, axis_name=axis_name,
                           use_fast_variance=False)


def _conv(features: int, kernel: int = 3, stride: int = 1) -> nn.Conv:
  return nn.Conv(features, (kernel, kernel), (stride, stride),
                 padding=[(kernel // 2, kernel // 2)] * 2, use_bias=False,
                 kernel_init=conv_init)


class BasicBlock(nn.Module):
  """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU."""
  features: int
  stride: int
  norm: Callable[..., Any]

  @nn.compact
  def __call__(self, x, mask=None):
    norm = lambda y: self.norm()(y, mask=mask)
    y = nn.relu(norm(_conv(self.features, 3, self.stride)(x)))
    y = norm(_conv(self.features)(y))
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.features:
      shortcut = norm(_conv(self.features, 1, self.stride)(x))
    return nn.relu(y + shortcut)


def _bn_mask(mask: Optional[jax.Array]) -> Optional[jax.Array]:
  """``[B]`` row mask -> ``[B, 1, 1, 1]``, broadcastable to feature maps."""
  return None if mask is None else mask.reshape(-1, 1, 1, 1)


class ResNet(nn.Module):
  """CIFAR-stem ResNet; returns ``(logits [B, K], features [B, widths[-1]])``.
  """
  num_classes: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  widths: Sequence[int] = (64, 128, 256, 512)
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, train: bool = True, mask=None):
    """Args: x ``[B, H, W, C]``; train: batch statistics (and their update)
    or running ones; mask: optional ``[B]`` bool rows that BatchNorm's batch
    statistics are computed over (SoLar's mixup forward)."""
    norm = _norm(train, self.axis_name)
    mask = _bn_mask(mask)
    x = nn.relu(norm()(_conv(self.widths[0])(x), mask=mask))
    for i, (blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
      for j in range(blocks):
        stride = 2 if i > 0 and j == 0 else 1
        x = BasicBlock(width, stride, norm)(x, mask)
    features = jnp.mean(x, axis=(1, 2))
    return head(self.num_classes, features.shape[-1])(features), features


class SmallCNN(nn.Module):
  """A small conv net for Fashion-MNIST on a CPU.

  Three conv-BN-ReLU layers (``width``, 2x, 4x channels; strides 1, 2, 2) and
  global average pooling; features are ``4 * width``-d. At width 16 a 2-core
  CPU runs the CORR step (two 28x28 views per sample) at about 1,000 samples
  per second.
  """
  num_classes: int
  width: int = 16
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, train: bool = True, mask=None):
    """As ``ResNet.__call__``."""
    norm = _norm(train, self.axis_name)
    mask = _bn_mask(mask)
    for i, stride in enumerate((1, 2, 2)):
      x = nn.relu(norm()(_conv(self.width * 2**i, 3, stride)(x), mask=mask))
    features = jnp.mean(x, axis=(1, 2))
    return head(self.num_classes, features.shape[-1])(features), features


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2))
# Used for testing only: one block per stage, 8 to 16 channels.
_ResNetTiny = functools.partial(ResNet, stage_sizes=(1, 1), widths=(8, 16))

MODELS = {
    'resnet18': ResNet18,
    'small_cnn': SmallCNN,
    'tiny': _ResNetTiny,
}


def register_model(name: str, constructor: Callable[..., nn.Module]) -> None:
  """Makes ``config.model.name=name`` build ``constructor(num_classes=K,
  axis_name=...)``.

  The module's ``__call__(x, train=True, mask=None)`` must return
  ``(logits [B, K], features [B, D])``, name its last layer ``'head'`` (a
  Dense with bias; RECORDS reads it) and pass ``axis_name`` to its
  BatchNorm layers, if any. ``mask`` (a ``[B]`` row mask for BatchNorm
  statistics) is only used by SoLar and may be ignored otherwise.
  """
  MODELS[name] = constructor


def create_model(name: str, *, num_classes: int,
                 axis_name: Optional[str] = None, width: int = 0
                ) -> nn.Module:
  """The model registered as ``name`` (see ``MODELS``).

  Args:
    name: a key of ``MODELS``.
    num_classes: K.
    axis_name: BatchNorm's cross-device axis (None: no cross-device stats).
    width: channels of the first stage (0: the model's default); ResNets
      double it in every later stage.
  """
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; known: {sorted(MODELS)}')
  kwargs = {}
  if width and name == 'small_cnn':
    kwargs['width'] = width
  elif width and name in ('resnet18', 'tiny'):
    stages = len(MODELS[name].keywords.get('stage_sizes', (2, 2, 2, 2)))
    kwargs['widths'] = tuple(width * 2**i for i in range(stages))
  return MODELS[name](num_classes=num_classes, axis_name=axis_name, **kwargs)
