"""``import jitfilter.ndimage as ndi``: scipy.ndimage's window filters, computed by jitfilter.

The functions are scipy's own (the installed scipy's Python code: names, signatures, defaults,
argument checks, error types and messages, ``axes``, mode sequences, ``output`` dtypes and
arrays, complex input via real and imaginary parts), re-bound so that the compiled C routines
they end in run as jitfilter kernels instead:

========================  ===========================================
scipy's C routine          jitfilter kernel
========================  ===========================================
``correlate``              ``sum(k * w)`` over the weights' footprint
``correlate1d``            scipy's weighted sums themselves
                           (``jitfilter.lines`` in the core)
``uniform_filter1d``       ``mean(w)`` along one axis (integers); scipy's
                           running sum itself (others: ``jitfilter.lines``)
``min_or_max_filter(1d)``  ``min(w)`` / ``max(w)``; with a structure
                           ``min(w - k)`` / ``max(w + k)``
``rank_filter``            ``kth(w, r)``
``generic_filter``         the expression string or compiled kernel
========================  ===========================================

so ``gaussian_filter``, ``uniform_filter``, ``median_filter``, ``grey_opening``,
``white_tophat``… are those of scipy with jitfilter underneath. Two changes of scipy's Python
code, neither changing a value: a new result array is left unfilled (every routine writes all
of it), and the separable filters (``gaussian_filter``, ``uniform_filter``, ``sobel``,
``prewitt``) keep their intermediate passes in a scratch array of the output's type instead of
in the output itself (scipy's passes read the array they write, which costs a copy per pass).
Results are cast into the output array as scipy's C code casts them (a C cast: float to integer
truncates), not with the core's rounding (``jf.filter`` rounds half to even and saturates).

``generic_filter`` takes a jitfilter expression (``"median(w) - min(w)"``) or a compiled
:class:`jitfilter.Kernel` as ``function``; ``extra_keywords`` then sets the program's params. A
Python callable or a ``LowLevelCallable`` runs scipy's own loop, as in scipy.

What jitfilter does not compute exactly raises ``NotImplementedError`` naming the scipy function
to use instead, never a different result: order statistics of 64-bit integers beyond 2**53
and a non-flat structure with zero entries and non-integer values.
Float data holding a NaN goes to scipy's own routine for the order statistics (minimum,
maximum, rank, median, percentile, grey morphology): scipy's result there is what its
algorithms make of NaN (a comparison with NaN is false), which jitfilter's ``min``/``kth``
(NaN propagates) do not reproduce; it costs a scan of the data (``np.min``) per call. So do a
NaN ``cval``, a structure with an infinite value or one beyond an integer input's range, and a
structure on float32 data (scipy adds it in float32, rounding there, where the kernel adds in
float64). A ``cval`` outside an integer input's type reads as scipy reads it: cast to the type
over a footprint, kept as a double by the 1-D filters until the result's cast.
Arrays and footprints may have any number of axes up to numpy's 32.

Known differences left (a review's differential fuzz against scipy 1.17): which zero (+0 or
-0) an order statistic returns when both tie;
outputs of ``bool`` type hold 0 or 1 where scipy's C cast leaves other bytes (2, 255) in them,
so the truth values a multi-pass filter (``gaussian_filter``, ``sobel``) reads back from a
bool intermediate can differ too; out-of-range values
into ``uint64`` outputs (C's conversion there is the compiler's); scipy's 1-D rank code on
bool and uint64 data with an out-of-range cval (it computes in int64).

``uniform_filter1d`` (and so ``uniform_filter``) runs scipy's own arithmetic: a running sum
along each line (adding the value entering minus the one leaving, then dividing by the size),
done exactly as scipy does it by ``jitfilter.lines`` in the core, so its results are scipy's
bit for bit — including a NaN or infinity turning the rest of its line NaN, and 64-bit integers
read as doubles. Integer data of up to 32 bits (with a whole-number ``cval`` whose sums stay
below 2**53) goes to the ``mean(w)`` kernel instead: its window sums are exact however they are added, so it equals
scipy's too, and its integer sums are faster. (Until 2026-12-07 floats went to ``mean(w)``,
which sums each window on its own: within rounding of scipy's, not equal.)
"""

from __future__ import annotations

import functools
import math
import threading
import types
from typing import Any, Callable, Dict

import numpy as np

try:
    from scipy.ndimage import _filters as _sp_filters
    from scipy.ndimage import _morphology as _sp_morphology
    from scipy.ndimage import _nd_image as _sp_nd_image
    from scipy.ndimage import _ni_support as _sp_support
    from scipy.ndimage import _rank_filter_1d as _sp_rank_1d
except ImportError as e:  # pragma: no cover - depends on the installed scipy
    raise ImportError(
        "jitfilter.ndimage builds on scipy.ndimage's Python code (scipy >= 1.15): " + str(e)
    ) from e

import jitfilter as _jf

