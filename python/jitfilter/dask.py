"""Filtering Dask arrays chunk by chunk, with results equal to the whole-array filter.

::

    import dask.array as da
    import jitfilter as jf

    x = da.from_zarr(...)                      # or any dask array, 1-D to 32-D
    y = jf.dask.filter(x, "max(w)", footprint=fp, mode="reflect")   # lazy
    y.compute()                                # equals jf.filter(x.compute(), "max(w)", ...)

Named inputs, channels and tuple results work as in :meth:`jitfilter.Kernel.filter`::

    y = jf.dask.filter(x, "sum(g * w) / sum(g)", size=5, inputs={"g": guide})   # dask or numpy
    ms = jf.dask.filter(x, "(mean(w), std(w))", size=5)          # chunks gain a trailing axis
    red = jf.dask.filter(rgb, "max(w[0])", size=3, channel_axis=-1)

Programs with stages and ``over`` run pass by pass, each stage a float64 dask array over the
whole array::

    dob = jf.dask.filter(x, "mean(w) over box:3 - mean(w) over box:9")
    opened = jf.dask.filter(x, "stage e = min(w) over disk:5; max(e) over disk:5")

How it is exact
---------------
Every chunk is filtered as a *part* of the whole array (``region`` in the core, see
``Options::region``): it is given the positions it holds along each axis and the ones it
computes, and the core computes exactly those positions of the whole array's result, bit for bit
on every engine — the planner's sums too, which run in stripes of rows and tiles of columns on a
grid fixed to the whole array (``_jitfilter.UNITS``: 64 rows, 512 columns; the axes before
them a position at a time), never from where a chunk starts. So:

- chunk boundaries are moved onto that grid (a rechunk, only when they are not on it already:
  chunks of a multiple of 512 are), and chunks narrower than the program's halo are merged with
  their neighbours;
- each chunk is one task, given the chunk and its neighbours' edges as deep as the pass reads
  along each axis (``lo`` before, ``hi`` after: the footprint with its origin, and the offsets
  of ``at()``, :meth:`jitfilter.Kernel.halo`); each neighbour hands over its edges along one
  axis in one task (copies of the edges alone: on a cluster only they travel);
  named inputs get the same chunks and are read the same way; a channel axis is one chunk;
- at the array's outer edges the core applies the boundary mode itself, as for the whole
  array: ``reflect``, ``mirror`` and ``nearest`` read positions the edge chunk holds, ``constant``
  reads none. For ``wrap`` the edge chunks' neighbours are the chunks at the far end of the
  axis, and the chunk says where their positions sit among those it holds.

Positions (``x``, ``y``, ``z``, ``width``, ``height``, ``depth``) are the whole array's, since the
core knows where the part lies.

A program with stages (``stage NAME = ...;``, or reductions over several footprints with
``over``) is several passes over the array (:attr:`jitfilter.Kernel.passes`), and its stages
are whole images: at the array's outer edges the next pass reads a stage's own values extended
by the mode, not a stage computed from extended input. So each pass runs as above on its own
— its own halo, the mode at the outer edges — over the inputs it reads and the earlier stages'
results, which are float64 dask arrays in the image's chunks. The result equals the whole-array
filter byte for byte, as for one pass.

Kernels pickle as their source text, declared inputs and params and are compiled again on each worker process
(once per process and source), so this runs on a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import (
    _INPUT_CONVERSIONS,
    _NATIVE,
    Kernel,
    _native,
    NamedInputs,
    Params,
    _as_input,  # noqa: F401 - re-exported for tests
    _axes,
    _channel_axis,
    _halo,
    _input_names,
    _mode_name,
    _origin_list,
    _scratch,
    compile,
)

__all__ = ["filter", "depth", "extend"]




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
    inputs: NamedInputs = None,
    channel_axis: Optional[int] = None,
    params: Params = None,
    threads: Optional[int] = None,
    engine: str = "auto",
    axes: Union[int, Sequence[int], None] = None,
):
    """Lazily filter a Dask array (1-D to 32-D, plus a channel axis) with a kernel, chunk by
    chunk.

    The result equals ``kernel.filter(input.compute(), ..., engine=engine)`` byte for byte,
    for every engine, mode, origin, footprint and chunking (see the module docstring for how),
    programs with stages and ``over`` too (run pass by pass, each stage a float64 dask array).

    Parameters
    ----------
    input : dask.array.Array or array_like
        The array; numpy arrays are wrapped with ``dask.array.asarray``.
    kernel : str or Kernel
        The kernel expression (compiled with the names of ``inputs`` declared), or a compiled
        :class:`jitfilter.Kernel`.
    inputs : mapping of str to dask or numpy arrays, optional
        The named inputs, as :meth:`jitfilter.Kernel.filter`. Dask arrays are rechunked to
        ``input``'s chunks, numpy arrays wrapped with ``dask.array.from_array`` in them; each
        gets the same halo as ``input``.
    channel_axis : None or -1
        As :meth:`jitfilter.Kernel.filter`; the channel axis is made one chunk (a chunk reads
        all channels of its pixels).
    size, footprint, mode, cval, origin, params, threads, axes
        As :meth:`jitfilter.Kernel.filter` (with ``axes``, chunks along the other axes need no
        halo at all).
    engine : {'auto', 'fused', 'callback', 'interpreter'}
        As :meth:`jitfilter.Kernel.filter`; on every engine the result is the whole array's,
        byte for byte.
    output : dtype, optional
        The result's dtype; default: the input's. (Arrays are not accepted here.)

    Returns
    -------
    dask.array.Array
        Lazy; the shape of ``kernel.filter``'s result (the image's, plus a trailing axis for
        several values per pixel or channels), in ``input``'s chunks moved onto the core's
        grid (64 rows, 512 columns; see the module docstring) and merged where narrower than
        the halo; a trailing axis is one chunk.
    """
    import dask.array as da

    k = kernel if isinstance(kernel, Kernel) else compile(kernel, inputs=_input_names(inputs))
    given = k._check_inputs(inputs)
    x = input if isinstance(input, da.Array) else da.asarray(input)
    channels = _channel_axis(channel_axis, x.ndim)
    ndim = x.ndim - channels
    if not 1 <= ndim <= 32:
        raise ValueError(
            "jf.dask.filter takes arrays of 1 to 32 dimensions"
            + (f" plus the channel axis, got {x.ndim} in all" if channels else f", got {ndim}")
        )
    _known_chunks(x, "the array")
    in_dtype = np.dtype(x.dtype)
    if isinstance(output, np.ndarray):
        raise TypeError("output must be a dtype for a dask array (the result is lazy)")
    out_dtype = in_dtype if output is None else np.dtype(output)
    # With ``axes`` the footprint, origins and modes are per listed axis; the halo is worked
    # out on all axes (see _spread).
    axis_list = _axes(axes, ndim)
    nax = ndim if axis_list is None else len(axis_list)
    mode = _mode_name(mode, nax)
    weights = k._command_weights(nax, size, footprint)
    origins = _origin_list(origin, nax)
    if len(origins) == 1:
        origins = origins * nax
    # The core's rule: one mode is every axis's (`at()` may read along axes `axes` leaves out);
    # a list names the listed axes', the others reflect (Options' default).
    named_modes = mode.split(",")
    one = len(named_modes) == 1
    modes = _spread(named_modes * nax if one else named_modes, axis_list, ndim,
                    named_modes[0] if one else "reflect")
    param_list = k._param_list(params)
    shape = tuple(x.shape[:ndim])
    nchannels = int(x.shape[-1]) if channels else None
    if channels and len(x.chunks[-1]) > 1:
        x = x.rechunk(x.chunks[:ndim] + ((nchannels,),))

    # Named inputs: dask arrays in the image's chunks (their own channel axis one chunk), and a
    # trailing axis of 1 when the image has channels and they do not (so that every array has
    # the same axes for map_blocks; the block function drops it again).
    names, arrays, squeeze = [], [], []
    for name, a in given.items():
        if isinstance(a, da.Array):
            _known_chunks(a, f"input `{name}`")
        a_shape = tuple(int(n) for n in np.shape(a))
        if a_shape == shape:
            own = None
        elif channels and len(a_shape) == ndim + 1 and a_shape[:ndim] == shape:
            own = a_shape[-1]
        else:
            raise ValueError(
                f"input `{name}` has shape {list(a_shape)}, but the image `w` has shape "
                f"{list(shape)}" + (" (without its channel axis)" if channels else "")
            )
        chunks = x.chunks[:ndim] + ((own,) if own is not None else ())
        if isinstance(a, da.Array):
            if a.chunks != chunks:
                a = a.rechunk(chunks)
        else:
            a = da.from_array(np.asarray(a), chunks=chunks)
        if channels and own is None:
            a = a[..., None]
        names.append(name)
        arrays.append(a)
        squeeze.append(channels and own is None)

    # Validate everything (footprint, origin, params, position names vs ndim, channel indexes,
    # channel counts, dtypes) now, not on a worker: the kernel on a 1-pixel image of the same
    # channels and dtypes runs the engine's own checks.
    one = (1,) * ndim
    k.filter(
        np.zeros(one + ((nchannels,) if channels else ()), dtype=in_dtype),
        footprint=weights,
        output=out_dtype,
        mode=mode,
        cval=cval,
        origin=origins,
        inputs={
            n: np.zeros(one + tuple(a.shape[ndim:] if not sq else ()), dtype=a.dtype)
            for n, a, sq in zip(names, arrays, squeeze)
        },
        channel_axis=-1 if channels else None,
        params=dict(param_list),
        threads=1,
        engine=engine,
        axes=axis_list,
    )
    out_shape = k._out_shape(shape, nchannels)
    values = out_shape[ndim:]  # () or (the values per pixel,)
    if 0 in shape or (channels and nchannels == 0):
        if not values and out_dtype == in_dtype:
            return x
        return da.zeros(out_shape, dtype=out_dtype)

    passes = k.passes
    staged = len(passes) > 1
    if not staged:
        passes = (("", k),)
    # Whole-array filtering reads every input as float64 when their engine dtypes differ (and
    # the passes after a stage always): so do the passes here, whatever inputs each one reads.
    mixed = len({_engine_dtype(a.dtype) for a in (x, *arrays)}) > 1
    stage_names = [name for name, _ in passes[:-1]]

    # One chunking for every pass, on the core's grid, each chunk wider than the deepest pass's
    # halo; every input gets the image's chunks, so the stages line up with the image and with
    # each other.
    unlisted = () if axis_list is None else tuple(a for a in range(ndim) if a not in axis_list)
    halos = [
        _halo(
            [(np.expand_dims(w, unlisted), points) for w, points in p._pass_windows(nax, weights)],
            _spread(origins, axis_list, ndim, 0),
            ndim,
        )
        for _, p in passes
    ]
    units = _units(ndim)
    chunks = tuple(
        _aligned(c, units[a], max(max(lo[a], hi[a]) for lo, hi in halos) + 1)
        for a, c in enumerate(x.chunks[:ndim])
    )
    x = _rechunk(x, chunks)
    arrays = [_rechunk(a, chunks) for a in arrays]
    # The results of the stages so far, as (arrays, kind): see _filter_block.
    made: dict = {}
    for i, (name, p) in enumerate(passes):
        last = i == len(passes) - 1
        reads = {n for n, _ in p.planes}
        named = [
            (n, [a], "squeeze" if sq else "plain")
            for n, a, sq in zip(names, arrays, squeeze)
            if n in reads or not staged
        ]
        named += [(n, *made[n]) for n in stage_names[:i] if n in reads]
        p_values = p._out_shape(shape, nchannels)[ndim:]
        y = _run_pass(
            p,
            x,
            named,
            halo=halos[i],
            chunks=chunks,
            ndim=ndim,
            channels=channels,
            weights=weights,
            origins=origins,
            mode=mode,
            modes=modes,
            axes=axis_list,
            cval=float(cval),
            params=[(n, v) for n, v in param_list if n in p.param_defaults],
            threads=threads,
            engine=engine,
            out_dtype=out_dtype if last else np.dtype(np.float64),
            wide=mixed or (staged and (last or any(n in reads for n in stage_names[:i]))),
            values=p_values,
        )
        if not last:
            if p_values and not channels:
                # Values per pixel along a last axis, given to the block function as one array
                # each (map_blocks lines arrays up by their last axes) and stacked there again.
                made[name] = ([y[..., j] for j in range(p_values[0])], "stack")
            else:
                made[name] = ([y], "plain")
    return y


def _engine_dtype(dtype: Any) -> np.dtype:
    """The dtype ``Kernel.filter`` hands an input of ``dtype`` to the engine in."""
    d = np.dtype(dtype)
    d = d if d.isnative else d.newbyteorder("=")
    return d if d in _NATIVE else _INPUT_CONVERSIONS.get(d, np.dtype(np.float64))


def _run_pass(
    kernel: Kernel,
    x: Any,
    named: list,
    *,
    halo: Tuple[Tuple[int, ...], Tuple[int, ...]],
    chunks: Tuple[Tuple[int, ...], ...],
    ndim: int,
    channels: bool,
    weights: np.ndarray,
    origins: list,
    mode: str,
    modes: list,
    axes: Optional[list],
    cval: float,
    params: list,
    threads: Optional[int],
    engine: str,
    out_dtype: np.dtype,
    wide: bool,
    values: Tuple[int, ...],
) -> Any:
    """One pass (a kernel without stages, reading ``halo`` around each position) over the dask
    array ``x`` and the ``named`` inputs (``(name, arrays, kind)``, see :func:`_filter_block`),
    all in ``chunks`` (on the core's grid, each wider than the halo, or the whole axis): the lazy
    result of ``kernel.filter`` on the whole arrays, in ``chunks``.

    One task per chunk, fed by the chunk itself and, per neighbour, a slice of the neighbour's
    edge as deep as the halo (a view where the neighbour is in memory; the only data that moves
    between workers): the core reads them where they lie (a part given in pieces, no copy into
    one array) and filters them as a part of the whole array. ``wrap`` takes the far end's edge
    as the edge chunks' neighbour. ``mode``, ``origins`` and ``weights`` are as ``Kernel.filter``
    takes them (per axis of ``axes``); ``modes`` is the mode of each of the ``ndim`` axes."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    lo, hi = halo
    shape = tuple(int(n) for n in x.shape[:ndim])
    starts = tuple(tuple(int(s) for s in np.cumsum((0,) + c)) for c in chunks)
    arrays = [x] + [a for _, arrs, _ in named for a in arrs]

    def pieces(a: int, k: int) -> list:
        """Along axis ``a``, what chunk ``k`` reads: per piece, the chunk holding it, which
        part of that chunk (-1: its last ``lo``, 0: all, 1: its first ``hi`` positions) and the
        positions it holds (as the core's ``Span::held``)."""
        count = len(chunks[a])
        wrap = modes[a] in ("wrap", "grid-wrap")
        s, e = starts[a][k], starts[a][k + 1]
        out = []
        if count > 1 and lo[a] and (k > 0 or wrap):
            j = (k - 1) % count
            out.append((j, -1, (starts[a][j + 1] - lo[a], starts[a][j + 1])))
        out.append((k, 0, (s, e)))
        if count > 1 and hi[a] and (k < count - 1 or wrap):
            j = (k + 1) % count
            out.append((j, 1, (starts[a][j], starts[a][j] + hi[a])))
        return out

    def cut(a: int, j: int, side: int) -> slice:
        return slice(chunks[a][j] - lo[a], None) if side < 0 else slice(0, hi[a]) if side else slice(None)

    layout = tuple((n, kind, len(arrs)) for n, arrs, kind in named)
    # The halo across chunks: none along an axis of one chunk (no neighbour reads its edges).
    cross = tuple(tuple(d if len(chunks[a]) > 1 else 0 for a, d in enumerate(side)) for side in (lo, hi))
    token = tokenize(kernel.__reduce__()[1], x, *arrays, layout, channels, halo, weights, mode, axes, cval,
                     origins, params, threads, engine, out_dtype, wide, values)
    name, edges = f"jitfilter-{token}", f"jitfilter-edges-{token}"
    dsk: dict = {}
    for idx in itertools.product(*(range(len(c)) for c in chunks)):
        per_axis = [pieces(a, k) for a, k in enumerate(idx)]
        # The task's arguments (each key once), and per array its pieces in C order as
        # (argument, which edge of it or None for a whole chunk, slices of that).
        keys: list = []
        specs = []
        for i, arr in enumerate(arrays):
            tail = (0,) * (arr.ndim - ndim)
            spec = []
            for combo in itertools.product(*per_axis):
                chunk = tuple(j for j, _, _ in combo)
                sides = [side for _, side, _ in combo]
                moved = [a for a in range(ndim) if sides[a]]
                if not moved:
                    key, edge = (arr.name,) + chunk + tail, None
                else:
                    # The neighbour's edges along the first axis it lies across (one task
                    # makes a chunk's edges along every axis): only they travel between
                    # workers.
                    a0 = moved[0]
                    key, edge = (edges, i) + chunk, (a0, int(sides[a0] < 0))
                    dsk[key] = (_edges, (arr.name,) + chunk + tail, *cross)
                if key not in keys:
                    keys.append(key)
                cuts = tuple(slice(None) if edge is not None and a == moved[0] else cut(a, j, side)
                             for a, (j, side, _) in enumerate(combo))
                spec.append((keys.index(key), edge, cuts))
            specs.append(tuple(spec))
        region = tuple(
            (shape[a], [held for _, _, held in p], (starts[a][k], starts[a][k + 1]))
            for a, (k, p) in enumerate(zip(idx, per_axis))
        )
        fn = functools.partial(
            _filter_block,
            specs=tuple(specs),
            region=region,
            kernel=kernel,
            layout=layout,
            channels=channels,
            weights=weights,
            mode=mode,
            cval=cval,
            origins=origins,
            axes=axes,
            params=params,
            out_dtype=out_dtype.str,
            threads=threads,
            engine=engine,
            wide=wide,
        )
        dsk[(name,) + idx + (0,) * len(values)] = (fn, *keys)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=arrays)
    return da.Array(
        graph,
        name,
        chunks=chunks + tuple((v,) for v in values),
        meta=np.empty((0,) * (ndim + len(values)), dtype=out_dtype),
    )


