"""prepare_esc50: manifests, subsets, reuse, download and bad input."""

import json
import os
import runpy
import shutil
import sys
import zipfile
from functools import partial

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from esc50_factory import make_esc50_folder
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.distributed import run_on_main

from speechbrain_piq.dataio import esc50_prepare as prepare_module
from speechbrain_piq.dataio.datasets import dataio_prep
from speechbrain_piq.dataio.esc50_download import download_esc50
from speechbrain_piq.dataio.esc50_metadata import label_encoder_for
from speechbrain_piq.dataio.esc50_prepare import prepare_esc50

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def esc50(tmp_path):
    """A 3-class, 5-fold ESC-50 folder of short clips (15 files)."""
    root = str(tmp_path / "ESC-50-master")
    meta = make_esc50_folder(root, seconds=0.5)
    return root, meta


def read_record(save_folder):
    with open(os.path.join(save_folder, "esc50_prepare.json")) as file:
        return json.load(file)


def write_meta(root, meta):
    meta.to_csv(os.path.join(root, "meta", "esc50.csv"), index=False)


def test_manifests_have_the_splits_columns_and_relative_paths(esc50, tmp_path):
    root, _ = esc50
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    assert manifests == {
        split: os.path.join(save, f"{split}.csv")
        for split in ("train", "valid", "test")
    }
    train = pd.read_csv(manifests["train"])
    for column in ("ID", "duration", "wav", "fold", "class_string", "target"):
        assert column in train.columns
    assert sorted(train["fold"].unique()) == [1, 2, 3]
    assert pd.read_csv(manifests["valid"])["fold"].unique().tolist() == [4]
    assert pd.read_csv(manifests["test"])["fold"].unique().tolist() == [5]
    assert len(train) == 9
    assert train["wav"].str.startswith("$data_root/audio/").all()
    assert (train["ID"] + ".wav" == train["wav"].str.split("/").str[-1]).all()
    assert np.allclose(train["duration"], 0.5)
    assert not any(root in open(path).read() for path in manifests.values())


def upstream_label_encoder(train_manifest):
    """The encoder upstream's recipes build: SpeechBrain's load_or_create
    from the training manifest's ``class_string``."""
    encoder = CategoricalEncoder()
    encoder.update_from_didataset(
        DynamicItemDataset.from_csv(
            train_manifest, replacements={"data_root": "unused"}
        ),
        "class_string",
    )
    return encoder


def shuffle_rows(root, meta, seed=3):
    """Rewrite the metadata with its rows in another order."""
    shuffled = meta.sample(frac=1, random_state=seed).reset_index(drop=True)
    write_meta(root, shuffled)
    return shuffled


def test_classes_are_numbered_as_upstream_numbers_them(esc50, tmp_path):
    root, meta = esc50
    shuffled = shuffle_rows(root, meta)
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    encoder = CategoricalEncoder.from_saved(
        os.path.join(save, "label_encoder.txt")
    )
    train_rows = shuffled[shuffled["fold"].isin([1, 2, 3])]
    first_seen = list(dict.fromkeys(train_rows["category"]))
    assert first_seen != ["class_0", "class_1", "class_2"]
    assert encoder.lab2ind == {name: i for i, name in enumerate(first_seen)}
    assert encoder.lab2ind == upstream_label_encoder(manifests["train"]).lab2ind
    assert read_record(save)["classes"] == first_seen


def test_classes_absent_from_the_training_folds_come_last(esc50, tmp_path):
    root, meta = esc50
    only_later = (meta["category"] == "class_0") & meta["fold"].isin([1, 2, 3])
    for name in meta[only_later]["filename"]:
        os.remove(os.path.join(root, "audio", name))
    write_meta(root, meta[~only_later])
    save = str(tmp_path / "save")
    prepare_esc50(root, save)
    encoder = CategoricalEncoder.from_saved(
        os.path.join(save, "label_encoder.txt")
    )
    assert encoder.lab2ind == {"class_1": 0, "class_2": 1, "class_0": 2}


def test_label_encoder_is_kept_across_remade_manifests(esc50, tmp_path):
    root, meta = esc50
    save = str(tmp_path / "save")
    prepare_esc50(root, save)
    path = os.path.join(save, "label_encoder.txt")
    with open(path) as file:
        first = file.read()
    # New data (the manifests are remade) with the same classes in another
    # order: a resumed run keeps numbering its classes as before.
    shuffle_rows(root, meta)
    prepare_esc50(root, save)
    with open(path) as file:
        assert file.read() == first
    # Other classes: the file is remade for them.
    write_meta(root, meta.assign(category=meta["category"] + "_new"))
    prepare_esc50(root, save)
    assert CategoricalEncoder.from_saved(path).lab2ind == {
        "class_0_new": 0,
        "class_1_new": 1,
        "class_2_new": 2,
    }


