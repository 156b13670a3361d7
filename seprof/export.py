"""Writing files safely: checked before any work, written atomically, and never half a set.

Every file seprof writes (CSV, JSON, checkpoint, picture) goes to a temporary file beside its target and is
renamed into place only when complete, so a failed or interrupted run leaves no partial file and never
clobbers an existing one. A symlink is written through: its target is replaced, the link stays. Devices,
FIFOs and sockets are refused (they are not files to replace); ``-`` names standard output for text.
``Outputs`` holds the files of one command: each is checked up front (writable, not a special file, no two
on one path) and all are written together at the end, once everything else has succeeded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Union

from .errors import OutputPathError, first_line

STDOUT = "-"

# What ``Outputs.commit`` writes for an output: text, or a function that writes the file at the path given.
Content = Union[str, Callable[[str], None]]

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def target_of(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: the path itself, or, through any symlinks, their target."""
    return Path(os.path.realpath(path))


def _stat(path: str | os.PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)  # through symlinks
    except OSError:
        return None


def _is_standard_stream(info: os.stat_result) -> str | None:
    """'standard output' or 'standard error' when ``info`` is the file that stream writes to."""
    for fd, name in ((1, "standard output"), (2, "standard error")):
        try:
            if os.path.samestat(info, os.fstat(fd)):
                return name
        except OSError:
            continue
    return None


def check_writable(path: str | os.PathLike, stdout: bool = False) -> Path | None:
    """Raise an OutputPathError unless a file can be written at ``path``; writes nothing.

    Returns the file that will be replaced (a symlink's target), or None for ``-`` (standard output), which
    is allowed only with ``stdout``.
    """
    if str(path) == STDOUT:
        if not stdout:
            raise OutputPathError("cannot write this output to standard output ('-'): give a file path")
        return None
    given = str(path)
    hint = " (or - for standard output)" if stdout else ""
    target = target_of(path)
    info = _stat(path)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputPathError(f"cannot write {given!r}: it is a folder; give a file name")
    if info is not None:
        kind = next((name for test, name in _KINDS if test(info.st_mode)), None)
        if kind is not None:  # /dev/null, a FIFO, /dev/stdout on a pipe or a terminal...
            raise OutputPathError(f"cannot write {given!r}: it is {kind}, not a regular file; give a file path{hint}")
        stream = _is_standard_stream(info)
        if stream is not None:
            raise OutputPathError(f"cannot write {given!r}: it is where {stream} goes; give another file{hint}")
    elif target.is_symlink():
        raise OutputPathError(f"cannot write {given!r}: it is a symlink that leads back to itself; give a file path")
    folder = target.parent
    if not folder.is_dir():
        shown = os.path.dirname(given) or "."
        where = f"folder {str(folder)!r}, where the symlink {given!r} points," if os.path.islink(given) else (
            f"folder {shown!r}")
        raise OutputPathError(f"cannot write {given!r}: {where} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise OutputPathError(f"cannot write {given!r}: permission denied; choose another path")
    return target


def _temporary(target: Path) -> str:
    """A new empty file beside ``target`` with the mode ``target`` has (or a new file would get); removed
    again if giving it that mode fails."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
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


def _remove(paths: list[str]) -> None:
    for tmp in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside the file ``path`` writes; on success rename it onto that file, on
    failure (or interruption) remove it."""
    target = check_writable(path)
    tmp = _temporary(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        _remove([tmp])
        raise


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    with atomic_output(path) as tmp:
        _write_text(tmp, text)


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
                    f"{other} {str(other_path)!r} and {label} {str(path)!r} both write {where}: "
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
        and the failure is one OutputPathError; if the body fails, no file is put in place either. From the
        renames to the last line written, Ctrl-C and SIGTERM are held back: an interruption then takes effect
        once the outputs are complete, never between two of them."""
        staged: list[tuple[str, Path]] = []
        try:
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
                    raise OutputPathError(f"{label}: cannot write {path!r}: {first_line(error)}") from error
            yield
            with _signals_held():
                for tmp, target in staged:
                    try:
                        os.replace(tmp, target)
                    except OSError as error:
                        raise OutputPathError(f"cannot put {str(target)!r} in place: {first_line(error)}") from error
                staged = []
                for label, (path, target) in self._outputs.items():
                    if target is None:
                        text = contents[label]
                        sys.stdout.write(text if isinstance(text, str) else "")
                        sys.stdout.flush()
                    elif on_written is not None:
                        on_written(path)
        except BaseException:
            _remove([tmp for tmp, _ in staged])
            raise

    def commit(self, contents: dict[str, Content]) -> list[str]:
        """``staged`` with nothing to do in between: write every output; return the paths written."""
        written: list[str] = []
        with self.staged(contents, written.append):
            pass
        return written


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM while active (on platforms and threads that allow it); one that arrives
    meanwhile is delivered when it ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
