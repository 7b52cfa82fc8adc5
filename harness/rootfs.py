"""Confined, bounded, read-only access to a root: the one way harness reads a checked host.

A root is a real ``/``, a rendered fakesys tree, or a captured bug report, and the last two come
from other people. Every path is a root-relative string (``"sys/bus/pci/devices"``) and every
read obeys three rules:

* **Symlinks resolve inside the root**, as ``openat2(2)`` with ``RESOLVE_IN_ROOT`` does: an
  absolute target is re-rooted, ``..`` never climbs above the root, more than
  :data:`MAX_SYMLINKS` links in one lookup is a loop (the kernel's ``MAXSYMLINKS``,
  include/linux/namei.h). On a real ``/`` this is exactly the kernel's own resolution.
* **Only regular files are read.** The last component is checked with ``lstat`` and opened with
  ``O_NONBLOCK | O_NOFOLLOW``, then checked again with ``fstat``; a FIFO, a device node or a
  socket is refused without being read (a device is not even opened, so a link to
  ``/dev/watchdog`` cannot arm a watchdog).
* **Every read is capped** by the caller's limit (:data:`CONFIG_SPACE_LIMIT`,
  :data:`ATTRIBUTE_LIMIT`, :data:`TEXT_LIMIT`, :data:`LOG_LIMIT`); a larger file yields its first
  bytes and says so. Directory listings stop at :data:`LISTING_LIMIT` names.

What cannot be read raises a :class:`RootError` whose ``reason`` is one line for the report's
"unseen" list. The hierarchy::

    RootError            anything refused; .path (root-relative) and .reason (one line)
    ├── NotFound         the path (or a link target, re-rooted) does not exist
    ├── NotRegular       a FIFO, device, socket or directory where a file was expected
    ├── NotADirectory    a component that must be a directory is not one
    ├── LinkLoop         more than MAX_SYMLINKS links in one lookup
    └── Unreadable       the operating system refused (permission denied, I/O error, changed
                         while it was read)

:class:`RootFS` is the protocol, path-based so that a backend needs no file descriptors:
:class:`DirectoryRoot` reads a directory on this machine; the bundle backend
(:mod:`harness.rootfs_bundle`, ``check --root BUNDLE.tar.gz``) implements :meth:`RootFS._entry`
plus the three ``_..._canonical`` methods over its members held in memory and inherits the
confined resolution (:meth:`RootFS.resolve`) unchanged. :func:`open_root` picks the backend.

:class:`DirectoryRoot` resolves with ``openat2(RESOLVE_IN_ROOT)`` through ``ctypes`` where the
kernel allows it (Linux 5.6 and later, not blocked by a seccomp filter, not under pyfakefs), and
otherwise walks the path one component at a time with ``O_PATH | O_NOFOLLOW`` directory
descriptors, ``lstat``/``readlink`` relative to them and re-rooting of absolute targets. Each
directory is resolved once and kept open (a small LRU of ``O_PATH`` descriptors), so the files of
a device directory are opened relative to it and confinement does not multiply the cost of a
check.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import posix
import stat
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NamedTuple, Self

#: PCIe extended configuration space: the most a ``config`` file holds (PCI Express Base
#: Specification, 4 KiB per function; drivers/pci/pci-sysfs.c sizes the attribute from it).
CONFIG_SPACE_LIMIT = 4096
#: A sysfs or procfs attribute (vendor, class, reset_method, ...). The kernel formats them into
#: one page (``sysfs_emit``); 64 KiB leaves room for any page size.
ATTRIBUTE_LIMIT = 64 * 1024
#: A host file read whole: /proc/cpuinfo, /proc/mounts, configuration files, dpkg md5sums lists,
#: modules.builtin, the kernel's build configuration.
TEXT_LIMIT = 4 * 1024 * 1024
#: A kernel log (var/log/dmesg, var/log/kern.log): the first 8 MiB are read.
LOG_LIMIT = 8 * 1024 * 1024
#: Names returned from one directory listing.
LISTING_LIMIT = 100_000
#: Links followed in one lookup before it counts as a loop (the kernel's MAXSYMLINKS).
MAX_SYMLINKS = 40
#: Resolved directories kept open by :class:`DirectoryRoot`.
DIRECTORY_CACHE = 256

_READ_CHUNK = 1024 * 1024
_FIRST_READ = 4096
#: A directory with more entries than this is never listed for the read fast path.
_LISTED_DIRECTORY_LIMIT = 4096


class Kind(Enum):
    """What a path is, in the words a report uses."""

    FILE = "regular file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    FIFO = "FIFO"
    CHARACTER_DEVICE = "character device"
    BLOCK_DEVICE = "block device"
    SOCKET = "socket"
    OTHER = "unknown file type"

    @classmethod
    def of(cls, mode: int) -> Kind:
        for test, kind in _KIND_TESTS:
            if test(mode):
                return kind
        return cls.OTHER


_KIND_TESTS = (
    (stat.S_ISREG, Kind.FILE),
    (stat.S_ISDIR, Kind.DIRECTORY),
    (stat.S_ISLNK, Kind.SYMLINK),
    (stat.S_ISFIFO, Kind.FIFO),
    (stat.S_ISCHR, Kind.CHARACTER_DEVICE),
    (stat.S_ISBLK, Kind.BLOCK_DEVICE),
    (stat.S_ISSOCK, Kind.SOCKET),
)


# --- Errors ---------------------------------------------------------------------------------------


class RootError(Exception):
    """A path of the root could not be read; ``reason`` is one line for the report."""

    reason = "could not be read"

    def __init__(self, path: str, reason: str | None = None) -> None:
        self.path = path
        if reason is not None:
            self.reason = reason
        super().__init__(f"{path}: {self.reason}")


class NotFound(RootError):
    reason = "does not exist"


class NotRegular(RootError):
    def __init__(self, path: str, kind: Kind) -> None:
        self.kind = kind
        super().__init__(path, f"not a regular file ({kind.value})")


class NotADirectory(RootError):
    reason = "a path component is not a directory"


class LinkLoop(RootError):
    reason = f"symlink loop (more than {MAX_SYMLINKS} links)"


class Unreadable(RootError):
    pass


def _error_for(path: str, error: OSError) -> RootError:
    if error.errno == errno.ENOENT:
        return NotFound(path)
    if error.errno == errno.ELOOP:
        return LinkLoop(path)
    if error.errno == errno.ENOTDIR:
        return NotADirectory(path)
    return Unreadable(path, error.strerror or str(error))


# --- Results --------------------------------------------------------------------------------------


class Blob(NamedTuple):
    """The first bytes of a file; ``truncated``: the file holds more than the limit asked for."""

    data: bytes
    truncated: bool = False


class Listing(NamedTuple):
    """A directory's names in sorted order; ``truncated``: it held more than the limit."""

    names: list[str]
    truncated: bool = False


