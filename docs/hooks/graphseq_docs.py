"""MkDocs hooks for graphseq's site: pages that are generated from the library at build time.

- ``<!-- graphseq:cli -->`` becomes one section per ``graphseq`` command, with the ``--help``
  text printed by the real argparse parser (so a new command appears by itself).
- ``<!-- graphseq:api -->`` becomes mkdocstrings directives for every public name: the
  top-level ``graphseq`` names first, then every public module of the package.
- ``<!-- graphseq:header-errors -->`` becomes the catalogue of header mistakes, each with the
  error the library raises for it, produced by running the example.
- ``<!-- graphseq:layout -->`` becomes the table of the package's modules in pipeline order, with
  what each one imports when it loads, read from the source (a cycle fails the build).
- Nav entries whose page does not exist yet (a page still being written) are dropped with
  an INFO line, and links to them become plain text, instead of failing the strict build.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import inspect
import logging
import os
import pkgutil
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.graphseq")

CLI = "<!-- graphseq:cli -->"
API = "<!-- graphseq:api -->"
HEADER_ERRORS = "<!-- graphseq:header-errors -->"
LAYOUT = "<!-- graphseq:layout -->"
HELP_WIDTH = "88"


# Nav ----------------------------------------------------------------------------------------


MISSING: set[str] = set()
"""Pages named in the nav that do not exist yet."""


def on_config(config: Any, **_: Any) -> Any:
    """Drop nav entries whose Markdown file is not there yet, so the strict build passes."""
    docs = Path(config["docs_dir"])
    MISSING.clear()
    config["nav"] = _existing(config.get("nav") or [], docs)
    return config


def _existing(nav: list[Any], docs: Path) -> list[Any]:
    """``nav`` without the pages that are missing from ``docs`` (recorded in ``MISSING``)."""
    kept: list[Any] = []
    for item in nav:
        if isinstance(item, dict):
            (title, target), = item.items()
            if isinstance(target, list):
                sub = _existing(target, docs)
                if sub:
                    kept.append({title: sub})
            elif _is_page(target) and not (docs / target).is_file():
                log.info("nav: %s (%s) is not written yet; left out of the site", title, target)
                MISSING.add(target)
            else:
                kept.append(item)
        elif isinstance(item, str) and _is_page(item) and not (docs / item).is_file():
            log.info("nav: %s is not written yet; left out of the site", item)
            MISSING.add(item)
        else:
            kept.append(item)
    return kept


def _is_page(target: str) -> bool:
    return target.endswith(".md") and "://" not in target


# Placeholders -------------------------------------------------------------------------------


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the placeholders with text generated from the library."""
    if CLI in markdown:
        markdown = markdown.replace(CLI, cli_reference())
    if API in markdown:
        markdown = markdown.replace(API, api_reference())
    if HEADER_ERRORS in markdown:
        markdown = markdown.replace(HEADER_ERRORS, header_errors())
    if LAYOUT in markdown:
        markdown = markdown.replace(LAYOUT, layout_table())
    for page in MISSING:  # a link to a page still being written reads as plain text
        markdown = re.sub(rf"\[([^\]]+)\]\({re.escape(page)}(#[^)]*)?\)", r"\1", markdown)
    return markdown


