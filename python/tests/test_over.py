"""`EXPR over SPEC`: reductions over footprints of their own, in process equal to chained
scipy.ndimage calls; the passes a program runs (Kernel.passes, .footprint, .halo); the scipy
callback refuses them; Dask runs them pass by pass, equal to the whole-array filter."""

import pickle

import numpy as np
import pytest
from scipy import ndimage as ndi

import jitfilter as jf

SCIPY_MODES = ["reflect", "mirror", "nearest", "wrap", "constant"]

DOB = "mean(w) over box:3 - mean(w) over box:9"
OPENING = "stage e = min(w) over disk:5; max(e) over disk:5"
GUIDED = (
    "param eps = 100; "
    "stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; "
    "stage b = (mean(w) - at(a) * mean(g)) over box:9; "
    "(mean(a) * at(g) + mean(b)) over box:9"
)


def disk(r):
    """skimage.morphology.disk(r)."""
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


@pytest.fixture(scope="module")
def img():
    return np.random.default_rng(21).uniform(0, 255, (41, 38))


@pytest.fixture(scope="module")
def guide():
    return np.random.default_rng(22).uniform(0, 255, (41, 38))


def guided_reference(p, i, r, eps, mode, cval=0.0):
    """He et al.'s guided filter (guide i, input p) with scipy's uniform_filter of size 2r+1."""

    def box(a, cval=cval):
        return ndi.uniform_filter(a, 2 * r + 1, mode=mode, cval=cval)

    # Each stage is filtered as a whole image with the same mode: the means of a and b too.
    # Outside the array (mode constant) a product of windows reads cval * cval.
    mi, mp = box(i), box(p)
    a = (box(i * p, cval * cval) - mi * mp) / (box(i * i, cval * cval) - mi * mi + eps)
    b = mp - a * mi
    return box(a) * i + box(b)


# -- in process against scipy ------------------------------------------------------------------


@pytest.mark.parametrize("mode", SCIPY_MODES)
def test_difference_of_boxes_equals_two_uniform_filters(img, mode):
    k = jf.compile(DOB)
    want = ndi.uniform_filter(img, 3, mode=mode, cval=2.5) - ndi.uniform_filter(img, 9, mode=mode, cval=2.5)
    for engine in ("auto", "fused"):
        got = k.filter(img, mode=mode, cval=2.5, engine=engine)  # no footprint needed
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # a command footprint is ignored: every reduction sets its own
    np.testing.assert_array_equal(k.filter(img, size=5, mode=mode, cval=2.5), k.filter(img, mode=mode, cval=2.5))


@pytest.mark.parametrize("mode", SCIPY_MODES)
def test_opening_over_disk_equals_grey_opening(img, mode):
    want = ndi.grey_opening(img, footprint=disk(5), mode=mode, cval=7.0)
    got = jf.compile(OPENING).filter(img, mode=mode, cval=7.0)
    np.testing.assert_array_equal(got, want)
    # the same with the command's footprint, for one pass or both
    for src in ("stage e = min(w) over disk:5; max(e)", "stage e = min(w); max(e)"):
        got = jf.compile(src).filter(img, footprint=disk(5), mode=mode, cval=7.0)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", SCIPY_MODES)
def test_gaussian_over_equals_gaussian_filter(img, mode):
    got = jf.compile("sum(k * w) over gauss:2").filter(img, size=3, mode=mode, cval=1.5)
    np.testing.assert_allclose(got, ndi.gaussian_filter(img, 2, mode=mode, cval=1.5), rtol=0, atol=1e-12)
    got = jf.compile("sum(k * w) over gauss:1.5,3").filter(img, mode=mode, cval=1.5)
    want = ndi.gaussian_filter(img, (1.5, 3), mode=mode, cval=1.5)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # a difference of Gaussians: two stages of different footprints, one of them implicit
    got = jf.compile("sum(k * w) over gauss:1 - sum(k * w) over gauss:3").filter(img, mode=mode, cval=1.5)
    want = ndi.gaussian_filter(img, 1, mode=mode, cval=1.5) - ndi.gaussian_filter(img, 3, mode=mode, cval=1.5)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", SCIPY_MODES)
