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


def test_threads_label():
    assert threads_label({"threads": 1, "cpus": 2}) == "1 thread of 2 CPUs"
    assert threads_label({"threads": 3, "cpus": 4}) == "3 threads of 4 CPUs"
    assert threads_label({"threads": 8, "cpus": None}) == "8 threads"  # CUDA timing: no CPU count
    assert threads_label({"threads": 1, "cpus": 1}) == "1 thread of 1 CPU"


def test_csv_integers_stay_integers_and_the_base_row_has_no_r_or_bias(report, tmp_path):
    report.to_csv(tmp_path / "r.csv")
    report.stages_to_csv(tmp_path / "s.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert (rows[0]["r"], rows[0]["bias"], rows[0]["se_stages"]) == ("", "", "")
    assert (rows[1]["r"], rows[1]["bias"]) == ("16", "True")
    assert rows[1]["analytic_paper"] == "87040" and rows[1]["params"] == "11778592"
    for row in list(csv.DictReader(open(tmp_path / "s.csv"))):
        assert "." not in row["analytic_paper"] and "." not in row["measured"]
    frame = report.to_frame()
    assert str(frame["params"].dtype) == "Int64" and str(frame["params_added_pct"].dtype) == "Float64"


def test_a_fractional_paper_count_keeps_its_fraction(tmp_path):
    odd = seprof.profile("resnet18", r=3, input_shape=(3, 64, 64), latency=False, counters=("torch",))
    odd.to_csv(tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert float(rows[1]["analytic_paper"]) == odd.config("se").analytic_paper
    assert not float(rows[1]["analytic_paper"]).is_integer()


def test_json_names_its_schema_and_every_version(report):
    data = report.to_dict()
    assert data["schema_version"] == 4
    assert {"seprof", "torch", "torchvision", "fvcore", "thop", "pandas", "typer", "rich", "python", "os",
            "cpu"} <= set(data["versions"])
    assert data["versions"]["seprof"] == seprof.__version__


def test_outputs_written_together_or_not_at_all(tmp_path):
    from seprof.export import Outputs

    (tmp_path / "a.csv").write_text("old a")
    outputs = Outputs()
    outputs.add("--csv", tmp_path / "a.csv")
    outputs.add("--json", tmp_path / "b.json")

    def fail(path):
        raise OSError("disk full")

    with pytest.raises(OutputPathError, match=r"--json: cannot write '.*b.json': OSError: disk full"):
        outputs.commit({"--csv": "new a", "--json": fail})
    assert sorted(os.listdir(tmp_path)) == ["a.csv"] and (tmp_path / "a.csv").read_text() == "old a"
    assert outputs.commit({"--csv": "new a", "--json": "{}"}) == [str(tmp_path / "a.csv"), str(tmp_path / "b.json")]
    assert (tmp_path / "a.csv").read_text() == "new a" and sorted(os.listdir(tmp_path)) == ["a.csv", "b.json"]


def test_se_memory_traffic_from_the_stage_table_is_exact_for_resnet50():
    """SE-ResNet-50, float32, one image: the squeeze reads every SE input once (5,519,360 elements over
    stages 2–5), the scale reads and writes it: 66,232,320 bytes of feature-map traffic, plus the blocks'
    2,530,992 parameters at 4 bytes."""
    from seprof import profile

    report = profile("resnet50", timing=None, counters=())
    rows = [s for s in report.stages if s.config == "se"]
    assert sum(s.work.pool_ops for s in rows) == 5_519_360
    assert sum(s.work.feature_reads for s in rows) == 2 * 5_519_360
    assert sum(s.work.feature_writes for s in rows) == 5_519_360
    assert sum(s.measured for s in rows) == 2_530_992
    assert report.traffic_bytes("se") == 66_232_320 + 2_530_992 * 4
    assert report.traffic_bytes("se", batch=256, dtype="bfloat16") == 66_232_320 // 2 * 256 + 2_530_992 * 4
    assert report.traffic_bytes("base") == 0
    stage_rows = [r for r in report.stage_rows() if r["config"] == "se"]
    assert [r["feature_reads"] for r in stage_rows] == [2 * 3 * 256 * 56 * 56, 2 * 4 * 512 * 28 * 28,
                                                        2 * 6 * 1024 * 14 * 14, 2 * 3 * 2048 * 7 * 7]


def test_a_timed_run_reports_the_bandwidth_and_the_floor():
    from seprof import TimingOptions, profile

    report = profile("resnet18", input_shape=(3, 64, 64), counters=(), timing=TimingOptions(runs=2, warmup=0))
    row = next(r for r in report.config_rows() if r["config"] == "se")
    assert row["bandwidth_gbs"] > 0 and row["se_traffic_bytes"] == report.traffic_bytes("se")
    assert row["floor_ms"] == round(row["se_traffic_bytes"] / (row["bandwidth_gbs"] * 1e9) * 1e3, 4)
    base = next(r for r in report.config_rows() if r["config"] == "base")
    assert base["se_traffic_bytes"] == 0
