"""jitfilter: kernel expressions compiled to native code, applied as N-D window filters.

A kernel is a one-line (or a few-line) expression over the window ``w`` such as ``max(w)``,
``sqrt(var(w))`` or ``let m = mean(w); (c - m) / (std(w) + 1e-9)``. :func:`compile` parses,
checks and JIT-compiles it (Cranelift, about a millisecond) into a native function with scipy's
``generic_filter`` callback signature ``int f(double *, npy_intp, double *, void *)``.

Three ways to use a kernel::

    import jitfilter as jf
    from scipy import ndimage as ndi

    k = jf.compile("sqrt(var(w))")
    out = k.filter(img, footprint=fp, mode="reflect")       # numpy in/out, multithreaded
    llc = k.low_level_callable(footprint=fp, shape=img.shape)
    ndi.generic_filter(img, llc, footprint=fp)              # the same result, scipy's loop
    big = jf.dask.filter(dask_array, "max(w)", footprint=fp) # lazy, chunked, exact

Footprints per reduction (``over``) and stages (whole images made before the result)::

    dob = jf.filter(img, "mean(w) over box:3 - mean(w) over box:9")      # difference of boxes
    opened = jf.filter(img, "stage e = min(w); max(e)", footprint=fp)   # grey opening

Several inputs, colour channels, neighbour access and several results per pixel::

    k = jf.compile("sum(g * w) / sum(g)", inputs=("g",))    # a guide image g weights w
    out = k.filter(img, size=5, inputs={"g": guide})
    ms = jf.filter(img, "(mean(w), std(w))", size=5)        # shape img.shape + (2,)
    red = jf.filter(rgb, "max(w[0])", size=3, channel_axis=-1)
    dx = jf.filter(img, "at(w, 1, 0) - at(w, -1, 0)", size=1)

The language is described in docs/language.md of the repository. Keyword names, defaults and
boundary modes follow ``scipy.ndimage.generic_filter``.
"""

from __future__ import annotations

import functools
import numbers
import operator
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _jitfilter as _native
from ._jitfilter import KernelError

if TYPE_CHECKING:  # pragma: no cover
    from scipy import LowLevelCallable

    from . import dask  # noqa: F401

    class KernelCallable(LowLevelCallable):
        """A ``scipy.LowLevelCallable`` running a compiled kernel (defined lazily at run time,
        so that importing jitfilter does not import scipy)."""

        def reset(self) -> None: ...
        @property
        def kernel(self) -> "Kernel": ...
        @property
        def shape(self) -> Tuple[int, ...]: ...
        @property
        def footprint(self) -> np.ndarray: ...
        @property
        def user_data_address(self) -> int: ...
        @property
        def function_address(self) -> int: ...

__all__ = [
    "DTYPES",
    "MODES",
    "Kernel",
    "KernelCallable",
    "KernelError",
    "compile",
    "filter",
]

__version__ = "0.1.0"

#: Boundary modes, as scipy.ndimage names them (``grid-*`` are aliases).
MODES: Tuple[str, ...] = tuple(_native.modes())

#: The dtypes the engine reads and writes without conversion.
DTYPES: Tuple[np.dtype, ...] = tuple(np.dtype(n) for n in _native.DTYPES)
_NATIVE = {d: d.name for d in DTYPES}
# Most axes an array may have: numpy's (and scipy.ndimage's) limit.
_MAX_DIMS = 32

#: Names that need the footprint's tables (or, for ``c``, its centre cell) under scipy.
_TABLE_NAMES = frozenset({"c", "k", "dx", "dy", "dz", "d"})
#: Names that need the array's shape under scipy (position tracking).
_POSITION_NAMES = frozenset({"x", "y", "z", "pos", "width", "height", "depth"})

ArrayLike = Any
Params = Optional[Mapping[str, float]]
#: Named input arrays for :meth:`Kernel.filter`: ``{"g": guide, ...}``.
NamedInputs = Optional[Mapping[str, ArrayLike]]


@functools.lru_cache(maxsize=256)
def _native_kernel(source: str, inputs: Tuple[str, ...] = ()) -> "_native._Kernel":
    # Compiled kernels are immutable and thread-safe; sharing one per source text makes
    # unpickling on Dask workers (once per task) cost a dictionary look-up.
    return _native._Kernel(source, list(inputs))


@functools.lru_cache(maxsize=256)
def _native_passes(source: str, inputs: Tuple[str, ...] = ()) -> Tuple[Tuple[str, "_native._Kernel"], ...]:
    return tuple(_native_kernel(source, inputs).passes())


def _input_names(inputs: Any) -> Tuple[str, ...]:
    """The declared input names: a sequence of names (or one name, or a mapping's keys)."""
    if inputs is None:
        return ()
    if isinstance(inputs, str):
        return (inputs,)
    names = tuple(inputs)
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"input names must be str, not {type(n).__name__} ({n!r})")
    return names


