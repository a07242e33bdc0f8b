"""Writing files so that a failure never leaves a half-written one behind, and checking output
paths up front so that a bad one fails before any work (docs/cli.md, "Output paths").

Rules every command follows:

- a file is written to a hidden temporary next to it (``.<name>.<pid>.<random>.tmp``) and
  renamed over the old one (``write_atomic``); a directory is written to a hidden temporary
  directory (``.zsprog-<pid>-<random>``) and swapped with the old one (``write_directory_atomic``);
- temporaries left by a killed run carry the dead process's id and are removed by the next run
  that writes next to them (``remove_stale``);
- an output path is checked before anything runs (``check_output``): not an input, not a
  directory where a file is expected (or the reverse), not under /proc, /sys or /dev, not an
  existing special file, and in a writable place.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from zeroskip.errors import ZeroskipError

#: hidden temporary directories of ``write_directory_atomic``: new contents, and (fallback swap
#: only) the previous directory kept aside until the new one is in place
DIR_TEMP_PREFIX = ".zsprog-"
_DIR_TEMP = re.compile(r"^\.zsprog-(?:old-)?(\d+)-")
#: places no output belongs
SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _file_temp_pattern(name: str) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(name)}\.(\d+)\.[^.]+\.tmp$")


def remove_stale(directory: str | os.PathLike, name: str | None = None) -> list[str]:
    """Remove hidden temporaries left in ``directory`` by runs that were killed (their process
    is gone): those of ``write_atomic`` for the file ``name`` (when given) and every
    ``.zsprog-*`` directory. A previous directory kept aside by the fallback swap is put back
    when its place is empty. Returns what was removed or restored."""
    directory = Path(directory) if str(directory) else Path(".")
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    pattern = _file_temp_pattern(name) if name else None
    done = []
    for entry in entries:
        match = pattern.match(entry) if pattern else None
        path = directory / entry
        if match and not _pid_alive(int(match.group(1))):
            try:
                os.unlink(path)
                done.append(str(path))
            except OSError:
                pass
            continue
        if not entry.startswith(DIR_TEMP_PREFIX):
            continue
        match = _DIR_TEMP.match(entry)
        if match and _pid_alive(int(match.group(1))):
            continue
        if entry.startswith(DIR_TEMP_PREFIX + "old-") and path.is_dir():
            for kept in os.listdir(path):       # the fallback swap stopped half-way: restore
                if not os.path.lexists(directory / kept):
                    try:
                        os.rename(path / kept, directory / kept)
                        done.append(str(directory / kept))
                    except OSError:
                        pass
        shutil.rmtree(path, ignore_errors=True)
        done.append(str(path))
    return done


# -- checking output paths up front -------------------------------------------------------------
def _same_or_inside(path: str, other: str) -> bool:
    return path == other or other.startswith(path.rstrip(os.sep) + os.sep)


def check_output(path, flag: str, kind: str = "file", inputs: Iterable = (),
                 replaceable: Callable[[str], bool] | None = None) -> None:
    """Raise one ``ZeroskipError`` line when ``path`` cannot take the output.

    ``kind`` is ``"file"`` (a file written atomically), ``"dir"`` (a directory files are written
    into; it may exist) or ``"replace"`` (a directory swapped whole: an existing one must satisfy
    ``replaceable``). ``inputs`` are the command's input paths: an output never overwrites or
    contains one."""
    text = os.fspath(path) if path is not None else ""
    where = f"{flag} {text}".strip()
    if not text or "\0" in text:
        raise ZeroskipError(f"{flag}: not a usable path {text!r}")
    real = os.path.realpath(text)
    for root in SPECIAL_ROOTS:
        if _same_or_inside(root, real):
            raise ZeroskipError(f"{where}: no output can go under {root}")
    for given in inputs:
        if given is None or given == "":
            continue
        other = os.path.realpath(os.fspath(given))
        if real == other or (kind == "replace" and _same_or_inside(real, other)):
            raise ZeroskipError(f"{where}: would overwrite the input {given}")
    exists = os.path.lexists(text)
    if kind == "file":
        if text.endswith(os.sep) or (exists and os.path.isdir(text)):
            raise ZeroskipError(f"{where}: is a directory, expected a file name")
        if exists and not os.path.isfile(text):
            raise ZeroskipError(f"{where}: exists and is not a regular file")
    else:
        if exists and not os.path.isdir(text):
            raise ZeroskipError(f"{where}: exists and is not a directory")
        if exists and kind == "replace":
            if real == os.path.realpath(os.getcwd()) or real == os.sep:
                raise ZeroskipError(f"{where}: refusing to replace the current or root directory")
            if replaceable is None or not replaceable(text):
                raise ZeroskipError(f"{where}: exists and is not a previous output of this "
                                    "command; refusing to replace it (choose a new name)")
    # the nearest existing ancestor must be a writable directory
    ancestor = real if (kind == "dir" and exists) else os.path.dirname(os.path.abspath(text))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ZeroskipError(f"{where}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK) or _read_only(ancestor):
        raise ZeroskipError(f"{where}: {ancestor} is not writable")


def _read_only(directory: str) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# -- files ------------------------------------------------------------------------------------
def write_atomic(path: str | os.PathLike, data: bytes | str | Callable) -> None:
    """Write ``data`` (bytes, text, or a function writing to a binary file) to ``path`` through
    a temporary file in the same directory and a rename."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale(directory, path.name)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as error:
        raise ZeroskipError(f"{path}: cannot write ({error.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, path)
    except OSError as error:
        _unlink_quietly(tmp)
        raise ZeroskipError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- directories --------------------------------------------------------------------------------
RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: str, b: str) -> bool:
    """Swap two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``; False when the
    C library or the file system does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


def replace_directory(new: str, target: str) -> None:
    """Put the directory ``new`` at ``target``, replacing the directory there, so that
    ``target`` is at every moment either the old or the new directory.

    With ``renameat2(RENAME_EXCHANGE)`` the two are swapped in one step and the old one (now at
    ``new``) is deleted. Without it (another OS, a file system that lacks it) the fallback takes
    two renames: the old directory moves into a hidden ``.zsprog-old-<pid>-*`` directory, then
    ``new`` moves to ``target``. If the process dies between the two, ``target`` is missing
    until the next run writing there: ``remove_stale`` finds the old directory under the hidden
    name, sees that its process is gone and that ``target`` is empty, and renames it back."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    if exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)
        return
    parent = os.path.dirname(target)
    keep = tempfile.mkdtemp(prefix=f"{DIR_TEMP_PREFIX}old-{os.getpid()}-", dir=parent)
    aside = os.path.join(keep, os.path.basename(target))
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(keep, ignore_errors=True)