def test_guided_filter_equals_uniform_filters(img, guide, mode):
    k = jf.compile(GUIDED, inputs=("g",))
    got = k.filter(img, inputs={"g": guide}, mode=mode, cval=3.0)
    want = guided_reference(img, guide, 4, 100.0, mode, 3.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    got = k.filter(img, inputs={"g": guide}, mode=mode, cval=3.0, params={"eps": 5.0})
    np.testing.assert_allclose(got, guided_reference(img, guide, 4, 5.0, mode, 3.0), rtol=0, atol=1e-9)


def test_over_overrides_the_command_footprint(img):
    k = jf.compile("max(w) over disk:5")
    want = ndi.maximum_filter(img, footprint=disk(5))
    np.testing.assert_array_equal(k.filter(img, size=3), want)
    np.testing.assert_array_equal(k.filter(img), want)
    # a reduction without `over` still needs the command's footprint
    with pytest.raises(RuntimeError, match="no footprint"):
        jf.compile("max(w) over disk:5 - min(w)").filter(img)
    got = jf.compile("max(w) over disk:5 - min(w)").filter(img, size=3)
    np.testing.assert_array_equal(got, want - ndi.minimum_filter(img, 3))


def test_u8_in_u8_out(img):
    a = img.astype(np.uint8)
    got = jf.compile(DOB).filter(a)
    assert got.dtype == np.uint8
    want = ndi.uniform_filter(a.astype(float), 3) - ndi.uniform_filter(a.astype(float), 9)
    np.testing.assert_array_equal(got, np.clip(np.rint(want), 0, 255).astype(np.uint8))


# -- introspection -----------------------------------------------------------------------------


def test_footprint_and_passes():
    assert jf.compile("max(w)").footprint is None
    assert jf.compile("max(w) over disk:5").footprint == "disk:5"
    assert jf.compile("sum(k * w) over gauss:1.5,3").footprint == "gauss:1.5,3"
    k = jf.compile(DOB)
    names = [n for n, _ in k.passes]
    assert names == ["mean(w) over box:3", ""]
    assert [p.footprint for _, p in k.passes] == ["box:3", "box:9"]
    assert k.footprint == "box:9"
    g = jf.compile(GUIDED, inputs=("g",))
    assert [n for n, _ in g.passes] == ["a", "b", ""]
    assert [p.footprint for _, p in g.passes] == ["box:9"] * 3
    assert [p.inputs for _, p in g.passes] == [("g",), ("g", "a"), ("g", "a", "b")]
    assert [p.param_defaults for _, p in g.passes] == [{"eps": 100.0}] * 3
    # a program without stages is one pass: itself
    m = jf.compile("max(w)")
    ((name, p),) = m.passes
    assert name == "" and p.passes == ((name, p),)
    # at() offsets per pass
    s = jf.compile("stage e = mean(w) + at(w, 1, 0); at(e, 0, -2) - c")
    assert [p.points for _, p in s.passes] == [((0, 0, 1),), ((0, -2, 0),)]


def test_halo_of_over_and_stages():
    fp3 = np.ones((3, 3))
    # the pass's own footprint, not the command's
    assert jf.compile("max(w) over disk:5").halo(fp3) == ((5, 5), (5, 5))
    assert jf.compile("max(w) over disk:5").halo(ndim=2) == ((5, 5), (5, 5))
    assert jf.compile("max(w) over rect:7x3").halo(ndim=2) == ((1, 3), (1, 3))
    # passes add up
    assert jf.compile(DOB).halo(ndim=2) == ((5, 5), (5, 5))
    assert jf.compile(OPENING).halo(ndim=2) == ((10, 10), (10, 10))
    assert jf.compile(GUIDED, inputs=("g",)).halo(ndim=2) == ((12, 12), (12, 12))
    assert jf.compile("sum(k * w) over gauss:2").halo(ndim=2) == ((8, 8), (8, 8))
    # a 2-D footprint on a 3-D array reaches along the last two axes; box:N along all
    assert jf.compile("max(w) over disk:2 + min(w) over box:3").halo(ndim=3) == ((1, 3, 3), (1, 3, 3))
    # passes of their own footprint beside one of the command's
    k = jf.compile("stage e = max(w) over disk:2; min(e) + at(e, 4, 0)")
    assert k.halo(fp3) == ((3, 3), (3, 6))
    # the origin moves every footprint: down one row, disk:2 reads rows -3..1, fp3 -2..0
    assert k.halo(fp3, origin=(1, 0)) == ((5, 3), (1, 6))
    with pytest.raises(RuntimeError, match="no footprint"):
        k.halo(ndim=2)
    # each pass's own halo
    assert [p.halo(fp3) for _, p in k.passes] == [((2, 2), (2, 2)), ((1, 1), (1, 4))]
    # a disk on a 1-D array is an error
    with pytest.raises(ValueError, match="2-D footprint"):
        jf.compile("max(w) over disk:2").halo(ndim=1)


def test_passes_run_by_hand_equal_filter(img, guide):
    k = jf.compile(GUIDED, inputs=("g",), params={"eps": 50})
    made = {}
    for name, p in k.passes:
        out = p.filter(img, inputs={"g": guide, **made}, mode="wrap", output=np.float64)
        made[name] = out
    np.testing.assert_array_equal(made[""], k.filter(img, inputs={"g": guide}, mode="wrap"))
    # a tuple stage is handed on as an array with a last axis of its values
    t = jf.compile("stage s = (min(w), max(w)); at(s[1]) - mean(s[0])")
    (sname, sp), (_, rp) = t.passes
    s = sp.filter(img, size=3, output=np.float64)
    assert s.shape == img.shape + (2,)
    np.testing.assert_array_equal(rp.filter(img, size=3, inputs={sname: s}), t.filter(img, size=3))


def test_passes_pickle_and_compare():
    k = jf.compile(GUIDED, inputs=("g",), params={"eps": 3})
    for i, (_, p) in enumerate(k.passes):
        q = pickle.loads(pickle.dumps(p))
        assert q == p and hash(q) == hash(p)
        assert q.params == {"eps": 3.0}
        assert q.inputs == p.inputs
        assert repr(q).endswith(f".passes[{i}][1]")
    a, b = k.passes[0][1], k.passes[1][1]
    assert a != b and a != k


# -- what the scipy callback refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    "src, why",
    [
        ("max(w) over disk:5", "over disk:5"),
        ("sum(k * w) over gauss:2", "over gauss:2"),
        (DOB, "stages"),
        (OPENING, "stages"),
        ("stage e = min(w); max(e)", "stages"),
    ],
)
def test_the_callback_refuses_over_and_stages(img, src, why):
    k = jf.compile(src)
    with pytest.raises(ValueError, match=why):
        k.low_level_callable(size=3)
    with pytest.raises(ValueError, match=why):
        k.callback_address  # noqa: B018
    # the callback engine runs each pass through the callback: refused by the first it cannot
    with pytest.raises(ValueError, match="scipy callback"):
        k.filter(img, size=3, engine="callback")