def compile(  # noqa: A001 - mirrors re.compile
    source: str, params: Params = None, inputs: Union[Sequence[str], str, None] = ()
) -> "Kernel":
    """Parse, check and JIT-compile a kernel expression.

    Parameters
    ----------
    source : str
        The kernel program, e.g. ``"max(w)"`` or ``"param t = 2; count(w > c + t)"``.
    params : mapping, optional
        Values for the program's ``param`` declarations, bound to the returned kernel (they can
        still be overridden per call with ``params=``).
    inputs : sequence of str, optional
        Names of further input images the program reads besides ``w``, e.g. ``("g", "m")`` for
        ``"if at(m) > 0 then sum(g * w) / sum(g) else c"``. Each name is that input's window
        under the footprint, as ``w`` is the main input's; ``at(g)`` is its value at the output
        position. The arrays are given to :meth:`Kernel.filter` as ``inputs={"g": ..., "m": ...}``.

    Raises
    ------
    KernelError
        (a ``ValueError``) for any error in the expression; its message shows the offending line
        with a caret under the column and a hint, e.g.::

            unknown function `maxx`
              --> line 1, column 1
              |
            1 | maxx(w)
              | ^^^^
              = hint: did you mean `max`?

        A name that is neither built in nor declared in ``inputs`` is such an error (with a
        note saying how to declare it); so is an invalid or repeated input name.
    """
    return Kernel(source, params, inputs)


