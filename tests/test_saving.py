"""graphseq.save and graphseq.load: one safe file, read back exactly, refused clearly when wrong."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch_geometric.nn import GCNConv, SAGEConv, global_mean_pool

import graphseq
from graphseq.cli import main
from graphseq.config import ConfigError
from graphseq.saving import FORMAT, SavedModelError, read_header

ROOT = Path(__file__).resolve().parents[1]


def hand_built() -> graphseq.Sequential:
    torch.manual_seed(0)
    return graphseq.Sequential("x, edge_index, batch", [
        (GCNConv(8, 16, cached=False, aggr="max"), "x, edge_index -> x1"),
        torch.nn.ReLU(),
        (SAGEConv(16, 16), "x1, edge_index -> x2"),
        (torch.nn.BatchNorm1d(16), "x2 -> x2"),
        (global_mean_pool, "x2, batch -> x"),
        (torch.nn.Linear(16, 3, bias=False), "x -> x"),
    ])


def graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 8, generator=gen)
    edge_index = torch.randint(0, 12, (2, 40), generator=gen)
    return x, edge_index, torch.tensor([0] * 5 + [1] * 7)


def trained() -> graphseq.Sequential:
    model = hand_built()
    model(*graph())  # BatchNorm's running statistics move: buffers differ from a new model
    return model


def rewrite(path: Path, change: Any) -> Path:
    """Rewrite the file's header with ``change(header)``; the data stays as it was."""
    blob = path.read_bytes()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    change(header)
    text = json.dumps(header).encode()
    out = path.with_name("changed.safetensors")
    out.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + length:])
    return out


def test_load_of_save_is_the_same_model(tmp_path: Path) -> None:
    model = trained()
    path = graphseq.save(model, tmp_path / "model.safetensors")
    again = graphseq.load(path)
    assert repr(again) == repr(model)
    assert again.to_config() == model.to_config()
    assert list(again.state_dict()) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert value.dtype == again.state_dict()[key].dtype
        assert torch.equal(value, again.state_dict()[key]), key
    model.eval()
    again.eval()
    assert torch.equal(again(*graph()), model(*graph()))


def test_the_file_is_the_safetensors_layout_with_versions(tmp_path: Path) -> None:
    path = graphseq.save(trained(), tmp_path / "model.safetensors")
    blob = path.read_bytes()
    (length,) = struct.unpack("<Q", blob[:8])
    assert (8 + length) % 8 == 0
    header = json.loads(blob[8:8 + length])
    meta = header.pop("__metadata__")
    assert meta["graphseq.format"] == str(FORMAT)
    assert meta["graphseq.version"] == graphseq.__version__
    assert meta["torch.version"] == torch.__version__
    assert json.loads(meta["graphseq.config"]) == trained().to_config()
    end = max(entry["data_offsets"][1] for entry in header.values())
    assert len(blob) == 8 + length + end
    weight = header["module_5.weight"]
    start, stop = weight["data_offsets"]
    values = torch.frombuffer(bytearray(blob[8 + length + start: 8 + length + stop]),
                              dtype=torch.float32).reshape(weight["shape"])
    assert torch.equal(values, trained().state_dict()["module_5.weight"])
    assert read_header(path) == meta


SCRIPT_LOAD = """
import sys, torch, graphseq
model = graphseq.load(sys.argv[1])
assert not any("test_saving" in name for name in sys.modules), "the source was imported"
model.eval()
gen = torch.Generator().manual_seed(1)
x = torch.randn(12, 8, generator=gen)
edge_index = torch.randint(0, 12, (2, 40), generator=gen)
batch = torch.tensor([0] * 5 + [1] * 7)
torch.save({"out": model(x, edge_index, batch), "state": model.state_dict(),
            "repr": repr(model), "config": model.to_config()}, sys.argv[2])
"""


