"""Writing files safely: checked before any work, written atomically, and never half a set.

Every file seprof writes (CSV, JSON, checkpoint, picture) goes to a temporary file beside its target and is
renamed into place only when complete, so a failed or interrupted run leaves no partial file and never
clobbers an existing one. A symlink is written through: its target is replaced, the link stays. Devices,
FIFOs and sockets are refused (they are not files to replace); ``-`` names standard output for text.

``check_writable`` is the one place a path is judged: empty, too long, a NUL in it, a file where a folder
should be, a missing folder, a special file, or a folder that does not take new files (``/proc``, a read-only
file system) are each refused with one line that names the path, before any work is done.

``Outputs`` holds the files of one command: each is checked up front and all are written together at the end,
once everything else has succeeded: every file is first written to its temporary file, then all are renamed
into place; if one rename fails, those already made are undone, so the old files stay as a set. Ctrl-C and
SIGTERM (and SIGHUP) that arrive during the renames, on any thread, take effect once the set is complete. Text
for standard output (``-``) is written before the renames: if standard output cannot take it, no file is
replaced.

Temporary files are named ``.<name>.seprof-<machine>-<pid>-<random>.tmp``: a run killed outright (SIGKILL,
power loss) leaves its own behind, and a later run on the same machine writing to that folder removes those
whose process is gone, never one of a run still going (nor one of another machine or container, whose PIDs
are not this one's).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputPathError, elided, first_line

STDOUT = "-"

# What ``Outputs.commit`` writes for an output: text, or a function that writes the file at the path given.
Content = str | Callable[[str], None]

HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)

# Fallbacks where the file system does not say (POSIX's usual limits).
NAME_MAX = 255
PATH_MAX = 4096

# seprof's temporary files (".tmp") and the old files kept while a set is renamed (".old"), by the writer's
# machine (and PID namespace) and PID.
_OURS = re.compile(r"\..*\.seprof-(?P<machine>[0-9a-f]{8})-(?P<pid>[0-9]+)-[a-z0-9_]{8}\.(?:tmp|old)", re.DOTALL)


def target_of(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: the path itself, or, through any symlinks, their target."""
    return Path(os.path.realpath(path))


def _shown(text: str | os.PathLike) -> str:
    """A path quoted for a one-line message, its middle elided when it is long."""
    return repr(elided(str(text)))


