"""numpy in/out: dtypes, output=, strides, size/footprint/origin conventions, params, pickling,
threads and the GIL."""

import pickle
import threading
import time
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

import jitfilter as jf

ENGINE_DTYPES = ["uint8", "uint16", "int16", "int32", "float32", "float64"]


def test_compile_and_introspect():
    k = jf.compile("param t = 0.5; param u = -2; count(w > c + t) + u")
    assert k.source == "param t = 0.5; param u = -2; count(w > c + t) + u"
    assert k.param_defaults == {"t": 0.5, "u": -2.0}
    assert k.params == {"t": 0.5, "u": -2.0}
    assert set(k.builtins) == {"w", "c"}
    assert isinstance(k.callback_address, int) and k.callback_address != 0
    assert "function" in jf.compile("max(w) - c").cranelift_ir()
    assert repr(k) == "jitfilter.compile('param t = 0.5; param u = -2; count(w > c + t) + u')"
    bound = k.with_params(t=2)
    assert bound.params == {"t": 2.0, "u": -2.0}
    assert bound.callback_address == k.callback_address  # shares the compiled code
    assert jf.compile(k.source, params={"u": 1}).params == {"t": 0.5, "u": 1.0}
    assert jf.MODES[:5] == ("reflect", "mirror", "nearest", "wrap", "constant")
    assert [d.name for d in jf.DTYPES] == ENGINE_DTYPES


def test_compile_is_fast():
    t = time.perf_counter()
    for i in range(20):
        jf.compile(f"let m = mean(w); (c - m) / (std(w) + {i + 1}e-9)")
    assert (time.perf_counter() - t) / 20 < 0.05


@pytest.mark.parametrize("dtype", ENGINE_DTYPES)
def test_output_none_keeps_dtype_rounding_half_even_and_saturating(rng, dtype):
    a = (rng.uniform(0, 60, (9, 8))).astype(dtype)
    k = jf.compile("sum(w) * 2.5 - 300")  # large and negative values, halves
    exact = k.filter(a, size=3, output=np.float64)
    got = k.filter(a, size=3)
    assert got.dtype == np.dtype(dtype)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        np.testing.assert_array_equal(got, np.clip(np.rint(exact), info.min, info.max).astype(dtype))
    else:
        np.testing.assert_array_equal(got, exact.astype(dtype))


def test_nan_becomes_zero_in_integer_outputs():
    a = np.zeros((4, 4))
    got = jf.filter(a, "sum(w) / 0 * 0", size=3, output=np.int16)  # NaN everywhere
    assert got.dtype == np.int16 and (got == 0).all()
    assert (jf.filter(a, "1 / 0", size=3, output=np.uint8) == 255).all()
    assert (jf.filter(a, "-1 / 0", size=3, output="int32") == np.iinfo(np.int32).min).all()


@pytest.mark.parametrize("out", [np.float32, "float64", np.dtype("int32"), "u2"])
def test_output_dtype(rng, out):
    a = rng.uniform(0, 100, (7, 6))
    got = jf.filter(a, "mean(w)", size=3, output=out)
    dt = np.dtype(out)
    assert got.dtype == dt
    exact = jf.filter(a, "mean(w)", size=3, output=np.float64)
    np.testing.assert_allclose(exact, ndi.uniform_filter(a, 3), rtol=1e-12)
    np.testing.assert_array_equal(got, exact.astype(dt) if dt.kind == "f" else np.rint(exact).astype(dt))


def test_output_array_is_written_and_returned(rng):
    a = rng.uniform(0, 100, (7, 6))
    out = np.full(a.shape, -1.0, dtype=np.float32)
    r = jf.filter(a, "max(w)", size=3, output=out)
    assert r is out
    np.testing.assert_array_equal(out, ndi.maximum_filter(a, 3).astype(np.float32))
    # a strided output view
    big = np.zeros((14, 12))
    view = big[::2, ::2]
    assert jf.filter(a, "max(w)", size=3, output=view) is view
    np.testing.assert_array_equal(big[::2, ::2], ndi.maximum_filter(a, 3))
    assert (big[1::2] == 0).all()
    # in place
    b = a.copy()
    jf.filter(b, "max(w)", size=3, output=b)
    np.testing.assert_array_equal(b, ndi.maximum_filter(a, 3))
    with pytest.raises(RuntimeError, match="output shape"):
        jf.filter(a, "max(w)", size=3, output=np.zeros((3, 3)))
    ro = np.zeros(a.shape)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        jf.filter(a, "max(w)", size=3, output=ro)


