"""Make the shared media test helpers importable as `_media_fixtures`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
