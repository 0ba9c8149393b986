"""lipdub.item_row: item names safe for file systems."""
from __future__ import annotations

from lipdub.item_row import safe_name


def test_safe_names_are_unique_and_ascii():
    assert safe_name("a/b") != safe_name("a_b")
    assert safe_name("dübbing clip").isascii()
    assert safe_name("...").startswith("item-")
