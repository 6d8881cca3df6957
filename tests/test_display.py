"""How arrays display in Jupyter (`Array._repr_html_`)."""
import re

import numpy as np

import functrans as ft
import functrans.numpy as fnp
from functrans import _display


def _cells(html_text):
    return re.findall(r"<td[^>]*>([^<]*)</td>", html_text)


def test_small_matrix_is_a_table_with_header():
    x = fnp.asarray(np.array([[1.5, -2.0, 3.25], [0.0, 1e-7, 4e20]], dtype=np.float32))
    out = x._repr_html_()
    assert f"f32[2,3] · {x.device}" in out
    assert out.count("<tr>") == 2
    assert _cells(out) == ["1.5", "-2", "3.25", "0", "1e-07", "4e+20"]
    assert "<pre>" not in out


def test_vector_is_one_row_and_ints_and_bools_print_exactly():
    out = fnp.arange(5)._repr_html_()
    assert "i64[5]" in out and out.count("<tr>") == 1
    assert _cells(out) == ["0", "1", "2", "3", "4"]
    assert _cells(fnp.array([True, False])._repr_html_()) == ["True", "False"]


def test_large_or_high_rank_arrays_fall_back_to_text():
    big = fnp.zeros((_display.TABLE_MAX_ROWS + 1, 2))
    cube = fnp.ones((2, 2, 2))
    scalar = fnp.asarray(np.float64(2.5))
    for a, head in ((big, "f32[17,2]"), (cube, "f32[2,2,2]"),
                    (scalar, f"f64[] · {scalar.device}")):
        out = a._repr_html_()
        assert head in out and "<pre>" in out and "<table" not in out
        text = re.search(r"<pre>(.*)</pre>", out, re.S).group(1)
        assert text == np.array2string(np.asarray(a), separator=", ")


def test_huge_array_is_summarized():
    out = fnp.arange(100_000)._repr_html_()
    assert "..." in out and len(out) < 2000


def test_empty_array_shows_its_shape():
    out = fnp.zeros((0, 3))._repr_html_()
    assert "f32[0,3]" in out and "<pre>[]</pre>" in out


def test_header_matches_the_array():
    a = ft.device_put(fnp.ones((3,), dtype=fnp.float64), "cpu")
    assert _display.header(a) == "f64[3] · cpu"
