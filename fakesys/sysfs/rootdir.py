"""A rendered root on disk: the lock on its directory, atomic replacement, confined reads back.

``fakesys render``, ``run`` and ``sync`` and the scenario runner's ``--keep`` all write a root
into a directory DIR that a user named. This module is the one piece they share:

- :func:`locked` takes an exclusive lock on DIR: ``fcntl.flock`` on a lock file beside it
  (``.DIR.vfiolab-lock`` in DIR's parent, so that the lock outlives DIR being replaced). A second
  process gets :class:`~fakesys.errors.DirectoryBusyError` at once, never a mixed tree.
- :func:`check_target` says whether DIR may be (re)written: new, empty, or an earlier vfiolab
  render (with ``replace``); a symlink, a file or a directory holding anything else is refused
  with :class:`~fakesys.errors.OutputDirectoryError`.
- :func:`publish` builds the new tree in a fresh private directory beside DIR and renames it
  into place (exchanging it with an earlier render atomically where the kernel offers
  ``renameat2(RENAME_EXCHANGE)``), so that a render that is killed leaves either the old tree or
  the new one, never a mix; leftovers of a killed render are removed by the next one.
- :class:`ConfinedReader` reads files back from a rendered root without following symlinks, and
  only regular files of bounded size (what ``fakesys sync`` reads as writes by processes).
- :func:`write_atomically` replaces one file inside DIR (temporary file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from fakesys.errors import DirectoryBusyError, OutputDirectoryError
from fakesys.names import MARKER
from fakesys.source import read_up_to

LOCK_SUFFIX = ".vfiolab-lock"
NEW_SUFFIX = ".vfiolab-new-"
OLD_SUFFIX = ".vfiolab-old-"
#: renameat2(2) flag: swap two paths atomically (include/uapi/linux/fs.h).
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _strerror(error: OSError) -> str:
    return error.strerror or str(error)


def absolute(directory: Path | str) -> Path:
    """``directory`` made absolute and normalised without resolving symlinks (its last
    component must stay the one the user named)."""
    path = Path(os.path.abspath(directory))
    if path.parent == path:
        raise OutputDirectoryError(f"{directory}: cannot render into the file system root")
    return path


def _sibling(directory: Path, suffix: str) -> str:
    return f".{directory.name}{suffix}"


@contextlib.contextmanager
def locked(directory: Path | str) -> Iterator[Path]:
    """Hold the exclusive lock on ``directory`` (its parent is created when missing, the
    directory itself is not). Yields the absolute path of ``directory``."""
    target = absolute(directory)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputDirectoryError(f"{target.parent}: cannot create the directory: {_strerror(error)}") from None
    lock_path = target.parent / _sibling(target, LOCK_SUFFIX)
    fd = _acquire(lock_path, target)
    try:
        yield target
    finally:
        # Unlinked while still held: a process that opened the old file finds it gone when it
        # gets the lock, and starts again with a new one (see _acquire).
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def _acquire(lock_path: Path, target: Path) -> int:
    for _ in range(20):
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise OutputDirectoryError(f"{lock_path}: cannot create the lock file: {_strerror(error)}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OutputDirectoryError(f"{lock_path}: the lock file is not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DirectoryBusyError(
                    f"{target} is in use by another vfiolab process (lock {lock_path}); try again when it is done"
                ) from None
            try:
                current = os.lstat(lock_path)
            except FileNotFoundError:
                current = None
            if current is not None and current.st_ino == os.fstat(fd).st_ino:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file meanwhile: lock the new one
    raise DirectoryBusyError(f"{target} is being locked and released too often; try again")


def check_target(directory: Path, replace: bool) -> bool:
    """Whether ``directory`` holds an earlier render that ``replace`` allows to go; raises
    :class:`OutputDirectoryError` when it cannot be written at all."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise OutputDirectoryError(f"{directory}: {_strerror(error)}") from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputDirectoryError(
            f"{directory} is a symbolic link; vfiolab writes only into a real directory (name its target instead)"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise OutputDirectoryError(f"{directory} exists and is not a directory")
    try:
        entries = os.listdir(directory)
    except OSError as error:
        raise OutputDirectoryError(f"{directory}: cannot list the directory: {_strerror(error)}") from None
    if not entries:
        return False
    if not is_rendered_root(directory):
        raise OutputDirectoryError(
            f"{directory} is not empty and was not written by vfiolab; choose an empty or new directory"
        )
    if not replace:
        raise OutputDirectoryError(f"{directory} holds an earlier render; add --force to replace it")
    return True