def target_order_label_encoder(path):
    """Write the label encoder speechbrain-piq 0.1.0 made: target order."""
    legacy = CategoricalEncoder()
    legacy.update_from_iterable(["class_0", "class_1", "class_2"])
    legacy.save(path)
    return legacy


def warnings_of(caplog):
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelname == "WARNING"
    ]


def test_target_order_file_of_version_0_1_0_is_kept_and_named(
    esc50, tmp_path, caplog
):
    root, meta = esc50
    save = str(tmp_path / "save")
    os.makedirs(save)
    path = os.path.join(save, "label_encoder.txt")
    legacy = target_order_label_encoder(path)
    shuffle_rows(root, meta)
    with caplog.at_level("WARNING"):
        manifests = prepare_esc50(root, save)
        _, encoder = dataio_prep(manifests, root, save, clip_seconds=0.5)
    assert encoder.lab2ind == legacy.lab2ind
    assert CategoricalEncoder.from_saved(path).lab2ind == legacy.lab2ind
    (warning,) = warnings_of(caplog)
    assert warning.startswith(f"{path} numbers the classes in ESC-50 target")
    assert "delete that file to renumber" in warning


def test_a_classifiers_own_target_order_file_is_not_warned_about(
    esc50, tmp_path, caplog
):
    root, meta = esc50
    shuffle_rows(root, meta)
    theirs = str(tmp_path / "theirs.txt")
    legacy = target_order_label_encoder(theirs)
    save = str(tmp_path / "save")
    with caplog.at_level("WARNING"):
        for _ in range(2):
            manifests = prepare_esc50(root, save)
            _, encoder = dataio_prep(
                manifests,
                root,
                save,
                clip_seconds=0.5,
                classifier_label_encoder=theirs,
            )
    assert encoder.lab2ind == legacy.lab2ind
    assert warnings_of(caplog) == []


def test_classifiers_file_renumbering_a_run_with_checkpoints_is_named(
    esc50, tmp_path, caplog
):
    root, _ = esc50
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    dataio_prep(manifests, root, save, clip_seconds=0.5)
    os.makedirs(os.path.join(save, "CKPT+2026-11-27+00-00-00+00"))
    theirs = str(tmp_path / "theirs.txt")
    label_encoder_for(["class_2", "class_1", "class_0"]).save(theirs)
    with caplog.at_level("WARNING"):
        dataio_prep(
            manifests,
            root,
            save,
            clip_seconds=0.5,
            classifier_label_encoder=theirs,
        )
    (warning,) = warnings_of(caplog)
    assert warning.startswith(f"Renumbering the classes of the run in {save}")


def test_damaged_label_encoder_is_made_again_or_named(esc50, tmp_path, caplog):
    root, _ = esc50
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    path = os.path.join(save, "label_encoder.txt")
    with open(path, "w") as file:
        file.write("'class_0' => 0\n")  # cut short by a killed run
    with pytest.raises(ValueError, match="truncated or damaged; delete it"):
        dataio_prep(manifests, root, save, clip_seconds=0.5)
    with caplog.at_level("WARNING"):
        prepare_esc50(root, save)
    assert "truncated or damaged; it is made again" in warnings_of(caplog)[0]
    _, encoder = dataio_prep(manifests, root, save, clip_seconds=0.5)
    assert len(encoder) == 3


def test_numbering_ignores_the_runs_folds(esc50, tmp_path):
    root, meta = esc50
    shuffled = shuffle_rows(root, meta)
    save = str(tmp_path / "save")
    prepare_esc50(
        root, save, train_folds=[3, 4], valid_folds=[2], test_folds=[5]
    )
    encoder = CategoricalEncoder.from_saved(
        os.path.join(save, "label_encoder.txt")
    )
    upstream_rows = shuffled[shuffled["fold"].isin([1, 2, 3])]
    first_seen = list(dict.fromkeys(upstream_rows["category"]))
    run_rows = shuffled[shuffled["fold"].isin([3, 4])]
    assert list(dict.fromkeys(run_rows["category"])) != first_seen
    assert encoder.lab2ind == {name: i for i, name in enumerate(first_seen)}


