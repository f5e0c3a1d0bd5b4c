"""Shared helpers: Python reference callables for scipy.ndimage.generic_filter, and arrays."""

import numpy as np
import pytest

MODES = ["reflect", "mirror", "nearest", "wrap", "constant", "grid-mirror", "grid-constant", "grid-wrap"]


def cells(fp):
    """Nonzero cells of a footprint, in C order (scipy's buffer order)."""
    return np.argwhere(np.asarray(fp) != 0)


def centre_index(fp, origin):
    """Index in scipy's buffer of the element at the output position, or None."""
    fp = np.asarray(fp)
    origin = np.broadcast_to(np.asarray(origin), (fp.ndim,))
    centre = np.array(fp.shape) // 2 + origin
    for i, c in enumerate(cells(fp)):
        if (c == centre).all():
            return i
    return None


def offsets(fp, origin, axis_from_last):
    """dx (1), dy (2), dz (3) per buffer element: cell - size // 2 - origin."""
    fp = np.asarray(fp)
    origin = np.broadcast_to(np.asarray(origin), (fp.ndim,))
    a = fp.ndim - axis_from_last
    return (cells(fp)[:, a] - fp.shape[a] // 2 - origin[a]).astype(float)


class Positions:
    """A Python generic_filter callable that knows its output position (scipy visits elements in
    C order, once each), like the jitfilter callback's context does."""

    def __init__(self, shape, fn):
        self.shape = shape
        self.fn = fn
        self.i = 0

    def __call__(self, v):
        pos = np.unravel_index(self.i, self.shape)
        self.i += 1
        return self.fn(v, pos)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def cluster_client():
    """A dask.distributed cluster of two worker processes, shared by the test modules."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