@contextlib.contextmanager
def _columns(width: str) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width  # argparse wraps help text to the terminal's width
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """A section per ``graphseq`` command, each with its ``--help`` text from the parser."""
    from graphseq import cli

    parser = cli._parser()
    parts = []
    with _columns(HELP_WIDTH):
        parts.append(f"## `graphseq`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        for name, command in _subcommands(parser).items():
            parts.append(
                f"## `graphseq {name}`\n\n```text\n{command.format_help().rstrip()}\n```\n"
            )
    return "\n".join(parts)


def public_modules() -> list[str]:
    """Every public module of the ``graphseq`` package, by name."""
    import graphseq

    found = []
    for info in pkgutil.walk_packages(graphseq.__path__, "graphseq."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


def _own_public_names(module: Any, exported: set[int]) -> list[str]:
    """Public names defined in ``module`` itself that the top level does not re-export."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n for n, v in vars(module).items()
            if not n.startswith("_")
            and callable(v)
            and getattr(v, "__module__", None) == module.__name__
        ]
    return [n for n in names if id(getattr(module, n, None)) not in exported]


TOOLS = ("config", "registry", "summary", "viz", "export", "trim", "hetero", "cli")
"""Modules users call directly, listed first; the rest are the pipeline's stages."""


def api_reference() -> str:
    """mkdocstrings directives for the top-level names and for each public module."""
    import graphseq

    first = ["Sequential", "HeaderError", "from_config"]  # what most readers look for
    top = [n for n in graphseq.__all__ if not inspect.ismodule(getattr(graphseq, n))]
    top.sort(key=lambda n: (first.index(n) if n in first else len(first), n))
    exported = {id(getattr(graphseq, n)) for n in top}
    out = ["## The `graphseq` package\n"]
    out += [f"::: graphseq.{name}\n" for name in top]
    modules = public_modules()
    tools = [m for t in TOOLS for m in modules if m == f"graphseq.{t}"]
    tools += [m for m in modules if m not in tools and m.split(".")[-1].startswith(TOOLS)]
    stages = [m for m in modules if m not in tools]
    for title, group in (("Tools", tools), ("The pipeline's stages", stages)):
        out.append(f"## {title}\n")
        for name in group:
            module = importlib.import_module(name)
            members = _own_public_names(module, exported)
            options = textwrap.indent(
                "options:\n  heading_level: 3\n  show_root_heading: true\n"
                f"  members: {members!r}\n",
                "    ",
            )
            out.append(f"::: {name}\n{options}")
    return "\n".join(out)


# Header mistakes ----------------------------------------------------------------------------

PRELUDE = """\
from torch.nn import Linear, ReLU
from torch_geometric.nn import GCNConv, JumpingKnowledge
from graphseq import Sequential
"""

MISTAKES: list[tuple[str, str]] = [
    ("A name that is not defined yet", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x, edge_index -> x1'),
    (GCNConv(32, 32), 'x2, edge_index -> x3'),
])"""),
    ("A misspelt input", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x, edge_indx -> x'),
])"""),
    ("No arrow in a header", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x, edge_index'),
])"""),
    ("Nothing after the arrow", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x, edge_index ->'),
])"""),
    ("An expression instead of a name", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x * 2, edge_index -> x'),
])"""),
    ("A call (code is never run)", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), "__import__('os').getpid(), edge_index -> x"),
])"""),
    ("Attribute access", """\
Sequential('data', [
    (GCNConv(16, 32), 'data.x, data.edge_index -> x'),
])"""),
    ("A Python keyword as a name", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x, edge_index -> lambda'),
])"""),
    ("A positional argument after a keyword", """\
Sequential('x, edge_index, w', [
    (GCNConv(16, 32), 'x, edge_weight=w, edge_index -> x'),
])"""),
    ("The same keyword twice", """\
Sequential('x, edge_index, w', [
    (GCNConv(16, 32), 'x, edge_index, edge_weight=w, edge_weight=w -> x'),
])"""),
    ("An empty packed list", """\
Sequential('x', [
    (JumpingKnowledge('cat'), '[] -> x'),
])"""),
    ("Something other than names in a pack", """\
Sequential('x1, x2', [
    (JumpingKnowledge('cat'), '[x1, [x2]] -> x'),
])"""),
    ("An output that is not a plain name", """\
Sequential('x', [
    (Linear(16, 16), 'x -> [x1, x2]'),
])"""),
    ("A header that writes a name twice", """\
Sequential('x', [
    (Linear(16, 16), 'x -> y, y'),
])"""),
    ("Too many arguments for the child", """\
