"""``model.summary(...)``: the table, the example run, and what it leaves behind."""

from __future__ import annotations

import doctest
import re

import pytest
import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Dropout, Linear, ReLU
from torch_geometric.nn import GCNConv

import graphseq
import graphseq.summary
from graphseq._labels import short_repr
from graphseq.summary import INPUT, describe
from tests.models import freeing_steps, jk_inputs, jk_model


def rows(table: str) -> dict[int, str]:
    """The table's step rows by index."""
    out = {}
    for line in table.splitlines():
        head = line.split(maxsplit=1)
        if head and head[0].isdigit():
            out[int(head[0])] = line
    return out


def test_summary_has_a_row_per_step_with_module_header_shape_dtype_and_params() -> None:
    model = jk_model()
    table = model.summary(*jk_inputs())
    lines = table.splitlines()
    assert lines[0] == "Inputs: x [10, 16] float32, edge_index [2, 30] int64, batch [10] int64"
    assert lines[1].split() == ["#", "Name", "Module", "Header", "Output", "Params"]
    steps = rows(table)
    assert sorted(steps) == list(range(8))
    expected = {
        0: ["module_0", "Dropout(p=0.5, inplace=False)", "x -> x", "[10, 16] float32", "0"],
        1: ["module_1", "GCNConv(16, 64)", "x, edge_index -> x1", "[10, 64] float32", "1,088"],
        2: ["module_2", "ReLU(inplace=True)", "x1 -> x1", "[10, 64] float32", "0"],
        3: ["module_3", "GCNConv(64, 64)", "x1, edge_index -> x2", "[10, 64] float32", "4,160"],
        5: ["module_5", "JumpingKnowledge(cat)", "[x1, x2] -> x", "[10, 128] float32", "0"],
        6: ["module_6", "global_mean_pool", "x, batch -> x", "[2, 128] float32", "0"],
        7: [
            "module_7",
            "Linear(in_features=128, out_features=3, bias=True)",
            "x -> x",
            "[2, 3] float32",
            "387",
        ],
    }
    for index, cells in expected.items():
        assert re.split(r"\s{2,}", steps[index].strip()) == [str(index), *cells]
    assert "Outputs: x [2, 3] float32" in lines


def test_summary_ends_with_total_and_trainable_parameter_counts() -> None:
    model = jk_model()
    total = sum(p.numel() for p in model.parameters())
    model[1].lin.weight.requires_grad_(False)  # 16 * 64 frozen weights in the first conv
    table = model.summary(*jk_inputs())
    assert table.splitlines()[-3:] == [
        f"Total params: {total:,}",
        f"Trainable params: {total - 16 * 64:,}",
        f"Non-trainable params: {16 * 64:,}",
    ]
    assert total == 5635


def test_summary_without_example_inputs_has_no_output_column() -> None:
    model = jk_model()
    table = model.summary()
    lines = table.splitlines()
    assert lines[0] == "Inputs: x, edge_index, batch"
    assert lines[1].split() == ["#", "Name", "Module", "Header", "Params"]
    assert len(rows(table)) == 8
    assert "float32" not in table
    assert "Outputs: x" in lines
    assert lines[-3] == "Total params: 5,635"
    assert model.recorded_shapes() == {}


def test_summary_accepts_example_inputs_by_keyword() -> None:
    x, edge_index, batch = jk_inputs()
    model = jk_model()
    assert model.summary(x, edge_index=edge_index, batch=batch) == model.summary(
        x, edge_index, batch
    )


@pytest.mark.parametrize("training", [True, False])
def test_summary_puts_back_the_train_or_eval_mode_it_found(training: bool) -> None:
    model = jk_model().train(training)
    model.summary(*jk_inputs())
    assert all(m.training is training for m in model.modules())


def test_summary_puts_back_mixed_modes_of_submodules() -> None:
    model = jk_model().train()
    model[0].eval()
    before = {name: m.training for name, m in model.named_modules()}
    model.summary(*jk_inputs())
    assert {name: m.training for name, m in model.named_modules()} == before


def test_summary_puts_back_modes_when_the_example_run_fails_and_names_the_step() -> None:
    model = jk_model().train()
    x, edge_index, batch = jk_inputs()
    with pytest.raises(RuntimeError) as info:
        model.summary(x[:, :8], edge_index, batch)  # GCNConv(16, 64) gets 8 features
    assert any("step 1 ('module_1')" in note for note in info.value.__notes__)
    assert all(m.training for m in model.modules())
    assert model.recorded_shapes() == {}


def test_summary_rejects_example_inputs_that_do_not_match_the_model() -> None:
    x, edge_index, _ = jk_inputs()
    with pytest.raises(TypeError, match=r"inputs \(x, edge_index, batch\).*'batch'"):
        jk_model().summary(x, edge_index)


def test_summary_runs_in_eval_mode_without_autograd() -> None:
    seen: list[tuple[bool, bool]] = []
    dropout = Dropout(p=0.5)

    def probe(x: Tensor) -> Tensor:
        seen.append((torch.is_grad_enabled(), dropout.training))
        return x

    model = graphseq.Sequential("x", [(dropout, "x -> x"), (probe, "x -> x")]).train()
    x = torch.ones(4, 8)
    model.summary(x)
    assert seen == [(False, False)]
    assert dropout.training


