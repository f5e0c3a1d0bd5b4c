"""Errors: KernelError (a ValueError) with the offending line, a caret under the column and a
hint; other bad arguments as scipy raises them."""

import numpy as np
import pytest

import jitfilter as jf


def test_kernel_error_is_a_value_error_with_caret_text():
    with pytest.raises(jf.KernelError) as info:
        jf.compile("maxx(w)")
    e = info.value
    assert isinstance(e, ValueError)
    assert str(e) == (
        "unknown function `maxx`\n"
        "  --> line 1, column 1\n"
        "  |\n"
        "1 | maxx(w)\n"
        "  | ^^^^\n"
        "  = hint: did you mean `max`?"
    )
    assert (e.lineno, e.offset, e.end_offset) == (1, 1, 5)
    assert e.text == "maxx(w)"
    assert e.hint == "did you mean `max`?"
    assert e.message == "unknown function `maxx`"
    assert e.source == "maxx(w)"
    assert (e.start, e.end) == (0, 4)
    assert type(e).__module__ == "jitfilter" and type(e).__name__ == "KernelError"


def test_caret_points_at_the_column_on_the_right_line():
    src = "# z-score\nlet m = mean(w);\n(c - mm) / (std(w) + 1e-9)"
    with pytest.raises(jf.KernelError) as info:
        jf.compile(src)
    e = info.value
    lines = str(e).splitlines()
    assert lines[0] == "unknown name `mm`"
    assert lines[1] == "  --> line 3, column 6"
    assert lines[3] == "3 | (c - mm) / (std(w) + 1e-9)"
    assert lines[4] == "  |      ^^"
    assert lines[5] == "  = hint: did you mean `m`?"
    assert (e.lineno, e.offset) == (3, 6)


@pytest.mark.parametrize(
    "src, words",
    [
        ("max(w", ["syntax error", "^"]),
        ("w", ["vector", "max(...)"]),
        ("max(w, 1, 2) + sum()", ["argument"]),
        ("let w = 1; w", ["built-in"]),
        ("let a = 1; let a = 2; a", ["already defined"]),
        ("a + 1; let a = 1", ["^"]),
        ("sum(1)", ["^"]),
        ("1 < 2 < 3", ["^"]),
        ("", ["syntax error"]),
        ("mean(w) +", ["syntax error"]),
    ],
)
def test_all_expression_errors_are_kernel_errors(src, words):
    with pytest.raises(jf.KernelError) as info:
        jf.compile(src)
    text = str(info.value)
    for word in words:
        assert word in text, text
    assert "-->" in text and "|" in text


def test_non_ascii_source_keeps_the_caret_aligned():
    with pytest.raises(jf.KernelError) as info:
        jf.compile("# größe\nmax(w) + ö")
    e = info.value
    assert e.lineno == 2 and e.offset == 10
    assert str(e).splitlines()[4] == "  |          ^"


def test_position_name_missing_from_the_array_points_at_it():
    k = jf.compile("max(w) + y")
    with pytest.raises(jf.KernelError) as info:
        k.filter(np.zeros(10), size=3)
    text = str(info.value)
    assert "`y` needs a y (second-last) axis" in text
    assert "1 | max(w) + y\n  |          ^" in text


def test_other_bad_arguments():
    a = np.zeros((5, 5))
    k = jf.compile("max(w)")
    with pytest.raises(RuntimeError, match="boundary mode not supported"):
        k.filter(a, size=3, mode="symmetric")
    # A mode per axis is fine; a count that is not the array's, or a non-string, is not.
    k.filter(a, size=3, mode=["reflect", "wrap"])
    with pytest.raises(RuntimeError, match="length equal to input rank"):
        k.filter(a, size=3, mode=["reflect", "wrap", "wrap"])
    with pytest.raises(RuntimeError, match="boundary mode not supported"):
        k.filter(a, size=3, mode=["reflect", 3])
    with pytest.raises(TypeError, match="mode must be a string"):
        k.filter(a, size=3, mode=3)
    with pytest.raises(ValueError, match="origin 2 is out of range"):
        k.filter(a, size=3, origin=2)
    # scipy's limit of 32 axes (numpy 2 allows 64).
    with pytest.raises(ValueError, match="1 to 32 dimensions"):
        k.filter(np.zeros((1,) * 33), size=3)
    with pytest.raises(ValueError, match="1 to 32 dimensions"):
        k.filter(np.float64(3.0), size=3)
    with pytest.raises(ValueError, match="1 to 32 dimensions, got 33"):
        jf.dask.filter(np.zeros((1,) * 33), k, size=3)
    with pytest.raises(TypeError, match="complex"):
        k.filter(np.zeros((3, 3), complex), size=3)
    with pytest.raises(TypeError, match="complex"):
        k.filter(a, size=3, output=np.complex128)
    with pytest.raises(TypeError):
        k.filter(np.array([["a"]]), size=1)
    with pytest.raises(TypeError):
        jf.compile(b"max(w)")
    with pytest.raises(ValueError, match="size must be at least 1"):
        k.filter(a, size=0)
