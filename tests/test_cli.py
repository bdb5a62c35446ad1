"""The speechbrain-piq command: interpret, export, --help, bad input."""

import csv
import shutil
import subprocess
import sys
from unittest import mock

import pytest
from test_export import CLASSES, make_piq_run, write_clip

from speechbrain_piq.cli import main
from speechbrain_piq.inference.export import (
    HubHTTPError,
    best_checkpoint,
    export_run,
)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("piq")
    run = make_piq_run(root)
    return export_run(run.run_dir, root / "export")


def assert_one_clear_line(stderr, *fragments):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("speechbrain-piq: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in stderr


def test_help_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "speechbrain_piq.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "interpret" in done.stdout and "export" in done.stdout


@pytest.mark.skipif(
    shutil.which("speechbrain-piq") is None,
    reason="the console script is installed by pip install -e .",
)
def test_installed_console_script_runs_and_fails_clearly(tmp_path):
    done = subprocess.run(
        ["speechbrain-piq", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "interpret" in done.stdout and "export" in done.stdout
    missing = tmp_path / "missing.wav"
    done = subprocess.run(
        ["speechbrain-piq", "interpret", str(missing), "--source", "nowhere"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


def test_interpret_writes_one_folder_per_clip(export_dir, tmp_path, capsys):
    clips = [tmp_path / "a" / "dog.wav", tmp_path / "b" / "dog.wav"]
    for seed, clip in enumerate(clips):
        clip.parent.mkdir()
        write_clip(clip, seconds=1.0, seed=seed)
    out = tmp_path / "out"

    status = main(
        ["interpret", *map(str, clips), "--source", str(export_dir)]
        + ["--out", str(out), "--device", "cpu"]
    )

    assert status == 0
    for name in ("dog", "dog_2"):
        assert (out / name / "interpretation.wav").is_file()
        assert (out / name / "interpretation.png").is_file()
    with open(out / "predictions.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["file"] for row in rows] == [str(clip) for clip in clips]
    assert all(row["label"] in CLASSES for row in rows)
    assert all(0 < float(row["probability"]) <= 1 for row in rows)
    assert "dog.wav:" in capsys.readouterr().out


def test_missing_clip_is_one_line_and_exit_1(export_dir, tmp_path, capsys):
    status = main(
        ["interpret", str(tmp_path / "nope.wav"), "--source", str(export_dir)]
    )
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, "nope.wav", "no such")


def test_unreadable_clip_is_one_line_and_exit_1(export_dir, tmp_path, capsys):
    (tmp_path / "notes.wav").write_text("not audio")
    status = main(
        ["interpret", str(tmp_path / "notes.wav"), "--source", str(export_dir)]
        + ["--out", str(tmp_path / "out"), "--device", "cpu"]
    )
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, "notes.wav", "not readable")


def test_keep_going_skips_bad_clips(export_dir, tmp_path, capsys):
    write_clip(tmp_path / "good.wav")
    (tmp_path / "bad.wav").write_text("not audio")
    status = main(
        ["interpret", str(tmp_path / "bad.wav"), str(tmp_path / "good.wav")]
        + ["--source", str(export_dir), "--out", str(tmp_path / "out")]
        + ["--device", "cpu", "--keep-going"]
    )
    assert status == 1
    assert (tmp_path / "out" / "good" / "interpretation.wav").is_file()
    err = capsys.readouterr().err
    assert "skipped: " in err and "bad.wav" in err
    assert "1 of 2 clips could not be interpreted" in err


def test_folder_without_hyperparams_is_one_line(tmp_path, capsys):
    write_clip(tmp_path / "clip.wav")
    status = main(
        ["interpret", str(tmp_path / "clip.wav"), "--source", str(tmp_path)]
    )
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, "has no hyperparams.yaml")


def test_export_and_push(tmp_path, capsys):
    run = make_piq_run(tmp_path)
    out_dir = tmp_path / "export"
    with mock.patch("speechbrain_piq.inference.export.HfApi") as api_class:
        status = main(
            ["export", str(run.run_dir), str(out_dir), "--push", "me/tiny"]
        )
    assert status == 0
    assert (out_dir / "psi.ckpt").is_file()
    assert (
        "pretrained_path: me/tiny" in (out_dir / "hyperparams.yaml").read_text()
    )
    upload = api_class.return_value.upload_folder.call_args.kwargs
    assert (upload["folder_path"], upload["repo_id"]) == (
        str(out_dir),
        "me/tiny",
    )
    assert "uploaded to me/tiny" in capsys.readouterr().out

    status = main(["export", str(run.run_dir), str(out_dir)])
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, "not empty", "--overwrite")


@pytest.mark.parametrize(
    ("file", "damage", "fragment"),
    [
        ("psi.ckpt", b"\x80\x02", "truncated or damaged"),
        ("label_encoder.txt", b"", "truncated or damaged"),
        ("hyperparams.yaml", b"a: [\n", "not readable YAML"),
        ("hyperparams.yaml", b"sample_rate: 16000\n", "no modules or pretr"),
    ],
)
def test_damaged_interpreter_is_one_line(
    export_dir, tmp_path, capsys, file, damage, fragment
):
    folder = tmp_path / "damaged"
    shutil.copytree(export_dir, folder)
    (folder / file).write_bytes(damage)
    write_clip(tmp_path / "clip.wav")
    status = main(
        ["interpret", str(tmp_path / "clip.wav"), "--source", str(folder)]
        + ["--out", str(tmp_path / "out"), "--device", "cpu"]
    )
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, file, fragment)


@pytest.mark.parametrize(
    ("device", "fragment"),
    [
        ("foo", "not a torch device"),
        ("cuda", "no usable CUDA GPU"),
        ("cuda:1", "no usable CUDA GPU"),
        ("mps", "no Apple MPS device"),
        ("meta", "runs on cpu, cuda, mps devices only"),
    ],
)
def test_unusable_device_is_one_line(
    export_dir, tmp_path, capsys, monkeypatch, device, fragment
):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("torch.backends.mps.is_available", lambda: False)
    write_clip(tmp_path / "clip.wav")
    status = main(
        ["interpret", str(tmp_path / "clip.wav"), "--source", str(export_dir)]
        + ["--out", str(tmp_path / "out"), "--device", device]
    )
    assert status == 1
    assert_one_clear_line(
        capsys.readouterr().err, f"--device {device}", fragment
    )


def test_clip_named_like_the_predictions_file(export_dir, tmp_path):
    write_clip(tmp_path / "predictions.csv.wav")
    out = tmp_path / "out"
    status = main(
        ["interpret", str(tmp_path / "predictions.csv.wav")]
        + ["--source", str(export_dir), "--out", str(out), "--device", "cpu"]
    )
    assert status == 0
    assert (out / "predictions.csv").is_file()
    assert (out / "predictions.csv_2" / "interpretation.wav").is_file()


def test_export_of_a_damaged_run_is_one_line_and_writes_nothing(
    tmp_path, capsys
):
    run = make_piq_run(tmp_path)
    psi_file = best_checkpoint(run.run_dir / "save").path / "psi.ckpt"
    psi_file.write_bytes(psi_file.read_bytes()[:1000])
    out_dir = tmp_path / "export"
    status = main(["export", str(run.run_dir), str(out_dir)])
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, str(psi_file), "truncated")
    assert not out_dir.exists()


