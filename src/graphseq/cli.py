"""The ``graphseq`` command (also ``python -m graphseq``): demo, check, summary, draw.

Errors are one line on stderr and a non-zero exit status; ``--debug`` shows the traceback.

>>> from graphseq.cli import parse_input
>>> parse_input('edge_index=2x156:int64')
('edge_index', (2, 156), torch.int64)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import torch

from . import __version__
from .config.records import Limits

if TYPE_CHECKING:
    from ._sequential import Sequential

DEMO_CONFIG: dict[str, Any] = {
    "inputs": "x, edge_index",
    "steps": [
        {"name": "conv1", "module": "GCNConv", "args": [34, 16], "header": "x, edge_index -> x"},
        {"name": "act", "module": "ReLU"},
        {"name": "drop", "module": "Dropout", "args": [0.5]},
        {"name": "conv2", "module": "GCNConv", "args": [16, 4], "header": "x, edge_index -> x"},
    ],
}
"""The demo's model: a two-layer GCN for Karate Club's 34 one-hot features and 4 classes."""


DIAGRAM_SUFFIXES = (".svg", ".png", ".dot", ".gv", ".mmd", ".mermaid")
"""What ``graphseq draw -o`` writes: rendered by Graphviz, DOT source, or Mermaid."""


class CommandError(Exception):
    """A failure the user can fix; main() prints its message as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``graphseq`` command line, as ``graphseq`` or ``python -m graphseq`` does.

    Args:
        argv: The arguments after the program name; by default ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 1 when the command fails (one line on stderr), 2 for
        a wrong command line, 130 when interrupted.

    Example:
        >>> from graphseq.cli import main
        >>> main(['check', 'no-such-file.yaml'])
        1
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False))
    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)  # graphseq's warnings: shown, once
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args))
        except KeyboardInterrupt:
            print("graphseq: interrupted", file=sys.stderr)
            return 130
        except Exception as error:
            if debug:
                raise
            print(f"graphseq {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return 1


def _show_warning(message: Any, category: Any, *_: Any, **__: Any) -> None:
    text = str(message).removeprefix("graphseq: ")
    print(f"graphseq: warning: {text}", file=sys.stderr)


def _one_line(error: BaseException) -> str:
    """A readable one-line message for ``error``."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"cannot read {str(error.filename)!r}: {error.strerror}"
    lines = str(error).strip().splitlines() or [type(error).__name__]
    text = lines[0]
    problems = getattr(error, "problems", None)  # a ConfigError's records, never its text
    more = len(problems) - 1 if isinstance(problems, list) else 0
    if more:
        text += f" (and {more} more; 'graphseq check' lists them)"
    elif len(lines) > 1:
        text += " ('graphseq check' shows where)"
    notes = [n.removeprefix("graphseq: ") for n in getattr(error, "__notes__", ())]
    if notes:
        text += f" ({'; '.join(' '.join(n.split()) for n in notes)})"
    if not isinstance(error, ValueError | CommandError | RuntimeError):
        text = f"{type(error).__name__}: {text} (--debug shows the traceback)"
    return text


# Parsers -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """The ``graphseq`` parser: one sub-parser per command, each made by its own function."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show the full traceback on errors",
    )
    parser = argparse.ArgumentParser(
        prog="graphseq",
        description="Build, check, summarize and draw graphseq models and their config files.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"graphseq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_demo_command, _check_command, _summary_command, _draw_command,
                _export_command):
        add(sub, common)
    return parser


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _demo_command(sub: _Commands, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo", parents=[common], help="train a GCN on Karate Club and draw it",
        description="Train a two-layer GCN graphseq.Sequential on PyG's Karate Club graph "
        "(built in, no download), print train and test accuracy, and write the model's "
        "diagram and config into --out.",
    )
    demo.add_argument("--epochs", type=_positive_int, default=100, help="default: 100")
    demo.add_argument("--out", type=Path, default=Path("graphseq-demo"),
                      help="folder for the diagram and config (default: ./graphseq-demo)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default: 0.01)")
    demo.set_defaults(run=_demo)


