#!/usr/bin/env bash
# Real-audio quality check on ESC-10, CPU-sized (README "How good are the
# interpretations"): a small conv2d classifier on folds 1-3, a PIQ run on
# it, then the evaluation on fold 5 and on its two-source mixtures.
#   bash bench/esc10_quality.sh ESC50_SOURCE OUT [PIQ_HPARAMS] [extra train_piq.py args]
# ESC50_SOURCE: a folder with ESC-10 in ESC-50 layout, or ../shared/esc50
# (then make_layout.py writes OUT/ESC-10 first). The environment sets the
# sizes: CLASSIFIER_EPOCHS (40), PIQ_EPOCHS (12), DEVICE (cpu), LEVELS (the
# mixtures' target levels, "0.8 0.5"), METHODS (evaluate --methods, all by
# default) and FOLD5 (1: also evaluate the unmixed fold 5, the default).
set -euo pipefail
source_folder="$1"; out="$2"; hparams="${3:-hparams/piq_demo.yaml}"
shift $(( $# < 3 ? $# : 3 ))
python="${PYTHON:-python3}"
device="${DEVICE:-cpu}"
mkdir -p "$out"
data="$source_folder"
if [ -f "$source_folder/make_layout.py" ]; then
    data="$out/ESC-10"
    [ -d "$data/audio" ] || "$python" "$source_folder/make_layout.py" "$data" --esc10 --rate 16000
fi
if [ ! -f "$out/classifier/pretrained/classifier.ckpt" ]; then
    "$python" recipes/ESC50/train_classifier.py recipes/ESC50/hparams/conv2d_classifier.yaml \
        --data_folder "$data" --download False --subset esc10 \
        --output_folder "$out/classifier" --embedding_dim 16 \
        --number_of_epochs "${CLASSIFIER_EPOCHS:-40}" --batch_size 16 --lr 0.003 --device "$device"
fi
run="$out/piq_$(basename "$hparams" .yaml)"
"$python" train_piq.py "$hparams" --data_folder "$data" --subset esc10 \
    --out_n_neurons 10 --classifier_folder "$out/classifier/pretrained" \
    --output_folder "$run" --number_of_epochs "${PIQ_EPOCHS:-12}" --device "$device" "$@"
[ -f "$out/mixtures/mixtures.csv" ] || "$python" -m speechbrain_piq.evaluation.mixtures \
    "$data" "$out/mixtures" --subset esc10 --fold 5 --levels ${LEVELS:-0.8 0.5}
"$python" -m speechbrain_piq.cli evaluate "$run" "$out/mixtures/mixtures.csv" \
    --out "$run/evaluation_mixtures" --device "$device" ${METHODS:+--methods "$METHODS"}
[ "${FOLD5:-1}" = 0 ] || "$python" -m speechbrain_piq.cli evaluate "$run" "$data" \
    --subset esc10 --fold 5 --out "$run/evaluation_fold5" --device "$device" \
    ${METHODS:+--methods "$METHODS"}