def test_export_into_its_own_run_is_one_line(tmp_path, capsys):
    run = make_piq_run(tmp_path)
    training_yaml = (run.run_dir / "hyperparams.yaml").read_text()
    status = main(["export", str(run.run_dir), str(run.run_dir), "--overwrite"])
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, "inside the run folder")
    assert (run.run_dir / "hyperparams.yaml").read_text() == training_yaml


def test_bad_push_repo_id_is_one_line_before_exporting(tmp_path, capsys):
    run = make_piq_run(tmp_path)
    out_dir = tmp_path / "export"
    status = main(["export", str(run.run_dir), str(out_dir), "--push", "bad"])
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, "'bad'", "owner/name")
    assert not out_dir.exists()


def test_failed_push_is_one_line_and_keeps_the_export(tmp_path, capsys):
    run = make_piq_run(tmp_path)
    out_dir = tmp_path / "export"
    offline = HubHTTPError("All connection attempts failed")
    with mock.patch("speechbrain_piq.inference.export.HfApi") as api_class:
        api_class.return_value.create_repo.side_effect = offline
        status = main(
            ["export", str(run.run_dir), str(out_dir), "--push", "me/tiny"]
        )
    assert status == 1
    captured = capsys.readouterr()
    assert f"exported {run.run_dir} to {out_dir}" in captured.out
    assert_one_clear_line(
        captured.err, "could not upload", f"hf upload me/tiny {out_dir}"
    )
    assert (out_dir / "psi.ckpt").is_file()