def _spread(values: Sequence[Any], axes: Optional[list], ndim: int, fill: Any) -> list:
    """Values given per axis of ``axes`` (origins, modes) as one per axis of an ``ndim``-D
    array, ``fill`` on the others: the core's rule (``spread`` in ``Kernel::setup``), values
    taken as they are when they name every axis."""
    values = list(values)
    if axes is None or len(values) == ndim:
        return values
    out = [fill] * ndim
    for j, a in enumerate(axes):
        out[a] = values[j]
    return out


def _units(ndim: int) -> Tuple[int, ...]:
    """The core's grid along each axis of an ``ndim``-D array: planes, rows and columns
    (``_jitfilter.UNITS``) for the last three, a position at a time before them."""
    return (1,) * max(ndim - 3, 0) + tuple(_native.UNITS[max(3 - ndim, 0) :])


def _aligned(chunks: Sequence[int], unit: int, least: int) -> Tuple[int, ...]:
    """Chunk sizes along an axis whose boundaries are ``chunks``' moved to the nearest multiple of
    ``unit`` (the core's grid: a chunk computes exactly the whole array's values only from one
    to another, or to the axis's end), merged where a chunk is narrower than ``least``."""
    n = int(sum(chunks))
    ends = np.cumsum(chunks)[:-1]
    bounds = sorted({int(round(e / unit)) * unit for e in ends} - {0} - set(range(n, n + unit + 1)))
    bounds = [b for b in bounds if b < n]
    out: list = []
    start = 0
    for end in bounds + [n]:
        if end - start >= least:
            out.append(end - start)
            start = end
    if start < n:
        # The last piece is too narrow: joined to the chunk before it.
        if out:
            out[-1] += n - start
        else:
            out.append(n - start)
    return tuple(out)