def _limit(folder: str | os.PathLike, name: str, fallback: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return fallback


def _nearest_existing(path: str) -> str:
    """The longest leading part of ``path`` (as written) that exists: '.' for a relative path with none."""
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if not parent or parent == probe:
            return "."
        probe = parent
    return probe


def _check_text(given: str, stdout: bool) -> None:
    """An OutputPathError for a path that names no file whatever is on disk (empty, a NUL, too long...)."""
    hint = " (or - for standard output)" if stdout else ""
    if given == "":
        raise OutputPathError(f"cannot write '': the path is empty; give a file name{hint}")
    if "\0" in given:
        raise OutputPathError(f"cannot write {_shown(given)}: a path cannot hold a NUL character")
    try:
        encoded = os.fsencode(given)
    except UnicodeEncodeError:
        raise OutputPathError(f"cannot write {_shown(given)}: it is not a valid file name here") from None
    name = os.path.basename(given)
    if name in ("", ".", ".."):
        if os.path.isdir(given):
            raise OutputPathError(f"cannot write {_shown(given)}: it is a folder; give a file name")
        raise OutputPathError(f"cannot write {_shown(given)}: it names a folder, not a file; give a file name")
    existing = _nearest_existing(given)
    longest = _limit(existing if os.path.isdir(existing) else os.path.dirname(existing) or ".", "PC_PATH_MAX",
                     PATH_MAX)
    if len(encoded) >= longest:
        raise OutputPathError(f"cannot write {_shown(given)}: the path is {len(encoded):,} bytes long, and paths "
                              f"here are shorter than {longest:,}; give a shorter path")
    *folders, name = encoded.split(os.fsencode(os.sep))
    for part in (name, *folders):
        if len(part) > NAME_MAX:  # the usual limit; a file system with a shorter one is asked below
            which = "its name" if part is name else f"the folder name {_shown(os.fsdecode(part))}"
            raise OutputPathError(f"cannot write {_shown(given)}: {which} is {len(part):,} bytes long, and names "
                                  f"are at most {NAME_MAX}; give a shorter name")


def _folder_problem(given: str, target: Path) -> str | None:
    """What is wrong with the folder ``target`` goes into, in words; None when it is a folder. The folder is
    judged as the system resolves the path (``afile/../x`` names no folder, whatever its text reduces to), then
    through a symlink at ``given``."""
    written = os.path.dirname(given) or "."
    if not os.path.isdir(written):
        existing = _nearest_existing(written)
        if os.path.lexists(existing) and not os.path.isdir(existing):
            return f"{_shown(existing)} is a file, not a folder"
        return f"folder {_shown(written)} does not exist"
    if not target.parent.is_dir():
        return f"folder {_shown(target.parent)}, where the symlink {_shown(given)} points, does not exist"
    return None


def check_writable(path: str | os.PathLike, stdout: bool = False) -> Path | None:
    """Raise an OutputPathError unless a file can be written at ``path``; leaves nothing behind.

    Returns the file that will be replaced (a symlink's target), or None for ``-`` (standard output), which
    is allowed only with ``stdout``. Whether the folder takes new files is tried by making (and removing) the
    temporary file a write would use.
    """
    given = os.fsdecode(os.fspath(path)) if isinstance(path, (os.PathLike, bytes)) else path
    if not isinstance(given, str):
        raise OutputPathError(f"cannot write {elided(repr(given))}: a path is text, not {type(given).__name__}")
    if given == STDOUT:
        if not stdout:
            raise OutputPathError("cannot write this output to standard output ('-'): give a file path")
        return None
    _check_text(given, stdout)
    hint = " (or - for standard output)" if stdout else ""
    shown = _shown(given)
    try:
        info = os.stat(given)  # through symlinks
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OutputPathError(f"cannot write {shown}: it is a symlink that leads back to itself; give a file "
                                  "path") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise OutputPathError(f"cannot write {shown}: permission denied; choose another path") from None
        raise OutputPathError(f"cannot write {shown}: {error.strerror or first_line(error)}") from None
    target = target_of(given)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputPathError(f"cannot write {shown}: it is a folder; give a file name")
    if info is not None:
        kind = next((name for test, name in _KINDS if test(info.st_mode)), None)
        if kind is not None:  # /dev/null, a FIFO, /dev/stdout on a pipe or a terminal...
            raise OutputPathError(f"cannot write {shown}: it is {kind}, not a regular file; give a file path{hint}")
        stream = _is_standard_stream(info)
        if stream is not None:
            raise OutputPathError(f"cannot write {shown}: it is where {stream} goes; give another file{hint}")
    elif os.path.islink(target):
        raise OutputPathError(f"cannot write {shown}: it is a symlink that leads back to itself; give a file path")
    problem = _folder_problem(given, target)
    if problem is not None:
        raise OutputPathError(f"cannot write {shown}: {problem}")
    if not os.access(target.parent, os.W_OK) or (info is not None and not os.access(target, os.W_OK)):
        raise OutputPathError(f"cannot write {shown}: permission denied; choose another path")
    if info is not None and not _may_replace(target, info):
        raise OutputPathError(f"cannot write {shown}: it belongs to another user, in a folder where only a file's "
                              "owner may replace it; choose another path")
    try:
        _remove([_temporary(target)])
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:  # the path as it resolves, with the temporary file's longer name
            raise OutputPathError(f"cannot write {shown}: the path is too long where it leads "
                                  f"({_shown(target)}); give a shorter path") from None
        why = "" if error.errno == errno.ENOENT else f" ({error.strerror or first_line(error)})"
        raise OutputPathError(f"cannot write {shown}: its folder {_shown(target.parent)} does not take new "
                              f"files{why}; choose another path") from None
    return target


def _may_replace(target: Path, info: os.stat_result) -> bool:
    """Whether this process may rename a file onto ``target``: not where the folder is sticky (like /tmp) and
    the file and folder belong to another user."""
    try:
        folder = os.stat(target.parent)
    except OSError:
        return True  # the probe below tells
    user = os.geteuid()
    return not (folder.st_mode & stat.S_ISVTX) or user in (0, info.st_uid, folder.st_uid)


def _is_standard_stream(info: os.stat_result) -> str | None:
    """'standard output' or 'standard error' when ``info`` is the file that stream writes to."""
    for fd, name in ((1, "standard output"), (2, "standard error")):
        try:
            if os.path.samestat(info, os.fstat(fd)):
                return name
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def _machine() -> str:
    """8 hex digits naming this machine and PID namespace, the only place where a PID in a file name means a
    process: a folder shared with other machines or containers holds names whose PIDs are not ours to test."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return hashlib.sha1("\0".join(parts).encode(errors="replace")).hexdigest()[:8]


def _our_name(target: Path, suffix: str) -> tuple[str, str]:
    """(prefix, suffix) of a name of ours beside ``target``: the target's name cut to fit the folder's limit,
    this machine's tag and this process's PID, and room for 8 random characters."""
    mark = f"seprof-{_machine()}-{os.getpid()}-"
    longest = _limit(target.parent, "PC_NAME_MAX", NAME_MAX)
    room = longest - len(f"..{mark}") - 8 - len(suffix)
    name = os.fsdecode(os.fsencode(target.name)[:max(room, 1)])
    return f".{name}.{mark}", suffix


def _temporary(target: Path) -> str:
    """A new empty file beside ``target`` with the mode ``target`` has (or a new file would get); removed
    again if giving it that mode fails."""
    prefix, suffix = _our_name(target, ".tmp")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        # mkstemp makes the file 0600: give it the old file's mode, or the umask's default for a new file
        if target.exists():
            mode = target.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
    except BaseException:
        _remove([tmp])
        raise
    return tmp


def _alive(pid: int) -> bool:
    """Whether a process with this PID exists (one of another user's counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):  # another user's (PermissionError), or no PID this system has
        pass
    return True


def remove_stale(folder: str | os.PathLike) -> list[str]:
    """Remove the temporary files seprof runs that were killed left in ``folder`` (those written on this machine,
    in this PID namespace, by a process that no longer runs); return their names. Files of live runs, of other
    machines or containers, and anything not named as seprof names its own, stay."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _OURS.fullmatch(entry.name)
        if match is None or match["machine"] != _machine() or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _remove(paths: list[str]) -> None:
    """Remove files of ours, as far as the system lets us (what stays, a later run removes)."""
    for tmp in paths:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """While active, SIGINT, SIGTERM and SIGHUP are held: one that arrives (on any thread: Python runs signal
    handlers on the main thread) is acted on, with the handler that was in place, once the block ends. Nothing
    is held when not on the main thread, where handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    try:
        for sig in HELD:
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            handler = previous.get(caught[0], signal.SIG_DFL)
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), caught[0])


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside the file ``path`` writes; on success rename it onto that file, on
    failure (or interruption) remove it."""
    target = check_writable(path)
    remove_stale(target.parent)
    tmp = _temporary(target)
    try:
        yield tmp
        with deferred_signals():
            os.replace(tmp, target)
    except BaseException:
        with deferred_signals():
            _remove([tmp])
        raise


def to_stdout(label: str, text: str) -> None:
    """Write ``text`` to standard output, or an OutputPathError naming ``label`` when it cannot take it (closed,
    full, its reader gone); standard output is then pointed at /dev/null, so that the interpreter's own flush at
    exit does not fail again."""
    try:
        if sys.stdout is None:
            raise OSError(errno.EBADF, "it is closed")
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError) as error:
        quiet_stdout()
        why = error.strerror if isinstance(error, OSError) and error.strerror else first_line(error, False)
        raise OutputPathError(f"{label}: cannot write to standard output: {why}") from error


def quiet_stdout() -> None:
    """Point standard output at /dev/null (after it failed), where its descriptor allows."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    with atomic_output(path) as tmp:
        _write_text(tmp, text)


