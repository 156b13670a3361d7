"""An attack on seprof's command line and Python API, wider than the bad-input matrix in the tests.

Every option of every command is given the bad values of its kind (whole numbers, seconds, choices, lists,
stage sets, input shapes, paths, model names), every option that takes one value is given twice, and every
output option is pointed at every kind of path that names no file to write, beside an existing output that
must survive. Each case must end as seprof promises: exit code 2, nothing on stdout, exactly one line on stderr
(``seprof: error: ...``) that names the option, no traceback, every file in the folder as it was (hidden
temporary files included), within a time limit. A list of commands that must work is run too (exit 0, and the
files they write in place). The Python API is attacked with bad arguments: only a SeprofError (or a TypeError
for an argument that does not exist) may come out, and the model given is never changed. Finally a real run
that replaces three files is sent SIGINT or SIGTERM at random moments: every file old, or every file new.

The options' kinds are declared below; an option the script does not know fails the run, so a new option is
attacked from the day it exists. The result (counts by group, every failure) goes to
benchmarks/results/attack.json.

    python benchmarks/attack.py [--quick] [--signals 24] [--out benchmarks/results/attack.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import typer
from typer.testing import CliRunner

import seprof
from seprof.cli import app
from seprof.errors import SeprofError

LIMIT_S = 90  # a refusal that takes longer than this is a failure too

# The kind of each option's value, by option name (sweep's list options by "sweep.NAME").
KINDS = {
    "r": "whole", "divisor": "whole", "runs": "whole", "warmup": "whole_from_0", "threads": "whole",
    "workers": "whole",
    "budget": "seconds",
    "block": "choice", "position": "choice", "squeeze": "choice", "gate": "choice", "combine": "choice",
    "device": "choice", "mode": "choice", "dtype": "choice", "task": "choice", "source": "choice",
    "stages": "whole_list", "strip_stages": "whole_list", "batch": "whole_list",
    "sweep.r": "whole_list", "sweep.divisor": "whole_list", "sweep.stage_sets": "stage_sets",
    "sweep.block": "word_list", "sweep.position": "word_list", "sweep.squeeze": "word_list", "sweep.gate": "word_list",
    "sweep.combine": "word_list",
    "input_shape": "shape", "family": "family",
    "csv": "path", "stages_csv": "path", "json": "path", "save": "path", "plot": "path",
    "knobs": "knob", "sweep.knobs": "knob",
}
LONG = "9" * 5000
BAD = {
    "whole": ["0", "-1", "", " ", "1.5", "1e3", "abc", "²", "٣", "0x10", "9" * 19, LONG, "nan", "100001"],
    "whole_from_0": ["-1", "", " ", "1.5", "1e3", "abc", "²", "٣", "0x10", "9" * 19, LONG, "nan", "1001"],
    "seconds": ["0", "-1", "nan", "inf", "-inf", "", "abc", "1e400", "0x1p3", " "],
    "choice": ["", " ", "x", "all?", "ＣＰＵ", "\n"],
    "whole_list": ["", ",", "2,,3", "x", "2,2", "-1", "2,x", "²", "9" * 19, "1.5", "2+3"],
    "stage_sets": ["", ",", "x", "4+4", "each,each", "-1", "2+x", "9" * 19, "all+2"],
    "word_list": ["", ",", "x", "a,,b", "se,se"],
    "shape": ["", "3", "3x224", "3x0x224", "3x-1x224", "axbxc", "3x224x224x1x1", "3*224*224", "3x224x", LONG,
              "3x99999999999x224", "3x224x224 x"],
    "family": ["", "nope", "resnet ", "timm:nope"],
    "knob": ["", " ", "=", "x", "x=", "=3", "a=b=c", "rd_ratio=0", "nope=1", LONG + "=1", "spatial_kernel_size=2",
             "rd_ratio=1/0", "gamma=nan", "ｒｄ_ratio=1"],
}
MODELS = ["", " ", "resnet", "RESNET50", "resnet50 ", "timm:", "timm:nonexistent", "timm:resnet18.nonexistent_tag",
          ":", "a:", ":b", "a:b:c", "os:getcwd", "builtins:exit", "seprof.cli:main", "../etc/passwd", "/", "-",
          "resnet18\n", "\x1b[31mred"]
# Options that only mean something with timing on (their bad values are given without --no-latency).
TIMING = {"batch", "device", "runs", "warmup", "threads", "mode", "dtype", "budget"}
# Commands that must work: (command line, files they must write).
WORKS = [
    ("inject resnet18 --input 3x64x64 --no-latency --csv {d}/w.csv --json {d}/w.json --save {d}/w.pt",
     ["w.csv", "w.json", "w.pt"]),
    ("compare mobilenet_v3_small --add-missing --no-latency", []),
    ("compare vit_b_16 --no-latency", []),
    ("compare resnet18 --input 3x64x64 --no-latency --stages-csv {d}/s.csv", ["s.csv"]),
    ("inject mnasnet0_5 --input 3x64x64 --no-latency --save {d}/mn.pt", ["mn.pt"]),
    ("inject resnet18 --input 3x32x32 --runs 1000 --budget 1", []),
    ("inject resnet18 --stages 2 --stages 3 --input 3x64x64 --no-latency", []),
    ("sweep resnet18 --block se,sse --input 3x64x64 --no-latency", []),
    ("inject resnet18 --block cbam --knob spatial_kernel_size=3 --input 3x64x64 --no-latency --save {d}/c.pt",
     ["c.pt"]),
    ("sweep resnet18 --block se,eca,cbam,gc --knob rd_ratio=1/4 --input 3x64x64 --no-latency", []),
    ("compare timm:gcresnext26ts --own-attention --no-latency", []),
    (f"paper --csv {{d}}/{'p' * 240}.csv", ["p" * 240 + ".csv"]),
]


class Hung(Exception):
    pass


def _alarm(signum, frame):
    raise Hung()


def fixtures(folder: Path) -> None:
    """What each case's folder holds: an old output, a file used as a folder, special files, odd links."""
    (folder / "keep.csv").write_text("keep me\n")
    torch.save({"keep": torch.zeros(1)}, folder / "keep.pt")
    (folder / "afile").write_text("a file\n")
    os.mkfifo(folder / "fifo")
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "dangling").symlink_to(folder / "nowhere" / "x")
    (folder / "sub").mkdir()


