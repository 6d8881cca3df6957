"""How pytrees of arrays display: `ft.tree_summary` (text and HTML tables of the leaves with
statistics), `ft.tree_pformat` (structure with arrays as dtype[shape]), and optimizer states,
whose repr is the latter and whose Jupyter form is the former."""
import re

import numpy as np

import functrans as ft
import functrans.numpy as fnp
from functrans import _display


def _g(v):
    return format(float(v), ".4g")


def _on():
    return f" on {fnp.ones(1).device}"


def grads_with_problems():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 4 - 1
    w[0, 1], w[1, 1], w[2, 3] = np.nan, -np.inf, np.inf
    return w, {"w": fnp.asarray(w), "b": fnp.asarray([1.5, -2.0]),
               "n": fnp.asarray(np.int32(3)), "s": 0.5, "mask": fnp.asarray([True, False])}


def test_text_summary_lists_each_leaf_with_statistics_or_values():
    w, tree = grads_with_problems()
    lines = str(ft.tree_summary(tree, title="grads")).splitlines()
    assert lines[0] == "grads: 4 arrays, 17 elements, 62 B" + _on()
    assert lines[1].split() == ["path", "array", "mean", "std", "min", "max", "non-finite"]
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in lines[2:]}
    assert rows["['b']"] == ["f32[2]", "[1.5, -2]"]
    assert rows["['n']"] == ["i32[]", "3"]
    assert rows["['s']"] == ["float", "0.5"]
    assert rows["['mask']"] == ["bool[2]", "[True, False]"]
    finite = w[np.isfinite(w)].astype(np.float64)
    assert rows["['w']"][0] == "f32[3,4]"
    assert rows["['w']"][1].split(None, 4) == [
        _g(finite.mean()), _g(finite.std()), _g(finite.min()), _g(finite.max()),
        "1 nan, 1 +inf, 1 -inf"]
    assert repr(ft.tree_summary(tree)) == str(ft.tree_summary(tree))


def test_summary_columns_line_up_and_finite_trees_have_no_non_finite_column():
    params = {"layer": {"weight": fnp.asarray(np.linspace(-1, 1, 20).reshape(4, 5)),
                        "bias": fnp.zeros(4)}}
    text = str(ft.tree_summary(params))
    lines = text.splitlines()
    assert "non-finite" not in text and lines[0] == "2 arrays, 24 elements, 176 B" + _on()
    header, weight = lines[1], lines[3]
    assert weight.startswith("['layer']['weight']  f64[4,5]")
    for col in ("mean", "std", "min", "max"):   # values start under their column's title
        start = header.index(col)
        assert weight[start] != " " and weight[start - 1] == " "
    values = np.linspace(-1, 1, 20)
    assert weight.split()[2:] == [_g(values.mean()), _g(values.std()), "-1", "1"]


def test_html_summary_is_a_table_with_escaped_cells():
    _, tree = grads_with_problems()
    tree["<script>"] = fnp.ones(1)
    out = ft.tree_summary(tree, title="grads")._repr_html_()
    assert out.startswith('<div style="') and "grads: 5 arrays, 18 elements, 66 B" + _on() in out
    assert "<script>" not in out and "[&#x27;&lt;script&gt;&#x27;]" in out
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", out)
    assert heads == ["path", "array", "mean", "std", "min", "max", "non-finite"]
    rows = re.findall(r"<tr>(.*?)</tr>", out)
    assert len(rows) == 7           # the header and six leaves
    b_row = next(r for r in rows if "[&#x27;b&#x27;]" in r)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", b_row) == ["[&#x27;b&#x27;]", "f32[2]",
                                                          "[1.5, -2]"]
    assert 'colspan="5"' in b_row
    w_row = next(r for r in rows if "[&#x27;w&#x27;]" in r)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", w_row)[-1] == "1 nan, 1 +inf, 1 -inf"


def test_large_complex_and_integer_arrays():
    z = (np.arange(10) + 1j * np.arange(10)).astype(np.complex64)
    tree = {"z": fnp.asarray(z), "i": fnp.arange(20)}
    rows = {line.split()[0]: line.split()[1:] for line in str(ft.tree_summary(tree))
            .splitlines()[2:]}
    assert rows["['i']"] == ["i64[20]", "9.5", _g(np.arange(20).std()), "0", "19"]
    assert rows["['z']"][0] == "c64[10]"
    assert rows["['z']"][1] == format(complex(z.astype(np.complex128).mean()), ".4g")
    assert rows["['z']"][3:] == ["|0|", f"|{_g(abs(z[-1]))}|"]


def test_summary_of_traced_values_shows_shapes_only():
    seen = []

    @ft.jit
    def f(params):
        seen.append(str(ft.tree_summary(params)))
        return params
    f({"w": fnp.ones((2, 3)), "step": fnp.asarray(np.int32(1))})
    lines = seen[0].splitlines()
    assert lines[0] == "2 arrays, 7 elements, 28 B" + _on()
    assert lines[2].split() == ["['step']", "i32[]", "(traced)"]
    assert lines[3].split() == ["['w']", "f32[2,3]", "(traced)"]


