"""An injection corpus: code in headers, input args, types, step names and configs never runs.

Every payload tries to create a marker file. The control tests show the payloads are live
(evaluated directly, or handed to ``torch_geometric.nn.Sequential``, they do create it); after
building and calling graphseq models with them, the marker must not exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

import graphseq


def first(*args: Any, **kwargs: Any) -> Any:
    """A child that accepts anything and returns its first argument."""
    return args[0] if args else next(iter(kwargs.values()))


class Recorder:
    """A child ``(x, s) -> x`` that keeps every ``s`` it is given."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    def __call__(self, x: Any, s: Any) -> Any:
        self.received.append(s)
        return x


def payloads(marker: Path) -> list[str]:
    """Python expressions that each create ``marker`` when evaluated."""
    m = str(marker)
    return [
        f"__import__('pathlib').Path({m!r}).touch()",
        f"open({m!r}, 'w').close()",
        f"exec(\"open({m!r}, 'w').close()\")",
        f"__import__('os').system('touch {m}')",
        f"(lambda: open({m!r}, 'w').close())()",
        f"[open({m!r}, 'w').close() for _ in 'a']",
        f"{{open({m!r}, 'w').close()}}",
        f"getattr(__builtins__, 'open', None) or __builtins__['open']({m!r}, 'w').close()",
    ]


HEADERS = [
    "{p} -> x",
    "x, {p} -> y",
    "x -> y, {p}",
    "x, k={p} -> y",
    "x, k=[x, {p}] -> y",
    "[x, {p}] -> y",
    "({p}, x) -> y",
    "x -> y; {p}",
    "x -> y\n{p}",
    "x; {p} -> y",
    "x\n{p}\n -> y",
    "x) or {p} or (x -> y",
    "x, *[{p}] -> y",
    "x, **{{'k': {p}}} -> y",
    "x -> y  # \n{p}",
    "x=(lambda: {p})() -> y",
    "x if {p} else x -> y",
    "(y := {p}) -> y",
    "f'{{{p}}}' -> y",
    "x -> y)\n{p}\n(",
    "x -> y[{p}]",
    "x -> y.{p}",
    "x -> y = {p}",
    "x.__class__.__init__.__globals__ -> y",
]

INPUT_ARGS_REJECTED = [
    "{p}",
    "x, {p}",
    "x, y={p}",
    "x: {p}",
    "x: Tensor = {p}",
    "x -> {p}",
    "x: List[{p}]",
    "x: Optional[{p}]",
    "x: Tensor | {p}",
    "x: Tensor = None, y: int = (lambda: {p})()",
    "x: Tensor = None; {p}",
    "x\n{p}",
    "x: torch.Tensor.__init__.__globals__",
    "x: Tensor = None if {p} else None",
    "x: Dict[str, {p}]",
    "x: '{p}'",
    "*x, y={p}",
    "x, **k",
    "x, y: int = -{p}",
]

# Payloads inside a string default are data: these build, and calling them must not run them.
INPUT_ARGS_QUOTED = [
    "x, s: str = {q}",
    "x, s = {q}",
]

STEP_NAMES = [
    "a'](x); {p}; modules['b",
    "a(x); {p}; self.b",
    "a\n{p}",
    "{p}",
    "a; {p}",
    "__class__",
]


def attempt(marker: Path, input_args: str, modules: Any, expect_rejected: bool) -> None:
    """Build and, if it builds, call; the marker must not appear either way."""
    try:
        model = graphseq.Sequential(input_args, modules)
    except ValueError:
        model = None
    if expect_rejected:
        assert model is None, f"built a model from {input_args!r} / {modules!r}"
    if model is not None:
        compile(model.code, "<t>", "exec")
        model(torch.ones(2))
    assert not marker.exists(), f"code ran while building or calling {input_args!r} {modules!r}"