__all__ = [
    "correlate",
    "correlate1d",
    "convolve",
    "convolve1d",
    "gaussian_filter",
    "gaussian_filter1d",
    "uniform_filter",
    "uniform_filter1d",
    "minimum_filter",
    "minimum_filter1d",
    "maximum_filter",
    "maximum_filter1d",
    "median_filter",
    "rank_filter",
    "percentile_filter",
    "generic_filter",
    "grey_erosion",
    "grey_dilation",
    "grey_opening",
    "grey_closing",
    "white_tophat",
    "black_tophat",
    "morphological_gradient",
    "morphological_laplace",
    "prewitt",
    "sobel",
    "laplace",
    "gaussian_laplace",
    "gaussian_gradient_magnitude",
]

# scipy's C mode codes (`_ni_support._extend_mode_to_code`); the grid- forms are the plain ones
# for filters.
_MODES = {0: "nearest", 1: "wrap", 2: "reflect", 3: "mirror", 4: "constant", 5: "wrap", 6: "constant"}
_EXACT = 2.0**53
# The core's default bound on a window's cells (`Limits::max_footprint`).
_MAX_WINDOW = 1 << 20


class _Uncovered(NotImplementedError):
    pass


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> "_jf.Kernel":
    return _jf.compile(source)


def _c_types(one_d: bool, *arrays: np.ndarray) -> None:
    """scipy's C routines take bool, integers, float32 and float64, and say so in their words."""
    for a in arrays:
        d = a.dtype
        if not (d.kind in "biu" or (d.kind == "f" and d.itemsize in (4, 8))):
            raise RuntimeError(f"array type {d!r} not supported" if one_d else "array type not supported")


def _engine_input(a: np.ndarray, exact: bool) -> np.ndarray:
    """``a`` as an array the engine reads (bool and 64-bit integers widened). scipy's C code
    reads values as doubles for sums (`exact` False), so 64-bit integers may round as there; an
    order statistic compares them in their own type, so they must fit in a double."""
    if a.dtype.kind == "b":
        return a.astype(np.uint8)
    if a.dtype.kind in "iu" and a.dtype.itemsize == 8:
        if exact and a.size and max(abs(int(a.max())), abs(int(a.min()))) > _EXACT:
            raise _Uncovered("order statistics of 64-bit integers beyond 2**53")
        return a.astype(np.float64)
    return a


def _run(source, input, footprint, output, mode, cval, origins, weights=None, params=None,
         one_d=False, exact=True, same_type=False, engine="auto"):
    """Filters ``input`` with the program ``source`` (or a Kernel) over the N-D ``footprint``
    (scipy's, one axis per input axis) and writes the result into ``output`` as C casts do.
    `same_type`: the result is one of the input's values (an order statistic) or a whole number
    in the input type's range, so it is made in the input's type (by the engine's native paths,
    or converted exactly) rather than in float64.

    Neighbouring axes the footprint does not span (size 1 there) merge into one, which keeps
    the array's memory order and leaves the engine fewer axes to walk."""
    input = np.asarray(input)
    _c_types(one_d, input, output)
    fp = np.asarray(footprint, dtype=bool) if weights is None else np.asarray(weights, np.float64)
    origins = [int(o) for o in origins]
    spanned = [ax for ax in range(input.ndim) if fp.shape[ax] > 1]
    if input.size == 0:
        return
    x = _engine_input(input, exact)
    out_type = _result_type(x, output, same_type)
    kw = dict(mode=_MODES[int(mode)], cval=float(cval), params=params, output=out_type,
              engine=engine)
    # Runs of axes: each spanned axis alone, neighbouring unspanned ones together.
    groups = []
    for ax in range(input.ndim):
        if ax in spanned or not groups or groups[-1][0] in spanned:
            groups.append([ax])
        else:
            groups[-1].append(ax)
    kernel = _program(source, len(groups), next((i for i, g in enumerate(groups) if g[0] in spanned), 0))
    size = lambda g: math.prod(input.shape[ax] for ax in g)
    shape = [size(g) for g in groups]
    f = fp.reshape([math.prod(fp.shape[ax] for ax in g) for g in groups])
    o = [origins[g[0]] if g[0] in spanned else 0 for g in groups]
    # Written into `output` itself when it can be (Kernel.filter copies instead when it
    # overlaps the input, as when scipy's separable filters pass one array as both).
    direct = output.dtype == out_type and output.flags.c_contiguous
    if direct:
        kw["output"] = output.reshape(shape)
    res = kernel.filter(x.reshape(shape), footprint=f, origin=o, **kw)
    if direct:
        return
    res = res.reshape(input.shape)
    _store(output, res)


def _result_type(x: np.ndarray, output: np.ndarray, same_type: bool) -> np.dtype:
    """The type the engine makes results in for ``output`` from ``x``: ``x``'s own when they
    are ``same_type`` (see `_run`), else float64 — or float32 for a float32 output, as the
    engine's float32 results round as C's cast of the double does."""
    if same_type and x.dtype in _jf.DTYPES:
        return x.dtype
    return np.dtype(np.float32 if output.dtype == np.float32 else np.float64)


def _program(source, ndim: int, axis: int) -> "_jf.Kernel":
    """The kernel of ``source``: a program, a Kernel, or a function of the array's number of
    axes and the (first) filtered axis's index that returns the program."""
    if isinstance(source, _jf.Kernel):
        return source
    if callable(source):
        source = source(ndim, axis)
    return _compiled(source)


