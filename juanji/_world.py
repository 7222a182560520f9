"""Who this process is in a data-parallel job: its rank, the world size and the communicator.

A bottom-layer record with no imports, set by ``juanji.distributed.init()`` and read by the
layers that must know their place in the job without importing ``juanji.distributed`` (which
sits above them): ``juanji.data.DistributedSampler`` takes its default rank and shard count
from here. Until ``init()`` runs, a process is rank 0 of a world of 1.
"""

from __future__ import annotations

from typing import Any

#: The mpi4py communicator of the job (``MPI.COMM_WORLD`` unless ``init`` was given another),
#: or None in a single process.
comm: Any = None
rank: int = 0
size: int = 1
