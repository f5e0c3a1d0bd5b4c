"""Type stubs for the native module ``jitfilter._jitfilter`` (pyo3). Use the ``jitfilter``
package's API; this module is its implementation."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

#: The capsule name scipy reads as the callback's C signature.
SIGNATURE: str
#: Names of the dtypes the engine reads and writes.
DTYPES: List[str]
build_info: Dict[str, str]

class KernelError(ValueError):
    """An error in a kernel expression; ``str(e)`` shows the line with a caret and a hint."""

    source: str
    message: str
    hint: Optional[str]
    lineno: int
    offset: int
    end_offset: int
    text: str
    start: int
    end: int

def modes() -> List[str]: ...

class _Kernel:
    def __new__(cls, source: str, inputs: Sequence[str] = ...) -> "_Kernel": ...
    @property
    def source(self) -> str: ...
    @property
    def inputs(self) -> List[str]:
        """The named inputs declared when compiling."""
    @property
    def params(self) -> List[Tuple[str, float]]: ...
    @property
    def param_ranges(self) -> Dict[str, Tuple[float, float]]:
        """The declared ranges of the params declared with one, by name."""
    @property
    def builtins(self) -> List[str]:
        """The names the program reads: ``w``, ``c``, ``k``, ..., ``g``, ``w[0]``, ``at(g, 1, 0)``."""
    @property
    def planes(self) -> List[Tuple[str, Optional[int]]]:
        """The input planes read, as (name, channel or None); the first is ``("w", None)``."""
    @property
    def outputs(self) -> int:
        """Values per pixel (items of a tuple result)."""
    @property
    def indexes_channels(self) -> bool: ...
    @property
    def points(self) -> List[Tuple[int, int, int]]:
        """The ``at()`` offsets as (z, y, x)."""
    @property
    def pass_points(self) -> List[List[Tuple[int, int, int]]]:
        """Per pass over the array (each ``stage``, then the result), its ``at()`` offsets."""
    def passes(self) -> List[Tuple[str, "_Kernel"]]:
        """The passes of one application, in order, as (name, kernel): each stage, then the
        result (named ""); each reads the earlier passes' results as named inputs."""
    @property
    def footprint(self) -> Optional[str]:
        """The footprint the program sets with ``over``, as its spec (``disk:5``), or None."""
    def own_footprint(self, ndim: int) -> Optional[npt.NDArray[np.float64]]:
        """That footprint's weights for an array of ``ndim`` axes, or None."""
    @property
    def plan_summary(self) -> List[str]: ...
    @property
    def callback_address(self) -> int: ...
    def cranelift_ir(self) -> str: ...
    def filter(
        self,
        input: np.ndarray,
        footprint: npt.NDArray[np.float64],
        out: str,
        mode: str,
        cval: float,
        origin: Sequence[int],
        params: Sequence[Tuple[str, float]],
        threads: Optional[int],
        engine: str,
        inputs: Sequence[Tuple[str, np.ndarray]] = ...,
        channels: bool = ...,
        axes: Sequence[int] = ...,
        region: Sequence[Any] = ...,
        into: Optional[np.ndarray] = ...,
    ) -> np.ndarray:
        """``inputs``: named inputs of ``input``'s dtype; ``channels``: ``input``'s last axis is
        channels; ``axes``: the axes the footprint applies along (none: all). The result has a
        trailing axis for several values per pixel or channels. ``into``: an array of dtype
        ``out`` and the result's shape, C-contiguous and not overlapping the inputs, written
        in place and returned."""
    def scipy_context(
        self,
        shape: Sequence[int],
        footprint: npt.NDArray[np.float64],
        origin: Sequence[int],
        params: Sequence[Tuple[str, float]],
    ) -> "_ScipyContext": ...

class _ScipyContext:
    @property
    def address(self) -> int: ...
    @property
    def function_address(self) -> int: ...
    def function_capsule(self) -> object: ...
    def user_data_capsule(self) -> object: ...
    def reset(self) -> None: ...