class DirectoryFiles(NamedTuple):
    """What :meth:`RootFS.read_files` read in one directory: per name, the :class:`Blob` or the
    :class:`RootError` :meth:`RootFS.read` gives for it; ``names``: every name the directory
    held when it was listed for the read (None: it was not listed), for existence questions
    about its other entries without a system call each."""

    files: dict[str, Blob | RootError]
    names: frozenset[str] | None = None


@dataclass(frozen=True)
class Entry:
    """One directory entry as :meth:`RootFS._entry` reports it (``target`` for a symlink)."""

    kind: Kind
    target: str | None = None


def split_path(path: str) -> list[str]:
    """Components of a root-relative path, empty and ``.`` ones dropped (``..`` is kept: only
    resolution knows where it leads)."""
    return [part for part in path.split("/") if part not in ("", ".")]


def _no_nul(path: str) -> None:
    # A name from data can hold a NUL; the kernel would read the name only up to it.
    if "\x00" in path:
        raise NotFound(path, "no file name holds a NUL byte")


def _lookup_components(path: str) -> list[str]:
    """Components as the kernel looks them up: ``.`` and a trailing slash stay, because both
    require what comes before them to be a directory (``file/.`` is ENOTDIR)."""
    _no_nul(path)
    parts = path.split("/")
    found = [part for part in parts[:-1] if part]
    found.append(parts[-1] or ("." if found else ""))
    return [part for part in found if part]