def test_esc10_keeps_esc10_rows_and_reindexes_in_target_order(tmp_path):
    root = str(tmp_path / "ESC-50-master")
    make_esc50_folder(root, n_classes=5, esc10_targets={1, 3, 4}, seconds=0.2)
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save, subset="esc10")
    table = pd.concat(pd.read_csv(path) for path in manifests.values())
    assert sorted(table["esc50_target"].unique()) == [1, 3, 4]
    pairs = table[["esc50_target", "target", "class_string"]].drop_duplicates()
    assert sorted(pairs.values.tolist()) == [
        [1, 0, "class_1"],
        [3, 1, "class_3"],
        [4, 2, "class_4"],
    ]
    encoder = CategoricalEncoder.from_saved(
        os.path.join(save, "label_encoder.txt")
    )
    assert encoder.lab2ind == {"class_1": 0, "class_3": 1, "class_4": 2}
    assert read_record(save)["classes"] == ["class_1", "class_3", "class_4"]


def test_custom_folds(esc50, tmp_path):
    root, _ = esc50
    manifests = prepare_esc50(
        root,
        str(tmp_path / "save"),
        train_folds=[2, 5],
        valid_folds=1,
        test_folds=[3, 4],
    )
    assert sorted(pd.read_csv(manifests["train"])["fold"].unique()) == [2, 5]
    assert sorted(pd.read_csv(manifests["test"])["fold"].unique()) == [3, 4]


def test_manifests_are_reused_with_same_options(esc50, tmp_path, monkeypatch):
    root, _ = esc50
    save = str(tmp_path / "save")
    prepare_esc50(root, save)

    def must_not_decode(path):
        raise AssertionError(f"decoded {path} although nothing changed")

    monkeypatch.setattr(prepare_module, "inspect_clip", must_not_decode)
    prepare_esc50(root, save, train_folds=[3, 2, 1], valid_folds=4)


@pytest.mark.parametrize(
    "change",
    [
        {"train_folds": (1, 2)},
        {"valid_folds": (3,), "train_folds": (1, 2)},
        {"subset": "esc10"},
        "data_folder",
        "metadata",
        "audio_file_removed",
        "audio_file_emptied",
        "audio_file_touched",
    ],
    ids=str,
)
def test_manifests_are_remade_when_options_or_data_change(
    esc50, tmp_path, change
):
    root, meta = esc50
    save = str(tmp_path / "save")
    prepare_esc50(root, save)
    before = read_record(save)
    options = {}
    if isinstance(change, dict):
        options = change
    elif change == "data_folder":
        moved = str(tmp_path / "moved")
        shutil.copytree(root, moved)
        root = moved
    elif change == "metadata":
        meta["take"] = "B"
        write_meta(root, meta)
    elif change == "audio_file_removed":
        os.remove(os.path.join(root, "audio", meta["filename"][0]))
    elif change == "audio_file_emptied":
        sf.write(
            os.path.join(root, "audio", meta["filename"][0]),
            np.zeros(0, np.float32),
            44100,
        )
    elif change == "audio_file_touched":
        path = os.path.join(root, "audio", meta["filename"][0])
        stat = os.stat(path)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    prepare_esc50(root, save, **options)
    assert read_record(save) != before
    if change in ("audio_file_removed", "audio_file_emptied"):
        train = pd.read_csv(os.path.join(save, "train.csv"))
        assert meta["filename"][0] not in (train["ID"] + ".wav").tolist()
        assert len(train) == 8


def test_interrupted_preparation_is_not_reused(esc50, tmp_path):
    root, _ = esc50
    save = str(tmp_path / "save")
    prepare_esc50(root, save)
    os.remove(os.path.join(save, "valid.csv"))
    prepare_esc50(root, save)
    assert os.path.isfile(os.path.join(save, "valid.csv"))


@pytest.mark.parametrize(
    "folds, message",
    [
        ({"train_folds": (1, 2), "valid_folds": (2,)}, "share fold"),
        ({"test_folds": (3,)}, "share fold"),
        ({"test_folds": (6,)}, "outside"),
        ({"train_folds": (0, 1)}, "outside"),
        ({"valid_folds": ()}, "empty"),
        ({"valid_folds": ("four",)}, "fold numbers"),
    ],
)
def test_bad_folds_fail_before_any_work(tmp_path, monkeypatch, folds, message):
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded before checking the folds")

    monkeypatch.setattr(prepare_module, "download_esc50", no_download)
    save = tmp_path / "save"
    with pytest.raises(ValueError, match=message):
        prepare_esc50(str(tmp_path / "nothing"), str(save), **folds)
    assert not save.exists()