class Kernel:
    """A compiled kernel expression. Create with :func:`compile`.

    Immutable and thread-safe. Pickles as its source text, declared inputs and bound params, and
    recompiles when unpickled (so it can be sent to Dask workers in other processes).

    A program with stages (``stage NAME = ...;``, or reductions over several footprints with
    ``over``) runs as several passes over the array; :attr:`passes` gives each as a kernel of
    its own, for running them one at a time (what :func:`jitfilter.dask.filter` does).
    """

    __slots__ = ("_k", "_bound", "_pass")

    def __init__(
        self, source: str, params: Params = None, inputs: Union[Sequence[str], str, None] = ()
    ) -> None:
        if not isinstance(source, str):
            raise TypeError(f"a kernel source must be a str, not {type(source).__name__}")
        self._k = _native_kernel(source, _input_names(inputs))
        self._bound: Dict[str, float] = {}
        #: For a pass of a program (see ``passes``): the program's declared inputs and the
        #: pass's index; None for a whole program.
        self._pass: Optional[Tuple[Tuple[str, ...], int]] = None
        if params:
            self._bound = self._check_params(params)

    # -- introspection -------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """The program text."""
        return self._k.source

    @property
    def param_defaults(self) -> Dict[str, float]:
        """The declared params and their defaults, in declaration order."""
        return dict(self._k.params)

    @property
    def param_ranges(self) -> Dict[str, Tuple[float, float]]:
        """The declared ranges (``param k = 0.3 in 0 .. 1;``) of the params that have one: values
        outside them are refused with ``ValueError``."""
        return dict(self._k.param_ranges)

    @property
    def params(self) -> Dict[str, float]:
        """The param values this kernel applies with: defaults overridden by bound values."""
        values = self.param_defaults
        values.update(self._bound)
        return values

    @property
    def builtins(self) -> Tuple[str, ...]:
        """The names of the language the program reads, in order of first use: ``w``, ``c``,
        ``k``, ``dx``, ``x``, ..., and the inputs it reads as it spells them (``g``, ``w[0]``,
        ``c[2]``, ``at(g, 1, 0)``)."""
        return tuple(self._k.builtins)

    @property
    def inputs(self) -> Tuple[str, ...]:
        """The named inputs declared with ``compile(..., inputs=)``, in order. For a pass (see
        :attr:`passes`), followed by the names of the passes before it, which it may read."""
        return tuple(self._k.inputs)

    @property
    def footprint(self) -> Optional[str]:
        """The footprint the program's result sets for itself with ``over``, as its spec
        (``"disk:5"``, ``"box:9"``, ``"gauss:2"``), or None: the ``footprint=``/``size=`` given
        when filtering. Each of :attr:`passes` has its own. When every pass sets its own,
        ``footprint=`` and ``size=`` may be left out (they would be ignored)."""
        return self._k.footprint

    @property
    def passes(self) -> Tuple[Tuple[str, "Kernel"], ...]:
        """The passes one application makes over the array, in order, as ``(name, kernel)``:
        each stage by its name, then the result, named ``""``. A program without stages is one
        pass. A reduction whose ``over`` differs from the result's is made by a stage
        of its own, named after its text: ``"mean(w) over box:3"``.

        Each pass is a :class:`Kernel` without stages, with its own :attr:`footprint`,
        :attr:`points` and :meth:`halo`, that reads the results of the passes before it as
        named inputs: ``p.filter(img, footprint=fp, inputs={"e": e})``, where ``e`` is the
        float64 result of the pass named ``"e"`` over the whole array (with the same
        ``footprint``, ``mode``, ``cval``, ``origin`` and ``channel_axis``; a stage of several
        values per pixel as an array with a last axis of them). Running the passes so, one
        after another, is what :meth:`filter` does, where stages are made and kept in float64
        and the passes after a stage (the result's always) read every input as float64.
        """
        if self._pass is not None:
            return (("", self),)
        out = []
        for i, (name, native) in enumerate(_native_passes(self.source, self.inputs)):
            p = Kernel.__new__(Kernel)
            p._k = native
            declared = {n for n, _ in native.params}
            p._bound = {n: v for n, v in self._bound.items() if n in declared}
            p._pass = (self.inputs, i)
            out.append((name, p))
        return tuple(out)

    @property
    def outputs(self) -> int:
        """Values per pixel the program computes: the items of a tuple result, else 1."""
        return self._k.outputs

    @property
    def indexes_channels(self) -> bool:
        """Whether the program indexes channels (``w[j]``, ``c[j]``, ``g[j]``): it then sees all
        channels of a ``channel_axis=-1`` image at once; otherwise it runs once per channel."""
        return self._k.indexes_channels

    @property
    def planes(self) -> Tuple[Tuple[str, Optional[int]], ...]:
        """The input planes the program reads, as ``(name, channel or None)``; the first is
        always ``("w", None)``."""
        return tuple(self._k.planes)

    @property
    def points(self) -> Tuple[Tuple[int, int, int], ...]:
        """The constant offsets of the program's ``at()`` samples, as ``(oz, oy, ox)``: along the
        third-last, second-last and last axis (``at(w, 1, -2)`` is ``(0, -2, 1)``)."""
        return tuple(tuple(p) for p in self._k.points)  # type: ignore[misc]

    def halo(
        self,
        footprint: Optional[ArrayLike] = None,
        ndim: Optional[int] = None,
        origin: Union[int, Sequence[int]] = 0,
        *,
        size: Union[int, Sequence[int], None] = None,
    ) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
        """How far the program reads before (``lo``) and after (``hi``) the output position
        along each of ``ndim`` axes: the footprint's cells (shifted by ``origin``, scipy's rule:
        cell ``j`` reads ``position + j - size // 2 - origin``) and the ``at()`` offsets.
        ``ndim`` defaults to the footprint's (or ``size``'s) number of axes. This is the depth a
        chunk needs from its neighbours.

        A pass that sets its own footprint with ``over`` reads that one instead of
        ``footprint``/``size`` (which may then be left out, if every pass does). A program
        with stages reads through all its :attr:`passes`, so their halos add up:
        ``stage e = min(w); max(e)`` with a radius-2 footprint reaches 4 either way."""
        if ndim is None:
            if footprint is not None:
                ndim = np.ndim(footprint)
            elif size is not None and not isinstance(size, numbers.Integral):
                ndim = len(size)  # type: ignore[arg-type]
            else:
                raise ValueError("pass ndim= (or a footprint array) to say how many axes")
        ndim = operator.index(ndim)
        if not 1 <= ndim <= _MAX_DIMS:
            raise ValueError(f"arrays must have 1 to {_MAX_DIMS} dimensions, got {ndim}")
        weights = self._command_weights(ndim, size, footprint)
        origins = _origin_list(origin, ndim)
        return _halo(self._pass_windows(ndim, weights), origins, ndim)

    def _command_weights(
        self, ndim: int, size: Any, footprint: Optional[ArrayLike], stacklevel: int = 4
    ) -> np.ndarray:
        """The footprint given when filtering as weights; a single cell when none is given and
        every pass sets its own (with ``over``)."""
        if footprint is None and size is None and all(p._k.footprint for _, p in self.passes):
            return np.ones((1,) * ndim)
        return _footprint_weights(ndim, size, footprint, stacklevel=stacklevel)

    def _pass_windows(self, ndim: int, weights: np.ndarray) -> list:
        """Per pass: the weights of the footprint it reads on ``ndim`` axes (its own, or
        ``weights``), and its ``at()`` offsets."""
        out = []
        for _, p in self.passes:
            own = p._k.own_footprint(ndim)
            out.append((weights if own is None else own, p.points))
        return out

    @property
    def callback_address(self) -> int:
        """Address of the native ``int f(double *, npy_intp, double *, void *)``.

        Valid while this kernel (or any object holding it) is alive. Without a context as
        ``user_data``, params take their defaults and kernels that use ``c``, ``k``, ``dx``/``dy``/
        ``dz`` or positions return 0. Prefer :meth:`low_level_callable`.
        """
        return self._k.callback_address

    @property
    def plan_summary(self) -> Tuple[str, ...]:
        """What the planner does with each reduction, one line each."""
        return tuple(self._k.plan_summary)

    def cranelift_ir(self) -> str:
        """The Cranelift IR of the compiled kernel, as text."""
        return self._k.cranelift_ir()

    def with_params(self, **params: float) -> "Kernel":
        """A kernel sharing this one's compiled code, with more params bound."""
        k = Kernel.__new__(Kernel)
        k._k = self._k
        k._bound = {**self._bound, **self._check_params(params)}
        k._pass = self._pass
        return k

    def _check_params(self, params: Mapping[str, float]) -> Dict[str, float]:
        declared = [name for name, _ in self._k.params]
        out: Dict[str, float] = {}
        for name, value in dict(params).items():
            if name not in declared:
                known = ", ".join(declared) if declared else None
                raise ValueError(
                    f"unknown param `{name}`"
                    + (f" (the kernel declares: {known})" if known else " (the kernel declares no params)")
                )
            out[name] = float(value)
            lo_hi = self._k.param_ranges.get(name)
            if lo_hi is not None and not lo_hi[0] <= out[name] <= lo_hi[1]:
                raise ValueError(
                    f"param `{name}` = {out[name]:g} is outside its declared range "
                    f"{lo_hi[0]:g} .. {lo_hi[1]:g}"
                )
        return out

    def _param_list(self, params: Params) -> list:
        merged = dict(self._bound)
        if params:
            merged.update(self._check_params(params))
        return list(merged.items())

    def _check_inputs(self, inputs: NamedInputs) -> Dict[str, ArrayLike]:
        """The named inputs of a call, each declared when compiling."""
        if inputs is None:
            return {}
        if not isinstance(inputs, Mapping):
            raise TypeError(
                f"inputs must be a mapping of names to arrays, e.g. inputs={{'g': guide}}, "
                f"not {type(inputs).__name__}"
            )
        declared = self.inputs
        for name in inputs:
            if not isinstance(name, str):
                raise TypeError(f"input names must be str, not {type(name).__name__} ({name!r})")
            if name not in declared:
                if name == "w":
                    raise ValueError(
                        "`w` is the main input (the first argument); named inputs are the others"
                    )
                names = (*declared, *(n for n in inputs if n not in declared))
                raise ValueError(
                    f"input `{name}` was not declared when the kernel was compiled "
                    + (f"(it declares {', '.join(declared)})" if declared else "(it declares no inputs)")
                    + f": declare it with jitfilter.compile(source, inputs={names!r})"
                )
        return dict(inputs)

    def __repr__(self) -> str:
        extra = f", params={self._bound!r}" if self._bound else ""
        if self._pass is not None:
            declared, index = self._pass
            if declared:
                extra += f", inputs={declared!r}"
            return f"jitfilter.compile({self.source!r}{extra}).passes[{index}][1]"
        if self.inputs:
            extra += f", inputs={self.inputs!r}"
        return f"jitfilter.compile({self.source!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Kernel) and (self.source, self.inputs, self._bound, self._pass) == (
            other.source,
            other.inputs,
            other._bound,
            other._pass,
        )

    def __hash__(self) -> int:
        return hash((self.source, self.inputs, tuple(sorted(self._bound.items())), self._pass))

    def __reduce__(self):
        if self._pass is not None:
            declared, index = self._pass
            return (_rebuild_pass, (self.source, dict(self._bound), declared, index))
        return (_rebuild_kernel, (self.source, dict(self._bound), self.inputs))

    # -- filtering -----------------------------------------------------------------------------

    def filter(
        self,
        input: ArrayLike,
        size: Union[int, Sequence[int], None] = None,
        footprint: Optional[ArrayLike] = None,
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
        _region: Optional[Sequence[Any]] = None,
        _grid: Optional[Sequence[int]] = None,
    ) -> np.ndarray:
        """Apply the kernel to every window of ``input``: ``scipy.ndimage.generic_filter``,
        compiled and multithreaded. The GIL is released while filtering.

        Parameters
        ----------
        input : array_like
            1-D to 32-D (plus a channel axis with ``channel_axis=-1``). uint8, uint16, int16,
            int32, float32 and float64 are read in place
            (any strides; non-contiguous arrays are copied once); bool, int8, uint32, int64,
            uint64 and float16 are converted first (int64/uint64 beyond 2**53 lose precision,
            as the kernel computes in float64). Complex input is refused.
        size : int or sequence of int, optional
            A box footprint, as scipy's ``size``. Ignored (with a warning) if ``footprint`` is
            given. Reductions with an ``over`` of their own use that footprint instead; when
            every pass sets its own (``mean(w) over box:3 - mean(w) over box:9``), ``size``
            and ``footprint`` may both be left out.
        footprint : array_like, optional
            Which neighbours form the window: nonzero cells, in C order (scipy's buffer order).
            A bool array gives ``k == 1``; a numeric array's nonzero values become the weights
            ``k`` (scipy itself would use it only as a mask, so the window is the same). It may
            have fewer dimensions than ``input``; it then applies along the last axes.
        output : array or dtype, optional
            scipy's semantics: ``None`` gives the input's dtype; a dtype gives that dtype; an
            array of the input's shape is written into and returned. Integer outputs are
            rounded half to even and saturated, NaN becomes 0 (scipy truncates instead).
        mode : {'reflect', 'mirror', 'nearest', 'wrap', 'constant', 'grid-mirror', 'grid-wrap', 'grid-constant'} or sequence
            How the input is extended beyond its edges, exactly as scipy.ndimage; or one mode
            per axis (``["reflect", "wrap"]``, as scipy's separable filters take).
        cval : float
            The value beyond the edges for ``mode='constant'``.
        origin : int or sequence of int
            Shifts the footprint, per axis, with scipy's rules and limits.
        inputs : mapping of str to array_like, optional
            The named inputs the program reads, e.g. ``{"g": guide}``; each name must have been
            declared with ``compile(..., inputs=)``. Each has the image's shape (with
            ``channel_axis=-1``: the image's shape without its channel axis, optionally plus a
            channel axis of its own). They are converted like ``input``; when their dtypes differ
            from ``input``'s, all are read as float64 (exact for every engine dtype).
        channel_axis : None or -1
            ``-1`` (skimage's name): the last axis of ``input`` is channels. The program reads
            channel ``j`` as ``w[j]`` / ``c[j]`` (and ``channels`` is the count); a program that
            never indexes channels runs on each channel in turn. The result then always has a
            trailing axis. Only the last axis can hold channels (move it with ``np.moveaxis``).
        params : mapping, optional
            Values for the program's ``param`` declarations (override the bound ones).
        threads : int, optional
            Worker threads; default: one per core.
        axes : int or sequence of int, optional
            The axes the footprint applies along (scipy's ``axes=``): ``size``, ``footprint``,
            ``origin`` and a mode sequence then have one entry per listed axis, and windows never
            cross the other axes. Negative axes count from the end.
        engine : {'auto', 'fused', 'callback', 'interpreter'}
            ``auto`` (default) is the fastest: the planner computes reductions it can share
            between neighbouring windows (sliding sums in double-double, van Herk/Gil-Werman
            max/min), the rest runs in the fused row function. ``callback`` runs jitfilter's
            window loop calling the same native callback scipy calls, so it equals
            ``generic_filter(input, k.low_level_callable(...))`` bit for bit (``auto`` can
            differ from it in the last bits, being more accurate). ``interpreter`` is the slow
            reference implementation.

        Returns
        -------
        numpy.ndarray
            The filtered array (``output`` itself when an array was given): the image's shape,
            plus a trailing axis when there are several values per pixel (a tuple result gives
            one per item; with ``channel_axis=-1`` a program that never indexes channels gives
            one per channel and item, channel-major).
        """
        # ``_grid`` (jitfilter.dask): ``input``, and each named input given as a list, are the
        # pieces of one array on that grid over the first axes (see ``Inputs::pieces``).
        def each(a: Any, f: Callable[[Any], Any]) -> Any:
            return [f(p) for p in a] if _grid is not None and isinstance(a, list) else f(a)

        first = input[0] if _grid is not None else input
        channels = _channel_axis(channel_axis, np.ndim(first))
        in_dtype = _as_input(first, channels=channels)[1]
        arr = each(input, lambda a: _as_input(a, channels=channels)[0])
        named = [
            (name, each(a, lambda p, n=name: _as_input(p, f"input `{n}`", channels=channels, image=False)[0]))
            for name, a in self._check_inputs(inputs).items()
        ]
        dtype = lambda a: (a[0] if isinstance(a, list) else a).dtype  # noqa: E731
        if any(dtype(a) != dtype(arr) for _, a in named):
            # One element type for all inputs in the engine: float64 holds every value exactly.
            wide = lambda p: p.astype(np.float64, copy=False)  # noqa: E731
            arr = each(arr, lambda p: p.astype(np.float64))
            named = [(n, each(a, wide)) for n, a in named]
        full = _pieces_shape(arr, _grid) if _grid is not None else arr.shape
        shape = full[:-1] if channels else full
        # ``_region`` (jitfilter.dask): per axis ``None`` or ``(length, held ranges, computed
        # range)``: the input is that part of a larger array, and the result its computed part.
        region = list(_region or [])
        computed = tuple(n if r is None else r[2][1] - r[2][0] for n, r in zip(shape, region))
        out_shape = self._out_shape(computed or shape, full[-1] if channels else None)
        out_dtype, out_array = _resolve_output(output, out_shape, in_dtype)
        axis_list = _axes(axes, len(shape))
        nax = len(shape) if axis_list is None else len(axis_list)
        weights = self._command_weights(nax, size, footprint)
        origins = _origin_list(origin, nax)
        if 0 in shape or 0 in out_shape[: len(shape)]:
            result = np.empty(out_shape, dtype=out_dtype)
        else:
            native_out = _NATIVE.get(out_dtype, "float64")
            # An output array the engine can write itself is written in place (no result array
            # and no copy): of the engine's dtype, aligned, C-contiguous and writeable. Inputs
            # sharing its memory (scipy's separable filters pass one array as both) are read
            # from copies in buffers kept per thread, as they are read while it is written.
            into = None
            if (
                out_array is not None
                and out_array.dtype.name == native_out
                and out_array.dtype.isnative
                and out_array.flags.aligned
                and out_array.flags.c_contiguous
                and out_array.flags.writeable
            ):
                into = out_array

                def apart(i: int, a: np.ndarray) -> np.ndarray:
                    if not np.may_share_memory(out_array, a):
                        return a
                    copy = _scratch(("apart", i), a.shape, a.dtype)
                    np.copyto(copy, a)
                    return copy

                arr = apart(0, arr)
                named = [(n, apart(i + 1, a)) for i, (n, a) in enumerate(named)]
            result = self._k.filter(
                arr,
                weights,
                native_out,
                _mode_name(mode, nax),
                float(cval),
                origins,
                self._param_list(params),
                None if threads is None else int(threads),
                engine,
                named,
                channels,
                axis_list or [],
                region,
                into,
                list(_grid or []),
            )
            if into is not None:
                return out_array
            if result.dtype != out_dtype:
                result = _convert(result, out_dtype)
        if out_array is not None:
            np.copyto(out_array, result, casting="unsafe")
            return out_array
        return result

    def _out_shape(self, shape: Tuple[int, ...], channels: Optional[int]) -> Tuple[int, ...]:
        """The result's shape for an image of ``shape`` with ``channels`` channels (None: no
        channel axis): the values per pixel are runs (one per channel unless the program indexes
        channels) times results."""
        runs = 1 if channels is None or self.indexes_channels else channels
        values = runs * self.outputs
        return tuple(shape) + ((values,) if channels is not None or values > 1 else ())

    # -- scipy ---------------------------------------------------------------------------------

    def low_level_callable(
        self,
        footprint: Optional[ArrayLike] = None,
        size: Union[int, Sequence[int], None] = None,
        shape: Optional[Sequence[int]] = None,
        *,
        origin: Union[int, Sequence[int]] = 0,
        params: Params = None,
    ) -> "KernelCallable":
        """A real ``scipy.LowLevelCallable`` for ``scipy.ndimage.generic_filter``.

        ``ndi.generic_filter(img, k.low_level_callable(footprint=fp, shape=img.shape),
        footprint=fp, origin=o)`` gives the same result as ``k.filter(img, footprint=fp,
        origin=o, output=np.float64, engine="callback")`` bit for bit, and as the default
        engine to rounding (scipy then truncates to the input dtype; jitfilter rounds).

        Parameters
        ----------
        footprint, size : the same window you give ``generic_filter``
            Needed when the kernel uses ``c``, ``k``, ``dx``, ``dy``, ``dz`` or ``d(j)`` (the
            callback carries their tables). Kernels using only ``w``, ``n``, ``i`` and params work with
            any window.
        shape : sequence of int
            The shape of the array you will filter (up to 32 axes). Needed when the kernel
            uses ``x``, ``y``, ``z``, ``pos(j)``, ``width``, ``height`` or ``depth``: the
            callback counts its calls to know the position, as scipy visits elements in C
            order.
        origin : int or sequence of int
            Must equal the ``origin`` you give ``generic_filter`` (it shifts ``dx``/``dy``/
            ``dz`` and which cell is ``c``). ``mode`` and ``cval`` need not be given: scipy
            applies them.
        params : mapping, optional
            Param values (override the bound ones).

        Notes
        -----
        One callable serves one ``generic_filter`` call at a time. Its position counter wraps
        after a whole array, so sequential calls on arrays of ``shape`` need nothing; after an
        interrupted call use :meth:`KernelCallable.reset`, and give each thread its own
        callable. If scipy passes a window size other than the footprint's (a different
        ``footprint`` or ``size`` than the one given here), kernels that use the tables return
        0 and scipy raises ``RuntimeError``; nothing crashes.

        The callback's ABI carries one window of one input and returns one number: a kernel that
        reads named inputs, indexes channels, reads ``at()`` with an offset or returns a tuple
        raises ``ValueError`` saying which (use :meth:`filter` for those).
        """
        # The ABI check first (it compiles the callback, which is needed anyway).
        _ = self._k.callback_address
        used = set(self.builtins)
        needs_tables = sorted(used & _TABLE_NAMES)
        needs_shape = sorted(used & _POSITION_NAMES)
        if needs_shape and shape is None:
            raise ValueError(
                f"this kernel uses {', '.join(needs_shape)}: pass shape= (the shape of the array "
                "you will filter) so the callback can track positions"
            )
        if shape is not None:
            shape = tuple(operator.index(s) for s in shape)
            ndim = len(shape)
        elif footprint is not None:
            ndim = np.ndim(footprint)
        elif size is not None and not isinstance(size, numbers.Integral):
            ndim = len(size)  # type: ignore[arg-type]
        else:
            ndim = None
        if footprint is None and size is None:
            if needs_tables:
                raise ValueError(
                    f"this kernel uses {', '.join(needs_tables)}: pass the footprint= (or size=) "
                    "you will give generic_filter"
                )
            ndim = ndim or 1
            weights = np.ones((1,) * ndim)
        else:
            if ndim is None:
                if needs_tables:
                    raise ValueError(
                        "size= alone does not say how many axes the window has: pass shape= or "
                        "a footprint array"
                    )
                ndim = 1
            weights = _footprint_weights(ndim, size, footprint)
        if shape is None:
            shape = (1,) * ndim
        origins = _origin_list(origin, len(shape))
        ctx = self._k.scipy_context(list(shape), weights, origins, self._param_list(params))
        state = (self, shape, weights, origins, self._param_list(params))
        return _make_callable(ctx, state)

    def scipy_callable(self, *args: Any, **kwargs: Any) -> "KernelCallable":
        """Alias of :meth:`low_level_callable`."""
        return self.low_level_callable(*args, **kwargs)


