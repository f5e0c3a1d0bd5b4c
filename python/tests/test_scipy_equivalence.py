"""k.filter against scipy.ndimage.generic_filter with Python reference callables: every mode,
many footprints and origins, every reduction, 1-D to 3-D, several dtypes."""

import numpy as np
import pytest
from scipy import ndimage as ndi

import jitfilter as jf
from conftest import MODES, Positions, centre_index, offsets

# expression -> reference on scipy's buffer (float64, footprint order)
REDUCTIONS = {
    "sum(w)": np.sum,
    "prod(w / 50)": lambda v: np.prod(v / 50),
    "mean(w)": np.mean,
    "min(w)": np.min,
    "max(w)": np.max,
    "var(w)": np.var,
    "std(w)": np.std,
    "sqrt(var(w))": lambda v: np.sqrt(np.var(v)),
    "var(w, 1)": lambda v: np.var(v, ddof=1) if len(v) > 1 else np.nan,
    "median(w)": np.median,
    "percentile(w, 90)": lambda v: np.percentile(v, 90),
    "percentile(w, 12.5)": lambda v: np.percentile(v, 12.5),
    "kth(w, 0)": lambda v: np.sort(v)[0],
    "kth(w, -1)": lambda v: np.sort(v)[-1],
    "kth(w, 2)": lambda v: np.sort(v)[2] if len(v) > 2 else np.nan,
    "count(w > 40)": lambda v: np.count_nonzero(v > 40),
    "any(w > 90)": lambda v: float(np.any(v > 90)),
    "all(w > 10)": lambda v: float(np.all(v > 10)),
    "argmax(w)": np.argmax,
    "argmin(w)": np.argmin,
    "max(w) - min(w)": np.ptp,
    "sum(abs(w - mean(w)))": lambda v: np.sum(np.abs(v - np.mean(v))),
    "sum(i * w) / n": lambda v: np.sum(np.arange(len(v)) * v) / len(v),
    "let m = mean(w); sum((w - m)^2) / n": np.var,
    "if max(w) > 80 then median(w) else -1": lambda v: np.median(v) if np.max(v) > 80 else -1.0,
    "log(1 + sum(exp(w / 100)))": lambda v: np.log(1 + np.sum(np.exp(v / 100))),
}

NAN_REDUCTIONS = {
    "nansum(w)": np.nansum,
    "nanmean(w)": np.nanmean,
    "nanmin(w)": np.nanmin,
    "nanmax(w)": np.nanmax,
    "nanvar(w)": np.nanvar,
    "nanstd(w)": np.nanstd,
    "nanmedian(w)": np.nanmedian,
    "max(w)": np.max,
    "sum(w)": np.sum,
    "count(isnan(w))": lambda v: np.count_nonzero(np.isnan(v)),
}

FOOTPRINTS_2D = {
    "box3": np.ones((3, 3), bool),
    "rect2x5": np.ones((2, 5), bool),
    "even4x4": np.ones((4, 4), bool),
    "cross": np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool),
    "irregular": np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 1]], bool),
    "line1x7": np.ones((1, 7), bool),
    "single": np.ones((1, 1), bool),
    "bigger_than_array": np.ones((15, 3), bool),
}

ORIGINS_2D = [0, (-1, 0), (0, 1), (1, -1)]


def image(rng, shape=(11, 13), dtype=np.float64):
    a = rng.uniform(0, 100, shape)
    if np.dtype(dtype).kind in "iu":
        a = np.round(a)
    return a.astype(dtype)