def _c_int(values: Any, dtype: np.dtype) -> np.ndarray:
    """C's cast of doubles to the integer ``dtype`` as compilers make it on x86: a 32-bit
    conversion (64-bit for uint32 and the 64-bit types) truncating toward zero, its result cut
    to the type's bits; out of range or NaN, the conversion gives its lowest value. (numpy's
    own casts saturate or differ between vectorised and scalar loops there.)"""
    dtype = np.dtype(dtype)
    via = np.int64 if dtype.itemsize == 8 or dtype == np.uint32 else np.int32
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(values, np.float64).astype(via).astype(dtype, copy=False)


def _store(output: np.ndarray, res: np.ndarray) -> None:
    """Writes results as scipy's C code does: a C cast to the output's type."""
    if output.dtype.kind == "b" and res.size:
        # npy_bool is an unsigned char: C's cast truncates to a byte first (0.5 and 256 are
        # False), where numpy's cast to bool tests for nonzero.
        np.not_equal(_c_int(res, np.uint8), 0, out=output)
    elif output.dtype == np.uint32 and res.size and res.dtype.kind == "f":
        # numpy's vectorised cast to uint32 saturates negative values where C's (through 64
        # bits) wraps them; in range (NaN is not) they agree, and so do the other types'.
        inside = res.min() >= 0 and res.max() < 2.0**32
        np.copyto(output, res if inside else _c_int(res, output.dtype), casting="unsafe")
    else:
        # NaN and values beyond an integer type are undefined in C; numpy warns about them.
        with np.errstate(invalid="ignore"):
            np.copyto(output, res, casting="unsafe")


def _cval_in_type(input: np.ndarray, cval: float) -> float:
    """scipy's order statistics over a footprint read ``cval`` cast to an integer input's type
    (a C cast: 2.7 reads as 2, 300 as 44 in uint8)."""
    if input.dtype.kind not in "biu":
        return cval
    # npy_bool is an unsigned char: its values are bytes.
    return float(_c_int(cval, np.uint8 if input.dtype.kind == "b" else input.dtype))


def _fits(values: np.ndarray, dtype: np.dtype) -> bool:
    """Whether every one of ``values`` lies within the integer ``dtype``'s range."""
    info = np.iinfo(dtype)
    return not values.size or bool(values.min() >= info.min and values.max() <= info.max)


def _exact_in_type(input: np.ndarray, cval: float) -> bool:
    """Whether ``cval`` is one of the input type's values (else results made in that type
    would hold it otherwise than scipy's double line buffers do: 127.9 in float32, 2.7 in
    uint8)."""
    c = float(cval)
    if input.dtype == np.float32:
        with np.errstate(over="ignore"):
            return float(np.float32(c)) == c
    if input.dtype.kind == "b":
        # A bool input's values are 0 and 1 (its lines hold any byte).
        return c in (0.0, 1.0)
    if input.dtype.kind not in "iu":
        return True
    info = np.iinfo(input.dtype)
    return c == np.trunc(c) and info.min <= c <= info.max


def _scipy_name(fn: Callable) -> Callable:
    """Turns what jitfilter does not cover into NotImplementedError naming scipy's routine."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _Uncovered as e:
            raise NotImplementedError(
                f"jitfilter.ndimage does not cover {e} yet; use scipy.ndimage, whose result this "
                "would have to equal"
            ) from None

    return run


# ---- the C routines, as jitfilter kernels ---------------------------------------------------


def _line(ndim: int, axis: int, values: np.ndarray) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = len(values)
    return np.asarray(values).reshape(shape)


def _origins(ndim: int, axis: int, origin: int) -> list:
    o = [0] * ndim
    o[axis] = int(origin)
    return o


def _weights(weights: np.ndarray) -> np.ndarray:
    # scipy's correlate keeps the cells whose |weight| exceeds DBL_EPSILON (NaN does not).
    w = np.array(weights, dtype=np.float64)
    w[~(np.abs(w) > np.finfo(np.float64).eps)] = 0.0
    return w


def _correlate(input, weights, output, mode, cval, origins):
    w = _weights(weights)
    if not w.any():
        _c_types(False, np.asarray(input), output)
        _store(output, np.zeros(np.shape(input)))
        return
    # Both engines below add the cells in footprint order, as scipy's NI_Correlate does, so the
    # sums round alike (and truncate alike into integer outputs). The planner's weighted sum
    # (registers across the window) is the faster (3x3 to 23x23), but it sums weights that
    # factor over a full grid of cells in two 1-D passes, which rounds otherwise: such weights
    # go to the fused row.
    # `+ 0`: scipy's sum starts from +0, so it is never -0 (jitfilter's starts from -0).
    _run("sum(k * w) + 0", input, None, output, mode, cval, origins, weights=w, exact=False,
         engine="auto" if _window_order_planned(w) else "fused")


def _window_order_planned(w: np.ndarray) -> bool:
    """Whether the planner sums the weights ``w`` in window order: its nonzero cells are not
    every pair of a set of rows (all axes but the last) and a set of columns, so they cannot
    factor over a full grid."""
    m = (w != 0).reshape(-1, w.shape[-1])
    return int(m.any(axis=1).sum()) * int(m.any(axis=0).sum()) != int(m.sum())


def _line_args(routine: str, input, output, size: int) -> np.ndarray:
    """The input of a 1-D routine, after the checks both make: C's types, and a window the
    core takes."""
    input = np.asarray(input)
    _c_types(True, input, output)
    if int(size) > _MAX_WINDOW:
        raise _Uncovered(f"{routine} with a window of more than {_MAX_WINDOW} values")
    return input


def _weighted(input, weights, output, cval) -> tuple:
    """A ``correlate1d`` pass's input (after the checks of `_line_args`), its weights, and
    whether its results are whole numbers in the input's type (`_whole_in_type`)."""
    w = np.asarray(weights, dtype=np.float64).ravel().tolist()
    input = _line_args("correlate1d", input, output, len(w))
    # Non-negative weights adding to at most 1 keep values within the type's range (NaN fails
    # the first test, ∞ the second). (In Python: a few weights, faster than numpy's calls.)
    bounded = all(v >= 0 for v in w) and sum(w) <= 1 + 1e-12
    return input, w, _whole_in_type(input, output, cval, bounded)