def _rebuild_kernel(source: str, params: Dict[str, float], inputs: Tuple[str, ...] = ()) -> Kernel:
    return Kernel(source, params or None, inputs)


def _rebuild_pass(source: str, params: Dict[str, float], inputs: Tuple[str, ...], index: int) -> Kernel:
    p = Kernel(source, None, inputs).passes[index][1]
    return p.with_params(**params) if params else p


def filter(  # noqa: A001 - mirrors scipy.ndimage.generic_filter
    input: ArrayLike,
    kernel: Union[str, Kernel],
    size: Union[int, Sequence[int], None] = None,
    footprint: Optional[ArrayLike] = None,
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
) -> np.ndarray:
    """``generic_filter(input, kernel, ...)`` with a kernel expression (or a :class:`Kernel`)
    in place of the function. See :meth:`Kernel.filter`. An expression is compiled with the
    names of ``inputs`` declared, e.g. ``jf.filter(img, "sum(g * w) / sum(g)", size=5,
    inputs={"g": guide})``."""
    k = kernel if isinstance(kernel, Kernel) else compile(kernel, inputs=_input_names(inputs))
    return k.filter(
        input,
        size=size,
        footprint=footprint,
        output=output,
        mode=mode,
        cval=cval,
        origin=origin,
        inputs=inputs,
        channel_axis=channel_axis,
        params=params,
        threads=threads,
        engine=engine,
        axes=axes,
    )


