"""The commands for many models: models, stages, zoo, and native-SE models through inject/compare."""

import csv

from typer.testing import CliRunner

from seprof.cli import app

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def flat(text):
    return " ".join(text.split())


def test_inject_refuses_native_se_in_one_line(tmp_path):
    out = tmp_path / "r.csv"
    result = run("inject", "efficientnet_b0", "--no-latency", "--csv", str(out))
    assert result.exit_code == 2 and not out.exists()
    lines = result.output.strip().splitlines()
    assert lines == ["seprof: error: efficientnet_b0 already has 16 SE blocks of its own (stages 1–5): measure them "
                     "with 'seprof compare efficientnet_b0'; every block of it that seprof knows already has SE, so "
                     "there is none to add"]
    result = run("inject", "mobilenet_v3_small", "--no-latency")
    assert result.stderr.strip().endswith("or use --add-missing to add SE to its 2 blocks without one")


def test_compare_native_se_strip_stage_5():
    result = run("compare", "efficientnet_b0", "--strip-stage", "5", "--no-latency")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "its own SE blocks" in text
    for expected in ("4,652,008", "5,288,548", "636,540", "+13.68%", "151,040", "+3.25%", "SE in stages 1–4 "):
        assert expected in text, expected


def test_compare_native_rejects_r():
    result = run("compare", "efficientnet_b0", "--r", "8", "--no-latency")
    assert result.exit_code == 2 and "--r 8 applies to SE that seprof adds" in result.output
    assert "(--add-missing adds SE to its blocks without one)" in result.output


def test_inject_add_missing_on_mobilenet_v3():
    result = run("inject", "mobilenet_v3_large", "--add-missing", "--no-latency")
    assert result.exit_code == 0, result.output
    assert "added to the blocks without SE of their own" in flat(result.stdout)


def test_stages_shows_native_and_missing():
    result = run("stages", "mobilenet_v3_large")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Its own SE blocks by stage" in text and "Blocks without SE, where SE can be added" in text
    assert "--add-missing adds SE to its 7 blocks without one." in text
    assert "InvertedResidual.block.2 (native)" in text


def test_stages_of_a_user_factory():
    result = run("stages", "user_models:build_residual")
    assert result.exit_code == 0, result.output
    assert "Block.bn2" in result.stdout and "generic rule" in result.stdout


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
    from seprof.options import usable_cpus

    result = run("zoo", "--family", "mobilenetv3", "--workers", str(min(2, usable_cpus())))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("native") >= 2


def test_compare_attribute_static_and_timed():
    result = run("compare", "resnet50", "--attribute", "--no-latency", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Where SE costs, by stage" in text and "SE in stage 5 only" in text
    stage5 = next(line for line in result.stdout.splitlines() if line.startswith("│ 5 "))
    assert "1,579,392" in stage5 and "62.4%" in stage5  # stage 5 holds 62% of SE's parameters
    timed = run("compare", "resnet18", "--attribute", "--input", "3x64x64", "--runs", "2", "--warmup", "0",
                "--batch", "1,2", "--mode", "train", "--memory", "--device", "cpu")
    assert timed.exit_code == 0, timed.output
    assert flat(timed.stdout).count("forward + backward, train mode") == 2 and "batch 2: share" in timed.stdout
    assert "peak MiB" in timed.stdout


def test_plot_is_written_and_bad_paths_are_refused(tmp_path):
    out = tmp_path / "se.png"
    result = run("compare", "resnet18", "--attribute", "--input", "3x64x64", "--runs", "2", "--warmup", "0",
                 "--device", "cpu", "--plot", str(out), "--details")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = flat(result.stdout)  # every ratio's CI on screen, not only in the CSV/JSON
    assert "Latency, batch 1" in text and "2 rounds in" in text
    assert "95% CI" in text and "vs base: the median of the per-round ratios configuration / base" in text
    bad = run("compare", "resnet18", "--no-latency", "--plot", str(tmp_path / "missing" / "x.png"))
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_plot_suffix_and_timing_options_without_timing_are_refused(tmp_path):
    out = tmp_path / "r.json"
    for args, message in ((["--plot", str(tmp_path / "p.xyz")], "has the suffix 'xyz', not a picture format"),
                          (["--no-latency", "--compile"], "--compile applies to timing, which --no-latency turns off"),
                          (["--no-latency", "--runs", "5"], "--runs 5 applies to timing, which --no-latency turns off"),
                          (["--no-latency", "--threads", "1"], "--threads 1 applies to timing"),
                          (["--no-latency", "--batch", "1,8"], "--batch 1,8 applies to timing (MACs are per image)")):
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
