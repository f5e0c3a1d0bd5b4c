"""jitfilter.ndimage beyond what scipy's own tests (tests/scipy_suite) check: jitfilter programs
in generic_filter, arrays of more than three axes (footprints spanning them too), C casts into
integer outputs, and the NotImplementedError for what the engine does not cover."""

import numpy as np
import pytest
from scipy import ndimage as sn

import jitfilter as jf
import jitfilter.ndimage as jn
from conftest import MODES


@pytest.fixture(scope="module")
def img():
    return np.random.default_rng(5).uniform(-20, 120, (31, 37))


@pytest.mark.parametrize("mode", MODES)
def test_generic_filter_runs_programs_with_params(img, mode):
    fp = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], bool)
    want = sn.generic_filter(img, lambda v: np.sum(v > 40.0), footprint=fp, mode=mode, cval=2.5)
    got = jn.generic_filter(img, "param t = 0; count(w > t)", footprint=fp, mode=mode, cval=2.5,
                            extra_keywords={"t": 40.0})
    np.testing.assert_array_equal(got, want)
    k = jf.compile("param t = 0; max(w) - kth(w, 1) + t")
    want = sn.generic_filter(img, lambda v: np.max(v) - np.sort(v)[1] + 1.5, size=(3, 4), mode=mode)
    got = jn.generic_filter(img, k, size=(3, 4), mode=mode, extra_keywords={"t": 1.5})
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-12)


def test_generic_filter_python_callables_run_scipys_loop(img):
    got = jn.generic_filter(img, np.ptp, size=3, mode="wrap")
    np.testing.assert_array_equal(got, sn.generic_filter(img, np.ptp, size=3, mode="wrap"))
    with pytest.raises(TypeError, match="extra_keywords"):
        jn.generic_filter(img, "max(w)", size=3, extra_arguments=(1,))


@pytest.mark.parametrize("axes", [(1, 3), (0, 2, 4), (4,), None])
def test_many_axes_fold_into_batches(axes):
    """Five axes: the axes the footprint does not span merge where they neighbour."""
    rng = np.random.default_rng(9)
    a = rng.integers(0, 200, (3, 4, 5, 4, 6)).astype(np.uint8)
    if axes is None:
        # A footprint over all five axes, one cell thick on two of them.
        fp = np.ones((1, 3, 1, 2, 3), bool)
        for name in ("median_filter", "minimum_filter", "maximum_filter"):
            got = getattr(jn, name)(a, footprint=fp, mode="mirror")
            np.testing.assert_array_equal(got, getattr(sn, name)(a, footprint=fp, mode="mirror"))
        return
    size = 3
    modes = ["wrap", "nearest", "reflect"][: len(axes)]
    for name in ("median_filter", "minimum_filter", "uniform_filter", "maximum_filter"):
        kw = dict(size=size, axes=axes)
        if name != "median_filter":
            kw["mode"] = modes  # per-axis modes (scipy runs these axis by axis)
        got = getattr(jn, name)(a, **kw)
        want = getattr(sn, name)(a, **kw)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=name)
    got = jn.gaussian_filter(a.astype(np.float64), 1.5, axes=axes, mode=modes)
    want = sn.gaussian_filter(a.astype(np.float64), 1.5, axes=axes, mode=modes)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)


def test_integer_outputs_are_c_casts(img):
    """scipy's C code truncates into integer outputs; so does jitfilter.ndimage (jf.filter rounds)."""
    for output in (np.int16, np.uint8, np.int32):
        want = sn.uniform_filter(img, 5, output=output)
        got = jn.uniform_filter(img, 5, output=output)
        np.testing.assert_array_equal(got, want)
    weights = np.array([[0.5, -1.25, 2.0], [1.0, 0.0, -0.75]])
    np.testing.assert_array_equal(jn.correlate(img, weights, output=np.int32),
                                  sn.correlate(img, weights, output=np.int32))
    # The same program through jf.filter rounds half to even and saturates instead.
    rounded = jf.filter(img, "mean(w)", size=5, output=np.int16)
    assert not np.array_equal(rounded, jn.uniform_filter(img, 5, output=np.int16))