# -- argument handling (scipy's conventions) ---------------------------------------------------

#: Inputs of these dtypes are converted to an engine dtype without loss (beyond 2**53).
_INPUT_CONVERSIONS: Dict[np.dtype, np.dtype] = {
    np.dtype(np.bool_): np.dtype(np.uint8),
    np.dtype(np.int8): np.dtype(np.int16),
    np.dtype(np.uint32): np.dtype(np.float64),
    np.dtype(np.int64): np.dtype(np.float64),
    np.dtype(np.uint64): np.dtype(np.float64),
    np.dtype(np.float16): np.dtype(np.float32),
    np.dtype(np.longdouble): np.dtype(np.float64),
}


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.kind == "c":
        raise TypeError(f"{what}: complex type not supported")
    if dtype.kind not in "biuf":
        raise TypeError(f"{what}: dtype {dtype} is not a real number type")


def _as_input(
    input: ArrayLike, what: str = "input", *, channels: bool = False, image: bool = True
) -> Tuple[np.ndarray, np.dtype]:
    """The array as the engine reads it (an engine dtype, native byte order), and its dtype
    before conversion. ``channels``: the image has a trailing channel axis. A named input
    (``image=False``) may or may not have one; the engine checks its shape."""
    arr = np.asarray(input)
    dtype = arr.dtype
    _check_dtype(dtype, what)
    extra = 1 if channels else 0
    if image and not 1 + extra <= arr.ndim <= _MAX_DIMS + extra:
        if channels:
            raise ValueError(
                f"arrays must have 1 to {_MAX_DIMS} dimensions plus the channel axis, got {arr.ndim} in all"
            )
        raise ValueError(f"arrays must have 1 to {_MAX_DIMS} dimensions, got {arr.ndim}")
    if not image and not 1 <= arr.ndim <= _MAX_DIMS + 1:
        raise ValueError(
            f"{what} must have 1 to {_MAX_DIMS} dimensions (plus channels), got {arr.ndim}"
        )
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    native = arr.dtype
    if native not in _NATIVE:
        arr = arr.astype(_INPUT_CONVERSIONS.get(native, np.dtype(np.float64)))
    return arr, native


