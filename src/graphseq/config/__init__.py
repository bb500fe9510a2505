"""Models as config files: ``from_config(config)`` (a dict or a path) and ``model.to_config()``.

A config is plain data (YAML read with PyYAML's safe loader, or JSON)::

    inputs: x, edge_index, batch
    outputs: x                      # optional
    steps:
      - name: conv1                 # optional: module_<index> otherwise
        module: GCNConv             # a name in graphseq.registry
        args: [16, 64]              # optional
        kwargs: {cached: false}     # optional
        header: x, edge_index -> x1 # optional after the first step
      - module: ReLU
      - module: global_mean_pool    # a function: no args or kwargs
        header: x1, batch -> x

Nothing in a config is evaluated: ``module`` names a registry entry, whose factory is called
with the step's ``args`` and ``kwargs``. A dotted import path is accepted only with
``allow_imports=True``, which runs code named in the config (see :func:`from_config`).
Reading is bounded by :class:`Limits` (file size, nesting depth, value count).

The normal form, which :func:`to_config` returns and :func:`normalize` computes, has the
top-level keys ``inputs``, ``outputs`` (only when the model has explicit outputs) and
``steps``; every step has ``name`` and ``module``, then ``args`` and ``kwargs`` only when not
empty, then ``header`` only when one was written. ``inputs`` and ``outputs`` are written as
``'a, b'``. So ``to_config(from_config(c)) == normalize(c)`` for every valid config ``c``.

One file per job: :mod:`~graphseq.config.read` reads files within the limits,
:mod:`~graphseq.config.schema` checks the schema, :mod:`~graphseq.config.make` makes the
steps and builds the model, :mod:`~graphseq.config.write` writes the normal form and a model
back as a config, and :mod:`~graphseq.config.records` holds the records they share.
"""

from __future__ import annotations

from .make import from_config
from .read import load
from .records import ConfigError, Limits, Problem
from .write import normalize, save, to_config

__all__ = [
    "ConfigError",
    "Limits",
    "Problem",
    "from_config",
    "load",
    "normalize",
    "save",
    "to_config",
]