def test_unknown_subset_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="esc20"):
        prepare_esc50(
            str(tmp_path / "nothing"), str(tmp_path / "s"), subset="esc20"
        )


@pytest.mark.parametrize(
    "hparams_file",
    [
        "hparams/piq.yaml",
        "hparams/piq_focalnet.yaml",
        "hparams/piq_vit.yaml",
        "recipes/ESC50/hparams/conv2d_classifier.yaml",
        "recipes/ESC50/hparams/focalnet_classifier.yaml",
        "recipes/ESC50/hparams/vit_classifier.yaml",
    ],
)
def test_unknown_subset_is_named_when_hparams_load(tmp_path, hparams_file):
    with open(os.path.join(REPO, hparams_file), encoding="utf-8") as file:
        with pytest.raises(
            ValueError,
            match=r"subset must be one of \('esc50', 'esc10'\), got 'esc20'",
        ):
            load_hyperpyyaml(
                file,
                {
                    "data_folder": str(tmp_path),
                    "output_folder": str(tmp_path / "out"),
                    "subset": "esc20",
                },
            )


def test_missing_metadata_names_the_path(esc50, tmp_path):
    root, _ = esc50
    os.remove(os.path.join(root, "meta", "esc50.csv"))
    with pytest.raises(FileNotFoundError, match=r"meta/esc50\.csv"):
        prepare_esc50(root, str(tmp_path / "save"))


def test_missing_audio_folder_names_the_path(esc50, tmp_path):
    root, _ = esc50
    shutil.rmtree(os.path.join(root, "audio"))
    with pytest.raises(FileNotFoundError, match=f"{root}/audio"):
        prepare_esc50(root, str(tmp_path / "save"))


def test_no_download_asked_says_where_to_put_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="ESC-50-master"):
        prepare_esc50(
            str(tmp_path / "empty"), str(tmp_path / "s"), download=False
        )


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda meta: meta.drop(columns="category"), "category"),
        (lambda meta: pd.concat([meta, meta.iloc[:1]]), "more than once"),
        (lambda meta: meta.assign(fold="x"), "integers"),
        (
            lambda meta: meta.assign(
                category=np.where(meta.index == 0, "odd", meta["category"])
            ),
            "several",
        ),
        (
            lambda meta: meta.assign(fold=meta["fold"].replace({5: 6, 4: 0})),
            r"fold\(s\) \[0, 6\] lie outside ESC-50's folds",
        ),
        (
            lambda meta: meta.assign(
                filename=np.where(meta.index == 2, "", meta["filename"])
            ),
            r"row 3 after the header \(fold 1, target 2\) has no filename",
        ),
        (
            lambda meta: meta.assign(
                filename=np.where(meta.index == 0, "  ", meta["filename"])
            ),
            "row 1 after the header .* has no filename",
        ),
        (
            lambda meta: meta.assign(
                category=np.where(meta.index == 1, "", meta["category"])
            ),
            "row 2 after the header .* has no category",
        ),
    ],
    ids=[
        "no category",
        "repeated file",
        "fold text",
        "two names",
        "folds outside 1-5",
        "empty filename",
        "blank filename",
        "empty category",
    ],
)
def test_bad_metadata_is_named(esc50, tmp_path, edit, message):
    root, meta = esc50
    write_meta(root, edit(meta))
    with pytest.raises(ValueError, match=message) as error:
        prepare_esc50(root, str(tmp_path / "save"))
    assert "esc50.csv" in str(error.value)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (bytes(range(128, 256)) * 4, "is not a UTF-8 CSV")],
    ids=["empty", "binary"],
)
def test_unreadable_metadata_file_is_named(esc50, tmp_path, content, message):
    root, _ = esc50
    path = os.path.join(root, "meta", "esc50.csv")
    with open(path, "wb") as file:
        file.write(content)
    with pytest.raises(ValueError, match=message) as error:
        prepare_esc50(root, str(tmp_path / "save"))
    assert path in str(error.value)


