"""The kernel as a scipy.LowLevelCallable inside scipy's own generic_filter."""

import ctypes
import gc
import pickle

import numpy as np
import pytest
import scipy
from scipy import LowLevelCallable
from scipy import ndimage as ndi

import jitfilter as jf
from conftest import MODES

def cb(k, *args, **kwargs):
    """k.filter with the engine that runs the scipy callback in our own loop: bit-identical to
    scipy's generic_filter driving the same callback."""
    return k.filter(*args, engine="callback", **kwargs)


def jfcb(*args, **kwargs):
    return jf.filter(*args, engine="callback", **kwargs)


KERNELS = [
    "max(w)",
    "sqrt(var(w))",
    "median(w)",
    "percentile(w, 75) - c",
    "let m = mean(w); (c - m) / (std(w) + 1e-3)",
    "param t = 3; count(w > c + t)",
    "sum(k * w) / sum(k)",
    "sum(dx * w) - 2 * sum(dy * w)",
    "nanmax(w) + argmin(w)",
]


def image(rng, shape=(14, 17)):
    return rng.uniform(-20, 80, shape)


def test_is_a_real_low_level_callable(rng):
    k = jf.compile("max(w)")
    llc = k.low_level_callable(size=3)
    assert isinstance(llc, LowLevelCallable)
    assert isinstance(llc, jf.KernelCallable)
    assert llc.signature == "int (double *, npy_intp, double *, void *)"
    assert llc.function_address == k.callback_address
    assert llc.user_data_address != 0
    assert "max(w)" in repr(llc)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("expr", KERNELS)
def test_generic_filter_with_llc_equals_filter(rng, mode, expr):
    a = image(rng)
    fp = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 1]], bool)
    k = jf.compile(expr)
    for origin in (0, (1, -1)):
        llc = k.low_level_callable(footprint=fp, shape=a.shape, origin=origin)
        got = ndi.generic_filter(a, llc, footprint=fp, mode=mode, cval=1.5, origin=origin)
        # bit for bit with our window loop calling the same callback,
        same = k.filter(a, footprint=fp, mode=mode, cval=1.5, origin=origin, engine="callback")
        np.testing.assert_array_equal(got, same)
        # and to rounding with the default (planned) engine.
        fast = k.filter(a, footprint=fp, mode=mode, cval=1.5, origin=origin)
        np.testing.assert_allclose(got, fast, rtol=1e-11, atol=1e-11)


def test_weighted_footprint_under_scipy(rng):
    # scipy uses a numeric footprint as a mask; the callback carries the weights as `k`.
    a = image(rng)
    weights = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    k = jf.compile("sum(k * w) / sum(k)")
    llc = k.low_level_callable(footprint=weights, shape=a.shape)
    got = ndi.generic_filter(a, llc, footprint=weights)
    np.testing.assert_allclose(got, ndi.correlate(a, weights / weights.sum()), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got, cb(k, a, footprint=weights))


@pytest.mark.parametrize("mode", MODES)
def test_position_dependent_kernel_under_scipy(rng, mode):
    expr = "param s = 2; x + 100 * y + s * c + sum(k * dx) - sum(dy * w) + width * height"
    k = jf.compile(expr)
    a = image(rng, (13, 17))
    fp = np.array([[1, 0, 1, 1], [1, 0, 1, 1], [0, 1, 1, 0]], bool)  # has the centre (1, 2)
    llc = k.low_level_callable(footprint=fp, shape=a.shape, params={"s": 3})
    want = cb(k, a, footprint=fp, mode=mode, params={"s": 3})
    got = ndi.generic_filter(a, llc, footprint=fp, mode=mode)
    np.testing.assert_array_equal(got, want)
    # The position counter wraps after a whole array: the same callable works again.
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, footprint=fp, mode=mode), want)


