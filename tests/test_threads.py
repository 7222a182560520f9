"""juanji.set_num_threads / get_num_threads / num_threads: the BLAS pool really changes size,
the environment's setting is kept at import, and bad counts are refused by name."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import juanji


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]


@pytest.fixture
def restore_threads():
    with threadpool_limits(limits=None):  # restores every pool's size on exit
        yield


def test_set_num_threads_resizes_the_blas_pool(restore_threads):
    juanji.set_num_threads(1)
    assert _blas_threads() and set(_blas_threads()) == {1}
    assert juanji.get_num_threads() == 1
    a = np.ones((64, 64), np.float32)
    assert np.allclose(a @ a, 64)  # matmul still works on one thread
    if os.cpu_count() and os.cpu_count() >= 2:
        juanji.set_num_threads(2)
        assert juanji.get_num_threads() == 2


def test_num_threads_is_scoped(restore_threads):
    before = juanji.get_num_threads()
    with juanji.num_threads(1):
        assert juanji.get_num_threads() == 1
    assert juanji.get_num_threads() == before


def test_import_keeps_the_environment_thread_count():
    code = "import juanji; print(juanji.get_num_threads())"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("bad,err,msg", [
    (0, ValueError, "must be >= 1, got 0"),
    (-2, ValueError, "must be >= 1, got -2"),
    (1.5, TypeError, "must be an int, got 1.5"),
    (True, TypeError, "must be an int, got True"),
])
def test_bad_thread_counts_are_refused(bad, err, msg):
    with pytest.raises(err, match=f"set_num_threads: the number of threads {msg}"):
        juanji.set_num_threads(bad)
    with pytest.raises(err, match=f"num_threads: the number of threads {msg}"):
        with juanji.num_threads(bad):
            pass


def test_cli_threads_option_sets_the_pools(monkeypatch, tmp_path, capsys):
    import juanji.cli as cli
    calls = []
    monkeypatch.setattr(cli, "set_num_threads", calls.append)
    status = cli.main(["evaluate", "--weights", str(tmp_path / "missing.npz"), "--threads", "1"])
    assert calls == [1] and status != 0  # set before the command ran (and failed on the missing file)
    calls.clear()
    cli.main(["evaluate", "--weights", str(tmp_path / "missing.npz")])
    assert calls == []  # no option: the environment's setting stands


def test_a_compiled_launch_sets_numbas_threads_for_itself_and_puts_the_callers_back():
    # numba keeps a thread count per calling thread; juanji's launches use juanji's setting (the
    # BLAS pool's size) and leave the caller's own count as it was.
    from juanji.kernels import compiled
    if not compiled.available():
        pytest.skip("numba is not installed (pip install numba): no compiled launches")
    nb = compiled.numba()
    most = nb.config.NUMBA_NUM_THREADS
    try:
        nb.set_num_threads(1)
        inside = []
        with juanji.num_threads(most):
            with compiled.lock:
                inside.append(nb.get_num_threads())
        assert inside == [most] and nb.get_num_threads() == 1
        with juanji.num_threads(1), pytest.raises(RuntimeError, match="boom"):
            nb.set_num_threads(most)
            with compiled.lock:
                inside.append(nb.get_num_threads())
                raise RuntimeError("boom")
        assert inside[-1] == 1 and nb.get_num_threads() == most  # restored after an error too
        assert compiled.lock._lock.acquire(blocking=False)  # and released
        compiled.lock._lock.release()
    finally:
        nb.set_num_threads(most)
