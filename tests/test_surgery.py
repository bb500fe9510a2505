"""Model surgery on the plan's records: submodel, replace, remove, clone, name slices."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import pytest
import torch
from torch.nn import ELU, Linear, ReLU

from graphseq import HeaderError, Sequential, from_config, registry
from graphseq import _surgery as surgery
from graphseq._errors import Location
from graphseq._spec import make_spec
from tests.models import graph, named_gcn


def snapshot(model: Sequential) -> tuple:
    return (repr(model), model.code, list(model.state_dict()), model.plan.outputs,
            [c.name for c in model.headers])


# submodel --------------------------------------------------------------------------------------


def test_submodel_keeps_only_the_steps_its_outputs_need_and_shares_children():
    model = named_gcn()
    part = model.submodel("x1")
    assert [c.name for c in part.headers] == ["drop", "conv1", "act1"]
    assert part.conv1 is model.conv1
    assert part.plan.inputs.names == ("x", "edge_index")  # batch is not read
    g = graph()
    with torch.no_grad():
        expected = model.act1(model.conv1(g["x"], g["edge_index"]))
        assert torch.equal(part(g["x"], g["edge_index"]), expected)


def test_submodel_of_several_outputs_returns_them_in_order():
    model = named_gcn()
    part = model.submodel(["out", "x1"])
    assert part.plan.outputs == ("out", "x1")
    g = graph()
    with torch.no_grad():
        out, x1 = part(g["x"], g["edge_index"])
        assert torch.equal(out, model(g["x"], g["edge_index"], g["batch"]))


def test_submodel_from_given_inputs_starts_from_those_values():
    model = named_gcn()
    tail = model.submodel("out", inputs="x1, edge_index")
    assert [c.name for c in tail.headers] == ["conv2", "act2", "head"]
    g = graph()
    with torch.no_grad():
        x1 = model.act1(model.conv1(g["x"], g["edge_index"]))
        assert torch.equal(tail(x1, g["edge_index"]), model(g["x"], g["edge_index"], g["batch"]))


def test_submodel_lists_the_inputs_its_outputs_still_need():
    with pytest.raises(HeaderError) as info:
        named_gcn().submodel("out", inputs=["x1"])
    assert "cannot be computed from the inputs 'x1': they also need 'edge_index'" in str(info.value)
    assert info.value.location == Location("inputs")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ("x1, x1", "Inputs name 'x1' twice; each value is given once."),
        (["x1", "x1"], "Inputs name 'x1' twice; each value is given once."),
        ("x1 -> y", "Inputs 'x1 -> y' hold '->': inputs are a list of value names"),
        ("", "Inputs are empty: name at least one value."),
        ([3], "Inputs must be names (str); got int 3."),
    ],
)
def test_submodel_inputs_that_are_not_a_list_of_names_are_named_inputs(inputs, message):
    model = named_gcn()
    before = model.code
    with pytest.raises(HeaderError) as info:
        model.submodel("out", inputs=inputs)
    assert message in str(info.value)
    assert "Outputs" not in str(info.value)
    assert info.value.location == Location("inputs")
    assert model.code == before


def test_submodel_of_an_unknown_value_suggests_the_nearest():
    with pytest.raises(HeaderError, match="Did you mean 'out'"):
        named_gcn().submodel("outt")


def test_submodel_means_the_last_binding_of_a_name_bound_twice():
    model = Sequential("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> h"),
                             (Linear(4, 2), "h -> y")])
    part = model.submodel("h")
    assert [c.name for c in part.headers] == ["module_0", "module_1"]


def test_submodel_keeps_input_types_and_a_headerless_first_step_gets_its_header():
    model = Sequential("x: Tensor, k: int = 2", [(lambda x, k: (x * k, x + k), "x, k -> a, b"),
                                                  lambda a, b: (a * b, b)])
    whole = model.submodel("b")
    assert whole.signature.param_dict["k"].default == 2
    part = model.submodel("a", inputs="a, b")
    assert part.plan.steps[0].text == "a, b -> a, b"
    assert torch.equal(part(torch.full((1,), 2.0), torch.full((1,), 3.0)), torch.full((1,), 6.0))


# replace -------------------------------------------------------------------------------------


def test_replace_keeps_the_name_and_header_and_checks_the_new_child():
    model = named_gcn()
    model.replace("act1", ELU())
    assert isinstance(model.act1, ELU) and model.plan.steps[2].text is None
    model.replace(5, Linear(16, 5))
    g = graph()
    with torch.no_grad():
        assert model(g["x"], g["edge_index"], g["batch"]).shape == (6, 5)


def test_a_rejected_replace_leaves_the_model_exactly_as_it_was():
    model = named_gcn()
    before = snapshot(model)
    with pytest.raises(HeaderError, match="Linear cannot take"):
        model.replace("conv2", Linear(16, 16))
    with pytest.raises(HeaderError, match="reads 'nope'"):
        model.replace("conv2", Linear(16, 16), "nope -> x2")
    with pytest.raises(HeaderError, match="is a class"):
        model.replace("act1", ReLU)
    assert snapshot(model) == before
    model.replace("conv2", Linear(16, 16), "x1 -> x2")
    assert model.plan.steps[3].text == "x1 -> x2"


# remove ------------------------------------------------------------------------------------------


def test_remove_and_del_take_a_step_out_by_name_or_index():
    model = named_gcn()
    model.remove("drop")
    del model[-1]
    assert [c.name for c in model.headers] == ["conv1", "act1", "conv2", "act2"]
    assert list(model.state_dict())[0].startswith("conv1.")
    assert model.plan.outputs == ("x2",)


def test_remove_is_refused_while_a_later_step_reads_what_only_it_writes():
    model = named_gcn()
    before = snapshot(model)
    with pytest.raises(HeaderError) as info:
        model.remove("conv1")
    assert str(info.value).startswith(
        "step 1 ('conv1') cannot be removed: without it, step 3 ('conv2') reads 'x1', "
        "which is not defined yet.")
    single = Sequential("x", [(ReLU(), "x -> y")])
    with pytest.raises(HeaderError, match="only step"):
        del single[0]
    outputs = Sequential("x", [(ReLU(), "x -> y"), (ReLU(), "x -> h")], outputs="h, y")
    with pytest.raises(HeaderError,
                       match="cannot be removed: the model's outputs need it. Outputs name 'h'"):
        outputs.remove(1)
    assert snapshot(model) == before


# clone -------------------------------------------------------------------------------------------


def test_clone_applies_a_function_to_every_child():
    model = named_gcn()
    elu = model.clone(lambda name, child: ELU() if isinstance(child, ReLU) else child)
    assert isinstance(elu.act1, ELU) and isinstance(elu.act2, ELU)
    assert elu.conv1 is model.conv1 and isinstance(model.act1, ReLU)
    assert [c.text for c in elu.plan.steps] == [c.text for c in model.plan.steps]
    deep = model.clone(lambda name, child: copy.deepcopy(child))
    assert deep.conv1 is not model.conv1
    g = graph()
    with torch.no_grad():
        assert torch.equal(deep(g["x"], g["edge_index"], g["batch"]),
                           model(g["x"], g["edge_index"], g["batch"]))


def test_clone_checks_the_new_children():
    with pytest.raises(HeaderError, match="Linear cannot take"):
        named_gcn().clone(lambda name, child: Linear(8, 16) if name == "conv1" else child)


# name slices ----------------------------------------------------------------------------------


def test_a_slice_by_names_includes_both_ends():
    model = named_gcn()
    part = model["conv1":"act2"]
    assert [c.name for c in part.headers] == ["conv1", "act1", "conv2", "act2"]
    assert [c.name for c in model[:"conv1"].headers] == ["drop", "conv1"]
    with pytest.raises(KeyError):
        model["conv1":"nope"]


# edited models work with the tools --------------------------------------------------------------


def test_edited_models_summarize_draw_pickle_and_write_configs():
    torch.manual_seed(0)
    model = Sequential("x, edge_index", OrderedDict(
        conv1=(registry.build("GCNConv", 8, 16), "x, edge_index -> h"),
        act=registry.build("ReLU"),
        conv2=(registry.build("GCNConv", 16, 4), "h, edge_index -> y"),
    ))
    for edited in (model.submodel("h"), model.clone(lambda n, c: c), model["act":"conv2"]):
        assert "Total params" in edited.summary()
        assert edited.to_dot().startswith("digraph") and "flowchart" in edited.to_mermaid()
        again = pickle.loads(pickle.dumps(edited))
        assert again.code == edited.code
        rebuilt = from_config(edited.to_config())
        assert rebuilt.to_config() == edited.to_config()
    model.replace("act", registry.build("ELU"))
    assert from_config(model.to_config()).to_config() == model.to_config()


# the record operations themselves (graphseq._surgery) --------------------------------------------


def test_record_operations_return_checked_records_and_leave_their_inputs_as_they_were():
    spec, plan, fns = make_spec("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> h"),
                                      (Linear(4, 2), "h -> y")])
    given = list(fns)
    edits = {
        "insert": surgery.insert(spec, fns, 1, [(ELU(), "h -> h")], ()),
        "replace": surgery.replace(spec, fns, 1, ELU(), None, ()),
        "remove": surgery.remove(spec, fns, 1),
        "slice": surgery.slice_model(spec, plan, fns, slice("module_1", None)),
        "submodel": surgery.submodel(spec, plan, fns, "h"),
        "clone": surgery.clone(spec, fns, lambda name, child: child, ()),
    }
    assert {k: [s.name for s in e.plan.steps] for k, e in edits.items()} == {
        "insert": ["module_0", "module_3", "module_1", "module_2"],
        "replace": ["module_0", "module_1", "module_2"],
        "remove": ["module_0", "module_2"],
        "slice": ["module_1", "module_2"],
        "submodel": ["module_0", "module_1"],
        "clone": ["module_0", "module_1", "module_2"],
    }
    assert all(len(e.fns) == len(e.spec.steps) for e in edits.values())
    assert fns == given and [d.name for d in spec.steps] == ["module_0", "module_1", "module_2"]
    with pytest.raises(HeaderError, match="step 0 .* cannot be removed: without it, step 1"):
        surgery.remove(spec, fns, 0)
    assert fns == given


def test_appending_on_the_tail_alone_defers_a_step_that_would_leave_others_dead():
    spec, plan, fns = make_spec("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> y")])
    tail = surgery.tail_of(plan)
    appended = surgery.append(spec, tail, [(ELU(), "y -> y")], ())
    assert appended is not None and appended.tail.last_outs == ("y",)
    assert [d.name for d in appended.spec.steps] == ["module_0", "module_1", "module_2"]
    assert surgery.append(spec, tail, [(ELU(), "h -> z")], ()) is None  # y would reach nothing
    with pytest.raises(HeaderError, match="reads 'nope'"):
        surgery.append(spec, tail, [(ELU(), "nope -> z")], ())


# issue 16 -----------------------------------------------------------------------------------------


def test_submodel_from_an_input_bound_twice_and_read_from_both_bindings_is_refused():
    model = Sequential("x", {"a": (Linear(4, 4), "x -> h"), "b": (ReLU(), "h -> g"),
                             "c": (ELU(), "h -> h"), "d": (torch.add, "h, g -> out")})
    with pytest.raises(HeaderError, match="read 'h' from 2 of its bindings") as info:
        model.submodel("out", inputs="h")
    assert info.value.location == Location("inputs")
    part = model.submodel("out", inputs="h, g")  # one binding of each: fine
    x = torch.randn(3, 4)
    h = model.submodel("h")(x)
    g = model.submodel("g")(x)
    assert torch.equal(part(h, g), model(x))


def test_submodel_refuses_an_input_that_a_kept_step_rewrites_before_it_is_read():
    split = lambda x: (x + 1, x * 2)  # noqa: E731
    model = Sequential("x", {"a": (split, "x -> h, m"), "b": (ReLU(), "h -> h"),
                             "c": (torch.add, "h, m -> out")})
    with pytest.raises(HeaderError, match=r"step 1 \('b'\) and step 0 \('a'\)"):
        model.submodel("out", inputs="h, x")
    x = torch.randn(3)
    assert torch.equal(model.submodel("out", inputs="x")(x), model(x))


def test_a_model_cannot_become_a_step_of_itself():
    model = named_gcn()
    before = snapshot(model)
    holder = torch.nn.Sequential(model)
    for edit in (lambda: model.replace("act1", model), lambda: model.append(holder),
                 lambda: model.insert(0, model.forward, "x -> x"),
                 lambda: model.extend([ReLU(), model])):
        with pytest.raises(HeaderError, match="cannot be a step of itself") as info:
            edit()
        assert info.value.location.field == "module"
    assert snapshot(model) == before
    model.state_dict()  # no RecursionError
    inner = Sequential("x", [(ReLU(), "x -> x")])
    Sequential("x", [(ELU(), "x -> x")]).replace(0, inner)  # another model may hold it


def test_an_index_end_is_exclusive_and_a_name_end_inclusive_in_any_mix():
    model = named_gcn()
    names = [c.name for c in model.headers]
    assert [c.name for c in model["drop":2].headers] == names[0:2]
    assert [c.name for c in model[0:2].headers] == names[0:2]
    assert [c.name for c in model[1:"conv2"].headers] == names[1:4]
    assert [c.name for c in model["conv1":-1].headers] == names[1:-1]
    with pytest.raises(ValueError, match="no stride"):
        model["drop":"act2":2]


@pytest.mark.parametrize("index", [1.0, "1", None, True])
def test_insert_at_an_index_that_is_not_an_int_is_a_type_error(index):
    model = named_gcn()
    with pytest.raises(TypeError, match="int index"):
        model.insert(index, ReLU())


def test_clone_gives_a_step_the_header_its_function_returns():
    model = Sequential("x", [(Linear(4, 4), "x -> h"), (ReLU(), "h -> y")])
    swapped = model.clone(lambda name, child: (torch.add, "h, x -> y") if name == "module_1"
                          else child)
    assert [s.text for s in swapped.plan.steps] == ["x -> h", "h, x -> y"]
    assert swapped[1] is torch.add
    with pytest.raises(HeaderError, match="step 1 .* has no '->'"):
        model.clone(lambda name, child: (child, "h") if name == "module_1" else child)
    to_function = model.clone(lambda name, child: torch.relu if name == "module_1" else child)
    assert to_function.plan.steps[1].kind == "function"


class Scaled(Sequential):
    def __init__(self, scale: float) -> None:
        super().__init__("x", {"a": (Linear(4, 4), "x -> h"), "b": (ReLU(), "h -> h"),
                               "c": (Linear(4, 2), "h -> y")})
        self.scale = scale
        self.extra = torch.nn.Linear(2, 2)
        self.register_buffer("offset", torch.ones(2))

    def forward(self, x):
        return self.extra(super().forward(x)) * self.scale + self.offset


def test_models_derived_from_a_subclass_run_like_the_original():
    model = Scaled(3.0)
    x = torch.randn(5, 4)
    whole = [model.clone(lambda name, child: child), model[:], model.submodel("y")]
    for derived in whole:
        assert isinstance(derived, Scaled) and derived.scale == 3.0
        assert torch.equal(derived(x), model(x))
    assert model["a":"b"].scale == 3.0


class Gated(Sequential):
    """A subclass whose ``forward`` reads the model's own training flag."""

    def forward(self, x):
        return super().forward(x) * (0.0 if self.training else 1.0)


