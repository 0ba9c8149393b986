"""The shared media folder's dub catalog (``../shared/media/catalog.csv``) as catalog rows, for the
evaluation protocols and benchmarks that run the pipeline over it."""
from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["shared_catalog_rows"]


def shared_catalog_rows(shared_media: Path) -> list[dict[str, str]]:
    """../shared/media/catalog.csv as catalog rows with absolute URIs."""
    with open(shared_media / "catalog.csv", newline="") as handle:
        return [
            {
                "item_id": row["item_id"],
                "video_uri": str(shared_media / row["video"]),
                "audio_uri": str(shared_media / row["dub_audio"]),
                "language": row["language"],
            }
            for row in csv.DictReader(handle)
        ]