def paths(folder: Path) -> list[str]:
    return ["", f"{folder}/{'a' * 300}.csv", f"{folder}/{'a' * 300}/x.csv", f"{folder}" + "/d" * 2100,
            f"{folder}/afile/x.csv", "/proc/version", "/dev/null", f"{folder}/fifo", f"{folder}/sub",
            f"{folder}/sub/", f"{folder}/loop", f"{folder}/nowhere/x.csv", ".", "/", "/sys/x.csv"]


def state(folder: Path) -> dict:
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                found[rel] = ("file", Path(path).read_bytes())
            else:
                found[rel] = ("other", None)
    return found


def base_args(command: str, option: str) -> list[str]:
    """A command line that works, to which one bad option is added."""
    model = [] if command in ("paper", "models", "zoo") else ["resnet18"]
    sized = command in ("inject", "compare", "sweep", "stages") and option != "input_shape"
    fast = ["--input", "3x64x64"] if sized else []
    quiet = ["--no-latency"] if command in ("inject", "compare", "sweep") and option not in TIMING | {
        "no_latency", "budget"} else []
    family = ["--family", "squeezenet"] if command == "zoo" and option != "family" else []
    return [command, *model, *fast, *quiet, *family]


def cli_cases(folder: Path) -> list[tuple[str, list[str], str | None]]:
    """(group, argv, text the error must name) for every bad value of every option."""
    cases = []
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        for param in command.params:
            if param.param_type_name == "argument":
                cases += [("model name", [name, model], None) for model in MODELS]
                continue
            flag = param.opts[0]
            if param.is_flag:
                cases.append(("option twice", [*base_args(name, param.name), flag, flag], flag))
                cases.append(("flag with a value", [*base_args(name, param.name), f"{flag}=yes"], flag))
                continue
            kind = KINDS.get(f"{name}.{param.name}") or KINDS.get(param.name)
            if kind is None:
                raise SystemExit(f"the attack does not know {name} {flag}: add its kind to KINDS")
            values = paths(folder) if kind == "path" else BAD[kind]
            if name == "models" and param.name == "workers":
                values = values[:1]
            for value in values:
                cases.append((f"{kind} value", [*base_args(name, param.name), flag, value], flag))
            other = next((p.opts[0] for p in command.params if p is not param and p.param_type_name == "option"
                          and (KINDS.get(f"{name}.{p.name}") or KINDS.get(p.name)) == "path"), None)
            if kind == "path" and other is not None:  # an old output the failed run must leave as it was
                cases.append(("path beside an old output",
                              [*base_args(name, param.name), other, f"{folder}/keep.csv", flag, ""], flag))
            if not param.multiple:
                first, second = ("-", f"{folder}/b") if kind == "path" else ("8", "4") if kind in (
                    "whole", "seconds") else ("x", "y")
                cases.append(("option twice", [*base_args(name, param.name), flag, first, flag, second], flag))
    return cases


