"""The process group: joining an MPI job, who is who in it, and the collectives juanji uses.

juanji's data parallelism runs on MPI through mpi4py (``pip install -e ".[distributed]"``
installs both mpi4py and an MPI library). A job is N copies of one program started by MPI's
launcher, ``mpirun -n 2 juanji train ...`` (see docs/distributed.md); every copy calls
``init()`` and then knows its ``rank()`` (0 .. N-1) and the ``world_size()`` N.

Nothing here is needed by a single process: before ``init()``, or when mpi4py is not installed
and no launcher started this process, a process is rank 0 of a world of 1, every collective
returns its input, and nothing imports MPI. Importing ``juanji.distributed`` never starts MPI:
``init()`` does, when called (MPI's own start-up may install signal handlers, so a library
must not do it behind the user's back).

Faults: MPI collectives have no timeouts, so one process that raises while the others wait in
an allreduce would leave them waiting for ever. ``abort_on_error()`` (the CLI runs every
distributed command inside it) prints the failing rank and its exception and calls
``MPI_Abort``, which makes the launcher end every process of the job at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from typing import Any, Iterator

import numpy as np

from .. import _world

__all__ = ["init", "is_available", "is_initialized", "rank", "world_size", "is_main", "launched_world_size",
           "barrier", "all_reduce", "broadcast_", "broadcast_object", "all_gather_object", "abort_on_error",
           "abort", "finalize"]

# Environment variables by which MPI launchers tell a process the size of its job, checked in
# this order: MPICH's and Intel MPI's hydra (and Slurm's PMI-2), Open MPI, MVAPICH2.
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

_INSTALL_HINT = 'pip install -e ".[distributed]" (mpi4py and an MPI library; see docs/distributed.md)'


def launched_world_size() -> int:
    """How many processes the MPI launcher started in this job, read from its environment
    variables without starting MPI: 1 when this process was not started by ``mpirun``/``mpiexec``.

    The CLI uses it to turn distributed training on by itself under ``mpirun -n N`` (N > 1).
    """
    for name in _LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return 1


def is_available() -> bool:
    """Whether mpi4py can be imported (it is not imported, and MPI not started, by this check)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def init(comm: Any = None) -> None:
    """Join the MPI job this process was started in (idempotent).

    Imports mpi4py, which starts MPI, and records the communicator (``MPI.COMM_WORLD`` unless
    ``comm`` is given), this process's rank and the world size.

    Without mpi4py installed, a process that no launcher started is a world of 1 and ``init``
    does nothing; a process that ``mpirun -n N`` (N > 1) started raises, because going on alone
    would silently train N independent models.

    Args:
        comm: an mpi4py communicator to use instead of ``MPI.COMM_WORLD``.

    Raises:
        RuntimeError: launched as one of N > 1 processes, but mpi4py is not installed.
    """
    if _world.comm is not None:
        return
    if comm is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            n = launched_world_size()
            if n > 1:
                raise RuntimeError(f"juanji.distributed.init: this process is one of {n} started by an MPI "
                                   f"launcher, but mpi4py is not installed: {_INSTALL_HINT}") from e
            return
        comm = MPI.COMM_WORLD
    _world.comm, _world.rank, _world.size = comm, int(comm.Get_rank()), int(comm.Get_size())