def test_correlate_sums_in_scipys_order_on_every_path():
    """Weights that cannot factor run in the planner (registers across the window), the others
    in the fused row: both add in scipy's order, so float results are scipy's bits and integer
    outputs truncate alike. Random weights on disks, a ring, boxes with and without holes, a
    separable box; integer and float data with NaN and infinities."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[-6:7, -6:7]
    r2 = x * x + y * y
    masks = [r2 <= 36, r2 <= 4, (r2 <= 36) & (r2 >= 9), np.ones((5, 4), bool),
             np.ones((3, 3), bool) & ~np.eye(3, dtype=bool)]
    f = rng.uniform(-50, 50, (37, 70))
    f[3, 5], f[20, 40], f[30, 2] = np.nan, np.inf, -np.inf
    u8 = rng.integers(0, 256, (41, 67), dtype=np.uint8)
    for mask in masks:
        w = np.where(mask, rng.uniform(-1, 1, mask.shape), 0.0)
        for mode in ("reflect", "wrap", "constant"):
            np.testing.assert_array_equal(jn.correlate(f, w, mode=mode),
                                          sn.correlate(f, w, mode=mode), err_msg=f"{mask.shape} {mode}")
            for out in (np.uint8, np.int32, np.float64):
                np.testing.assert_array_equal(jn.correlate(u8, w, mode=mode, output=out),
                                              sn.correlate(u8, w, mode=mode, output=out),
                                              err_msg=f"{mask.shape} {mode} {out}")
    # Rank-1 weights on a full box (two 1-D passes in the planner) go to the fused row.
    # (Finite data: a block holding NaN or infinities is summed in window order anyway.)
    w = np.outer(rng.uniform(0.1, 1, 5), rng.uniform(0.1, 1, 7))
    g = rng.uniform(-50, 50, (37, 70))
    np.testing.assert_array_equal(jn.correlate(g, w), sn.correlate(g, w))


def test_separable_filters_of_integer_types_truncate_as_scipy():
    """uniform_filter, gaussian_filter and correlate1d with non-negative weights adding to at
    most 1 make integer outputs of the input's own type in that type (truncated in the program,
    no float64 result): scipy's bits for every engine integer type, values at the types' limits,
    odd and even sizes, in-place outputs (scipy's second axis reads what the first wrote)."""
    rng = np.random.default_rng(11)
    arrays = [rng.integers(0, 256, (40, 53), dtype=np.uint8),
              rng.integers(0, 65536, (33, 47), dtype=np.uint16),
              rng.integers(-32768, 32768, (37, 29), dtype=np.int16),
              rng.integers(-2**31, 2**31, (31, 36), dtype=np.int32),
              np.full((20, 30), 255, np.uint8)]
    calls = [lambda m, a, **kw: m.uniform_filter(a, 23, **kw),
             lambda m, a, **kw: m.uniform_filter(a, (4, 7), mode="wrap", **kw),
             lambda m, a, **kw: m.gaussian_filter(a, 2.75, **kw),
             lambda m, a, **kw: m.gaussian_filter(a, 0.5, mode="constant", cval=7, **kw),
             lambda m, a, **kw: m.correlate1d(a, [0.25, 0.25, 0.5], axis=0, **kw),
             lambda m, a, **kw: m.correlate1d(a, [-0.5, 1.25, 0.25], **kw),
             # A cval beyond the type: results beyond it too, cast as C casts them.
             lambda m, a, **kw: m.uniform_filter(a, 5, mode="constant", cval=70000, **kw),
             lambda m, a, **kw: m.gaussian_filter(a, 1.0, mode="constant", cval=-5, **kw)]
    for a in arrays:
        for i, call in enumerate(calls):
            want = call(sn, a)
            np.testing.assert_array_equal(call(jn, a), want, err_msg=f"{a.dtype} {i}")
            inplace = a.copy()
            call(jn, inplace, output=inplace)
            np.testing.assert_array_equal(inplace, want, err_msg=f"in place {a.dtype} {i}")


def test_scipys_casts_and_cells_in_corner_cases():
    """What a review found where jitfilter.ndimage and scipy parted (all before these fixes):
    bool outputs (scipy's C cast to an unsigned char: 0.5 is False), NaN weights (scipy keeps
    cells whose |weight| exceeds DBL_EPSILON, which NaN does not), -0 (scipy's sums start from
    +0), and uniform filters of 64-bit integers whose sums pass 2**53 (refused then; now
    scipy's running sum itself, rounding as scipy's does)."""
    b = np.array([True, False, False, False, True, True, False])
    for call in (lambda m: m.uniform_filter1d(b, 3), lambda m: m.gaussian_filter(b, 1.0),
                 lambda m: m.correlate1d(b, [0.2, 0.9, 0.2]), lambda m: m.correlate(b, [0.5, 0.7])):
        np.testing.assert_array_equal(call(jn), call(sn))
    a = np.random.default_rng(4).uniform(-1, 1, (9, 11))
    w = np.array([[1.0, np.nan], [1.0, 1.0]])
    np.testing.assert_array_equal(jn.correlate(a, w), sn.correlate(a, w))
    z = np.zeros((4, 5))
    assert not np.signbit(jn.correlate(z, [[-1.0]])).any()
    assert not np.signbit(jn.correlate(-z, [[1.0, 2.0], [0.0, 3.0]])).any()
    past = np.array([2**52, 2**52 + 2, 4], np.int64)
    np.testing.assert_array_equal(jn.uniform_filter1d(past, 3), sn.uniform_filter1d(past, 3))
    big = np.array([2**40, 3, 4, 2**41], np.int64)
    np.testing.assert_array_equal(jn.uniform_filter(big, 3), sn.uniform_filter(big, 3))


def test_correlate_weights_of_any_pattern_and_rank():
    """Nonzero weights on a grid with gaps (every row × column: the planner may split them) and
    off it, 3-D weights, and threads filtering in place at once: scipy's bits."""
    rng = np.random.default_rng(5)
    f = rng.uniform(-9, 9, (30, 41))
    grid = np.zeros((5, 5))
    grid[np.ix_([0, 2, 4], [1, 3])] = rng.uniform(0.1, 1, (3, 2))
    outer = np.zeros((5, 5))
    outer[np.ix_([0, 2, 4], [1, 3])] = np.outer([1.0, 2.0, 0.5], [0.3, 0.7])
    for w in (grid, outer, np.where(rng.random((4, 6)) > 0.4, rng.uniform(-1, 1, (4, 6)), 0.0)):
        np.testing.assert_array_equal(jn.correlate(f, w), sn.correlate(f, w))
    v = rng.uniform(-9, 9, (9, 10, 11))
    w3 = np.where(rng.random((3, 3, 3)) > 0.3, rng.uniform(-1, 1, (3, 3, 3)), 0.0)
    np.testing.assert_array_equal(jn.correlate(v, w3, mode="wrap"), sn.correlate(v, w3, mode="wrap"))
    import concurrent.futures

    arrays = [rng.uniform(0, 255, (40 + i, 50)) for i in range(8)]
    want = [sn.uniform_filter(x, 5) for x in arrays]

    def inplace(x):
        x = x.copy()
        jn.uniform_filter(x, 5, output=x)
        return x

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for got, w in zip(pool.map(inplace, arrays), want):
            np.testing.assert_allclose(got, w, rtol=1e-12)


def test_output_sharing_the_inputs_memory():
    """An output array that is the input (or overlaps it, or a named input) is written in place
    from copies of the inputs: the same values as into a separate array."""
    rng = np.random.default_rng(12)
    a = rng.uniform(-5, 5, (45, 61))
    k = jf.compile("max(w) - mean(g) + c", inputs=("g",))
    g = rng.uniform(0, 1, a.shape)
    want = k.filter(a, size=5, inputs={"g": g})
    x = a.copy()
    assert k.filter(x, size=5, inputs={"g": g}, output=x) is x
    np.testing.assert_array_equal(x, want)
    gg = g.copy()
    k.filter(a, size=5, inputs={"g": gg}, output=gg)
    np.testing.assert_array_equal(gg, want)
    # A view shifted by a row: the output overlaps the input's other rows.
    big = np.vstack([a, a[:1]])
    k.filter(big[1:], size=5, inputs={"g": g}, output=big[:-1])
    np.testing.assert_array_equal(big[:-1], k.filter(np.vstack([a, a[:1]])[1:], size=5, inputs={"g": g}))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_uniform_filters_are_scipys_running_sums_bit_for_bit(dtype):
    """uniform_filter1d on floats, 64-bit integers and with a cval that is not a whole number
    runs scipy's running sum itself (jitfilter.lines): equal to scipy's bits in every mode,
    origin, axis and size (longer than the line too), with NaN and infinities (the rest of the
    line NaN, as scipy's), past 2**53, from strided input, into strided output or in place."""
    rng = np.random.default_rng(11)
    if dtype == np.int64:
        a = rng.integers(-(2**60), 2**60, (6, 9, 40))
    elif dtype == np.uint8:
        a = rng.integers(0, 256, (6, 9, 40)).astype(dtype)
    else:
        a = (rng.standard_normal((6, 9, 40)) * 1e3).astype(dtype)
        a[2, 3, 7] = np.nan
        a[4, 1, 30] = np.inf
    cval = 1.5 if dtype == np.uint8 else -2.25
    modes = ["reflect", "mirror", "nearest", "wrap", "constant", "grid-wrap", "grid-constant"]
    for axis in range(3):
        for mode in modes:
            for size in (1, 2, 5, 12, 50):
                for origin in {-(size // 2), 0, (size - 1) - size // 2}:
                    kw = dict(axis=axis, mode=mode, cval=cval, origin=origin)
                    want = sn.uniform_filter1d(a, size, **kw)
                    got = jn.uniform_filter1d(a, size, **kw)
                    assert got.dtype == want.dtype
                    assert got.tobytes() == want.tobytes(), (axis, mode, size, origin)
    t = a.transpose(2, 0, 1)
    for output in (None, np.float32, np.int32):
        want = sn.uniform_filter(t, (3, 1, 7), mode=["wrap", "reflect", "constant"], output=output)
        got = jn.uniform_filter(t, (3, 1, 7), mode=["wrap", "reflect", "constant"], output=output)
        assert got.tobytes() == want.tobytes()
    out = np.zeros((9, 80), dtype)[:, ::2]
    want = sn.uniform_filter1d(a[1], 4, output=np.zeros((9, 40), dtype))
    jn.uniform_filter1d(a[1], 4, output=out)
    assert out.tobytes() == want.tobytes()
    inplace = a.copy()
    jn.uniform_filter(inplace, 5, output=inplace)
    assert inplace.tobytes() == sn.uniform_filter(a, 5).tobytes()
    # A NaN sum (∞ − ∞ makes -NaN) meeting a data NaN keeps its own sign, as scipy's `tmp +=`.
    if dtype in (np.float64, np.float32):
        nan = np.repeat(np.array([[np.inf], [0.0], [0.0], [np.nan]], dtype), 40, 1)
        for axis, x in ((0, nan), (1, nan.T.copy())):
            want = sn.uniform_filter1d(x, 2, axis=axis, mode="nearest")
            assert jn.uniform_filter1d(x, 2, axis=axis, mode="nearest").tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8, np.int16])
def test_correlate1d_is_scipys_weighted_sum_bit_for_bit(dtype):
    """correlate1d (under gaussian_filter, sobel, prewitt…) runs scipy's own sums
    (jitfilter.lines): equal to scipy's bits for symmetric, antisymmetric (to within
    DBL_EPSILON, as scipy tests it), uneven and even weights, in every mode, origin and axis,
    with NaN and infinities, into the input's type and others, strided, in place."""
    rng = np.random.default_rng(12)
    if dtype == np.int64:
        a = rng.integers(-(2**60), 2**60, (6, 9, 40))
    elif dtype in (np.uint8, np.int16):
        a = rng.integers(0, 256, (6, 9, 40)).astype(dtype)
    else:
        a = (rng.standard_normal((6, 9, 40)) * 1e3).astype(dtype)
        a[2, 3, 7] = np.nan
        a[4, 1, 30] = np.inf
    gauss = np.exp(-np.arange(-6, 7) ** 2 / 8.0)
    weights = [gauss / gauss.sum(), [-1.0, 0.0, 1.0], [1.0, 2.0 + 1e-17, 1.0],
               [0.3, -1.7, 2.9, 0.1], [1.0, 2.0, -3.5, 0.125, 7.0], [0.25, 0.5, np.nan], [2.5]]
    modes = ["reflect", "mirror", "nearest", "wrap", "constant", "grid-wrap", "grid-constant"]
    for axis in range(3):
        for mode in modes:
            for w in weights:
                n = len(w)
                for origin in {-(n // 2), 0, (n - 1) - n // 2}:
                    kw = dict(axis=axis, mode=mode, cval=-2.25, origin=origin)
                    want = sn.correlate1d(a, w, **kw)
                    got = jn.correlate1d(a, w, **kw)
                    assert got.dtype == want.dtype
                    np.testing.assert_array_equal(got, want, err_msg=f"{axis} {mode} {w} {origin}")
                    assert np.isnan(got).sum() == np.isnan(want).sum()
                    same = (got == want) | (np.isnan(got) & np.isnan(want))
                    assert got[same].tobytes() == want[same].tobytes()
    for output in (np.float32, np.int32, np.uint8):
        want = sn.gaussian_filter(a, 1.5, output=output, mode=["wrap", "reflect", "constant"])
        got = jn.gaussian_filter(a, 1.5, output=output, mode=["wrap", "reflect", "constant"])
        np.testing.assert_array_equal(got, want)
    out = np.zeros((9, 80), dtype)[:, ::2]
    want = sn.correlate1d(a[1], [1, 2, 1], output=np.zeros((9, 40), dtype))
    jn.correlate1d(a[1], [1, 2, 1], output=out)
    np.testing.assert_array_equal(out, want)
    inplace = a.copy()
    jn.sobel(inplace, output=inplace)
    np.testing.assert_array_equal(inplace, sn.sobel(a))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64, np.int64])
def test_passes_over_the_last_two_axes_run_as_one_pair_bit_for_bit(dtype):
    """correlate1d or uniform_filter1d along the second-last axis and then the last
    (gaussian_filter, uniform_filter, sobel, prewitt over an image or a volume's planes) runs
    as one pair per band of rows in the core (jitfilter.lines.pair): scipy's bits, on images
    of many bands and blocks of columns, per-axis modes and origins, into other types, and —
    through a scratch array — into strided outputs and in place."""
    rng = np.random.default_rng(31)
    for shape in ((130, 600), (3, 70, 90), (1, 1), (5, 1)):
        if dtype == np.int64:
            a = rng.integers(-(2**60), 2**60, shape)
        else:
            a = (rng.uniform(-20, 250, shape)).astype(dtype)
        if a.dtype.kind == "f" and a.size > 4:
            a.flat[3], a.flat[-4] = np.nan, np.inf
        n = a.ndim
        modes = ["wrap", "constant", "mirror", "nearest", "reflect"][-n:]
        for output in (None, np.float64, np.float32, np.uint8):
            for sigma in (2.75, [0.0, 1.0] if n == 2 else [1.0, 0.5, 1.5]):
                kw = dict(output=output, mode=modes, cval=-1.5)
                want = sn.gaussian_filter(a, sigma, **kw)
                got = jn.gaussian_filter(a, sigma, **kw)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want, err_msg=f"{shape} {output} {sigma}")
                assert got.tobytes() == want.tobytes() or a.dtype.kind == "f"
            for edge in (jn.sobel, jn.prewitt):
                want = getattr(sn, edge.__name__)(a, axis=-1, output=output, mode=modes[0])
                np.testing.assert_array_equal(edge(a, axis=-1, output=output, mode=modes[0]), want)
            for size in (23, [4, 7] if n == 2 else [3, 2, 5]):
                kw = dict(output=output, mode=modes, cval=-1.5, origin=[1, 0, -1][-n:])
                want = sn.uniform_filter(a, size, **kw)
                got = jn.uniform_filter(a, size, **kw)
                assert got.dtype == want.dtype
                assert got.tobytes() == want.tobytes(), (shape, output, size)
        for fn, arg in ((jn.gaussian_filter, 1.25), (jn.uniform_filter, 5)):
            x = a.copy()
            fn(x, arg, output=x)
            want = getattr(sn, fn.__name__)(a, arg)
            np.testing.assert_array_equal(x, want)
            big = np.zeros((2,) + shape, a.dtype)
            fn(a, arg, output=big[1])
            np.testing.assert_array_equal(big[1], want)


