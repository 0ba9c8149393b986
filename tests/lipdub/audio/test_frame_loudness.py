import numpy as np
import pytest

from lipdub.audio.frame_loudness import loudness_per_frame
from lipdub.errors import InputError
from lipdub.media.audio_io import write_wav


def test_one_value_per_frame_louder_where_the_sound_is(tmp_path):
    rate = 16000
    samples = np.zeros(rate * 2, np.float32)
    samples[rate:] = 0.5 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate)
    path = tmp_path / "half.wav"
    write_wav(str(path), samples, rate)
    values = loudness_per_frame(str(path), 50, 25.0)
    assert values.shape == (50,)
    assert values[30:].mean() > values[:20].mean() + 20


def test_no_audio_is_an_input_error(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(InputError):
        loudness_per_frame(str(path), 10, 25.0)
