import io
import pickle

import pytest
import torch

from lipdub.errors import InputError
from models.motion_checkpoint import cached_checkpoint, inference_part, load_checkpoint, save_checkpoint


def _state() -> dict:
    return {"net_config": {"n_features": 3}, "features": {"kind": "logmel"}, "generator": {"w": torch.ones(2)},
            "discriminator": {"w": torch.zeros(2)}, "template_reference": torch.zeros(40, 2), "epoch": 3,
            "history": [{"loss": 0.5}], "meta": {"videos": ["a", "b"]}}


def test_round_trip_on_a_local_path(tmp_path):
    uri = str(tmp_path / "sub" / "model.pt")
    save_checkpoint(uri, _state())
    state = load_checkpoint(uri)
    assert state["epoch"] == 3 and state["meta"]["videos"] == ["a", "b"]
    torch.testing.assert_close(state["generator"]["w"], torch.ones(2))
    assert "discriminator" not in inference_part(state)


def test_round_trip_on_s3(s3_server):
    uri = "s3://lipdub/models/model.pt"
    save_checkpoint(uri, _state())
    assert load_checkpoint(uri)["history"] == [{"loss": 0.5}]
    assert cached_checkpoint(uri)["features"] == {"kind": "logmel"}


def test_cached_checkpoint_notices_a_rewritten_file(tmp_path):
    uri = str(tmp_path / "model.pt")
    save_checkpoint(uri, _state())
    assert cached_checkpoint(uri)["meta"]["videos"] == ["a", "b"]
    changed = _state()
    changed["meta"] = {"videos": ["c", "d", "e"]}
    save_checkpoint(uri, changed)
    assert cached_checkpoint(uri)["meta"]["videos"] == ["c", "d", "e"]


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_missing_foreign_and_code_carrying_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_checkpoint(str(tmp_path / "nothing.pt"))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(1)}, foreign)
    with pytest.raises(InputError, match="not a lipdub motion checkpoint"):
        load_checkpoint(str(foreign))
    hostile = tmp_path / "hostile.pt"
    buffer = io.BytesIO()
    pickle.dump({"format": "lipdub-motion/1", "x": _Payload()}, buffer)
    hostile.write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match="not a lipdub motion checkpoint"):
        load_checkpoint(str(hostile))


def test_builtin_names_resolve_to_shipped_files_only():
    from models.motion_checkpoint import BUILTIN_DIR, resolve_checkpoint_uri

    assert resolve_checkpoint_uri("s3://bucket/m.pt") == "s3://bucket/m.pt"
    with pytest.raises(InputError, match="no built-in motion checkpoint"):
        resolve_checkpoint_uri("builtin:does-not-exist")
    with pytest.raises(InputError, match="no built-in motion checkpoint"):
        resolve_checkpoint_uri("builtin:../../etc/passwd")
    for shipped in BUILTIN_DIR.glob("*.pt"):
        state = load_checkpoint(f"builtin:{shipped.stem}")
        assert state["features"]["kind"] == "logmel"