def read_predictions(out):
    with open(out / "predictions.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def test_interpret_adds_rows_and_a_rerun_replaces_its_row(export_dir, tmp_path):
    for name in ("dog", "rain"):
        write_clip(tmp_path / f"{name}.wav")
    out = tmp_path / "out"
    interpret = ["--source", str(export_dir), "--out", str(out)]
    interpret += ["--device", "cpu"]
    assert main(["interpret", str(tmp_path / "dog.wav"), *interpret]) == 0
    first = read_predictions(out)
    rerun = [str(tmp_path / "rain.wav"), str(tmp_path / "dog.wav")]
    assert main(["interpret", *rerun, *interpret]) == 0

    rows = read_predictions(out)
    assert [row["file"] for row in rows] == [
        str(tmp_path / "dog.wav"),
        str(tmp_path / "rain.wav"),
    ]
    assert rows[0]["output"] == first[0]["output"] == str(out / "dog")
    assert rows[1]["output"] == str(out / "rain")


def test_a_new_file_of_the_same_name_gets_its_own_folder(export_dir, tmp_path):
    clips = [tmp_path / "a" / "dog.wav", tmp_path / "b" / "dog.wav"]
    out = tmp_path / "out"
    for seed, clip in enumerate(clips):
        clip.parent.mkdir()
        write_clip(clip, seed=seed)
        status = main(
            ["interpret", str(clip), "--source", str(export_dir)]
            + ["--out", str(out), "--device", "cpu"]
        )
        assert status == 0
    outputs = [row["output"] for row in read_predictions(out)]
    assert outputs == [str(out / "dog"), str(out / "dog_2")]


def test_interpret_takes_folders_and_globs_with_a_progress_bar(
    export_dir, tmp_path, monkeypatch
):
    import io

    import tqdm

    bars = []

    class RecordedBar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.update(file=io.StringIO(), disable=False)
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", RecordedBar)
    for name in ("clips/a.wav", "clips/sub/b.wav", "more/c.wav", "more/d.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write_clip(tmp_path / name)
    (tmp_path / "clips" / "notes.txt").write_text("not audio")
    out = tmp_path / "out"

    status = main(
        ["interpret", str(tmp_path / "clips"), str(tmp_path / "more" / "c*")]
        + [str(tmp_path / "clips" / "a.wav")]
        + ["--source", str(export_dir), "--out", str(out), "--device", "cpu"]
    )

    assert status == 0
    assert [row["file"] for row in read_predictions(out)] == [
        str(tmp_path / name)
        for name in ("clips/a.wav", "clips/sub/b.wav", "more/c.wav")
    ]
    (bar,) = bars
    assert (bar.n, bar.total, bar.desc) == (3, 3, "interpreting")


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [("empty", "no audio file"), ("*.mp3", "no audio file (.wav")],
)
def test_folder_or_glob_without_audio_is_one_line(
    export_dir, tmp_path, capsys, argument, fragment
):
    (tmp_path / "empty").mkdir()
    status = main(
        ["interpret", str(tmp_path / argument), "--source", str(export_dir)]
    )
    assert status == 1
    assert_one_clear_line(capsys.readouterr().err, argument, fragment)


def test_predictions_file_of_other_columns_is_one_line(
    export_dir, tmp_path, capsys
):
    write_clip(tmp_path / "dog.wav")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "predictions.csv").write_text("a,b\n1,2\n")
    status = main(
        ["interpret", str(tmp_path / "dog.wav"), "--source", str(export_dir)]
        + ["--out", str(tmp_path / "out")]
    )
    assert status == 1
    assert_one_clear_line(
        capsys.readouterr().err, "predictions.csv", "another --out"
    )