def test_repeated_calls_replay_their_passes_onto_new_arrays():
    """A second call of uniform_filter or gaussian_filter with the same arguments replays the
    first's collected passes (jitfilter.ndimage._Call) onto its own input and output: new
    values, new outputs (given, by dtype, new), strided inputs, each equal to scipy's; a call
    whose arguments differ in any value is not a replay of another's."""
    rng = np.random.default_rng(61)
    jn._PLANS.clear()
    calls = [
        (jn.uniform_filter, sn.uniform_filter, (5,), {}),
        (jn.uniform_filter, sn.uniform_filter, ([3, 1],), dict(mode="constant", cval=2.0)),
        (jn.uniform_filter, sn.uniform_filter, (4,), dict(origin=[1, -1])),
        (jn.gaussian_filter, sn.gaussian_filter, (1.5,), {}),
        (jn.gaussian_filter, sn.gaussian_filter, (np.array([0.5, 2.0]),), dict(order=[0, 1])),
        (jn.gaussian_filter, sn.gaussian_filter, ([0.5, 2.0],), dict(truncate=2.0)),
    ]
    for _ in range(3):
        for j, (ours, theirs, args, kw) in enumerate(calls):
            a = rng.uniform(-5, 5, (40, 33))
            for x in (a, a[::2, ::-1]):
                want = theirs(x, *args, **kw)
                np.testing.assert_array_equal(ours(x, *args, **kw), want, err_msg=str(j))
                out = np.empty_like(want)
                assert ours(x, *args, output=out, **kw) is out
                np.testing.assert_array_equal(out, want, err_msg=str(j))
                got = ours(x, *args, output=np.float32, **kw)
                np.testing.assert_array_equal(got, theirs(x, *args, output=np.float32, **kw))
    assert jn._PLANS, "no call was replayed"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_uniform_filters_of_unsigned_integers_run_in_integers_bit_for_bit(dtype):
    """uniform_filter over uint8 or uint16 into its own type runs its last two axes' passes in
    integers (src/lines/integer.rs): scipy's bytes for every mode per axis, cvals the type
    holds (0, the largest) and one it does not (the doubles then), origins, windows the
    integers take (up to 300 bytes: the 64-bit quotient past 256) and windows they leave to the
    doubles (u16 past 256), the type's largest values, images and volumes."""
    rng = np.random.default_rng(53)
    top = np.iinfo(dtype).max
    modes = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-wrap", "grid-mirror"]
    for shape in ((70, 90), (3, 40, 33), (1, 1), (300, 7)):
        a = rng.integers(0, top, shape, endpoint=True).astype(dtype)
        a.flat[::5] = top
        n = a.ndim
        for i, mode in enumerate(modes):
            per_axis = [mode, modes[(i + 3) % len(modes)], modes[(i + 5) % len(modes)]][-n:]
            for size in (23, [4, 7, 3][-n:], 300, 1):
                for cval in (0, top, -3):
                    kw = dict(mode=per_axis, cval=cval, origin=[1, 0, -1][-n:])
                    want = sn.uniform_filter(a, size, **kw)
                    got = jn.uniform_filter(a, size, **kw)
                    assert got.dtype == want.dtype
                    assert got.tobytes() == want.tobytes(), (shape, per_axis, size, cval)
            out = np.empty_like(a)
            jn.uniform_filter(a, 9, output=out, mode=mode)
            assert out.tobytes() == sn.uniform_filter(a, 9, mode=mode).tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_minimum_and_maximum_passes_run_as_one_box_bit_for_bit(dtype):
    """scipy's separable minimum and maximum filters (a size, or a footprint of ones; the grey
    morphology built on them) run their 1-D passes as one filter over the box: scipy's bits in
    every mode, with origins per axis, over 2 and 3 axes, into another type (passes one by one
    then), with NaN (scipy's own routine) and in place."""
    rng = np.random.default_rng(41)
    for shape in ((40, 57), (9, 10, 11), (1, 5), (3, 1, 4)):
        lo = 0 if dtype == np.uint8 else -50
        a = rng.integers(lo, 200, shape).astype(dtype)
        n = a.ndim
        for mode in ("reflect", "constant", "wrap", "nearest", "mirror"):
            for size in (3, (2, 5) if n == 2 else (3, 1, 4)):
                origin = (0, 1) if size == (2, 5) else 0
                for fn in (jn.maximum_filter, jn.minimum_filter):
                    for output in (None, np.float64):
                        kw = dict(size=size, mode=mode, cval=-7.0, origin=origin, output=output)
                        want = getattr(sn, fn.__name__)(a, **kw)
                        got = fn(a, **kw)
                        assert got.dtype == want.dtype
                        assert got.tobytes() == want.tobytes(), (shape, mode, size, fn.__name__)
                for fn in (jn.grey_opening, jn.morphological_gradient, jn.white_tophat):
                    want = getattr(sn, fn.__name__)(a, size=size, mode=mode)
                    assert fn(a, size=size, mode=mode).tobytes() == want.tobytes()
        fp = np.ones((3,) * n, bool)
        want = sn.maximum_filter(a, footprint=fp)
        assert jn.maximum_filter(a, footprint=fp).tobytes() == want.tobytes()
        x = a.copy()
        jn.minimum_filter(x, size=3, output=x)
        assert x.tobytes() == sn.minimum_filter(a, size=3).tobytes()
        if a.dtype.kind == "f" and a.size > 3:
            a.flat[2] = np.nan
            np.testing.assert_array_equal(jn.maximum_filter(a, size=3), sn.maximum_filter(a, size=3))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_separable_chains_equal_their_passes_one_by_one(dtype):
    """gaussian_filter, uniform_filter, sobel and prewitt keep their intermediate results in a
    scratch array rather than in the output: the results equal the 1-D passes run one by one
    into the output, as scipy runs them, bit for bit — in place, into a strided output, into
    another type, with per-axis modes and origins, over 2, 3 and 5 axes."""
    rng = np.random.default_rng(21)
    for shape in ((23, 41), (9, 11, 13), (3, 4, 5, 4, 6)):
        a = rng.uniform(-30, 200, shape).astype(dtype)
        n = a.ndim
        modes = ["wrap", "constant", "mirror", "nearest", "reflect"][:n]
        sigmas, sizes, origins = [1.5, 0.7, 2.0, 1.0, 0.8][:n], [5, 3, 7, 2, 3][:n], [1, 0, -2, 0, 1][:n]
        # Per case: the whole filter's arguments, and its 1-D pass along an axis.
        cases = [
            (jn.gaussian_filter, dict(sigma=sigmas),
             lambda src, ax, out: jn.gaussian_filter1d(src, sigmas[ax], ax, output=out,
                                                       mode=modes[ax], cval=3.5)),
            (jn.uniform_filter, dict(size=sizes, origin=origins),
             lambda src, ax, out: jn.uniform_filter1d(src, sizes[ax], ax, output=out,
                                                      mode=modes[ax], cval=3.5,
                                                      origin=origins[ax])),
        ]

        def by_passes(one_d, out):
            src = a
            for ax in range(n):
                one_d(src, ax, out)
                src = out
            return out

        for whole, kw, one_d in cases:
            for out_type in (dtype, np.float64):
                want = by_passes(one_d, np.empty(shape, out_type))
                got = whole(a, output=out_type, mode=modes, cval=3.5, **kw)
                np.testing.assert_array_equal(got, want, err_msg=f"{whole.__name__} {shape}")
            # In place, and into a strided view of a larger array.
            x = a.copy()
            assert whole(x, output=x, mode=modes, cval=3.5, **kw) is x
            np.testing.assert_array_equal(x, by_passes(one_d, np.empty(shape, dtype)))
            big = np.zeros((2,) + shape, dtype)
            whole(a, output=big[1], mode=modes, cval=3.5, **kw)
            np.testing.assert_array_equal(big[1], x)
        for edge in (jn.sobel, jn.prewitt):
            got = edge(a, axis=-1, mode=modes, cval=3.5, output=np.float64)
            np.testing.assert_array_equal(got, getattr(sn, edge.__name__)(
                a, axis=-1, mode=modes, cval=3.5, output=np.float64))
    # The Gaussian, exactly scipy's on integers (truncated) and floats (scipy's sums' order).
    a = rng.uniform(0, 255, (40, 50)).astype(dtype)
    np.testing.assert_array_equal(jn.gaussian_filter(a, 2.0), sn.gaussian_filter(a, 2.0))