def test_output_arrays_the_engine_writes_itself(rng):
    # C-contiguous arrays of an engine dtype are written in place of a new result: the same
    # values as a new array, for tuples and named inputs too.
    a = rng.uniform(0, 100, (9, 8))
    g = rng.uniform(1, 2, (9, 8))
    k = jf.compile("(mean(g * w), max(w))", inputs=["g"])
    want = k.filter(a, size=3, inputs={"g": g}, output=np.float64)
    out = np.full(want.shape, np.nan)
    assert k.filter(a, size=3, inputs={"g": g}, output=out) is out
    np.testing.assert_array_equal(out, want)
    # An output that is a named input is read whole before it is written.
    k2 = jf.compile("mean(g * w)", inputs=["g"])
    g2 = g.copy()
    want = k2.filter(a, size=3, inputs={"g": g2}, output=np.float64)
    assert k2.filter(a, size=3, inputs={"g": g2}, output=g2) is g2
    np.testing.assert_array_equal(g2, want)
    # Byte-swapped, Fortran-ordered and misaligned outputs are converted into.
    odd = np.frombuffer(bytearray(8 * a.size + 1), np.float64, a.size, offset=1).reshape(a.shape)
    for out in (np.zeros(a.shape, dtype=">f8"), np.zeros(a.shape, order="F"), odd):
        assert jf.filter(a, "max(w)", size=3, output=out) is out
        np.testing.assert_array_equal(out, ndi.maximum_filter(a, 3))



def test_a_freed_result_is_reused_and_a_live_one_never(rng):
    # A result array's memory goes back to the core when numpy frees it, for the next result of
    # its size: never while the array, or a view of it, is alive.
    k = jf.compile("max(w)")
    a, b = rng.uniform(0, 1, (2, 523, 301))  # a shape no other test uses
    at = lambda r: r.__array_interface__["data"][0]  # noqa: E731
    first = k.filter(a, size=3)
    assert first.flags.writeable and first.flags.owndata is False
    view = first[100:200]
    address = at(first)
    del first
    second = k.filter(b, size=3)
    assert at(second) != address, "handed out while a view of it lives"
    np.testing.assert_array_equal(view, ndi.maximum_filter(a, 3)[100:200])
    np.testing.assert_array_equal(second, ndi.maximum_filter(b, 3))
    del view
    third = k.filter(b, size=5, output=np.float32)
    assert at(third) != address, "a float32 result is not made in float64's buffer"
    fourth = k.filter(a, size=5)
    assert at(fourth) == address, "the freed buffer is reused"
    np.testing.assert_array_equal(fourth, ndi.maximum_filter(a, 5))
    np.testing.assert_array_equal(third, ndi.maximum_filter(b, 5).astype(np.float32))

@pytest.mark.parametrize("dtype", ["bool", "int8", "uint32", "int64", "uint64", "float16", "longdouble"])
def test_other_input_dtypes_are_converted(rng, dtype):
    a = rng.integers(0, 100, (8, 9)).astype(dtype)
    got = jf.filter(a, "max(w) - min(w) / 2", size=3)
    assert got.dtype == np.dtype(dtype)
    exact = jf.filter(a.astype(np.float64), "max(w) - min(w) / 2", size=3)
    if np.dtype(dtype).kind == "f":
        np.testing.assert_array_equal(got, exact.astype(dtype))
    elif np.dtype(dtype).kind == "b":
        np.testing.assert_array_equal(got, np.clip(np.rint(exact), 0, 1).astype(bool))
    else:
        np.testing.assert_array_equal(got, np.rint(exact).astype(dtype))


def test_64_bit_integer_outputs_saturate():
    a = np.zeros((3, 3))
    assert (jf.filter(a, "1e300", size=1, output=np.int64) == np.iinfo(np.int64).max).all()
    assert (jf.filter(a, "-1e300", size=1, output=np.int64) == np.iinfo(np.int64).min).all()
    assert (jf.filter(a, "1e300", size=1, output=np.uint64) == np.iinfo(np.uint64).max).all()
    assert (jf.filter(a, "-5", size=1, output=np.uint32) == 0).all()
    assert (jf.filter(a, "2.5", size=1, output=np.int64) == 2).all()