def _config_command(sub: _Commands, common: argparse.ArgumentParser, name: str, help: str,
                    description: str) -> argparse.ArgumentParser:
    """A command that reads a config: its path, ``--allow-imports`` and ``--max-bytes``."""
    command = sub.add_parser(name, parents=[common], help=help, description=description)
    command.add_argument("config", type=Path, help="a .yaml, .yml or .json model config, "
                         "or a model file written by graphseq.save (weights included)")
    command.add_argument(
        "--allow-imports", action="store_true",
        help="let the config name modules by import path (mypkg.layers.MyConv); this "
        "runs code named in the config",
    )
    command.add_argument(
        "--max-bytes", type=_positive_int, default=Limits.max_bytes, metavar="N",
        help=f"the largest config file read (default: {Limits.max_bytes:,} bytes)",
    )
    return command


def _check_command(sub: _Commands, common: argparse.ArgumentParser) -> None:
    check = _config_command(
        sub, common, "check", "validate a config",
        "Build the model a config describes. Print each problem with its step and header and "
        "exit 1, or print one OK line.",
    )
    check.set_defaults(run=_check)


def _summary_command(sub: _Commands, common: argparse.ArgumentParser) -> None:
    summary = _config_command(
        sub, common, "summary", "print a config's model summary",
        "Build the model and print model.summary(...), run on zero tensors of the shapes given "
        "with --input (without --input, the table has no shapes).",
    )
    summary.add_argument(
        "--input", "-i", dest="inputs", action=_AppendInput, type=parse_input, default=[],
        metavar="NAME=SHAPE[:DTYPE]",
        help="an example input of zeros, e.g. x=34x16 or edge_index=2x156 (dtype default: "
        "int64 for edge_index, batch, ptr and names ending in _index, else float32); "
        "repeat for each input",
    )
    summary.set_defaults(run=_summary)


def _draw_command(sub: _Commands, common: argparse.ArgumentParser) -> None:
    draw = _config_command(
        sub, common, "draw", "draw a config's model",
        "Write the model's diagram: .svg or .png with Graphviz's dot, .dot for DOT source, "
        ".mmd for a Mermaid flowchart.",
    )
    draw.add_argument("-o", "--output", type=Path, default=None,
                      help="output file (default: the config's name with .svg)")
    draw.set_defaults(run=_draw)


def _export_command(sub: _Commands, common: argparse.ArgumentParser) -> None:
    export = _config_command(
        sub, common, "export", "export a config's model to .pt2 or .onnx",
        "Build the model (with --weights, load its trained state dict), export it with every "
        "graph size dynamic, and check the file against eager on a second, differently sized "
        "random input. Integer inputs get node indices; an input named batch assigns the nodes "
        "to num_graphs graphs; an int input is given as NAME=VALUE. With --aot, compile the "
        ".pt2 ahead of time with AOTInductor and check it loaded with aoti_load_package.",
    )
    export.add_argument("-o", "--output", type=Path, required=True,
                        help="the file to write: .pt2 (torch.export) or .onnx (ONNX); with "
                        "--aot, .pt2")
    export.add_argument(
        "--input", "-i", dest="inputs", action=_AppendInput, type=parse_input, default=[],
        metavar="NAME=SHAPE[:DTYPE]",
        help="an example input's shape, e.g. x=34x16 or edge_index=2x156, or an int's value, "
        "e.g. num_graphs=4; repeat for each input",
    )
    export.add_argument("--weights", type=Path, default=None, metavar="STATE_DICT.pt",
                        help="a state dict saved with torch.save(model.state_dict(), ...); "
                        "not needed for a model file written by graphseq.save")
    export.add_argument("--aot", action="store_true",
                        help="write an AOTInductor package (.pt2): compiled ahead of time with "
                        "a C++ compiler, which takes tens of seconds")
    export.set_defaults(run=_export)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