def test_separable_calls_inside_another_run_their_passes_before_returning():
    """A separable filter called while another collects its passes (and read right away, as a
    caller of it may) has run its own passes when it returns."""
    a = np.random.default_rng(3).uniform(0, 9, (17, 19))

    def outer(x, output=None):
        inner = jn._filters["uniform_filter"](x, 3)
        return jn._filters["correlate1d"](inner * 2, [1.0, 2.0, 1.0], output=output)

    want = sn.correlate1d(sn.uniform_filter(a, 3) * 2, [1.0, 2.0, 1.0])
    np.testing.assert_allclose(jn._separable(outer)(a), want, rtol=1e-13)


def test_complex_input_and_weights_by_parts(img):
    z = img + 1j * img[::-1]
    w = np.array([[1 + 2j, 0.5], [-1j, 2.0]])
    np.testing.assert_allclose(jn.correlate(z, w), sn.correlate(z, w), rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(jn.convolve(img, w, mode="wrap"), sn.convolve(img, w, mode="wrap"),
                               rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(jn.uniform_filter1d(z, 4, axis=0), sn.uniform_filter1d(z, 4, axis=0),
                               rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 3, 2, 4, 5), (3, 1, 4, 1, 2, 5)])
def test_footprints_spanning_more_than_three_axes(shape):
    """The core filters arrays of up to 32 axes, whatever the footprint spans."""
    rng = np.random.default_rng(len(shape))
    a = rng.integers(0, 250, shape).astype(np.uint8)
    f = a.astype(np.float64) / 3.0
    modes = [MODES[i % len(MODES)] for i in range(len(shape))]
    fp = rng.random([2 + i % 2 for i in range(len(shape))]) > 0.3
    fp.flat[0] = True
    for name in ("median_filter", "minimum_filter", "maximum_filter"):
        kw = dict(footprint=fp) if name == "median_filter" else dict(footprint=fp, mode=modes[0])
        np.testing.assert_array_equal(getattr(jn, name)(a, **kw), getattr(sn, name)(a, **kw),
                                      err_msg=name)
    for name in ("uniform_filter", "maximum_filter", "minimum_filter"):
        got = getattr(jn, name)(f, size=3, mode=modes)
        np.testing.assert_allclose(got, getattr(sn, name)(f, size=3, mode=modes), rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    w = rng.uniform(-1, 1, [3] * len(shape))
    np.testing.assert_allclose(jn.correlate(f, w, mode="wrap"), sn.correlate(f, w, mode="wrap"),
                               rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(jn.gaussian_filter(f, 1.0), sn.gaussian_filter(f, 1.0),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(jn.grey_opening(a, size=2), sn.grey_opening(a, size=2))
    # generic_filter with a program, and jf.filter with an origin per axis.
    got = jn.generic_filter(f, "max(w) - min(w)", footprint=fp, mode="nearest")
    want = sn.generic_filter(f, np.ptp, footprint=fp, mode="nearest")
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)
    # at() offsets reach along the last three axes, whatever the rank.
    for mode, shift_mode in (("reflect", "reflect"), ("wrap", "grid-wrap"), ("constant", "constant")):
        got = jf.filter(f, "at(w, 1, -1, 1) + max(w)", footprint=fp, mode=mode, cval=0.5)
        moved = sn.shift(f, [0] * (len(shape) - 3) + [-1, 1, -1], order=0, mode=shift_mode,
                         cval=0.5)
        np.testing.assert_array_equal(
            got, moved + sn.maximum_filter(f, footprint=fp, mode=mode, cval=0.5))
    origin = [-1 if i % 2 else 0 for i in range(len(shape))]
    got = jf.filter(f, "sum(w * i)", footprint=fp, origin=origin, mode="mirror")
    want = sn.generic_filter(f, lambda v: np.sum(v * np.arange(v.size)), footprint=fp,
                             origin=origin, mode="mirror")
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-11)


def test_halo_of_many_axes():
    """at() offsets (ox, oy, oz) reach the last three axes whatever the rank; footprints any."""
    k = jf.compile("at(w, 2, 0) + at(w, 1, -1, 3) + max(w)")
    assert k.halo(ndim=5, footprint=np.ones((3, 1, 1, 1, 1))) == ((1, 0, 0, 1, 0), (1, 0, 3, 0, 2))
    stages = jf.compile("stage e = min(w); max(e)")
    assert stages.halo(ndim=4, size=3) == ((2,) * 4, (2,) * 4)


def test_what_is_not_covered_says_so():
    big = np.array([2**60, 256, 512, 768, 2**60 + 256], dtype=np.int64)
    with pytest.raises(NotImplementedError, match="2\\*\\*53"):
        jn.median_filter(big, size=3)
    with pytest.raises(NotImplementedError, match="1048576 values"):
        jn.uniform_filter1d(np.zeros(4), 2**20 + 1)
    # Window sums past 2**53 round: scipy's running sum keeps 2**61 + 256 as 2**61 and then
    # gives 426 for the window 256, 512, 768 whose mean is 512; jitfilter runs that same sum
    # (refused before, as any other sum's result would differ). Weighted sums read the values
    # as doubles and add them in scipy's order, so they agree too.
    np.testing.assert_array_equal(jn.uniform_filter1d(big, 3), sn.uniform_filter1d(big, 3))
    np.testing.assert_array_equal(jn.correlate1d(big, [0.5, 0.25, 0.25]),
                                  sn.correlate1d(big, [0.5, 0.25, 0.25]))
    with pytest.raises(NotImplementedError, match="zero entries"):
        jn.grey_erosion(np.full((4, 4), 0.5), structure=np.array([[0.0, 1.5], [2.0, 0.25]]))


def test_scipys_errors_are_scipys(img):
    for call in (
        lambda m: m.median_filter(img, size=3, origin=5),
        lambda m: m.uniform_filter(img, size=3, mode="bogus"),
        lambda m: m.rank_filter(img, 10, size=3),
        lambda m: m.correlate(img, np.ones((3, 3, 3))),
        lambda m: m.minimum_filter(img, footprint=np.zeros((3, 3))),
        lambda m: m.gaussian_filter(img.astype(np.float16), 1.0),
    ):
        with pytest.raises(Exception) as theirs:
            call(sn)
        with pytest.raises(type(theirs.value)) as ours:
            call(jn)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32])
