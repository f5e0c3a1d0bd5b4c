"""Filtering Dask arrays chunk by chunk, with results equal to the whole-array filter.

::

    import dask.array as da
    import jitfilter as jf

    x = da.from_zarr(...)                      # or any dask array, 1-D to 3-D
    y = jf.dask.filter(x, "max(w)", footprint=fp, mode="reflect")   # lazy
    y.compute()                                # equals jf.filter(x.compute(), "max(w)", ...)

How it is exact
---------------
``dask.array.map_overlap`` gives every chunk a halo of its neighbours, as deep as the footprint
reaches along each axis (``lo`` before, ``hi`` after, origins included), with ``boundary='none'``:
dask adds nothing at the array's outer edges. The outer edges are then handled so that every
window reads exactly what scipy's whole-array filter reads:

- ``reflect``, ``mirror``, ``nearest``, ``wrap`` (and ``grid-mirror``, ``grid-wrap``): the array is
  first extended by ``lo``/``hi`` along each axis with scipy's own index rule, built from slices of
  the array itself (so the dtype is kept, and windows larger than the array — which scipy extends
  periodically — come out right). numpy's ``np.pad`` names differ from scipy's: scipy ``reflect``
  is numpy ``symmetric``, scipy ``mirror`` is numpy ``reflect``, ``nearest`` is ``edge``; and
  ``np.pad`` does not extend periodically past the array's size, which is why the extension is
  built here from scipy's rule instead.
- ``constant`` (and ``grid-constant``): nothing is padded; a chunk at the outer edge is filtered
  with ``mode='constant'`` and ``cval`` itself (padding would have to store ``cval`` in the array's
  dtype, which cannot hold e.g. 0.5 in uint8).

Chunks smaller than the halo are merged with their neighbours first (as ``map_overlap`` would),
so any chunking works. Kernels that use positions (``x``, ``y``, ``z``, ``width``, ``height``,
``depth``) are rewritten to add each chunk's offset and the whole array's size, so they too give
the whole-array result.

Kernels pickle as their source text and params and are compiled again on each worker process
(once per process and source), so this runs on a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import (
    Kernel,
    Params,
    _as_input,  # noqa: F401 - re-exported for tests
    _footprint_weights,
    _mode_name,
    _origin_list,
    compile,
)

__all__ = ["filter", "depth", "extend"]

#: Modes whose outer edges are handled by extending the array with scipy's index rule.
_EXTENDED = {"reflect": "reflect", "grid-mirror": "reflect", "mirror": "mirror", "nearest": "nearest", "wrap": "wrap", "grid-wrap": "wrap"}
#: Modes applied by each edge chunk itself.
_LOCAL = {"constant": "constant", "grid-constant": "constant"}

_POSITION_NAMES = ("x", "y", "z", "width", "height", "depth")
_OFFSET_PARAM = {"x": "__jf_ox", "y": "__jf_oy", "z": "__jf_oz"}
_SIZE_PARAM = {"width": "__jf_width", "height": "__jf_height", "depth": "__jf_depth"}


def filter(  # noqa: A001 - mirrors scipy.ndimage.generic_filter
    input: Any,
    kernel: Union[str, Kernel],
    size: Union[int, Sequence[int], None] = None,
    footprint: Any = None,
    output: Any = None,
    mode: str = "reflect",
    cval: float = 0.0,
    origin: Union[int, Sequence[int]] = 0,
    *,
    params: Params = None,
    threads: Optional[int] = None,
    engine: str = "fused",
):
    """Lazily filter a Dask array (1-D to 3-D) with a kernel, chunk by chunk.

    The result equals ``kernel.filter(input.compute(), ..., engine=engine)`` byte for byte,
    for every mode, origin, footprint and chunking (see the module docstring for how).

    Parameters
    ----------
    input : dask.array.Array or array_like
        The array; numpy arrays are wrapped with ``dask.array.asarray``.
    kernel : str or Kernel
        The kernel expression, or a compiled :class:`jitfilter.Kernel`.
    size, footprint, mode, cval, origin, params, threads
        As :meth:`jitfilter.Kernel.filter`.
    engine : {'fused', 'callback', 'interpreter', 'auto'}
        ``fused`` by default: each window is computed on its own, so the result does not depend
        on where the chunks are cut and equals ``kernel.filter(whole, ..., engine='fused')``
        byte for byte. ``auto`` (the planner, which shares sums between neighbouring windows)
        can be faster for sums and variances over large footprints, but its planned sums can
        differ in the last bits with where a run of windows starts, so chunked and whole
        results agree only to rounding (max/min/median and other exact reductions stay
        identical).
    output : dtype, optional
        The result's dtype; default: the input's. (Arrays are not accepted here.)

    Returns
    -------
    dask.array.Array
        Lazy; same shape and chunks as ``input`` (after any merging of too-small chunks).
    """
    import dask.array as da

    k = kernel if isinstance(kernel, Kernel) else compile(kernel)
    x = input if isinstance(input, da.Array) else da.asarray(input)
    ndim = x.ndim
    if not 1 <= ndim <= 3:
        raise ValueError(f"arrays must have 1 to 3 dimensions, got {ndim}")
    if any(np.isnan(c) for cs in x.chunks for c in cs):
        raise ValueError("the array's chunk sizes are unknown: call x.compute_chunk_sizes() first")
    in_dtype = np.dtype(x.dtype)
    if isinstance(output, np.ndarray):
        raise TypeError("output must be a dtype for a dask array (the result is lazy)")
    out_dtype = in_dtype if output is None else np.dtype(output)
    mode = _mode_name(mode)
    weights = _footprint_weights(ndim, size, footprint)
    origins = _origin_list(origin, ndim)
    if len(origins) == 1:
        origins = origins * ndim
    param_list = k._param_list(params)
    # Validate everything (footprint, origin, params, position names vs ndim) now, not on a
    # worker: building a scipy context runs the engine's own checks without touching data.
    k._k.scipy_context(list(x.shape) or [1], weights, origins, param_list)
    if x.size == 0:
        return x.astype(out_dtype)

    lo, hi = depth(weights, origins, ndim)
    used = set(k.builtins)
    block_kernel = _with_offsets(k) if used & set(_POSITION_NAMES) else None

    if mode in _EXTENDED:
        pad = lo, hi
        x = extend(x, lo, hi, _EXTENDED[mode])
        block_mode = "nearest"  # the extension already holds every value a kept window reads
    else:
        pad = (0,) * ndim, (0,) * ndim
        block_mode = _LOCAL[mode]

    # Merge chunks smaller than the halo (what map_overlap would do), so that chunk offsets are
    # known here for position-dependent kernels.
    from dask.array.overlap import ensure_minimum_chunksize

    merged = []
    for a, c in enumerate(x.chunks):
        need = max(lo[a], hi[a], 1)
        merged.append((sum(c),) if need >= sum(c) else ensure_minimum_chunksize(need, c))
    chunks = tuple(merged)
    if chunks != x.chunks:
        x = x.rechunk(chunks)
    # An axis in one chunk has no neighbours to share with (and dask refuses a halo deeper than
    # the chunk): windows there are all inside the chunk or beyond the (extended) array's edges.
    halo_lo = tuple(lo[a] if len(chunks[a]) > 1 else 0 for a in range(ndim))
    halo_hi = tuple(hi[a] if len(chunks[a]) > 1 else 0 for a in range(ndim))

    positions = None
    if block_kernel is not None:
        starts = tuple(tuple(int(s) for s in np.cumsum((0,) + c[:-1])) for c in chunks)
        positions = (starts, halo_lo, tuple(pad[0]), tuple(input_shape(x, pad)))
    fn = functools.partial(
        _filter_block,
        kernel=block_kernel or k,
        weights=weights,
        mode=block_mode,
        cval=float(cval),
        origins=origins,
        params=param_list,
        out_dtype=out_dtype.str,
        threads=threads,
        engine=engine,
        positions=positions,
    )
    depth_map = {a: (halo_lo[a], halo_hi[a]) for a in range(ndim)}
    y = da.map_overlap(
        fn,
        x,
        depth=depth_map,
        boundary="none",
        trim=True,
        dtype=out_dtype,
        meta=np.empty((0,) * ndim, dtype=out_dtype),
        allow_rechunk=False,
    )
    if any(pad[0]) or any(pad[1]):
        y = y[tuple(slice(pad[0][a], y.shape[a] - pad[1][a]) for a in range(ndim))]
    return y


def input_shape(x: Any, pad: Tuple[Sequence[int], Sequence[int]]) -> Tuple[int, ...]:
    """The unextended array's shape, from the extended one."""
    return tuple(x.shape[a] - pad[0][a] - pad[1][a] for a in range(x.ndim))


