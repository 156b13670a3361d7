"""Output files: one function judges every path (fed random strings below), a set of outputs is put in place
whole or not at all, a signal during the renames waits for the set, and a killed run's temporary files are
removed by a later run (never a live run's)."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from seprof.errors import OutputPathError
from seprof.export import Outputs, check_writable, remove_stale, write_atomic

OURS = re.compile(r".*\.seprof-[0-9]+-[a-z0-9_]{8}\.(tmp|old)")


def tree(folder: Path) -> dict[str, tuple[str, bytes | str | None]]:
    """Every entry under ``folder`` (hidden ones too): links by target, files by content."""
    state = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                state[key] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                state[key] = ("file", Path(path).read_bytes())
            else:
                state[key] = ("other", None)
    return state


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder with one of each kind of thing a path can meet: a file, a folder, a FIFO, a socket, a symlink
    loop, a dangling symlink and a symlink to the file."""
    base = tmp_path_factory.mktemp("paths")
    (base / "f").write_text("keep")
    (base / "d").mkdir()
    (base / "d" / "g").write_text("keep too")
    os.mkfifo(base / "p")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(base / "s"))
    (base / "loop").symlink_to(base / "loop")
    (base / "dangle").symlink_to(base / "nowhere" / "x")
    (base / "link").symlink_to(base / "f")
    yield base
    server.close()


def a_file_could_be_written(path: str) -> bool:
    """The system's own answer: a regular file is there to replace, or one can be made (and is removed again)."""
    try:
        info = os.stat(path)
        return stat.S_ISREG(info.st_mode)
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        return False
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except (OSError, ValueError):
        return False
    os.unlink(path)
    return True


PARTS = st.one_of(
    st.sampled_from(["f", "d", "g", "p", "s", "loop", "dangle", "link", "nowhere", ".", "..", "", "-", "new.csv"]),
    st.text(alphabet="aé \n\x00-.\\*", min_size=1, max_size=6),
    st.integers(250, 300).map(lambda n: "a" * n),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(PARTS, min_size=0, max_size=4), slash=st.booleans())
@example(parts=["f", "..", "p"], slash=False)  # the text reduces to the FIFO; the system finds no folder 'f'
@example(parts=["link", "..", "new.csv"], slash=False)
def test_a_path_is_refused_in_one_line_or_written_exactly(place, parts, slash):
    text = "/".join(parts) + ("/" if slash and parts else "")
    path = os.path.join(str(place), text) if text else ""
    assume(path == "" or "\0" in path or os.path.realpath(path).startswith(str(place) + os.sep))
    before = tree(place)
    try:
        target = check_writable(path)
    except OutputPathError as error:
        assert "\n" not in str(error) and str(error).startswith("cannot write ")
        assert tree(place) == before  # the check leaves nothing behind
        assert not a_file_could_be_written(path) or path.endswith("/"), f"refused, yet writable: {error}"
        return
    assert not os.path.lexists(target) or target.is_file()  # a FIFO, socket or folder is never replaced
    existed = target.exists()
    old = target.read_bytes() if existed else None
    write_atomic(path, "written")
    try:
        assert target.read_text() == "written" and Path(path).read_text() == "written"
        assert not any(OURS.fullmatch(name) for name in os.listdir(target.parent))
    finally:
        if existed:
            target.write_bytes(old)
        else:
            target.unlink()
    assert tree(place) == before


