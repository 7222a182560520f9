"""Atomic file writes for every layer of juanji (weights, checkpoints, vocabularies, logs).

``atomic_write(path, write)`` fills a temporary file in the target's directory and renames it
over the target, so a reader sees the old file or the new one, never a torn one; the
temporary files of writers that were killed are cleaned by the next write into the folder.
It lives below every package (it imports only the standard library) so that ``data`` can
save a vocabulary and ``io`` a state dict with the same guarantees; ``juanji.io.atomic_write``
is the public name.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Any], None]) -> Path:
    """Write a file atomically: ``write(fileobj)`` fills a temporary file that replaces ``path``.

    The temporary file lives in the target's directory (so ``os.replace`` is a rename on
    one file system), is flushed and fsync'ed before the rename, and the directory is
    fsync'ed after it, so the new name points at complete data even after a power cut.
    If ``write`` raises, the temporary file is removed and ``path`` is left untouched.

    The file gets the mode an ordinary ``open(path, "w")`` would give it: a new file
    ``0o666 & ~umask``, a replaced file keeps its mode. Temporary files left behind by
    writers that were killed (``.<name>.<host>-<pid>.<random>.tmp``) are removed from the
    directory on the next write into it, once their writer's process is gone.

    Args:
        path: the file to create or replace; its directory must exist.
        write: called once with a binary file object opened for writing.

    Returns:
        ``path`` as a Path.

    Example:
        >>> atomic_write("notes.txt", lambda f: f.write(b"hello"))
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"save: directory '{directory}' does not exist (for '{path}')")
    _remove_orphans(directory)
    fd, tmp = _create_temp(directory, path.name)
    try:
        _copy_mode(fd, path)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
    return path


# Temporary files carry their writer's host and pid, so a later writer can tell the orphan of a
# killed process (pid gone: remove it) from a file another process is writing right now (pid
# alive: leave it). An flock held while writing would also free itself when its holder dies, but
# there is a moment between creating the file and locking it in which a cleaner would take a live
# file for an orphan, and locks are unreliable on network file systems; a name is neither. The
# host keeps two machines sharing a directory from judging each other's pids, and on Linux it
# includes the pid namespace, for containers that share a hostname (host networking) and a volume
# but not their pids. A reused pid only makes an orphan wait for a later save, never deletes a
# live file.
def _writer_host() -> str:
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
    try:
        return f"{host}ns{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:  # not Linux
        return host


_HOST = _writer_host()
_TEMP = re.compile(r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9]+)-(?P<pid>[0-9]+)\.[0-9a-f]{16}\.tmp$")


def _create_temp(directory: Path, name: str) -> tuple[int, str]:
    # os.open with mode 0o666, as open(path, "w") does, so the kernel applies the umask (and any
    # default ACL) itself: reading the umask would mean setting it, a race with other threads.
    # mkstemp's 0o600 would make checkpoints private where the rest of the run folder is not.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{_HOST}-{os.getpid()}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"save: could not create a temporary file in '{directory}' (for '{name}')")


def _copy_mode(fd: int, path: Path) -> None:
    # Replacing a file keeps its permissions, as writing into it with open(path, "w") would.
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:  # no such file yet: the umask'ed mode from os.open stands
        return
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)


def _remove_orphans(directory: Path) -> None:
    """Delete temporary files of this host whose writing process no longer exists."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = _TEMP.match(name)
        if m is None or m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:  # another writer cleaned it first, or no permission: not ours to insist
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists under another user (or cannot tell): leave its file alone
    return True


def _fsync_dir(directory: Path) -> None:
    # Persist the rename itself; not every platform lets a directory be opened (Windows).
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