def test_structures_wrap_integer_sums_as_scipy(dtype):
    # scipy casts each window value plus or minus the structure to the input's type, so sums
    # past the type's range wrap: values at both ends of the range make them wrap here.
    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    a = rng.integers(0, 6, (17, 19)).astype(np.int64)
    a = np.where(a == 0, info.min, np.where(a == 1, info.max, a * 10)).astype(dtype)
    s = np.array([[0, 3, 0], [1, 2, 1], [0, -1, 0]])
    for name in ("grey_erosion", "grey_dilation", "white_tophat", "black_tophat"):
        np.testing.assert_array_equal(getattr(jn, name)(a, structure=s),
                                      getattr(sn, name)(a, structure=s), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_structures_with_zeros_on_any_float_data(dtype):
    # A structure's zero cells are shifted past zero and back: exact for integer structures
    # whatever the data (fractions, infinities, -0), bit for bit as scipy's.
    rng = np.random.default_rng(8)
    a = rng.uniform(-50, 50, (23, 29)).astype(dtype)
    a[10, 11], a[15, 2], a[7, 20] = np.inf, -np.inf, -0.0
    for s in (np.array([[0, 3, 0], [1, 2, 1], [0, -1, 0]]), np.array([[0.0, 0.0], [7.0, -2.0]])):
        for name in ("grey_erosion", "grey_dilation", "grey_opening", "white_tophat"):
            for mode in ("reflect", "constant"):
                got = getattr(jn, name)(a, structure=s, mode=mode, cval=1.5)
                want = getattr(sn, name)(a, structure=s, mode=mode, cval=1.5)
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (name, mode)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_order_statistics_of_data_with_nan_are_scipys(dtype):
    """scipy's minimum, maximum and rank filters make of NaN what their algorithms do (the
    window's first value wins a comparison with NaN; quickselect's pivots decide): such data
    runs scipy's own routines, so every result is scipy's, NaN where scipy's is."""
    rng = np.random.default_rng(9)
    a = rng.uniform(-50, 50, (3, 23, 29)).astype(dtype)
    a.flat[rng.choice(a.size, 25, replace=False)] = np.nan
    a[0, 4, 5], a[1, 7, 8] = np.inf, -np.inf
    fp = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], bool)
    s = np.array([[0, 3, 0], [1, 2, 1], [0, -1, 0]])
    calls = [
        ("minimum_filter", dict(size=3)), ("maximum_filter", dict(footprint=fp, axes=(1, 2))),
        ("minimum_filter1d", dict(size=4, axis=1)), ("maximum_filter1d", dict(size=3)),
        ("median_filter", dict(size=3)), ("median_filter", dict(size=5, axes=2)),
        ("rank_filter", dict(rank=-2, footprint=fp, axes=(0, 2))),
        ("percentile_filter", dict(percentile=30, size=(1, 3, 3))),
        ("grey_erosion", dict(structure=s, axes=(1, 2))), ("grey_closing", dict(size=3)),
        ("morphological_gradient", dict(footprint=fp, axes=(1, 2))),
        ("black_tophat", dict(structure=s, axes=(0, 1))),
    ]
    for name, kw in calls:
        for mode in ("reflect", "constant"):
            got = getattr(jn, name)(a, mode=mode, cval=2.5, **kw)
            want = getattr(sn, name)(a, mode=mode, cval=2.5, **kw)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (name, kw, mode)
    # Without a NaN the same calls run on jitfilter and still agree.
    b = np.nan_to_num(a, nan=0.25)
    for name, kw in calls:
        np.testing.assert_array_equal(getattr(jn, name)(b, **kw), getattr(sn, name)(b, **kw),
                                      err_msg=name)