def test_models_derived_from_a_model_in_eval_mode_are_in_eval_mode():
    model = Gated("x", {"a": (Linear(4, 4), "x -> h"), "b": (ReLU(), "h -> y")}).eval()
    x = torch.randn(5, 4)
    for derived in (model.clone(lambda name, child: child), model[:], model.submodel("y"),
                    model["a":"b"]):
        assert not derived.training
        assert torch.equal(derived(x), model(x))
    assert model.train()[:].training


class Annotated(Sequential):
    """A subclass whose ``__init__`` keeps much state of its own beside the steps."""

    def __init__(self, *args: object, notes: int = 0) -> None:
        super().__init__(*args)
        for i in range(notes):
            setattr(self, f"note_{i}", i)


def test_derived_models_read_one_state_while_another_thread_edits():
    import sys
    import threading

    a, b, c = Linear(4, 4), torch.nn.Identity(), ReLU()
    # Much own state: carrying it to a derived model takes a while, so an edit lands inside.
    model = Annotated("x", {"a": (a, "x -> h"), "b": (b, "h -> h"), "c": (c, "h -> y")},
                      notes=2000)
    done = threading.Event()
    problems: list[str] = []

    def edit() -> None:
        while not done.is_set():
            model.remove(1)
            model.insert(1, b, "h -> h")

    def check(derived: Sequential) -> None:
        if derived["c"] is not c:
            problems.append("step 'c' paired with another child")
        steps = {s.name for s in derived.plan.steps}
        if set(derived._modules) != steps:  # a step of another version carried as a child
            problems.append(f"steps {sorted(steps)}, children {sorted(derived._modules)}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that a torn read is seen
    editor = threading.Thread(target=edit)
    editor.start()
    try:
        for _ in range(200):
            for derive in (lambda: model.submodel("y"), lambda: model["a":"c"],
                           lambda: model.clone(lambda name, child: child)):
                try:
                    check(derive())
                except Exception as error:  # noqa: BLE001  (collected, asserted below)
                    problems.append(f"{type(error).__name__}: {error}")
    finally:
        done.set()
        editor.join()
        sys.setswitchinterval(interval)
    assert problems == []