def _no_addresses(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", text)  # <function global_mean_pool at 0x7f...>


def test_a_fresh_process_without_the_source_loads_the_same_model(tmp_path: Path) -> None:
    model = trained()  # built by this file's code, which the loading process never imports
    saved = graphseq.save(model, tmp_path / "m.safetensors")
    got = tmp_path / "got.pt"
    subprocess.run([sys.executable, "-c", SCRIPT_LOAD, str(saved), str(got)], check=True,
                   env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
                   cwd=tmp_path, timeout=300)
    loaded = torch.load(got, weights_only=True)
    assert _no_addresses(loaded["repr"]) == _no_addresses(repr(model))
    assert loaded["config"] == model.to_config()
    state = model.state_dict()
    assert list(loaded["state"]) == list(state)
    assert all(torch.equal(loaded["state"][k], state[k]) for k in state)
    assert torch.equal(loaded["out"], model.eval()(*graph()))


def test_a_lazy_model_is_refused_before_its_first_call_and_saved_after(tmp_path: Path) -> None:
    model = graphseq.Sequential("x, edge_index", [(SAGEConv(-1, 4), "x, edge_index -> x")])
    with pytest.raises(ValueError, match=r"module_0\.lin_l\.weight, module_0\.lin_r\.weight "
                                         r"are lazy and not initialized yet; call the model once"):
        graphseq.save(model, tmp_path / "lazy.safetensors")
    assert not (tmp_path / "lazy.safetensors").exists()
    x, edge_index, _ = graph()
    model(x, edge_index)
    again = graphseq.load(graphseq.save(model, tmp_path / "lazy.safetensors"))
    assert torch.equal(again(x, edge_index), model(x, edge_index))


def test_a_newer_format_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = graphseq.save(trained(), tmp_path / "model.safetensors")
    newer = rewrite(path, lambda h: h["__metadata__"].update({"graphseq.format": "2"}))
    with pytest.raises(SavedModelError, match=rf"{newer}: was written in format 2 .*; this "
                                              rf"graphseq \(.*\) reads format 1 and older"):
        graphseq.load(newer)


@pytest.mark.parametrize("keep", [0, 7, 8, 100, -1, -300])
def test_a_file_cut_short_is_refused_naming_it(tmp_path: Path, keep: int) -> None:
    path = graphseq.save(trained(), tmp_path / "model.safetensors")
    blob = path.read_bytes()
    path.write_bytes(blob[:keep] if keep >= 0 else blob[:len(blob) + keep])
    with pytest.raises(SavedModelError, match=rf"^{path}: .*(cut short|shorter than a header)"):
        graphseq.load(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda h: h["module_5.weight"].update({"dtype": "C64"}),
     r"tensor 'module_5.weight': dtype 'C64' is not one graphseq writes"),
    (lambda h: h["module_5.weight"].update({"shape": [3, 17]}),
     r"tensor 'module_5.weight': data_offsets .* but F32 \[3, 17\] needs 204"),
    (lambda h: h["module_5.weight"]["data_offsets"].__setitem__(0, 4),
     r"tensor 'module_5.weight': data_offsets"),
    (lambda h: h.pop("__metadata__"), r"is not a graphseq model file: its header has no "),
    (lambda h: h["__metadata__"].update({"graphseq.config": "{"}),
     r"its metadata key 'graphseq.config' is not JSON"),
])
def test_a_corrupted_header_is_refused_naming_the_key(
    tmp_path: Path, change: Any, message: str
) -> None:
    path = rewrite(graphseq.save(trained(), tmp_path / "model.safetensors"), change)
    with pytest.raises(SavedModelError, match=message):
        graphseq.load(path)


def test_weights_that_do_not_fit_the_config_are_refused_naming_the_keys(tmp_path: Path) -> None:
    def wider(header: dict[str, Any]) -> None:
        config = json.loads(header["__metadata__"]["graphseq.config"])
        config["steps"][5]["args"] = [16, 4]
        config["steps"][3]["module"] = "LayerNorm"
        header["__metadata__"]["graphseq.config"] = json.dumps(config)

    path = rewrite(graphseq.save(trained(), tmp_path / "model.safetensors"), wider)
    with pytest.raises(SavedModelError) as info:
        graphseq.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: its weights do not fit its config: ")
    assert "no tensor 'module_3.weight'" not in message  # LayerNorm has weight and bias too
    assert "tensor 'module_3.running_mean' is in no step" in message
    assert "'module_5.weight' is (3, 16) torch.float32 in the file, (4, 16)" in message


def test_loading_imports_no_code_unless_allowed(tmp_path: Path) -> None:
    def by_path(header: dict[str, Any]) -> None:
        config = json.loads(header["__metadata__"]["graphseq.config"])
        config["steps"][1]["module"] = "torch.nn.modules.activation.ReLU"
        header["__metadata__"]["graphseq.config"] = json.dumps(config)

    path = rewrite(graphseq.save(trained(), tmp_path / "model.safetensors"), by_path)
    with pytest.raises(ConfigError, match="is an import path, and configs import no code") as info:
        graphseq.load(path)
    assert f"graphseq: in the config saved in {path}" in info.value.__notes__
    assert isinstance(graphseq.load(path, allow_imports=True)[1], torch.nn.ReLU)


