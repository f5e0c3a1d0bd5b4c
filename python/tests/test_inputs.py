"""Named inputs, channels, at() offsets and tuple results (issue 11), against independent
numpy/scipy oracles; every engine agrees; Dask equals the in-process result byte for byte; and
the errors are clear."""

import pickle

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import jitfilter as jf
from conftest import MODES

ndi = pytest.importorskip("scipy.ndimage")

ENGINES = ("auto", "fused", "interpreter")
#: scipy's boundary modes under numpy.pad's names (for offsets within the array's size).
NP_PAD = {
    "reflect": "symmetric",
    "grid-mirror": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "grid-wrap": "wrap",
    "constant": "constant",
    "grid-constant": "constant",
}


def pad(a, lo, hi, mode, cval=0.0):
    """``a`` extended by ``lo``/``hi`` per axis with scipy's rule for ``mode`` (np.pad)."""
    kw = {"constant_values": cval} if NP_PAD[mode] == "constant" else {}
    return np.pad(a, list(zip(lo, hi)), mode=NP_PAD[mode], **kw)


def shifted(a, ox, oy, mode, cval=0.0):
    """The value of 2-D ``a`` at (y + oy, x + ox) for every (y, x), outside by ``mode``."""
    r = max(abs(ox), abs(oy))
    p = pad(a, (r, r), (r, r), mode, cval)
    h, w = a.shape
    return p[r + oy : r + oy + h, r + ox : r + ox + w]