def _join(parts: list[str]) -> str:
    return "/".join(parts)


def _parent_and_name(path: str) -> tuple[str, str]:
    _no_nul(path)
    parent, _, name = path.strip("/").rpartition("/")
    return parent, name


# --- The protocol ---------------------------------------------------------------------------------


class RootFS(ABC):
    """Read-only access to one root. Every path is root-relative; symlinks resolve inside it.

    Backends implement :meth:`_entry` (what a name in a resolved directory is) and the three
    ``_..._canonical`` methods (act on a path that :meth:`resolve` returned, which holds no
    symlink, ``.`` or ``..``); the public methods are built on them and may be overridden for
    speed, never for different results.
    """

    #: What the root is, for messages (a directory path, a bundle file name).
    description: str = ""

    # --- What a backend provides --------------------------------------------------------------

    @abstractmethod
    def _entry(self, parent: str, name: str) -> Entry:
        """The entry ``name`` of the resolved directory ``parent`` (``""``: the root), not
        followed. Raises :class:`NotFound` (or another :class:`RootError`)."""

    @abstractmethod
    def _read_canonical(self, path: str, limit: int) -> Blob:
        """Up to ``limit`` bytes of the regular file at the resolved ``path``."""

    @abstractmethod
    def _list_canonical(self, path: str, limit: int) -> Listing:
        """The names in the resolved directory ``path``."""

    @abstractmethod
    def _mtime_canonical(self, path: str) -> float:
        """The modification time of the resolved ``path`` (seconds since the epoch)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the backend holds open."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- Resolution -----------------------------------------------------------------------------

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """The canonical root-relative path of ``path``: every symlink followed inside the root
        (absolute targets re-rooted, ``..`` stopping at the root). With ``follow_last`` false a
        final symlink is kept (its directory is still resolved). Raises :class:`NotFound`,
        :class:`NotADirectory` or :class:`LinkLoop`."""
        resolved: list[str] = []
        pending = deque(_lookup_components(path))
        links = 0
        while pending:
            name = pending.popleft()
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            if name == ".":
                continue  # what came before was checked to be a directory
            entry = self._entry(_join(resolved), name)
            if entry.kind is Kind.SYMLINK and (pending or follow_last):
                links += 1
                if links > MAX_SYMLINKS:
                    raise LinkLoop(path)
                target = entry.target or ""
                if target.startswith("/"):
                    resolved = []
                pending.extendleft(reversed(_lookup_components(target)))
                continue
            if pending and entry.kind is not Kind.DIRECTORY:
                raise NotADirectory(path)
            resolved.append(name)
        return _join(resolved)

    # --- Questions (built on the above; backends may answer them faster) ------------------------

    def read(self, path: str, limit: int) -> Blob:
        """Up to ``limit`` bytes of the regular file ``path`` (symlinks followed inside the
        root). Raises :class:`NotRegular` for anything else."""
        canonical = self.resolve(path)
        parent, name = _parent_and_name(canonical)
        kind = self._entry(parent, name).kind if name else Kind.DIRECTORY
        if kind is not Kind.FILE:
            raise NotRegular(path, kind)
        return self._read_canonical(canonical, limit)

    def read_files(self, directory: str, wanted: Sequence[tuple[str, int]]) -> DirectoryFiles:
        """Each ``(name, limit)`` of ``wanted`` (a plain name in ``directory``) read exactly as
        :meth:`read` reads ``directory/name``; a refusal is returned in its place, not raised.
        One call per directory lets a backend resolve and list it once."""
        files: dict[str, Blob | RootError] = {}
        for name, limit in wanted:
            try:
                files[name] = self.read(f"{directory}/{name}", limit)
            except RootError as error:
                files[name] = error
        return DirectoryFiles(files)

    def listdir(self, path: str, limit: int = LISTING_LIMIT) -> Listing:
        canonical = self.resolve(path)
        if self.kind(canonical) is not Kind.DIRECTORY:
            raise NotADirectory(path)
        return self._list_canonical(canonical, limit)

    def readlink(self, path: str) -> str:
        """The text of the symlink ``path`` (its directory resolved inside the root; the link
        itself not followed). Raises :class:`NotRegular` when ``path`` is not a symlink."""
        parent, name = _parent_and_name(self.resolve(path, follow_last=False))
        entry = self._entry(parent, name) if name else Entry(Kind.DIRECTORY)
        if entry.kind is not Kind.SYMLINK:
            raise NotRegular(path, entry.kind)
        return entry.target or ""

    def kind(self, path: str, follow: bool = True) -> Kind | None:
        """What ``path`` is (None: it does not exist, or a link on the way is broken)."""
        try:
            parent, name = _parent_and_name(self.resolve(path, follow_last=follow))
            return self._entry(parent, name).kind if name else Kind.DIRECTORY
        except RootError:
            return None

    def lexists(self, path: str) -> bool:
        """``path`` exists, a dangling symlink included (``os.path.lexists`` inside the root)."""
        return self.kind(path, follow=False) is not None

    def is_dir(self, path: str) -> bool:
        return self.kind(path) is Kind.DIRECTORY

    def is_file(self, path: str) -> bool:
        return self.kind(path) is Kind.FILE

    def mtime(self, path: str) -> float:
        return self._mtime_canonical(self.resolve(path))


# --- A directory on this machine ------------------------------------------------------------------

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_PATH = getattr(os, "O_PATH", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY_HANDLE = _O_PATH | _O_DIRECTORY | _O_CLOEXEC
_FILE_READ = os.O_RDONLY | _O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC

# openat2(2), include/uapi/linux/openat2.h.
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
#: The syscall number is 437 on every architecture that uses the generic table.
_OPENAT2_MACHINES = frozenset({"x86_64", "amd64", "aarch64", "arm64", "riscv64", "ppc64le", "s390x"})
_OPENAT2_NUMBER = 437


class _Openat2:
    """``openat2(2)`` through ctypes (Python's ``os`` has no binding)."""

    def __init__(self) -> None:
        import ctypes

        class OpenHow(ctypes.Structure):
            _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

        self._how = OpenHow
        self._size = ctypes.sizeof(OpenHow)
        self._get_errno = ctypes.get_errno
        # A library handle of our own, so that its syscall's argument types are ours to set.
        syscall = ctypes.CDLL(None, use_errno=True).syscall
        syscall.restype = ctypes.c_long
        syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(OpenHow), ctypes.c_size_t]
        self._syscall = syscall

    def __call__(self, directory: int, path: str, flags: int, resolve: int) -> int:
        result = int(
            self._syscall(_OPENAT2_NUMBER, directory, os.fsencode(path), self._how(flags, 0, resolve), self._size)
        )
        if result < 0:
            code = self._get_errno()
            raise OSError(code, os.strerror(code), path)
        return result