def _correlate1d(input, weights, axis, output, mode, cval, origin):
    input, w, whole = _weighted(input, weights, output, cval)
    _line_filter(input, len(w), w, axis, output, mode, cval, origin, whole)


def _pass(args: tuple, output: np.ndarray):
    """A recorded ``correlate1d`` or ``uniform_filter1d`` pass writing into ``output``: its
    routine, and as the core's pair of passes runs it its input, window size, weights (None
    for a running sum) and whether its results are whole numbers in the input's type — or
    None for those when it does not run in doubles (`_integer_window`)."""
    input, how, _, _, mode, cval, _ = args
    if np.ndim(how):
        input, w, whole = _weighted(input, how, output, cval)
        return _correlate1d, (input, len(w), w, whole)
    input = _line_args("uniform_filter1d", input, output, how)
    whole = _whole_in_type(input, output, cval, True)
    # Integer windows of unsigned data into its own type: the core's pair in integers (see
    # `jitfilter::lines::pair`); other integer windows run in the engine's i32 lanes.
    unsigned = whole and input.dtype in (np.uint8, np.uint16)
    if _integer_window(input, mode, cval, how) and not unsigned:
        return _uniform_filter1d, None
    return _uniform_filter1d, (input, int(how), None, whole)


def _pair(first: tuple, second: tuple) -> None:
    """Two passes of ``correlate1d`` or ``uniform_filter1d`` (their arguments as recorded),
    along the second-last axis and then the last, the second reading the first's results (in
    an array of the output's type, whose values scipy's would be): one call of the core, which
    keeps each band's intermediate values in cache, when both run in doubles and would write
    their results directly; else the two passes through a scratch array."""
    output = second[3]
    (r0, p0), (r1, p1) = _pass(first, output), _pass(second, output)
    x = _line_input(p0[0]) if p0 else None
    direct = (p0 is not None and p1 is not None and x.size > 0
              and _result_type(x, output, p0[3]) == output.dtype
              and _result_type(output, output, p1[3]) == output.dtype
              and _direct(x, output))
    if not direct:
        mid = _jf._scratch("pair", output.shape, output.dtype)
        r0(*first[:3], mid, *first[4:])
        r1(mid, *second[1:])
        return
    _, axis, _, mode, cval, origin = first[1:]
    then = (p1[1], p1[2], _MODES[int(second[4])], float(second[5]), int(second[6]), p1[3])
    _jf._native.line_filter(x, output, p0[1], p0[2], int(axis), _MODES[int(mode)],
                            float(cval), int(origin), p0[3], None, then)


def _line_input(input: np.ndarray) -> np.ndarray:
    """A 1-D routine's input as the core reads it: C-contiguous, of the engine's types (others
    as doubles, as scipy's line buffers read them)."""
    return np.ascontiguousarray(input if input.dtype in _jf.DTYPES else input.astype(np.float64))


def _direct(x: np.ndarray, output: np.ndarray) -> bool:
    """Whether the core can write results made from ``x`` straight into ``output``."""
    return output.flags.c_contiguous and not np.may_share_memory(output, x)


def _line_filter(input, size, weights, axis, output, mode, cval, origin, whole):
    """scipy's 1-D routine (``correlate1d`` with ``weights``, else ``uniform_filter1d`` of
    ``size``) in scipy's own arithmetic (``jitfilter.lines`` in the core): its results bit for
    bit, lines read as scipy's line buffers read values (64-bit integers as doubles)."""
    if input.size == 0:
        return
    x = _line_input(input)
    out_type = _result_type(x, output, whole)
    direct = output.dtype == out_type and _direct(x, output)
    res = output if direct else np.empty(input.shape, out_type)
    _jf._native.line_filter(x, res, int(size), weights, int(axis), _MODES[int(mode)],
                            float(cval), int(origin), whole, None)
    if not direct:
        _store(output, res)