def windows(a, fp, mode, cval=0.0):
    """Per output pixel, the window under the (odd-sized) footprint ``fp`` as a vector, in C
    order: an (H, W, n) array."""
    fy, fx = fp.shape
    p = pad(a, (fy // 2, fx // 2), (fy // 2, fx // 2), mode, cval)
    v = sliding_window_view(p, fp.shape)  # (H, W, fy, fx)
    return v[..., np.asarray(fp) != 0]


@pytest.fixture(scope="module")
def img():
    rng = np.random.default_rng(11)
    return rng.uniform(-20, 80, (23, 29))


@pytest.fixture(scope="module")
def guide():
    rng = np.random.default_rng(12)
    return rng.uniform(0.5, 3.0, (23, 29))


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(13)
    return rng.integers(0, 256, (21, 26, 3)).astype(np.uint8)


DISK = np.array([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)


def all_engines(k, *args, **kwargs):
    """The kernel's result under every engine, checked to agree (to the planner's rounding),
    returned as the interpreter's (the reference)."""
    results = {e: k.filter(*args, engine=e, **kwargs) for e in ENGINES}
    ref = results["interpreter"]
    for e, r in results.items():
        assert r.shape == ref.shape and r.dtype == ref.dtype, e
        if r.dtype.kind == "f":
            np.testing.assert_allclose(r, ref, rtol=1e-10, atol=1e-10, err_msg=e)
        else:
            np.testing.assert_array_equal(r, ref, err_msg=e)
    np.testing.assert_array_equal(results["fused"], ref)
    return ref


# -- tuple results --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", "nearest"])
def test_mean_and_std_in_one_pass(img, mode):
    k = jf.compile("(mean(w), std(w))")
    assert k.outputs == 2
    got = all_engines(k, img, footprint=DISK, mode=mode, cval=1.5)
    assert got.shape == img.shape + (2,)
    mean = ndi.generic_filter(img, np.mean, footprint=DISK, mode=mode, cval=1.5)
    std = ndi.generic_filter(img, np.std, footprint=DISK, mode=mode, cval=1.5)
    np.testing.assert_allclose(got[..., 0], mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[..., 1], std, rtol=1e-10, atol=1e-10)
    # each item equals the same expression alone, engine by engine: std bit for
    # bit; the mean to rounding, since beside a variance the planner sums values
    # shifted by a local offset (for the variance's sake) and a mean alone does not
    for e in ENGINES:
        both = k.filter(img, footprint=DISK, mode=mode, cval=1.5, engine=e)
        for j, alone in enumerate(("mean(w)", "std(w)")):
            want = jf.filter(img, alone, footprint=DISK, mode=mode, cval=1.5, engine=e)
            if j == 0:
                np.testing.assert_allclose(both[..., j], want, rtol=4e-15, err_msg=e)
            else:
                np.testing.assert_array_equal(both[..., j], want, err_msg=f"{e} {alone}")


def test_tuple_of_three_with_integer_output(rgb):
    a = rgb[..., 0]
    got = jf.filter(a, "(min(w), max(w), median(w))", size=3)
    assert got.shape == a.shape + (3,) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0], ndi.minimum_filter(a, size=3))
    np.testing.assert_array_equal(got[..., 1], ndi.maximum_filter(a, size=3))
    np.testing.assert_array_equal(got[..., 2], ndi.median_filter(a, size=3))


def test_tuple_into_an_output_array(img):
    out = np.full(img.shape + (2,), np.nan, dtype=np.float32)
    ret = jf.filter(img, "(max(w), -min(w))", size=3, output=out)
    assert ret is out
    np.testing.assert_array_equal(out[..., 0], ndi.maximum_filter(img, size=3).astype(np.float32))
    np.testing.assert_array_equal(out[..., 1], -ndi.minimum_filter(img, size=3).astype(np.float32))
    with pytest.raises(RuntimeError, match="output shape"):
        jf.filter(img, "(max(w), -min(w))", size=3, output=np.zeros(img.shape))


def test_tuple_on_1d_and_3d():
    rng = np.random.default_rng(1)
    a1 = rng.uniform(0, 1, 40)
    got = jf.filter(a1, "(max(w), mean(w))", size=5, mode="mirror")
    assert got.shape == (40, 2)
    np.testing.assert_array_equal(got[:, 0], ndi.maximum_filter(a1, size=5, mode="mirror"))
    np.testing.assert_allclose(got[:, 1], ndi.uniform_filter(a1, size=5, mode="mirror"), rtol=1e-12)
    a3 = rng.uniform(0, 1, (5, 6, 7))
    got = jf.filter(a3, "(max(w), min(w))", size=3, mode="wrap")
    assert got.shape == (5, 6, 7, 2)
    np.testing.assert_array_equal(got[..., 1], ndi.minimum_filter(a3, size=3, mode="wrap"))


# -- at() ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_central_difference(img, mode):
    k = jf.compile("at(w, 1, 0) - at(w, -1, 0)")
    assert k.points == ((0, 0, 1), (0, 0, -1))
    got = all_engines(k, img, size=1, mode=mode, cval=-4.0)
    want = shifted(img, 1, 0, mode, -4.0) - shifted(img, -1, 0, mode, -4.0)
    np.testing.assert_array_equal(got, want)
    # the footprint does not move at(): a larger one and an origin give the same result
    np.testing.assert_array_equal(k.filter(img, size=5, origin=(2, -1), mode=mode, cval=-4.0), want)


@pytest.mark.parametrize("mode", MODES)
def test_offsets_along_both_axes_and_with_a_window(img, mode):
    k = jf.compile("at(w, 3, -2) * 2 + at(w, 0, 4) - max(w)")
    got = all_engines(k, img, footprint=DISK, mode=mode, cval=0.5)
    want = (
        shifted(img, 3, -2, mode, 0.5) * 2
        + shifted(img, 0, 4, mode, 0.5)
        - ndi.maximum_filter(img, footprint=DISK, mode=mode, cval=0.5)
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert k.halo(DISK) == ((2, 2), (4, 3))
    assert k.halo(DISK, origin=(1, 0)) == ((3, 2), (4, 3))
    assert k.halo(ndim=1, size=3) == ((1,), (3,))


def test_at_of_w_is_c(img):
    np.testing.assert_array_equal(jf.filter(img, "at(w) - c + max(w)", size=3), ndi.maximum_filter(img, size=3))


def test_at_on_1d_and_3d():
    rng = np.random.default_rng(2)
    a1 = rng.uniform(0, 1, 30)
    got = jf.filter(a1, "at(w, 2, 0) - at(w, -1, 0)", size=1, mode="reflect")
    p = np.pad(a1, 2, mode="symmetric")
    np.testing.assert_array_equal(got, p[4:] - p[1:-3])
    a3 = rng.uniform(0, 1, (4, 5, 6))
    got = jf.filter(a3, "at(w, 1, -1, 2)", size=1, mode="wrap")
    np.testing.assert_array_equal(got, np.roll(a3, (-2, 1, -1), axis=(0, 1, 2)))


# -- named inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "mirror", "constant", "wrap"])
def test_guided_weighting(img, guide, mode):
    k = jf.compile("sum(g * w) / sum(g)", inputs=("g",))
    assert k.inputs == ("g",)
    got = all_engines(k, img, size=5, mode=mode, cval=2.0, inputs={"g": guide})
    ones = np.ones((5, 5))
    num = ndi.correlate(img * guide, ones, mode=mode, cval=2.0 * 2.0)
    den = ndi.correlate(guide, ones, mode=mode, cval=2.0)
    if mode == "constant":
        # outside, w and g both read cval: each term outside is cval * cval
        num = ndi.correlate(img * guide, ones, mode="constant", cval=0.0) + 4.0 * (
            25 - ndi.correlate(np.ones_like(img), ones, mode="constant", cval=0.0)
        )
    np.testing.assert_allclose(got, num / den, rtol=1e-11)


@pytest.mark.parametrize("mode", ["reflect", "nearest", "constant"])
def test_masked_median(img, mode):
    rng = np.random.default_rng(3)
    m = (rng.uniform(0, 1, img.shape) > 0.5).astype(np.uint8)
    k = jf.compile("if at(m) > 0 then median(w) else c", inputs=("m",))
    got = all_engines(k, img, footprint=DISK, mode=mode, inputs={"m": m})
    want = np.where(m > 0, ndi.median_filter(img, footprint=DISK, mode=mode), img)
    np.testing.assert_array_equal(got, want)
    # an all-integer call stays in the integers
    a = (img + 20).astype(np.uint8)
    got = k.filter(a, footprint=DISK, mode=mode, inputs={"m": m})
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, np.where(m > 0, ndi.median_filter(a, footprint=DISK, mode=mode), a))


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
def test_normalised_cross_correlation(img, guide, mode):
    src = "let a = w - mean(w); let b = g - mean(g); sum(a*b) / sqrt(sum(a^2) * sum(b^2))"
    k = jf.compile(src, inputs=["g"])
    g = guide * 7 + np.sin(img)
    got = all_engines(k, img, footprint=DISK, mode=mode, inputs={"g": g})
    wa, wb = windows(img, DISK, mode), windows(g, DISK, mode)
    a = wa - wa.mean(axis=-1, keepdims=True)
    b = wb - wb.mean(axis=-1, keepdims=True)
    want = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # an image correlates perfectly with itself and an affine function of itself
    np.testing.assert_allclose(k.filter(img, size=3, inputs={"g": 3 * img + 1}), 1.0, rtol=1e-9)


def test_at_of_a_named_input(img, guide):
    k = jf.compile("at(g, 2, 1) - at(g, -1, -2) + c", inputs=("g",))
    got = all_engines(k, img, size=1, mode="mirror", inputs={"g": guide})
    want = shifted(guide, 2, 1, "mirror") - shifted(guide, -1, -2, "mirror") + img
    np.testing.assert_array_equal(got, want)


def test_two_inputs_and_a_tuple(img, guide):
    rng = np.random.default_rng(4)
    m = rng.uniform(-1, 1, img.shape)
    k = jf.compile("(max(g), min(m), sum(w) - sum(m))", inputs=("g", "m"))
    got = all_engines(k, img, size=3, inputs={"m": m, "g": guide})
    np.testing.assert_array_equal(got[..., 0], ndi.maximum_filter(guide, size=3))
    np.testing.assert_array_equal(got[..., 1], ndi.minimum_filter(m, size=3))
    np.testing.assert_allclose(
        got[..., 2], ndi.correlate(img, np.ones((3, 3))) - ndi.correlate(m, np.ones((3, 3))), rtol=1e-10, atol=1e-10
    )


def test_inputs_of_other_dtypes_are_read_exactly(img, guide):
    """Mixed dtypes are all read as float64: the same result as giving float64 arrays."""
    g8 = (guide * 40).astype(np.uint8)
    w16 = (img * 100).astype(np.int16)
    k = jf.compile("sum(g * w) / sum(g) + max(g)", inputs=("g",))
    got = k.filter(w16, size=3, inputs={"g": g8}, output=np.float64)
    want = k.filter(w16.astype(np.float64), size=3, inputs={"g": g8.astype(np.float64)}, output=np.float64)
    np.testing.assert_array_equal(got, want)
    # the output dtype defaults to the main input's
    assert k.filter(w16, size=3, inputs={"g": g8}).dtype == np.int16
    # bool, int64 and non-contiguous inputs are converted as the main input is
    gb = guide[::-1, ::1] > 1.5
    got = k.filter(img, size=3, inputs={"g": gb})
    np.testing.assert_array_equal(got, k.filter(img, size=3, inputs={"g": gb.astype(np.float64)}))


def test_declared_but_unused_and_given_but_unread_inputs(img, guide):
    k = jf.compile("max(w)", inputs=("g",))
    want = ndi.maximum_filter(img, size=3)
    np.testing.assert_array_equal(k.filter(img, size=3), want)
    np.testing.assert_array_equal(k.filter(img, size=3, inputs={"g": guide}), want)


def test_one_shot_helper_declares_its_inputs(img, guide):
    got = jf.filter(img, "max(g) - c", size=3, inputs={"g": guide})
    np.testing.assert_array_equal(got, ndi.maximum_filter(guide, size=3) - img)


# -- channels --------------------------------------------------------------------------------


def test_colour_channels_indexed(rgb):
    k = jf.compile("(max(w[0]), max(w[1]), max(w[2]))")
    assert k.indexes_channels
    got = all_engines(k, rgb, size=3, channel_axis=-1)
    assert got.shape == rgb.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got, ndi.maximum_filter(rgb, size=(3, 3, 1)))
    one = jf.filter(rgb, "max(w[1])", size=3, channel_axis=-1)
    assert one.shape == rgb.shape[:2] + (1,)
    np.testing.assert_array_equal(one[..., 0], ndi.maximum_filter(rgb[..., 1], size=3))
    # the last axis by its positive number
    np.testing.assert_array_equal(jf.filter(rgb, "max(w[1])", size=3, channel_axis=2), one)