def test_summary_leaves_outputs_parameters_buffers_and_hooks_unchanged() -> None:
    torch.manual_seed(0)
    model = graphseq.Sequential(
        "x, edge_index",
        [(GCNConv(8, 16), "x, edge_index -> h"), BatchNorm1d(16), ReLU(), Linear(16, 2)],
    ).train()
    x = torch.randn(6, 8)
    edge_index = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    code, cls = model.code, type(model)
    model.summary(x, edge_index)
    after = model.state_dict()
    assert state.keys() == after.keys()
    assert all(torch.equal(state[k], after[k]) for k in state)  # BatchNorm stats included
    assert model.code == code and type(model) is cls
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    model.eval()
    expected = model(x, edge_index)
    model.summary(x, edge_index)
    assert torch.equal(model(x, edge_index), expected)


def test_summary_calls_steps_with_lists_tuples_and_keywords_as_headers_pack_them() -> None:
    def kinds(a: object, b: object, *, c: object) -> Tensor:
        return torch.zeros(
            1 + isinstance(a, list), 1 + isinstance(b, tuple), 1 + isinstance(c, Tensor)
        )

    model = graphseq.Sequential("x, y", [(kinds, "[x, y], (y, x), c=x -> z")])
    table = model.summary(torch.ones(2), torch.ones(3))
    assert "[2, 2, 2] float32" in rows(table)[0]


def test_summary_describes_tuple_list_and_non_tensor_outputs() -> None:
    def stats(x: Tensor) -> tuple[Tensor, int]:
        return x.mean(0), x.shape[0]

    def pair(x: Tensor) -> tuple[Tensor, None]:
        return x, None

    def parts(x: Tensor) -> list[Tensor]:
        return list(x.split(1, dim=1))

    model = graphseq.Sequential(
        "x",
        [(stats, "x -> mean, n"), (pair, "x -> p"), (parts, "x -> ps")],
        outputs="mean, n, p, ps",
    )
    table = model.summary(torch.ones(4, 3, dtype=torch.float64))
    steps = rows(table)
    assert "mean: [3] float64, n: int" in steps[0]
    assert "([4, 3] float64, None)" in steps[1]
    assert "[[4, 1] float64, [4, 1] float64, [4, 1] float64]" in steps[2]
    assert "Outputs: mean [3] float64, n int, p ([4, 3] float64, None), ps [" in table


def test_summary_counts_a_child_shared_by_two_steps_once() -> None:
    shared = Linear(8, 8)
    model = graphseq.Sequential("x", [(shared, "x -> x"), ReLU(), (shared, "x -> x")])
    table = model.summary()
    steps = rows(table)
    assert steps[0].endswith(" 72")
    assert steps[2].endswith("shared with 0")
    assert "Total params: 72" in table


def test_summary_of_lazy_modules_counts_them_once_initialized() -> None:
    model = graphseq.Sequential("x, edge_index", [(GCNConv(-1, 4), "x, edge_index -> x")])
    before = model.summary()
    assert rows(before)[0].endswith("?")
    assert "lazy parameters" in before
    after = model.summary(torch.ones(3, 5), torch.tensor([[0, 1], [1, 2]]))
    assert rows(after)[0].endswith(" 24")  # 5 * 4 weights + 4 biases
    assert "lazy" not in after


def test_summary_keeps_long_module_reprs_on_one_line() -> None:
    inner = torch.nn.Sequential(Linear(4, 4), ReLU(), Linear(4, 4), ReLU(), Linear(4, 4))
    model = graphseq.Sequential("x", [(inner, "x -> x")])
    row = rows(model.summary())[0]
    assert "Sequential( (0): Linear(" in row and "..." in row
    assert len(short_repr(inner)) == 60


def test_summary_records_shapes_of_every_value_for_diagrams() -> None:
    model = jk_model()
    model.summary(*jk_inputs())
    shapes = model.recorded_shapes()
    assert shapes[(INPUT, "edge_index")] == "[2, 30] int64"
    assert shapes[(1, "x1")] == "[10, 64] float32"
    assert shapes[(5, "x")] == "[10, 128] float32"
    model.append(Linear(3, 3))  # an edit makes a new plan: the old shapes no longer apply
    assert model.recorded_shapes() == {}


def test_describe_names_types_it_has_no_shape_for() -> None:
    assert describe(torch.zeros((), dtype=torch.bool)) == "[] bool"
    assert describe("text") == "str"
    assert describe([torch.zeros(1)] * 6) == "[[1] float32, [1] float32, [1] float32, " + (
        "[1] float32, ... 6 items]"
    )
    assert describe((((1,),),)) == "((tuple(1)))"


def test_docstring_examples_of_summary_run() -> None:
    result = doctest.testmod(graphseq.summary, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_summary_frees_each_value_at_its_last_use_and_keeps_only_shapes() -> None:
    """Issue 7, item 15: summary holds no more values than forward does."""
    steps, refs = freeing_steps()
    model = graphseq.Sequential("x", steps)
    model.summary(torch.ones(1000))
    assert refs["freed"] is True
    assert refs["big"]() is None
    assert model.recorded_shapes()[(0, "big")] == "[1000] float32"
