"""The commands for many models: models, stages, zoo, and native-SE models through inject/compare."""

import csv

import pytest
from typer.testing import CliRunner

from seprof.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def flat(text):
    return " ".join(text.split())


def test_inject_refuses_native_se_in_one_line(tmp_path):
    out = tmp_path / "r.csv"
    result = run("inject", "efficientnet_b0", "--no-latency", "--csv", str(out))
    assert result.exit_code == 2 and not out.exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seprof: error: efficientnet_b0 already has 16 SE blocks")
    assert "'seprof compare efficientnet_b0'" in lines[0]


def test_compare_native_se_strip_stage_5():
    result = run("compare", "efficientnet_b0", "--strip-stage", "5", "--no-latency")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "its own SE blocks" in text
    for expected in ("4,652,008", "5,288,548", "636,540", "+13.68%", "151,040", "+3.25%", "SE in stages 1,2,3,4 "):
        assert expected in text, expected


def test_compare_native_rejects_r():
    result = run("compare", "efficientnet_b0", "--r", "8", "--no-latency")
    assert result.exit_code == 2 and "--r 8 applies to SE that seprof adds" in result.output


def test_inject_add_missing_on_mobilenet_v3():
    result = run("inject", "mobilenet_v3_large", "--add-missing", "--no-latency")
    assert result.exit_code == 0, result.output
    assert "added to the blocks without SE of their own" in flat(result.stdout)


def test_stages_shows_native_and_missing():
    result = run("stages", "mobilenet_v3_large")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Its own SE blocks by stage" in text and "Blocks without SE, where --add-missing adds it" in text
    assert "InvertedResidual.block.2 (native)" in text


def test_stages_of_a_user_factory():
    result = run("stages", "user_models:build_residual")
    assert result.exit_code == 0, result.output
    assert "Block.bn2" in result.stdout and "generic rule" in result.stdout


def test_models_family():
    result = run("models", "--family", "vit", "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ vit_")]
    assert len(rows) == 5
    assert [c.strip() for c in rows[0].split("│")[1:-1]] == ["vit_b_16", "vit", "4", "12", "—", "3x224x224"]


def test_zoo_family_csv(tmp_path):
    out = tmp_path / "zoo.csv"
    result = run("zoo", "--family", "squeezenet", "--csv", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["model"] for r in rows] == ["squeezenet1_0", "squeezenet1_1"]
    for row in rows:
        assert row["params_added"] == row["analytic_exact"] == "125600"
        assert int(row["macs_se_torch"]) - int(row["macs_base_torch"]) == 122_880  # FC weights 2·C·C/16
        assert row["macs_base_fvcore"] == "" and row["error"] == ""


def test_zoo_mixed_native_and_workers():
    result = run("zoo", "--family", "mobilenetv3", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("native") >= 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["zoo", "--family", "nope"], "unknown family 'nope'"),
        (["zoo", "--r", "0"], "--r 0 is invalid"),
        (["zoo", "--workers", "0", "--family", "vit"], "--workers 0 is invalid"),
        (["inject", "user_models:build_mlp"], "nowhere seprof can put SE"),
        (["inject", "user_models:nope"], "has no 'nope'"),
        # timing options are checked before any work
        (["compare", "resnet18", "--batch", "1,x"], "--batch '1,x' is not a comma-separated list"),
        (["compare", "resnet18", "--batch", "0"], "--batch 0 is invalid"),
        (["inject", "resnet18", "--mode", "eval"], "--mode 'eval' is not one of infer, train"),
        (["inject", "resnet18", "--dtype", "float16", "--device", "cpu"], "--dtype float16 is not supported on the CPU"),
        (["compare", "resnet18", "--budget", "-1"], "--budget -1.0 is invalid"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path):
    out = tmp_path / "out.csv"
    result = run(*args, "--csv", str(out))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_compare_attribute_static_and_timed():
    result = run("compare", "resnet50", "--attribute", "--no-latency")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Where SE costs, by stage" in text and "SE in stage 5 only" in text
    stage5 = next(line for line in result.stdout.splitlines() if line.startswith("│ 5 "))
    assert "1,579,392" in stage5 and "62.4%" in stage5  # stage 5 holds 62% of SE's parameters
    failed = run("compare", "resnet18", "--input", "3x32x32", "--mode", "train", "--runs", "1", "--device", "cpu")
    assert failed.exit_code == 2 and "failed while timing (train mode, batch 1, float32): Expected more than 1 value" in failed.output
    timed = run("compare", "resnet18", "--attribute", "--input", "3x64x64", "--runs", "2", "--warmup", "0",
                "--batch", "1,2", "--mode", "train", "--memory", "--device", "cpu")
    assert timed.exit_code == 0, timed.output
    assert flat(timed.stdout).count("forward + backward (train mode)") == 2 and "batch 2: share" in timed.stdout


def test_plot_is_written_and_bad_paths_are_refused(tmp_path):
    out = tmp_path / "se.png"
    result = run("compare", "resnet18", "--attribute", "--input", "3x64x64", "--runs", "2", "--warmup", "0",
                 "--device", "cpu", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = flat(result.stdout)  # every ratio's spread and CI on screen, not only in the CSV/JSON
    assert "batch 1 ms" in text and "2 interleaved samples per model" in text
    assert "95% CI" in text and "vs base: median (q1–q3) of paired ratios" in text
    bad = run("compare", "resnet18", "--no-latency", "--plot", str(tmp_path / "missing" / "x.png"))
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_plot_suffix_and_timing_options_without_timing_are_refused(tmp_path):
    out = tmp_path / "r.json"
    for args, message in ((["--plot", str(tmp_path / "p.xyz")], "the suffix 'xyz' is not a picture format"),
                          (["--no-latency", "--compile"], "--compile applies to timing, which --no-latency turns off"),
                          (["--no-latency", "--runs", "5"], "--runs applies to timing, which --no-latency turns off"),
                          (["--no-latency", "--threads", "1"], "--threads applies to timing"),
                          (["--no-latency", "--batch", "1,8"], "--batch with several sizes applies to timing")):
        result = run("compare", "resnet18", *args, "--json", str(out))
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_checkpoint_does_not_depend_on_how_timing_was_done(tmp_path):
    import torch

    path = tmp_path / "m.pt"
    result = run("inject", "resnet18", "--input", "3x64x64", "--runs", "2", "--warmup", "0", "--device", "cpu",
                 "--mode", "train", "--channels-last", "--save", str(path))
    assert result.exit_code == 0, result.output
    state = torch.load(path, weights_only=True)["state_dict"]
    assert torch.count_nonzero(state["bn1.running_mean"]) == 0 and int(state["bn1.num_batches_tracked"]) == 0
    assert state["conv1.weight"].is_contiguous()