def test_cvals_outside_an_integer_type_as_scipy():
    """scipy's order statistics over a footprint cast cval to an integer input's type first
    (C's cast: 2.7 reads as 2, 300 as 44 in uint8); its 1-D filters keep it in their lines of
    doubles until the result's cast. A NaN cval, an infinite structure value and NaN data run
    scipy's own routines; an output of another type than the 1-D rank code's is cast from a
    copy (scipy's own code corrupts memory there)."""
    rng = np.random.default_rng(3)
    fp = np.array([[1, 0, 1], [0, 1, 1]], bool)
    calls = [
        lambda m, a, c: m.minimum_filter(a, size=3, mode="constant", cval=c),
        lambda m, a, c: m.maximum_filter1d(a, 3, mode="constant", cval=c),
        lambda m, a, c: m.minimum_filter(a, footprint=fp, mode="constant", cval=c),
        lambda m, a, c: m.median_filter(a, footprint=fp, mode="constant", cval=c),
        lambda m, a, c: m.median_filter(a, footprint=fp, mode="constant", cval=c, output=np.float64),
        lambda m, a, c: m.rank_filter(a[0], 1, size=3, mode="constant", cval=c),
        lambda m, a, c: m.grey_erosion(a, structure=np.array([[0, 1], [2, 1]]), mode="constant", cval=c),
        lambda m, a, c: m.grey_dilation(a, size=(2, 3), mode="constant", cval=c),
    ]
    for dt in (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32):
        info = np.iinfo(dt)
        a = rng.integers(max(info.min, -1000), min(info.max, 1000), (5, 7)).astype(dt)
        for c in (2.7, -1, 300, -2.5, 70000.9, 1e10, -1e10, np.inf, -np.inf):
            for i, call in enumerate(calls):
                with np.errstate(invalid="ignore", over="ignore"):
                    try:
                        want = call(sn, a, c)
                    except OverflowError:
                        # scipy's 1-D rank code takes cval as an int64 first: inf cannot be.
                        with pytest.raises(OverflowError):
                            call(jn, a, c)
                        continue
                    got = call(jn, a, c)
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (dt, c, i)
    # bool data: its lines and cval are bytes (a structure adds in bytes: scipy's routine).
    b = rng.integers(0, 2, (5, 7)).astype(bool)
    for c in (0.7, -1.0, 2.0, 256.0, 65536.0):
        for i, call in enumerate(calls):
            if i == 5:
                continue  # scipy's 1-D rank code reads bool as int64 (a documented difference)
            with np.errstate(invalid="ignore", over="ignore"):
                want, got = call(sn, b, c), call(jn, b, c)
            assert got.dtype == want.dtype and np.array_equal(got, want), ("bool", c, i)
    # 64-bit integers over a footprint: a cval cast past 2**53 (to -2**63) is still exact.
    a64 = rng.integers(-1000, 1000, (5, 7))
    for c in (1e300, -np.inf, 2.7, 1e17):
        for call in calls[2:5]:
            with np.errstate(invalid="ignore", over="ignore"):
                assert call(jn, a64, c).tobytes() == call(sn, a64, c).tobytes(), ("int64", c)
    # 64-bit integers under a structure, cval cast past 2**53: scipy's routine.
    i64 = np.array([[94, -49], [3, 48]])
    st = np.array([[-2.0, 1.0]])
    for c in (1e300, -np.inf):
        with np.errstate(invalid="ignore", over="ignore"):
            assert (jn.grey_closing(i64, structure=st, mode="constant", cval=c, output=np.int16).tobytes()
                    == sn.grey_closing(i64, structure=st, mode="constant", cval=c, output=np.int16).tobytes())
    # float32 lines: scipy's 1-D filters hold cval as a double.
    f = np.array([[-1.5, 2.25, 7.0]], np.float32)
    for c in (127.9, 1e300, -0.1):
        for out in (np.float64, np.uint8, np.float32):
            with np.errstate(all="ignore"):
                want = sn.maximum_filter(f, size=3, mode="constant", cval=c, output=out)
                got = jn.maximum_filter(f, size=3, mode="constant", cval=c, output=out)
            assert got.tobytes() == want.tobytes(), (c, out)
    x = np.array([1.5, 255.5, 3.0])
    for f in (jn.minimum_filter1d, jn.maximum_filter):
        np.testing.assert_array_equal(f(x, 3, mode="constant", cval=np.nan),
                                      getattr(sn, f.__name__)(x, 3, mode="constant", cval=np.nan))
    s = np.array([-1e300, np.inf, 255.0, -1e300])
    np.testing.assert_array_equal(jn.grey_opening(np.array([-0.7]), structure=s, mode="nearest"),
                                  sn.grey_opening(np.array([-0.7]), structure=s, mode="nearest"))
    # Negative results into uint32: C's cast (through 64 bits) wraps, numpy's saturates.
    u = np.array([[4294967294, 4294967294, 5, 9], [0, 72, 3, 1], [7, 7, 7, 7]], np.uint32)
    assert jn.prewitt(u, axis=0).tobytes() == sn.prewitt(u, axis=0).tobytes()
    y = np.array([1.0, np.nan, 3.0] * 100)
    out = np.zeros(y.shape, np.uint8)
    for _ in range(20):
        jn.median_filter(y, size=3, output=out)
    assert out[:3].tolist() == [1, 1, 1]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint32, np.int64, np.float32, np.float64])