def valid_origin(fp, origin):
    o = np.broadcast_to(np.asarray(origin), (fp.ndim,))
    return all(-(s // 2) <= oo <= (s - 1) // 2 for s, oo in zip(fp.shape, o))


def close(ours, ref):
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fp_name", list(FOOTPRINTS_2D))
def test_every_reduction_every_mode_every_footprint(rng, mode, fp_name):
    fp = FOOTPRINTS_2D[fp_name]
    a = image(rng)
    for expr, ref in REDUCTIONS.items():
        if expr.startswith("var(w, 1)") and fp.sum() == 1:
            continue
        k = jf.compile(expr)
        want = ndi.generic_filter(a, ref, footprint=fp, mode=mode, cval=7.5)
        got = k.filter(a, footprint=fp, mode=mode, cval=7.5)
        close(got, want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_kth_is_rank_filter_exactly(rng, mode, dtype):
    """Every rank of a few footprints, an even footprint's two middle ranks included, on every
    engine: equal to scipy's rank_filter (and so of the input's dtype for integers)."""
    a = image(rng, (23, 29), dtype)
    for fp in (FOOTPRINTS_2D["even4x4"], FOOTPRINTS_2D["irregular"], np.ones((5, 5), bool)):
        n = int(fp.sum())
        for r in sorted({0, 1, n // 2 - 1, n // 2, n - 1, -1, -n}):
            want = ndi.rank_filter(a, r, footprint=fp, mode=mode, cval=3)
            for engine in ("auto", "fused", "callback", "interpreter"):
                got = jf.filter(a, f"kth(w, {r})", footprint=fp, mode=mode, cval=3, engine=engine)
                assert got.dtype == a.dtype
                np.testing.assert_array_equal(got, want, err_msg=f"{r} {engine}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("origin", ORIGINS_2D)
def test_origins(rng, mode, origin):
    a = image(rng, (9, 12))
    for fp in (FOOTPRINTS_2D["box3"], FOOTPRINTS_2D["even4x4"], FOOTPRINTS_2D["irregular"]):
        if not valid_origin(fp, origin):
            with pytest.raises(ValueError):
                jf.filter(a, "max(w)", footprint=fp, origin=origin)
            continue
        for expr in ("max(w)", "median(w)", "sum(i * w)"):
            ref = REDUCTIONS.get(expr, lambda v: np.sum(np.arange(len(v)) * v))
            want = ndi.generic_filter(a, ref, footprint=fp, mode=mode, origin=origin, cval=-2)
            close(jf.filter(a, expr, footprint=fp, mode=mode, origin=origin, cval=-2), want)


@pytest.mark.parametrize("mode", MODES)
def test_size_boxes(rng, mode):
    a = image(rng, (10, 9))
    for size in (1, 2, 3, (2, 3), (5, 1)):
        want = ndi.generic_filter(a, np.mean, size=size, mode=mode)
        close(jf.filter(a, "mean(w)", size=size, mode=mode), want)


@pytest.mark.parametrize("mode", MODES)
def test_one_and_three_dimensions(rng, mode):
    a1 = image(rng, (17,))
    for fp in (np.ones(3, bool), np.array([1, 0, 1, 1], bool), np.ones(25, bool)):
        for expr in ("max(w)", "std(w)", "median(w)"):
            ref = REDUCTIONS[expr]
            close(jf.filter(a1, expr, footprint=fp, mode=mode), ndi.generic_filter(a1, ref, footprint=fp, mode=mode))
    a3 = image(rng, (5, 6, 7))
    ball = np.zeros((3, 3, 3), bool)
    ball[1, 1, :] = ball[1, :, 1] = ball[:, 1, 1] = True
    for fp in (ball, np.ones((2, 3, 2), bool)):
        for expr in ("sum(w)", "min(w)", "percentile(w, 90)"):
            ref = REDUCTIONS[expr]
            for origin in (0, (0, -1, 0)):
                want = ndi.generic_filter(a3, ref, footprint=fp, mode=mode, origin=origin)
                close(jf.filter(a3, expr, footprint=fp, mode=mode, origin=origin), want)


@pytest.mark.parametrize("mode", MODES)
def test_nan_reductions(rng, mode):
    a = image(rng, (10, 11))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[0:3, 0:3] = np.nan  # some windows entirely NaN
    fp = FOOTPRINTS_2D["cross"]
    for expr, ref in NAN_REDUCTIONS.items():
        with np.errstate(all="ignore"):
            want = ndi.generic_filter(a, _quiet(ref), footprint=fp, mode=mode, cval=np.nan)
        close(jf.filter(a, expr, footprint=fp, mode=mode, cval=np.nan), want)


def _quiet(f):
    import warnings

    def g(v):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return f(v)

    return g


@pytest.mark.parametrize("mode", MODES)
def test_centre_weights_and_offsets(rng, mode):
    """`c`, `k` (weights footprint) and `dx`/`dy`, with origins, against Python references."""
    a = image(rng, (9, 10))
    weights = np.array([[0.5, 0, 2.0], [1.0, 3.0, 0], [0, -1.5, 4.0]])
    mask = weights != 0
    for origin in (0, (1, 0), (-1, 1)):
        kvals = weights[mask]
        dx, dy = offsets(mask, origin, 1), offsets(mask, origin, 2)
        ci = centre_index(mask, origin)
        cases = {
            "sum(k * w)": lambda v: np.sum(kvals * v),
            "sum(dx * w) + 10 * sum(dy * w)": lambda v: np.sum(dx * v) + 10 * np.sum(dy * v),
            "max(k) * n": lambda v: kvals.max() * len(v),
        }
        if ci is not None:
            cases["c - mean(w)"] = lambda v: v[ci] - np.mean(v)
            cases["let m = mean(w); (c - m) / (std(w) + 1e-3)"] = lambda v: (v[ci] - np.mean(v)) / (np.std(v) + 1e-3)
        for expr, ref in cases.items():
            want = ndi.generic_filter(a, ref, footprint=mask, mode=mode, origin=origin)
            close(jf.filter(a, expr, footprint=weights, mode=mode, origin=origin), want)


def test_centre_outside_the_footprint_is_the_input_value(rng):
    # A ring has no centre cell; jitfilter's own loop still knows `c` (the input there).
    a = image(rng, (8, 8))
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    got = jf.filter(a, "c - max(w)", footprint=ring)
    want = a - ndi.maximum_filter(a, footprint=ring)
    close(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_position_dependent_kernel(rng, mode):
    a = image(rng, (6, 7))
    expr = "x + 100 * y + width * 1000 + height * 10000 + max(w)"
    shape = a.shape
    ref = Positions(shape, lambda v, p: p[1] + 100 * p[0] + shape[1] * 1000 + shape[0] * 10000 + np.max(v))
    want = ndi.generic_filter(a, ref, size=3, mode=mode)
    close(jf.filter(a, expr, size=3, mode=mode), want)
    a3 = image(rng, (3, 4, 5))
    ref3 = Positions(a3.shape, lambda v, p: p[2] + 10 * p[1] + 100 * p[0] + depth_of(a3) + np.sum(v))
    close(jf.filter(a3, "x + 10 * y + 100 * z + depth + sum(w)", size=2, mode=mode),
          ndi.generic_filter(a3, ref3, size=2, mode=mode))


def depth_of(a):
    return a.shape[0]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("mode", ["reflect", "constant", "wrap"])
def test_engine_dtypes(rng, dtype, mode):
    a = image(rng, (12, 9), dtype)
    fp = FOOTPRINTS_2D["irregular"]
    for expr in ("max(w)", "mean(w)", "std(w)", "median(w)"):
        ref = REDUCTIONS[expr]
        want = ndi.generic_filter(a, ref, footprint=fp, mode=mode, cval=3, output=np.float64)
        close(jf.filter(a, expr, footprint=fp, mode=mode, cval=3, output=np.float64), want)


def test_interpreter_engine_agrees(rng):
    a = image(rng, (10, 10))
    for expr in list(REDUCTIONS)[:8]:
        k = jf.compile(expr)
        close(k.filter(a, size=3, engine="interpreter"), k.filter(a, size=3))


@pytest.mark.parametrize("modes", [("reflect", "wrap"), ("constant", "mirror"), ("nearest", "grid-constant")])
def test_a_mode_per_axis_is_scipys_mode_sequence(rng, modes):
    """scipy takes a mode per axis in its separable filters (a box min and mean are separable),
    and so does every jitfilter engine, for any program."""
    a = image(rng, (17, 19))
    for engine in ("auto", "fused", "callback", "interpreter"):
        got = jf.filter(a, "min(w)", size=(3, 4), mode=list(modes), cval=5, engine=engine)
        np.testing.assert_array_equal(got, ndi.minimum_filter(a, size=(3, 4), mode=list(modes), cval=5))
        got = jf.filter(a, "mean(w)", size=(5, 2), mode=modes, cval=5, engine=engine)
        close(got, ndi.uniform_filter(a, size=(5, 2), mode=list(modes), cval=5))
    with pytest.raises(RuntimeError, match="length equal to input rank"):
        jf.filter(a, "min(w)", size=3, mode=["wrap"] * 3)



@pytest.mark.parametrize(
    "axes, size, origin, mode",
    [((0, 2), (3, 2), (0, -1), "wrap"), ((1,), 4, 1, "mirror"), ((2, 0), (3, 2), (0, 1), "reflect"),
     ((-1,), 5, 0, "constant"), ((0, 2), (3, 2), (1, 0), ["wrap", "nearest"])],
)
def test_axes_as_scipy(rng, axes, size, origin, mode):
    """``axes=``: the footprint along the listed axes (its dimensions in increasing axis order,
    origins and modes in the listed order, as scipy's generic and rank filters expand them; its
    separable filters pair sizes with axes in the listed order, so those cases list axes in
    increasing order), every engine."""
    a = image(rng, (5, 6, 7))
    n = int(np.prod(np.broadcast_to(size, (len(axes),))))
    kw = dict(size=size, axes=axes, origin=origin, mode=mode, cval=3)
    for engine in ("auto", "fused", "callback", "interpreter"):
        if isinstance(mode, list):  # scipy takes mode sequences in separable filters only
            got = jf.filter(a, "min(w)", engine=engine, **kw)
            np.testing.assert_array_equal(got, ndi.minimum_filter(a, **kw))
        else:  # scipy's median of an even window is the upper middle element
            got = jf.filter(a, f"kth(w, {n // 2})", engine=engine, **kw)
            np.testing.assert_array_equal(got, ndi.median_filter(a, **kw))
    with pytest.raises(ValueError, match="out of range"):
        jf.filter(a, "min(w)", size=3, axes=(3,))
    with pytest.raises(ValueError, match="unique"):
        jf.filter(a, "min(w)", size=3, axes=(1, -2))