def test_unindexed_program_runs_per_channel(rgb):
    got = all_engines(jf.compile("max(w)"), rgb, footprint=DISK, channel_axis=-1)
    assert got.shape == rgb.shape
    fp3 = DISK[..., None]
    np.testing.assert_array_equal(got, ndi.maximum_filter(rgb, footprint=fp3))
    # a single channel keeps its axis
    got1 = jf.filter(rgb[..., :1], "max(w)", footprint=DISK, channel_axis=-1)
    assert got1.shape == rgb.shape[:2] + (1,)


def test_joint_colour_expressions(rgb):
    f = rgb.astype(np.float64)
    got = jf.filter(rgb, "mean(w[0] + w[1] + w[2]) / channels", size=3, mode="nearest", channel_axis=-1, output=np.float64)
    want = ndi.uniform_filter(f.sum(-1), size=3, mode="nearest") / 3
    np.testing.assert_allclose(got[..., 0], want, rtol=1e-12)
    # distance to the centre colour, jointly over channels
    src = "let d = abs(w[0]-c[0]) + abs(w[1]-c[1]) + abs(w[2]-c[2]); count(d < 40)"
    got = all_engines(jf.compile(src), rgb, size=3, mode="reflect", channel_axis=-1, output=np.float64)
    win = sliding_window_view(np.pad(f, [(1, 1), (1, 1), (0, 0)], mode="symmetric"), (3, 3), axis=(0, 1))
    d = np.abs(win - f[..., None, None]).sum(axis=2)
    np.testing.assert_array_equal(got[..., 0], (d < 40).sum(axis=(-2, -1)))


