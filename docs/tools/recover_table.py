"""How many hand-built layers ``to_config()`` describes: the coverage table in docs/configs.md.

For every class the registry holds from ``torch.nn`` and ``torch_geometric.nn`` (a factory,
not a function), one instance is made with its default arguments, and up to two more with a
non-default value of an optional argument (a flag flipped, a number changed). The required
arguments come from one table of names (``in_channels=8``, ``heads=2``...); a class whose
constructor needs an argument the table lacks, or refuses the table's values, is counted as
*not constructed* and left out of the shares. Each instance that is constructed round-trips
when :func:`graphseq.config.recover.recover` describes it, which means that the description
rebuilt the same ``repr``, plain attributes, ``state_dict`` keys, shapes and dtypes, and the
same output on a probe with the weights copied.

Run ``python docs/tools/recover_table.py`` to print the table, ``--write docs/configs.md`` to
put it in the page; ``tests/test_recover_table.py`` re-measures it.
"""

from __future__ import annotations

import argparse
import inspect
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from graphseq import registry
from graphseq.config.recover import Unrecoverable, recover

START = "<!-- recover-table:start -->"
END = "<!-- recover-table:end -->"

FILL: dict[str, Any] = {
    "in_channels": 8, "out_channels": 8, "in_features": 8, "out_features": 8,
    "num_features": 8, "hidden_channels": 8, "channels": 8, "embed_dim": 8, "d_model": 8,
    "num_heads": 2, "nhead": 2, "heads": 2, "num_layers": 2, "kernel_size": 3, "p": 0.5,
    "dim": 1, "normalized_shape": 8, "num_embeddings": 10, "embedding_dim": 4,
    "input_size": 8, "hidden_size": 8, "num_groups": 2, "num_channels": 8, "size": 4,
    "scale_factor": 2, "upscale_factor": 2, "downscale_factor": 2, "output_size": 4,
    "padding": 1, "in1_features": 8, "in2_features": 8, "lambd": 0.5, "alpha": 1.0,
    "beta": 1.0, "threshold": 0.1, "value": 0.0, "K": 2, "k": 2, "num_relations": 3,
    "edge_dim": 4, "num_bases": 2, "ratio": 0.5, "num_nodes": 10, "out_dim": 8, "in_dim": 8,
    "unflattened_size": [2, 4], "cutoff_ratio": 0.5, "div_val": 2, "n_classes": 10,
    "cutoffs": [4, 8], "normalized_shape_": 8, "num_node_types": 2, "num_edge_types": 2,
    "hidden_dim": 8, "nn_hidden": 8, "max_degree": 4, "num_timesteps": 2, "dims": [8, 8],
}
"""Values for required arguments, by name."""


@dataclass
class Row:
    """One class: whether it was constructed, and each instance's result."""

    name: str
    source: str  # "torch.nn" or "torch_geometric.nn"
    default: str  # "yes", "no: why", or "not constructed: why"
    variants: list[tuple[str, str]]  # ("bias=False", "yes" or "no: why")


def classes() -> list[tuple[str, type]]:
    """The registry's factories that are classes of ``torch.nn`` or ``torch_geometric.nn``."""
    found = []
    for name in registry.names():
        if registry.kind(name) != "factory":
            continue
        cls = registry.get(name)
        module = getattr(cls, "__module__", "")
        if isinstance(cls, type) and module.startswith(("torch.nn.", "torch_geometric.nn.")):
            if registry.name_of(cls) == name:  # one row per class
                found.append((name, cls))
    return found