def test_the_paths_people_get_wrong_are_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    cases = {
        "": "cannot write '': the path is empty; give a file name",
        str(tmp_path / "afile" / "out.csv"): f"'{tmp_path / 'afile'}' is a file, not a folder",
        str(tmp_path / ("a" * 300 + ".csv")): "its name is 304 bytes long, and names are at most 255",
        str(tmp_path / ("a" * 300) / "x.csv"): "the folder name 'aaaa",
        str(tmp_path) + "/d" * 2100: "bytes long, and paths here are shorter than 4,096",
        str(tmp_path / "out") + "/": "it names a folder, not a file",
        str(tmp_path / "a\0b"): "a path cannot hold a NUL character",
        str(tmp_path / "afile" / ".." / "x.csv"): f"'{tmp_path / 'afile'}' is a file, not a folder",
        "/proc/version": "cannot write '/proc/version': its folder '/proc' does not take new files",
    }
    for path, expected in cases.items():
        with pytest.raises(OutputPathError) as caught:
            check_writable(path)
        assert expected in str(caught.value) and "\n" not in str(caught.value), path
        assert len(str(caught.value)) < 400  # a long path is shown elided
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_a_name_at_the_limit_is_written_beside_a_temporary_file_that_fits(tmp_path):
    path = tmp_path / ("b" * 255)
    write_atomic(path, "full length")
    assert path.read_text() == "full length" and os.listdir(tmp_path) == [path.name]


def test_a_failed_rename_puts_back_every_file_already_replaced(tmp_path):
    (tmp_path / "a.csv").write_text("old a")
    (tmp_path / "c.csv").write_text("old c")
    outputs = Outputs()
    outputs.add("--new", tmp_path / "n.csv")
    outputs.add("--csv", tmp_path / "a.csv")
    outputs.add("--json", tmp_path / "b.json")
    outputs.add("--stages-csv", tmp_path / "c.csv")
    contents = {"--new": "new n", "--csv": "new a", "--json": "{}", "--stages-csv": "new c"}
    with pytest.raises(OutputPathError, match=r"cannot put '.*b.json' in place: IsADirectoryError: .*; no file was "
                                              r"replaced"):
        with outputs.staged(contents):
            (tmp_path / "b.json").mkdir()  # appears after the check, before the renames: the third rename fails
    assert tree(tmp_path) == {"a.csv": ("file", b"old a"), "b.json": ("other", None), "c.csv": ("file", b"old c")}
    (tmp_path / "b.json").rmdir()
    assert outputs.commit(contents) == [str(tmp_path / n) for n in ("n.csv", "a.csv", "b.json", "c.csv")]
    assert tree(tmp_path) == {"n.csv": ("file", b"new n"), "a.csv": ("file", b"new a"), "b.json": ("file", b"{}"),
                              "c.csv": ("file", b"new c")}


def test_outputs_in_two_folders_are_put_back_when_the_second_folder_fails(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "a.csv").write_text("old a")
    (second / "b.csv").write_text("old b")
    outputs = Outputs()
    outputs.add("--csv", first / "a.csv")
    outputs.add("--stages-csv", second / "b.csv")
    with pytest.raises(OutputPathError, match=r"cannot put '.*two/b.csv' in place: .*; no file was replaced"):
        with outputs.staged({"--csv": "new a", "--stages-csv": "new b"}):
            (second / "b.csv").unlink()
            (second / "b.csv").mkdir()  # the second folder now holds a folder where the file was
    assert tree(tmp_path) == {"one": ("other", None), "one/a.csv": ("file", b"old a"), "two": ("other", None),
                              "two/b.csv": ("other", None)}


def test_standard_output_that_cannot_take_the_text_fails_the_run_before_any_file_is_replaced(tmp_path,
                                                                                            monkeypatch):
    (tmp_path / "r.json").write_text("old")
    outputs = Outputs()
    outputs.add("--csv", "-", stdout=True)
    outputs.add("--json", tmp_path / "r.json")
    closed = open(os.devnull, "w")  # noqa: SIM115 - closed on purpose
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    with pytest.raises(OutputPathError, match=r"^--csv: cannot write to standard output: I/O operation on closed "
                                              "file"):
        outputs.commit({"--csv": "a,b\n", "--json": "{}"})
    assert tree(tmp_path) == {"r.json": ("file", b"old")}