def test_named_inputs_with_channels(rgb, guide):
    g2 = guide[:21, :26]
    k = jf.compile("sum(g * w) / sum(g)", inputs=("g",))
    f = rgb.astype(np.float64)
    ones = np.ones((3, 3))
    # one shared guide (no channel axis, or one channel), per-channel image
    shared = k.filter(rgb, size=3, inputs={"g": g2}, channel_axis=-1, output=np.float64)
    assert shared.shape == rgb.shape
    for j in range(3):
        want = ndi.correlate(f[..., j] * g2, ones) / ndi.correlate(g2, ones)
        np.testing.assert_allclose(shared[..., j], want, rtol=1e-11)
    again = k.filter(rgb, size=3, inputs={"g": g2[..., None]}, channel_axis=-1, output=np.float64)
    np.testing.assert_array_equal(again, shared)
    # a guide of as many channels is paired channel by channel
    g3 = np.stack([g2, g2 * 2 + 1, 1 / g2], axis=-1)
    paired = k.filter(rgb, size=3, inputs={"g": g3}, channel_axis=-1, output=np.float64)
    for j in range(3):
        want = ndi.correlate(f[..., j] * g3[..., j], ones) / ndi.correlate(g3[..., j], ones)
        np.testing.assert_allclose(paired[..., j], want, rtol=1e-11)
    # indexed channels of a named input
    k2 = jf.compile("max(g[2]) + c[0]", inputs=("g",))
    got = k2.filter(rgb, size=3, inputs={"g": g3}, channel_axis=-1, output=np.float64)
    np.testing.assert_array_equal(got[..., 0], ndi.maximum_filter(g3[..., 2], size=3) + f[..., 0])


def test_at_of_a_channel(rgb):
    got = jf.filter(rgb, "at(w[2], 1, 0) - at(w[0], 0, -1)", size=1, mode="wrap", channel_axis=-1, output=np.float64)
    f = rgb.astype(np.float64)
    want = np.roll(f[..., 2], -1, axis=1) - np.roll(f[..., 0], 1, axis=0)
    np.testing.assert_array_equal(got[..., 0], want)


# -- introspection and pickling --------------------------------------------------------------


