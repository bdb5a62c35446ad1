#!/usr/bin/env bash
# The embedded demo, offline, on CPU, in minutes:
#   1. writes a synthetic ESC-50-shaped dataset with ground-truth event boxes,
#   2. trains a small conv2d classifier with the classifier recipe,
#   3. trains and evaluates PIQ with train_piq.py, writing interpretations
#      (wav + PNG) and test_metrics.json (faithfulness + localisation).
# Usage: bash demo.sh [OUTPUT_FOLDER]   (default: demo_output)
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-demo_output}"

echo "== 1/3 synthetic data -> $out/data"
python -m speechbrain_piq.demo.make_data "$out/data"

echo "== 2/3 classifier -> $out/classifier"
python recipes/ESC50/train_classifier.py \
    recipes/ESC50/hparams/conv2d_classifier.yaml \
    --data_folder "$out/data" --download False \
    --output_folder "$out/classifier" \
    --out_n_neurons 5 --embedding_dim 16 \
    --number_of_epochs 12 --batch_size 16 --lr 0.005 --mixup_alpha 0

echo "== 3/3 PIQ interpreter -> $out/piq"
python train_piq.py hparams/piq_demo.yaml \
    --data_folder "$out/data" \
    --classifier_folder "$out/classifier/pretrained" \
    --output_folder "$out/piq"

echo "== done: $out/piq/test_metrics.json, listen/look in $out/piq/interpretations/test/"
cat "$out/piq/test_metrics.json"