def run_cli(argv: list[str], folder: Path) -> tuple[int, str, str, float]:
    runner = CliRunner()
    started = time.perf_counter()
    signal.alarm(LIMIT_S)
    try:
        result = runner.invoke(app, argv)
    except Hung:
        return -1, "", f"hung for more than {LIMIT_S} s", LIMIT_S
    finally:
        signal.alarm(0)
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):  # what a console would show
        err += f"Traceback (most recent call last):\n{type(result.exception).__name__}: {result.exception}\n"
    return result.exit_code, result.stdout, err, time.perf_counter() - started


def refused_properly(code: int, out: str, err: str, names: str | None, before: dict, after: dict) -> str | None:
    lines = err.splitlines()
    if code != 2:
        return f"exit {code}"
    if out:
        return "stdout not empty"
    if "Traceback" in err:
        return "traceback"
    if len(lines) != 1 or not lines[0].startswith("seprof: error: "):
        return f"{len(lines)} lines on stderr"
    if names is not None and names.lstrip("-") not in lines[0]:
        return "the message does not name the option"
    if after != before:
        return "files changed"
    return None


def attack_cli(quick: bool) -> dict:
    results: dict = {"groups": {}, "failures": []}
    with tempfile.TemporaryDirectory() as top:
        cases = cli_cases(Path(top) / "template")
        if quick:
            cases = cases[::7]
        for i, (group, argv, names) in enumerate(cases):
            folder = Path(top) / f"case{i}"
            folder.mkdir()
            fixtures(folder)
            argv = [a.replace(str(Path(top) / "template"), str(folder)) for a in argv]
            before = state(folder)
            code, out, err, seconds = run_cli(argv, folder)
            problem = refused_properly(code, out, err, names, before, state(folder))
            counts = results["groups"].setdefault(group, {"cases": 0, "conform": 0})
            counts["cases"] += 1
            if problem is None:
                counts["conform"] += 1
            else:
                results["failures"].append({"group": group, "argv": [a[:120] for a in argv], "problem": problem,
                                            "stderr": err[-400:], "seconds": round(seconds, 2)})
            print(f"{i + 1}/{len(cases)} {'ok  ' if problem is None else 'FAIL'} {seconds:6.2f}s "
                  f"{' '.join(a[:40] for a in argv)[:150]}", flush=True)
        for line, files in WORKS:
            folder = Path(top) / f"works{len(results.get('works', []))}"
            folder.mkdir()
            argv = line.format(d=folder).split(" ")
            code, out, err, seconds = run_cli(argv, folder)
            written = all((folder / f).is_file() for f in files)
            leftovers = [n for n in os.listdir(folder) if n.startswith(".")]
            ok = code == 0 and written and not leftovers and "Traceback" not in err
            results.setdefault("works", []).append({"command": line[:120], "ok": ok, "exit": code,
                                                    "seconds": round(seconds, 2), "stderr": err[-300:] if not ok
                                                    else ""})
            print(f"works {'ok  ' if ok else 'FAIL'} {seconds:6.2f}s {line[:100]}", flush=True)
    return results