def test_introspection():
    k = jf.compile("(max(w[0]) - c[2] + at(g, 1, -2), sum(g * w[1]))", inputs=("g", "m"))
    assert k.inputs == ("g", "m")
    assert k.outputs == 2
    assert k.indexes_channels
    assert k.points == ((0, -2, 1),)
    assert ("g", None) in k.planes and k.planes[0] == ("w", None)
    assert {"w[0]", "c[2]", "at(g, 1, -2)", "g", "w[1]"} <= set(k.builtins)
    assert "inputs=('g', 'm')" in repr(k)
    plain = jf.compile("max(w)")
    assert (plain.inputs, plain.outputs, plain.points, plain.indexes_channels) == ((), 1, (), False)
    assert set(plain.builtins) == {"w"}


def test_halo_and_dask_depth_agree():
    import jitfilter.dask as jfd

    k = jf.compile("at(w, -5, 2) + at(w, 0, 0, 3) + max(w)")
    assert k.points == ((0, 2, -5), (3, 0, 0))
    fp = np.ones((3, 5))
    assert k.halo(fp, 2) == ((1, 5), (2, 2))
    assert k.halo(fp, 3, origin=(0, 1, -2)) == ((0, 2, 5), (3, 2, 4))
    assert k.halo(fp, 3, origin=(0, 1, -2)) == jfd.depth(fp, [0, 1, -2], 3, k.points)
    # offsets along axes the array does not have are not part of its halo
    assert k.halo(ndim=1, size=1) == ((5,), (0,))
    with pytest.raises(ValueError, match="ndim"):
        k.halo(size=3)


def test_inputs_may_be_given_as_one_name_or_a_mapping(img, guide):
    assert jf.compile("max(g)", inputs="g").inputs == ("g",)
    assert jf.compile("max(g) + min(h)", inputs={"g": guide, "h": guide}).inputs == ("g", "h")


@pytest.mark.parametrize("src, inputs", [("max(g)", ("g",)), ("max(w[0])", ()), ("at(w, 1, 0)", ()), ("(max(w), min(w))", ())])
def test_cranelift_ir_of_programs_the_callback_refuses(src, inputs):
    """The IR has the row function, and says why there is no callback."""
    ir = jf.compile(src, inputs=inputs).cranelift_ir()
    assert "; fused row function\nfunction" in ir
    assert "scipy callback takes one window of one input" in ir


def test_pickle_keeps_inputs(img, guide):
    k = jf.compile("param t = 1; sum(g * w) / sum(g) + t", inputs=("g",), params={"t": 2})
    k2 = pickle.loads(pickle.dumps(k))
    assert k2 == k and hash(k2) == hash(k) and k2.inputs == ("g",)
    assert k != jf.compile(k.source, params={"t": 2}, inputs=("g", "h"))
    np.testing.assert_array_equal(k2.filter(img, size=3, inputs={"g": guide}), k.filter(img, size=3, inputs={"g": guide}))


def test_single_input_results_unchanged(img):
    """The single-input path is the same call as before: results equal the scipy oracle."""
    np.testing.assert_array_equal(jf.filter(img, "max(w)", size=3), ndi.maximum_filter(img, size=3))
    np.testing.assert_array_equal(jf.filter(img, "max(w)", size=3, inputs={}), ndi.maximum_filter(img, size=3))


# -- errors ----------------------------------------------------------------------------------


def test_undeclared_input_says_how_to_declare(img, guide):
    k = jf.compile("max(w)")
    with pytest.raises(ValueError, match=r"`g` was not declared.*inputs=\('g',\)"):
        k.filter(img, size=3, inputs={"g": guide})
    k = jf.compile("max(g)", inputs=("g",))
    with pytest.raises(ValueError, match=r"it declares g\).*inputs=\('g', 'h'\)"):
        k.filter(img, size=3, inputs={"g": guide, "h": guide})
    with pytest.raises(ValueError, match="main input"):
        k.filter(img, size=3, inputs={"w": guide})
    with pytest.raises(TypeError, match="mapping"):
        k.filter(img, size=3, inputs=[guide])


def test_unknown_name_in_the_program(img):
    with pytest.raises(jf.KernelError) as e:
        jf.compile("sum(gg * w) / sum(w)", inputs=("g",))
    msg = str(e.value)
    assert "unknown name `gg`" in msg and "^^" in msg
    assert "did you mean `g`?" in msg
    assert 'inputs=("gg",)' in msg
    assert (e.value.offset, e.value.end_offset) == (5, 7)
    with pytest.raises(jf.KernelError, match="unknown name `g`"):
        jf.compile("max(g)")


