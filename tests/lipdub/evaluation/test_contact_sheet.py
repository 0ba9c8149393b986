"""lipdub.evaluation.contact_sheet: labelled source | output cells."""
import numpy as np


def test_source_and_output_cells_are_labelled():
    from lipdub.evaluation.contact_sheet import labelled

    frame = np.full((120, 160, 3), 200, np.uint8)
    marked = labelled(frame, "source")
    assert (frame == 200).all()  # the input is left alone
    corner, rest = marked[:20, :60], marked[40:, :]
    assert corner.min() < 100 and corner.max() > 240  # a dark band with white text
    assert (rest == 200).all()  # nothing else changes
