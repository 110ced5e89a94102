"""Files in a run's workdir: the resolved config and JSON written atomically.
"""

import json
import os
from typing import Any

import ml_collections


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` as indented JSON; readers never see a half-written file."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """``workdir/config.json``: the resolved config, overrides applied."""
  write_json(os.path.join(workdir, 'config.json'), config.to_dict())