def test_bad_input_names():
    with pytest.raises(ValueError, match="named twice"):
        jf.compile("max(g)", inputs=("g", "g"))
    with pytest.raises(ValueError, match="cannot name an input"):
        jf.compile("max(w)", inputs=("max",))
    with pytest.raises(ValueError, match="cannot name an input"):
        jf.compile("max(w)", inputs=("2g",))
    with pytest.raises(ValueError, match="cannot name an input"):
        jf.compile("max(w)", inputs=("w",))
    with pytest.raises(TypeError, match="str"):
        jf.compile("max(w)", inputs=(3,))


def test_missing_and_mismatched_inputs(img, guide):
    k = jf.compile("sum(g * w)", inputs=("g",))
    with pytest.raises(ValueError, match="reads input `g`, but no input of that name was given"):
        k.filter(img, size=3)
    with pytest.raises(ValueError, match=r"`g` has shape \[23, 28\], but the image `w` has shape \[23, 29\]"):
        k.filter(img, size=3, inputs={"g": guide[:, :-1]})
    rgb = np.zeros((23, 29, 3))
    with pytest.raises(ValueError, match=r"`g` has shape \[22, 29, 2\], but the image `w` has shape \[23, 29\]"):
        k.filter(rgb, size=3, inputs={"g": np.zeros((22, 29, 2))}, channel_axis=-1)
    with pytest.raises(ValueError, match="per-channel filtering needs the same count"):
        k.filter(rgb, size=3, inputs={"g": np.zeros((23, 29, 2))}, channel_axis=-1)
    with pytest.raises(TypeError, match="complex"):
        k.filter(img, size=3, inputs={"g": guide.astype(complex)})


def test_channel_errors(rgb):
    with pytest.raises(jf.KernelError) as e:
        jf.filter(rgb, "max(w[3])", size=3, channel_axis=-1)
    assert "out of range" in str(e.value) and "^" in str(e.value)
    with pytest.raises(jf.KernelError, match="must say which"):
        jf.filter(rgb, "max(w) + c[0]", size=3, channel_axis=-1)
    with pytest.raises(jf.KernelError, match="values per pixel"):
        jf.filter(rgb, "(max(w), min(w))", size=3, channel_axis=-1)
    with pytest.raises(ValueError, match=r"channel_axis=0 is not supported.*np\.moveaxis"):
        jf.filter(rgb, "max(w)", size=3, channel_axis=0)
    with pytest.raises(TypeError, match="channel_axis"):
        jf.filter(rgb, "max(w)", size=3, channel_axis="last")
    with pytest.raises(ValueError, match="1 to 32 dimensions plus the channel axis"):
        jf.filter(np.zeros((1,) * 33 + (3,)), "max(w)", size=3, channel_axis=-1)
    # Four axes and channels are fine: each channel filtered in turn.
    four = np.random.default_rng(1).uniform(0, 1, (2, 3, 2, 4, 3))
    got = jf.filter(four, "max(w)", size=3, channel_axis=-1)
    for j in range(3):
        np.testing.assert_array_equal(got[..., j], jf.filter(four[..., j], "max(w)", size=3))
    # without channel_axis an index reads channel j of a one-channel image: only w[0] exists
    with pytest.raises(jf.KernelError, match="out of range"):
        jf.filter(rgb[..., 0], "max(w[1])", size=3)


def test_language_errors_with_carets():
    for src, what in [
        ("at(w, x, 0)", "whole number"),
        ("max((w, c))", "a tuple can only be the program's result"),
        ("((max(w), 1), 2)", "a tuple can only be the program's result"),
        ("at(max(w), 1, 0)", "reads an input"),
        ("at(w, 1)", "argument"),
    ]:
        with pytest.raises(jf.KernelError, match=what) as e:
            jf.compile(src)
        assert "^" in str(e.value), src


@pytest.mark.parametrize(
    "src, inputs, why",
    [
        ("sum(g * w)", ("g",), "reads the named input `g`"),
        ("max(w[0])", (), "reads channels"),
        ("at(w, 1, 0) - c", (), "outside the window"),
        ("(max(w), min(w))", (), "returns 2 values per pixel"),
    ],
)
def test_scipy_callback_refuses_what_its_abi_cannot_carry(img, src, inputs, why):
    k = jf.compile(src, inputs=inputs)
    with pytest.raises(ValueError, match=f"scipy callback.*{why}") as e:
        k.low_level_callable(size=3, shape=img.shape)
    assert "filter with jitfilter itself" in str(e.value)
    with pytest.raises(ValueError, match=why):
        k.callback_address
    with pytest.raises(ValueError, match=why):
        k.filter(img, size=3, inputs={"g": img} if inputs else None, channel_axis=None, engine="callback")


def test_plain_kernels_keep_their_callback(img):
    k = jf.compile("max(w) - c", inputs=("g",))  # declared, never read
    llc = k.low_level_callable(size=3, shape=img.shape)
    np.testing.assert_array_equal(ndi.generic_filter(img, llc, size=3), ndi.maximum_filter(img, size=3) - img)