def _real_os() -> bool:
    """``os`` is the real module: a file-system fake (pyfakefs) patches it, and a raw syscall
    would then read the real file system behind the fake's back."""
    return os.open is _POSIX_OPEN and os.lstat is _POSIX_LSTAT


_POSIX_OPEN = posix.open
_POSIX_LSTAT = posix.lstat


def _probe_openat2(root_fd: int) -> _Openat2 | None:
    # os.uname() is what platform.system() and platform.machine() read (platform itself is a
    # slow import).
    system = os.uname()
    if not _real_os() or system.sysname != "Linux" or system.machine.lower() not in _OPENAT2_MACHINES:
        return None
    try:
        call = _Openat2()
        fd = call(root_fd, ".", _DIRECTORY_HANDLE, _RESOLVE_IN_ROOT)
    except (OSError, AttributeError, ImportError):
        # ENOSYS before Linux 5.6, EPERM/ENOSYS under seccomp filters (older container runtimes);
        # ctypes itself may be missing or unreadable (a minimal Python, a dropped privilege).
        return None
    try:
        same = os.path.samestat(os.fstat(fd), os.fstat(root_fd))
    finally:
        os.close(fd)
    return call if same else None


def _close_all(close: Callable[[int], None], handles: OrderedDict[str, int], root_fd: list[int]) -> None:
    # ``close`` is the os.close of the file system the descriptors came from: under a fake file
    # system its numbers mean nothing to the real one (closing them there closes someone else's).
    # Finalisation has nobody to report to: a fake file system already torn down raises its own
    # errors, and its descriptors went with it.
    for fd in [*handles.values(), *root_fd]:
        with contextlib.suppress(Exception):
            close(fd)
    handles.clear()
    root_fd.clear()


