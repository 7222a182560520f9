"""juanji/kernels/blas.py: C = A @ B + beta*C on NumPy's own BLAS, against NumPy's matmul."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from juanji.kernels import blas


@pytest.fixture(params=["cblas", "matmul fallback"])
def route(request, monkeypatch):
    if request.param == "cblas":
        if not blas.available(np.float32) or not blas.available(np.float64):
            pytest.skip("no BLAS with a known CBLAS interface in this NumPy")
    else:
        monkeypatch.setattr(blas, "_cblas", lambda kind: None)
    return request.param


def _window(rng, rows, cols, dtype, transposed, slack):
    """A (rows, cols) view into a larger array: rows ``slack`` elements longer than needed,
    or the transpose of such a view (contiguous columns)."""
    shape = (cols, rows + slack) if transposed else (rows, cols + slack)
    base = rng.standard_normal(shape).astype(dtype)
    view = base[:, :rows] if transposed else base[:, :cols]
    return view.T if transposed else view


# The fixture's patch holds for every example alike, so it may be function-scoped.
@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]),
       ta=st.booleans(), tb=st.booleans(), slack=st.integers(0, 3), beta=st.sampled_from([0.0, 1.0, 0.5]),
       seed=st.integers(0, 2**16))
def test_gemm_matches_matmul_on_strided_and_transposed_views(route, m, k, n, dtype, ta, tb, slack, beta, seed):
    rng = np.random.default_rng(seed)
    a = _window(rng, m, k, dtype, ta, slack)
    b = _window(rng, k, n, dtype, tb, slack)
    base = rng.standard_normal((m, n + slack)).astype(dtype)
    c = base[:, :n]
    want = a.astype(np.float64) @ b.astype(np.float64) + beta * c.astype(np.float64)
    untouched = base[:, n:].copy()
    out = blas.gemm(a, b, c, beta=beta)
    assert out is c
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(base[:, n:], untouched)  # nothing written past the view


def test_gemm_beta_zero_ignores_nan_in_the_output(route):
    a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    c = np.full((2, 4), np.nan, np.float32)
    blas.gemm(a, b, c)
    np.testing.assert_array_equal(c, np.full((2, 4), 3, np.float32))


def test_gemm_adds_a_sum_of_products(route):
    # The use in rowshift.py: one output, several products added in with beta = 1.
    rng = np.random.default_rng(0)
    parts = [(rng.standard_normal((5, 7)), rng.standard_normal((7, 6))) for _ in range(3)]
    c = np.empty((5, 6))
    for i, (a, b) in enumerate(parts):
        blas.gemm(a, b, c, beta=float(i > 0))
    np.testing.assert_allclose(c, sum(a @ b for a, b in parts), rtol=1e-12)


@pytest.mark.parametrize("a,b,c,message", [
    (np.ones((2, 3), np.float32), np.ones((3, 4), np.float64), np.ones((2, 4), np.float32), "dtypes differ"),
    (np.ones((2, 3)), np.ones((4, 4)), np.ones((2, 4)), r"shapes do not chain: a \(2, 3\) @ b \(4, 4\)"),
    (np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 5)), r"-> c \(2, 5\)"),
    (np.ones((2, 6))[:, ::2], np.ones((3, 4)), np.ones((2, 4)), "a must be a 2-D view with contiguous rows"),
    (np.ones((2, 3)), np.ones((3, 4)), np.ones((4, 2)).T, "c must be a writeable view"),
])
def test_gemm_bad_operands(a, b, c, message):
    if not blas.available(np.float64):
        pytest.skip("no BLAS with a known CBLAS interface in this NumPy")
    with pytest.raises((TypeError, ValueError), match=message):
        blas.gemm(a, b, c)


def test_gemm_refuses_overlapping_rows():
    # A view whose rows overlap (stride shorter than a row) is no BLAS matrix.
    if not blas.available(np.float64):
        pytest.skip("no BLAS with a known CBLAS interface in this NumPy")
    base = np.arange(20.0)
    overlapping = np.lib.stride_tricks.as_strided(base, (3, 4), (2 * 8, 8))
    with pytest.raises(ValueError, match="do not overlap"):
        blas.gemm(np.ones((2, 3)), overlapping, np.empty((2, 4)))


def test_blas_is_found_for_numpys_wheels():
    # NumPy's wheels carry scipy-openblas with the 64-bit-integer CBLAS names this module
    # knows; a NumPy built against another BLAS may lack them (the route is then off).
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if config.get("name") != "scipy-openblas":
        pytest.skip(f"NumPy is built against {config.get('name')}, not its wheels' scipy-openblas")
    assert blas.available(np.float32) and blas.available(np.float64)
    assert not blas.available(np.int64)


class _FakeControls:
    """Stands in for OpenBLAS's thread-count controls and records what was set."""

    def __init__(self, count: int) -> None:
        self.count, self.sets, self.seen = count, [], []

    def get(self) -> int:
        return self.count

    def set(self, n: int) -> None:
        self.sets.append(n)
        self.count = n