# -- Dask ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_array():
    return pytest.importorskip("dask.array")


# Arrays over several units of the core's grid (64 rows, 512 columns), so that chunks cut them.
@pytest.fixture(scope="module")
def wimg():
    return np.random.default_rng(14).uniform(-20, 80, (140, 1050))


@pytest.fixture(scope="module")
def wguide():
    return np.random.default_rng(15).uniform(0.5, 3.0, (140, 1050))


@pytest.fixture(scope="module")
def wrgb():
    return np.random.default_rng(16).integers(0, 256, (130, 1030, 3)).astype(np.uint8)


CHUNKINGS = [(10, 100), (64, 512), (70, 1000), (140, 1050)]


@pytest.mark.parametrize("mode", MODES)
def test_dask_offsets_beyond_the_footprint(dask_array, wimg, mode):
    """at() offsets larger than the footprint's radius: the halo must include them."""
    import dask

    da = dask_array
    import jitfilter.dask as jfd

    lazies, wants = [], []
    for src, size, origin in [
        ("at(w, 4, -3) - max(w)", 3, 0),
        ("at(w, -6, 0) + at(w, 0, 5) * mean(w)", (3, 1), (1, 0)),
        ("(at(w, 2, 2), min(w))", 1, 0),
    ]:
        k = jf.compile(src)
        whole = k.filter(wimg, size=size, mode=mode, cval=9.0, origin=origin)
        for chunks in CHUNKINGS:
            x = da.from_array(wimg, chunks=chunks)
            lazies.append(jfd.filter(x, k, size=size, mode=mode, cval=9.0, origin=origin))
            wants.append(whole)
    for i, (got, want) in enumerate(zip(dask.compute(*lazies, scheduler="sync"), wants)):
        assert got.shape == want.shape and got.dtype == want.dtype, i
        assert got.tobytes() == want.tobytes(), i


@pytest.mark.parametrize("mode", ["reflect", "constant", "wrap", "mirror"])
def test_dask_named_inputs(dask_array, wimg, wguide, mode):
    import dask

    da = dask_array
    import jitfilter.dask as jfd

    img, guide = wimg, wguide
    m = (guide > 1.5).astype(np.uint8)
    k = jf.compile("if at(m, 1, 0) > 0 then sum(g * w) / sum(g) else at(g, -2, 1)", inputs=("g", "m"))
    whole = k.filter(img, footprint=DISK, mode=mode, cval=1.0, inputs={"g": guide, "m": m})
    lazies = []
    for chunks, gchunks in [((50, 600), (70, 400)), ((64, 512), (140, 1050)), ((140, 80), (20, 20))]:
        x = da.from_array(img, chunks=chunks)
        # a dask guide in other chunks, a numpy mask
        g = da.from_array(guide, chunks=gchunks)
        y = jfd.filter(x, k, footprint=DISK, mode=mode, cval=1.0, inputs={"g": g, "m": m})
        lazies.append(y)
    # the one-shot form declares the inputs itself
    lazies.append(
        jfd.filter(
            da.from_array(img, chunks=60), k.source, footprint=DISK, mode=mode, cval=1.0, inputs={"g": guide, "m": m}
        )
    )
    for got in dask.compute(*lazies, scheduler="sync"):
        assert got.tobytes() == whole.tobytes()


def test_dask_tuple_outputs(dask_array, wimg):
    da = dask_array
    import jitfilter.dask as jfd

    img = wimg
    k = jf.compile("(mean(w), std(w), at(w, 3, 0))")
    whole = k.filter(img, footprint=DISK, mode="mirror")
    x = da.from_array(img, chunks=(64, 512))
    y = jfd.filter(x, k, footprint=DISK, mode="mirror")
    assert y.shape == img.shape + (3,)
    assert y.chunks == x.chunks + ((3,),)
    assert y.compute(scheduler="sync").tobytes() == whole.tobytes()
    # float32 output, integer input
    a = (img + 20).astype(np.uint8)
    whole = k.filter(a, size=3, output=np.float32)
    got = jfd.filter(da.from_array(a, chunks=40), k, size=3, output=np.float32).compute(scheduler="sync")
    assert got.dtype == np.float32 and got.tobytes() == whole.tobytes()