def is_rendered_root(directory: Path) -> bool:
    """Whether ``directory`` (a real directory, not a symlink) carries vfiolab's render mark."""
    try:
        return stat.S_ISDIR(os.lstat(directory).st_mode) and stat.S_ISREG(os.lstat(directory / MARKER).st_mode)
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_tree(path: Path) -> bool:
    """Remove a directory tree that a process may still be writing into; True when gone."""
    for _ in range(5):
        try:
            shutil.rmtree(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            continue  # a writer added an entry between listing and removal: go again
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.lexists(path)


def _remove_leftovers(target: Path) -> None:
    """Temporary trees of a render of ``target`` that was killed (we hold the lock, so no
    other vfiolab process is using them)."""
    prefixes = (_sibling(target, NEW_SUFFIX), _sibling(target, OLD_SUFFIX))
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefixes) and entry.is_dir(follow_symlinks=False):
            _remove_tree(Path(entry.path))


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unavailable."""
    import ctypes  # only a replacing render needs it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    number = ctypes.get_errno()
    if number in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(number, os.strerror(number), str(second))


def publish(directory: Path, build: Callable[[str], None], replace: bool) -> list[Path]:
    """Build a tree with ``build(path)`` in a new directory beside ``directory`` and move it
    into place. The caller holds :func:`locked` on ``directory``. Returns leftovers that could
    not be removed (an old tree a process kept writing into), for the caller to mention."""
    had_render = check_target(directory, replace)
    _remove_leftovers(directory)
    try:
        fresh = Path(tempfile.mkdtemp(prefix=_sibling(directory, NEW_SUFFIX), dir=directory.parent))
    except OSError as error:
        raise OutputDirectoryError(f"{directory.parent}: cannot create a directory: {_strerror(error)}") from None
    try:
        try:
            build(str(fresh))
            os.chmod(fresh, 0o777 & ~_umask())
        except OSError as error:  # a full disk, a quota: the output cannot be created
            raise OutputDirectoryError(f"{directory}: cannot write the render: {_strerror(error)}") from None
        return _move_into_place(fresh, directory, replace, had_render)
    except BaseException:
        _remove_tree(fresh)
        raise


def _move_into_place(fresh: Path, directory: Path, replace: bool, had_render: bool) -> list[Path]:
    # Checked again: something else may have changed the directory while the tree was built.
    had_render = check_target(directory, replace) or had_render
    try:
        if not had_render:
            os.rename(fresh, directory)  # replaces a missing or empty directory in one step
            return []
        if _exchange(fresh, directory):
            old = fresh
        else:
            old = Path(tempfile.mkdtemp(prefix=_sibling(directory, OLD_SUFFIX), dir=directory.parent))
            os.rename(directory, old / "root")
            os.rename(fresh, directory)
    except OSError as error:
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputDirectoryError(
                f"{directory} was filled by something else while vfiolab rendered; choose an empty or new directory"
            ) from None
        raise OutputDirectoryError(f"{directory}: cannot move the new tree into place: {_strerror(error)}") from None
    return [] if _remove_tree(old) else [old]


def render_into(directory: Path | str, build: Callable[[str], None], replace: bool) -> list[Path]:
    """:func:`publish` under :func:`locked`: the whole of ``fakesys render``'s disk work."""
    with locked(directory) as target:
        return publish(target, build, replace)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a temporary file beside it, fsync, rename; the directory
    is fsynced too, so that the new file survives a crash that follows."""
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


class ConfinedReader:
    """Reads files of a rendered root without leaving it: every directory on the way is opened
    with ``O_NOFOLLOW`` relative to the previous one, the file itself too, and only regular files
    are read, at most ``limit`` bytes. A refused or missing file reads as None."""

    def __init__(self, root: Path, limit: int) -> None:
        self.limit = limit
        self._directories: dict[str, int | None] = {}
        try:
            self._directories[""] = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            self._directories[""] = None

    def _directory(self, relative: str) -> int | None:
        if relative in self._directories:
            return self._directories[relative]
        parent, _, name = relative.rpartition("/")
        parent_fd = self._directory(parent)
        fd = None
        if parent_fd is not None and name not in ("", ".", ".."):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
            except OSError:
                fd = None
        self._directories[relative] = fd
        return fd

    def read(self, relative: str) -> tuple[bytes, int] | None:
        """The bytes of the file (at most ``limit``) and its modification time in ns."""
        parent, _, name = relative.rpartition("/")
        parent_fd = self._directory(parent)
        if parent_fd is None or name in ("", ".", ".."):
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent_fd)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None
            return read_up_to(fd, self.limit), info.st_mtime_ns
        except OSError:
            return None
        finally:
            os.close(fd)

    def close(self) -> None:
        for fd in self._directories.values():
            if fd is not None:
                os.close(fd)
        self._directories.clear()

    def __enter__(self) -> ConfinedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