def test_non_native_byte_order(rng):
    a = rng.uniform(0, 1, (6, 7))
    big_endian = a.astype(">f8")
    np.testing.assert_array_equal(jf.filter(big_endian, "max(w)", size=3), jf.filter(a, "max(w)", size=3))


def test_any_strides(rng):
    base = rng.uniform(0, 100, (20, 30))
    k = jf.compile("let m = mean(w); (c - m) / (std(w) + 1e-9) + x")
    fp = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], bool)
    for view in (base[::2, ::3], base[::-1], base[:, ::-2], base.T, np.asfortranarray(base), base[3:17, 5:25]):
        want = k.filter(np.ascontiguousarray(view), footprint=fp, mode="mirror")
        np.testing.assert_array_equal(k.filter(view, footprint=fp, mode="mirror"), want)
    # the input is never modified
    copy = base.copy()
    k.filter(base, size=3)
    np.testing.assert_array_equal(base, copy)


def test_lists_and_scalars_as_input():
    np.testing.assert_array_equal(jf.filter([1, 5, 2, 8], "max(w)", size=3), [5, 5, 8, 8])


def test_size_and_footprint_conventions(rng):
    a = rng.uniform(0, 100, (9, 10))
    np.testing.assert_array_equal(jf.filter(a, "max(w)", size=(3, 1)), ndi.maximum_filter(a, size=(3, 1)))
    with pytest.warns(UserWarning, match="ignoring size"):
        got = jf.filter(a, "max(w)", size=5, footprint=np.ones((3, 3), bool))
    np.testing.assert_array_equal(got, ndi.maximum_filter(a, 3))
    with pytest.raises(RuntimeError, match="no footprint or filter size"):
        jf.filter(a, "max(w)")
    with pytest.raises(RuntimeError, match="length equal to input rank"):
        jf.filter(a, "max(w)", size=(3, 3, 3))
    with pytest.raises(RuntimeError, match="length equal to input rank"):
        jf.filter(a, "max(w)", size=3, origin=(0, 0, 0))
    # A footprint with fewer axes applies along the last ones (jitfilter's extension).
    np.testing.assert_array_equal(jf.filter(a, "max(w)", footprint=np.ones(3, bool)),
                                  ndi.maximum_filter(a, size=(1, 3)))
    with pytest.raises(RuntimeError, match="footprint"):
        jf.filter(a[0], "max(w)", footprint=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="no cells"):
        jf.filter(a, "max(w)", footprint=np.zeros((3, 3), bool))


def test_params(rng):
    a = rng.uniform(0, 10, (8, 8))
    k = jf.compile("param t = 5; count(w > t)")
    np.testing.assert_array_equal(k.filter(a, size=3), ndi.generic_filter(a, lambda v: np.sum(v > 5), size=3))
    np.testing.assert_array_equal(k.filter(a, size=3, params={"t": 2}), ndi.generic_filter(a, lambda v: np.sum(v > 2), size=3))
    np.testing.assert_array_equal(k.with_params(t=2).filter(a, size=3), k.filter(a, size=3, params={"t": 2}))
    with pytest.raises(ValueError, match=r"unknown param `s` \(the kernel declares: t\)"):
        k.filter(a, size=3, params={"s": 1})
    with pytest.raises(ValueError, match="declares no params"):
        jf.compile("max(w)").filter(a, size=3, params={"s": 1})


def test_param_ranges(rng):
    a = rng.uniform(0, 10, (8, 8))
    k = jf.compile("param t = 5 in 0 .. 8; count(w > t)")
    assert k.param_ranges == {"t": (0.0, 8.0)} and k.params == {"t": 5.0}
    np.testing.assert_array_equal(k.filter(a, size=3, params={"t": 8}), ndi.generic_filter(a, lambda v: np.sum(v > 8), size=3))
    for bad in (-1, 8.5, float("nan")):
        with pytest.raises(ValueError, match=r"param `t` = .* is outside its declared range 0 \.\. 8"):
            k.filter(a, size=3, params={"t": bad})
        with pytest.raises(ValueError, match="outside its declared range"):
            jf.compile("param t = 5 in 0 .. 8; count(w > t)", params={"t": bad})
    # The Dask path refuses it too, before any chunk runs.
    da = pytest.importorskip("dask.array")
    import jitfilter.dask as jfd

    with pytest.raises(ValueError, match="outside its declared range"):
        jfd.filter(da.from_array(a, chunks=4), k, size=3, params={"t": 9}).compute()
    # A range the checker refuses points at it.
    with pytest.raises(jf.KernelError, match="outside its range"):
        jf.compile("param t = 9 in 0 .. 8; c * t")
    assert jf.compile("param t = 1; c * t").param_ranges == {}