@pytest.mark.parametrize("mode", ["reflect", "constant", "nearest"])
def test_dask_channels(dask_array, wrgb, wguide, mode):
    import dask

    da = dask_array
    import jitfilter.dask as jfd

    rgb = wrgb
    g2 = wguide[:130, :1030]
    cases = [
        ("max(w)", {}, None),
        ("(max(w[0]), at(w[2], 2, -1), mean(w[1]))", {}, np.float64),
        ("sum(g * w) / sum(g)", {"g": g2}, np.float64),
        ("sum(g * w) / sum(g)", {"g": np.stack([g2, g2 + 1, g2 * 3], -1)}, np.float64),
        ("x + 100 * y + width + max(g[1]) + c[0]", {"g": np.stack([g2, g2 + 1], -1)}, np.float64),
    ]
    lazies, wants = [], []
    for src, inputs, out in cases:
        k = jf.compile(src, inputs=tuple(inputs))
        whole = k.filter(rgb, footprint=DISK, mode=mode, cval=3.0, inputs=inputs, channel_axis=-1, output=out)
        for chunks in [(40, 500, 1), (130, 300, 2), (20, 1030, 3)]:
            x = da.from_array(rgb, chunks=chunks)
            # named inputs in other chunks, their channel axis cut too
            named = {n: da.from_array(a, chunks=(30, 400, 1)[: a.ndim]) for n, a in inputs.items()}
            y = jfd.filter(x, k, footprint=DISK, mode=mode, cval=3.0, inputs=named, channel_axis=-1, output=out)
            assert y.shape == whole.shape
            lazies.append(y)
            wants.append(whole)
    for i, (got, want) in enumerate(zip(dask.compute(*lazies, scheduler="sync"), wants)):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), i


def test_dask_3d_with_inputs_and_offsets(dask_array):
    da = dask_array
    import jitfilter.dask as jfd

    rng = np.random.default_rng(9)
    a = rng.uniform(0, 1, (6, 70, 530))
    g = rng.uniform(1, 2, (6, 70, 530))
    k = jf.compile("(at(g, 1, -2, 3) + x + 10 * z, median(w) * mean(g))", inputs=("g",))
    for mode in ("reflect", "constant", "wrap"):
        whole = k.filter(a, size=3, mode=mode, inputs={"g": g})
        got = jfd.filter(da.from_array(a, chunks=(2, 30, 400)), k, size=3, mode=mode, inputs={"g": g})
        assert got.compute(scheduler="sync").tobytes() == whole.tobytes(), mode


def test_dask_errors_before_computing(dask_array, img, guide, rgb):
    da = dask_array
    import jitfilter.dask as jfd

    x = da.from_array(img, chunks=5)
    k = jf.compile("sum(g * w)", inputs=("g",))
    with pytest.raises(ValueError, match="not declared"):
        jfd.filter(x, jf.compile("max(w)"), size=3, inputs={"g": guide})
    with pytest.raises(ValueError, match=r"has shape \[23, 28\], but the image `w` has shape \[23, 29\]"):
        jfd.filter(x, k, size=3, inputs={"g": guide[:, 1:]})
    with pytest.raises(ValueError, match="no input of that name"):
        jfd.filter(x, k, size=3)
    with pytest.raises(ValueError, match=r"`g` has shape \[21, 25, 3\], but the image `w` has shape \[21, 26\]"):
        jfd.filter(da.from_array(rgb, chunks=5), k, size=3, inputs={"g": rgb[:, 1:]}, channel_axis=-1)
    with pytest.raises(ValueError, match="per-channel filtering needs the same count"):
        jfd.filter(da.from_array(rgb, chunks=5), k, size=3, inputs={"g": rgb[..., :2]}, channel_axis=-1)
    with pytest.raises(jf.KernelError, match="out of range"):
        jfd.filter(da.from_array(rgb, chunks=5), "max(w[5])", size=3, channel_axis=-1)
    with pytest.raises(ValueError, match="channel_axis=1"):
        jfd.filter(da.from_array(rgb, chunks=5), "max(w)", size=3, channel_axis=1)
    with pytest.raises(ValueError, match="scipy callback"):
        jfd.filter(x, k, size=3, inputs={"g": guide}, engine="callback")


def test_dask_on_a_cluster_with_inputs(cluster_client, wimg, wguide):
    da = pytest.importorskip("dask.array")
    import jitfilter.dask as jfd

    k = jf.compile("param t = 0; (sum(g * w) / sum(g) + t, at(g, 3, -3))", inputs=("g",), params={"t": 0.5})
    img, guide = wimg, wguide
    whole = k.filter(img, size=3, mode="wrap", inputs={"g": guide})
    lazy = jfd.filter(
        da.from_array(img, chunks=(64, 512)), k, size=3, mode="wrap", inputs={"g": da.from_array(guide, chunks=100)}
    )
    got = cluster_client.compute(lazy).result()
    assert got.tobytes() == whole.tobytes()