def _whole_in_type(input: np.ndarray, output: np.ndarray, cval: float, bounded: bool) -> bool:
    """Whether results go into an integer output of the input's own type and stay within its
    range (``bounded``: within the range of the values read, which ``cval`` joins): then C's
    cast is truncation alone, the engine can make the truncated results in that type itself (a
    whole number in range converts exactly), and no float64 result is made and cast."""
    if not (bounded and input.dtype == output.dtype and input.dtype.kind in "iu"):
        return False
    info = np.iinfo(input.dtype)
    return bool(info.min <= float(cval) <= info.max)


def _truncate(source: str, whole: bool) -> str:
    return f"trunc({source})" if whole else source


def _integer_window(input: np.ndarray, mode, cval, size) -> bool:
    """Whether ``uniform_filter1d``'s window sums are of integers, exact however they are added
    (scipy's too, below 2**53): the engine's own (in i32 lanes) then give scipy's results, and
    faster than a running sum in doubles."""
    return input.dtype.kind in "biu" and input.dtype.itemsize <= 4 and (
        _MODES[int(mode)] != "constant"
        or (float(cval).is_integer() and abs(float(cval)) * int(size) < _EXACT))


def _uniform_filter1d(input, size, axis, output, mode, cval, origin):
    input = _line_args("uniform_filter1d", input, output, size)
    whole = _whole_in_type(input, output, cval, True)
    if _integer_window(input, mode, cval, size):
        fp = _line(input.ndim, axis, np.ones(int(size), bool))
        _run(_truncate("mean(w)", whole), input, fp, output, mode, cval,
             _origins(input.ndim, axis, origin), one_d=True, exact=False, same_type=whole)
        return
    # Otherwise scipy's running sum itself.
    _line_filter(input, size, None, axis, output, mode, cval, origin, whole)


# ---- separable filters: passes from one array into another ---------------------------------

_CHAIN = threading.local()


def _recorded(routine: Callable) -> Callable:
    """The 1-D ``routine``, recorded instead of run while `_separable` collects passes."""

    @functools.wraps(routine)
    def run(*args):
        passes = getattr(_CHAIN, "passes", None)
        if passes is None:
            return routine(*args)
        passes.append((routine, args))

    return run


def _separable(fn: Callable) -> Callable:
    """scipy's separable filter ``fn``, whose 1-D passes each read the previous one's output
    and nothing else reads in between: the passes are collected while scipy's code runs (its
    argument checks, axes, modes and output as scipy's), then run with their intermediate
    results in a buffer kept for the next call (`_chain`) instead of in the output, each pass
    reading one array while writing another: scipy's passes read the output they write, which
    costs a copy of it per pass. Complex input keeps scipy's route (its real and imaginary
    passes read each other's results). A call inside another's collecting (none in scipy
    today) collects and runs its own passes before it returns, as its caller may read them."""

    replayable = fn.__name__ in _REPLAYABLE

    @functools.wraps(fn)
    def run(input, *args, **kwargs):
        x = np.asarray(input)
        if x.dtype.kind == "c":
            return fn(input, *args, **kwargs)
        if any(isinstance(v, np.ndarray) and np.may_share_memory(v, x)
               for v in (*args, *kwargs.values())):
            # An output sharing the input's memory: scipy's minimum and maximum filters then
            # make their passes into a new array and copy it into the output when they return
            # — before the passes, collected, have run. The passes read a copy of the input.
            input = x.copy()
        outer = getattr(_CHAIN, "passes", None)
        call = (_Call(fn, x, args, kwargs)
                if replayable and outer is None and input is x else None)
        plan = _PLANS.get(call.key) if call and call.key else None
        if plan is not None:
            result, passes = call.replay(*plan)
        else:
            _CHAIN.passes = passes = []
            try:
                result = fn(input, *args, **kwargs)
            finally:
                _CHAIN.passes = outer
            if call and call.key:
                call.keep(result, passes)
        for routine, args in _chain(passes):
            routine(*args)
        return result

    return run


# scipy's separable filters whose only effects, when they collect any pass, are their passes
# (no other routine runs, nothing else writes the output), so that a call's passes can be
# replayed for a call with the same arguments (see `_Call`).
_REPLAYABLE = ("uniform_filter", "gaussian_filter")
# Call signatures → (where the output was an argument, or None; the output's shape and dtype;
# the passes with `_IN` and `_OUT` in place of the input and output).
_PLANS: Dict[Any, tuple] = {}
_IN, _OUT = object(), object()