class _AppendInput(argparse.Action):
    """``--input``, repeated once per input name: a name given twice is a usage error."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
        option_string: str | None = None,
    ) -> None:
        given = list(getattr(namespace, self.dest, None) or [])
        if any(values[0] == name for name, _, _ in given):
            parser.error(f"--input {values[0]} is given twice; give each input once")
        setattr(namespace, self.dest, [*given, values])


def is_index_name(name: str) -> bool:
    """Whether an input named ``name`` holds indices: ``edge_index``, ``batch``, ``ptr``,
    or a name ending in ``_index``.

    Args:
        name: The input's name.

    Returns:
        ``True`` when it does (its default dtype is then ``int64``), else ``False``.

    Example:
        >>> from graphseq.cli import is_index_name
        >>> [is_index_name(n) for n in ('edge_index', 'batch', 'ptr', 'node_index', 'x')]
        [True, True, True, True, False]
    """
    return name in ("edge_index", "batch", "ptr") or name.endswith("_index")


def parse_input(text: str) -> tuple[str, tuple[int, ...], torch.dtype]:
    """``'x=34x16'`` or ``'edge_index=2x156:int64'`` as ``(name, shape, dtype)``.

    The dtype defaults to int64 for index-like names (see :func:`is_index_name`), else
    float32.

    >>> from graphseq.cli import parse_input
    >>> parse_input('edge_index=2x156')
    ('edge_index', (2, 156), torch.int64)

    Args:
        text: ``NAME=SHAPE[:DTYPE]``, sizes joined by ``x``.

    Returns:
        ``(name, shape, dtype)``.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not of that form, or names no torch dtype.
    """
    name, eq, rest = text.partition("=")
    if not eq or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=SHAPE[:DTYPE], such as x=34x16 or edge_index=2x156:int64"
        )
    shape_text, _, dtype_text = rest.partition(":")
    try:
        shape = tuple(int(d) for d in shape_text.lower().replace(",", "x").split("x")) \
            if shape_text else ()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: shape {shape_text!r} is not sizes joined by 'x', such as 34x16"
        ) from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes cannot be negative")
    default = "int64" if is_index_name(name) else "float32"
    dtype = getattr(torch, dtype_text or default, None)
    if not isinstance(dtype, torch.dtype):
        raise argparse.ArgumentTypeError(
            f"{text!r}: {dtype_text!r} is not a torch dtype, such as float32, int64 or bool"
        )
    return name, shape, dtype


# Commands ----------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Sequential:
    """The model a config describes, or the one a saved file holds (with its weights)."""
    from .config import from_config

    if args.config.suffix.lower() not in (".yaml", ".yml", ".json"):
        from .saving import load

        return load(args.config, allow_imports=args.allow_imports)
    limits = Limits(max_bytes=args.max_bytes)
    return from_config(args.config, allow_imports=args.allow_imports, limits=limits)


def _check(args: argparse.Namespace) -> int:
    from ._errors import HeaderError
    from .config import ConfigError

    try:
        model = _load(args)
    except ConfigError as error:
        for line in error.lines():
            print(line)
        count = len(error.problems)
        print(f"{args.config}: {count} problem{'s' if count > 1 else ''}")
        return 1
    except HeaderError as error:
        print(error)
        print(f"{args.config}: 1 problem")
        return 1
    plan = model.plan
    print(
        f"OK: {args.config}: {len(plan.steps)} steps, inputs ({', '.join(plan.inputs.names)}) "
        f"-> outputs ({', '.join(plan.outputs)}), {_params(model)} parameters"
    )
    return 0


def _params(model: torch.nn.Module) -> str:
    known = [p for p in model.parameters() if not torch.nn.parameter.is_lazy(p)]
    text = f"{sum(p.numel() for p in known):,}"
    lazy = sum(1 for p in model.parameters() if torch.nn.parameter.is_lazy(p))
    return f"{text} (+{lazy} lazy)" if lazy else text


def _summary(args: argparse.Namespace) -> int:
    model = _load(args)
    if not args.inputs:
        print(model.summary())
        return 0
    names = model.plan.inputs.names
    given: dict[str, torch.Tensor] = {}
    for name, shape, dtype in args.inputs:
        if name not in names:
            raise CommandError(
                f"--input {name}: the model has no input {name!r}; its inputs: {', '.join(names)}"
            )
        given[name] = torch.zeros(shape, dtype=dtype)
    required = [a.name for a in model.plan.inputs.args if not a.has_default]
    missing = [n for n in required if n not in given]
    if missing:
        raise CommandError(
            "missing " + ", ".join(f"--input {n}=SHAPE" for n in missing)
            + f" (the model's inputs: {', '.join(names)})"
        )
    print(model.summary(**given))
    return 0


def _draw(args: argparse.Namespace) -> int:
    model = _load(args)
    out: Path = args.output or Path(args.config.stem + ".svg")
    print(_write_diagram(model, out))
    return 0


def _export(args: argparse.Namespace) -> int:
    from ._export_cli import run

    return run(_load(args), args)


def _write_diagram(model: Sequential, out: Path) -> Path:
    """Write ``model``'s diagram: DOT or Mermaid text by suffix, else rendered by ``dot``."""
    if out.is_dir():
        raise CommandError(
            f"cannot write a diagram to {str(out)!r}: it is a folder; name a file in it, "
            f"such as {str(out / 'model.svg')!r}"
        )
    suffix = out.suffix.lower()
    if suffix not in DIAGRAM_SUFFIXES:
        raise CommandError(
            f"cannot write a diagram to {str(out)!r}: the file name must end in "
            + ", ".join(DIAGRAM_SUFFIXES)
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".dot", ".gv"):
        out.write_text(model.to_dot(), encoding="utf-8")
        return out
    if suffix in (".mmd", ".mermaid"):
        out.write_text(model.to_mermaid(), encoding="utf-8")
        return out
    return model.draw(out)