def depth(weights: np.ndarray, origins: Sequence[int], ndim: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """How far windows reach before (``lo``) and after (``hi``) the output position along each
    axis, for a footprint (nonzero cells of ``weights``, applied along the last axes) and origin,
    with scipy's rule: footprint cell ``j`` reads ``position + j - size // 2 - origin``."""
    fshape = (1,) * (ndim - weights.ndim) + tuple(weights.shape)
    cells = np.argwhere(weights.reshape(fshape) != 0)
    if len(origins) == 1:
        origins = list(origins) * ndim
    lo, hi = [], []
    for a in range(ndim):
        off = cells[:, a] - fshape[a] // 2 - origins[a] if len(cells) else np.zeros(1, int)
        lo.append(int(max(0, -off.min())))
        hi.append(int(max(0, off.max())))
    return tuple(lo), tuple(hi)


def _map_index(i: int, n: int, mode: str) -> int:
    """scipy.ndimage's boundary rule: the index whose value position ``i`` takes."""
    if 0 <= i < n:
        return i
    if mode == "nearest":
        return min(max(i, 0), n - 1)
    if mode == "wrap":
        return i % n
    if mode == "reflect":
        m = i % (2 * n)
        return m if m < n else 2 * n - 1 - m
    if mode == "mirror":
        if n == 1:
            return 0
        m = i % (2 * n - 2)
        return m if m < n else 2 * n - 2 - m
    raise ValueError(mode)


def _runs(indices: Sequence[int]):
    """Splits a list of indices into runs of step +1 or -1, as slices."""
    out = []
    i = 0
    while i < len(indices):
        start = indices[i]
        j = i + 1
        step = 0
        while j < len(indices):
            d = indices[j] - indices[j - 1]
            if d not in (1, -1) or (step and d != step):
                break
            step = d
            j += 1
        end = indices[j - 1]
        if step >= 0:
            out.append(slice(start, end + 1))
        else:
            out.append(slice(start, end - 1 if end > 0 else None, -1))
        i = j
    return out


def extend(x: Any, lo: Sequence[int], hi: Sequence[int], mode: str):
    """Extends a dask array by ``lo[a]`` before and ``hi[a]`` after each axis ``a`` with scipy's
    boundary rule for ``mode`` (reflect, mirror, nearest or wrap), built from slices of ``x``."""
    import dask.array as da

    for a in range(x.ndim):
        n = x.shape[a]
        if lo[a] == 0 and hi[a] == 0:
            continue
        before = [_map_index(i, n, mode) for i in range(-lo[a], 0)]
        after = [_map_index(i, n, mode) for i in range(n, n + hi[a])]
        index = lambda s: tuple(s if b == a else slice(None) for b in range(x.ndim))  # noqa: E731
        pieces = [x[index(s)] for s in _runs(before)]
        pieces.append(x)
        pieces += [x[index(s)] for s in _runs(after)]
        x = da.concatenate(pieces, axis=a)
    return x


_TOKEN = re.compile(
    r"(?P<comment>#[^\n]*)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<other>.)",
    re.S,
)


def _with_offsets(k: Kernel) -> Kernel:
    """The kernel with positions made global: ``x`` becomes ``(x + __jf_ox)``, ``width`` becomes
    ``__jf_width``, and so on, with those params declared first. (The engine's positions are
    those within the array it is given; a chunk is not the whole array.)"""
    out = []
    for m in _TOKEN.finditer(k.source):
        text = m.group(0)
        if m.lastgroup == "ident" and text in _OFFSET_PARAM:
            text = f"({text} + {_OFFSET_PARAM[text]})"
        elif m.lastgroup == "ident" and text in _SIZE_PARAM:
            text = _SIZE_PARAM[text]
        out.append(text)
    decls = "".join(f"param {p} = 0; " for p in (*_OFFSET_PARAM.values(), *_SIZE_PARAM.values()))
    return Kernel(decls + "".join(out), k._bound or None)


def _filter_block(
    block: np.ndarray,
    *,
    kernel: Kernel,
    weights: np.ndarray,
    mode: str,
    cval: float,
    origins: list,
    params: list,
    out_dtype: str,
    threads: Optional[int],
    engine: str,
    positions: Optional[tuple],
    block_id: Optional[Tuple[int, ...]] = None,
) -> np.ndarray:
    if block.size == 0:
        return np.empty(block.shape, dtype=out_dtype)
    params = list(params)
    if positions is not None and block_id is not None:
        starts, halo_lo, pad_lo, shape = positions
        ndim = block.ndim
        offset = [
            starts[a][block_id[a]] - (halo_lo[a] if block_id[a] > 0 else 0) - pad_lo[a]
            for a in range(ndim)
        ]
        for name, axis in (("x", 1), ("y", 2), ("z", 3)):
            if axis <= ndim:
                params.append((_OFFSET_PARAM[name], float(offset[ndim - axis])))
        for name, axis in (("width", 1), ("height", 2), ("depth", 3)):
            params.append((_SIZE_PARAM[name], float(shape[ndim - axis]) if axis <= ndim else 1.0))
    return kernel.filter(
        block,
        footprint=weights,
        output=np.dtype(out_dtype),
        mode=mode,
        cval=cval,
        origin=origins,
        params=dict(params),
        threads=threads,
        engine=engine,
    )
