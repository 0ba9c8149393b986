"""Speech: decoded-audio features for the motion models (`features`: log-mel, loudness, phone
posteriors; `wav2vec2_features` when a checkpoint is configured), phone recognition and forced
alignment with pocketsphinx (`phonemes`), voice activity with silero-vad (`vad`), and loudness
per video frame (`frame_loudness`)."""