class DirectoryRoot(RootFS):
    """A root directory on this machine.

    ``use_openat2``: None probes the kernel (and is what callers want); False forces the
    component walk (tests, and kernels without openat2); True requires openat2 and raises
    :class:`Unreadable` when it is not available.
    """

    def __init__(self, root: str | os.PathLike[str], use_openat2: bool | None = None) -> None:
        self.description = str(root)
        try:
            fd = os.open(root, _DIRECTORY_HANDLE)
        except OSError as error:
            raise _error_for(str(root), error) from None
        self._root = [fd]
        self._real = _real_os()
        self._handles: OrderedDict[str, int] = OrderedDict()
        # Directories read from more than once: the names listed as regular files (d_type), so a
        # device directory costs one getdents instead of an lstat per attribute. A name not in
        # the listing (created since, or d_type unknown) takes the lstat path; a listed name that
        # changed since is caught by the open (O_NOFOLLOW) and the fstat after it.
        self._regular_files: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._reads_in: dict[str, int] = {}
        self._finalizer = weakref.finalize(self, _close_all, os.close, self._handles, self._root)
        self._openat2 = _probe_openat2(fd) if use_openat2 is not False else None
        if use_openat2 and self._openat2 is None:
            self.close()
            raise Unreadable(str(root), "openat2(2) is not available here")
        # Where the kernel says the root is, to turn an openat2 descriptor back into a path.
        self._root_prefix = self._fd_path(fd) if self._openat2 is not None else None

    @property
    def uses_openat2(self) -> bool:
        return self._openat2 is not None

    def close(self) -> None:
        self._finalizer()

    @property
    def _root_fd(self) -> int:
        self._check_open()
        return self._root[0]

    def _check_open(self) -> None:
        if not self._root:
            raise Unreadable(self.description, "the root was closed")
        if _real_os() != self._real:
            # Opened under a fake file system (pyfakefs) and used outside it, or the reverse:
            # the descriptors would name other files.
            raise Unreadable(self.description, "the file system was swapped under the reader")

    # --- Directory handles --------------------------------------------------------------------
    #
    # A handle from the cache is used at once and never across another cache insertion, which
    # may close the least recently used one.

    def _cached(self, key: str) -> int | None:
        if (os.open is _POSIX_OPEN) is not self._real or not self._root:
            self._check_open()
        fd = self._handles.get(key)
        if fd is not None:
            self._handles.move_to_end(key)
        return fd

    def _remember(self, key: str, fd: int) -> int:
        old = self._handles.pop(key, None)
        if old is not None:
            os.close(old)
        self._handles[key] = fd
        while len(self._handles) > DIRECTORY_CACHE:
            _, evicted = self._handles.popitem(last=False)
            os.close(evicted)
        return fd

    def _canonical_dir(self, path: str) -> int:
        """A handle on the resolved directory ``path``, opened component by component without
        following any link (a canonical path holds none; if one appeared since, this fails)."""
        if not path:
            return self._root_fd
        fd = self._cached(path)
        if fd is not None:
            return fd
        parent, name = _parent_and_name(path)
        parent_fd = self._canonical_dir(parent)
        try:
            fd = os.open(name, _DIRECTORY_HANDLE | _O_NOFOLLOW, dir_fd=parent_fd)
        except OSError as error:
            raise _error_for(path, error) from None
        return self._remember(path, fd)

    def _directory(self, path: str) -> int:
        """A handle on the directory ``path`` (any spelling), resolved inside the root once."""
        if not path:
            return self._root_fd
        fd = self._cached(path)
        if fd is not None:
            return fd
        if self._openat2 is not None:
            fd = self._open_in_root(path, _DIRECTORY_HANDLE)
            return self._remember(path, fd)
        return self._canonical_dir(self.resolve(path))

    def _open_in_root(self, path: str, flags: int) -> int:
        assert self._openat2 is not None
        _no_nul(path)
        for _ in range(3):
            try:
                return self._openat2(self._root_fd, path, flags, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
            except OSError as error:
                # EAGAIN: a rename or mount raced the lookup (openat2(2)); try again.
                if error.errno != errno.EAGAIN:
                    raise _error_for(path, error) from None
        raise Unreadable(path, "kept changing while it was resolved")

    @staticmethod
    def _fd_path(fd: int) -> str | None:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None

    # --- RootFS primitives ----------------------------------------------------------------------

    def _entry(self, parent: str, name: str) -> Entry:
        directory = self._canonical_dir(parent)
        try:
            info = os.lstat(name, dir_fd=directory)
            kind = Kind.of(info.st_mode)
            target = os.readlink(name, dir_fd=directory) if kind is Kind.SYMLINK else None
        except OSError as error:
            raise _error_for(_join([parent, name]) if parent else name, error) from None
        return Entry(kind, target)

    def _read_canonical(self, path: str, limit: int) -> Blob:
        parent, name = _parent_and_name(path)
        return self._read_in(self._canonical_dir(parent), name, path, limit)

    def _list_canonical(self, path: str, limit: int) -> Listing:
        return self._list_handle(self._canonical_dir(path), path, limit)

    def _mtime_canonical(self, path: str) -> float:
        parent, name = _parent_and_name(path)
        directory = self._canonical_dir(parent)
        try:
            return os.stat(name or ".", dir_fd=directory, follow_symlinks=False).st_mtime
        except OSError as error:
            raise _error_for(path, error) from None

    # --- Fast paths: the directory resolved once, its files opened relative to it --------------

    def resolve(self, path: str, follow_last: bool = True) -> str:
        if self._openat2 is None or not follow_last or self._root_prefix is None:
            return super().resolve(path, follow_last)
        fd = self._open_in_root(path, _O_PATH | _O_CLOEXEC)
        keep = False
        try:
            where = self._fd_path(fd)
            prefix = self._root_prefix.rstrip("/")
            if where == self._root_prefix:
                return ""
            if where is None or not where.startswith(prefix + "/"):
                # /proc is missing, or the root moved: the walk gives the same answer, slower.
                return super().resolve(path, follow_last)
            canonical = where[len(prefix) + 1 :]
            # A device directory is resolved to be read from next: keep the handle.
            keep = stat.S_ISDIR(os.fstat(fd).st_mode)
            if keep:
                self._remember(canonical, fd)
            return canonical
        finally:
            if not keep:
                os.close(fd)

    def _last(self, path: str) -> tuple[int, str, os.stat_result] | None:
        """(a handle on the directory, the last name, its lstat) for the fast paths; None when
        the last component is empty, ``.`` or ``..`` (the generic path handles those)."""
        parent, name = _parent_and_name(path)
        if name in ("", ".", ".."):
            return None
        directory = self._directory(parent)
        try:
            return directory, name, os.lstat(name, dir_fd=directory)
        except OSError as error:
            raise _error_for(path, error) from None

    def _listed_regular(self, parent: str, directory: int) -> frozenset[str]:
        listed = self._regular_files.get(parent)
        if listed is not None:
            self._regular_files.move_to_end(parent)
            return listed
        reads = self._reads_in.get(parent, 0) + 1
        if reads < 2:  # a directory read from once (most of /proc and /etc) is not listed
            self._reads_in[parent] = reads
            return frozenset()
        self._reads_in.pop(parent, None)
        names: set[str] = set()
        try:
            fd = os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=directory)
        except OSError:
            return frozenset()
        try:
            with os.scandir(fd) as entries:
                for count, entry in enumerate(entries):
                    if count >= _LISTED_DIRECTORY_LIMIT:
                        return frozenset()  # a huge directory: the lstat path, bounded per read
                    if entry.is_file(follow_symlinks=False):
                        names.add(entry.name)
        except OSError:
            return frozenset()
        finally:
            os.close(fd)
        listed = frozenset(names)
        self._regular_files[parent] = listed
        while len(self._regular_files) > DIRECTORY_CACHE:
            self._regular_files.popitem(last=False)
        return listed

    def read(self, path: str, limit: int) -> Blob:
        parent, name = _parent_and_name(path)
        if name not in ("", ".", ".."):
            directory = self._directory(parent)
            if name in self._listed_regular(parent, directory):
                return self._read_in(directory, name, path, limit)
        last = self._last(path)
        if last is None:
            return super().read(path, limit)
        directory, name, info = last
        if stat.S_ISREG(info.st_mode):
            return self._read_in(directory, name, path, limit)
        if stat.S_ISLNK(info.st_mode):
            return super().read(path, limit)
        raise NotRegular(path, Kind.of(info.st_mode))

    def read_files(self, directory: str, wanted: Sequence[tuple[str, int]]) -> DirectoryFiles:
        # The directory is resolved once and listed once (d_type): a listed regular file is
        # opened relative to it (O_NOFOLLOW, checked again with fstat), a name the listing does
        # not hold does not exist, anything else (a symlink, a directory, a FIFO) takes the
        # generic path, which answers as read() does.
        directory = directory.strip("/")
        prefix = f"{directory}/" if directory else ""
        try:
            handle = self._directory(directory)
        except RootError:
            return super().read_files(directory, wanted)
        kinds = self._kinds(handle)
        if kinds is None:
            return super().read_files(directory, wanted)
        files: dict[str, Blob | RootError] = {}
        for name, limit in wanted:
            path = prefix + name
            regular = kinds.get(name)
            try:
                if regular is None:
                    if "/" in name or name in ("", ".", ".."):
                        files[name] = self.read(path, limit)
                    else:
                        files[name] = NotFound(path)
                elif regular:
                    files[name] = self._read_in(handle, name, path, limit)
                else:
                    files[name] = self.read(path, limit)
                    # The generic path may have cached other handles and evicted this one.
                    handle = self._directory(directory)
            except RootError as error:
                files[name] = error
        return DirectoryFiles(files, frozenset(kinds))

    def _kinds(self, directory: int) -> dict[str, bool] | None:
        """Every name in the directory, True for a regular file (d_type; no lstat each), or None
        when it cannot be listed or holds more than the listing bound for this fast path."""
        try:
            fd = os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=directory)
        except OSError:
            return None
        try:
            with os.scandir(fd) as entries:
                kinds = {
                    entry.name: entry.is_file(follow_symlinks=False)
                    for entry in itertools.islice(entries, _LISTED_DIRECTORY_LIMIT + 1)
                }
        except OSError:
            return None
        finally:
            os.close(fd)
        return kinds if len(kinds) <= _LISTED_DIRECTORY_LIMIT else None

    def _read_in(self, directory: int, name: str, path: str, limit: int) -> Blob:
        try:
            fd = os.open(name, _FILE_READ, dir_fd=directory)
        except OSError as error:
            raise _error_for(path, error) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                # Swapped for something else between lstat and open.
                raise NotRegular(path, Kind.of(info.st_mode))
            return _read_capped(fd, limit, info.st_size)
        except OSError as error:
            raise _error_for(path, error) from None
        finally:
            os.close(fd)

    def listdir(self, path: str, limit: int = LISTING_LIMIT) -> Listing:
        return self._list_handle(self._directory(path.strip("/")), path, limit)

    def _list_handle(self, directory: int, path: str, limit: int) -> Listing:
        try:
            fd = os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=directory)
        except OSError as error:
            raise _error_for(path, error) from None
        names: list[str] = []
        truncated = False
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    if len(names) >= limit:
                        truncated = True
                        break
                    names.append(entry.name)
        except OSError as error:
            raise _error_for(path, error) from None
        finally:
            os.close(fd)
        return Listing(sorted(names), truncated)

    def readlink(self, path: str) -> str:
        parent, name = _parent_and_name(path)
        if name in ("", ".", ".."):
            return super().readlink(path)
        directory = self._directory(parent)
        try:
            return os.readlink(name, dir_fd=directory)
        except OSError as error:
            if error.errno == errno.EINVAL:
                raise NotRegular(path, self.kind(path, follow=False) or Kind.OTHER) from None
            raise _error_for(path, error) from None

    def kind(self, path: str, follow: bool = True) -> Kind | None:
        try:
            last = self._last(path)
        except RootError:
            return None
        if last is None:
            return super().kind(path, follow)
        kind = Kind.of(last[2].st_mode)
        if kind is Kind.SYMLINK and follow:
            return super().kind(path, follow)
        return kind

    def mtime(self, path: str) -> float:
        last = self._last(path)
        if last is None or stat.S_ISLNK(last[2].st_mode):
            return super().mtime(path)
        return last[2].st_mtime


