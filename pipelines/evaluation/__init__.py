"""The quality protocols that run the pipeline and score its outputs: the hold-out protocol
(`holdout`), the person-disjoint split over it (`people`) and leave-one-clip-out training
(`loco`). `lipdub eval ...` (jobs/cli.py) is their one command line."""
