#!/usr/bin/env bash
# Reruns every GPU benchmark behind the README's Performance section and
# saves each one's table in OUTDIR (default results/bench), most wanted
# first, so that a run cut short still leaves the leading tables:
#
#   1. decoder_layers.txt  each PSI decoder layer as the lobe runs it, as
#                          conv_transpose2d, sub-pixel, overlap-add (bf16, CL)
#   2. train_bf16.txt/json training, validation, memory, latency and epoch
#                          time, ours (bf16, channels-last) vs upstream
#   3. flops.txt           GFLOP per clip and the TFLOP/s that 2. sustained
#   4. vq.txt              the VQ step alone
#   5. latency_parts.txt   one clip's time: classifier vs PSI
#   6. train_fp32.txt/json as 2., ours in fp32 (the README's first table)
#
#   bash bench/run_all.sh [OUTDIR]
#
# It needs a GPU (the CPU tables take hours at the recipe's batch sizes;
# their smaller commands are in the README).
set -euo pipefail

out=${1:-results/bench}
bench=$(dirname "$0")
python=${PYTHON:-python3}
if ! "$python" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"
then
    echo "bench/run_all.sh needs a CUDA GPU; see the README for the CPU commands" >&2
    exit 1
fi
mkdir -p "$out"

# A benchmark that fails is reported at the end; the others still run.
failed=()
run() {
    local name=$1
    shift
    echo "== $name: $python $*"
    "$python" "$@" 2>&1 | tee "$out/$name.txt" || failed+=("$name")
}

run decoder_layers "$bench/decoder_layers.py" --configs conv2d vit \
    --precision bf16 --channels-last --cudnn-benchmark
run train_bf16 "$bench/train_step.py" --precision bf16 --channels-last \
    --json "$out/train_bf16.json"
run flops "$bench/flops.py" --throughput "$out/train_bf16.json"
run vq "$bench/vq.py" --devices cuda
run latency_parts "$bench/latency_parts.py"
run train_fp32 "$bench/train_step.py" --json "$out/train_fp32.json"

if ((${#failed[@]})); then
    echo "failed: ${failed[*]} (their logs are in $out)" >&2
    exit 1
fi
