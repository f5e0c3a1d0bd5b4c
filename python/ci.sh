#!/usr/bin/env bash
# Builds and tests the Python package from a fresh clone: `bash python/ci.sh` (called by
# .ci/run). Needs only python3 (with venv and pip) and the Rust toolchain; installs the rest
# from PyPI into python/.venv.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-ci.txt

# The binding crate's own format and lint checks (it is not part of the root crate).
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

# Build the extension in release mode and install it into the venv (editable).
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" maturin develop --release --quiet

# The test suite (scipy equivalence, LowLevelCallable, API, errors, Dask incl. a LocalCluster).
.venv/bin/python -m pytest tests -q -p no:cacheprovider --ignore=tests/scipy_suite

# scipy's own ndimage tests, with jitfilter.ndimage in place of scipy.ndimage's window filters
# (tests/scipy_suite/ndimage_plugin.py; its expected failures are listed beside it).
PYTHONPATH=tests/scipy_suite .venv/bin/python -m pytest -p ndimage_plugin -q -p no:cacheprovider \
    --pyargs scipy.ndimage.tests.test_filters scipy.ndimage.tests.test_morphology