def _known_chunks(x: Any, what: str) -> None:
    if any(np.isnan(c) for cs in x.chunks for c in cs):
        raise ValueError(f"{what}'s chunk sizes are unknown: call x.compute_chunk_sizes() first")


def _rechunk(a: Any, spatial: Tuple[Tuple[int, ...], ...]) -> Any:
    """``a`` in chunks ``spatial`` along its first axes, its last (channel) axis one chunk."""
    want = spatial + tuple((int(n),) for n in a.shape[len(spatial):])
    return a if a.chunks == want else a.rechunk(want)


def depth(
    weights: np.ndarray, origins: Sequence[int], ndim: int, points: Sequence[Sequence[int]] = ()
) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """How far windows reach before (``lo``) and after (``hi``) the output position along each
    axis, for a footprint (nonzero cells of ``weights``, applied along the last axes) and origin,
    with scipy's rule: footprint cell ``j`` reads ``position + j - size // 2 - origin``; and for
    ``at()`` offsets ``points`` as ``(oz, oy, ox)`` (a kernel's :attr:`~jitfilter.Kernel.points`;
    :meth:`jitfilter.Kernel.halo` gives both at once)."""
    return _halo([(np.asarray(weights), points)], list(origins), ndim)


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


def extend(x: Any, lo: Sequence[int], hi: Sequence[int], mode: Union[str, Sequence[str]]):
    """Extends a dask array by ``lo[a]`` before and ``hi[a]`` after each axis ``a`` with scipy's
    boundary rule for ``mode`` (reflect, mirror, nearest or wrap; or one of them per axis),
    built from slices of ``x``."""
    import dask.array as da

    for a in range(x.ndim):
        n = x.shape[a]
        if lo[a] == 0 and hi[a] == 0:
            continue
        m = mode if isinstance(mode, str) else mode[a]
        before = [_map_index(i, n, m) for i in range(-lo[a], 0)]
        after = [_map_index(i, n, m) for i in range(n, n + hi[a])]
        index = lambda s: tuple(s if b == a else slice(None) for b in range(x.ndim))  # noqa: E731
        pieces = [x[index(s)] for s in _runs(before)]
        pieces.append(x)
        pieces += [x[index(s)] for s in _runs(after)]
        x = da.concatenate(pieces, axis=a)
    return x