Sequential('x, edge_index', [
    (Linear(16, 16), 'x, edge_index -> x'),
])"""),
    ("A required argument missing", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x -> x'),
])"""),
    ("A keyword the child does not take", """\
Sequential('x, edge_index, w', [
    (GCNConv(16, 32), 'x, edge_index, edge_wieght=w -> x'),
])"""),
    ("No header on the first step", """\
Sequential('x, edge_index', [
    GCNConv(16, 32),
])"""),
    ("A class where an instance belongs", """\
Sequential('x', [
    (Linear(16, 16), 'x -> x'),
    ReLU,
])"""),
    ("A step name with a dot", """\
Sequential('x', {
    'conv.1': (Linear(16, 16), 'x -> x'),
})"""),
    ("A step name the model already uses", """\
Sequential('x', {
    'forward': (Linear(16, 16), 'x -> x'),
})"""),
    ("Input args: the same input twice", """\
Sequential('x, edge_index, x', [
    (GCNConv(16, 32), 'x, edge_index -> x'),
])"""),
    ("Input args: a default before a required input", """\
Sequential('x, edge_weight=None, edge_index', [
    (GCNConv(16, 32), 'x, edge_index, edge_weight=edge_weight -> x'),
])"""),
    ("Input args: a default that is not a literal", """\
Sequential('x, edge_index, k=len([])', [
    (GCNConv(16, 32), 'x, edge_index -> x'),
])"""),
    ("Input args: a type that is an expression", """\
Sequential('x: Tensor + 1, edge_index', [
    (GCNConv(16, 32), 'x, edge_index -> x'),
])"""),
    ("Input args: empty", """\
Sequential('', [
    (GCNConv(16, 32), 'x, edge_index -> x'),
])"""),
    ("Outputs that are not defined", """\
Sequential('x, edge_index', [
    (GCNConv(16, 32), 'x, edge_index -> x1'),
], outputs='x1, x2')"""),
    ("Outputs that repeat a name", """\
Sequential('x', [
    (Linear(16, 16), 'x -> y'),
], outputs='y, y')"""),
    ("A header where outputs belong", """\
Sequential('x', [
    (Linear(16, 16), 'x -> y'),
], outputs='y -> z')"""),
]


def run_mistake(code: str) -> str:
    """Run one example; the message of the error it raises, or an explanation of why not."""
    namespace: dict[str, Any] = {"__name__": "graphseq_docs_example"}
    exec(compile(PRELUDE, "<prelude>", "exec"), namespace)  # the docs' own examples
    try:
        exec(compile(code, "<example>", "exec"), namespace)
    except Exception as error:  # the point of the example: show what it raises
        return f"{type(error).__name__}: {error}"
    log.warning("header-errors: this example raised nothing:\n%s", code)  # fails --strict
    return "(no error: graphseq accepts this)"


def header_errors() -> str:
    """The catalogue of mistakes: each example, then the error graphseq gives for it."""
    parts = []
    for title, code in MISTAKES:
        parts.append(
            f"### {title}\n\n```python\n{code}\n```\n\n```text\n{run_mistake(code)}\n```\n"
        )
    return "\n".join(parts)


# Layout -------------------------------------------------------------------------------------

PIPELINE = ("_errors", "_cache", "_labels", "_reading", "_parsing", "_signature", "_binding",
            "_plan", "_spec", "_analysis", "_cuts", "_codegen", "_surgery")
"""The stages, upstream first."""

MODEL = "_sequential"
"""The ``nn.Module``: above the stages and the tools, whose functions its methods call."""

FRONTS = ("cli", "_export_cli", "saving", "config.make")
"""Front ends: they make models (from configs, saved files, the command line)."""


def _load_time_imports(tree: ast.Module, name: str, level: int = 1) -> set[str]:
    """The graphseq modules that running ``tree``'s top level imports (not function bodies,
    not ``if TYPE_CHECKING:`` blocks). ``level`` is how many dots name the package's top
    (2 in a file of a subpackage such as ``config/``, whose own files are left out)."""
    return _imports(tree, name, level, on_use=False)


