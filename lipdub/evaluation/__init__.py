"""Quality measures shared by the evaluation commands and the tests: correlation and jitter
figures (`metrics`) and source | output contact sheets (`contact_sheet`). The protocols that use
them are pipelines/evaluation (holdout, people, source-length, loco, gate), run by `lipdub eval ...`."""
