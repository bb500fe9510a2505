"""The registry: which names a config may use, how steps are made and described again."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
import torch_geometric.nn as pyg
from torch import Tensor
from torch.nn import Linear, ReLU

from graphseq import registry


class Scale(torch.nn.Module):
    """A user layer with a constructor argument."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


def double(x: Tensor) -> Tensor:
    return x * 2


@pytest.fixture
def scale_registered() -> Iterator[None]:
    registry.register("Scale", Scale)
    try:
        yield
    finally:
        registry.unregister("Scale")


def test_import_graphseq_does_not_import_pyg_until_the_registry_is_used() -> None:
    code = (
        "import sys, graphseq\n"
        "assert 'torch_geometric' not in sys.modules, 'imported too early'\n"
        "print(graphseq.registry.get('GCNConv').__name__)\n"
        "assert 'torch_geometric.nn' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "GCNConv"


@pytest.mark.parametrize(
    ("name", "obj", "kind"),
    [
        ("ReLU", torch.nn.ReLU, "factory"),
        ("Linear", torch.nn.Linear, "factory"),
        ("LayerNorm", torch.nn.LayerNorm, "factory"),
        ("GCNConv", pyg.GCNConv, "factory"),
        ("SAGEConv", pyg.SAGEConv, "factory"),
        ("JumpingKnowledge", pyg.JumpingKnowledge, "factory"),
        ("BatchNorm", pyg.BatchNorm, "factory"),
        ("GraphNorm", pyg.GraphNorm, "factory"),
        ("MeanAggregation", pyg.MeanAggregation, "factory"),
        ("TopKPooling", pyg.TopKPooling, "factory"),
        ("global_mean_pool", pyg.global_mean_pool, "function"),
        ("global_add_pool", pyg.global_add_pool, "function"),
        ("global_max_pool", pyg.global_max_pool, "function"),
        ("torch_geometric.nn.Linear", pyg.Linear, "factory"),
        ("torch_geometric.nn.LayerNorm", pyg.LayerNorm, "factory"),
    ],
)
def test_defaults_hold_torch_nn_and_pyg(name: str, obj: object, kind: str) -> None:
    assert registry.contains(name)
    assert registry.get(name) is obj
    assert registry.kind(name) == kind
    assert name in registry.names()


def test_containers_and_abstract_bases_are_not_steps() -> None:
    for name in ("Module", "ModuleList", "ModuleDict", "ParameterList"):
        assert not registry.contains(name)


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [
        ("GCNConf", "'GCNConv'"),
        ("relu", "'ReLU'"),
        ("globalmeanpool", "'global_mean_pool'"),
        ("GATconv", "'GATConv'"),
    ],
)
def test_unknown_name_suggests_closest(typo: str, suggested: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown module '{typo}'\. Did you mean {suggested}"):
        registry.get(typo)


def test_unknown_name_without_close_match_points_to_names() -> None:
    with pytest.raises(ValueError, match=r"registry\.names\(\)"):
        registry.get("Zzzzzz")


def test_register_build_and_describe(scale_registered: None) -> None:
    layer = registry.build("Scale", 3.0)
    assert isinstance(layer, Scale) and layer.factor == 3.0
    assert registry.describe(layer) == ("Scale", [3.0], {})
    assert registry.kind("Scale") == "factory"


def test_register_refuses_to_replace_silently(scale_registered: None) -> None:
    class Other(Scale):
        pass

    with pytest.raises(ValueError, match="already registered"):
        registry.register("Scale", Other)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("GCNConv", Other)
    registry.register("Scale", Other, replace=True)
    assert registry.get("Scale") is Other


@pytest.mark.parametrize("name", ["", "my conv", "1conv", "a..b", None])
def test_register_rejects_names_that_are_not_identifiers(name: object) -> None:
    with pytest.raises(ValueError, match="identifiers"):
        registry.register(name, Scale)  # type: ignore[arg-type]


def test_register_function_steps() -> None:
    returned = registry.register("double_it", double, function=True)
    try:
        assert returned is double
        assert registry.kind("double_it") == "function"
        assert registry.build("double_it") is double
        assert registry.describe(double) == ("double_it", [], {})
        with pytest.raises(TypeError, match="takes no args"):
            registry.build("double_it", 2)
    finally:
        registry.unregister("double_it")
    assert not registry.contains("double_it")


def test_factory_must_make_a_module() -> None:
    registry.register("not_a_module", lambda: 3)
    try:
        with pytest.raises(TypeError, match="not a torch.nn.Module"):
            registry.build("not_a_module")
    finally:
        registry.unregister("not_a_module")


def test_import_paths_need_allow_imports() -> None:
    path = "torch.nn.modules.activation.ReLU"
    assert not registry.contains(path)
    with pytest.raises(ValueError, match="allow_imports=True"):
        registry.resolve(path)
    assert registry.resolve(path, allow_imports=True) == (torch.nn.ReLU, "factory")
    fn, kind = registry.resolve("torch_geometric.nn.pool.global_add_pool", allow_imports=True)
    assert fn is pyg.global_add_pool and kind == "function"


@pytest.mark.parametrize(
    "path", ["no_such_package_xyz.Layer", "torch.nn.NoSuchLayer", "torch.nn.functional.Tensor_"]
)
def test_bad_import_paths_are_value_errors(path: str) -> None:
    with pytest.raises(ValueError, match="cannot import"):
        registry.resolve(path, allow_imports=True)


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("subprocess.Popen", "is a class that is not a torch.nn.Module"),
        ("collections.OrderedDict", "is a class that is not a torch.nn.Module"),
        ("os.system", "is a builtin_function_or_method, not a plain Python function"),
        ("functools.partial", "is a class that is not a torch.nn.Module"),
    ],
)
def test_import_paths_must_name_a_module_class_or_a_function(path: str, what: str) -> None:
    with pytest.raises(ValueError, match=f"'{path}' {what}; an import path in a config must "
                                         "name an nn.Module subclass or a plain function"):
        registry.resolve(path, allow_imports=True)