def test_class_names_that_look_like_numbers_stay_text(esc50, tmp_path):
    root, meta = esc50
    names = {0: "0.5", 1: "2", 2: "10"}
    write_meta(root, meta.assign(category=meta["target"].map(names)))
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    encoder = CategoricalEncoder.from_saved(
        os.path.join(save, "label_encoder.txt")
    )
    assert encoder.lab2ind == {"0.5": 0, "2": 1, "10": 2}
    train = pd.read_csv(manifests["train"], dtype={"class_string": str})
    assert set(train["class_string"]) == set(names.values())


def test_esc10_with_no_esc10_rows_is_an_error(tmp_path):
    root = str(tmp_path / "ESC-50-master")
    make_esc50_folder(root, esc10_targets=(), seconds=0.1)
    with pytest.raises(ValueError, match="ESC-10 subset is empty"):
        prepare_esc50(root, str(tmp_path / "save"), subset="esc10")


def write_bad_files(root, meta):
    """Replace some fold-1..3 clips with broken files; return their names."""
    audio = os.path.join(root, "audio")
    names = meta["filename"].tolist()
    corrupt, zero_bytes, no_frames, nan, missing = names[:5]
    with open(os.path.join(audio, corrupt), "wb") as file:
        file.write(b"RIFF\x00\x01garbage that is not a wav file")
    open(os.path.join(audio, zero_bytes), "wb").close()
    sf.write(os.path.join(audio, no_frames), np.zeros(0, np.float32), 44100)
    samples = np.full(4410, 0.1, np.float32)
    samples[100] = np.nan
    sf.write(os.path.join(audio, nan), samples, 44100, subtype="FLOAT")
    os.remove(os.path.join(audio, missing))
    return {
        "unreadable": [corrupt, zero_bytes],
        "empty": [no_frames],
        "non-finite samples": [nan],
        "missing from disk": [missing],
    }


def test_bad_files_are_skipped_logged_and_counted(esc50, tmp_path, caplog):
    root, meta = esc50
    bad = write_bad_files(root, meta)
    save = str(tmp_path / "save")
    with caplog.at_level("WARNING"):
        manifests = prepare_esc50(root, save)
    train = pd.read_csv(manifests["train"])
    assert len(train) == 9 - 5
    kept = set(train["ID"] + ".wav")
    assert not kept & {name for names in bad.values() for name in names}
    report = read_record(save)["report"]["train"]
    assert report["clips"] == 4
    assert report["skipped"] == bad
    assert "skipped 1 clip(s) missing from disk" in caplog.text
    assert "skipped 2 clip(s) unreadable" in caplog.text
    assert f"Skipping {bad['empty'][0]}: empty" in caplog.text


def test_many_missing_files_are_summarised(tmp_path, caplog):
    root = str(tmp_path / "ESC-50-master")
    meta = make_esc50_folder(
        root, n_classes=3, clips_per_class_per_fold=3, seconds=0.1
    )
    missing = meta[meta["fold"] == 4]["filename"].tolist()[:7]
    for name in missing:
        os.remove(os.path.join(root, "audio", name))
    with caplog.at_level("WARNING"):
        prepare_esc50(root, str(tmp_path / "save"))
    assert "valid: skipped 7 clip(s) missing from disk" in caplog.text
    assert "and 2 more" in caplog.text


def test_split_without_usable_clip_is_an_error(esc50, tmp_path):
    root, meta = esc50
    for name in meta[meta["fold"] == 5]["filename"]:
        os.remove(os.path.join(root, "audio", name))
    with pytest.raises(
        ValueError, match=r"test split \(folds \(5,\)\).*3 missing"
    ):
        prepare_esc50(root, str(tmp_path / "save"))


def test_classes_absent_from_a_split_are_reported(esc50, tmp_path, caplog):
    root, meta = esc50
    for name in meta[(meta["fold"] == 5) & (meta["target"] > 0)]["filename"]:
        os.remove(os.path.join(root, "audio", name))
    with caplog.at_level("WARNING"):
        prepare_esc50(root, str(tmp_path / "save"))
    assert (
        "test: no clip of 2 of the 3 classes (class_1, class_2)" in caplog.text
    )


def test_extra_metadata_columns_reach_the_manifests(esc50, tmp_path):
    root, meta = esc50
    meta["event_onset"] = 0.5
    meta["event_offset"] = 1.5
    meta["event_low_hz"] = 200.0
    meta["event_high_hz"] = 900.0
    meta["distractor_onset"] = np.where(meta.index % 2 == 0, 2.0, np.nan)
    write_meta(root, meta)
    manifests = prepare_esc50(root, str(tmp_path / "save"))
    train = pd.read_csv(manifests["train"])
    assert (train["event_high_hz"] == 900.0).all()
    expected = meta.set_index("filename").loc[train["ID"] + ".wav"]
    assert np.array_equal(
        train["distractor_onset"].to_numpy(),
        expected["distractor_onset"].to_numpy(),
        equal_nan=True,
    )


