"""Nothing left behind: modules, files, ``linecache`` entries and memory across many builds."""

from __future__ import annotations

import ast
import gc
import inspect
import linecache
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch_geometric.nn import GCNConv, global_mean_pool

import graphseq

BUILDS = 5000
RSS_LIMIT_MB = 50.0


def rss_mb() -> float:
    """Resident set size of this process, from ``/proc/self/status`` (or ``resource``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a + b


SIZES = range(2, 9)
# Children are made once and shared: the sweep measures the container, not its layers.
FIRST = {h: GCNConv(3, h) for h in SIZES}
SECOND = {h: GCNConv(h, h) for h in SIZES}


def make_model(i: int) -> tuple[graphseq.Sequential, int]:
    """The ``i``-th model of the sweep: real PyG layers, headers and sizes that vary with ``i``."""
    hidden = SIZES[i % len(SIZES)]
    steps: dict[str, object] = {
        "conv": (FIRST[hidden], "x, edge_index -> h"),
        "act": torch.nn.ReLU(),
    }
    if i % 2:
        steps["skip"] = (SECOND[hidden], "h, edge_index -> h2")
        steps["join"] = (add, "h, h2 -> h")
    if i % 3 == 0:
        steps["pool"] = (global_mean_pool, "h, batch -> h")
    return graphseq.Sequential("x, edge_index, batch", steps), hidden


def graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(5, 3)
    edge_index = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
    batch = torch.tensor([0, 0, 0, 1, 1])
    return x, edge_index, batch


@dataclass
class Sweep:
    modules_before: set[str]
    modules_after: set[str]
    generated_before: int
    generated_after: int
    rss_before_mb: float
    rss_after_mb: float
    seconds: float


def generated_entries() -> int:
    return sum(1 for name in linecache.cache if name.startswith("<graphseq"))


@pytest.fixture(scope="module")
def sweep() -> Sweep:
    """Build, run and drop ``BUILDS`` models once, measuring before and after."""
    inputs = graph()
    with torch.no_grad():
        for i in range(50):  # warm up: first-use imports and allocator pools
            make_model(i)[0](*inputs)
    gc.collect()
    modules_before, generated_before, rss_before = set(sys.modules), generated_entries(), rss_mb()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(BUILDS):
            model, hidden = make_model(i)
            out = model(*inputs)
            assert out.shape[-1] == hidden
            del model, out
    seconds = time.perf_counter() - start
    gc.collect()
    return Sweep(
        modules_before,
        set(sys.modules),
        generated_before,
        generated_entries(),
        rss_before,
        rss_mb(),
        seconds,
    )


def test_building_and_dropping_5000_models_leaves_sys_modules_unchanged(sweep: Sweep) -> None:
    assert sweep.modules_after - sweep.modules_before == set()
    assert sweep.modules_before - sweep.modules_after == set()


def test_building_and_dropping_5000_models_leaves_no_linecache_entries(sweep: Sweep) -> None:
    assert sweep.generated_after == sweep.generated_before


def test_resident_memory_grows_under_50_mb_over_5000_builds(sweep: Sweep) -> None:
    growth = sweep.rss_after_mb - sweep.rss_before_mb
    print(f"{BUILDS} builds+forwards in {sweep.seconds:.2f} s; RSS growth {growth:.1f} MB")
    assert growth < RSS_LIMIT_MB


def test_linecache_entry_lives_exactly_as_long_as_its_model() -> None:
    model, _ = make_model(1)
    filename = type(model).forward.__code__.co_filename
    assert filename in linecache.cache
    assert textwrap.indent(model.code, "    ") in "".join(linecache.getlines(filename))
    assert textwrap.dedent(inspect.getsource(type(model).forward)) == model.code
    linecache.checkcache()  # a periodic check (as traceback does) must keep the entry
    assert filename in linecache.cache
    copy = graphseq.Sequential("x, edge_index, batch", [(GCNConv(3, 2), "x, edge_index -> x")])
    copy_file = type(copy).forward.__code__.co_filename
    del model
    gc.collect()
    assert filename not in linecache.cache
    assert copy_file in linecache.cache  # another model's entry is untouched
    del copy
    gc.collect()
    assert copy_file not in linecache.cache


BUILD_SCRIPT = """
import os, sys, tempfile, torch
from torch_geometric.nn import GCNConv, global_mean_pool
from {module} import Sequential

def listing():
    return sorted(os.path.relpath(os.path.join(d, f), tempfile.gettempdir())
                  for d, _, files in os.walk(tempfile.gettempdir()) for f in files)

def build_and_run(first, header):
    model = Sequential('x, edge_index, batch', [
        (first, header), (torch.nn.ReLU(), 'h -> h'), (global_mean_pool, 'h, batch -> g'),
    ])
    return model(x, ei, batch)

x, ei = torch.randn(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])
batch = torch.tensor([0, 0, 1, 1])
print(tempfile.gettempdir())
for i in range({builds}):
    build_and_run(torch.nn.Linear(3, 4 + i % 3), 'x -> h')
print(listing())
# PyG's MessagePassing writes its own template file once per layer class: let it go first.
GCNConv(3, 4)(x, ei)
print(listing())
for i in range({builds}):
    build_and_run(GCNConv(3, 4 + i % 3), 'x, edge_index -> h')
print(listing())
"""


@dataclass
class Run:
    tempdir: str  # the temp dir the script saw
    after_torch_models: list[str]  # temp files after building models of torch layers
    after_pyg_layer: list[str]  # ... after one PyG layer ran on its own
    after_pyg_models: list[str]  # ... after building models of PyG layers
    cwd_left: list[Path]


def run_in_empty_dirs(tmp_path: Path, module: str, builds: int) -> Run:
    """Run the build script with an empty ``TMPDIR`` and an empty working directory."""
    tmp, cwd, scripts = tmp_path / "tmp", tmp_path / "cwd", tmp_path / "scripts"
    for d in (tmp, cwd, scripts):
        d.mkdir()
    script = scripts / "build_models.py"
    script.write_text(textwrap.dedent(BUILD_SCRIPT.format(module=module, builds=builds)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    tempdir, *listings = done.stdout.strip().splitlines()[-4:]
    return Run(tempdir, *map(ast.literal_eval, listings), sorted(cwd.rglob("*")))


def test_building_models_writes_no_files(tmp_path: Path) -> None:
    run = run_in_empty_dirs(tmp_path, "graphseq", builds=20)
    assert run.tempdir == str(tmp_path / "tmp")  # the script did see the empty TMPDIR
    assert run.after_torch_models == []
    assert run.after_pyg_models == run.after_pyg_layer  # PyG's own file, and nothing more
    assert run.cwd_left == []


def test_reference_writes_temp_files_where_graphseq_writes_none(tmp_path: Path) -> None:
    """Differential: the same script with ``torch_geometric.nn.Sequential`` leaves files."""
    run = run_in_empty_dirs(tmp_path, "torch_geometric.nn", builds=3)
    assert [p for p in run.after_torch_models if p.endswith(".py")], (
        "the reference no longer writes temp files"
    )