def _demo(args: argparse.Namespace) -> int:
    from ._extras import need

    tqdm = need("pyg", "tqdm", "graphseq demo").tqdm
    need("pyg", "yaml", "graphseq demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyG's import-time noise
        KarateClub = need("pyg", "torch_geometric.datasets", "graphseq demo").KarateClub

    from .config import from_config, save

    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {str(args.out)!r} is a file; --out names a folder")
    torch.manual_seed(args.seed)
    data = KarateClub()[0]
    train, test = data.train_mask, ~data.train_mask
    model = from_config(DEMO_CONFIG)
    print(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=5e-4)
    loss_fn: Callable[..., torch.Tensor] = torch.nn.functional.cross_entropy
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="training", unit="epoch", file=sys.stderr)
    for _ in bar:
        model.train()
        optimizer.zero_grad()
        loss = loss_fn(model(data.x, data.edge_index)[train], data.y[train])
        loss.backward()
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(dim=-1)
    acc = {
        part: float((pred[mask] == data.y[mask]).float().mean())
        for part, mask in (("train", train), ("test", test))
    }
    print(f"trained {args.epochs} epochs in {seconds:.1f}s; final loss {loss.item():.4f}")
    print(f"train accuracy: {acc['train']:.3f} ({int(train.sum())} nodes)")
    print(f"test accuracy:  {acc['test']:.3f} ({int(test.sum())} nodes)")
    args.out.mkdir(parents=True, exist_ok=True)
    config_path = save(model, args.out / "karate_gcn.yaml")
    print(f"wrote {config_path}")
    if shutil.which("dot"):
        diagram = _write_diagram(model, args.out / "karate_gcn.svg")
    else:
        diagram = _write_diagram(model, args.out / "karate_gcn.dot")
        print("Graphviz's 'dot' was not found, so the diagram is DOT text; render it with "
              "'dot -Tsvg' once Graphviz is installed.")
    print(f"wrote {diagram}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
