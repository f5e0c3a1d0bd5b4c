"""`stage NAME = EXPR;`: images made over the whole array before the result, equal to chained
scipy.ndimage calls in process; the halo adds up the passes; Dask runs them pass by pass."""

import numpy as np
import pytest
from scipy import ndimage as ndi

import jitfilter as jf

DISK2 = np.array(
    [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]], bool
)


@pytest.fixture(scope="module")
def img():
    return np.random.default_rng(12).integers(0, 256, (40, 37)).astype(np.float64)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap"])
def test_opening_and_top_hat_equal_scipy(img, mode):
    k = jf.compile("stage e = min(w); max(e)")
    want = ndi.grey_opening(img, footprint=DISK2, mode=mode)
    np.testing.assert_array_equal(k.filter(img, footprint=DISK2, mode=mode), want)
    k = jf.compile("stage e = min(w); stage o = max(e); c - at(o)")
    want = ndi.white_tophat(img, footprint=DISK2, mode=mode)
    np.testing.assert_array_equal(k.filter(img, footprint=DISK2, mode=mode), want)


def test_halo_adds_up_the_passes():
    k = jf.compile("stage e = min(w); stage o = max(e); c - at(o, 2, 0)")
    # Three passes of a radius-2 footprint, and the offset two columns right in the last.
    assert k.halo(DISK2) == ((6, 6), (6, 6))
    assert jf.compile("stage e = min(w); max(e)").halo(DISK2) == ((4, 4), (4, 4))


def test_dask_runs_stages_pass_by_pass(img):
    # Each stage is a dask array over the whole array, made with its own halo and the mode at
    # the outer edges, as the whole-array filter makes it (test_dask.py has the full matrix).
    da = pytest.importorskip("dask.array")
    import jitfilter.dask as jfd

    x = da.from_array(img, chunks=(5, 6))
    for src in ("stage e = min(w); max(e)", "stage e = min(w); stage o = max(e); c - at(o)"):
        k = jf.compile(src)
        for mode in ("reflect", "constant"):
            got = jfd.filter(x, k, footprint=DISK2, mode=mode, cval=9.0).compute(scheduler="sync")
            want = k.filter(img, footprint=DISK2, mode=mode, cval=9.0, engine="fused")
            assert got.tobytes() == want.tobytes(), (src, mode)


def test_a_pass_run_alone_reads_earlier_passes_as_inputs(img):
    k = jf.compile("stage e = min(w); stage o = max(e); c - at(o)")
    assert [n for n, _ in k.passes] == ["e", "o", ""]
    made = {}
    for name, p in k.passes:
        made[name] = p.filter(img, footprint=DISK2, mode="mirror", inputs=made, output=np.float64)
    np.testing.assert_array_equal(made["o"], ndi.grey_opening(img, footprint=DISK2, mode="mirror"))
    np.testing.assert_array_equal(made[""], k.filter(img, footprint=DISK2, mode="mirror"))
    # a pass reads only what the passes before it made
    with pytest.raises(ValueError, match="not declared"):
        k.passes[0][1].filter(img, footprint=DISK2, inputs={"o": img})


def test_the_callback_refuses_stages():
    with pytest.raises(ValueError, match="stages"):
        jf.compile("stage e = min(w); max(e)").low_level_callable()
