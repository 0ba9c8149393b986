"""Quality gate: measure each output against its source and dub, decide whether a person must look."""
