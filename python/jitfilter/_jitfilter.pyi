"""Type stubs for the native module ``jitfilter._jitfilter`` (pyo3). Use the ``jitfilter``
package's API; this module is its implementation."""

from typing import Dict, List, Optional, Sequence, Tuple

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
    def __new__(cls, source: str) -> "_Kernel": ...
    @property
    def source(self) -> str: ...
    @property
    def params(self) -> List[Tuple[str, float]]: ...
    @property
    def builtins(self) -> List[str]: ...
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
    ) -> np.ndarray: ...
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
