import pytest
import torch
from speechbrain.processing.features import ISTFT

from speechbrain_piq import plotting
from speechbrain_piq.plotting import SpectrogramGrid, plot_interpretation


@pytest.fixture
def drawn(monkeypatch):
    """The figures plot_interpretation draws, kept open to be read."""
    figures = []
    close = plotting.plt.close
    monkeypatch.setattr(plotting.plt, "close", figures.append)
    yield figures
    for figure in figures:
        close(figure)


def test_axes_are_seconds_and_khz_from_the_stft_settings(tmp_path, drawn):
    istft = ISTFT(sample_rate=16000, hop_length=11.6099, win_length=23.2199)
    grid = SpectrogramGrid.of_stft(istft, n_bins=513)
    assert grid == SpectrogramGrid(
        sample_rate=16000, hop_length=186, n_fft=1024
    )
    plot_interpretation(
        torch.rand(417, 513),
        torch.rand(417, 513),
        "clip: predicted 'dog' (p = 0.93)",
        tmp_path / "interpretation.png",
        grid,
    )
    (figure,) = drawn
    spectrogram, mask, interpretation = figure.axes[:3]
    for axis in (spectrogram, mask, interpretation):
        assert axis.get_xlabel() == "time (s)"
        assert axis.get_ylabel() == "frequency (kHz)"
        left, right = axis.get_xlim()
        assert right == pytest.approx(416.5 * 186 / 16000)
        assert axis.get_ylim()[1] == pytest.approx(8.0 + 8 / 1024)
    colour_bars = [axis.get_ylabel() for axis in figure.axes[3:]]
    assert colour_bars == ["log power", "mask value", "masked log power"]
    assert figure._suptitle.get_text() == "clip: predicted 'dog' (p = 0.93)"


def test_without_a_grid_axes_count_frames_and_bins(tmp_path, drawn):
    plot_interpretation(
        torch.rand(9, 5), torch.rand(9, 5), "t", tmp_path / "i.png"
    )
    assert drawn[0].axes[0].get_xlabel() == "frame"
    assert drawn[0].axes[0].get_ylabel() == "frequency bin"
