"""Runs scipy's own ndimage tests against jitfilter.ndimage: a pytest plugin that puts
jitfilter.ndimage's functions in place of scipy.ndimage's before scipy's test modules run, marks
the tests listed in ``expected_failures.txt`` as strict expected failures (each with its reason),
and reports how many tests called a jitfilter function and how they ended.

    cd python && .venv/bin/python -m pytest -p ndimage_plugin -q -p no:cacheprovider \\
        --rootdir tests/scipy_suite -c /dev/null \\
        --pyargs scipy.ndimage.tests.test_filters scipy.ndimage.tests.test_morphology

(`PYTHONPATH=tests/scipy_suite`, which python/ci.sh sets.) The expected failures are written for
the scipy version pinned in requirements-ci.txt.
"""

import functools
import os

import pytest
import scipy.ndimage

import jitfilter.ndimage as jn

HERE = os.path.dirname(os.path.abspath(__file__))
_called = {"now": False}
_outcomes = {}  # node id -> (outcome, whether an expected failure)
_calling = set()  # node ids of the tests that called a jitfilter.ndimage function


def _expected():
    out = {}
    with open(os.path.join(HERE, "expected_failures.txt"), encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                node, _, reason = line.partition("  # ")
                out[node.strip()] = reason.strip() or "listed"
    return out


def _traced(f):
    @functools.wraps(f)
    def run(*args, **kwargs):
        _called["now"] = True
        return f(*args, **kwargs)

    return run


def pytest_configure(config):
    from scipy._lib._array_api import xp_capabilities_table

    for name in jn.__all__:
        ours = _traced(getattr(jn, name))
        # scipy's test decorators look each function up in its array-API capabilities table.
        original = getattr(scipy.ndimage, name)
        if original in xp_capabilities_table:
            xp_capabilities_table[ours] = xp_capabilities_table[original]
        setattr(scipy.ndimage, name, ours)
    config._jf_expected = _expected()


def _key(item):
    # Node ids without the path prefix pytest gives --pyargs modules.
    return item.nodeid.split("scipy/ndimage/tests/")[-1]


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = config._jf_expected.get(_key(item))
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    _called["now"] = False
    try:
        return (yield)
    finally:
        item._jf_called = _called["now"]


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _outcomes[report.nodeid] = (report.outcome, hasattr(report, "wasxfail"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        if getattr(item, "_jf_called", False):
            _calling.add(report.nodeid)
    return report


def pytest_terminal_summary(terminalreporter):
    counts = {}
    for node in _calling:
        outcome, xfail = _outcomes.get(node, ("?", False))
        key = "expected failure" if xfail else outcome
        counts[key] = counts.get(key, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    info = jn._compiled.cache_info()
    terminalreporter.write_line(
        f"jitfilter.ndimage: {len(_calling)} tests called it: {parts}; "
        f"{info.hits + info.misses} kernel runs of {info.misses} distinct programs"
    )