def api_cases(model: torch.nn.Module) -> list[tuple[str, Callable[[], object]]]:
    """(description, call) pairs that must raise a SeprofError (TypeError for an unknown argument name)."""
    from seprof import BlockSpec, TimingOptions

    return [
        ("profile r=0", lambda: seprof.profile(model, r=0, timing=None)),
        ("profile r='16'", lambda: seprof.profile(model, r="16", timing=None)),
        ("profile r=True", lambda: seprof.profile(model, r=True, timing=None)),
        ("profile r=10**9", lambda: seprof.profile(model, r=10**9, timing=None)),
        ("profile stages=[]", lambda: seprof.profile(model, stages=[], timing=None)),
        ("profile stages=[9]", lambda: seprof.profile(model, stages=[9], timing=None)),
        ("profile stages='2'", lambda: seprof.profile(model, stages="2", timing=None)),
        ("profile input_shape=(3,0,64)", lambda: seprof.profile(model, input_shape=(3, 0, 64), timing=None)),
        ("profile input_shape=(3,64)", lambda: seprof.profile(model, input_shape=(3, 64), timing=None)),
        ("profile input_shape=(1,64,64)", lambda: seprof.profile(model, input_shape=(1, 64, 64), timing=None)),
        ("profile block='ecb'", lambda: seprof.profile(model, block="ecb", timing=None)),
        ("profile cbam knob gamma", lambda: seprof.profile(model, BlockSpec("cbam", knobs={"gamma": 2}), timing=None)),
        ("profile cbam even kernel", lambda: seprof.profile(model, BlockSpec("cbam", knobs={"spatial_kernel_size": 2}),
                                                            timing=None)),
        ("profile cbam r=8", lambda: seprof.profile(model, BlockSpec("cbam"), r=8, timing=None)),
        ("profile se with knobs", lambda: seprof.profile(model, BlockSpec("se", knobs={"rd_ratio": 0.5}),
                                                         timing=None)),
        ("profile divisor=100000", lambda: seprof.profile(model, BlockSpec(divisor=100000), timing=None)),
        ("profile counters=('x',)", lambda: seprof.profile(model, counters=("x",), timing=None)),
        ("profile 'nope'", lambda: seprof.profile("nope", timing=None)),
        ("profile 'seprof.cli:main'", lambda: seprof.profile("seprof.cli:main", timing=None)),
        ("profile 'timm:resnet18.bad_tag'", lambda: seprof.profile("timm:resnet18.bad_tag", timing=None)),
        ("TimingOptions runs=0", lambda: TimingOptions(runs=0)),
        ("TimingOptions runs=10**6", lambda: TimingOptions(runs=10**6)),
        ("TimingOptions warmup=10**7", lambda: TimingOptions(warmup=10**7)),
        ("TimingOptions budget=nan", lambda: TimingOptions(budget=float("nan"))),
        ("TimingOptions device='tpu'", lambda: TimingOptions(device="tpu")),
        ("TimingOptions batch=0", lambda: TimingOptions(batch=0)),
        ("BlockSpec r=0", lambda: BlockSpec(r=0)),
        ("BlockSpec kind='x'", lambda: BlockSpec("x")),
        ("inject stages=[9]", lambda: seprof.inject(model, stages=[9])),
        ("inject r=1000", lambda: seprof.inject(model, r=1000)),
        ("strip a model without SE", lambda: seprof.strip(model)),
        ("load a missing file", lambda: seprof.load("/nonexistent.pt")),
        ("load a folder", lambda: seprof.load("/tmp")),
        ("load /dev/null", lambda: seprof.load("/dev/null")),
        ("save ''", lambda: seprof.save("", model, name="resnet18", stages=[5], input_shape=[3, 64, 64])),
        ("save to /proc", lambda: seprof.save("/proc/x.pt", model, name="resnet18", stages=[5],
                                              input_shape=[3, 64, 64])),
        ("build_model 'nope'", lambda: seprof.build_model("nope")),
        ("dispatched on a string", lambda: seprof.dispatched("resnet18", torch.zeros(1))),
        ("profile unknown keyword", lambda: seprof.profile(model, nope=1)),
    ]