def test_non_flat_structures_as_scipys_loop(dtype):
    """scipy's loop keeps the window's first value plus the structure's as a double, and adds
    each later value to the structure's value cast to the input's type, in that type (float32
    sums rounding there run scipy's routine): fractional structures on any type, bit for bit."""
    rng = np.random.default_rng(5)
    kind = np.dtype(dtype).kind
    compared = 0
    for trial in range(25):
        shape = (int(rng.integers(1, 7)), int(rng.integers(1, 7)))
        a = rng.uniform(0 if kind == "u" else -300, 300, shape).astype(dtype)
        s = np.round(rng.uniform(-3, 3, (int(rng.integers(1, 4)), int(rng.integers(1, 4)))),
                     int(rng.integers(0, 3)))
        for name in ("grey_erosion", "grey_dilation", "white_tophat"):
            for mode in ("constant", "reflect", "wrap"):
                with np.errstate(all="ignore"):
                    want = getattr(sn, name)(a, structure=s, mode=mode, cval=1.5)
                    try:
                        got = getattr(jn, name)(a, structure=s, mode=mode, cval=1.5)
                    except NotImplementedError:
                        # Zero cells beside fractional ones: refused, never different.
                        assert (s == 0).any() and (s != np.round(s)).any()
                        continue
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (trial, name, mode)
                compared += 1
    assert compared > 100