def write_directory_atomic(directory: str | os.PathLike, write: Callable[[str], None],
                           replaceable: Callable[[str], bool], what: str = "directory") -> None:
    """Write a whole directory: ``write(tmp)`` fills a hidden temporary directory next to
    ``directory``, which then replaces it (``replace_directory``). An existing ``directory`` is
    replaced only when ``replaceable(directory)`` says it is a previous one of the same kind;
    anything else there (another directory, a file) is an error and is left alone."""
    text = os.fspath(directory)
    target = os.path.abspath(text)
    if os.path.lexists(target):
        if not os.path.isdir(target):
            raise ZeroskipError(f"{text}: exists and is not a directory")
        if not replaceable(target):
            raise ZeroskipError(f"{text}: exists and is not a {what}; refusing to replace it")
        if target == os.path.realpath(os.getcwd()) or target == os.sep:
            raise ZeroskipError(f"{text}: refusing to replace the current or root directory")
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
        remove_stale(parent)
        tmp = tempfile.mkdtemp(prefix=f"{DIR_TEMP_PREFIX}{os.getpid()}-", dir=parent)
    except OSError as error:
        raise ZeroskipError(f"{text}: cannot write ({error.strerror})") from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())     # mkdtemp's 0700 is for the temporary name only
        write(tmp)
        replace_directory(tmp, target)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ZeroskipError(f"{text}: cannot write ({error.strerror or error})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_files_atomic(directory: str | os.PathLike, produce: Callable[[str], object]) -> list[str]:
    """Write several files into ``directory`` (created if needed), each atomically:
    ``produce(tmp)`` writes them into a hidden temporary directory next to ``directory``, and
    each is then renamed to its place (subdirectories kept), so every file is at every moment
    either its old or its new contents. Files of ``directory`` that ``produce`` does not write
    are left alone. Returns the paths written."""
    text = os.fspath(directory)
    target = os.path.abspath(text)
    parent = os.path.dirname(target)
    try:
        os.makedirs(target, exist_ok=True)
        remove_stale(parent)
        tmp = tempfile.mkdtemp(prefix=f"{DIR_TEMP_PREFIX}{os.getpid()}-", dir=parent)
    except OSError as error:
        raise ZeroskipError(f"{text}: cannot write ({error.strerror})") from None
    written = []
    try:
        produce(tmp)
        for root, _, names in os.walk(tmp):
            relative = os.path.relpath(root, tmp)
            into = os.path.normpath(os.path.join(target, relative))
            os.makedirs(into, exist_ok=True)
            for name in sorted(names):
                os.replace(os.path.join(root, name), os.path.join(into, name))
                written.append(os.path.join(text, relative, name) if relative != "."
                               else os.path.join(text, name))
    except OSError as error:
        raise ZeroskipError(f"{text}: cannot write ({error.strerror or error})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