def attack_api() -> dict:
    """Each API case raises a SeprofError (TypeError for an unknown keyword) and leaves the model as it was."""
    import torchvision

    model = torchvision.models.resnet18().eval()
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    results: dict = {"cases": 0, "conform": 0, "failures": []}
    for description, call in api_cases(model):
        results["cases"] += 1
        problem = None
        signal.alarm(LIMIT_S)
        try:
            call()
            problem = "accepted"
        except SeprofError:
            pass
        except TypeError as error:
            if "unexpected keyword" not in str(error):
                problem = f"TypeError: {error}"
        except Hung:
            problem = "hung"
        except Exception as error:  # noqa: BLE001 - the attack reports whatever comes out
            problem = f"{type(error).__name__}: {str(error)[:200]}"
        finally:
            signal.alarm(0)
        state_now = model.state_dict()
        hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
        if problem is None and (hooks or any(not torch.equal(snapshot[k], state_now[k]) for k in snapshot)):
            problem = "the model given was changed"
        if problem is None:
            results["conform"] += 1
        else:
            results["failures"].append({"case": description, "problem": problem})
        print(f"api {'ok  ' if problem is None else 'FAIL'} {description}" + (f": {problem}" if problem else ""),
              flush=True)
    return results


SIGNALLED = ["inject", "resnet18", "--input", "3x64x64", "--runs", "3", "--warmup", "0", "--csv", "r.csv", "--json",
             "r.json", "--save", "r.pt"]


def attack_signals(trials: int) -> dict:
    """SIGINT or SIGTERM at random moments of a real run that writes three files over three old ones: the run
    either ends normally with every file new, or is aborted (130 / 143) with every file old; never a mix, and
    no temporary file stays."""
    import random
    import subprocess

    rng = random.Random(0)
    results: dict = {"trials": 0, "conform": 0, "outcomes": {}, "failures": []}
    with tempfile.TemporaryDirectory() as top:
        folder = Path(top)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "seprof", *SIGNALLED], cwd=folder, capture_output=True, check=True)
        whole = time.perf_counter() - started
        for _ in range(trials):
            for name in ("r.csv", "r.json", "r.pt"):
                (folder / name).write_bytes(b"old")
            sig = rng.choice([signal.SIGINT, signal.SIGTERM])
            delay = rng.uniform(0.2, whole * 1.05)
            process = subprocess.Popen([sys.executable, "-m", "seprof", *SIGNALLED], cwd=folder,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(delay)
            process.send_signal(sig)
            out, err = process.communicate(timeout=120)
            contents = {(folder / name).read_bytes() == b"old" for name in ("r.csv", "r.json", "r.pt")}
            leftovers = sorted(n for n in os.listdir(folder) if n.startswith("."))
            code = process.returncode
            outcome = "all new" if contents == {False} else "all old" if contents == {True} else "mixed"
            expected_code = {0} if outcome == "all new" else {130 if sig == signal.SIGINT else 143}
            ok = (outcome != "mixed" and not leftovers and code in expected_code | {0} and b"Traceback" not in err
                  and (code == 0) == (outcome == "all new"))
            key = f"{outcome}, exit {code}"
            results["outcomes"][key] = results["outcomes"].get(key, 0) + 1
            results["trials"] += 1
            results["conform"] += ok
            if not ok:
                results["failures"].append({"signal": sig.name, "delay_s": round(delay, 2), "exit": code,
                                            "outcome": outcome, "leftovers": leftovers,
                                            "stderr": err.decode(errors="replace")[-300:]})
            print(f"signal {'ok  ' if ok else 'FAIL'} {sig.name} at {delay:5.2f} s of {whole:.1f}: {key}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every seventh command-line case only")
    parser.add_argument("--signals", type=int, default=24, help="signal trials (0: none)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "attack.json"))
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    cli = attack_cli(args.quick)
    api = attack_api()
    signals = attack_signals(args.signals) if args.signals else {"trials": 0, "conform": 0}
    total = sum(g["cases"] for g in cli["groups"].values())
    conform = sum(g["conform"] for g in cli["groups"].values())
    summary = {
        "seprof": seprof.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "quick": args.quick, "seconds": round(time.perf_counter() - started, 1),
        "cli": {"cases": total, "conform": conform, **cli},
        "must_work": {"commands": len(cli.get("works", [])), "ok": sum(w["ok"] for w in cli.get("works", []))},
        "api": api,
        "signals": signals,
    }
    Path(args.out).write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(f"command line: {conform} of {total} bad inputs refused as promised; must work: "
          f"{summary['must_work']['ok']} of {summary['must_work']['commands']}; API: {api['conform']} of "
          f"{api['cases']}; signals: {signals['conform']} of {signals['trials']}; {summary['seconds']} s; written "
          f"{args.out}")


if __name__ == "__main__":
    sys.exit(main())
