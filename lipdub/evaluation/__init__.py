"""Quality measures shared by the evaluation commands and the tests: correlation and jitter
figures (`metrics`) and source | output contact sheets (`contact_sheet`). The protocols that use
them are `lipdub eval ...` (jobs/eval_*.py)."""
