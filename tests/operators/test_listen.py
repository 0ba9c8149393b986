from lipdub.audio.features import SpeechFeatures


def test_listen_writes_dub_and_source_speech(listened_row):
    assert listened_row["status"] == "pending", listened_row["error"]
    dub = SpeechFeatures.from_npz(listened_row["dub_speech_uri"])
    assert dub.mel.shape[1] == 80
    assert dub.speech_prob.max() > 0.5
    assert abs(dub.duration_s - listened_row["dub_seconds"]) < 0.05
    assert listened_row["source_speech_uri"] is not None