class _Call:
    """A call of a separable filter, keyed by all that decides its passes — the input's shape,
    dtype and strides, and every other argument's value (arrays of a few values by content;
    larger ones by shape, dtype and strides, which only an output may be) — so that a later
    call with the same key can take its passes without running scipy's Python again (a third
    to a half of a camera filter's Python time). ``key`` is None for arguments it cannot key."""

    def __init__(self, fn, x, args, kwargs):
        self.x = x
        self.arrays = {}  # path -> (an array argument, whether the key holds its values)
        try:
            self.key = (fn, x.shape, x.dtype, x.strides, self._key(args, ("a",)),
                        self._key(sorted(kwargs.items()), ("k",)))
            hash(self.key)
        except (TypeError, ValueError):
            self.key = None

    def _key(self, v, path):
        if v is None or isinstance(v, (bool, int, float, str, np.generic, np.dtype, type)):
            return (type(v), v)
        if isinstance(v, (tuple, list)):
            return (type(v), tuple(self._key(e, path + (i,)) for i, e in enumerate(v)))
        if isinstance(v, np.ndarray):
            small = v.size <= 64
            self.arrays[path] = (v, small)
            return (v.shape, v.dtype, v.strides, v.tobytes() if small else None)
        raise TypeError(type(v))

    def keep(self, result, passes):
        """Keeps ``passes`` (collected from this call, which returned ``result``) under its key,
        when they were collected, the result is the output they write, and they read no array
        of this call's but the input and that output."""
        out = [p for p, (v, _) in self.arrays.items() if v is result]
        if (not passes or not isinstance(result, np.ndarray) or len(out) > 1
                or any(not small and p not in out for p, (_, small) in self.arrays.items())):
            return
        plan = []
        for routine, args in passes:
            moved = []
            for a in args:
                if a is self.x:
                    a = _IN
                elif a is result:
                    a = _OUT
                elif isinstance(a, np.ndarray) and (np.may_share_memory(a, self.x)
                                                    or np.may_share_memory(a, result)):
                    return
                moved.append(a)
            plan.append((routine, tuple(moved)))
        if len(_PLANS) >= 64:
            _PLANS.clear()
        _PLANS[self.key] = (out[0] if out else None, result.shape, result.dtype, plan)

    def replay(self, out, shape, dtype, plan):
        """The output and passes of this call from a kept plan."""
        result = self.arrays[out][0] if out else np.empty(shape, dtype=dtype)
        sub = {id(_IN): self.x, id(_OUT): result}
        return result, [(r, tuple(sub.get(id(a), a) for a in args)) for r, args in plan]


def _chain(passes: list) -> list:
    """Recorded 1-D passes (``(routine, (input, weights or size, axis, output, …))``) with the
    intermediate results of a chain — each pass after the first reading the output all write —
    moved to one scratch array of the output's type and shape, alternating with the output so
    that the last pass writes the output: the values are those scipy's passes keep in its
    output, so the results are the same bit for bit."""
    out = passes[0][1][3] if passes else None
    chained = (len(passes) > 1 and isinstance(out, np.ndarray)
               and all(a[3] is out for _, a in passes)
               and all(a[0] is out for _, a in passes[1:]))
    if not chained:
        return passes
    steps = _joined(passes, out.ndim)
    spare = _jf._scratch("chain", out.shape, out.dtype) if len(steps) > 1 else None
    moved, src = [], passes[0][1][0]
    for i, (routine, a) in enumerate(steps):
        dst = out if (len(steps) - 1 - i) % 2 == 0 else spare
        if routine in _JOINT:
            # The first pass reads the step's input, the last writes its output.
            a = ((src,) + a[0][1:],) + a[1:-1] + (a[-1][:3] + (dst,) + a[-1][4:],)
        else:
            a = (src, a[1], a[2], dst) + tuple(a[4:])
        moved.append((routine, a))
        src = dst
    return moved


def _joined(passes: list, ndim: int) -> list:
    """A chain's passes, with runs that one call makes joined into one step: a ``correlate1d``
    or ``uniform_filter1d`` along the second-last axis followed by one along the last
    (`_pair`), and minimum or maximum filters along different axes with one mode and cval
    (`_min_or_max_box`)."""
    steps, i = [], 0
    while i < len(passes):
        (routine, a), pair = passes[i], passes[i:i + 2]
        if (len(pair) == 2 and all(r in (_correlate1d, _uniform_filter1d) for r, _ in pair)
                and int(a[2]) == ndim - 2 and int(pair[1][1][2]) == ndim - 1):
            steps.append((_pair, (a, pair[1][1])))
            i += 2
            continue
        run = [a]
        if routine is _min_or_max_filter1d:
            for r, b in passes[i + 1:]:
                if (r is not _min_or_max_filter1d or b[4:6] != a[4:6] or b[7] != a[7]
                        or int(b[2]) in [int(p[2]) for p in run]):
                    break
                run.append(b)
        if len(run) > 1:
            steps.append((_min_or_max_box, tuple(run)))
        else:
            steps.append((routine, a))
        i += len(run)
    return steps


