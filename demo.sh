#!/usr/bin/env bash
# The embedded demo, offline, on CPU, in minutes:
#   1. writes a synthetic ESC-50-shaped dataset with ground-truth event boxes,
#   2. trains a small conv2d classifier with the classifier recipe,
#   3. trains and evaluates PIQ with train_piq.py, writing interpretations
#      (wav + PNG) and test_metrics.json (faithfulness + localisation).
# Usage: bash demo.sh [OUTPUT_FOLDER]   (default: demo_output)
# The environment can shrink it (the test suite does): DEMO_CLIPS_PER_CLASS_PER_FOLD,
# DEMO_CLASSIFIER_EPOCHS, DEMO_PIQ_EPOCHS; PYTHON picks the interpreter.
set -euo pipefail
repo="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "${1:-demo_output}"
out="$(cd "${1:-demo_output}" && pwd)"
python="${PYTHON:-$(command -v python3 || command -v python)}"
clips="${DEMO_CLIPS_PER_CLASS_PER_FOLD:-8}"
classifier_epochs="${DEMO_CLASSIFIER_EPOCHS:-15}"
piq_epochs="${DEMO_PIQ_EPOCHS:-8}"
cd "$repo"

echo "== 1/3 synthetic data -> $out/data"
"$python" -m speechbrain_piq.demo.make_data "$out/data" \
    --clips-per-class-per-fold "$clips"

echo "== 2/3 classifier -> $out/classifier"
"$python" recipes/ESC50/train_classifier.py \
    recipes/ESC50/hparams/conv2d_classifier.yaml \
    --data_folder "$out/data" --download False \
    --output_folder "$out/classifier" \
    --out_n_neurons 5 --embedding_dim 16 \
    --number_of_epochs "$classifier_epochs" --batch_size 8 --lr 0.003 \
    --mixup_alpha 0 --augment_prob 0

echo "== 3/3 PIQ interpreter -> $out/piq"
"$python" train_piq.py hparams/piq_demo.yaml \
    --data_folder "$out/data" \
    --classifier_folder "$out/classifier/pretrained" \
    --output_folder "$out/piq" --number_of_epochs "$piq_epochs"

echo "== done: listen/look in $out/piq/interpretations/test/, metrics in $out/piq/test_metrics.json"
cat "$out/piq/test_metrics.json"
