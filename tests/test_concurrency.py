"""Concurrency: threads, fork and spawn pools, models pickled into other processes, fx tracing."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
import sys
import threading
from collections.abc import Iterator
from multiprocessing.pool import Pool

import pytest
import torch
from torch_geometric.nn import (
    BatchNorm,
    GCNConv,
    JumpingKnowledge,
    MessagePassing,
    SAGEConv,
    global_mean_pool,
)

import graphseq
from reliability_workers import (
    expected,
    init_worker,
    make_model,
    run_models,
    run_pickled,
    run_sent,
)

THREADS = 8
MODELS_PER_THREAD = 200
PROCESSES = 2
MODELS_PER_POOL = 200


def test_eight_threads_each_build_and_run_200_different_models_at_once() -> None:
    start = threading.Barrier(THREADS)
    failures: list[str] = []
    checked = [0] * THREADS

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(MODELS_PER_THREAD):
                seed = t * 1000 + i
                model, inputs = make_model(seed)
                name = f"x{seed % 10}"
                params = [n for n, p in inspect.signature(model.forward).parameters.items()
                          if p.kind != p.KEYWORD_ONLY]  # not the trimming keywords
                if params != [name, "edge_index"]:
                    failures.append(f"thread {t} model {i}: forward{params}")
                with torch.no_grad():
                    out = model(*inputs)
                if not torch.equal(out, expected(seed)):
                    failures.append(f"thread {t} model {i}: wrong output")
                checked[t] += 1
        except Exception as error:  # noqa: BLE001  (reported below, with the thread)
            failures.append(f"thread {t}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert checked == [MODELS_PER_THREAD] * THREADS


@pytest.fixture(scope="module")
def spawn_pool() -> Iterator[Pool]:
    with multiprocessing.get_context("spawn").Pool(PROCESSES, initializer=init_worker) as pool:
        yield pool


def check_pool(pool: Pool) -> None:
    seeds = list(range(7000, 7000 + MODELS_PER_POOL))
    chunks = [seeds[i :: 2 * PROCESSES] for i in range(2 * PROCESSES)]
    results = pool.map(run_models, chunks)
    done = 0
    for chunk, outputs in zip(chunks, results, strict=True):
        for seed, out in zip(chunk, outputs, strict=True):
            assert torch.equal(out, expected(seed)), f"model {seed}"
            done += 1
    assert done == MODELS_PER_POOL


def test_fork_pool_builds_and_runs_200_different_models() -> None:
    with multiprocessing.get_context("fork").Pool(PROCESSES, initializer=init_worker) as pool:
        check_pool(pool)


def test_spawn_pool_builds_and_runs_200_different_models(spawn_pool: Pool) -> None:
    check_pool(spawn_pool)


def jk_model() -> tuple[graphseq.Sequential, tuple[torch.Tensor, ...]]:
    """GCN + SAGE + BatchNorm (buffers) + jumping knowledge + pooling, with trained buffers."""
    torch.manual_seed(0)
    model = graphseq.Sequential(
        "x: Tensor, edge_index: Tensor, batch: Tensor",
        {
            "conv1": (GCNConv(4, 8), "x, edge_index -> x1"),
            "norm": (BatchNorm(8), "x1 -> x1"),
            "act": torch.nn.ReLU(),
            "conv2": (SAGEConv(8, 8), "x1, edge_index -> x2"),
            "jk": (JumpingKnowledge("cat"), "[x1, x2] -> xs"),
            "pool": (global_mean_pool, "xs, batch -> g"),
            "head": (torch.nn.Linear(16, 3), "g -> out"),
        },
    )
    x = torch.randn(6, 4)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 3]])
    batch = torch.tensor([0, 0, 0, 1, 1, 1])
    model(x, edge_index, batch)  # training mode: BatchNorm's running stats move
    return model.eval(), (x, edge_index, batch)


def test_models_pickled_into_spawned_workers_give_identical_outputs(spawn_pool: Pool) -> None:
    models = [jk_model()] + [make_model(seed) for seed in (1, 2, 3)]
    for model, inputs in models:
        model.eval()
        with torch.no_grad():
            want = model(*inputs)
        blob = pickle.dumps(model)
        got, code = spawn_pool.apply(run_pickled, (blob, inputs))
        assert torch.equal(got, want)
        assert code == model.code
        assert torch.equal(spawn_pool.apply(run_sent, (model, inputs)), want)


class MessagePassingLeaves(torch.fx.Tracer):
    """An fx tracer that keeps PyG's ``MessagePassing`` layers as leaves."""

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, MessagePassing) or super().is_leaf_module(m, module_qualified_name)


def test_fx_trace_of_a_model_gives_its_own_graph_after_others_are_built() -> None:
    """The reference patches ``forward`` on the class: tracing gave the last model's graph."""
    models = [
        graphseq.Sequential(
            f"in{i}", [(torch.nn.Linear(3, 3), f"in{i} -> h")] + [torch.nn.Linear(3, 3)] * i
        )
        for i in range(4)
    ]
    for i, model in enumerate(models):
        traced = torch.fx.symbolic_trace(model)
        nodes = list(traced.graph.nodes)
        assert [n.target for n in nodes if n.op == "placeholder"][:1] == [f"in{i}"]
        assert sum(n.op == "call_module" for n in nodes) == i + 1
        x = torch.randn(2, 3)
        with torch.no_grad():
            assert torch.equal(traced(x), model(x))


def test_fx_trace_with_pyg_layers_gives_each_model_its_own_graph() -> None:
    a, a_inputs = make_model(1)
    b, b_inputs = make_model(2)  # built after a: a different input name and dataflow
    for model, inputs, placeholder, called in [
        (a, a_inputs, "x1", ["lin1", "conv", "lin2"]),
        (b, b_inputs, "x2", ["lin1", "lin2"]),
    ]:
        traced = torch.fx.GraphModule(model, MessagePassingLeaves().trace(model))
        nodes = list(traced.graph.nodes)
        inputs_seen = [n.target for n in nodes if n.op == "placeholder"][:2]
        assert inputs_seen == [placeholder, "edge_index"]
        assert [n.target for n in nodes if n.op == "call_module"] == called
        with torch.no_grad():
            assert torch.equal(traced(*inputs), model(*inputs))


def test_a_thread_calling_the_model_sees_it_whole_while_another_edits_it() -> None:
    """Issue 7, item 12: 300 edits while another thread runs forward; no call sees a mix."""
    model = graphseq.Sequential("x", [(torch.nn.Identity(), "x -> x")])
    x = torch.zeros(4)
    stop = threading.Event()
    seen: list[float] = []
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                out = model(x)
            except BaseException as error:  # noqa: BLE001  (reported below)
                errors.append(error)
                return
            seen.append(float(out[0]))
            assert bool((out == out[0]).all())

    thread = threading.Thread(target=reader)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that a torn state would be seen
    thread.start()
    try:
        for i in range(300):
            if i % 3 == 0:
                model.insert(1, torch.nn.Identity())
            else:
                model.append(AddOne())
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert errors == []
    assert seen and all(v == int(v) and 0 <= v <= 200 for v in seen)
    assert float(model(x)[0]) == 200.0


class AddOne(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1