def test_the_cli_reads_a_saved_model_without_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = graphseq.save(trained(), tmp_path / "model.safetensors")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {path}: 6 steps, inputs (x, edge_index, "
                                              "batch) -> outputs (x)")
    assert main(["summary", str(path), "-i", "x=12x8", "-i", "edge_index=2x40",
                 "-i", "batch=12"]) == 0
    assert "module_5" in capsys.readouterr().out
    assert main(["draw", str(path), "-o", str(tmp_path / "model.dot")]) == 0
    assert "module_0" in (tmp_path / "model.dot").read_text()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[:50])
    assert main(["check", str(broken)]) == 1
    assert "cut short" in capsys.readouterr().err


def test_a_loaded_model_can_be_cut_edited_and_saved_again(tmp_path: Path) -> None:
    model = trained()
    again = graphseq.load(graphseq.save(model, tmp_path / "model.safetensors"))
    head = again.submodel("x1")
    x, edge_index, batch = graph()
    model.eval()
    again.eval()
    assert torch.equal(head(x, edge_index), model.submodel("x1")(x, edge_index))
    again.replace("module_1", torch.nn.ELU())
    edited = graphseq.load(graphseq.save(again, tmp_path / "edited.safetensors"))
    assert isinstance(edited["module_1"], torch.nn.ELU)
    edited.eval()
    assert torch.equal(edited(x, edge_index, batch), again(x, edge_index, batch))


def test_a_loaded_model_exports(tmp_path: Path) -> None:
    model = graphseq.Sequential("x, edge_index", [
        (GCNConv(8, 16), "x, edge_index -> x"), torch.nn.ReLU(),
        (GCNConv(16, 4), "x, edge_index -> x"),
    ])
    again = graphseq.load(graphseq.save(model, tmp_path / "model.safetensors")).eval()
    x, edge_index, _ = graph()
    out = again.export(tmp_path / "model.pt2", x, edge_index)
    program = torch.export.load(out).module()
    assert torch.allclose(program(x, edge_index), model.eval()(x, edge_index), atol=1e-5)


def test_a_config_and_state_dict_saved_the_old_way_still_load(tmp_path: Path) -> None:
    model = trained()
    graphseq.config.save(model, tmp_path / "model.yaml")
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    again = graphseq.from_config(tmp_path / "model.yaml")
    again.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))
    model.eval()
    again.eval()
    assert torch.equal(again(*graph()), model(*graph()))
    saved = graphseq.load(graphseq.save(again, tmp_path / "model.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(),
                                                 model.state_dict().values(), strict=True))