def test_positions_in_1d_and_3d(rng):
    a1 = rng.uniform(0, 1, 23)
    k1 = jf.compile("x * 1000 + width + sum(dx * w)")
    llc = k1.low_level_callable(size=4, shape=a1.shape, origin=-1)
    np.testing.assert_array_equal(ndi.generic_filter(a1, llc, size=4, origin=-1), cb(k1, a1, size=4, origin=-1))
    a3 = rng.uniform(0, 1, (4, 5, 6))
    k3 = jf.compile("x + 10 * y + 100 * z + depth * 1000 + sum(dz * w) + c")
    fp = np.ones((3, 2, 3), bool)
    llc3 = k3.low_level_callable(footprint=fp, shape=a3.shape, origin=(0, -1, 1))
    got = ndi.generic_filter(a3, llc3, footprint=fp, origin=(0, -1, 1), mode="wrap")
    np.testing.assert_array_equal(got, cb(k3, a3, footprint=fp, origin=(0, -1, 1), mode="wrap"))


def test_any_axis_by_number_under_scipy(rng):
    """pos(j) and d(j) on a 5-D array: scipy's loop, tracked by the callback, and k.filter."""
    a = rng.uniform(0, 1, (3, 2, 4, 3, 5))
    k = jf.compile("pos(0) * 1e4 + pos(1) * 1e3 + pos(2) * 100 + pos(-2) * 10 + pos(-1)"
                   " + sum(w * (d(0) + 2 * d(1) + 3 * d(-1)))")
    fp = np.random.default_rng(2).random((2, 3, 1, 2, 3)) > 0.4
    fp.flat[0] = True
    llc = k.low_level_callable(footprint=fp, shape=a.shape, origin=(0, 1, 0, 0, -1))
    got = ndi.generic_filter(a, llc, footprint=fp, origin=(0, 1, 0, 0, -1), mode="mirror")
    np.testing.assert_array_equal(
        got, cb(k, a, footprint=fp, origin=(0, 1, 0, 0, -1), mode="mirror"))

    def by_hand(v):
        cells = np.argwhere(fp) - np.array(fp.shape) // 2 - np.array((0, 1, 0, 0, -1))
        return np.sum(v * (cells[:, 0] + 2 * cells[:, 1] + 3 * cells[:, 4]))

    want = ndi.generic_filter(a, by_hand, footprint=fp, origin=(0, 1, 0, 0, -1), mode="mirror")
    want += sum(np.indices(a.shape)[j] * f for j, f in enumerate((1e4, 1e3, 100, 10, 1)))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(k.filter(a, footprint=fp, origin=(0, 1, 0, 0, -1), mode="mirror"),
                               want, rtol=1e-13, atol=1e-12)


def test_integer_input_scipy_truncates_we_round(rng):
    a = rng.integers(0, 255, (10, 12)).astype(np.uint8)
    k = jf.compile("mean(w)")
    llc = k.low_level_callable(size=3, shape=a.shape)
    exact = cb(k, a, size=3, output=np.float64)
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3, output=np.float64), exact)
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3), np.trunc(exact).astype(np.uint8))
    np.testing.assert_array_equal(cb(k, a, size=3), np.rint(exact).astype(np.uint8))


def test_params_are_per_callable(rng):
    a = image(rng)
    k = jf.compile("param t = 0; count(w > t)")
    for t in (-10.0, 0.0, 25.0):
        llc = k.low_level_callable(size=3, params={"t": t})
        np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3), cb(k, a, size=3, params={"t": t}))
    bound = jf.compile("param t = 0; count(w > t)", params={"t": 25})
    llc = bound.low_level_callable(size=3)
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3), cb(k, a, size=3, params={"t": 25}))


def test_plain_kernels_need_no_footprint(rng):
    a = image(rng)
    k = jf.compile("max(w) - min(w)")
    llc = k.low_level_callable()
    for size in (2, 3, (1, 5)):
        np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=size), cb(k, a, size=size))


def test_what_is_needed_is_asked_for():
    with pytest.raises(ValueError, match="shape="):
        jf.compile("x + max(w)").low_level_callable(size=3)
    with pytest.raises(ValueError, match="footprint="):
        jf.compile("c - mean(w)").low_level_callable()
    with pytest.raises(ValueError, match="footprint="):
        jf.compile("sum(k * w)").low_level_callable(shape=(4, 4))
    with pytest.raises(ValueError, match="size= alone"):
        jf.compile("sum(dx * w)").low_level_callable(size=3)
    # and the engine's own checks: dz on a 2-D array
    with pytest.raises(jf.KernelError, match="dz"):
        jf.compile("sum(dz * w)").low_level_callable(size=3, shape=(4, 4))