def test_a_full_standard_output_is_one_line_and_every_old_file_stays(tmp_path):
    (tmp_path / "r.json").write_text("old")
    for args in (["--csv", "-", "--json", "r.json"], ["--json", "r.json"]):  # the export, or the report itself
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "seprof", "inject", "resnet18", "--input", "3x32x32",
                                   "--no-latency", *args], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=300)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and lines[-1].startswith("seprof: error: ") and "Traceback" not in done.stderr
        assert "No space left on device" in lines[-1]
        assert tree(tmp_path) == {"r.json": ("file", b"old")}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root, to make a file of another user, and setpriv")
def test_a_file_of_another_user_in_a_sticky_folder_is_refused_up_front():
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own folders are closed to other users
    folder.chmod(0o1777)
    (folder / "theirs.csv").write_text("theirs")
    (folder / "theirs.csv").chmod(0o666)
    code = ("from seprof.export import check_writable\nimport sys\ntry:\n    check_writable(sys.argv[1])\n"
            "except Exception as error:\n    print(error)\nprint(check_writable(sys.argv[2]))")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                           str(folder / "theirs.csv"), str(folder / "mine.csv")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(seprof_file()))})
    assert done.stdout.splitlines() == [
        f"cannot write '{folder / 'theirs.csv'}': it belongs to another user, in a folder where only a file's owner "
        "may replace it; choose another path", str(folder / "mine.csv")], done.stderr
    shutil.rmtree(folder)


def seprof_file():
    import seprof

    return seprof.__file__


KILLED = """
import os, signal, sys
from pathlib import Path
from seprof.export import _temporary
print(_temporary(Path(sys.argv[1])), flush=True)
os.kill(os.getpid(), signal.SIGKILL if sys.argv[2] == "kill" else signal.SIGSTOP)
"""


def test_a_killed_runs_temporary_files_are_removed_and_a_live_runs_are_not(tmp_path):
    dead = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path / "r.pt"), "kill"], capture_output=True,
                          text=True)
    assert dead.returncode == -signal.SIGKILL
    left = Path(dead.stdout.strip())
    live = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "r.csv"), "stop"], stdout=subprocess.PIPE,
                            text=True)
    try:
        running = Path(live.stdout.readline().strip())
        (tmp_path / ".notes.seprof-1-abc.tmp").write_text("not named as seprof names its own")
        assert left.exists() and running.exists() and str(os.getpid()) not in left.name
        assert re.fullmatch(rf"\.r\.csv\.seprof-[0-9a-f]{{8}}-{live.pid}-[a-z0-9_]{{8}}\.tmp", running.name)
        machine = running.name.split("-")[1]
        other = f".r.csv.seprof-{'0' if machine[0] != '0' else '1'}{machine[1:]}-{left.name.split('-')[2]}-abcdefgh.tmp"
        (tmp_path / other).write_text("another machine's or container's: its PID means nothing here")
        write_atomic(tmp_path / "r.json", "{}")  # any later write into the folder
        assert not left.exists() and running.exists()
        assert sorted(os.listdir(tmp_path)) == sorted([".notes.seprof-1-abc.tmp", running.name, other, "r.json"])
    finally:
        live.kill()
        live.wait()
    assert remove_stale(tmp_path) == [running.name]


SET = """
import os, signal, sys, threading, time
from pathlib import Path
from seprof.export import Outputs

folder, count = Path(sys.argv[1]), 300
outputs = Outputs()
for i in range(count):
    outputs.add(f"--o{i}", folder / f"{i}.txt")

def interrupt_once_renaming_starts():
    while (folder / "0.txt").read_text() != "new":
        pass
    while True:  # from this thread: the process takes the signal on whichever thread the kernel picks
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.0001)

threading.Thread(target=interrupt_once_renaming_starts, daemon=True).start()
try:
    outputs.commit({f"--o{i}": "new" for i in range(count)})
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("trial", range(3))
def test_an_interrupt_during_the_renames_waits_until_the_set_is_whole(tmp_path, trial):
    for i in range(300):
        (tmp_path / f"{i}.txt").write_text("old")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SET), str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 130, done.stderr
    contents = {path.read_text() for path in tmp_path.iterdir()}
    assert contents == {"new"} and len(os.listdir(tmp_path)) == 300