def _keep_old(target: Path) -> str | None:
    """A second name for the file at ``target`` (a hard link, else a copy), so that replacing it can be undone;
    None when there is no file there."""
    if not target.is_file():
        return None
    prefix, suffix = _our_name(target, ".old")
    old = str(target.parent / f"{prefix}{secrets.token_hex(4)}{suffix}")
    try:
        os.link(target, old)
    except OSError:  # a file system without hard links
        shutil.copy2(target, old)
    return old


def replace_all(staged: list[tuple[str, Path]]) -> None:
    """Rename each temporary file onto its target, all or none: if one rename fails, the files already
    replaced get their old contents back (and new ones are removed) before the OutputPathError."""
    done: list[tuple[Path, str | None]] = []
    try:
        for tmp, target in staged:
            old = None
            try:
                old = _keep_old(target) if len(staged) > 1 else None
                os.replace(tmp, target)
            except OSError as error:
                _remove([old] if old else [])
                raise OutputPathError(f"cannot put {_shown(target)} in place: {first_line(error)}; no file was "
                                      "replaced") from error
            done.append((target, old))
    except BaseException:
        for target, old in reversed(done):
            with contextlib.suppress(OSError):
                if old is None:
                    os.unlink(target)
                else:
                    os.replace(old, target)
        raise
    finally:
        _remove([old for _, old in done if old is not None])


