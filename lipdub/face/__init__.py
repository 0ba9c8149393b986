"""Faces in a video: detection (`detect`), 468-point landmarks (`mesh`, MediaPipe Face Mesh),
tracks of each person over the frames (`track`), landmark smoothing that never crosses a cut
(`smoothing`), shot cuts (`cuts`), which face is the speaker (`speaker`), mouth and pose
measures (`geometry`), and the per-source analysis that ties them together and is cached in the
work store (`analysis`, `analysis_record`)."""
