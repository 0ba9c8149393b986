"""QA figures as strict JSON: NaN and infinity (not measurable, identical pictures) become null."""
from __future__ import annotations

import json
import math
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def figures_to_json(figures: dict[str, Any], **dumps_options: Any) -> str:
    return json.dumps({key: _plain(value) for key, value in figures.items()}, allow_nan=False, **dumps_options)
