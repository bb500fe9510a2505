"""Every example in the documentation runs, and shows what it prints.

Each page (``docs/*.md`` and ``README.md``; ``CHANGELOG.md`` has no examples) runs as a reader
would: its ```python blocks in order, in one namespace per page, in an empty working folder.
When a ```text block follows a python block directly (only blank lines between), it is that
block's output: what the block prints must match it, line by line, ignoring trailing spaces;
``...`` in the text stands for any text, as in doctest. Output that is not deterministic is
shown with prose between the blocks, or in a block fenced as ```console, and is not checked.
```bash and ```py blocks are shown, never run (```py is for Python that needs what a test
cannot have, such as a GPU or minutes of compiling).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

import graphseq

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", flags=re.S | re.M)
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.md")) + ["README.md"]
README_TEST_COMMAND = 'pip install -c constraints.txt -e ".[test]" && python -m pytest'


@dataclass
class Example:
    code: str
    line: int
    output: str | None  # the text block right after it, if any


def examples(text: str) -> list[Example]:
    """The python blocks of a page, each with the text block that follows it directly."""
    blocks = list(FENCE.finditer(text))
    found = []
    for i, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        output = None
        if i + 1 < len(blocks):
            following = blocks[i + 1]
            if following.group(1) == "text" and not text[block.end():following.start()].strip():
                output = following.group(2)
        line = text.count("\n", 0, block.start()) + 2  # the first line of code
        found.append(Example(block.group(2), line, output))
    return found


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def test_pages_are_found():
    assert {"README.md", "docs/index.md", "docs/headers.md", "docs/tutorial.md"} <= set(PAGES)


def test_examples_pair_each_python_block_with_the_text_right_after_it():
    page = (
        "```python\nprint(1)\n```\n\n```text\n1\n```\n"
        "```python\nprint(2)\n```\nprose\n```text\nnot output\n```\n"
        "```python\nprint(3)\n```\n```bash\nls\n```\n```text\nafter bash\n```\n"
    )
    found = examples(page)
    assert [(e.code, e.line, e.output) for e in found] == [
        ("print(1)\n", 2, "1\n"), ("print(2)\n", 9, None), ("print(3)\n", 16, None),
    ]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_and_print_what_they_show(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)  # anything an example writes lands here
    checker = doctest.OutputChecker()
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for example in examples((ROOT / page).read_text(encoding="utf-8")):
        where = f"{page}, line {example.line}"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(example.code, where, "exec"), namespace)  # the docs' own examples
        if example.output is not None:
            want, got = _clean(example.output), _clean(printed.getvalue())
            if not checker.check_output(want, got, doctest.ELLIPSIS):
                fake = doctest.Example(example.code, want)
                diff = checker.output_difference(fake, got, doctest.ELLIPSIS)
                pytest.fail(f"{where}: the output differs from the page's text block.\n{diff}")


def test_readme_is_a_short_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_TEST_COMMAND in text
    assert len(text.splitlines()) <= 220
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_version_agrees_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert graphseq.__version__ == project["version"]
    done = subprocess.run(
        [sys.executable, "-m", "graphseq", "--version"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert done.stdout.strip() == f"graphseq {project['version']}"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = re.findall(r"^## \[(\d[^\]]*)\]", changelog, flags=re.M)
    assert released and released[0] == project["version"], "newest CHANGELOG release"


def _hooks():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        import graphseq_docs
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    return graphseq_docs


def test_cli_reference_has_a_section_per_command():
    graphseq_docs = _hooks()
    from graphseq import cli

    text = graphseq_docs.cli_reference()
    commands = graphseq_docs._subcommands(cli._parser())
    assert commands
    for name in commands:
        assert f"## `graphseq {name}`\n\n```text\nusage: graphseq {name} " in text


def test_every_mistake_in_the_header_page_raises_a_header_error():
    graphseq_docs = _hooks()
    assert len(graphseq_docs.MISTAKES) >= 20
    for title, code in graphseq_docs.MISTAKES:
        shown = graphseq_docs.run_mistake(code)
        assert shown.startswith("HeaderError: "), f"{title}: {shown}"


def test_modules_import_each_other_in_one_direction():
    graphseq_docs = _hooks()
    graphseq_docs.import_graph()  # raises ValueError on a cycle
    graph = graphseq_docs.import_graph(on_use=True)  # imports in functions count too
    stages, model = set(graphseq_docs.PIPELINE), graphseq_docs.MODEL
    fronts = set(graphseq_docs.FRONTS) | {"graphseq"}
    assert stages | {model} | fronts - {"graphseq"} <= set(graph), "every layer is a module"
    for module, deps in graph.items():
        if module in stages:
            assert set(deps) <= stages, f"stage {module} imports {set(deps) - stages}"
        elif module == model:
            assert not set(deps) & fronts, f"{module} imports {set(deps) & fronts}"
        elif module not in fronts and module != "config":  # a tool (config: re-exports)
            above = set(deps) & (fronts | {model})
            assert not above, f"tool {module} imports {above}"


def test_the_on_use_graph_counts_imports_in_functions_and_subpackage_files():
    import ast

    graphseq_docs = _hooks()
    tree = ast.parse("from . import plan\nif TYPE_CHECKING:\n    from .spec import y\n"
                     "def f():\n    from .codegen import z\n    from .config.write import w\n")
    assert graphseq_docs._imports(tree, "m") == {"plan", "codegen", "config.write"}
    sub = ast.parse("from .records import a\nfrom ..errors import b\n"
                    "def f():\n    from ..sequential import c\n")
    assert graphseq_docs._imports(sub, "config.make", level=2, package="config") == {
        "config.records", "errors", "sequential"}


def test_parsing_and_plan_load_without_torch():
    graphseq_docs = _hooks()
    graph = graphseq_docs.import_graph()
    src = Path(graphseq.__file__).parent
    for start in [m for m in graph if m.lstrip("_") in ("parsing", "plan")]:  # or _parsing
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph[module]
        for module in seen:
            text = (src / f"{module}.py").read_text(encoding="utf-8")
            assert not re.search(r"^(import torch|from torch)", text, flags=re.M), (start, module)


def test_the_import_graph_reads_load_time_imports_and_finds_cycles():
    import ast

    graphseq_docs = _hooks()
    tree = ast.parse("from . import plan\nfrom .errors import x\n"
                     "if TYPE_CHECKING:\n    from .spec import y\n"
                     "def f():\n    from .codegen import z\n")
    assert graphseq_docs._load_time_imports(tree, "parsing") == {"plan", "errors"}
    graphseq_docs.check_acyclic({"a": {"b"}, "b": {"c"}, "c": set()})
    with pytest.raises(ValueError, match="a -> b -> c -> a"):
        graphseq_docs.check_acyclic({"a": {"b"}, "b": {"c"}, "c": {"a"}})
