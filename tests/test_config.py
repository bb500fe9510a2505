"""Config files: strict schema checks, located errors, and the round trip through to_config."""

from __future__ import annotations

import copy
import doctest
import importlib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import ReLU
from torch_geometric.nn import GCNConv, GINConv, SAGEConv, global_mean_pool

import graphseq
from graphseq import HeaderError, from_config, registry
from graphseq._errors import Location
from graphseq.cli import main
from graphseq.config import ConfigError, Limits, Problem, normalize, save, to_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def jk_config() -> dict[str, Any]:
    """A graph classifier using most of the schema; some steps unnamed, one with no header."""
    return {
        "inputs": "x, edge_index, batch",
        "steps": [
            {"name": "conv1", "module": "GCNConv", "args": [8, 16],
             "kwargs": {"cached": False}, "header": "x, edge_index -> x1"},
            {"module": "ReLU"},
            {"name": "conv2", "module": "SAGEConv", "args": [16, 16],
             "header": "x1, edge_index -> x2"},
            {"name": "jk", "module": "JumpingKnowledge", "args": ["cat"],
             "header": "[x1, x2] -> x"},
            {"module": "global_mean_pool", "header": "x, batch -> x"},
            {"name": "head", "module": "Linear", "args": [32, 3], "kwargs": {},
             "header": "x -> x"},
        ],
    }


def graph_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 8, generator=gen)
    edge_index = torch.randint(0, 12, (2, 40), generator=gen)
    batch = torch.tensor([0] * 5 + [1] * 7)
    return x, edge_index, batch