def _min_or_max_box(*passes: tuple) -> None:
    """Minimum (or maximum) filters along several axes, each reading the last one's results
    (as scipy's separable ``minimum_filter``, ``maximum_filter`` and grey morphology with a
    size run them): one filter over their box — a single pass over the data instead of one per
    axis, each copying the array it filters in place — where its results are the passes' bit
    for bit: an output of the input's type (no cast between passes), a cval of that type, no
    NaN. (Of -0 and +0 in one window, the one kept depends on the order cells are read in,
    here as in the passes: neither keeps scipy's always.) Else the passes one by one."""
    input, output = np.asarray(passes[0][0]), passes[-1][3]
    mode, cval, minimum = passes[0][4], passes[0][5], passes[0][7]
    if (input.dtype == output.dtype and _exact_in_type(input, cval)
            and not _has_nan(input, cval)):
        shape, origins = [1] * input.ndim, [0] * input.ndim
        for p in passes:
            shape[int(p[2])], origins[int(p[2])] = int(p[1]), int(p[6])
        _run("min(w)" if minimum else "max(w)", input, np.ones(shape, bool), output, mode, cval,
             origins, one_d=True, same_type=True)
        return
    src = input
    for p in passes:
        _min_or_max_filter1d(src, p[1], p[2], output, *p[4:])
        src = output


_JOINT = (_pair, _min_or_max_box)


def _has_nan(a: np.ndarray, cval: float) -> bool:
    """Whether float data or the cval (read where windows leave the array in constant modes)
    is NaN (numpy's min is NaN then: one pass, no temporary). scipy's order statistics treat
    NaN as their algorithms happen to (a comparison with NaN is false: the window's first value
    wins, or quickselect's pivots decide), so such data goes to scipy's own routines."""
    nan_data = a.dtype.kind == "f" and a.size > 0 and bool(np.isnan(np.min(a)))
    return nan_data or bool(np.isnan(float(cval)))


def _min_or_max_filter1d(input, size, axis, output, mode, cval, origin, minimum):
    input = np.asarray(input)
    if _has_nan(input, cval):
        _sp_nd_image.min_or_max_filter1d(input, size, axis, output, mode, cval, origin, minimum)
        return
    fp = _line(input.ndim, axis, np.ones(int(size), bool))
    source = "min(w)" if minimum else "max(w)"
    # scipy's 1-D filters work on lines of doubles: a cval outside the type stays as it is until
    # the result's C cast (the engine would hold it in a float32 input's type).
    exact = _exact_in_type(input, cval)
    if not exact and input.dtype == np.float32:
        input = input.astype(np.float64)
    _run(source, input, fp, output, mode, cval, _origins(input.ndim, axis, origin), one_d=True,
         same_type=exact)


def _min_or_max_filter(input, footprint, structure, output, mode, cval, origins, minimum):
    values = np.asarray(input)
    typed = _cval_in_type(values, cval)
    # scipy's C loop adds each window value but the first to the structure's value cast to the
    # input's type, in that type: float32 sums round there (which the kernel's doubles do not
    # model), bool data adds in bytes, and a value beyond an integer type's range casts as C's
    # undefined conversion does. A non-finite structure value makes NaN of an infinity
    # (inf - inf) as NaN data would; 64-bit integers summed with a cval cast beyond 2**53 are
    # not exact in the kernel's doubles. (Without a structure every value is read as it is.)
    if structure is not None:
        st = np.asarray(structure, np.float64)
        integral = values.dtype.kind in "iu"
        odd = (values.dtype == np.float32 or values.dtype.kind == "b"
               or not np.all(np.isfinite(st))
               or (integral and not _fits(np.trunc(st), values.dtype))
               or (integral and values.dtype.itemsize == 8 and abs(typed) >= _EXACT))
    else:
        odd = False
    if odd or _has_nan(values, cval):
        _sp_nd_image.min_or_max_filter(input, footprint, structure, output, mode, cval, origins,
                                       minimum)
        return
    cval = typed
    fp = np.asarray(footprint, dtype=bool)
    if structure is None:
        _run("min(w)" if minimum else "max(w)", input, fp, output, mode, cval, origins,
             same_type=True)
        return
    # scipy's C code reads the structure in C order beside the footprint (it may lack the
    # footprint's expanded axes).
    s = np.where(fp, np.asarray(structure, np.float64).reshape(fp.shape), 0.0)
    # The structure's values reach the kernel as its weights `k`, which a footprint holds only
    # where they are nonzero: all nonzero, they go as they are; else shifted past zero and back
    # (`k - shift`), which gives the structure's values exactly when they are integers (the
    # data may be anything: what is subtracted is the structure's value itself).
    k = "k"
    if not s[fp].all():
        held = s[fp]
        if not (np.all(np.isfinite(held)) and np.all(held == np.round(held))
                and np.abs(held).max() < _EXACT / 4):
            raise _Uncovered("a structure with zero entries and non-integer values")
        shift = 1.0 - float(s[fp].min())
        s = np.where(fp, s + shift, 0.0)
        k = f"(k - {shift!r})"
    v = f"(w - {k})" if minimum else f"(w + {k})"
    # scipy's C loop keeps the window's first value as a double; each later one is the value
    # plus the structure's cast to the input's type (truncated), in that type (wrapping).
    later = v if values.dtype.kind == "f" else f"(w {'-' if minimum else '+'} trunc({k}))"
    wrapped = _c_cast(later, values.dtype)
    source = f"{'min' if minimum else 'max'}(if i == 0 then {v} else {wrapped})"
    _run(source, input, None, output, mode, cval, origins, weights=s)