def test_memory_bound_products_run_on_one_thread_and_the_count_comes_back(monkeypatch):
    fake = _FakeControls(2)
    monkeypatch.setattr(blas, "_thread_controls", lambda: (fake.get, fake.set))
    real_matmul = np.matmul
    monkeypatch.setattr(np, "matmul", lambda *a, **k: fake.seen.append(fake.count) or real_matmul(*a, **k))
    thin = np.ones((6, 26), np.float32), np.ones((26, 5000), np.float32)   # intensity 4.7 < 8
    wide = np.ones((64, 192), np.float32), np.ones((192, 3000), np.float32)  # intensity 48
    np.testing.assert_array_equal(blas.matmul(*thin), np.full((6, 5000), 26, np.float32))
    assert fake.seen == [1] and fake.sets == [1, 2] and fake.count == 2
    fake.sets.clear()
    blas.matmul(*wide)
    assert fake.seen == [1, 2] and fake.sets == []  # left to the BLAS's threads
    assert blas._small(6, 26, 100_352) and not blas._small(64, 192, 3136)


def test_one_thread_blocks_nest_and_share_one_count(monkeypatch):
    fake = _FakeControls(4)
    monkeypatch.setattr(blas, "_thread_controls", lambda: (fake.get, fake.set))
    with blas.one_thread():
        assert fake.count == 1
        with blas.one_thread():
            assert fake.count == 1
        assert fake.count == 1  # the inner block does not restore what the outer one set aside
    assert fake.count == 4 and fake.sets == [1, 4]


def test_one_thread_blocks_from_several_threads_restore_the_count(monkeypatch):
    import threading
    fake = _FakeControls(2)
    monkeypatch.setattr(blas, "_thread_controls", lambda: (fake.get, fake.set))
    inside = threading.Barrier(4)

    def work():
        with blas.one_thread():
            inside.wait()  # all four blocks open at once
            assert fake.count == 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.count == 2 and fake.sets == [1, 2]


def test_matmul_takes_vectors_as_np_matmul_does():
    a, b = np.arange(3, dtype=np.float32), np.ones((3, 2), np.float32)
    np.testing.assert_array_equal(blas.matmul(a, b), np.matmul(a, b))
    np.testing.assert_array_equal(blas.matmul(b.T, a), np.matmul(b.T, a))


def test_one_thread_is_a_no_op_without_known_controls(monkeypatch):
    monkeypatch.setattr(blas, "_thread_controls", lambda: None)
    with blas.one_thread():
        pass
    np.testing.assert_array_equal(blas.matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32)),
                                  np.full((2, 2), 3, np.float32))


@pytest.mark.skipif(blas._thread_controls() is None, reason="no known thread controls for NumPy's BLAS")
def test_one_thread_really_sets_numpys_blas():
    from threadpoolctl import threadpool_info, threadpool_limits
    numpy_blas = blas._library()[0]._name  # other BLAS libraries (SciPy's) may be loaded too

    def count() -> int:
        return next(i["num_threads"] for i in threadpool_info() if i["filepath"] == numpy_blas)

    with threadpool_limits(limits=2, user_api="blas"):
        with blas.one_thread():
            assert count() == 1
        assert count() == 2