def test_different_filter_size_does_not_crash(rng):
    """scipy passes a window size other than the one the callable was built for: kernels that
    use the footprint's tables return 0 and scipy raises; nothing crashes."""
    a = image(rng)
    for expr in ("sum(k * w)", "c - mean(w)", "sum(dx * w)", "sum(dy * w) + x"):
        llc = jf.compile(expr).low_level_callable(size=(3, 3), shape=a.shape)
        with pytest.raises(RuntimeError):
            ndi.generic_filter(a, llc, size=5)
        with pytest.raises(RuntimeError):
            ndi.generic_filter(a, llc, footprint=np.ones((2, 2), bool))
    # Kernels of `w` alone are correct for any window size.
    k = jf.compile("max(w)")
    llc = k.low_level_callable(size=(3, 3), shape=a.shape)
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=5), cb(k, a, size=5))


def test_centre_missing_from_footprint_is_refused_by_scipy(rng):
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    llc = jf.compile("c - mean(w)").low_level_callable(footprint=ring, shape=(5, 5))
    with pytest.raises(RuntimeError):
        ndi.generic_filter(image(rng, (5, 5)), llc, footprint=ring)


def test_reset_after_an_interrupted_call(rng):
    a = image(rng, (6, 6))
    k = jf.compile("x + 10 * y + max(w)")
    llc = k.low_level_callable(size=3, shape=a.shape)
    want = cb(k, a, size=3)
    # Interrupt a call half-way: scipy drives the callback on a smaller array.
    ndi.generic_filter(image(rng, (3, 5)), llc, size=3)
    assert not np.array_equal(ndi.generic_filter(a, llc, size=3), want)
    llc.reset()
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3), want)


def test_callable_keeps_kernel_and_context_alive(rng):
    a = image(rng)
    llc = jf.compile("let m = mean(w); (c - m) / (std(w) + 1e-9)").low_level_callable(size=3, shape=a.shape)
    want = jfcb(a, "let m = mean(w); (c - m) / (std(w) + 1e-9)", size=3)
    gc.collect()
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3), want)
    # The capsules alone keep everything alive too.
    function, user_data = llc.function, llc.user_data
    del llc
    gc.collect()
    again = LowLevelCallable(function, user_data)
    np.testing.assert_array_equal(ndi.generic_filter(a, again, size=3), want)


def test_callable_pickles(rng):
    a = image(rng)
    fp = np.array([[1, 1, 0], [0, 1, 1]], bool)
    k = jf.compile("param s = 1; s * sum(dx * w) + c + x", params={"s": 2})
    llc = k.low_level_callable(footprint=fp, shape=a.shape, origin=(0, 1))
    llc2 = pickle.loads(pickle.dumps(llc))
    assert isinstance(llc2, jf.KernelCallable)
    assert llc2.user_data_address != llc.user_data_address
    want = ndi.generic_filter(a, llc, footprint=fp, origin=(0, 1))
    np.testing.assert_array_equal(ndi.generic_filter(a, llc2, footprint=fp, origin=(0, 1)), want)


def test_raw_callback_address_with_ctypes(rng):
    """The bare function pointer, as a user would wrap it by hand (params take defaults)."""
    a = image(rng)
    k = jf.compile("param t = 10; count(w > t)")
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.c_ssize_t,
                             ctypes.POINTER(ctypes.c_double), ctypes.c_void_p)
    fn = proto(k.callback_address)
    llc = LowLevelCallable(fn, signature="int (double *, npy_intp, double *, void *)")
    np.testing.assert_array_equal(ndi.generic_filter(a, llc, size=3), cb(k, a, size=3))
    # Kernels that need the context refuse to run without one: scipy raises.
    kc = jf.compile("c")
    llc_c = LowLevelCallable(proto(kc.callback_address), signature="int (double *, npy_intp, double *, void *)")
    with pytest.raises(RuntimeError):
        ndi.generic_filter(a, llc_c, size=3)


def test_scipy_version_is_recent_enough():
    major, minor = (int(p) for p in scipy.__version__.split(".")[:2])
    assert (major, minor) >= (1, 8)
