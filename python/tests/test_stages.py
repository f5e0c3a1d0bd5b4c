"""`stage NAME = EXPR;`: images made over the whole array before the result, equal to chained
scipy.ndimage calls in process; the halo adds up the passes; Dask refuses stages for now."""

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


def test_dask_refuses_stages_for_now(img):
    # A padded block would compute its stages from padded input at the array's outer edges,
    # where the whole-array stages pad each stage's own result.
    da = pytest.importorskip("dask.array")
    import jitfilter.dask as jfd

    k = jf.compile("stage e = min(w); max(e)")
    with pytest.raises(NotImplementedError, match="stage"):
        jfd.filter(da.from_array(img, chunks=(5, 6)), k, footprint=DISK2)


def test_the_callback_refuses_stages():
    with pytest.raises(ValueError, match="stages"):
        jf.compile("stage e = min(w); max(e)").low_level_callable()