def test_saving_refuses_a_config_name_a_folder_and_steps_it_cannot_describe(
    tmp_path: Path,
) -> None:
    model = trained()
    with pytest.raises(ValueError, match="a saved model is not a config file"):
        graphseq.save(model, tmp_path / "model.yaml")
    with pytest.raises(ValueError, match="is a folder"):
        graphseq.save(model, tmp_path)
    odd = graphseq.Sequential("x", [(lambda x: 2 * x, "x -> x")])
    with pytest.raises(ValueError, match=r"to_config\(\) cannot describe step 0"):
        graphseq.save(odd, tmp_path / "odd.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_saving_module_runs_its_examples() -> None:
    import doctest

    import graphseq.saving

    result = doctest.testmod(graphseq.saving, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
    assert (graphseq.save.__doc__ or "").strip()


def _file_with_header(path: Path, text: str) -> Path:
    raw = text.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


@pytest.mark.parametrize("nested", ["header", "config"])
def test_a_deeply_nested_header_is_refused_naming_the_file(tmp_path: Path, nested: str) -> None:
    depth = 200_000  # far past Python's recursion limit: json.loads alone raises RecursionError
    if nested == "header":
        text = "[" * depth + "]" * depth
    else:
        meta = {"graphseq.format": "1", "graphseq.config": '{"a":' * depth + "1" + "}" * depth,
                "graphseq.version": "0", "torch.version": "0", "torch_geometric.version": "0"}
        text = json.dumps({"__metadata__": meta})
    path = _file_with_header(tmp_path / "deep.safetensors", text)
    with pytest.raises(SavedModelError, match=rf"^{path}: .*nests lists and mappings deeper "
                                              r"than \d+ levels"):
        graphseq.load(path)
    with pytest.raises(SavedModelError, match=rf"^{path}: "):
        read_header(path) if nested == "header" else graphseq.load(path)


SCRIPT_HUGE = """
import resource, sys
import graphseq
# No more than 4 GB of address space beyond what is mapped now: building the declared
# Linear(200000, 200000) (160 GB) would fail, not just allocate, on any machine.
with open("/proc/self/status") as status:
    mapped = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + (4 << 30), resource.RLIM_INFINITY))
try:
    graphseq.load(sys.argv[1])
except graphseq.saving.SavedModelError as error:
    print("refused:", error)
except BaseException as error:
    print("other:", type(error).__name__, str(error)[:300])
"""


def test_a_config_larger_than_its_weights_is_refused_before_it_is_built(tmp_path: Path) -> None:
    model = graphseq.Sequential("x", [(torch.nn.Linear(2, 2), "x -> x")])

    def huge(header: dict[str, Any]) -> None:
        config = json.loads(header["__metadata__"]["graphseq.config"])
        config["steps"][0]["args"] = [200_000, 200_000]
        header["__metadata__"]["graphseq.config"] = json.dumps(config)

    path = rewrite(graphseq.save(model, tmp_path / "model.safetensors"), huge)
    run = subprocess.run([sys.executable, "-c", SCRIPT_HUGE, str(path)], capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"refused: {path}: its weights do not fit its config: "
                                 "'module_0.weight' is (2, 2) torch.float32 in the file, "
                                 "(200000, 200000) torch.float32 in the config's model"), run.stdout



@pytest.mark.parametrize("where", ["cpu", "meta", torch.device("cpu"), torch.device("meta")])
def test_map_location_puts_every_tensor_there(tmp_path: Path, where: Any) -> None:
    model = trained()
    again = graphseq.load(graphseq.save(model, tmp_path / "model.safetensors"), map_location=where)
    want = torch.device(where).type
    assert repr(again) == repr(model)
    assert again.training
    for key, value in model.state_dict().items():
        got = again.state_dict()[key]
        assert (got.device.type, got.shape, got.dtype) == (want, value.shape, value.dtype), key
        if want == "cpu":
            assert torch.equal(got, value), key
    assert all(t.device.type == want for t in [*again.parameters(), *again.buffers()])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes((tmp_path / "model.safetensors").read_bytes()[:-4])
    with pytest.raises(SavedModelError, match="cut short"):  # on meta too, though not read
        graphseq.load(cut, map_location=where)


@pytest.mark.parametrize("where", [{"cuda:0": "cpu"}, lambda storage, location: storage, 0.5])
def test_map_location_that_is_no_device_is_refused_naming_the_argument(
    tmp_path: Path, where: Any
) -> None:
    path = graphseq.save(trained(), tmp_path / "model.safetensors")
    with pytest.raises(TypeError, match=r"^graphseq.load: map_location must be a device .*, not "
                                        rf"{type(where).__name__}"):
        graphseq.load(path, map_location=where)
    with pytest.raises(ValueError, match=r"^graphseq.load: map_location 'nowhere' is not a device"):
        graphseq.load(path, map_location="nowhere")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_a_model_in_another_dtype_is_saved_and_loads_in_it(tmp_path: Path, dtype: Any) -> None:
    model = trained().to(dtype)
    with pytest.raises(ValueError, match="a dtype or device given at construction"):
        model.to_config()  # a config describes no dtype ...
    path = graphseq.save(model, tmp_path / "model.safetensors")  # ... but the file's weights do
    assert read_header(path)["graphseq.dtype"] == str(dtype).removeprefix("torch.")
    again = graphseq.load(path)
    assert repr(again) == repr(model)
    state = model.state_dict()
    assert list(again.state_dict()) == list(state)
    for key, value in again.state_dict().items():
        assert value.dtype == state[key].dtype and torch.equal(value, state[key]), key
    assert {t.dtype for t in again.buffers()} == {t.dtype for t in model.buffers()}
    if dtype == torch.float64:
        x, edge_index, batch = graph()
        model.eval()
        again.eval()
        out = again(x.double(), edge_index, batch)
        assert out.dtype == torch.float64 and torch.equal(out, model(x.double(), edge_index, batch))
    meta = graphseq.load(path, map_location="meta")
    assert [t.dtype for t in meta.state_dict().values()] == [t.dtype for t in state.values()]


def test_a_model_mixing_floating_dtypes_is_refused_saying_how_to_save_it(tmp_path: Path) -> None:
    model = trained()
    model[5].double()
    with pytest.raises(ValueError, match=r"holds floating-point tensors of several dtypes "
                                         r"\(torch.float32: 'module_0.bias'.*; torch.float64: "
                                         r"'module_5.weight'\).*model.to\(torch.float64\)"):
        graphseq.save(model, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()


def test_the_cli_exports_a_saved_model_with_its_weights_and_no_weights_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(5)
    model = graphseq.Sequential("x, edge_index", [
        (GCNConv(8, 16), "x, edge_index -> x"), torch.nn.ReLU(),
        (SAGEConv(16, 4), "x, edge_index -> x"),
    ])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()  # not what building its config gives: the file's weights must be used
    path = graphseq.save(model, tmp_path / "model.safetensors")
    out = tmp_path / "model.pt2"
    assert main(["export", str(path), "-o", str(out), "-i", "x=12x8", "-i", "edge_index=2x40"]) == 0
    report = capsys.readouterr().out
    assert report.startswith(f"wrote {out} (") and ", OK" in report
    program = torch.export.load(out).module()
    x, edge_index, _ = graph()
    with torch.no_grad():
        torch.testing.assert_close(program(x, edge_index), model.eval()(x, edge_index))
        assert not torch.allclose(program(x, edge_index),
                                  graphseq.from_config(model.to_config()).eval()(x, edge_index))


def test_tensors_not_aligned_for_their_dtype_in_the_file_load_exactly(tmp_path: Path) -> None:
    model = graphseq.Sequential("x", [(torch.nn.Linear(1, 1), "x -> x"),
                                      torch.nn.BatchNorm1d(1)]).half()
    model[1].num_batches_tracked.fill_(2**40 + 3)
    path = graphseq.save(model, tmp_path / "model.safetensors")
    header = json.loads(path.read_bytes()[8:8 + struct.unpack("<Q", path.read_bytes()[:8])[0]])
    assert header["module_1.num_batches_tracked"]["data_offsets"][0] % 8 != 0  # 2-byte halves
    again = graphseq.load(path)
    for key, value in model.state_dict().items():
        assert value.dtype == again.state_dict()[key].dtype
        assert torch.equal(value, again.state_dict()[key]), key


class _Scaled(torch.nn.Module):  # a buffer the file does not hold, made from an argument
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.lin = torch.nn.Linear(width, width)
        self.register_buffer("scale", torch.full((width,), 2.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


class _Shifted(torch.nn.Module):  # a plain tensor attribute, neither parameter nor buffer
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.lin = torch.nn.Linear(width, width)
        self.shift = torch.arange(float(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + self.shift


class _Tied(torch.nn.Module):  # one weight held by two layers
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.first = torch.nn.Linear(width, width)
        self.second = torch.nn.Linear(width, width)
        self.second.weight = self.first.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x).relu())


@pytest.mark.parametrize("layer", [_Scaled, _Shifted, _Tied], ids=lambda c: c.__name__)
def test_state_the_file_does_not_hold_is_made_by_a_real_build(tmp_path: Path, layer: Any) -> None:
    # load skips the second build (to_empty on the checked meta shell, then the weights) only
    # where the file's tensors are the whole state; these three layers need the real build.
    from graphseq import registry

    registry.register(layer.__name__, layer)
    try:
        model = graphseq.Sequential("x", [(layer(4), "x -> x"), torch.nn.Linear(4, 2)])
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)  # not the values a new build would have
        loaded = graphseq.load(graphseq.save(model, tmp_path / "m.safetensors"))
        x = torch.randn(3, 4)
        assert torch.equal(loaded(x), model(x))
        if layer is _Tied:
            assert loaded[0].second.weight is loaded[0].first.weight
    finally:
        registry.unregister(layer.__name__)


def test_a_model_whose_file_holds_its_whole_state_loads_without_a_second_build(
    tmp_path: Path,
) -> None:
    # Without the real build's random initialisation, nothing but the file sets the values:
    # every parameter and buffer equals the saved model's bit for bit, and so do the outputs.
    model = trained()
    path = graphseq.save(model, tmp_path / "m.safetensors")
    torch.manual_seed(123)
    loaded = graphseq.load(path)
    after = torch.randn(1)
    torch.manual_seed(123)
    assert torch.equal(after, torch.randn(1))  # load drew no random numbers: no init ran
    for (k, a), (j, b) in zip(model.state_dict().items(), loaded.state_dict().items(),
                              strict=True):
        assert k == j and a.dtype == b.dtype and torch.equal(a.view(-1), b.view(-1))
    model.eval()
    loaded.eval()
    assert torch.equal(loaded(*graph()), model(*graph()))