@pytest.mark.parametrize("template", HEADERS)
def test_header_payloads_are_rejected_and_never_run(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for p in payloads(marker):
        attempt(marker, "x", [(first, template.format(p=p))], expect_rejected=True)
        attempt(marker, "x", [(torch.nn.Identity(), template.format(p=p))], expect_rejected=True)


def test_reference_known_hole_is_rejected() -> None:
    with pytest.raises(ValueError, match="which is a call"):
        graphseq.Sequential("x", [(first, "__import__('os').getpid() -> x")])
    with pytest.raises(ValueError, match="not a valid name"):
        graphseq.Sequential("__import__('os').getpid() -> x", [(first, "x -> y")])
    with pytest.raises(ValueError):
        graphseq.Sequential("x", [(first, "x, __import__('os').getpid() -> y")])


@pytest.mark.parametrize("template", INPUT_ARGS_REJECTED)
def test_input_args_and_type_payloads_are_rejected_and_never_run(
    template: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    for p in payloads(marker):
        attempt(marker, template.format(p=p), [(first, "x -> y")], expect_rejected=True)


@pytest.mark.parametrize("template", INPUT_ARGS_QUOTED)
def test_payloads_in_string_defaults_stay_strings(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    breakouts = ["{p}", "'); {p}; ('", '"); {p}; ("', "\\'); {p} #", "\n{p}\n", "'''{p}'''"]
    for p in payloads(marker):
        for breakout in breakouts:
            value = breakout.format(p=p)
            child = Recorder()
            try:
                model = graphseq.Sequential(template.format(q=repr(value)), [(child, "x, s -> y")])
            except ValueError:
                # Refusing a string default is safe (see test_fuzz for strings the parser
                # should accept); what matters here is that nothing ran.
                assert not marker.exists()
                continue
            model(torch.ones(2))
            assert child.received == [value]
            assert not marker.exists()


@pytest.mark.parametrize("template", STEP_NAMES)
def test_step_name_payloads_are_rejected_and_never_run(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for p in payloads(marker):
        name = template.format(p=p)
        attempt(marker, "x", {name: (first, "x -> y")}, expect_rejected=True)
        attempt(marker, "x", {name: (torch.nn.Identity(), "x -> y")}, expect_rejected=True)


def test_outputs_payloads_are_rejected_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for p in payloads(marker):
        for outputs in (p, f"y, {p}", f"y; {p}"):
            with pytest.raises(ValueError):
                graphseq.Sequential("x", [(first, "x -> y")], outputs=outputs)
    assert not marker.exists()


# Controls: the payloads are live -----------------------------------------------------------------


def test_every_payload_creates_the_marker_when_evaluated(tmp_path: Path) -> None:
    """Without this, an absent marker would prove nothing."""
    for i, _ in enumerate(payloads(tmp_path / "x")):
        marker = tmp_path / f"ran{i}"
        eval(payloads(marker)[i], {"__builtins__": __builtins__})  # noqa: S307
        assert marker.exists(), payloads(marker)[i]


def test_reference_runs_a_header_payload_that_graphseq_rejects(tmp_path: Path) -> None:
    """Differential: ``torch_geometric.nn.Sequential`` evaluates the same header."""
    marker = tmp_path / "ran"
    header = f"__import__('pathlib').Path({str(marker)!r}).touch() or x -> y"
    script = textwrap.dedent(
        f"""
        import torch
        from torch_geometric.nn import Sequential
        model = Sequential('x', [(torch.nn.Identity(), {header!r})])
        model(torch.ones(2))
        """
    )
    work = tmp_path / "work"
    work.mkdir()
    # A script file, as users run them: the reference imports its caller by file name.
    (work / "build_reference.py").write_text(script)
    env = {**_env(), "TMPDIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "build_reference.py"], cwd=work, env=env, check=True, timeout=120
    )
    assert marker.exists(), "the reference no longer runs header text"
    marker.unlink()
    with pytest.raises(ValueError):
        graphseq.Sequential("x", [(torch.nn.Identity(), header)])
    assert not marker.exists()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


# Configs ---------------------------------------------------------------------------------------

needs_config = pytest.mark.skipif(
    not hasattr(graphseq, "from_config"), reason="graphseq.from_config is not available yet"
)


CONFIG: dict[str, Any] = {
    "inputs": "x: Tensor, edge_index: Tensor",
    "steps": [
        {"name": "conv1", "module": "GCNConv", "args": [2, 2], "header": "x, edge_index -> x1"},
        {"name": "act", "module": "ReLU", "header": "x1 -> x1"},
    ],
}


def _config_model() -> graphseq.Sequential:
    return graphseq.from_config(CONFIG)  # type: ignore[attr-defined, no-any-return]


def _string_leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            out += [(*path, ("key", k))] if isinstance(k, str) else []
            out += _string_leaves(v, (*path, k))
        return out
    if isinstance(node, list | tuple):
        return [leaf for i, v in enumerate(node) for leaf in _string_leaves(v, (*path, i))]
    return [path] if isinstance(node, str) else []


def _replace(node: Any, path: tuple[Any, ...], value: str) -> Any:
    """A copy of ``node`` with the string at ``path`` (or the dict key) replaced by ``value``."""
    if not path:
        return value
    head, *rest = path
    if isinstance(head, tuple) and head[0] == "key" and not rest:
        return {(value if k == head[1] else k): v for k, v in node.items()}
    if isinstance(node, dict):
        return {k: (_replace(v, tuple(rest), value) if k == head else v) for k, v in node.items()}
    items = [(_replace(v, tuple(rest), value) if i == head else v) for i, v in enumerate(node)]
    return items if isinstance(node, list) else tuple(items)


def _try_config(config: Any, marker: Path) -> None:
    from_config = graphseq.from_config  # type: ignore[attr-defined]
    try:
        model = from_config(config)
    except (ValueError, TypeError, KeyError, LookupError):
        model = None
    if model is not None:
        try:
            model(torch.ones(3, 2), torch.tensor([[0, 1], [1, 2]]))
        except (RuntimeError, TypeError, ValueError, IndexError):
            pass  # a config made nonsensical by the payload may fail to run; it must not inject
    assert not marker.exists(), f"code ran from config {config!r}"


@needs_config
def test_config_payloads_in_every_string_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = _config_model().to_config()
    leaves = _string_leaves(config)
    assert leaves, "the config has no strings to inject into"
    for leaf in leaves:
        for p in payloads(marker)[:3]:
            for template in ("{p}", "{p} -> x", "x; {p}", "x: {p}"):
                _try_config(_replace(config, leaf, template.format(p=p)), marker)
    # A module given by import path, whose arguments are the payload: refused without imports.
    for module in ("builtins.exec", "builtins.eval", "os.system", "exec", "eval", "__import__"):
        for p in payloads(marker)[:3]:
            step = {"name": "bad", "module": module, "args": [p], "header": "x1 -> x1"}
            _try_config({**config, "steps": [*config["steps"], step]}, marker)


@needs_config
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_config_files_with_payloads_never_run(suffix: str, tmp_path: Path) -> None:
    """YAML tags that construct Python objects, and payload strings, in config files."""
    marker = tmp_path / "ran"
    config = _config_model().to_config()
    if suffix == ".json":
        texts = [json.dumps(_replace(config, leaf, p)) for leaf in _string_leaves(config)
                 for p in payloads(marker)[:2]]
    else:
        tag = f"!!python/object/apply:os.system ['touch {marker}']"
        texts = [
            tag,
            f"input_args: {tag}\n",
            "!!python/object/new:type\n  args: ['Z', !!python/tuple [], "
            "{'__init__': !!python/name:os.system }]\n",
            f"a: !!python/object/apply:builtins.open ['{marker}', 'w']\n",
        ]
    for i, text in enumerate(texts):
        path = tmp_path / f"config{i}{suffix}"
        path.write_text(text)
        try:
            graphseq.from_config(path)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001  (any refusal is fine; running the payload is not)
            pass
        assert not marker.exists(), f"code ran from config file {text!r}"
