from lipdub.audio.features import SpeechFeatures


def test_listen_writes_dub_and_source_speech(listened_row):
    assert listened_row["status"] == "pending", listened_row["error"]
    dub = SpeechFeatures.from_npz(listened_row["dub_speech_uri"])
    assert dub.mel.shape[1] == 80
    assert dub.speech_prob.max() > 0.5
    assert abs(dub.duration_s - listened_row["dub_seconds"]) < 0.05
    assert listened_row["source_speech_uri"] is not None


def test_listen_with_wav2vec2_adds_embeddings(stage_config, analyzed_row, listened_row, tmp_path):
    import dataclasses

    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from lipdub.audio.features import n_feature_frames
    from operators.listen import ListenOperator

    checkpoint = tmp_path / "wav2vec2"
    tiny = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    Wav2Vec2Model(tiny).save_pretrained(checkpoint)
    listen = dataclasses.replace(stage_config.listen, wav2vec2_checkpoint=str(checkpoint))
    config = dataclasses.replace(stage_config, listen=listen)
    # Its own work_dir: the session's dub_speech.npz stays as the later stages' fixtures expect.
    (row,) = ListenOperator(config).run_row({**analyzed_row, "work_dir": str(tmp_path / "item")})
    assert row["status"] == "pending", row["error"]

    dub = SpeechFeatures.from_npz(row["dub_speech_uri"])
    assert dub.embeddings is not None
    assert dub.embeddings.shape == (dub.n_frames, 16)
    assert dub.n_frames == n_feature_frames(round(dub.duration_s * 16000))
    # The source's cached features are keyed on the checkpoint: not the cache made without it.
    assert row["source_speech_uri"] != listened_row["source_speech_uri"]
    source = SpeechFeatures.from_npz(row["source_speech_uri"])
    assert source.embeddings is not None and source.embeddings.shape == (source.n_frames, 16)


def test_a_row_listened_to_already_passes_through_without_loading_models(stage_config, listened_row):
    from operators.listen import ListenOperator

    listen = ListenOperator(stage_config)
    (row,) = listen.run_row(dict(listened_row))
    assert row["dub_speech_uri"] == listened_row["dub_speech_uri"]
    assert listen._models is None  # the speech models were never loaded