# -- Dask --------------------------------------------------------------------------------------


def test_dask_over_programs_equal_whole():
    da = pytest.importorskip("dask.array")
    import dask

    # Over several units of the core's grid (64 rows, 512 columns), so that chunks cut it.
    rng = np.random.default_rng(23)
    img, guide = rng.uniform(0, 255, (150, 1100)), rng.uniform(0, 255, (150, 1100))

    import jitfilter.dask as jfd

    cases = [
        (DOB, {}, None),
        (OPENING, {}, None),
        ("sum(k * w) over gauss:2", {}, None),
        ("max(w) over disk:5 - min(w)", {}, 3),
        (GUIDED, {"g": guide}, None),
    ]
    lazies, wants, labels = [], [], []
    for src, named, size in cases:
        k = jf.compile(src, inputs=tuple(named))
        for mode in SCIPY_MODES:
            whole = k.filter(img, size=size, inputs=named, mode=mode, cval=4.5)
            for chunks in [((64, 86), (512, 588)), ((3, 20, 1, 100, 26), (700, 400))]:
                x = da.from_array(img, chunks=chunks)
                lazies.append(jfd.filter(x, k, size=size, inputs=named, mode=mode, cval=4.5))
                wants.append(whole)
                labels.append((src, mode, chunks))
    for got, want, label in zip(dask.compute(*lazies, scheduler="sync"), wants, labels):
        assert got.tobytes() == want.tobytes(), label
