"""python/README.md runs as written: its `>>>` session is a doctest (outputs compared, with
`...` for what varies between machines and library versions), and every other ```python block
is executed, with the names its prose assumes (`jf`, `ndi`, `img`, `fp`, `guide`, `rgb`, `mask`,
`dask_array`) bound to real data. Both run from the repository root, as the README says."""

import doctest
import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "python" / "README.md"


@pytest.fixture
def at_root():
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def test_session_is_a_doctest(at_root):
    pytest.importorskip("PIL")
    pytest.importorskip("dask.array")
    # A fence ends the expected output of the example above it, as a blank line would.
    text = re.sub(r"(?m)^```.*$", "", README.read_text())
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "python/README.md", str(README), 0)
    assert len(test.examples) >= 15, "the README lost its session"
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} README examples differ"


def blocks():
    """The ```python blocks that are not a `>>>` session."""
    text = README.read_text()
    found = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in found if not b.lstrip().startswith(">>>")]


def test_there_are_blocks_to_run():
    assert len(blocks()) >= 3


@pytest.mark.parametrize("index", range(len(blocks())))
def test_block_runs(index, at_root):
    from PIL import Image
    import dask.array as da
    import jitfilter as jf
    from scipy import ndimage as ndi

    img = np.asarray(Image.open("tests/data/camera.png").convert("L"))
    y, x = np.mgrid[-11:12, -11:12]
    namespace = {
        "img": img,
        "fp": x * x + y * y <= 121,
        "guide": np.asarray(Image.open("tests/data/coins.png").convert("L").resize(img.shape[::-1])),
        "rgb": np.asarray(Image.open("tests/data/astronaut.png").convert("RGB")),
        "mask": (img > 128).astype(np.uint8),
        "dask_array": da.from_array(img, chunks=128),
        "np": np,
        "jf": jf,
        "ndi": ndi,
    }
    exec(compile(blocks()[index], f"python/README.md block {index}", "exec"), namespace)