def is_initialized() -> bool:
    """Whether ``init()`` has joined an MPI job (False for a world of 1 without mpi4py)."""
    return _world.comm is not None


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 before ``init()`` and in a single process)."""
    return _world.rank


def world_size() -> int:
    """The number of processes in the job (1 before ``init()`` and in a single process)."""
    return _world.size


def is_main() -> bool:
    """Whether this is rank 0, the process that prints and writes files in a distributed run."""
    return _world.rank == 0


def finalize() -> None:
    """Forget the job (for tests that ``init`` with a communicator of their own); MPI itself is
    finalised by mpi4py when the process exits."""
    _world.comm, _world.rank, _world.size = None, 0, 1


def _mpi() -> Any:
    from mpi4py import MPI

    return MPI


_OPS = ("sum", "mean", "max", "min")


def all_reduce(value: Any, op: str = "sum") -> Any:
    """The ``op`` ("sum", "mean", "max", "min") of ``value`` over every rank, on every rank.

    ``value`` is a NumPy array (a new array of the same shape and dtype is returned; the input
    is left alone) or a Python/NumPy number (a number is returned). In a world of 1 the value
    itself comes back (an array as a copy).
    """
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(_OPS)}, got {op!r}")
    scalar = not isinstance(value, np.ndarray)
    arr = np.array(value, copy=True)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"all_reduce: only numeric values can be reduced, got dtype {arr.dtype}")
    comm = _world.comm
    if comm is not None and _world.size > 1:
        MPI = _mpi()
        arr = np.ascontiguousarray(arr)
        mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
        comm.Allreduce(MPI.IN_PLACE, arr, op=mpi_op)
    if op == "mean":
        arr = arr / _world.size
    return arr.item() if scalar else arr


def broadcast_(array: np.ndarray, src: int = 0) -> np.ndarray:
    """Overwrite ``array`` in place with rank ``src``'s array of the same shape and dtype; returns it."""
    comm = _world.comm
    if comm is None or _world.size == 1:
        return array
    if array.flags.c_contiguous and array.flags.writeable:
        comm.Bcast(array, root=src)
    else:  # MPI reads and writes one contiguous buffer
        buf = np.ascontiguousarray(array)
        comm.Bcast(buf, root=src)
        array[...] = buf
    return array


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (pickled by mpi4py between this job's own processes)."""
    comm = _world.comm
    return obj if comm is None or _world.size == 1 else comm.bcast(obj, root=src)


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    comm = _world.comm
    return [obj] if comm is None or _world.size == 1 else comm.allgather(obj)


def barrier() -> None:
    """Wait until every rank has reached this call."""
    if _world.comm is not None and _world.size > 1:
        _world.comm.Barrier()


def abort(message: str, exit_code: int = 1) -> None:
    """Print ``message`` on stderr and end every process of the job (``MPI_Abort``); in a world of
    1, raise SystemExit(exit_code) after printing."""
    print(message, file=sys.stderr, flush=True)
    if _world.comm is not None and _world.size > 1:
        # The launcher forwards each process's stderr through a pipe and tears the job down on
        # MPI_Abort: a moment first, so that the message that says why reaches the user (0.5 s
        # once lost it on a loaded 2-core machine; a job that is failing can spare 2 s).
        time.sleep(2.0)
        _world.comm.Abort(exit_code)
    raise SystemExit(exit_code)


def failure_message(e: BaseException) -> str:
    """``rank R of N failed: ExcType: message`` (one line), naming this process."""
    text = " ".join(str(e).split()) or type(e).__name__
    return f"rank {_world.rank} of {_world.size} failed: {type(e).__name__}: {text}"


@contextlib.contextmanager
def abort_on_error(exit_code: int = 1, show_traceback: bool = False) -> Iterator[None]:
    """Turn an exception on any one rank into the end of the whole job, with its cause printed.

    Inside the block, an exception that escapes (anything but ``SystemExit(0)``) prints
    ``juanji.distributed: rank R of N failed: ExcType: message; aborting the job (MPI_Abort)``
    on stderr and calls ``MPI_Abort``: the launcher then stops every process and exits non-zero,
    instead of the other ranks waiting for ever in their next allreduce. In a world of 1 the
    exception propagates unchanged.

        with juanji.distributed.abort_on_error():
            trainer.fit(...)

    Args:
        exit_code: the exit status MPI_Abort hands the launcher.
        show_traceback: print the traceback before the message.
    """
    try:
        yield
    except BaseException as e:
        if _world.comm is None or _world.size == 1 or (isinstance(e, SystemExit) and not e.code):
            raise
        if show_traceback:
            traceback.print_exc()
        abort(f"juanji.distributed: {failure_message(e)}; aborting the job (MPI_Abort)", exit_code)
