"""The ``graphseq`` command.

The entry points (console script, ``python -m graphseq``), the demo and the error contract
(one line, no traceback, ``--debug``) run as real subprocesses. The rest calls
``graphseq.cli.main(argv)`` in this process, which is what those entry points run, to keep
the suite fast: each subprocess pays for importing torch and PyG.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import graphseq
from graphseq.cli import main, parse_input

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GCN = EXAMPLES / "gcn.yaml"


def graphseq_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m graphseq ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "graphseq", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``graphseq ARGS`` in this process: exit status, stdout, stderr."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as exit:  # argparse: --help, usage errors
        status = int(exit.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def assert_clean_error(done: subprocess.CompletedProcess[str], command: str) -> str:
    """A failed command: exit status 1, one line on stderr, no traceback; that line."""
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"graphseq {command}: error: ")
    return lines[0]


@pytest.fixture
def bad_configs(tmp_path: Path) -> dict[str, Path]:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "inputs: x, edge_index\n"
        "steps:\n"
        "  - name: conv1\n"
        "    module: GCNConf\n"
        "    args: [34, 16]\n"
        "    header: x, edge_index -> x1\n"
        "  - module: ReLU\n"
        "    args: 3\n"
        "  - name: conv2\n"
        "    module: GCNConv\n"
        "    args: [16, 4]\n"
        "    kwarg: {cached: true}\n"
        "    header: x1, edge_index -> x\n"
    )
    header = tmp_path / "header.yaml"
    header.write_text(GCN.read_text().replace("args: [16, 4]\n    header: x, edge_index",
                                              "args: [16, 4]\n    header: h, edge_index"))
    return {"schema": schema, "header": header}


def test_console_script_is_installed() -> None:
    script = shutil.which("graphseq", path=str(Path(sys.executable).parent))
    assert script is not None, "the 'graphseq' console script is not installed next to python"
    done = subprocess.run([script, "check", GCN], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"OK: {GCN}: 4 steps, inputs (x, edge_index) -> outputs (x), 628 parameters\n"
    )


def test_python_m_graphseq_help() -> None:
    done = graphseq_cli("--help")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: graphseq")
    for command in ("demo", "check", "summary", "draw", "--debug", "--version"):
        assert command in done.stdout


@pytest.mark.parametrize("command", ["demo", "check", "summary", "draw"])
def test_help_on_each_command(capsys: pytest.CaptureFixture[str], command: str) -> None:
    status, out, err = run_main(capsys, command, "--help")
    assert status == 0 and err == ""
    assert out.startswith(f"usage: graphseq {command}")
    expected = {
        "demo": ["--epochs", "--out", "--seed"],
        "check": ["config", "--allow-imports", "runs code named in the config", "--max-bytes N"],
        "summary": ["--input NAME=SHAPE[:DTYPE]", "int64 for edge_index, batch, ptr"],
        "draw": ["-o OUTPUT", ".mmd"],
    }[command]
    for text in expected:
        assert text in " ".join(out.split()), text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "--version")
    assert status == 0 and out.strip() == f"graphseq {graphseq.__version__}"


def test_demo_trains_reports_accuracy_and_draws(tmp_path: Path) -> None:
    done = graphseq_cli("demo", "--epochs", "30", "--out", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "loss=" in done.stderr  # the tqdm progress bar
    train = re.search(r"train accuracy: ([\d.]+) \(4 nodes\)", done.stdout)
    test = re.search(r"test accuracy: +([\d.]+) \(30 nodes\)", done.stdout)
    assert train and test, done.stdout
    assert float(train.group(1)) == 1.0
    assert 0.5 <= float(test.group(1)) <= 1.0  # chance is about 0.25 for 4 communities
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    if shutil.which("dot"):
        assert files == ["karate_gcn.svg", "karate_gcn.yaml"]
        assert (tmp_path / "out" / "karate_gcn.svg").read_text().lstrip().startswith("<?xml")
    else:
        assert files == ["karate_gcn.dot", "karate_gcn.yaml"]
        assert (tmp_path / "out" / "karate_gcn.dot").read_text().startswith("digraph")
    config = yaml.safe_load((tmp_path / "out" / "karate_gcn.yaml").read_text())
    assert [s["module"] for s in config["steps"]] == ["GCNConv", "ReLU", "Dropout", "GCNConv"]


def test_check_lists_every_problem_with_step_and_header(bad_configs: dict[str, Path]) -> None:
    path = bad_configs["schema"]
    done = graphseq_cli("check", path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{path}: steps[0] ('conv1').module: unknown module 'GCNConf'. "
        "Did you mean 'GCNConv', 'GCN2Conv' or 'RGCNConv'?",
        "    header: x, edge_index -> x1",
        f"{path}: steps[1] ('module_1').args: must be a list (got int 3)",
        f"{path}: steps[2] ('conv2').kwarg: unknown key. Did you mean 'kwargs'?",
        "    header: x1, edge_index -> x",
        f"{path}: 3 problems",
    ]


def test_check_shows_header_errors_with_a_caret(
    capsys: pytest.CaptureFixture[str], bad_configs: dict[str, Path]
) -> None:
    path = bad_configs["header"]
    status, out, _ = run_main(capsys, "check", path)
    assert status == 1
    assert out.splitlines() == [
        f"In {path}, steps[3] ('conv2').header: reads 'h', which is not defined yet.",
        "    h, edge_index -> x",
        "    ^",
        "  defined at this point: x, edge_index. Did you mean 'x'?",
        f"{path}: 1 problem",
    ]


def test_summary_with_example_inputs() -> None:
    done = graphseq_cli("summary", GCN, "--input", "x=34x34", "-i", "edge_index=2x156:int64")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Inputs: x [34, 34] float32, edge_index [2, 156] int64"
    assert re.match(r"0\s+conv1\s+GCNConv\(34, 16\)\s+x, edge_index -> x\s+\[34, 16\] float32"
                    r"\s+560$", lines[3])
    assert "Outputs: x [34, 4] float32" in lines
    assert "Total params: 628" in lines


def test_summary_without_inputs_has_no_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "summary", GCN)
    assert status == 0
    assert "float32" not in out and "Total params: 628" in out


def test_errors_are_one_line_without_traceback() -> None:
    done = graphseq_cli("summary", GCN, "-i", "x=34x33", "-i", "edge_index=2x4:int64")
    line = assert_clean_error(done, "summary")
    assert line == (
        "graphseq summary: error: mat1 and mat2 shapes cannot be multiplied (34x33 and 34x16) "
        "(raised in step 0 ('conv1') during summary(): x, edge_index -> x)"
    )


def in_process_error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    status, _, err = run_main(capsys, *args)
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"graphseq {args[0]}: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "x=34x34"], "missing --input edge_index=SHAPE (the model's inputs: x, edge_index)"),
        (["-i", "x=34x34", "-i", "edge_index=2x4:int64", "-i", "y=3"],
         "--input y: the model has no input 'y'; its inputs: x, edge_index"),
    ],
)
def test_summary_input_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert message in in_process_error(capsys, "summary", GCN, *args)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("x=3y", "shape '3y' is not sizes joined by 'x'"),
        ("x", "'x' is not NAME=SHAPE[:DTYPE]"),
        ("x=3:float99", "'float99' is not a torch dtype"),
    ],
)
def test_bad_input_spec_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    status, _, err = run_main(capsys, "summary", GCN, "-i", spec)
    assert status == 2
    assert message in err


def test_config_errors_outside_check_are_one_line(
    capsys: pytest.CaptureFixture[str], bad_configs: dict[str, Path]
) -> None:
    line = in_process_error(capsys, "draw", bad_configs["schema"])
    assert "steps[0] ('conv1').module: unknown module 'GCNConf'" in line
    assert "(and 2 more; 'graphseq check' lists them)" in line


def test_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = in_process_error(capsys, "check", tmp_path / "none.yaml")
    assert line.endswith(f"cannot read '{tmp_path / 'none.yaml'}': No such file or directory")


def test_debug_shows_the_traceback(bad_configs: dict[str, Path]) -> None:
    done = graphseq_cli("summary", bad_configs["header"], "--debug")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "graphseq._errors.HeaderError: In " in done.stderr


def test_draw_writes_each_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outputs = [tmp_path / "model.mmd", tmp_path / "model.dot"]
    if shutil.which("dot"):
        outputs += [tmp_path / "model.svg", tmp_path / "sub" / "model.png"]
    for out in outputs:
        status, stdout, _ = run_main(capsys, "draw", GCN, "-o", out)
        assert status == 0
        assert stdout.strip() == str(out)
    assert (tmp_path / "model.mmd").read_text().startswith("flowchart")
    assert (tmp_path / "model.dot").read_text().startswith("digraph")
    if shutil.which("dot"):
        assert (tmp_path / "model.svg").read_text().lstrip().startswith("<?xml")
        assert (tmp_path / "sub" / "model.png").read_bytes().startswith(b"\x89PNG")
    line = in_process_error(capsys, "draw", GCN, "-o", tmp_path / "model.pdf")
    assert "must end in .svg, .png, .dot" in line


def test_draw_default_output_is_named_after_the_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed (apt-get install graphviz)")
    monkeypatch.chdir(tmp_path)
    status, out, _ = run_main(capsys, "draw", GCN)
    assert status == 0 and out.strip() == "gcn.svg"
    assert (tmp_path / "gcn.svg").read_text().lstrip().startswith("<?xml")


def test_demo_writes_dot_text_without_graphviz(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no 'dot' on this PATH
    status, out, err = run_main(capsys, "demo", "--epochs", "3", "--out", tmp_path / "out")
    assert status == 0
    assert "Graphviz's 'dot' was not found, so the diagram is DOT text" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "karate_gcn.dot", "karate_gcn.yaml"
    ]
    assert (tmp_path / "out" / "karate_gcn.dot").read_text().startswith("digraph")
    assert "loss=" in err


def test_warnings_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "dead.yaml"
    path.write_text(
        "inputs: x\noutputs: x\nsteps:\n"
        "  - {name: a, module: Linear, args: [4, 4], header: x -> h}\n"
        "  - {name: b, module: ReLU, header: x -> x}\n"
    )
    status, out, err = run_main(capsys, "check", path)
    assert status == 0 and out.startswith("OK: ")
    assert err == (
        "graphseq: warning: the results of step(s) 0 ('a') reach no output of the model.\n"
    )


@pytest.mark.parametrize(
    ("spec", "dtype"),
    [
        ("edge_index=2x156", "int64"), ("batch=34", "int64"), ("ptr=3", "int64"),
        ("node_index=5", "int64"), ("x=34x16", "float32"), ("index=5", "float32"),
        ("edge_index=2x4:int32", "int32"), ("batch=3:float64", "float64"),
    ],
)
def test_index_like_inputs_default_to_int64(spec: str, dtype: str) -> None:
    assert str(parse_input(spec)[2]) == f"torch.{dtype}"


def test_summary_with_an_edge_index_needs_no_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "summary", GCN, "-i", "x=34x34", "-i", "edge_index=2x6")
    assert status == 0, err
    assert out.splitlines()[0] == "Inputs: x [34, 34] float32, edge_index [2, 6] int64"


def test_repeated_input_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys, "summary", GCN, "-i", "x=34x34", "-i", "x=3x34",
                              "-i", "edge_index=2x6")
    assert status == 2
    assert "error: --input x is given twice; give each input once" in err


def test_draw_to_a_folder_says_it_is_a_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = in_process_error(capsys, "draw", GCN, "-o", tmp_path)
    assert line == (
        f"graphseq draw: error: cannot write a diagram to {str(tmp_path)!r}: it is a folder; "
        f"name a file in it, such as {str(tmp_path / 'model.svg')!r}"
    )


def test_demo_out_that_is_a_file_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "taken"
    out.write_text("")
    line = in_process_error(capsys, "demo", "--epochs", "1", "--out", out)
    assert line == f"graphseq demo: error: --out {str(out)!r} is a file; --out names a folder"


def test_max_bytes_overrides_the_size_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "gcn.yaml"
    path.write_text(GCN.read_text() + "#" * 2**20 + "\n")
    status, out, _ = run_main(capsys, "check", path)
    assert status == 1
    assert out.splitlines()[0].startswith(f"{path}: is {path.stat().st_size:,} bytes, more than")
    status, out, _ = run_main(capsys, "check", path, "--max-bytes", str(2 * 2**20))
    assert status == 0 and out.startswith(f"OK: {path}: 4 steps")


def test_broken_example_lists_its_problems(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "broken.yaml"
    status, out, _ = run_main(capsys, "check", path)
    assert status == 1
    lines = out.splitlines()
    assert lines[-1] == f"{path}: 3 problems"
    assert all(line.startswith((f"{path}: steps[", "    header: ")) for line in lines[:-1])