def test_build_makes_tuples_into_lists_as_a_config_would() -> None:
    conv = registry.build("SAGEConv", (8, 8), 16, aggr=("mean", "max"))
    assert conv.in_channels == [8, 8]
    assert registry.describe(conv) == ("SAGEConv", [[8, 8], 16], {"aggr": ["mean", "max"]})
    assert repr(conv) == repr(registry.build("SAGEConv", [8, 8], 16, aggr=["mean", "max"]))


def test_description_survives_deepcopy_and_pickle() -> None:
    conv = registry.build("GCNConv", 4, 8, cached=False, normalize=True)
    expected = ("GCNConv", [4, 8], {"cached": False, "normalize": True})
    assert registry.describe(conv) == expected
    assert registry.describe(copy.deepcopy(conv)) == expected
    assert registry.describe(pickle.loads(pickle.dumps(conv))) == expected


def test_description_is_a_copy() -> None:
    args = [[-1, -1], 8]
    conv = registry.build("SAGEConv", *args)
    args[0].append(5)
    described = registry.describe(conv)
    assert described is not None and described[1] == [[-1, -1], 8]
    described[1][0].append(7)
    assert registry.describe(conv) == ("SAGEConv", [[-1, -1], 8], {})


def test_record_marks_hand_made_modules() -> None:
    lin = registry.record(Linear(4, 2, bias=False), "Linear", [4, 2], {"bias": False})
    assert registry.describe(lin) == ("Linear", [4, 2], {"bias": False})
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        registry.record(double, "double")


def test_what_cannot_be_described() -> None:
    assert registry.describe(Linear(4, 2)) is None  # made by hand: its args are unknown
    assert registry.describe(ReLU()) is None
    assert registry.describe(lambda x: x) is None
    # An importable function that is not registered is described by its import path.
    assert registry.describe(double) == (f"{__name__}.double", [], {})
    assert registry.name_of(pyg.global_mean_pool) == "global_mean_pool"
    assert registry.name_of(pyg.Linear) == "torch_geometric.nn.Linear"
