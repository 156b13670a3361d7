#!/usr/bin/env bash
# seprof on one CUDA machine, in one go: ResNet-50 against SE-ResNet-50 (and without stage 5's SE), inference and
# training at batch 1, 32 and 256 with wall and device time (CUDA-graph replays), the memory floor and peak
# memory; bf16 channels-last at 256; torch.compile at 32; per-stage attribution at 32; seprof's SE against timm's
# seresnet50; and the CUDA tests. Everything lands in one folder named after the device and the date, with the
# console log. About 6-7 minutes, estimated from its timing budgets (10 s per batch size) and run counts; it has
# not yet been timed on a GPU.
#
#   pip install ".[test,timm,plot]" && bash benchmarks/gpu.sh [OUTPUT_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
device=$(python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0).replace(' ', '-'))")
out=${1:-benchmarks/results/gpu-${device}-$(date +%Y%m%d)}
mkdir -p "$out"
log="$out/log.txt"
: > "$log"
run() {
    echo "\$ $*" | tee -a "$log"
    "$@" 2>&1 | tee -a "$log"
}
python -c "import torch, torchvision, seprof; print('seprof', seprof.__version__, '· torch', torch.__version__, '· torchvision', torchvision.__version__, '·', torch.cuda.get_device_name(0))" | tee -a "$log"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee -a "$log" || true
common=(--device cuda --budget 10)
run seprof compare resnet50 --strip-stage 5 --batch 1,32,256 --memory "${common[@]}" \
    --csv "$out/infer.csv" --stages-csv "$out/infer_stages.csv" --json "$out/infer.json"
run seprof compare resnet50 --strip-stage 5 --batch 1,32,256 --memory --mode train "${common[@]}" \
    --csv "$out/train.csv" --json "$out/train.json"
run seprof compare resnet50 --strip-stage 5 --batch 256 --dtype bfloat16 --channels-last --memory "${common[@]}" \
    --json "$out/bf16_cl_256.json"
run seprof compare resnet50 --strip-stage 5 --batch 32 --compile "${common[@]}" --json "$out/compile32.json"
run seprof compare resnet50 --attribute --batch 32 "${common[@]}" --plot "$out/attr32.png" --json "$out/attr32.json"
run python benchmarks/timm_seresnet50.py --device cuda --batch 1 --runs 200 --builds 4 --out "$out/timm_b1.json"
run python benchmarks/timm_seresnet50.py --device cuda --batch 32 --runs 100 --builds 4 --out "$out/timm_b32.json"
run python -m pytest -q -p no:cacheprovider tests/test_latency.py tests/test_cli.py -k cuda
echo "results in $out" | tee -a "$log"