def test_leaves_on_several_devices_get_a_device_column():
    import fakegpu
    fakegpu.register()
    tree = {"a": ft.device_put(fnp.arange(10.0), "cpu"),
            "b": ft.device_put(fnp.arange(3), "fakegpu:1")}
    lines = str(ft.tree_summary(tree)).splitlines()
    assert lines[0] == "2 arrays, 13 elements, 64 B"
    assert lines[1].split()[:3] == ["path", "array", "device"]
    assert lines[2].split() == ["['a']", "f32[10]", "cpu", "4.5", _g(np.arange(10).std()),
                                "0", "9"]
    assert lines[3].split() == ["['b']", "i64[3]", "fakegpu:1", "[0,", "1,", "2]"]
    on_one = ft.tree_summary({"b": tree["b"]})
    assert "device" not in on_one.columns and on_one.headline().endswith(" on fakegpu:1")


def test_empty_tree_and_module_paths():
    assert str(ft.tree_summary({})) == "a pytree without leaves"
    assert str(ft.tree_summary(None, title="state")) == "state: a pytree without leaves"
    model = ft.nn.Linear(3, 2, key=ft.random.key(0))
    lines = str(ft.tree_summary(model)).splitlines()
    assert lines[0] == "2 arrays, 8 elements, 32 B" + _on()
    assert [line.split()[:2] for line in lines[2:]] == [[".weight", "f32[2,3]"],
                                                        [".bias", "f32[2]"]]


def test_tree_pformat_shows_structure_with_shapes():
    tree = {"a": [fnp.ones((2, 3)), (fnp.zeros(4),)], "b": None,
            "c": fnp.asarray(np.float64(0.25)), "d": "text", "e": ()}
    assert ft.tree_pformat(tree) == \
        "{'a': [f32[2,3], (f32[4],)], 'b': None, 'c': f64[](0.25), 'd': 'text', 'e': ()}"
    assert ft.tree_pformat(tree, width=40) == (
        "{\n"
        "  'a': [f32[2,3], (f32[4],)],\n"
        "  'b': None,\n"
        "  'c': f64[](0.25),\n"
        "  'd': 'text',\n"
        "  'e': (),\n"
        "}")
    model = ft.nn.Sequential(ft.nn.Linear(3, 2, key=ft.random.key(0)), ft.nn.ReLU())
    assert ft.tree_pformat(model) == "Sequential(Linear(weight=f32[2,3], bias=f32[2]), ReLU())"


def test_optimizer_states_print_shapes_and_show_a_table_in_jupyter():
    params = {"w": fnp.ones((5, 3)), "b": fnp.zeros(5)}
    state = ft.optim.adam(1e-3).init(params)
    assert repr(state) == (
        "AdamState(\n"
        "  count=i32[](0),\n"
        "  exp_avg={'b': f32[5], 'w': f32[5,3]},\n"
        "  exp_avg_sq={'b': f32[5], 'w': f32[5,3]},\n"
        "  max_exp_avg_sq=None,\n"
        ")")
    assert repr(ft.optim.sgd(0.1).init(params)) == "SGDState(count=i32[](0), momentum_buffer=None)"
    out = state._repr_html_()
    assert "AdamState: 5 arrays, 41 elements, 164 B" + _on() in out
    assert re.findall(r"<td[^>]*>(\.exp_avg\[[^<]*)</td>", out) == [
        ".exp_avg[&#x27;b&#x27;]", ".exp_avg[&#x27;w&#x27;]"]
    opt = ft.optim.inject_hyperparams(ft.optim.sgd)(lr=0.5)
    assert repr(opt.init(params)) == (
        "InjectHyperparamsState(\n"
        "  count=i32[](0),\n"
        "  hyperparams={\n"
        "    'dampening': f32[](0),\n"
        "    'lr': f32[](0.5),\n"
        "    'momentum': f32[](0),\n"
        "    'weight_decay': f32[](0),\n"
        "  },\n"
        "  inner_state=SGDState(count=i32[](0), momentum_buffer={'b': f32[5], 'w': f32[5,3]}),\n"
        ")")
    masked = ft.optim.masked(ft.optim.sgd(0.1, momentum=0.9), {"w": True, "b": False})
    assert repr(masked.init(params)) == ("MaskedState(\n  inner_state=SGDState(count=i32[](0), "
                                         "momentum_buffer={'b': MaskedNode(), 'w': f32[5,3]}),"
                                         "\n)")


def test_array_header_uses_the_same_label():
    a = fnp.ones((3,), dtype=fnp.float64)
    assert _display.label(a) == "f64[3]" and _display.header(a) == f"f64[3] · {a.device}"
