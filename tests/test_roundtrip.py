"""Round trips lose nothing: outputs bit-identical, parameters and buffers equal, on every device.

The model has GCNConv, SAGEConv, BatchNorm (buffers), JumpingKnowledge fed by list packing
(``'[x1, x2] -> xs'``), global_mean_pool and keywords in headers.
"""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch_geometric.nn import (
    GCNConv,
    GraphConv,
    JumpingKnowledge,
    SAGEConv,
    global_mean_pool,
)

import graphseq

INPUTS = "x: Tensor, edge_index: Tensor, edge_weight: Tensor, batch: Tensor"
HEADERS = {
    "conv1": "x, edge_index, edge_weight=edge_weight -> x1",
    "norm": "x1 -> x1",
    "act": "x1 -> x1",
    "conv2": "x1, edge_index -> x2",
    "jk": "[x1, x2] -> xs",
    "pool": "xs, batch=batch -> g",
    "head": "g -> out",
}


def build(seed: int, first: type[torch.nn.Module] = GCNConv) -> graphseq.Sequential:
    torch.manual_seed(seed)
    children: dict[str, Any] = {
        "conv1": first(4, 8),
        "norm": torch.nn.BatchNorm1d(8),
        "act": torch.nn.ReLU(),
        "conv2": SAGEConv(8, 8),
        "jk": JumpingKnowledge("cat"),
        "pool": global_mean_pool,
        "head": torch.nn.Linear(16, 3),
    }
    return graphseq.Sequential(INPUTS, {k: (v, HEADERS[k]) for k, v in children.items()})


def graph(device: torch.device) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(7, 4, generator=g)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 0], [1, 2, 0, 4, 5, 6, 3, 3]])
    edge_weight = torch.rand(8, generator=g)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    return tuple(t.to(device) for t in (x, edge_index, edge_weight, batch))


def trained(model: graphseq.Sequential, device: torch.device) -> graphseq.Sequential:
    """The model on ``device``, after training-mode passes moved BatchNorm's buffers, in eval."""
    model.to(device).train()
    with torch.no_grad():
        for _ in range(3):
            model(*graph(device))
    return model.eval()


@pytest.fixture
def model(device: torch.device) -> graphseq.Sequential:
    model = trained(build(0), device)
    norm = model.norm
    assert int(norm.num_batches_tracked) == 3 and not torch.equal(  # type: ignore[arg-type]
        norm.running_mean, torch.zeros_like(norm.running_mean)  # type: ignore[arg-type]
    )
    return model


def assert_same(
    copy_: torch.nn.Module, original: graphseq.Sequential, device: torch.device
) -> None:
    """Bit-identical outputs; equal parameters and buffers, by name, on the same device."""
    inputs = graph(device)
    with torch.no_grad():
        assert torch.equal(copy_(*inputs), original(*inputs))
    mine, theirs = copy_.state_dict(), original.state_dict()
    assert list(mine) == list(theirs)
    for name, value in theirs.items():
        assert torch.equal(mine[name], value), name
        assert mine[name].device == value.device, name
    assert [n for n, _ in copy_.named_buffers()] == [n for n, _ in original.named_buffers()]


def through_torch_save(model: graphseq.Sequential) -> Any:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


ROUND_TRIPS: dict[str, Callable[[graphseq.Sequential], Any]] = {
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "torch.save": through_torch_save,
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("trip", list(ROUND_TRIPS), ids=list(ROUND_TRIPS))
def test_round_trip_keeps_outputs_parameters_and_buffers(
    trip: str, model: graphseq.Sequential, device: torch.device
) -> None:
    copied = ROUND_TRIPS[trip](model)
    assert isinstance(copied, graphseq.Sequential)
    assert copied is not model
    assert copied.code == model.code
    assert repr(copied) == repr(model)
    assert copied.headers == model.headers
    assert not copied.training
    assert_same(copied, model, device)
    # The copy is a model of its own: changing it leaves the original alone.
    with torch.no_grad():
        copied.head.weight.add_(1.0)
    assert not torch.equal(copied.head.weight, model.head.weight)


def test_round_trip_copy_can_be_copied_again(
    model: graphseq.Sequential, device: torch.device
) -> None:
    twice = copy.deepcopy(pickle.loads(pickle.dumps(through_torch_save(model))))
    assert_same(twice, model, device)


def test_torchscript_save_and_load_keep_outputs_parameters_and_buffers(
    device: torch.device,
) -> None:
    # GraphConv takes GCNConv's place: PyG's scripted GCNConv cannot be torch.jit.load-ed on
    # torch 2.13 even in a hand-written module (a TorchScript type-refinement error upstream).
    model = trained(build(0, first=GraphConv), device)
    scripted = torch.jit.script(model)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer, map_location=device)
    assert_same(loaded, model, device)
    assert_same(scripted, model, device)
    # The eager model is untouched by scripting.
    assert_same(model, trained(build(0, first=GraphConv), device), device)
    assert "modules['" in model.code


def test_state_dict_into_a_fresh_model_gives_identical_outputs(
    model: graphseq.Sequential, device: torch.device
) -> None:
    fresh = build(seed=123).to(device).eval()
    inputs = graph(device)
    with torch.no_grad():
        assert not torch.equal(fresh(*inputs), model(*inputs))
    assert fresh.load_state_dict(model.state_dict()) is not None
    assert_same(fresh, model, device)


def test_state_dict_keys_are_named_by_step(model: graphseq.Sequential) -> None:
    keys = set(model.state_dict())
    assert {"conv1.lin.weight", "conv1.bias", "norm.running_mean", "norm.running_var",
            "norm.num_batches_tracked", "conv2.lin_l.weight", "head.weight"} <= keys


CONFIG: dict[str, Any] = {
    "inputs": INPUTS,
    "steps": [
        {"name": "conv1", "module": "GCNConv", "args": [4, 8], "header": HEADERS["conv1"]},
        {"name": "norm", "module": "BatchNorm1d", "args": [8], "header": HEADERS["norm"]},
        {"name": "act", "module": "ReLU", "header": HEADERS["act"]},
        {"name": "conv2", "module": "SAGEConv", "args": [8, 8], "header": HEADERS["conv2"]},
        {"name": "jk", "module": "JumpingKnowledge", "args": ["cat"], "header": HEADERS["jk"]},
        {"name": "pool", "module": "global_mean_pool", "header": HEADERS["pool"]},
        {"name": "head", "module": "Linear", "args": [16, 3], "header": HEADERS["head"]},
    ],
}


@pytest.mark.skipif(
    not hasattr(graphseq, "from_config"), reason="graphseq.from_config is not available yet"
)
def test_config_round_trip_keeps_architecture_and_with_state_dict_outputs(
    device: torch.device, tmp_path: Any
) -> None:
    from_config = graphseq.from_config  # type: ignore[attr-defined]
    torch.manual_seed(0)
    original = trained(from_config(CONFIG), device)
    config = original.to_config()
    rebuilt = from_config(config).to(device).eval()
    assert rebuilt.to_config() == config
    assert rebuilt.code == original.code
    assert repr(rebuilt) == repr(original)
    rebuilt.load_state_dict(original.state_dict())
    assert_same(rebuilt, original, device)
    # The same through a file on disk.
    import json

    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    from_file = from_config(path).to(device).eval()
    from_file.load_state_dict(original.state_dict())
    assert from_file.to_config() == config
    assert_same(from_file, original, device)
