"""jitfilter.dask: chunked results equal whole-array results byte for byte, for every mode,
footprint, origin and chunking (chunks smaller than the footprint too), and on a
dask.distributed cluster of separate worker processes."""

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import jitfilter as jf  # noqa: E402
import jitfilter.dask as jfd  # noqa: E402
from conftest import MODES  # noqa: E402

KERNELS = [
    "sqrt(var(w))",
    "let m = mean(w); (c - m) / (std(w) + 1e-9) + median(w) + sum(k * dx) - sum(dy * w) / 7",
    "x + 100 * y + width * 1000 + height * 10000 + min(w)",
]

FOOTPRINTS = {
    "box5x3": np.ones((5, 3), bool),
    "line1x9": np.ones((1, 9)),
    "irregular": np.array([[1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 1, 1], [1, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0]], bool),
    "taller_than_array": np.ones((31, 3), bool),
    "weights": np.array([[0.5, 0, 2.0], [1.0, 3.0, 0], [0, -1.5, 4.0]]),
}
ORIGINS = [0, (-1, 0), (1, -1)]
CHUNKS = [(1, 1), (4, 5), (13, 17)]


def valid(fp, origin):
    o = np.broadcast_to(np.asarray(origin), (np.ndim(fp),))
    return all(-(s // 2) <= oo <= (s - 1) // 2 for s, oo in zip(np.shape(fp), o))


@pytest.fixture(scope="module")
def img():
    rng = np.random.default_rng(7)
    a = rng.uniform(-50, 150, (13, 17))
    a[3, 4] = np.nan
    return a


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fp_name", list(FOOTPRINTS))
def test_chunked_equals_whole_byte_for_byte(img, mode, fp_name):
    """Every mode x footprint; each kernel with every origin and chunking, one array per case
    (graphs of all chunkings computed together)."""
    import dask

    fp = FOOTPRINTS[fp_name]
    for expr in KERNELS:
        k = jf.compile(expr)
        wants, lazies, labels = [], [], []
        for origin in ORIGINS:
            if not valid(fp, origin):
                continue
            whole = k.filter(img, footprint=fp, mode=mode, cval=3.5, origin=origin, engine="fused")
            for chunks in CHUNKS:
                x = da.from_array(img, chunks=chunks)
                lazies.append(jfd.filter(x, k, footprint=fp, mode=mode, cval=3.5, origin=origin))
                wants.append(whole)
                labels.append((expr, origin, chunks))
        for got, want, label in zip(dask.compute(*lazies, scheduler="sync"), wants, labels):
            assert got.tobytes() == want.tobytes(), label


@pytest.mark.parametrize("mode", MODES)
def test_integer_dtypes_and_output(mode):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 255, (19, 22)).astype(np.uint8)
    fp = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    for expr in ("mean(w)", "max(w) - c + 128"):
        for output in (None, np.float32, np.int16):
            whole = jf.filter(a, expr, footprint=fp, mode=mode, cval=0.5, output=output, engine="fused")
            got = jfd.filter(da.from_array(a, chunks=(3, 4)), expr, footprint=fp, mode=mode, cval=0.5, output=output)
            assert got.dtype == whole.dtype
            assert got.compute(scheduler="sync").tobytes() == whole.tobytes()


@pytest.mark.parametrize("mode", MODES)
def test_one_and_three_dimensions(mode):
    import dask

    rng = np.random.default_rng(5)
    lazies, wants = [], []
    a1 = rng.uniform(0, 1, 37)
    for fp in (np.ones(5, bool), np.array([1, 0, 0, 1, 1, 1, 0, 1], bool), np.ones(60, bool)):
        for origin in (0, -1, 2):
            if not valid(fp, origin):
                continue
            for expr in ("std(w)", "x + max(w)"):
                whole = jf.filter(a1, expr, footprint=fp, mode=mode, origin=origin, engine="fused")
                for chunks in (1, 4, 37):
                    lazies.append(jfd.filter(da.from_array(a1, chunks=chunks), expr, footprint=fp, mode=mode, origin=origin))
                    wants.append(whole)
    a3 = rng.uniform(0, 1, (5, 6, 7))
    ball = np.zeros((3, 3, 3), bool)
    ball[1, 1, :] = ball[1, :, 1] = ball[:, 1, 1] = True
    for fp, origin in ((ball, 0), (np.ones((2, 3, 4), bool), (0, 1, -2)), (np.ones((1, 3)), 0)):
        for expr in ("mean(w)", "x + 10 * y + 100 * z + depth + sum(dz * w)"):
            whole = jf.filter(a3, expr, footprint=fp, mode=mode, origin=origin, engine="fused")
            for chunks in ((2, 3, 4), (5, 6, 7), (1, 2, 1)):
                lazies.append(jfd.filter(da.from_array(a3, chunks=chunks), expr, footprint=fp, mode=mode, origin=origin))
                wants.append(whole)
    for i, (got, want) in enumerate(zip(dask.compute(*lazies, scheduler="sync"), wants)):
        assert got.tobytes() == want.tobytes(), i


def test_other_engines(img):
    """Every engine whose result does not depend on how the array is cut gives byte equality;
    the planned engine ('auto') agrees to rounding."""
    fp = FOOTPRINTS["irregular"]
    for expr in ("sqrt(var(w))", "max(w)", "mean(w)"):
        k = jf.compile(expr)
        for engine in ("callback", "interpreter"):
            whole = k.filter(img, footprint=fp, mode="wrap", engine=engine)
            got = jfd.filter(da.from_array(img, chunks=(5, 4)), k, footprint=fp, mode="wrap", engine=engine)
            assert got.compute(scheduler="sync").tobytes() == whole.tobytes()
        whole = k.filter(img, footprint=fp, mode="wrap")
        got = jfd.filter(da.from_array(img, chunks=(5, 4)), k, footprint=fp, mode="wrap", engine="auto")
        np.testing.assert_allclose(got.compute(scheduler="sync"), whole, rtol=1e-12, atol=1e-12)


def test_lazy_and_chunks_kept():
    x = da.ones((40, 50), chunks=(10, 25))
    y = jfd.filter(x, "max(w)", size=3)
    assert isinstance(y, da.Array)
    assert y.chunks == x.chunks
    assert y.dtype == x.dtype
    # numpy arrays are accepted and wrapped
    y2 = jfd.filter(np.ones((6, 6)), "max(w)", size=3)
    assert isinstance(y2, da.Array)
    np.testing.assert_array_equal(y2.compute(), np.ones((6, 6)))


def test_errors_are_raised_before_computing():
    x = da.zeros((10, 10), chunks=5)
    with pytest.raises(ValueError, match="origin"):
        jfd.filter(x, "max(w)", size=3, origin=2)
    with pytest.raises(ValueError, match="unknown param"):
        jfd.filter(x, "max(w)", size=3, params={"t": 1})
    with pytest.raises(jf.KernelError, match="maxx"):
        jfd.filter(x, "maxx(w)", size=3)
    with pytest.raises(jf.KernelError, match="needs a z"):
        jfd.filter(x, "z + max(w)", size=3)
    with pytest.raises(RuntimeError, match="boundary mode"):
        jfd.filter(x, "max(w)", size=3, mode="symmetric")
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        jfd.filter(x[x[:, 0] > 0], "max(w)", size=3)
    with pytest.raises(TypeError, match="dtype"):
        jfd.filter(x, "max(w)", size=3, output=np.zeros((10, 10)))


@pytest.mark.parametrize(
    "scipy_mode, numpy_mode", [("reflect", "symmetric"), ("mirror", "reflect"), ("nearest", "edge"), ("wrap", "wrap")]
)
def test_extension_matches_numpy_pad_under_numpys_names(scipy_mode, numpy_mode):
    a = np.arange(30.0).reshape(5, 6)
    x = da.from_array(a, chunks=2)
    lo, hi = (3, 2), (4, 5)
    got = jfd.extend(x, lo, hi, scipy_mode).compute()
    np.testing.assert_array_equal(got, np.pad(a, [(3, 4), (2, 5)], mode=numpy_mode))


def test_extension_beyond_the_array_is_periodic_like_scipy():
    """Extending a 4-element line by far more than its length gives what scipy reads there:
    a window with one cell at offset d, evaluated at position 0, reads position d."""
    from scipy import ndimage as ndi

    a = np.arange(4.0) * 10
    L = 12
    for mode in ("reflect", "mirror", "wrap", "nearest"):
        ext = jfd.extend(da.from_array(a, chunks=1), (L,), (L,), mode).compute()
        M = L + 4  # a footprint wide enough to reach every extended position from output 0
        for pos in range(-L, 4 + L):
            fp = np.zeros(2 * M + 1, bool)
            fp[pos + M] = True
            scipy_value = ndi.generic_filter(a, lambda v: v[0], footprint=fp, mode=mode)[0]
            assert ext[pos + L] == scipy_value, (mode, pos)


def test_depth_of_footprints():
    assert jfd.depth(np.ones((5, 3)), [0, 0], 2) == ((2, 1), (2, 1))
    assert jfd.depth(np.ones((4, 4)), [0, 0], 2) == ((2, 2), (1, 1))
    assert jfd.depth(np.ones((5, 3)), [-2, 1], 2) == ((0, 2), (4, 0))
    assert jfd.depth(np.ones(3), [0, 0], 2) == ((0, 1), (0, 1))
    fp = np.zeros((5, 5))
    fp[0, 4] = 1
    assert jfd.depth(fp, [0, 0], 2) == ((2, 0), (0, 2))


def test_on_a_local_cluster_of_two_worker_processes(cluster_client, img):
    client = cluster_client
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    fp = FOOTPRINTS["irregular"]
    for mode in MODES:
        for expr in ("let m = mean(w); (c - m) / (std(w) + 1e-9)", "x + 100 * y + max(w)"):
            k = jf.compile(expr)
            whole = k.filter(img, footprint=fp, mode=mode, origin=(1, -1), engine="fused")
            lazy = jfd.filter(da.from_array(img, chunks=(3, 4)), k, footprint=fp, mode=mode, origin=(1, -1))
            got = client.compute(lazy).result()
            assert got.tobytes() == whole.tobytes(), (mode, expr)
    # params travel with the kernel
    k = jf.compile("param t = 0; count(w > t)", params={"t": 20})
    got = client.compute(jfd.filter(da.from_array(img, chunks=7), k, size=3)).result()
    np.testing.assert_array_equal(got, k.filter(img, size=3))
