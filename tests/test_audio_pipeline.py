"""Clip loading, the clip cache and dataio_prep's datasets."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from esc50_factory import make_esc50_folder
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.dataloader import make_dataloader
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_piq.dataio.clip_cache import ClipCache, clip_cache_folder
from speechbrain_piq.dataio.clips import ClipLoader, fix_length, peak_normalize
from speechbrain_piq.dataio.datasets import dataio_prep
from speechbrain_piq.dataio.esc50_metadata import label_encoder_for
from speechbrain_piq.dataio.esc50_prepare import prepare_esc50

RATE = 16000
SECONDS = 1.0
N_SAMPLES = int(RATE * SECONDS)


def tone(rate, seconds, freq=440.0, amplitude=0.3):
    time = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * time)).astype(np.float32)


def dominant_hz(sig, rate):
    spectrum = np.abs(np.fft.rfft(sig.numpy()))
    return np.argmax(spectrum) * rate / len(sig)


@pytest.mark.parametrize(
    "subtype, rate",
    [
        ("PCM_16", 44100),
        ("PCM_U8", 44100),
        ("PCM_24", 44100),
        ("FLOAT", 44100),
        ("DOUBLE", 22050),
        ("PCM_16", 48000),
        ("PCM_16", 16000),
        # gcd(44101, 16000) = 1: torchaudio's kernel would take 2.8 GB.
        ("PCM_16", 44101),
    ],
)
def test_formats_and_rates_load_to_one_shape(tmp_path, subtype, rate):
    path = str(tmp_path / "clip.wav")
    sf.write(path, tone(rate, SECONDS), rate, subtype=subtype)
    clip = ClipLoader(RATE, SECONDS)(path)
    assert clip.dtype == torch.float32 and clip.shape == (N_SAMPLES,)
    assert torch.isfinite(clip).all()
    assert clip.abs().max().item() == pytest.approx(1.0)
    assert dominant_hz(clip, RATE) == pytest.approx(440.0, abs=2.0)


def test_other_soundfile_formats_load(tmp_path):
    path = str(tmp_path / "clip.flac")
    sf.write(path, tone(44100, SECONDS), 44100)
    assert ClipLoader(RATE, SECONDS)(path).shape == (N_SAMPLES,)


def test_stereo_is_downmixed(tmp_path):
    path = str(tmp_path / "stereo.wav")
    left = tone(RATE, SECONDS)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    sf.write(path, stereo, RATE, subtype="FLOAT")
    clip = ClipLoader(RATE, SECONDS)(path)
    expected = torch.from_numpy(left / np.abs(left).max())
    assert torch.allclose(clip, expected, atol=1e-4)


@pytest.mark.parametrize("rate", [RATE, 44100, 44101])
def test_stereo_at_float32s_largest_values_stays_finite(tmp_path, rate):
    path = str(tmp_path / "loud.wav")
    loud = tone(rate, SECONDS, amplitude=3e38)
    sf.write(path, np.stack([loud, loud], axis=1), rate, subtype="FLOAT")
    clip = ClipLoader(RATE, SECONDS)(path)
    assert torch.isfinite(clip).all()
    assert clip.abs().max().item() == pytest.approx(1.0)
    assert dominant_hz(clip, RATE) == pytest.approx(440.0, abs=2.0)


def test_short_clip_is_zero_padded_at_the_end(tmp_path):
    path = str(tmp_path / "short.wav")
    sf.write(path, tone(RATE, 0.25), RATE, subtype="FLOAT")
    clip = ClipLoader(RATE, SECONDS)(path)
    assert clip.shape == (N_SAMPLES,)
    assert clip[: RATE // 4].abs().max() == pytest.approx(1.0)
    assert (clip[RATE // 4 :] == 0).all()


def test_long_clip_keeps_its_beginning(tmp_path):
    path = str(tmp_path / "long.wav")
    samples = np.concatenate([tone(RATE, SECONDS), np.full(RATE, 0.9)])
    sf.write(path, samples.astype(np.float32), RATE, subtype="FLOAT")
    clip = ClipLoader(RATE, SECONDS)(path)
    expected = torch.from_numpy(tone(RATE, SECONDS) / 0.3)
    assert torch.allclose(clip, expected, atol=1e-4)


def test_silent_clip_stays_zero_without_nan(tmp_path):
    path = str(tmp_path / "silent.wav")
    sf.write(path, np.zeros(RATE // 2, np.float32), 44100)
    clip = ClipLoader(RATE, SECONDS)(path)
    assert clip.shape == (N_SAMPLES,) and (clip == 0).all()


def test_non_finite_samples_never_reach_the_clip(tmp_path, caplog):
    path = str(tmp_path / "nan.wav")
    samples = tone(RATE, SECONDS)
    samples[10], samples[20], samples[30] = np.nan, np.inf, -np.inf
    sf.write(path, samples, RATE, subtype="FLOAT")
    with caplog.at_level("WARNING"):
        clip = ClipLoader(RATE, SECONDS)(path)
    assert torch.isfinite(clip).all()
    assert "non-finite samples set to 0" in caplog.text and path in caplog.text


def test_file_emptied_after_prepare_is_a_clear_error(tmp_path):
    path = str(tmp_path / "emptied.wav")
    sf.write(path, np.zeros(0, np.float32), RATE)
    with pytest.raises(ValueError, match="emptied.wav holds no samples"):
        ClipLoader(RATE, SECONDS)(path)


def test_unreadable_file_error_names_it(tmp_path):
    path = str(tmp_path / "broken.wav")
    with open(path, "wb") as file:
        file.write(b"not audio")
    with pytest.raises(RuntimeError, match="broken.wav"):
        ClipLoader(RATE, SECONDS)(path)


def test_bad_loader_settings_are_refused():
    with pytest.raises(ValueError, match="clip_seconds=0"):
        ClipLoader(RATE, clip_seconds=0)


@pytest.mark.parametrize(
    "rate, seconds, n_samples", [(16000, 4.02, 64320), (44100, 0.1, 4410)]
)
def test_clip_length_is_rounded_not_truncated(rate, seconds, n_samples):
    assert ClipLoader(rate, seconds).n_samples == n_samples


def test_clip_shorter_than_one_sample_is_refused():
    with pytest.raises(ValueError, match="clip_seconds=1e-05 .* 0 samples"):
        ClipLoader(RATE, clip_seconds=1e-5)


def test_fix_length_and_peak_normalize():
    assert fix_length(torch.ones(5), 5).shape == (5,)
    assert peak_normalize(torch.tensor([-4.0, 2.0])).tolist() == [-1.0, 0.5]
    tiny = torch.full((3,), 1e-12)
    assert torch.equal(peak_normalize(tiny), tiny)


class CountingLoader:
    def __init__(self):
        self.calls = 0
        self.load = ClipLoader(RATE, SECONDS)

    def __call__(self, path):
        self.calls += 1
        return self.load(path)


def test_cache_makes_each_clip_once(tmp_path):
    source = str(tmp_path / "source.wav")
    sf.write(source, tone(44100, SECONDS), 44100)
    cache = ClipCache(str(tmp_path / "clips"), RATE, N_SAMPLES)
    load = CountingLoader()
    first = cache.fetch("clip", source, lambda: load(source))
    second = cache.fetch("clip", source, lambda: load(source))
    assert load.calls == 1
    assert torch.equal(first, second)
    assert len(os.listdir(tmp_path / "clips")) == 1


def test_cache_entry_is_replaced_when_the_source_changes(tmp_path):
    source = str(tmp_path / "source.wav")
    sf.write(source, tone(44100, SECONDS, freq=440.0), 44100)
    cache = ClipCache(str(tmp_path / "clips"), RATE, N_SAMPLES)
    load = ClipLoader(RATE, SECONDS)
    cache.fetch("clip", source, lambda: load(source))
    sf.write(source, tone(44100, SECONDS, freq=1000.0), 44100)
    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    clip = cache.fetch("clip", source, lambda: load(source))
    assert dominant_hz(clip, RATE) == pytest.approx(1000.0, abs=2.0)
    assert len(os.listdir(tmp_path / "clips")) == 1


def cached_tone(tmp_path):
    """A cache holding one clip; returns it, its entry path and a fetch."""
    source = str(tmp_path / "source.wav")
    sf.write(source, tone(RATE, SECONDS), RATE)
    folder = str(tmp_path / "clips")
    cache = ClipCache(folder, RATE, N_SAMPLES)
    load = CountingLoader()

    def fetch():
        return cache.fetch("clip", source, lambda: load(source))

    fetch()
    (entry,) = os.listdir(folder)
    return os.path.join(folder, entry), fetch, load


def test_unusable_cache_entry_is_remade(tmp_path, caplog):
    entry, fetch, load = cached_tone(tmp_path)
    with open(entry, "wb") as file:
        file.write(b"truncated")
    with caplog.at_level("WARNING"):
        clip = fetch()
    assert load.calls == 2 and clip.shape == (N_SAMPLES,)
    assert "Remaking" in caplog.text


def test_non_finite_cache_entry_is_remade(tmp_path, caplog):
    # What a version whose stereo downmix overflowed left in the cache.
    entry, fetch, load = cached_tone(tmp_path)
    nan_clip = np.full(N_SAMPLES, np.nan, np.float32)
    sf.write(entry, nan_clip, RATE, subtype="FLOAT")
    with caplog.at_level("WARNING"):
        clip = fetch()
    assert load.calls == 2 and torch.isfinite(clip).all()
    assert "not finite" in caplog.text


def test_cache_folder_depends_on_rate_and_length():
    folders = {
        clip_cache_folder("save", 16000, 5.0),
        clip_cache_folder("save", 22050, 5.0),
        clip_cache_folder("save", 16000, 4.0),
    }
    assert len(folders) == 3


@pytest.fixture
def prepared(tmp_path):
    """A prepared 3-class folder of 0.5 s clips at 44.1 kHz."""
    root = str(tmp_path / "ESC-50-master")
    make_esc50_folder(root, seconds=0.5)
    save = str(tmp_path / "save")
    return prepare_esc50(root, save), root, save


def test_datasets_give_the_contracted_items(prepared):
    manifests, root, save = prepared
    datasets, encoder = dataio_prep(manifests, root, save, RATE, SECONDS)
    assert sorted(datasets) == ["test", "train", "valid"]
    assert [len(datasets[split]) for split in ("train", "valid", "test")] == [
        9,
        3,
        3,
    ]
    train = pd.read_csv(manifests["train"]).set_index("ID")
    for item in datasets["train"]:
        assert set(item) == {
            "id",
            "sig",
            "class_string",
            "class_string_encoded",
        }
        assert item["sig"].dtype == torch.float32
        assert item["sig"].shape == (N_SAMPLES,)
        assert torch.isfinite(item["sig"]).all()
        assert item["sig"].abs().max().item() == pytest.approx(1.0)
        assert item["class_string"] == train.loc[item["id"], "class_string"]
        encoded = item["class_string_encoded"]
        assert encoded.dtype == torch.long and encoded.shape == (1,)
        assert encoded.item() == train.loc[item["id"], "target"]
    assert encoder.decode_ndim([0, 1, 2]) == ["class_0", "class_1", "class_2"]


def test_batches_have_label_shape_b_1(prepared):
    manifests, root, save = prepared
    datasets, _ = dataio_prep(manifests, root, save, RATE, SECONDS)
    loader = make_dataloader(datasets["train"], batch_size=4)
    batch = next(iter(loader))
    assert isinstance(batch, PaddedBatch)
    assert batch.sig.data.shape == (4, N_SAMPLES)
    assert batch.class_string_encoded.data.shape == (4, 1)


def test_datasets_pickle_for_spawned_workers(prepared):
    manifests, root, save = prepared
    datasets, _ = dataio_prep(manifests, root, save, RATE, SECONDS)
    restored = pickle.loads(pickle.dumps(datasets["valid"]))
    assert torch.equal(restored[0]["sig"], datasets["valid"][0]["sig"])


def test_clip_cache_is_used_by_default_and_can_be_off(prepared, monkeypatch):
    manifests, root, save = prepared
    datasets, _ = dataio_prep(manifests, root, save, RATE, SECONDS)
    first = [item["sig"] for item in datasets["valid"]]
    folder = clip_cache_folder(save, RATE, SECONDS)
    assert len(os.listdir(folder)) == 3

    def no_decoding(self, path):
        raise AssertionError(f"decoded {path} although it is cached")

    monkeypatch.setattr(ClipLoader, "__call__", no_decoding)
    again, _ = dataio_prep(manifests, root, save, RATE, SECONDS)
    assert all(torch.equal(a["sig"], b) for a, b in zip(again["valid"], first))
    monkeypatch.undo()

    uncached_save = os.path.join(save, "uncached")
    os.makedirs(uncached_save)
    uncached, _ = dataio_prep(
        manifests, root, uncached_save, RATE, SECONDS, use_clip_cache=False
    )
    for a, b in zip(uncached["valid"], first):
        assert torch.allclose(a["sig"], b)
    assert os.listdir(uncached_save) == ["label_encoder.txt"]


def test_cache_follows_the_data_folder(prepared, tmp_path):
    manifests, root, save = prepared
    folder = clip_cache_folder(save, RATE, SECONDS)
    datasets, _ = dataio_prep(manifests, root, save, RATE, SECONDS)
    datasets["test"][0]
    before = os.listdir(folder)
    moved = str(tmp_path / "moved")
    os.rename(root, moved)
    datasets, _ = dataio_prep(manifests, moved, save, RATE, SECONDS)
    assert torch.isfinite(datasets["test"][0]["sig"]).all()
    after = os.listdir(folder)
    assert len(before) == len(after) == 1 and before != after


def test_every_odd_file_loads_or_is_skipped_and_batches_stay_finite(tmp_path):
    root = str(tmp_path / "ESC-50-master")
    meta = make_esc50_folder(
        root, n_classes=2, clips_per_class_per_fold=6, seconds=0.5
    )
    audio = os.path.join(root, "audio")
    train_files = meta[meta["fold"] == 1]["filename"].tolist()
    odd = {
        "stereo": (np.stack([tone(44100, 0.5)] * 2, axis=1), 44100, "PCM_16"),
        "8-bit": (tone(44100, 0.5), 44100, "PCM_U8"),
        "24-bit": (tone(44100, 0.5), 44100, "PCM_24"),
        "float": (tone(44100, 0.5), 44100, "FLOAT"),
        "48 kHz": (tone(48000, 0.5), 48000, "PCM_16"),
        "short": (tone(44100, 0.1), 44100, "PCM_16"),
        "long": (tone(44100, 3.0), 44100, "PCM_16"),
        "silent": (np.zeros(22050, np.float32), 44100, "PCM_16"),
    }
    for name, (samples, rate, subtype) in zip(train_files, odd.values()):
        sf.write(os.path.join(audio, name), samples, rate, subtype=subtype)
    bad = meta[meta["fold"] == 2]["filename"].tolist()
    with open(os.path.join(audio, bad[0]), "wb") as file:
        file.write(b"corrupt")
    open(os.path.join(audio, bad[1]), "wb").close()
    nan = tone(44100, 0.5)
    nan[5] = np.nan
    sf.write(os.path.join(audio, bad[2]), nan, 44100, subtype="FLOAT")

    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    datasets, _ = dataio_prep(manifests, root, save, RATE, 0.5)
    assert len(datasets["train"]) == 3 * 12 - 3
    loader = make_dataloader(datasets["train"], batch_size=8)
    for batch in loader:
        assert batch.sig.data.shape[1:] == (RATE // 2,)
        assert torch.isfinite(batch.sig.data).all()
        assert batch.sig.data.abs().amax(dim=1).le(1.0 + 1e-6).all()


def test_event_and_distractor_regions(tmp_path):
    root = str(tmp_path / "ESC-50-master")
    meta = make_esc50_folder(root, seconds=0.2)
    meta["event_onset"] = 0.1
    meta["event_offset"] = 0.2
    meta["event_low_hz"] = 300.0
    meta["event_high_hz"] = 3000.0
    with_distractor = meta.index % 2 == 0
    for column, value in [
        ("distractor_onset", 0.0),
        ("distractor_offset", 0.1),
        ("distractor_low_hz", 50.0),
        ("distractor_high_hz", 500.0),
    ]:
        meta[column] = np.where(with_distractor, value, np.nan)
    meta.to_csv(os.path.join(root, "meta", "esc50.csv"), index=False)
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    datasets, _ = dataio_prep(manifests, root, save, RATE, 0.2)
    distractor_ids = set(
        meta[with_distractor]["filename"].str.removesuffix(".wav")
    )
    for item in datasets["train"]:
        event = item["event_region"]
        assert event.dtype == torch.float32
        assert event.tolist() == pytest.approx([0.1, 0.2, 300.0, 3000.0])
        distractor = item["distractor_region"]
        assert distractor.shape == (4,) and distractor.dtype == torch.float32
        if item["id"] in distractor_ids:
            assert distractor.tolist() == pytest.approx([0.0, 0.1, 50.0, 500.0])
        else:
            assert torch.isnan(distractor).all()
    batch = next(iter(make_dataloader(datasets["train"], batch_size=3)))
    assert batch.event_region.data.shape == (3, 4)


def test_partial_region_columns_are_an_error(prepared):
    manifests, root, save = prepared
    train = pd.read_csv(manifests["train"])
    train["event_onset"] = 0.0
    train.to_csv(manifests["train"], index=False)
    with pytest.raises(ValueError, match="event_region"):
        dataio_prep(manifests, root, save, RATE, SECONDS)


def test_much_shorter_clips_are_named_in_a_warning_and_kept(tmp_path, caplog):
    root = str(tmp_path / "ESC-50-master")
    meta = make_esc50_folder(root, seconds=0.5)
    # The start of a 0.5 s file: a header and about 0.01 s of samples.
    truncated, one_sample = meta["filename"][:2]
    path = os.path.join(root, "audio", truncated)
    with open(path, "rb") as file:
        start = file.read(1000)
    with open(path, "wb") as file:
        file.write(start)
    sf.write(os.path.join(root, "audio", one_sample), np.ones(1), 44100)
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    with caplog.at_level("WARNING"):
        datasets, _ = dataio_prep(manifests, root, save, RATE, SECONDS)
    assert len(datasets["train"]) == 9
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelname == "WARNING"
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "train: 2 clip(s) shorter than 0.5 s (50% of clip_seconds 1)"
    )
    for name in (truncated, one_sample):
        assert os.path.splitext(name)[0] in warnings[0]


@pytest.mark.parametrize(
    "names", [("1", "2", "3"), ("True", "False")], ids=["ints", "booleans"]
)
def test_class_names_that_look_like_numbers_are_encoded(tmp_path, names):
    root = str(tmp_path / "ESC-50-master")
    meta = make_esc50_folder(root, n_classes=len(names), seconds=0.5)
    meta["category"] = [names[target] for target in meta["target"]]
    meta.to_csv(os.path.join(root, "meta", "esc50.csv"), index=False)
    save = str(tmp_path / "save")
    manifests = prepare_esc50(root, save)
    # The second call reads the label encoder that the first one wrote.
    for _ in range(2):
        datasets, encoder = dataio_prep(manifests, root, save, RATE, SECONDS)
        assert encoder.lab2ind == {name: i for i, name in enumerate(names)}
        for item in datasets["train"]:
            target = names.index(item["class_string"])
            assert item["class_string_encoded"].tolist() == [target]


def test_missing_label_encoder_is_rebuilt_from_the_manifests(prepared):
    manifests, root, save = prepared
    os.remove(os.path.join(save, "label_encoder.txt"))
    _, encoder = dataio_prep(manifests, root, save, RATE, SECONDS)
    assert encoder.lab2ind == {"class_0": 0, "class_1": 1, "class_2": 2}
    assert os.path.isfile(os.path.join(save, "label_encoder.txt"))


def test_label_encoder_lacking_a_class_is_an_error(prepared):
    manifests, root, save = prepared
    path = os.path.join(save, "label_encoder.txt")
    label_encoder_for(["class_0", "class_1", "owl"]).save(path)
    with pytest.raises(ValueError, match="no class 'class_2'.*delete it"):
        dataio_prep(manifests, root, save, RATE, SECONDS)


def test_the_classifiers_label_encoder_numbers_the_classes(prepared, tmp_path):
    manifests, root, save = prepared
    theirs = str(tmp_path / "classifier" / "label_encoder.txt")
    os.makedirs(os.path.dirname(theirs))
    order = ["class_2", "owl", "class_0", "class_1"]
    label_encoder_for(order).save(theirs)
    datasets, encoder = dataio_prep(
        manifests, root, save, RATE, SECONDS, classifier_label_encoder=theirs
    )
    assert encoder.lab2ind == {name: i for i, name in enumerate(order)}
    for item in datasets["test"]:
        expected = order.index(item["class_string"])
        assert item["class_string_encoded"].tolist() == [expected]
    # The run's own file now says the same (exports and resumes read it).
    saved = CategoricalEncoder.from_saved(
        os.path.join(save, "label_encoder.txt")
    )
    assert saved.lab2ind == encoder.lab2ind


@pytest.mark.parametrize(
    "write, error, match",
    [
        (None, FileNotFoundError, "is missing; set classifier_label_encoder"),
        ("", ValueError, "truncated or damaged"),
        (
            "'class_0' => 0\n'class_1' => 1\n================\n"
            "'starting_index' => 0\n",
            ValueError,
            "no class 'class_2' of the train manifest.*trained on",
        ),
    ],
    ids=["missing", "empty", "other-classes"],
)
def test_unusable_classifier_label_encoder_is_named(
    prepared, tmp_path, write, error, match
):
    manifests, root, save = prepared
    theirs = tmp_path / "theirs.txt"
    if write is not None:
        theirs.write_text(write)
    with pytest.raises(error, match=match) as raised:
        dataio_prep(
            manifests,
            root,
            save,
            RATE,
            SECONDS,
            classifier_label_encoder=theirs,
        )
    assert str(theirs) in str(raised.value)


def test_missing_manifest_is_named(prepared):
    manifests, root, save = prepared
    os.remove(manifests["test"])
    with pytest.raises(FileNotFoundError, match="test.csv"):
        dataio_prep(manifests, root, save, RATE, SECONDS)