class Outputs:
    """The files one command writes, each named by a label (the option that asked for it).

    ``add`` checks a path before any work is done; ``staged`` / ``commit`` write every file at the end: all to
    temporary files first, then each renamed into place, so a failure while writing leaves every old file as
    it was.
    """

    def __init__(self) -> None:
        self._outputs: dict[str, tuple[str, Path | None]] = {}

    def add(self, label: str, path: str | os.PathLike | None, stdout: bool = False) -> None:
        """Check and remember the output ``label`` at ``path`` (nothing when None); ``stdout`` allows ``-``."""
        if path is None:
            return
        try:
            target = check_writable(path, stdout)
        except OutputPathError as error:
            raise OutputPathError(f"{label}: {error}") from None
        for other, (other_path, other_target) in self._outputs.items():
            same = (
                target == other_target
                if target is None or other_target is None
                else (
                    target == other_target
                    or (target.exists() and other_target.exists() and os.path.samefile(target, other_target))
                )
            )
            if same:
                where = "standard output" if target is None else repr(str(target))
                raise OutputPathError(
                    f"{other} {_shown(str(other_path))} and {label} {_shown(str(path))} both write {where}: "
                    "give each output its own path"
                )
        self._outputs[label] = (str(path), target)

    @property
    def stdout(self) -> bool:
        """Whether an output goes to standard output (so the report itself should not)."""
        return any(target is None for _, target in self._outputs.values())

    @contextlib.contextmanager
    def staged(self, contents: dict[str, Content], on_written: Callable[[str], None] | None = None) -> Iterator[None]:
        """Write each output's content (one per label added) to a temporary file beside its target, then run
        the body (say, printing the report), then put every file in place and write the text for ``-`` to
        stdout; ``on_written`` is called with each file's path once all are in place.

        If writing any file fails (a full disk, a picture format that needs a missing program, a folder that
        refuses the file's mode), nothing is put in place, the body does not run, no temporary file stays,
        and the failure is one OutputPathError; if the body fails, no file is put in place either; if a rename
        fails, the renames already made are undone. From the renames to the last line written, Ctrl-C and
        SIGTERM are held back: an interruption then takes effect once the outputs are complete, never between
        two of them. Temporary files left in the outputs' folders by killed runs are removed first."""
        staged: list[tuple[str, Path]] = []
        try:
            for folder in dict.fromkeys(t.parent for _, t in self._outputs.values() if t is not None):
                remove_stale(folder)
            for label, (path, target) in self._outputs.items():
                if target is None:
                    continue
                try:
                    staged.append((_temporary(target), target))
                    content = contents[label]
                    if isinstance(content, str):
                        _write_text(staged[-1][0], content)
                    else:
                        content(staged[-1][0])
                except (OSError, RuntimeError, ValueError) as error:
                    raise OutputPathError(f"{label}: cannot write {_shown(path)}: {first_line(error)}") from error
            yield
            with deferred_signals():
                for label, (_, target) in self._outputs.items():  # first: if it fails, no file is replaced
                    if target is None:
                        text = contents[label]
                        to_stdout(label, text if isinstance(text, str) else "")
                replace_all(staged)
                staged = []
                for path, target in self._outputs.values():
                    if target is not None and on_written is not None:
                        on_written(path)
        except BaseException:
            with deferred_signals():
                _remove([tmp for tmp, _ in staged])
            raise

    def commit(self, contents: dict[str, Content]) -> list[str]:
        """``staged`` with nothing to do in between: write every output; return the paths written."""
        written: list[str] = []
        with self.staged(contents, written.append):
            pass
        return written
