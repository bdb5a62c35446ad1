"""Without a network and without HF_HUB_OFFLINE, hub sources fail at once."""

import urllib.error

import huggingface_hub
import pytest
import torch
from speechbrain.utils.parameter_transfer import Pretrainer
from test_export import write_clip

from speechbrain_piq import hub_access
from speechbrain_piq.classifiers.base import AudioClassifier
from speechbrain_piq.classifiers.pretrained import load_pretrained_classifier
from speechbrain_piq.cli import main
from speechbrain_piq.inference.source import fetch_hparams


@pytest.fixture
def no_network(monkeypatch):
    """The hub does not answer; HF_HUB_OFFLINE is not set."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    probes = []
    monkeypatch.setattr(
        hub_access, "hub_reachable", lambda: probes.append(1) or False
    )
    return probes


def hub_pretrainer(tmp_path):
    model = AudioClassifier(torch.nn.Identity(), torch.nn.Linear(4, 3))
    pretrainer = Pretrainer(
        collect_in=str(tmp_path / "collect"),
        loadables={"classifier": model.classifier},
        paths={"classifier": "speechbrain/PIQ-ESC50/classifier.ckpt"},
    )
    return pretrainer, model


def test_hub_classifier_without_network_says_set_offline(tmp_path, no_network):
    pretrainer, model = hub_pretrainer(tmp_path)
    with pytest.raises(ConnectionError) as error:
        load_pretrained_classifier(pretrainer, model, out_n_neurons=3)
    message = str(error.value)
    assert "\n" not in message
    assert "speechbrain/PIQ-ESC50" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "--classifier_model_path" in message
    assert no_network == [1]


def test_hub_interpreter_on_the_command_line_is_one_line(
    tmp_path, no_network, capsys
):
    clip = tmp_path / "dog.wav"
    write_clip(clip, seconds=1.0, seed=0)
    status = main(["interpret", str(clip), "--source", "owner/piq"])
    assert status == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "owner/piq" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0]


def test_offline_mode_and_local_sources_are_not_probed(
    tmp_path, monkeypatch, no_network
):
    with pytest.raises(FileNotFoundError, match="no hyperparams.yaml"):
        fetch_hparams(str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf")
    )
    with pytest.raises(FileNotFoundError, match="could not fetch"):
        fetch_hparams("owner/piq")
    assert no_network == []


@pytest.mark.parametrize(
    ("failure", "reachable"),
    [
        (urllib.error.URLError("Name or service not known"), False),
        (TimeoutError("timed out"), False),
        (urllib.error.HTTPError("https://hf.co", 503, "busy", {}, None), True),
    ],
)
def test_probe_counts_any_answer_as_reachable(monkeypatch, failure, reachable):
    def urlopen(request, timeout):
        assert timeout == hub_access.PROBE_TIMEOUT_S
        raise failure

    monkeypatch.setattr(hub_access.urllib.request, "urlopen", urlopen)
    assert hub_access.hub_reachable() is reachable