def _imports(tree: ast.Module, name: str, level: int = 1, on_use: bool = True,
             package: str = "") -> set[str]:
    """The graphseq modules ``tree`` imports; ``on_use`` adds those imported in functions.

    With ``package`` (the subpackage a file is in), its sibling files count as modules of
    their own, named ``package.file``.
    """
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not on_use:
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if package and node.level == 1:  # a sibling in the same subpackage
                found.update(f"{package}.{a.name}" for a in node.names) if not base \
                    else found.add(f"{package}.{base.split('.')[0]}")
            elif node.level == level and not base:  # from . import x
                found.update(alias.name for alias in node.names)
            elif node.level == level:
                found.add(".".join(base.split(".")[:2]) if package or on_use else
                          base.split(".")[0])
            elif base.startswith("graphseq."):
                found.add(base.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("graphseq."))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                pending.append(child)
    found.discard(name)
    return found


def import_graph(on_use: bool = False) -> dict[str, list[str]]:
    """For each module of the package, the package's modules it imports when it is loaded.

    Imports inside functions are left out: they run on use, after every module has loaded.
    With ``on_use``, they are counted too, and each file of a subpackage is a module of its
    own (``config.make``); a subpackage's ``__init__`` is then the module ``config``.

    Args:
        on_use: Count imports in function bodies, file by file.

    Returns:
        Each module's imports, sorted.

    Raises:
        ValueError: The graph has a cycle (named in the message).
    """
    import graphseq

    src = Path(graphseq.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in sorted(src.glob("*.py")):
        if path.stem.startswith("__"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[path.stem] = _imports(tree, path.stem, on_use=on_use)
    for package in sorted(src.glob("*/__init__.py")):  # a subpackage: config
        name = package.parent.name
        graph[name] = set()
        for path in sorted(package.parent.glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if not on_use:
                graph[name] |= _load_time_imports(tree, name, level=2)
                continue
            module = name if path.stem == "__init__" else f"{name}.{path.stem}"
            graph[module] = _imports(tree, module, level=2, package=name)
    modules = set(graph)
    for module, deps in graph.items():  # ``from . import __version__`` loads the package
        graph[module] = {d if d in modules else "graphseq" for d in deps}
    check_acyclic(graph)
    return {module: sorted(deps) for module, deps in graph.items()}


def check_acyclic(graph: dict[str, set[str]]) -> None:
    """Raise ``ValueError`` naming the first cycle in ``graph`` (module -> what it imports)."""
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        if module in trail:
            cycle = " -> ".join((*trail[trail.index(module):], module))
            raise ValueError(f"graphseq's modules import each other in a cycle: {cycle}")
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, (*trail, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def layout_table() -> str:
    """The modules in pipeline order, then the tools: what each is and what it imports."""
    import graphseq

    src = Path(graphseq.__file__).parent
    graph = import_graph()
    later = (*PIPELINE, MODEL, *FRONTS)
    order = ([m for m in PIPELINE if m in graph]
             + sorted(m for m in graph if m not in later) + [MODEL]
             + [m for m in FRONTS if m in graph])
    rows = ["| module | what it is | imports when loaded |", "|---|---|---|"]
    for module in order:
        path = src / module / "__init__.py" if (src / module).is_dir() else src / f"{module}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        summary = " ".join((ast.get_docstring(tree) or "").split("\n\n")[0].split())
        summary = re.sub(r":\w+:(`)", r"\1", summary)  # :func:`x` -> `x`
        summary = summary.replace("|", "\\|")
        deps = ", ".join(f"`{d}`" for d in graph[module]) or "nothing"
        deps = deps.replace("`graphseq`", "the package (`graphseq`)")
        kind = ("stage" if module in PIPELINE else "model" if module == MODEL
                else "front end" if module in FRONTS else "tool")
        shown = f"{module}/" if (src / module).is_dir() else f"{module}.py"
        rows.append(f"| `{shown}` ({kind}) | {summary} | {deps} |")
    return "\n".join(rows)