def _c_cast(x: str, dtype: np.dtype) -> str:
    """The expression for C's cast of the double ``x`` to ``dtype`` (wrapping integers)."""
    if dtype.kind == "b":
        return f"({x} != 0)"
    # 64-bit values stay far inside their range (order statistics refuse beyond 2**53).
    if dtype.kind in "iu" and dtype.itemsize < 8:
        m = 2.0 ** (8 * dtype.itemsize)
        # t mod m as t - m·floor(t / m): exact (m a power of two divides and multiplies
        # exactly), and inline where `%` is a call per value.
        mod = lambda t: f"({t} - {m!r} * floor({t} * {1 / m!r}))"
        t = f"trunc({x})"
        return mod(t) if dtype.kind == "u" else f"({mod(f'({t} + {m / 2!r})')} - {m / 2!r})"
    return x


def _rank_filter(input, rank, footprint, output, mode, cval, origins):
    if _has_nan(np.asarray(input), cval):
        _sp_nd_image.rank_filter(input, rank, footprint, output, mode, cval, origins)
        return
    cval = _cval_in_type(np.asarray(input), cval)
    _run(f"kth(w, {int(rank)})", input, footprint, output, mode, cval, origins, same_type=True)


def _rank_filter_1d(x, rank, size, x_out, mode, cval, origin):
    if _has_nan(np.asarray(x), cval):
        # scipy's 1-D rank code writes x's type: an output of another type (which scipy's
        # Python code hands it for float and int64 input, corrupting memory) gets a cast copy.
        into = x_out if x_out.dtype == x.dtype else np.empty(x.shape, x.dtype)
        _sp_rank_1d.rank_filter(x, rank, size, into, mode, cval, origin)
        if into is not x_out:
            _store(x_out, into)
        return
    fp = np.ones(int(size), bool)
    _run(f"kth(w, {int(rank)})", x, fp, x_out, mode, cval, [origin], same_type=True)


def _generic_filter(input, function, footprint, output, mode, cval, origins, extra_arguments,
                    extra_keywords):
    if isinstance(function, (str, _jf.Kernel)):
        if extra_arguments:
            raise TypeError("extra_arguments: a jitfilter program takes params by name "
                            "(extra_keywords={'name': value})")
        _run(function, input, footprint, output, mode, cval, origins,
             params=dict(extra_keywords or {}))
        return
    _sp_nd_image.generic_filter(input, function, footprint, output, mode, cval, origins,
                                extra_arguments, extra_keywords)


class _Routines:
    """scipy's ``_nd_image`` with the filter routines replaced (anything else is scipy's)."""

    correlate = staticmethod(_correlate)
    correlate1d = staticmethod(_recorded(_correlate1d))
    uniform_filter1d = staticmethod(_recorded(_uniform_filter1d))
    min_or_max_filter1d = staticmethod(_recorded(_min_or_max_filter1d))
    min_or_max_filter = staticmethod(_min_or_max_filter)
    rank_filter = staticmethod(_rank_filter)
    generic_filter = staticmethod(_generic_filter)

    def __getattr__(self, name: str) -> Any:
        return getattr(_sp_nd_image, name)


class _Support:
    """scipy's ``_ni_support`` with a new result array left unfilled: every routine writes each
    of its values, and ``np.zeros``' clearing pass (in the calling thread, so the worker threads
    then write lines another core holds) cost a third of a Gaussian filter's time."""

    @staticmethod
    def _get_output(output, input, shape=None, complex_output=False):
        if output is None and not complex_output:
            return np.empty(input.shape if shape is None else shape, dtype=input.dtype.name)
        return _sp_support._get_output(output, input, shape, complex_output)

    def __getattr__(self, name: str) -> Any:
        return getattr(_sp_support, name)


# ---- scipy's Python code, re-bound to those routines ----------------------------------------


def _rebind(module: types.ModuleType, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Copies of ``module``'s functions whose global names resolve in a copy of its namespace
    with ``overrides`` (and each other) in place of the originals."""
    namespace = dict(vars(module))
    namespace.update(overrides)
    for name, obj in vars(module).items():
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            copy = types.FunctionType(obj.__code__, namespace, obj.__name__, obj.__defaults__,
                                      obj.__closure__)
            copy.__kwdefaults__ = obj.__kwdefaults__
            copy.__doc__ = obj.__doc__
            copy.__qualname__ = obj.__qualname__
            copy.__module__ = __name__
            namespace[name] = copy
    return namespace


_filters = _rebind(_sp_filters, {"_nd_image": _Routines(), "_ni_support": _Support(),
                                 "_rank_filter_1d": types.SimpleNamespace(rank_filter=_rank_filter_1d)})
# Rebound in the namespace too, for scipy's filters built on them (gaussian_laplace…).
for _name in ("gaussian_filter", "uniform_filter", "sobel", "prewitt", "_min_or_max_filter"):
    _filters[_name] = _separable(_filters[_name])
_morphology = _rebind(_sp_morphology, {"_filters": types.SimpleNamespace(**_filters)})

for _name in __all__:
    _source = _morphology if _name in vars(_sp_morphology) else _filters
    globals()[_name] = _scipy_name(_source[_name])
del _name, _source
