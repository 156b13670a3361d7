import csv
import json
import os

import pytest

import seprof
from seprof.errors import OutputPathError
from seprof.export import check_writable, write_atomic
from seprof.report import CONFIG_COLUMNS, STAGE_COLUMNS, threads_label


@pytest.fixture(scope="module")
def report():
    return seprof.profile("resnet18", input_shape=(3, 64, 64), strip_stages=[[5]], latency=False)


def test_csv_columns_are_documented(report, tmp_path):
    report.to_csv(tmp_path / "r.csv")
    report.stages_to_csv(tmp_path / "s.csv")
    with open(tmp_path / "r.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CONFIG_COLUMNS)
    assert [r["config"] for r in rows] == ["base", "se", "se_strip_5"]
    assert int(rows[1]["params_added"]) == report.config("se").params_added
    with open(tmp_path / "s.csv") as f:
        assert list(next(csv.DictReader(f))) == list(STAGE_COLUMNS)


def test_json_carries_the_same_data(report, tmp_path):
    report.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["configs"] == json.loads(json.dumps(report.config_rows()))
    assert len(data["stages"]) == 12
    assert set(data["counters"]) == {"fvcore", "thop", "torch"}
    assert data["units"]["macs"].startswith("multiply-accumulates")


def test_bad_paths(tmp_path):
    with pytest.raises(OutputPathError, match="does not exist"):
        check_writable(tmp_path / "missing" / "r.csv")
    with pytest.raises(OutputPathError, match="it is a folder"):
        check_writable(tmp_path)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "r.csv"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(target, b"not text")  # fails inside the write
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.csv"]
    write_atomic(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["r.csv"]


def test_written_files_keep_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.csv", "x")
        assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o644
        old = tmp_path / "old.csv"
        old.write_text("x")
        old.chmod(0o664)
        write_atomic(old, "y")
        assert old.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(umask)


def test_readme_lists_every_csv_column_in_order_with_its_meaning():
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for heading, columns in (("Configuration CSV columns:", CONFIG_COLUMNS), ("Stage CSV columns:", STAGE_COLUMNS)):
        table = readme.split(heading, 1)[1].split("\n\n", 2)[1]
        assert re.findall(r"^\| `([^`]+)` \| (.*) \|$", table, re.M) == list(columns.items())


def test_threads_label():
    assert threads_label({"threads": 1, "cpus": 2}) == "1 thread of 2 CPUs"
    assert threads_label({"threads": 3, "cpus": 4}) == "3 threads of 4 CPUs"
    assert threads_label({"threads": 8, "cpus": None}) == "8 threads"  # CUDA timing: no CPU count
    assert threads_label({"threads": 1, "cpus": 1}) == "1 thread of 1 CPU"