def zip_dataset(source_root, archive, top="ESC-50-master"):
    with zipfile.ZipFile(archive, "w") as zipped:
        for folder, _, files in os.walk(source_root):
            for name in files:
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, source_root)
                zipped.write(path, os.path.join(top, relative))


def test_empty_data_folder_is_downloaded_and_unpacked(
    esc50, tmp_path, monkeypatch
):
    source, meta = esc50
    archive = str(tmp_path / "master.zip")
    zip_dataset(source, archive)
    monkeypatch.setattr(
        prepare_module, "download_esc50", partial(download_esc50, url=archive)
    )
    data_folder = str(tmp_path / "downloaded")
    manifests = prepare_esc50(data_folder, str(tmp_path / "save"))
    assert sorted(os.listdir(data_folder)) == ["audio", "meta"]
    assert sorted(os.listdir(os.path.join(data_folder, "audio"))) == sorted(
        meta["filename"]
    )
    assert len(pd.read_csv(manifests["train"])) == 9


def test_download_failure_says_where_to_put_the_data(tmp_path):
    data_folder = str(tmp_path / "ESC-50")
    # Nothing listens on the discard port: fails at once, without network.
    with pytest.raises(ConnectionError) as error:
        download_esc50(data_folder, url="http://127.0.0.1:9/master.zip")
    message = str(error.value)
    assert "ESC-50-master" in message and data_folder in message
    assert "github.com/karoldvl/ESC-50" in message
    assert os.listdir(data_folder) == []


@pytest.mark.parametrize("content", ["not a zip", "zip without metadata"])
def test_bad_archive_is_a_clear_error(tmp_path, content):
    archive = str(tmp_path / "master.zip")
    if content == "not a zip":
        with open(archive, "w") as file:
            file.write("<html>rate limited</html>")
    else:
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("ESC-50-master/README.md", "hello")
    data_folder = str(tmp_path / "ESC-50")
    with pytest.raises(ValueError, match="zip|not the ESC-50"):
        download_esc50(data_folder, url=archive)
    assert os.listdir(data_folder) == []


def test_non_empty_folder_without_dataset_is_not_downloaded_into(
    tmp_path, monkeypatch
):
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded into a folder that has other files")

    monkeypatch.setattr(prepare_module, "download_esc50", no_download)
    data_folder = tmp_path / "mine"
    data_folder.mkdir()
    (data_folder / "notes.txt").write_text("keep me")
    with pytest.raises(FileNotFoundError, match="metadata file not found"):
        prepare_esc50(str(data_folder), str(tmp_path / "save"))


def test_command_line(esc50, tmp_path, monkeypatch, capsys):
    root, _ = esc50
    save = str(tmp_path / "save")
    script = os.path.join(REPO, "recipes", "ESC50", "esc50_prepare.py")
    argv = [script, root, save, "--subset", "esc10", "--no-download"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(script, run_name="__main__")
    assert f"train: {save}/train.csv" in capsys.readouterr().out
    assert read_record(save)["options"]["subset"] == "esc10"


def test_runs_under_run_on_main(esc50, tmp_path):
    root, _ = esc50
    save = str(tmp_path / "save")
    manifests = run_on_main(
        prepare_esc50, kwargs={"data_folder": root, "save_folder": save}
    )
    assert manifests["valid"] == os.path.join(save, "valid.csv")


def test_silent_clips_are_kept_and_named(esc50, tmp_path, caplog):
    root, meta = esc50
    silent = meta[meta["fold"] == 5]["filename"].iloc[0]
    sf.write(os.path.join(root, "audio", silent), np.zeros(800), 16000)
    save = str(tmp_path / "save")
    with caplog.at_level("WARNING"):
        manifests = prepare_esc50(root, save)
    assert silent[: -len(".wav")] in set(pd.read_csv(manifests["test"])["ID"])
    (warning,) = warnings_of(caplog)
    assert (
        warning.startswith("test: 1 clip(s) are silent") and silent in warning
    )
    assert read_record(save)["report"]["test"]["silent"] == [silent]
