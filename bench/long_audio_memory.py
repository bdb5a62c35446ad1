"""Peak memory of interpreting one recording, by its length.

For each length, a fresh process builds an interpreter at the recipe's
sizes (``hparams/piq.yaml``: conv2d classifier, PSI; random weights, which
do not change memory), writes a recording of that length (noise, 44.1 kHz
stereo, as field recorders write), interprets it with ``interpret_file``
and saves the result as the ``speechbrain-piq interpret`` command does
(WAV and PNG). It prints the process's peak resident memory (and the
GPU's peak, on a GPU) and how much of it the model and the imports took
before the recording was read: long recordings are interpreted in windows
of ``clip_seconds``, so the rest grows only with the full-length outputs.

    python bench/long_audio_memory.py                     # 5 s, 1 min, 10 min
    python bench/long_audio_memory.py --seconds 5 20 --device cuda
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile
import torch
from speechbrain.dataio.encoder import CategoricalEncoder
from step_setup import build_interpreter, piq_defaults

from speechbrain_piq.inference import PIQAudioInterpreter

FILE_RATE = 44100


def peak_rss_mb():
    """This process's peak resident memory, in MB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(seconds, device, window_batch_size):
    """Interprets and saves one ``seconds`` recording; returns the peaks."""
    hparams = piq_defaults()
    classifier, psi = build_interpreter("conv2d", hparams)
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(
        f"class_{index}" for index in range(hparams["out_n_neurons"])
    )
    interpreter = PIQAudioInterpreter(
        modules={
            "compute_features": hparams["compute_features"],
            "compute_istft": hparams["compute_istft"],
            "audio_classifier": classifier,
            "psi": psi,
        },
        hparams={
            "sample_rate": hparams["sample_rate"],
            "label_encoder": encoder,
            "clip_seconds": hparams["clip_seconds"],
            "window_batch_size": window_batch_size,
        },
        run_opts={"device": device},
    )
    folder = tempfile.mkdtemp(prefix="piq_long_audio_")
    path = os.path.join(folder, "recording.wav")
    with soundfile.SoundFile(
        path, "w", FILE_RATE, channels=2, subtype="PCM_16"
    ) as stream:
        generator = np.random.default_rng(0)
        for _ in range(int(seconds)):
            stream.write(0.1 * generator.standard_normal((FILE_RATE, 2)))
    before = peak_rss_mb()
    started = time.perf_counter()
    result = interpreter.interpret_file(path)
    result.save(os.path.join(folder, "out"))
    elapsed = time.perf_counter() - started
    peaks = {
        "seconds": seconds,
        "model_and_imports_mb": round(before),
        "peak_rss_mb": round(peak_rss_mb()),
        "mask_frames": result.mask.shape[0],
        "wall_s": round(elapsed, 1),
    }
    if torch.device(device).type == "cuda":
        peaks["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return peaks


def main():
    """Measures each length in its own process and prints a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[5, 60, 600])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--window-batch-size", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        (seconds,) = args.seconds
        print(json.dumps(measure(seconds, args.device, args.window_batch_size)))
        return
    print(
        f"# peak memory of interpret_file + save, device {args.device}, "
        f"window_batch_size {args.window_batch_size}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| recording | model + imports | peak RSS | peak GPU | time |")
    print("|---|---|---|---|---|")
    for seconds in args.seconds:
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--seconds",
                str(seconds),
                "--device",
                args.device,
                "--window-batch-size",
                str(args.window_batch_size),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        row = json.loads(output.strip().splitlines()[-1])
        gpu = f"{row['peak_gpu_mb']} MB" if "peak_gpu_mb" in row else "-"
        print(
            f"| {seconds} s | {row['model_and_imports_mb']} MB | "
            f"{row['peak_rss_mb']} MB | {gpu} | {row['wall_s']} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