def _joined(parts: Sequence[np.ndarray], sizes: Sequence[Sequence[int]], slot: int) -> np.ndarray:
    """The pieces of one array (in C order; along its first axes, piece ``j`` of axis ``a`` is
    ``sizes[a][j]`` long) as one array, copied once into this thread's buffer ``slot``."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    out = _scratch(slot, tuple(sum(s) for s in sizes) + first.shape[len(sizes):], first.dtype)
    offsets = [np.cumsum([0, *s]) for s in sizes]
    for ix, part in zip(itertools.product(*(range(len(s)) for s in sizes)), parts):
        out[tuple(slice(offsets[a][j], offsets[a][j + 1]) for a, j in enumerate(ix))] = part
    return out


def _edges(block: np.ndarray, lo: Sequence[int], hi: Sequence[int]) -> Tuple[Tuple[np.ndarray, np.ndarray], ...]:
    """Per axis ``a`` of the halo, the first ``hi[a]`` and the last ``lo[a]`` positions of a chunk
    (edges 0 and 1): what its neighbours along that axis (and diagonally) read of it. Copies,
    so that the edges do not keep the whole chunk alive (a cluster's memory accounting counts
    only them)."""
    out = []
    for axis, (before, after) in enumerate(zip(lo, hi)):
        n = block.shape[axis]
        at = (slice(None),) * axis
        out.append((block[at + (slice(0, after),)].copy(), block[at + (slice(n - before, n),)].copy()))
    return tuple(out)


def _filter_block(
    *args: Any,
    specs: tuple,
    region: tuple,
    kernel: Kernel,
    layout: Tuple[Tuple[str, str, int], ...],
    channels: bool,
    weights: np.ndarray,
    mode: str,
    cval: float,
    origins: list,
    axes: Optional[list],
    params: list,
    out_dtype: str,
    threads: Optional[int],
    engine: str,
    wide: bool,
) -> np.ndarray:
    """Filters one chunk as a part of the whole array: ``region`` says per axis the whole
    length, the positions the pieces hold (one piece per held range, in storage order) and
    those computed; ``specs`` says, per array (the image, then the named inputs' blocks), where
    its pieces are (in C order: the chunk and its neighbours' edges) as (index in ``args``, an
    edge of :func:`_edges` as (axis, which) or None for a whole chunk, slices of that). The result is the
    chunk's own positions of the whole array's result. ``layout`` says how the named inputs' blocks make inputs, per input
    ``(name, kind, count)``: ``plain`` one block as it is, ``squeeze`` one block with a trailing
    axis of 1 to drop (an input without channels beside a channel image), ``stack`` ``count``
    blocks to stack along a new last axis (a stage's values per pixel). ``wide``: every input is
    read as float64 (as the whole-array filter reads them after a stage)."""
    sizes = [[e - s for s, e in held] for _, held, _ in region]
    # Per array its pieces, read where they lie (the core reads a part in pieces).
    arrays = [[(args[i] if edge is None else args[i][edge[0]][edge[1]])[cuts] for i, edge, cuts in spec] for spec in specs]
    grid = [len(s) for s in sizes]

    def one(parts: list) -> Any:
        return parts[0] if len(parts) == 1 else parts

    block, named = one(arrays[0]), arrays[1:]
    inputs: Dict[str, Any] = {}
    i = 0
    for name, kind, count in layout:
        blocks = named[i : i + count]
        i += count
        if kind == "stack":
            # Stacking copies: the pieces are put together on the way.
            inputs[name] = np.stack([_joined(b, sizes, 1 + i - count + j) for j, b in enumerate(blocks)], axis=-1)
        elif kind == "squeeze":
            inputs[name] = one([p[..., 0] for p in blocks[0]])
        else:
            inputs[name] = one(blocks[0])
    if wide:
        wider = lambda a: a.astype(np.float64, copy=False)  # noqa: E731
        block = [wider(p) for p in block] if isinstance(block, list) else wider(block)
        inputs = {n: [wider(p) for p in b] if isinstance(b, list) else wider(b) for n, b in inputs.items()}
    return kernel.filter(
        block,
        footprint=weights,
        output=np.dtype(out_dtype),
        mode=mode,
        cval=cval,
        origin=origins,
        inputs=inputs,
        channel_axis=-1 if channels else None,
        params=dict(params),
        threads=threads,
        engine=engine,
        axes=axes,
        _region=[(n, list(held), out) for n, held, out in region],
        _grid=grid if isinstance(block, list) else None,
    )