def _pieces_shape(parts: Sequence[np.ndarray], grid: Sequence[int]) -> Tuple[int, ...]:
    """The shape of the array whose pieces are ``parts`` (in C order over ``grid``, a grid over
    its first axes): along each axis of the grid, the lengths of the pieces on the line through
    the first piece."""
    shape = list(parts[0].shape)
    stride = len(parts)
    for a, g in enumerate(grid):
        stride //= g
        shape[a] = sum(parts[i * stride].shape[a] for i in range(g))
    return tuple(shape)


def _channel_axis(channel_axis: Any, ndim: int) -> bool:
    """Whether the input's last axis holds channels: ``channel_axis`` is None or the last axis."""
    if channel_axis is None:
        return False
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, numbers.Integral):
        raise TypeError(f"channel_axis must be None or -1, not {channel_axis!r}")
    if channel_axis == -1 or (ndim >= 2 and channel_axis == ndim - 1):
        return True
    raise ValueError(
        f"channel_axis={channel_axis} is not supported: channels must be the last axis "
        f"(channel_axis=-1) or absent (None); move them last with "
        f"np.moveaxis(input, {channel_axis}, -1)"
    )


def _halo(passes: Sequence[Tuple[np.ndarray, Sequence[Sequence[int]]]], origins: Sequence[int], ndim: int):
    """How far the program reaches before (``lo``) and after (``hi``) the output position along
    each of ``ndim`` axes: per pass over the array (each ``stage``, then the result; ``passes``
    holds each pass's footprint weights and ``at()`` offsets as ``(oz, oy, ox)``), the
    footprint's nonzero cells (applied along the last axes, shifted by the origin) and its
    offsets; passes add up."""
    if len(origins) == 1:
        origins = list(origins) * ndim
    lo, hi = [0] * ndim, [0] * ndim
    for weights, points in passes:
        fshape = (1,) * (ndim - weights.ndim) + tuple(weights.shape)
        cells = np.argwhere(weights.reshape(fshape) != 0)
        for a in range(ndim):
            off = list(cells[:, a] - fshape[a] // 2 - origins[a]) if len(cells) else []
            # (oz, oy, ox): the last three axes.
            off += [p[a - ndim + 3] if a >= ndim - 3 else 0 for p in points]
            lo[a] += int(max([0, *(-o for o in off)]))
            hi[a] += int(max([0, *off]))
    return tuple(lo), tuple(hi)


def _resolve_output(output: Any, shape: Tuple[int, ...], in_dtype: np.dtype):
    if output is None:
        return in_dtype, None
    if isinstance(output, np.ndarray):
        if output.shape != shape:
            raise RuntimeError("output shape not correct")
        _check_dtype(output.dtype, "output")
        if not output.flags.writeable:
            raise ValueError("output array is read-only")
        return output.dtype.newbyteorder("=") if not output.dtype.isnative else output.dtype, output
    dtype = np.dtype(output)
    _check_dtype(dtype, "output")
    return (dtype.newbyteorder("=") if not dtype.isnative else dtype), None


def _convert(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 → a dtype the engine does not write, with the engine's rules for integers."""
    if dtype.kind == "f":
        return result.astype(dtype)
    r = np.rint(result)
    r[np.isnan(r)] = 0.0
    if dtype.kind == "b":
        return np.clip(r, 0.0, 1.0).astype(dtype)
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    r = np.clip(r, lo, hi)
    top = r >= hi  # float(max) may round up past max for 64-bit types
    r[top] = 0.0
    out = r.astype(dtype)
    out[top] = info.max
    return out


def _normalize_sequence(value: Any, rank: int, what: str) -> list:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be an int or a sequence of ints")
    if np.ndim(value) == 0:
        return [value] * rank
    seq = list(value)
    if len(seq) != rank:
        raise RuntimeError("sequence argument must have length equal to input rank")
    return seq


def _footprint_weights(
    ndim: int, size: Any, footprint: Optional[ArrayLike], stacklevel: int = 3
) -> np.ndarray:
    if footprint is None:
        if size is None:
            raise RuntimeError("no footprint or filter size provided")
        sizes = [operator.index(s) for s in _normalize_sequence(size, ndim, "size")]
        if any(s < 1 for s in sizes):
            raise ValueError(f"size must be at least 1 along every axis, got {sizes}")
        return np.ones(sizes, dtype=np.float64)
    if size is not None:
        warnings.warn("ignoring size because footprint is set", UserWarning, stacklevel=stacklevel)
    fp = np.asarray(footprint)
    if fp.dtype.kind == "c":
        raise TypeError("footprint: complex type not supported")
    if fp.ndim == 0 or fp.ndim > ndim:
        raise RuntimeError("filter footprint array has incorrect shape.")
    return np.ascontiguousarray(fp, dtype=np.float64)


def _axes(axes: Any, ndim: int) -> Optional[list]:
    """scipy's ``axes=``: None, an int or a sequence of distinct ints in -ndim..ndim-1."""
    if axes is None:
        return None
    seq = [operator.index(axes)] if np.ndim(axes) == 0 else [operator.index(a) for a in axes]
    for a in seq:
        if not -ndim <= a < ndim:
            raise ValueError(f"specified axis: {a} is out of range")
    seq = [a % ndim for a in seq]
    if len(set(seq)) != len(seq):
        raise ValueError("axes must be unique")
    return seq


def _origin_list(origin: Any, ndim: int) -> list:
    if isinstance(origin, (str, bytes)):
        raise TypeError("origin must be an int or a sequence of ints")
    if np.ndim(origin) == 0:
        return [operator.index(origin)]
    seq = [operator.index(o) for o in origin]
    if len(seq) != ndim:
        raise RuntimeError("sequence argument must have length equal to input rank")
    return seq


def _mode_name(mode: Any, ndim: int) -> str:
    """The engine's spelling of ``mode``: one name, or one per axis of an ``ndim``-D image
    joined by commas (scipy's mode sequences; the same name on every axis is that name)."""
    if isinstance(mode, str):
        modes = mode.split(",") if "," in mode else [mode]
        if len(modes) not in (1, ndim):
            raise RuntimeError("sequence argument must have length equal to input rank")
    elif isinstance(mode, Sequence) or isinstance(mode, np.ndarray):
        modes = list(mode)
        if len(modes) != ndim:
            raise RuntimeError("sequence argument must have length equal to input rank")
    else:
        raise TypeError("mode must be a string, or a sequence of one string per axis")
    for m in modes:
        if not isinstance(m, str) or m not in MODES:
            raise RuntimeError(f"boundary mode not supported: {m!r} (expected one of {', '.join(MODES)})")
    return modes[0] if len(set(modes)) == 1 else ",".join(modes)


# -- buffers kept per thread ------------------------------------------------------------------

_SCRATCH = threading.local()

# At most this many bytes of scratch arrays are kept per thread (memory dask's accounting does not
# see); larger ones are made afresh per call.
_SCRATCH_KEPT = 256 << 20


def _scratch(slot: Any, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array of this thread's own, kept for the next call: buffer ``slot`` (a
    jitfilter.dask task's joined inputs, or an input copied away from the output it shares memory
    with), read only while one filter runs. A fresh array per call is fresh memory (where dask's
    workers return freed memory to the OS, ``MALLOC_TRIM_THRESHOLD_``, or for arrays numpy
    takes from the OS): a page fault per 4 KiB on every call."""
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = {}
    n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    buf = bufs.get(slot)
    if buf is None or buf.nbytes < n:
        others = sum(b.nbytes for s, b in bufs.items() if s != slot)
        buf = np.empty(max(n, 1), np.uint8)
        if others + buf.nbytes <= _SCRATCH_KEPT:
            bufs[slot] = buf
        else:
            bufs.pop(slot, None)
    return buf[:n].view(dtype).reshape(shape)


# -- scipy.LowLevelCallable --------------------------------------------------------------------

_CALLABLE_CLASS = None


def _callable_class():
    global _CALLABLE_CLASS
    if _CALLABLE_CLASS is None:
        from scipy import LowLevelCallable

        class KernelCallable(LowLevelCallable):
            """A ``scipy.LowLevelCallable`` running a compiled kernel, made by
            :meth:`Kernel.low_level_callable`.

            It owns the callback's context (params, footprint tables, position counter) and keeps
            the compiled code alive. Pickles as the kernel and its arguments, and rebuilds.
            """

            # Set once by _make_callable; LowLevelCallable is a tuple, this subclass has a dict.
            _context: Any
            _state: Any

            def reset(self) -> None:
                """Restart position tracking at the first element (after an interrupted
                ``generic_filter`` call)."""
                self._context.reset()

            @property
            def kernel(self) -> Kernel:
                """The kernel this callable runs."""
                return self._state[0]

            @property
            def shape(self) -> Tuple[int, ...]:
                """The array shape positions are tracked for."""
                return self._state[1]

            @property
            def footprint(self) -> np.ndarray:
                """The footprint weights the tables describe."""
                return self._state[2]

            @property
            def user_data_address(self) -> int:
                """The address of the context passed as ``user_data``."""
                return self._context.address

            @property
            def function_address(self) -> int:
                """The address of the native callback."""
                return self._context.function_address

            def __reduce__(self):
                return (_rebuild_callable, self._state)

            def __repr__(self) -> str:
                return (
                    f"<jitfilter.KernelCallable {self.kernel.source!r} shape={self.shape} "
                    f"signature={self.signature!r}>"
                )

        KernelCallable.__module__ = __name__
        KernelCallable.__qualname__ = "KernelCallable"
        _CALLABLE_CLASS = KernelCallable
    return _CALLABLE_CLASS


def _make_callable(ctx: Any, state: tuple) -> "KernelCallable":
    cls = _callable_class()
    llc = cls(ctx.function_capsule(), ctx.user_data_capsule())
    llc._context = ctx
    llc._state = state
    return llc


def _rebuild_callable(kernel, shape, weights, origins, params) -> "KernelCallable":
    ctx = kernel._k.scipy_context(list(shape), weights, origins, params)
    return _make_callable(ctx, (kernel, shape, weights, origins, params))


def __getattr__(name: str) -> Any:
    # Lazy: scipy and dask are optional.
    if name == "KernelCallable":
        return _callable_class()
    if name == "dask":
        import importlib

        return importlib.import_module(".dask", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
