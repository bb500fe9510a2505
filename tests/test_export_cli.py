"""``graphseq export``: a config's model to a file, with its dynamic inputs and a check run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphseq import from_config
from graphseq._export_cli import grown, random_inputs
from graphseq.cli import main

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
GCN = ROOT / "examples" / "gcn.yaml"
GCN_INPUTS = ["--input", "x=34x34", "--input", "edge_index=2x156"]

POOL = """\
inputs: "x, edge_index, batch, num_graphs: int"
steps:
  - {name: conv, module: SAGEConv, args: [8, 16], header: "x, edge_index -> x"}
  - {name: act, module: ReLU}
  - {name: pool, module: global_mean_pool, header: "x, batch, size=num_graphs -> x"}
  - {name: head, module: Linear, args: [16, 2]}
"""
POOL_WITHOUT_SIZE = """\
inputs: "x, edge_index, batch"
steps:
  - {name: conv, module: SAGEConv, args: [8, 16], header: "x, edge_index -> x"}
  - {name: act, module: ReLU}
  - {name: pool, module: global_mean_pool, header: "x, batch -> x"}
"""
POOL_INPUTS = ["-i", "x=10x8", "-i", "edge_index=2x30", "-i", "batch=10", "-i", "num_graphs=3"]


def test_export_prints_file_inputs_and_a_passing_check(tmp_path: Path, capsys):
    out = tmp_path / "gcn.pt2"
    assert main(["export", str(GCN), "-o", str(out), *GCN_INPUTS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"wrote {re.escape(str(out))} \(\d+\.\d kB\)", lines[0])
    assert lines[1:4] == [
        "inputs (d0, d1, ... are dynamic sizes):",
        "  x           float32[d0, 34]",
        "  edge_index  int64[2, d1]",
    ]
    assert re.fullmatch(
        r"check: \.pt2 vs eager on another size \(x=\[69, 34\], edge_index=\[2, 313\]\): "
        r"largest difference \S+, OK",
        lines[4],
    )
    assert torch.export.load(out).module()(torch.randn(5, 34), torch.tensor([[0], [4]])).shape \
        == (5, 4)


def test_weights_are_loaded_into_the_exported_file(tmp_path: Path, capsys):
    torch.manual_seed(3)
    trained = from_config(GCN).eval()
    for p in trained.parameters():
        p.data.normal_()
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "gcn.pt2"
    weights = ["--weights", str(tmp_path / "weights.pt")]
    argv = ["export", str(GCN), "-o", str(out), *GCN_INPUTS, *weights]
    assert main(argv) == 0
    x, edge_index = torch.randn(40, 34), torch.randint(0, 40, (2, 90))
    with torch.no_grad():
        torch.testing.assert_close(torch.export.load(out).module()(x, edge_index),
                                   trained(x, edge_index))


def test_weights_that_do_not_fit_are_one_error_line(tmp_path: Path, capsys):
    torch.save({"conv1.lin.weight": torch.zeros(3, 3)}, tmp_path / "weights.pt")
    argv = ["export", str(GCN), "-o", str(tmp_path / "m.pt2"), *GCN_INPUTS,
            "--weights", str(tmp_path / "weights.pt")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphseq export: error: ") and len(err.splitlines()) == 1
    assert "does not fit the config's model" in err


def test_graph_level_config_exports_to_onnx_with_num_graphs_dynamic(tmp_path: Path, capsys):
    config = tmp_path / "pool.yaml"
    config.write_text(POOL, encoding="utf-8")
    out = tmp_path / "pool.onnx"
    assert main(["export", str(config), "-o", str(out), *POOL_INPUTS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  batch       int64[d0]" in lines
    assert "  num_graphs  int d2" in lines
    assert "batch=[21], num_graphs=7)" in lines[-1] and lines[-1].endswith(", OK")


def test_a_pool_without_size_fails_in_one_line_naming_step_and_fix(tmp_path: Path, capsys):
    config = tmp_path / "pool.yaml"
    config.write_text(POOL_WITHOUT_SIZE, encoding="utf-8")
    out = tmp_path / "pool.pt2"
    argv = ["export", str(config), "-o", str(out), "-i", "x=10x8", "-i", "edge_index=2x30",
            "-i", "batch=10"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()  # torch's partial graph is held back
    assert line.startswith("graphseq export: error: torch.export failed: ")
    assert "raised in step 2 ('pool'): x, batch -> x" in line
    assert "header: 'x, batch, size=num_graphs -> x'" in line
    assert not out.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "m.pt2", "-i", "x=34x34"], "missing --input edge_index=SHAPE"),
    (["-o", "m.pt2", *GCN_INPUTS, "-i", "y=3"], "the model has no input 'y'"),
    (["-o", "m.pt", *GCN_INPUTS], "must end in .pt2 (torch.export) or .onnx"),
    (["-o", "m.pt2", "-i", "x=1x34", "-i", "edge_index=2x156"], "'x' has 1 row"),
    (["-o", "m.pt2", "-i", "x=10x34", "-i", "edge_index=2x1"],
     "'edge_index' has size 1 in dimension 1"),
    (["-o", "m.pt2", "-i", "x=10x34", "-i", "edge_index=2x0"],
     "'edge_index' has size 0 in dimension 1"),
    (["-o", "m.pt2", "-i", "x=10x34:float16", "-i", "edge_index=2x15"],
     "--input x is float16, but the model's weights are float32"),
])
def test_bad_command_lines_are_one_error_line(argv, message, tmp_path: Path, capsys,
                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(GCN), *argv]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_aot_writes_a_package_that_aoti_load_package_runs_on_any_size(tmp_path: Path, capsys):
    # The one real AOTInductor compile of this file: about 15-30 s on a 2-core machine.
    torch.manual_seed(5)
    trained = from_config(GCN).eval()
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "gcn_aot.pt2"
    argv = ["export", str(GCN), "-o", str(out), "--aot", *GCN_INPUTS,
            "--weights", str(tmp_path / "weights.pt")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"wrote {re.escape(str(out))} \(\d+\.\d (kB|MB)\)", lines[0])
    assert lines[1:4] == [
        "inputs (d0, d1, ... are dynamic sizes):",
        "  x           float32[d0, 34]",
        "  edge_index  int64[2, d1]",
    ]
    assert re.fullmatch(
        r"check: AOTInductor \.pt2 vs eager on another size \(x=\[69, 34\], "
        r"edge_index=\[2, 313\]\): largest difference \S+, OK",
        lines[4],
    )
    compiled = torch._inductor.aoti_load_package(str(out))
    x, edge_index = torch.randn(7, 34), torch.randint(0, 7, (2, 20))  # a third size
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, edge_index), trained(x, edge_index))


@pytest.mark.parametrize("name", ["m.onnx", "m.pt", "m"])
def test_aot_refuses_an_output_not_ending_in_pt2_as_a_usage_error(name, tmp_path: Path, capsys,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(GCN), "-o", name, "--aot", *GCN_INPUTS]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"graphseq export: error: --aot writes an AOTInductor package, whose file name must "
        f"end in .pt2 (got -o {name})"
    ]
    assert list(tmp_path.iterdir()) == []


def test_random_inputs_are_valid_indices_and_batches():
    specs = {"x": ((7, 3), torch.float32), "edge_index": ((2, 50), torch.int64),
             "batch": ((7,), torch.int64), "num_graphs": 3}
    inputs = random_inputs(specs, seed=0)
    assert 0 <= int(inputs["edge_index"].min()) and int(inputs["edge_index"].max()) < 7
    assert inputs["batch"].tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert inputs["num_graphs"] == 3


def test_the_check_input_grows_every_dynamic_size_and_keeps_static_ones():
    from graphseq.export import export_program

    model = from_config(GCN).eval()
    specs = {"x": ((34, 34), torch.float32), "edge_index": ((2, 156), torch.int64)}
    program = export_program(model, **random_inputs(specs, seed=0))
    assert grown(program, specs) == {
        "x": ((69, 34), torch.float32), "edge_index": ((2, 313), torch.int64),
    }


def test_an_existing_folder_as_output_is_refused_naming_it_before_exporting(tmp_path: Path,
                                                                          capsys):
    folder = tmp_path / "out.pt2"
    folder.mkdir()
    assert main(["export", str(GCN), "-o", str(folder), *GCN_INPUTS]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"graphseq export: error: cannot export to {str(folder)!r}: it is a folder; " \
        "give a file name"
    assert list(folder.iterdir()) == []


def test_a_wrong_input_width_is_one_line_without_torch_logs(tmp_path: Path):
    # A subprocess: torch's loggers hold the real stderr, which capsys does not see.
    argv = ["export", str(GCN), "-o", str(tmp_path / "m.pt2"), "-i", "x=10x7",
            "-i", "edge_index=2x156"]
    done = subprocess.run([sys.executable, "-m", "graphseq", *argv], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("graphseq export: error: mat1 and mat2 shapes cannot be multiplied")
    assert "raised in step 0 ('conv1')" in line
    assert list(tmp_path.iterdir()) == []


def test_weights_missing_or_unexpected_keys_are_named(tmp_path: Path, capsys):
    state = from_config(GCN).state_dict()
    del state["conv2.bias"]
    state["conv3.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "weights.pt")
    argv = ["export", str(GCN), "-o", str(tmp_path / "m.pt2"), *GCN_INPUTS,
            "--weights", str(tmp_path / "weights.pt")]
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"graphseq export: error: --weights {tmp_path / 'weights.pt'} does not fit the "
        "config's model: missing conv2.bias; unexpected conv3.weight"
    )


def test_a_weights_file_that_is_not_a_state_dict_is_one_plain_line(tmp_path: Path, capsys):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a whole module, not weights
    argv = ["export", str(GCN), "-o", str(tmp_path / "m.pt2"), *GCN_INPUTS,
            "--weights", str(tmp_path / "module.pt")]
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "\x1b" not in line
    assert line == (
        f"graphseq export: error: --weights {tmp_path / 'module.pt'}: not a state dict that "
        "torch.load(weights_only=True) reads (UnpicklingError); save one with "
        "torch.save(model.state_dict(), path)"
    )