def _read_capped(fd: int, limit: int, expected: int = 0) -> Blob:
    """Read to the end or to ``limit`` bytes (one byte more tells whether there was more).
    ``expected`` (the size stat reports: exact for a disk file, a page for sysfs, 0 for procfs)
    sizes the first read."""
    wanted = limit + 1
    first = os.read(fd, min(wanted, max(expected + 1, _FIRST_READ), _READ_CHUNK))
    size = len(first)
    # The whole file as stat sized it (exact for disk, tmpfs and binary sysfs files) needs no
    # read to see the end; a file that grew since is caught next time.
    if size and size != expected:
        chunks = [first]
        while size < wanted:
            chunk = os.read(fd, min(wanted - size, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size == expected:
                break
        first = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one chunk: no copy
    if size > limit:
        return Blob(first[:limit], truncated=True)
    return Blob(first)


def open_root(root: str | os.PathLike[str]) -> RootFS:
    """The reader for ``root``: a directory, or a capture bundle (a file, ``vfiolab capture``'s
    ``.tar.gz``) read into memory by :class:`harness.rootfs_bundle.BundleRoot`, which raises
    :class:`harness.rootfs_bundle.BundleError` (bad input) for a bundle it refuses."""
    path = Path(root)
    if os.path.exists(path) and not os.path.isdir(path):
        # Imported here: a directory root needs none of it.
        from harness.rootfs_bundle import BundleRoot

        return BundleRoot(path)
    return DirectoryRoot(path)