@pytest.mark.parametrize(
    "name",
    ["config", "config.make", "config.read", "config.records", "config.schema", "config.write",
     "registry", "cli"],
)
def test_docstring_examples_pass(name: str) -> None:
    module = importlib.import_module(f"graphseq.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# Reading -------------------------------------------------------------------------------------


def test_builds_a_working_model_from_a_dict() -> None:
    model = from_config(jk_config())
    assert isinstance(model, graphseq.Sequential)
    assert [s.name for s in model.plan.steps] == [
        "conv1", "module_1", "conv2", "jk", "module_4", "head"
    ]
    assert isinstance(model["conv1"], GCNConv) and model["module_4"] is global_mean_pool
    assert model(*graph_batch()).shape == (2, 3)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
@pytest.mark.parametrize("as_str", [False, True])
def test_reads_yaml_and_json_files(tmp_path: Path, suffix: str, as_str: bool) -> None:
    path = tmp_path / f"model{suffix}"
    text = json.dumps(jk_config()) if suffix == ".json" else yaml.safe_dump(jk_config())
    path.write_text(text)
    model = from_config(str(path) if as_str else path)
    assert model.to_config() == normalize(jk_config())


def test_reads_the_example_yaml() -> None:
    model = from_config(EXAMPLES / "gcn.yaml")
    assert [type(model[s.name]).__name__ for s in model.plan.steps] == [
        "GCNConv", "ReLU", "Dropout", "GCNConv"
    ]
    assert model(torch.randn(34, 34), torch.zeros(2, 156, dtype=torch.long)).shape == (34, 4)


def test_yaml_is_read_with_a_safe_loader(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(
        f"inputs: !!python/object/apply:os.system ['touch {marker}']\n"
        "steps: [{module: ReLU, header: 'x -> x'}]\n"
    )
    with pytest.raises(ConfigError, match="is not valid YAML"):
        from_config(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("model.toml", "inputs = 'x'", r"ends in \.yaml, \.yml or \.json"),
        ("model.json", "{inputs: x", r"model\.json: is not valid JSON"),
        ("model.yaml", "inputs: [x\n", r"model\.yaml: is not valid YAML.*line"),
        ("model.yaml", "- x\n- y\n", r"must hold a mapping .* \(got list\)"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        from_config(path)


@pytest.mark.parametrize(
    ("encoding", "where"),
    [("latin-1", r"byte 0xe9 at offset \d+ \(line 3\)"), ("utf-16", r"byte 0xff at offset 0")],
)
def test_file_that_is_not_utf8_is_named(tmp_path: Path, encoding: str, where: str) -> None:
    path = tmp_path / "café.yaml"
    path.write_text("inputs: x\nsteps:\n  - {module: ReLU, header: x -> x}  # café\n",
                    encoding=encoding)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: is not UTF-8 text: ") + where):
        from_config(path)


def test_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(jk_config()), encoding="utf-8-sig")
    assert from_config(path).to_config() == normalize(jk_config())


def test_file_size_limit_has_an_override(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    path.write_text(yaml.safe_dump(jk_config()) + "#" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match=r"is 2,000,\d+ bytes, more than the limit of "
                                          r"1,048,576 bytes; raise it with"):
        from_config(path)
    model = from_config(path, limits=Limits(max_bytes=4_000_000))
    assert model.to_config() == normalize(jk_config())


@pytest.mark.parametrize("field", ["max_bytes", "max_depth", "max_nodes"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_limits_are_positive_ints(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"Limits.{field} must be a positive int"):
        Limits(**{field: value})


def test_yaml_anchors_share_values_within_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "inputs: x\n"
        "steps:\n"
        "  - {module: Linear, args: [4, 4], kwargs: &lin {bias: false}, header: x -> x}\n"
        "  - {module: Linear, args: [4, 4], kwargs: *lin}\n"
    )
    model = from_config(path)
    layers = [model[s.name] for s in model.plan.steps]
    assert all(isinstance(m, torch.nn.Linear) and m.bias is None for m in layers)
    # 26 values as written, 29 with the alias expanded (it stands for 3: a mapping, a key,
    # a value): the limit counts the expanded values.
    with pytest.raises(ConfigError, match=r"anchors\.yaml: holds more than max_nodes=28 "
                                          r"values with its aliases expanded \(line \d\)"):
        from_config(path, limits=Limits(max_nodes=28))
    assert from_config(path, limits=Limits(max_nodes=29)).to_config() == model.to_config()


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        from_config(tmp_path / "missing.yaml")


def test_source_of_the_wrong_type() -> None:
    with pytest.raises(ConfigError, match=r"expected a dict or a path \(got list\)"):
        from_config([{"module": "ReLU"}])  # type: ignore[arg-type]


# Schema errors -------------------------------------------------------------------------------


def _with(change: dict[str, Any], step: int | None = None, drop: str | None = None) -> Any:
    config = jk_config()
    target = config if step is None else config["steps"][step]
    target.update(change)
    if drop is not None:
        del target[drop]
    return config


SCHEMA_ERRORS = [
    (_with({}, drop="inputs"), r"config: inputs: missing"),
    (_with({"inputs": ["x"]}), r"config: inputs: must be a str .* \(got list"),
    (_with({"inputs": "x, x"}), r"config: inputs: Input args name 'x' twice"),
    (_with({}, drop="steps"), r"config: steps: missing"),
    (_with({"steps": []}), r"config: steps: must be a non-empty list"),
    (_with({"steps": {"module": "ReLU"}}), r"config: steps: must be a non-empty list"),
    (_with({"output": "x"}), r"config: output: unknown key\. Did you mean 'outputs'\?"),
    (_with({"outputs": 3}), r"config: outputs: must be a str"),
    (_with({"kwarg": {}}, 0),
     r"steps\[0\] \('conv1'\)\.kwarg: unknown key\. Did you mean 'kwargs'"),
    (_with({"args": 16}, 0), r"steps\[0\] \('conv1'\)\.args: must be a list \(got int 16\)"),
    (_with({"args": "16, 32"}, 0), r"steps\[0\] \('conv1'\)\.args: must be a list \(got str"),
    (_with({"kwargs": [1]}, 2), r"steps\[2\] \('conv2'\)\.kwargs: must be a mapping"),
    (_with({"kwargs": {1: 2}}, 2), r"steps\[2\] \('conv2'\)\.kwargs: has key 1"),
    (_with({"kwargs": {"aggr": torch.ones(1)}}, 2),
     r"steps\[2\] \('conv2'\)\.kwargs\.aggr: is Tensor .* plain data"),
    (_with({"args": [16, float("nan")]}, 2), r"steps\[2\] \('conv2'\)\.args\[1\]: is nan"),
    (_with({"args": [(16, 16), 16]}, 2), r"steps\[2\] \('conv2'\)\.args\[0\]: is tuple"),
    (_with({}, 3, drop="module"), r"steps\[3\] \('jk'\)\.module: missing"),
    (_with({"module": GCNConv}, 3), r"steps\[3\] \('jk'\)\.module: must be a str"),
    (_with({"name": [1]}, 3), r"steps\[3\] \(\[1\]\)\.name: must be a non-empty str, .*list \[1\]"),
    (_with({"name": ""}, 3), r"steps\[3\] \(''\)\.name: must be a non-empty str"),
    (_with({"name": "x" * 300}, 3), r"steps\[3\] \('x{20,}\.\.\..*\.name: is 300 characters"),
    (_with({"inputs": ""}), r"config: inputs: Input args are empty: .* one input\.$"),
    (_with({"name": "conv1"}, 2), r"steps\[2\] \('conv1'\)\.name: is used by an earlier step"),
    (_with({"header": ["x"]}, 3), r"steps\[3\] \('jk'\)\.header: must be a str .*quote"),
    (_with({"module": "GCNConf"}, 0),
     r"steps\[0\] \('conv1'\)\.module: unknown module 'GCNConf'\. Did you mean 'GCNConv'"),
    (_with({"module": "mypkg.layers.MyConv"}, 0),
     r"steps\[0\] \('conv1'\)\.module: 'mypkg\.layers\.MyConv' is an import path.*allow_imports"),
    (_with({"args": [1]}, 4),
     r"steps\[4\] \('module_4'\)\.args: 'global_mean_pool' is a function .* no args or kwargs"),
    (_with({"kwargs": {"size": 2}}, 4), r"steps\[4\] \('module_4'\)\.kwargs: 'global_mean_pool'"),
    (_with({"args": [32, 3, 3, 3, 3, 3]}, 5),
     r"steps\[5\] \('head'\)\.args: Linear\(32, 3, 3, 3, 3, 3\) does not match Linear\("),
    (_with({"kwargs": {"bias": True, "bais": 1}}, 5),
     r"steps\[5\] \('head'\)\.kwargs: .* unexpected keyword argument 'bais'"),
    (_with({"kwargs": {"cahced": True}}, 0),
     r"steps\[0\] \('conv1'\)\.kwargs: GCNConv\(8, 16, cahced=True\) failed: TypeError"),
    (_with({"args": ["sum"]}, 3),
     r"steps\[3\] \('jk'\): JumpingKnowledge\('sum'\) failed: AssertionError"),
]


@pytest.mark.parametrize(("config", "message"), SCHEMA_ERRORS)
def test_schema_errors_name_the_step_and_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        from_config(config)
    assert isinstance(info.value, ValueError)


def test_step_that_is_not_a_mapping() -> None:
    config = jk_config()
    config["steps"][1] = "ReLU"
    with pytest.raises(ConfigError, match=r"steps\[1\]: must be a mapping .*'- module: ReLU'"):
        from_config(config)


def test_every_problem_is_reported_at_once_in_step_order() -> None:
    config = jk_config()
    config["extra"] = 1
    config["steps"][0]["module"] = "GCNConf"
    config["steps"][2]["args"] = 16
    config["steps"][5]["kwargs"] = {"bais": 1}
    with pytest.raises(ConfigError) as info:
        from_config(config)
    wheres = [p.where for p in info.value.problems]
    assert wheres == [
        "config: extra",
        "config: steps[0] ('conv1').module",
        "config: steps[2] ('conv2').args",
        "config: steps[5] ('head').kwargs",
    ]
    assert [p.step for p in info.value.problems] == [None, 0, 2, 5]
    assert info.value.problems[1].header == "x, edge_index -> x1"
    assert str(info.value).splitlines()[2] == "    header: x, edge_index -> x1"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    config = jk_config()
    config["steps"][1]["args"] = "x"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: steps[1] ('module_1').args")):
        from_config(path)


# Header errors: raised by the model build, located in the config -----------------------------


def test_header_error_is_located_in_the_config() -> None:
    config = jk_config()
    config["steps"][2]["header"] = "x3, edge_index -> x2"
    with pytest.raises(HeaderError) as info:
        from_config(config)
    assert str(info.value).splitlines() == [
        "In config, steps[2] ('conv2').header: reads 'x3', which is not defined yet.",
        "    x3, edge_index -> x2",
        "    ^^",
        "  defined at this point: x, edge_index, batch, x1. Did you mean 'x1'?",
    ]


def test_header_error_names_the_file(tmp_path: Path) -> None:
    config = jk_config()
    del config["steps"][0]["header"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    with pytest.raises(HeaderError, match=re.escape(f"In {path}, steps[0] ('conv1'): has no")):
        from_config(path)


def test_binding_error_is_located_in_the_config() -> None:
    config = jk_config()
    config["steps"][5]["header"] = "x, batch -> x"
    with pytest.raises(HeaderError, match=r"In config, steps\[5\] \('head'\)\.header: passes"):
        from_config(config)


def test_empty_header_is_located_in_the_config() -> None:
    config = jk_config()
    config["steps"][0]["header"] = ""
    with pytest.raises(HeaderError) as info:
        from_config(config)
    assert str(info.value) == (
        "In config, steps[0] ('conv1').header: has no '->' between its inputs and its outputs."
    )


def test_output_error_is_located_in_the_config() -> None:
    config = jk_config()
    config["outputs"] = "x, x9"
    with pytest.raises(HeaderError, match=r"In config, outputs: Outputs name 'x9'"):
        from_config(config)


def test_step_names_that_nn_module_accepts_round_trip(tmp_path: Path) -> None:
    config = {"inputs": "x", "steps": [
        {"name": "0", "module": "Linear", "args": [4, 4], "header": "x -> x"},
        {"name": "act 1", "module": "ReLU"},
        {"name": "conv-1", "module": "Linear", "args": [4, 2]},
    ]}
    model = from_config(config)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "conv-1.weight", "conv-1.bias"]
    assert model.to_config() == config
    for name in ("model.yaml", "model.json"):
        assert from_config(save(model, tmp_path / name)).to_config() == config


def test_step_name_with_a_dot_is_refused_at_its_key() -> None:
    config = jk_config()
    config["steps"][1]["name"] = "conv.1"
    with pytest.raises(HeaderError, match=r"In config, steps\[1\] \('conv\.1'\)\.name: ") as info:
        from_config(config)
    assert info.value.location is not None and info.value.location.field == "name"


def test_located_errors_keep_their_structured_location() -> None:
    config = jk_config()
    config["steps"][2]["header"] = "x3, edge_index -> x2"
    with pytest.raises(HeaderError) as info:
        from_config(config)
    assert info.value.location == Location("step", 2, "conv2", "header")


def test_step_name_that_would_shadow_the_model() -> None:
    config = jk_config()
    config["steps"][1]["name"] = "forward"
    with pytest.raises(HeaderError, match=r"In config, steps\[1\] \('forward'\)\.name: is named"):
        from_config(config)


# Round trip ----------------------------------------------------------------------------------


def test_normal_form() -> None:
    """Names always present; args/kwargs only when not empty; header only when written;
    outputs only when explicit; inputs and outputs as 'a, b'."""
    config = {
        "inputs": "x,edge_index ,  batch",
        "outputs": ["x", "x1"],
        "steps": [
            {"module": "GCNConv", "args": [8, 16], "kwargs": {},
             "header": "x, edge_index -> x1"},
            {"module": "ReLU", "args": [], "kwargs": {"inplace": False}, "name": None},
            {"name": "pool", "module": "global_mean_pool", "header": "x1, batch -> x"},
        ],
    }
    expected = {
        "inputs": "x, edge_index, batch",
        "outputs": "x, x1",
        "steps": [
            {"name": "module_0", "module": "GCNConv", "args": [8, 16],
             "header": "x, edge_index -> x1"},
            {"name": "module_1", "module": "ReLU", "kwargs": {"inplace": False}},
            {"name": "pool", "module": "global_mean_pool", "header": "x1, batch -> x"},
        ],
    }
    assert normalize(config) == expected
    model = from_config(config)
    assert model.to_config() == expected
    assert list(model.to_config()["steps"][0]) == ["name", "module", "args", "header"]
    assert normalize(expected) == expected


@pytest.mark.parametrize("outputs", ["x -> y", ["x", "x -> y"], "x, x"])
def test_normalize_checks_the_outputs(outputs: Any) -> None:
    with pytest.raises(ConfigError, match=r"^config: outputs(\[1\])?: Outputs "):
        normalize(_with({"outputs": outputs}))


def test_generated_names_avoid_given_names() -> None:
    config = {"inputs": "x", "steps": [
        {"module": "Linear", "args": [4, 4], "header": "x -> x"},
        {"name": "module_0", "module": "ReLU"},
    ]}
    assert [s["name"] for s in from_config(config).to_config()["steps"]] == [
        "module_1", "module_0"
    ]


def test_round_trip_same_repr_and_outputs() -> None:
    torch.manual_seed(0)
    model = from_config(jk_config())
    config = model.to_config()
    assert config == normalize(jk_config())
    again = from_config(config)
    assert repr(again) == repr(model)
    again.load_state_dict(model.state_dict())
    model.eval()
    again.eval()
    assert torch.equal(again(*graph_batch()), model(*graph_batch()))
    assert again.to_config() == config


def test_round_trip_through_files(tmp_path: Path) -> None:
    model = from_config(jk_config())
    for name in ("model.yaml", "model.json"):
        path = save(model, tmp_path / name)
        assert from_config(path).to_config() == model.to_config()
    text = (tmp_path / "model.yaml").read_text()
    assert "  args: [8, 16]\n" in text and "  header: '[x1, x2] -> x'\n" in text
    with pytest.raises(ValueError, match=r"\.yaml, \.yml or \.json"):
        save(model, tmp_path / "model.txt")
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ValueError, match=r"folder\.yaml: is a folder; name a file in it"):
        save(model, tmp_path / "folder.yaml")


def test_typed_inputs_defaults_and_outputs_round_trip() -> None:
    config = {
        "inputs": "x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None",
        "outputs": "x1, x",
        "steps": [
            {"name": "conv", "module": "GCNConv", "args": [4, 4],
             "header": "x, edge_index, edge_weight -> x1"},
            {"name": "act", "module": "ReLU", "header": "x1 -> x"},
        ],
    }
    model = from_config(config)
    assert model.to_config() == normalize(config) == config
    x1, x = model(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]]))
    assert torch.equal(x, x1.relu())


def test_round_trip_survives_deepcopy_and_pickle() -> None:
    model = from_config(jk_config())
    config = model.to_config()
    assert copy.deepcopy(model).to_config() == config
    assert pickle.loads(pickle.dumps(model)).to_config() == config


def test_to_config_returns_a_copy() -> None:
    model = from_config(jk_config())
    model.to_config()["steps"][0]["args"].append(99)
    assert model.to_config()["steps"][0]["args"] == [8, 16]


def test_to_config_of_a_slice_and_an_edited_model() -> None:
    model = from_config(jk_config())
    tail = model[2:]
    assert tail.to_config()["inputs"] == "x1, edge_index, batch"
    assert from_config(tail.to_config()).to_config() == tail.to_config()
    model.append(registry.build("Softmax", dim=-1))
    assert model.to_config()["steps"][-1] == {
        "name": "module_6", "module": "Softmax", "kwargs": {"dim": -1}
    }


def test_to_config_names_the_steps_it_cannot_describe() -> None:
    model = graphseq.Sequential("x, edge_index, batch", {
        "conv": (GCNConv(8, 16), "x, edge_index -> x"),
        "act": registry.build("ReLU"),
        "pool": (global_mean_pool, "x, batch -> x"),
        "scale": (lambda x: 2 * x, "x -> x"),
        "gin": (GINConv(torch.nn.Linear(16, 16)), "x, edge_index -> x"),
        "relu": ReLU(),
    })
    with pytest.raises(ValueError) as info:
        model.to_config()
    message = str(info.value)
    assert message.startswith(
        "to_config() cannot describe step 3 ('scale'): <lambda>: a function that is neither "
        "registered nor importable by its name; step 4 ('gin'): GINConv(nn=Linear(in_features"
    )
    assert "GINConv's argument 'nn' is a module (Linear(" in message
    assert "step 0" not in message and "step 5" not in message
    assert "registry.build('GCNConv', 16, 32)" in message


def test_hand_built_modules_are_described_by_verified_arguments() -> None:
    model = graphseq.Sequential("x, edge_index", [
        (GCNConv(8, 16, cached=True, aggr="max"), "x, edge_index -> x"),
        ReLU(inplace=True),
        (torch.nn.Linear(16, 3, bias=False), "x -> x"),
    ])
    config = model.to_config()
    assert [(s["module"], s.get("args"), s.get("kwargs")) for s in config["steps"]] == [
        ("GCNConv", [8, 16], {"cached": True, "aggr": "max"}),
        ("ReLU", None, {"inplace": True}),
        ("Linear", [16, 3], {"bias": False}),
    ]
    again = from_config(config)
    again.load_state_dict(model.state_dict())
    assert repr(again) == repr(model)
    x, edge_index, _ = graph_batch()
    assert torch.equal(again(x, edge_index), model(x, edge_index))


@pytest.mark.parametrize(("make", "missing"), [
    (lambda: torch.nn.Linear(4, 2).double(), r"'weight' is \(2, 4\) torch.float32, not "
                                             r"\(2, 4\) torch.float64"),
    (lambda: SAGEConv((4, 6), 8), r"a config holds lists, not tuples.*in_channels=\(4, 6\)"),
    (lambda: torch.nn.LSTM(4, 8), r"LSTM's constructor takes only \*args and \*\*kwargs"),
    (lambda: _Unregistered(), r"class (tests\.)?test_config\._Unregistered is not in graph"),
])
def test_a_module_that_cannot_be_recovered_exactly_is_refused(make: Any, missing: str) -> None:
    from graphseq.config.recover import Unrecoverable, recover

    with pytest.raises(Unrecoverable, match=missing):
        recover(make())


class _Unregistered(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_recovery_compares_attributes_and_outputs() -> None:
    from graphseq.config.recover import Unrecoverable, recover

    lin = torch.nn.Linear(4, 4)
    lin.scale = 3  # set after construction: no argument says so
    with pytest.raises(Unrecoverable, match="its attribute scale is missing, not 3"):
        recover(lin)
    relu = ReLU()
    relu.forward = lambda x: 2 * x  # same repr, attributes and weights; another output
    with pytest.raises(Unrecoverable, match="gives another output on a probe"):
        recover(relu)


def test_hand_built_model_with_registry_build_is_describable() -> None:
    model = graphseq.Sequential("x, edge_index, batch", [
        (registry.build("GCNConv", 8, 16), "x, edge_index -> x"),
        registry.build("ReLU"),
        (global_mean_pool, "x, batch -> x"),
    ])
    assert to_config(model) == {
        "inputs": "x, edge_index, batch",
        "steps": [
            {"name": "module_0", "module": "GCNConv", "args": [8, 16],
             "header": "x, edge_index -> x"},
            {"name": "module_1", "module": "ReLU"},
            {"name": "module_2", "module": "global_mean_pool", "header": "x, batch -> x"},
        ],
    }


def test_tuples_in_args_round_trip_as_lists() -> None:
    model = graphseq.Sequential("x, edge_index", [
        (registry.build("SAGEConv", (8, 8), 16, aggr=("mean", "max")), "x, edge_index -> x"),
    ])
    config = model.to_config()
    assert config["steps"][0]["args"] == [[8, 8], 16]
    assert config["steps"][0]["kwargs"] == {"aggr": ["mean", "max"]}
    assert json.loads(json.dumps(config)) == config  # plain data: no tuples
    again = from_config(config)
    assert repr(again) == repr(model)
    assert again.to_config() == config


def test_to_config_refuses_arguments_that_are_not_plain_data() -> None:
    weight = torch.zeros(3, 2)
    emb = registry.record(torch.nn.Embedding(3, 2, _weight=weight), "Embedding", [3, 2],
                          {"_weight": weight})
    model = graphseq.Sequential("x", [(emb, "x -> x")])
    with pytest.raises(ValueError, match=r"step 0 \('module_0'\): Embedding kwargs\._weight "
                                         r"is Tensor"):
        model.to_config()


def test_imports_are_checked_before_anything_is_called(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = {"inputs": "x", "steps": [
        {"name": "run", "module": "subprocess.Popen", "args": [["touch", str(marker)]],
         "header": "x -> x"},
        {"name": "sys", "module": "os.system", "args": [f"touch {marker}"]},
    ]}
    with pytest.raises(ConfigError) as info:
        from_config(config, allow_imports=True)
    assert [p.where for p in info.value.problems] == [
        "config: steps[0] ('run').module", "config: steps[1] ('sys').module"
    ]
    assert "'subprocess.Popen' is a class that is not a torch.nn.Module" in str(info.value)
    assert "'os.system' is a builtin_function_or_method, not a plain Python function" in str(
        info.value
    )
    assert not marker.exists()


def test_import_paths_round_trip_with_allow_imports() -> None:
    config = {"inputs": "x", "steps": [
        {"name": "act", "module": "torch.nn.modules.activation.LeakyReLU", "args": [0.2],
         "header": "x -> x"},
    ]}
    with pytest.raises(ConfigError, match="allow_imports=True"):
        from_config(config)
    model = from_config(config, allow_imports=True)
    assert model.to_config() == config
    assert model(torch.tensor([-1.0])).item() == pytest.approx(-0.2)


def test_registered_user_layers(tmp_path: Path) -> None:
    class Scale(torch.nn.Module):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.factor

    registry.register("Scale", Scale)
    try:
        config = {"inputs": "x", "steps": [
            {"name": "s", "module": "Scale", "args": [3.0], "header": "x -> x"}
        ]}
        model = from_config(config)
        assert model(torch.ones(2)).tolist() == [3.0, 3.0]
        assert model.to_config() == config
    finally:
        registry.unregister("Scale")


# Property: any chain of registered layers round-trips -----------------------------------------

_LAYERS = st.sampled_from([
    ("Linear", lambda w: [w, w], {}),
    ("Linear", lambda w: [w, w], {"bias": False}),
    ("ReLU", lambda w: [], {}),
    ("Tanh", lambda w: [], {}),
    ("Dropout", lambda w: [0.25], {}),
    ("LayerNorm", lambda w: [w], {"eps": 1e-3}),
])


@st.composite
def chain_configs(draw: st.DrawFn) -> dict[str, Any]:
    width = draw(st.integers(1, 6))
    steps = []
    for i, (module, args, kwargs) in enumerate(draw(st.lists(_LAYERS, min_size=1, max_size=6))):
        step: dict[str, Any] = {"module": module}
        if draw(st.booleans()):
            step["name"] = f"layer{i}"
        if args(width) or draw(st.booleans()):
            step["args"] = args(width)
        if kwargs:
            step["kwargs"] = kwargs
        if i == 0 or draw(st.booleans()):
            step["header"] = "x -> x"
        steps.append(step)
    return {"inputs": "x", "steps": steps}


@settings(max_examples=40, deadline=None)
@given(chain_configs())
def test_any_chain_round_trips(config: dict[str, Any]) -> None:
    model = from_config(config)
    assert model.to_config() == normalize(config)
    again = from_config(model.to_config())
    assert repr(again) == repr(model)
    again.load_state_dict(model.state_dict())
    model.eval()
    again.eval()
    x = torch.randn(3, _width(config))
    assert torch.equal(again(x), model(x))


def _width(config: dict[str, Any]) -> int:
    for step in config["steps"]:
        if step["module"] in ("Linear", "LayerNorm"):
            return int(step["args"][0])
    return 5


# Keys written twice, outputs lists, the number of problems shown -----------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_key_written_twice_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    if suffix == ".yaml":
        path.write_text("inputs: x\nsteps:\n  - module: Linear\n    args: [4, 4]\n"
                        "    header: x -> x\n    header: x -> y\n")
        where = r" \(line 6\)"
    else:
        path.write_text('{"inputs": "x", "steps": [{"module": "Linear", "args": [4, 4], '
                        '"header": "x -> x", "header": "x -> y"}]}')
        where = ""
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ": has the key 'header' twice"
                       " in one mapping" + where):
        from_config(path)
    assert main(["check", str(path)]) == 1


def test_a_top_level_key_written_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("inputs: x\ninputs: x, edge_index\nsteps:\n  - module: ReLU\n")
    with pytest.raises(ConfigError, match="has the key 'inputs' twice in one mapping"):
        from_config(path)


def test_a_yaml_key_may_override_one_merged_from_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("inputs: x\nsteps:\n  - &lin {module: Linear, args: [4, 8], header: x -> x}\n"
                    "  - <<: *lin\n    name: lin2\n    args: [8, 2]\n")
    model = from_config(path)
    assert model(torch.randn(3, 4)).shape == (3, 2)


@pytest.mark.parametrize("outputs", [["x1, x"], ["x1", "x, x1"]])
def test_an_outputs_list_item_holding_a_comma_is_refused(outputs: list[str]) -> None:
    config = jk_config()
    config["outputs"] = outputs
    index = len(outputs) - 1
    pattern = rf"config: outputs\[{index}\]: is '.*', which names 2 values; each item"
    with pytest.raises(ConfigError, match=pattern):
        from_config(config)
    with pytest.raises(ConfigError, match=pattern):
        normalize(config)


def test_an_outputs_list_of_names_is_written_as_text() -> None:
    config = jk_config()
    config["outputs"] = ["x1", "x"]
    assert normalize(config)["outputs"] == "x1, x"
    assert from_config(config).to_config()["outputs"] == "x1, x"


def test_the_configs_page_says_how_many_problems_an_error_lists() -> None:
    from graphseq.config.records import MAX_SHOWN

    text = (Path(__file__).resolve().parents[1] / "docs" / "configs.md").read_text()
    assert f"lists its\nfirst {MAX_SHOWN} problems" in text
    problems = [Problem(f"steps[{i}]", "wrong") for i in range(MAX_SHOWN + 3)]
    lines = ConfigError(problems).lines()
    assert len(lines) == MAX_SHOWN + 1 and lines[-1] == "... and 3 more problems"
