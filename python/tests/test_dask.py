"""jitfilter.dask: chunked results equal whole-array results byte for byte, for every engine,
mode, footprint, origin and chunking (chunks off the core's grid and smaller than the footprint
too), and on a dask.distributed cluster of separate worker processes. The arrays span several
units of the core's grid (64 rows, 512 columns) along every axis, so that chunks really cut
them, and hold real values (sums round: a sum that started where a chunk starts would differ in
its last bits)."""

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
    "kth(w, 3) - kth(w, -2)",
]

FOOTPRINTS = {
    "box5x3": np.ones((5, 3), bool),
    "line1x9": np.ones((1, 9)),
    "irregular": np.array([[1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 1, 1], [1, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0]], bool),
    "taller_than_chunks": np.ones((91, 3), bool),
    "weights": np.array([[0.5, 0, 2.0], [1.0, 3.0, 0], [0, -1.5, 4.0]]),
}
ORIGINS = [0, (-1, 0), (1, -1)]
# On the grid; off it (moved onto it); smaller than the grid (merged onto it).
CHUNKS = [(64, 512), (100, 700), (13, 170)]


def valid(fp, origin):
    o = np.broadcast_to(np.asarray(origin), (np.ndim(fp),))
    return all(-(s // 2) <= oo <= (s - 1) // 2 for s, oo in zip(np.shape(fp), o))


@pytest.fixture(scope="module")
def img():
    rng = np.random.default_rng(7)
    a = rng.uniform(-50, 150, (150, 1100))
    a[70, 600] = np.nan
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
            whole = k.filter(img, footprint=fp, mode=mode, cval=3.5, origin=origin)
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
    a = rng.integers(0, 255, (150, 1100)).astype(np.uint8)
    fp = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    for expr in ("mean(w)", "max(w) - c + 128"):
        for output in (None, np.float32, np.int16):
            whole = jf.filter(a, expr, footprint=fp, mode=mode, cval=0.5, output=output)
            got = jfd.filter(da.from_array(a, chunks=(30, 400)), expr, footprint=fp, mode=mode, cval=0.5, output=output)
            assert got.dtype == whole.dtype
            assert got.compute(scheduler="sync").tobytes() == whole.tobytes()


@pytest.mark.parametrize("mode", MODES)
def test_one_and_three_dimensions(mode):
    import dask

    rng = np.random.default_rng(5)
    lazies, wants = [], []
    a1 = rng.uniform(0, 1, 1600)
    for fp in (np.ones(5, bool), np.array([1, 0, 0, 1, 1, 1, 0, 1], bool), np.ones(600, bool)):
        for origin in (0, -1, 2):
            if not valid(fp, origin):
                continue
            for expr in ("std(w)", "x + max(w)"):
                whole = jf.filter(a1, expr, footprint=fp, mode=mode, origin=origin)
                for chunks in (100, 512, 1600):
                    lazies.append(jfd.filter(da.from_array(a1, chunks=chunks), expr, footprint=fp, mode=mode, origin=origin))
                    wants.append(whole)
    a3 = rng.uniform(0, 1, (5, 70, 530))
    ball = np.zeros((3, 3, 3), bool)
    ball[1, 1, :] = ball[1, :, 1] = ball[:, 1, 1] = True
    for fp, origin in ((ball, 0), (np.ones((2, 3, 4), bool), (0, 1, -2)), (np.ones((1, 3)), 0)):
        for expr in ("mean(w)", "x + 10 * y + 100 * z + depth + sum(dz * w)",
                     "pos(0) + 10 * pos(1) + 100 * pos(-1) + sum(d(0) * w) - max(d(2) * w)"):
            whole = jf.filter(a3, expr, footprint=fp, mode=mode, origin=origin)
            for chunks in ((2, 64, 512), (5, 70, 530), (1, 20, 100)):
                lazies.append(jfd.filter(da.from_array(a3, chunks=chunks), expr, footprint=fp, mode=mode, origin=origin))
                wants.append(whole)
    for i, (got, want) in enumerate(zip(dask.compute(*lazies, scheduler="sync"), wants)):
        assert got.tobytes() == want.tobytes(), i


def test_every_engine(img):
    """Every engine gives byte equality with its own whole-array result: the planner's sums
    (auto) too, whose tiles lie on a grid fixed to the whole array."""
    fp = FOOTPRINTS["irregular"]
    for expr in ("sqrt(var(w))", "max(w)", "mean(w)", "sum(k * w)"):
        k = jf.compile(expr)
        for engine in ("auto", "fused", "callback", "interpreter"):
            for mode in ("wrap", "reflect"):
                whole = k.filter(img, footprint=fp, mode=mode, engine=engine)
                got = jfd.filter(da.from_array(img, chunks=(50, 300)), k, footprint=fp, mode=mode, engine=engine)
                assert got.compute(scheduler="sync").tobytes() == whole.tobytes(), (expr, engine, mode)


def test_chunks_move_onto_the_grid():
    """Chunk boundaries go to the nearest multiple of the grid's unit; pieces narrower than the
    halo join their neighbours."""
    assert jfd._aligned((64, 64, 22), 64, 4) == (64, 64, 22)
    assert jfd._aligned((100, 100, 100), 64, 4) == (128, 64, 108)
    assert jfd._aligned((13,) * 10, 64, 4) == (64, 66)
    assert jfd._aligned((600, 600), 512, 12) == (512, 688)
    assert jfd._aligned((300, 300), 512, 12) == (512, 88)
    assert jfd._aligned((64, 64, 64), 64, 100) == (192,)


def test_lazy_and_chunks_kept():
    x = da.ones((200, 1100), chunks=(64, 512))
    y = jfd.filter(x, "max(w)", size=3)
    assert isinstance(y, da.Array)
    assert y.chunks == x.chunks
    assert y.dtype == x.dtype
    # chunks off the grid are moved onto it
    y = jfd.filter(da.ones((200, 1100), chunks=(100, 700)), "max(w)", size=3)
    assert y.chunks == ((128, 72), (512, 588))
    # numpy arrays are accepted and wrapped
    y2 = jfd.filter(np.ones((6, 6)), "max(w)", size=3)
    assert isinstance(y2, da.Array)
    np.testing.assert_array_equal(y2.compute(), np.ones((6, 6)))


def test_a_chunk_reads_only_its_neighbours_edges():
    """One task per chunk, fed by its own chunk and by edges tasks only (at most one per chunk),
    each handing over halo-deep edges along every axis: on a cluster a neighbour sends a chunk
    its edges, never the whole chunk."""
    from dask.core import get_dependencies

    x = da.from_array(np.random.default_rng(1).uniform(size=(256, 1536)), chunks=(64, 512))
    fp, origin = np.ones((5, 4)), (0, -1)
    (lo, hi) = jfd.depth(fp, origin, 2)
    y = jfd.filter(x, "max(w)", footprint=fp, origin=origin, mode="wrap")
    graph = dict(y.__dask_graph__())
    filters = [k for k in graph if k[0] == y.name]
    edges = {k for k in graph if "-edges-" in k[0]}
    assert len(filters) == 4 * 3
    assert 0 < len(edges) <= 4 * 3
    for key in filters:
        deps = get_dependencies(graph, key)
        assert (x.name,) + key[1:] in deps
        assert deps - {(x.name,) + key[1:]} <= edges, deps
    for key in edges:
        chunk = x.blocks[key[2:]].compute()
        for axis, (head, tail) in enumerate(jfd._edges(chunk, lo, hi)):
            assert head.shape[axis] == hi[axis] and tail.shape[axis] == lo[axis]
            np.testing.assert_array_equal(head, np.take(chunk, range(hi[axis]), axis))
            np.testing.assert_array_equal(
                tail, np.take(chunk, range(chunk.shape[axis] - lo[axis], chunk.shape[axis]), axis)
            )
    np.testing.assert_array_equal(
        y.compute(), jf.filter(x.compute(), "max(w)", footprint=fp, origin=origin, mode="wrap")
    )


def test_graphs_differ_with_which_array_is_which_input():
    """The graph's names cover the named inputs' names: swapping two inputs of one compiled
    kernel gives another graph, and both compute their own result when computed together."""
    import dask

    rng = np.random.default_rng(3)
    a, b, img = (rng.uniform(0, 9, (70, 600)) for _ in range(3))
    k = jf.compile("at(p) - mean(q)", inputs=("p", "q"))
    x = da.from_array(img, chunks=(64, 512))
    y1 = jfd.filter(x, k, size=3, inputs={"p": a, "q": b})
    y2 = jfd.filter(x, k, size=3, inputs={"q": a, "p": b})  # the same arrays in the same order
    assert y1.name != y2.name
    r1, r2 = dask.compute(y1, y2)
    np.testing.assert_array_equal(r1, k.filter(img, size=3, inputs={"p": a, "q": b}))
    np.testing.assert_array_equal(r2, k.filter(img, size=3, inputs={"p": b, "q": a}))


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
            whole = k.filter(img, footprint=fp, mode=mode, origin=(1, -1))
            lazy = jfd.filter(da.from_array(img, chunks=(64, 512)), k, footprint=fp, mode=mode, origin=(1, -1))
            got = client.compute(lazy).result()
            assert got.tobytes() == whole.tobytes(), (mode, expr)
    # params travel with the kernel
    k = jf.compile("param t = 0; count(w > t)", params={"t": 20})
    got = client.compute(jfd.filter(da.from_array(img, chunks=(70, 600)), k, size=3)).result()
    np.testing.assert_array_equal(got, k.filter(img, size=3))


# -- programs of several passes (stages, `over`) -----------------------------------------------

DISK3 = np.hypot(*np.mgrid[-3:4, -3:4]) <= 3
GUIDED = (
    "param eps = 100; "
    "stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; "
    "stage b = (mean(w) - at(a) * mean(g)) over box:9; "
    "(mean(a) * at(g) + mean(b)) over box:9"
)
STAGED = {
    "opening": "stage e = min(w) over disk:5; max(e) over disk:5",
    "top-hat": "stage e = min(w); stage o = max(e); c - at(o)",
    "dob": "mean(w) over box:3 - mean(w) over box:9",
    "guided": GUIDED,
    "offsets": "stage e = mean(w) over disk:2; at(e, 3, -2) - at(e, -1, 4) + max(w)",
    "tuple": "stage s = (min(w), max(w) over box:3); at(s[1]) - at(s[0]) + mean(s[0]) + at(s[1], 0, 2)",
    "positions": "stage e = x + 10 * y + min(w); max(e) + width - at(e, 0, -1)",
}
# Uneven, off the grid, with chunks smaller and larger than the passes' halos.
STAGED_CHUNKS = [((3, 20, 1, 100, 26), (700, 400)), ((64, 86), (2, 2, 508, 588))]


@pytest.fixture(scope="module")
def staged_images():
    rng = np.random.default_rng(31)
    f = rng.uniform(0, 255, (150, 1100))
    return {
        "f64": (f, rng.uniform(0, 255, f.shape)),
        "u8": (f.astype(np.uint8), rng.integers(0, 256, f.shape).astype(np.uint8)),
    }


@pytest.mark.parametrize("dtype", ["f64", "u8"])
@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant", "grid-wrap"])
def test_staged_programs_equal_whole_byte_for_byte(staged_images, mode, dtype):
    """Every staged program x chunkings smaller and larger than the halos: chunked == whole
    (the default engine on both sides), and the fused engine in process to 1e-9."""
    import dask

    f, g = staged_images[dtype]
    lazies, wants, labels = [], [], []
    for name, src in STAGED.items():
        named = {"g": g} if "g*w" in src else {}
        k = jf.compile(src, inputs=tuple(named))
        whole = k.filter(f, footprint=DISK3, inputs=named, mode=mode, cval=3.5)
        if dtype == "f64":
            fused = k.filter(f, footprint=DISK3, inputs=named, mode=mode, cval=3.5, engine="fused")
            np.testing.assert_allclose(whole, fused, rtol=1e-12, atol=1e-9, err_msg=name)
        for chunks in STAGED_CHUNKS:
            x = da.from_array(f, chunks=chunks)
            lazies.append(jfd.filter(x, k, footprint=DISK3, inputs=named, mode=mode, cval=3.5))
            wants.append(whole)
            labels.append((name, chunks))
    for got, want, label in zip(dask.compute(*lazies, scheduler="sync"), wants, labels):
        assert got.dtype == want.dtype and got.shape == want.shape, label
        assert got.tobytes() == want.tobytes(), label


def test_staged_programs_on_chunks_narrower_than_the_halo(staged_images):
    f, g = staged_images["u8"]
    for name in ("top-hat", "guided", "positions"):
        named = {"g": g} if name == "guided" else {}
        k = jf.compile(STAGED[name], inputs=tuple(named))
        whole = k.filter(f, footprint=DISK3, inputs=named, mode="mirror")
        got = jfd.filter(da.from_array(f, chunks=(2, 40)), k, footprint=DISK3, inputs=named, mode="mirror")
        assert got.compute(scheduler="sync").tobytes() == whole.tobytes(), name


def test_staged_chunks_line_up():
    # Every pass keeps the (merged) chunks of the image: stages need no rechunking in between.
    x = da.ones((200, 1100), chunks=(64, 512))
    y = jfd.filter(x, GUIDED, inputs={"g": x})
    assert y.chunks == x.chunks
    y = jfd.filter(x, "stage e = min(w) over disk:5; max(e) over disk:5")
    assert y.chunks == x.chunks
    # chunks smaller than the deepest pass's halo are merged, once, for all passes
    y = jfd.filter(da.ones((200, 1100), chunks=(64, 1100)), "mean(w) over box:3 - mean(w) over box:151")
    assert y.chunks == ((200,), (1100,))


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant"])
def test_staged_programs_per_channel_and_jointly(mode):
    import dask

    rng = np.random.default_rng(32)
    rgb = rng.integers(0, 256, (130, 1030, 3)).astype(np.uint8)
    cases = [
        ("stage e = min(w) over disk:5; max(e) over disk:5", {}),  # each channel in turn
        ("stage e = min(w); stage o = max(e); c - at(o)", {}),
        ("stage l = (c[0] + 2 * c[1] + c[2]) / 4; max(l) - min(l) over box:3", {}),  # jointly
        ("stage s = (min(w[0]), max(w[2])); at(s[1]) - mean(s[0]) + at(s[0], 1, 1)", {}),  # a tuple stage
        # a guide of one channel, shared by every channel's run
        (GUIDED, {"g": rng.uniform(0, 255, (130, 1030))}),
    ]
    lazies, wants, labels = [], [], []
    for src, named in cases:
        k = jf.compile(src, inputs=tuple(named))
        whole = k.filter(rgb, footprint=DISK3, inputs=named, mode=mode, cval=2.0, channel_axis=-1)
        for chunks in [(64, 512, 3), ((100, 30), (1, 700, 329), (2, 1))]:
            x = da.from_array(rgb, chunks=chunks)
            lazies.append(jfd.filter(x, k, footprint=DISK3, inputs=named, mode=mode, cval=2.0, channel_axis=-1))
            wants.append(whole)
            labels.append((src, chunks))
    for got, want, label in zip(dask.compute(*lazies, scheduler="sync"), wants, labels):
        assert got.shape == want.shape, label
        assert got.tobytes() == want.tobytes(), label


def test_staged_in_three_dimensions():
    rng = np.random.default_rng(33)
    a = rng.uniform(-5, 5, (9, 70, 530))
    k = jf.compile("stage e = max(w) over ball:1; mean(e) over box:3 - at(e, 1, 0, -2)")
    for mode in ("reflect", "constant"):
        whole = k.filter(a, mode=mode, cval=1.0)
        got = jfd.filter(da.from_array(a, chunks=(2, 50, 300)), k, mode=mode, cval=1.0)
        assert got.compute(scheduler="sync").tobytes() == whole.tobytes(), mode


def test_staged_on_a_local_cluster(cluster_client, staged_images):
    f, g = staged_images["f64"]
    k = jf.compile(GUIDED, inputs=("g",), params={"eps": 20})
    lazy = jfd.filter(da.from_array(f, chunks=(64, 512)), k, inputs={"g": g}, mode="nearest")
    got = cluster_client.compute(lazy).result()
    assert got.tobytes() == k.filter(f, inputs={"g": g}, mode="nearest").tobytes()


@pytest.mark.parametrize("modes", [("reflect", "constant"), ("constant", "wrap"), ("mirror", "nearest")])
def test_a_mode_per_axis_chunked_equals_whole(img, modes):
    import dask

    k = jf.compile("sqrt(var(w)) + median(w) + at(w, 2, -1)")
    fp = FOOTPRINTS["irregular"]
    whole = k.filter(img, footprint=fp, mode=list(modes), cval=3.5)
    lazies = [jfd.filter(da.from_array(img, chunks=c), k, footprint=fp, mode=list(modes), cval=3.5)
              for c in CHUNKS]
    for got in dask.compute(*lazies, scheduler="sync"):
        assert got.tobytes() == whole.tobytes()



@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", ("nearest", "wrap")])
def test_axes_chunked_equals_whole(mode):
    """scipy's ``axes=``: the footprint along the listed axes only (in increasing order, as
    scipy expands it), origins and modes per listed axis; chunks along the other axes need no
    halo. Byte for byte equal to the whole-array filter, 2-D and 3-D, with stages too."""
    import dask

    rng = np.random.default_rng(11)
    vol = rng.uniform(-5, 50, (7, 130, 1100))
    x3 = da.from_array(vol, chunks=(3, 64, 512))
    img = vol[3]
    x2 = da.from_array(img, chunks=(64, 512))
    cases = [
        (x3, vol, "sqrt(var(w)) + x", dict(size=(5, 3), axes=(2, 0), origin=(1, 0))),
        (x3, vol, "max(w) - mean(w)", dict(footprint=np.ones((4, 3)), axes=(0, 1), origin=(-1, 0))),
        (x3, vol, "stage e = min(w); max(e) - at(e, 1, 0)", dict(size=(3, 5), axes=(1, 2))),
        (x2, img, "median(w) + y", dict(size=7, axes=1)),
        (x2, img, "sum(k * w)", dict(footprint=np.array([[0.5, 2.0, 1.0]]), axes=(0, 1))),
        # at() reads along an axis `axes` leaves out, through its mode (the one given, or
        # reflect beside a list).
        (x2, img, "at(w, 1, 0) + at(w, -2, 1) + max(w)", dict(size=3, axes=0)),
    ]
    lazy, want = [], []
    for x, a, expr, kw in cases:
        m = mode if not isinstance(mode, tuple) else list(mode[: len(np.atleast_1d(kw["axes"]))])
        lazy.append(jfd.filter(x, expr, mode=m, **kw))
        want.append(jf.filter(a, expr, mode=m, **kw))
    for got, w, case in zip(dask.compute(*lazy), want, cases):
        assert got.tobytes() == w.tobytes(), case[2]
    # The unlisted axes need no halo: no chunk reads a neighbour's edges along them.
    from dask.core import get_dependencies

    y = jfd.filter(x3, "max(w)", size=3, axes=(1, 2))
    graph = dict(y.__dask_graph__())
    for key in (k for k in graph if k[0] == y.name):
        edges = [d for d in get_dependencies(graph, key) if "-edges-" in d[0]]
        assert edges and all(d[2] == key[1] for d in edges), (key, edges)


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", ("wrap", "constant", "mirror", "nearest")])
def test_arrays_of_four_and_five_axes(mode):
    """Chunks along every axis of 4-D and 5-D arrays, the axes before the last three too (the
    core computes those a position at a time): byte for byte the whole-array filter, with
    stages, named inputs, channels, ``axes=`` and positions along the leading axes, on every
    engine, chunks smaller than the footprint among them."""
    import dask

    rng = np.random.default_rng(17)
    a4 = rng.uniform(-5, 50, (5, 4, 70, 45))
    g4 = rng.uniform(0, 1, a4.shape)
    holes = np.ones((3, 3, 3, 3), bool)
    holes[0, 2, :, 1] = holes[2, 0, 1, :] = holes[1, 1, 1, 1] = False
    m = mode if isinstance(mode, str) else list(mode)
    cases = [
        ("mean(w) + pos(0) / 7 + z", dict(footprint=holes), {}),
        ("median(w) - sum(w * d(0))", dict(footprint=holes, origin=(1, 0, -1, 0)), {}),
        ("sum(g * w) / sum(g + 1) + at(g, 1, -2, 1)", dict(size=(3, 1, 3, 3)), {"g": g4}),
        ("stage e = min(w); max(e) - at(e) + pos(1)", dict(size=(2, 3, 3, 3)), {}),
    ]
    lazy, want = [], []
    for expr, kw, named in cases:
        for engine in ("auto", "fused", "interpreter"):
            whole = jf.filter(a4, expr, mode=m, cval=2.5, inputs=named, engine=engine, **kw)
            for chunks in ((1, 1, 64, 45), (2, 3, 70, 45), (5, 4, 64, 45)):
                lazy.append(jfd.filter(da.from_array(a4, chunks=chunks), expr, mode=m, cval=2.5,
                                       inputs={n: da.from_array(v, chunks=chunks) for n, v in named.items()},
                                       engine=engine, **kw))
                want.append(whole)
    # Channels, and a footprint over some of the axes of a 5-D array.
    a5 = rng.uniform(0, 9, (3, 2, 4, 9, 20, 3)).astype(np.float32)
    m5 = mode if isinstance(mode, str) else list(mode[:3])
    for expr in ("max(w[0]) + c[2]", "mean(w) + pos(0) + pos(1)"):
        kw = dict(size=3, axes=(0, 2, 4), mode=m5, channel_axis=-1)
        lazy.append(jfd.filter(da.from_array(a5, chunks=(1, 1, 2, 9, 20, 3)), expr, **kw))
        want.append(jf.filter(a5, expr, **kw))
    for i, (got, w) in enumerate(zip(dask.compute(*lazy, scheduler="sync"), want)):
        assert got.shape == w.shape and got.tobytes() == w.tobytes(), i


def test_chunks_are_read_in_pieces_not_joined(img, monkeypatch):
    # The core reads a chunk and its neighbours' edges where they lie: nothing is copied into
    # one array for a plain program, on any chunking.
    def joined(*args):
        raise AssertionError("a chunk was joined")

    monkeypatch.setattr(jfd, "_joined", joined)
    k = jf.compile("max(w) - mean(g) + c", inputs=("g",))
    g = np.cos(img / 7.0)
    for chunks in ((64, 512), (13, 170), (100, 700)):
        x, gx = da.from_array(img, chunks=chunks), da.from_array(g, chunks=chunks)
        got = jfd.filter(x, k, footprint=FOOTPRINTS["irregular"], inputs={"g": gx}, mode="wrap")
        want = k.filter(img, footprint=FOOTPRINTS["irregular"], inputs={"g": g}, mode="wrap")
        assert got.compute(scheduler="threads").tobytes() == want.tobytes()


@pytest.mark.parametrize("kept", [256 << 20, 0])
def test_joined_inputs_kept_per_thread_leave_no_trace(img, monkeypatch, kept):
    # A stage's values per pixel are stacked, and their pieces joined on the way, in a buffer
    # the task's thread keeps for the next task (or, past the byte limit, a fresh one): on the
    # threaded scheduler, tasks of other sizes, dtypes and named inputs in between leave every
    # result equal to the whole array's, and nothing over the limit is kept.
    monkeypatch.setattr(jf, "_SCRATCH_KEPT", kept)
    import threading

    monkeypatch.setattr(jf, "_SCRATCH", threading.local())
    held, scratch = [], jfd._scratch

    def counted(*args):
        out = scratch(*args)
        held.append(sum(b.nbytes for b in getattr(jf._SCRATCH, "bufs", {}).values()))
        return out

    monkeypatch.setattr(jfd, "_scratch", counted)
    k = jf.compile("stage s = (min(w), mean(g)); max(s[0]) - at(s[1]) + c", inputs=("g",))
    g = np.cos(img / 7.0)
    fp = FOOTPRINTS["irregular"]
    for a, chunks in ((img, (64, 512)), (img[:, :333].astype(np.float32), (13, 170)), (img, (100, 700))):
        x, gx = da.from_array(a, chunks=chunks), da.from_array(g[:, : a.shape[1]], chunks=chunks)
        want = k.filter(a, footprint=fp, inputs={"g": g[:, : a.shape[1]]})
        got = jfd.filter(x, k, footprint=fp, inputs={"g": gx}).compute(scheduler="threads")
        assert got.tobytes() == want.tobytes()
    assert held and max(held) <= kept
    assert (max(held) > 0) == (kept > 0)