def test_empty_arrays():
    got = jf.filter(np.zeros((0, 5), np.uint8), "max(w)", size=3)
    assert got.shape == (0, 5) and got.dtype == np.uint8


def test_threads_and_engine_give_the_same(rng):
    a = rng.uniform(0, 100, (64, 48))
    k = jf.compile("median(w) + std(w)")
    for engine in ("fused", "callback"):
        want = k.filter(a, size=5, engine=engine)
        for threads in (1, 2, 3):
            np.testing.assert_array_equal(k.filter(a, size=5, threads=threads, engine=engine), want)
    want = k.filter(a, size=5)
    for engine in ("fused", "callback", "interpreter"):
        np.testing.assert_allclose(k.filter(a, size=5, engine=engine), want, rtol=1e-12)
    for threads in (1, 2, 3):
        np.testing.assert_allclose(k.filter(a, size=5, threads=threads), want, rtol=1e-13)
    with pytest.raises(ValueError, match="engine"):
        k.filter(a, size=5, engine="gpu")


def test_default_engine_is_independent_of_the_thread_count(rng):
    # Stripes have a fixed height of 64 rows: 200 rows make four, shared out differently.
    a = rng.uniform(0, 100, (200, 48))
    k = jf.compile("mean(w) + std(w)")
    want = k.filter(a, size=5, threads=2)
    for threads in (1, 3):
        assert k.filter(a, size=5, threads=threads).tobytes() == want.tobytes()


def test_pickle_is_source_and_params():
    k = jf.compile("param t = 1; count(w > t)", params={"t": 4})
    data = pickle.dumps(k)
    assert b"count(w > t)" in data
    k2 = pickle.loads(data)
    assert k2 == k and hash(k2) == hash(k) and k2.params == {"t": 4.0}
    a = np.arange(30.0).reshape(5, 6)
    np.testing.assert_array_equal(k2.filter(a, size=3), k.filter(a, size=3))


def test_kernel_is_usable_from_many_threads(rng):
    a = rng.uniform(0, 100, (40, 40))
    k = jf.compile("percentile(w, 30)")
    want = k.filter(a, size=5)
    results = []

    def work():
        results.append(k.filter(a, size=5, threads=1))

    ts = [threading.Thread(target=work) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(results) == 6
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_gil_is_released_while_filtering(rng):
    """A Python thread keeps running while another filters a large array."""
    a = rng.uniform(0, 100, (1500, 1500))
    k = jf.compile("median(w)")
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.02)
    start = time.perf_counter()
    # A window past the small medians' networks: a histogram, some tenths of a second.
    k.filter(a, size=11, threads=1)
    end = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if start < x < end]
    # With the GIL held the ticker could not run at all during the call.
    assert end - start > 0.05
    assert len(during) >= 0.3 * (end - start) / 0.002, (len(during), end - start)


def test_module_filter_accepts_a_kernel(rng):
    a = rng.uniform(0, 100, (6, 6))
    k = jf.compile("min(w)")
    np.testing.assert_array_equal(jf.filter(a, k, size=3), ndi.minimum_filter(a, 3))


def test_stubs_and_marker_are_installed():
    import importlib.resources as resources

    files = {p.name for p in resources.files("jitfilter").iterdir()}
    assert {"py.typed", "_jitfilter.pyi", "__init__.py", "dask.py"} <= files


def test_no_warnings_on_the_happy_path(rng):
    a = rng.uniform(0, 100, (6, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jf.filter(a, "max(w)", size=3)
        jf.compile("max(w)").low_level_callable(size=3)


def test_cranelift_ir_never_crashes():
    # Kernels with params hit a panic in the core's IR dump (reported); the binding turns it
    # into a RuntimeError rather than aborting or raising pyo3's PanicException.
    try:
        text = jf.compile("param t = 1; count(w > t)").cranelift_ir()
        assert "function" in text
    except RuntimeError as e:
        assert "panicked" in str(e)