def _required(cls: type) -> tuple[list[Any], dict[str, Any], list[inspect.Parameter]] | str:
    """Positional values for the required arguments, and the optional parameters."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return "no signature"
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    optional = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            if param.name not in FILL:
                return f"needs {param.name!r}"
            if param.kind is param.KEYWORD_ONLY:
                kwargs[param.name] = FILL[param.name]
            else:
                args.append(FILL[param.name])
        else:
            optional.append(param)
    return args, kwargs, optional


def _variants(optional: list[inspect.Parameter]) -> list[tuple[str, Any]]:
    """Up to two non-default values of optional arguments: flags first, then numbers."""
    picked: list[tuple[str, Any]] = []
    for param in optional:
        if isinstance(param.default, bool):
            picked.append((param.name, not param.default))
    for param in optional:
        default = param.default
        if isinstance(default, int) and not isinstance(default, bool) and default > 0:
            picked.append((param.name, default + 1))
        elif isinstance(default, float) and 0 < default < 1:
            picked.append((param.name, round(default / 2, 6)))
    return [p for p in picked if p[0] not in ("inplace",)][:2] or picked[:2]


def _result(module: torch.nn.Module) -> str:
    try:
        recover(module)
    except Unrecoverable as error:
        return "no: " + _short(str(error))
    except Exception as error:  # a bug in recovery would show here, not be hidden
        return f"no: {type(error).__name__}: {_short(str(error))}"
    return "yes"


def _short(text: str) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= 110 else text[:107] + "..."


def measure(name: str, cls: type) -> Row:
    """Construct the class's instances and try to describe each."""
    source = "torch_geometric.nn" if cls.__module__.startswith("torch_geometric") else "torch.nn"
    required = _required(cls)
    if isinstance(required, str):
        return Row(name, source, f"not constructed: {required}", [])
    args, kwargs, optional = required
    torch.manual_seed(0)
    try:
        module = cls(*args, **kwargs)
    except Exception as error:
        return Row(name, source, f"not constructed: {type(error).__name__}", [])
    if not isinstance(module, torch.nn.Module):
        return Row(name, source, "not constructed: not a module", [])
    row = Row(name, source, _result(module), [])
    for key, value in _variants(optional):
        try:
            other = cls(*args, **{**kwargs, key: value})
        except Exception:
            continue  # this value is not valid with the table's: not a constructed instance
        row.variants.append((f"{key}={value!r}", _result(other)))
    return row


def rows() -> list[Row]:
    """Every class's row, measured with warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [measure(name, cls) for name, cls in classes()]


def shares(measured: list[Row]) -> dict[str, tuple[int, int]]:
    """Per source and overall: (round-trips, constructed) for defaults and non-defaults."""
    out: dict[str, tuple[int, int]] = {}
    for source in ("torch.nn", "torch_geometric.nn", "all"):
        part = [r for r in measured if source in ("all", r.source)]
        built = [r for r in part if not r.default.startswith("not constructed")]
        out[f"{source} default"] = (sum(r.default == "yes" for r in built), len(built))
        variants = [cell for r in built for _, cell in r.variants]
        out[f"{source} non-default"] = (sum(c == "yes" for c in variants), len(variants))
        out[f"{source} classes"] = (len(built), len(part))
    return out


def _compiled() -> str:
    """Which of PyG's optional compiled packages are here: some layers construct only with them."""
    import importlib.util

    names = ("pyg_lib", "torch_sparse", "torch_scatter", "torch_cluster", "torch_spline_conv")
    found = [name for name in names if importlib.util.find_spec(name) is not None]
    return f"with {', '.join(found)}" if found else "without PyG's optional compiled packages"


def table(measured: list[Row] | None = None) -> str:
    """The Markdown: the versions, the shares, then one row per class."""
    import torch_geometric

    measured = rows() if measured is None else measured
    counts = shares(measured)

    def pct(key: str) -> str:
        good, total = counts[key]
        return f"{good} of {total} ({100 * good / max(total, 1):.0f}%)"

    lines = [
        f"Measured with Python {platform.python_version()}, torch {torch.__version__}, "
        f"torch_geometric {torch_geometric.__version__}, {_compiled()}.",
        "",
        "| classes | constructed | default instance round-trips | non-default instances "
        "round-trip |",
        "|---|---|---|---|",
    ]
    for source in ("torch.nn", "torch_geometric.nn", "all"):
        built, total = counts[f"{source} classes"]
        lines.append(f"| {source} | {built} of {total} | {pct(f'{source} default')} | "
                     f"{pct(f'{source} non-default')} |")
    lines += ["", "| class | from | default | non-default |", "|---|---|---|---|"]
    for row in measured:
        variants = "; ".join(f"`{k}`: {cell}" for k, cell in row.variants) or "-"
        lines.append(f"| {row.name} | {row.source} | {row.default} | {variants} |")
    return "\n".join(lines) + "\n"


def write(page: Path, text: str) -> None:
    """Put ``text`` into ``page`` between the recover-table markers."""
    content = page.read_text(encoding="utf-8")
    head, start, rest = content.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{page} has no {START} ... {END} markers")
    page.write_text(f"{head}{START}\n{text}{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into a page with ``--write PAGE``."""
    parser = argparse.ArgumentParser(prog="python docs/tools/recover_table.py",
                                     description=__doc__)
    parser.add_argument("--write", type=Path, metavar="PAGE")
    args = parser.parse_args(argv)
    text = table()
    if args.write:
        write(args.write, text)
        print(f"wrote the table into {args.write}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
