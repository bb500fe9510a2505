"""``import graphseq`` costs about what ``import torch`` costs: nothing heavy is loaded until used.

torch._dynamo alone is about 4 s of import on the development machine; PyG, yaml and the ONNX
packages are loaded by the features that need them. (``import torch`` itself loads torch.fx and
torch.export in torch 2.13, so those are checked as "not added by graphseq".)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch._dynamo", "torch._inductor", "torch_geometric", "yaml", "onnx", "onnxscript",
         "onnxruntime", "torch.export", "torch.fx", "torch.onnx")

_PROBE = """
import io, json, sys, contextlib
import torch
before = set(sys.modules)
import graphseq
after_import = set(sys.modules)
from graphseq.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["--help"])
    except SystemExit:
        pass
heavy = {heavy!r}
print(json.dumps({{
    "import": sorted(m for m in heavy if m in after_import and m not in before),
    "help": sorted(m for m in heavy if m in sys.modules and m not in before),
    "usage": out.getvalue().startswith("usage: graphseq"),
}}))
"""


def test_import_and_help_load_no_heavy_module_beyond_torch() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY)], check=True,
                         capture_output=True, text=True, env=env, timeout=300)
    found = json.loads(out.stdout.splitlines()[-1])
    assert found == {"import": [], "help": [], "usage": True}


def test_the_trimmed_lookup_is_marked_as_assume_constant_result_would() -> None:
    """codegen marks the trimmed forward's lookup itself, so as not to import torch._dynamo at
    load: the mark must be exactly what torch.compiler.assume_constant_result sets."""
    from torch_geometric.nn import SAGEConv

    from graphseq import Sequential
    from graphseq._codegen import generate, trimmed_runner

    def probe() -> int:
        return 0

    before = dict(vars(probe))
    torch.compiler.assume_constant_result(probe)
    marked = {k: v for k, v in vars(probe).items() if k not in before}
    assert marked == {"_dynamo_marked_constant": True}
    model = Sequential("x, edge_index", [(SAGEConv(4, 4), "x, edge_index -> x")])
    runner, _ = trimmed_runner(generate(model.plan), model.children_by_name(), {})
    cells = [c.cell_contents for c in runner.__closure__ or ()]
    lookup = next(c for c in cells if getattr(c, "__name__", "") == "lookup")
    assert {k: vars(lookup).get(k) for k in marked} == marked
