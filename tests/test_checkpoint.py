"""Checkpoints load safely, and bad ones fail with a message a user can act on."""

from __future__ import annotations

import fractions
import os
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

from pose3d_nb.lifting.checkpoint import CheckpointError, load_model, read_checkpoint
from pose3d_nb.lifting.model import Architecture, TemporalModel


class _RunsCodeOnLoad:
    """An object whose unpickling would create a file: the attack a blind torch.load allows."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_original_format_loads_with_numpy_random_state(reference_checkpoint):
    data = read_checkpoint(reference_checkpoint)
    assert set(data) == {"epoch", "lr", "random_state", "optimizer", "model_pos"}
    assert isinstance(data["random_state"], np.random.RandomState)
    model = load_model(reference_checkpoint)
    assert not model.training


def test_refuses_pickled_code(tmp_path, reference_checkpoint):
    marker = tmp_path / "was-executed"
    state = read_checkpoint(reference_checkpoint)["model_pos"]
    evil = tmp_path / "evil.bin"
    torch.save({"model_pos": state, "payload": _RunsCodeOnLoad(str(marker))}, evil)
    with pytest.raises(CheckpointError, match=r"refusing to load .*allow-list \(posix\.mkdir\)"):
        load_model(evil)
    assert not marker.exists(), "the payload ran"


def test_refusal_names_the_offending_global(tmp_path, reference_checkpoint):
    state = read_checkpoint(reference_checkpoint)["model_pos"]
    path = tmp_path / "fraction.bin"
    torch.save({"model_pos": state, "extra": fractions.Fraction(1, 3)}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert "fractions.Fraction" in str(info.value)


def test_truncated_file(tmp_path, reference_checkpoint):
    data = reference_checkpoint.read_bytes()
    path = tmp_path / "truncated.bin"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        load_model(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "video.bin"
    path.write_bytes(b"\x00\x01not a zip" * 100)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_model(path)


@pytest.mark.parametrize("content", [b"junk\n", b"abc\n"])
def test_a_few_bytes_of_text_are_not_a_checkpoint(tmp_path, content):
    # They failed inside torch's unpickler as KeyError / IndexError: a traceback from pose3d lift.
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot read .*unreadable pickle data"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found.*pose3d models"):
        load_model(tmp_path / "nope.bin")


def test_wrong_architecture_lists_names_and_shapes(reference_checkpoint):
    with pytest.raises(CheckpointError) as info:
        load_model(reference_checkpoint, expected=Architecture(filter_widths=(3, 3, 3, 3, 3), channels=1024))
    message = str(info.value)
    assert "filter widths [3, 3, 3, 3, 3]" in message
    assert "expand_conv.weight: checkpoint (64, 34, 3) vs model (1024, 34, 3)" in message
    assert "missing layers_conv.4.weight (1024, 1024, 3)" in message


def test_foreign_state_dict_lists_unexpected_keys(tmp_path, reference_checkpoint):
    state = OrderedDict(read_checkpoint(reference_checkpoint)["model_pos"])
    state["attention.weight"] = torch.zeros(4, 4)
    del state["layers_bn.3.running_var"]
    path = tmp_path / "other.bin"
    torch.save({"model_pos": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    assert "unexpected attention.weight (4, 4)" in str(info.value)
    assert "missing layers_bn.3.running_var (64,)" in str(info.value)


@pytest.mark.parametrize(("name", "tensor", "shape"), [
    ("expand_conv.weight", torch.zeros(3, 4), "(3, 4)"),
    ("layers_conv.0.weight", torch.tensor(1.0), "()"),
    ("layers_conv.1.weight", torch.zeros(16, 16), "(16, 16)"),
    ("shrink.weight", torch.zeros(51), "(51,)"),
    ("expand_conv.weight", torch.zeros(0, 34, 3), "(0, 34, 3)"),
])
def test_a_convolution_weight_of_the_wrong_shape_is_named_with_its_shape(tmp_path, name, tensor, shape):
    """A 2-D expand_conv or 0-d layers_conv weight was unpacked or indexed into a ValueError /
    IndexError traceback (``pose3d run`` / ``pose3d lift`` with such a file)."""
    state = dict(TemporalModel(Architecture(filter_widths=(3, 3), channels=16)).state_dict())
    state[name] = tensor
    path = tmp_path / "damaged.bin"
    torch.save({"model_pos": state}, path)
    said = rf"tensor {re.escape(name)} has shape {re.escape(shape)}; .*3 dim"
    with pytest.raises(CheckpointError, match=said):
        load_model(path)


def test_other_joint_count_is_refused(tmp_path):
    model = TemporalModel(
        Architecture(filter_widths=(3, 3), channels=16, num_joints_in=15, num_joints_out=15)
    )
    path = tmp_path / "humaneva.bin"
    torch.save({"model_pos": model.state_dict()}, path)
    with pytest.raises(CheckpointError, match="15 2D joints to 15 3D joints"):
        load_model(path)


def test_bare_state_dict_and_trained_dict_without_model_pos(tmp_path):
    model = TemporalModel(Architecture(filter_widths=(3, 3), channels=16))
    bare = tmp_path / "bare.bin"
    torch.save(model.state_dict(), bare)
    assert load_model(bare).arch.receptive_field == 9
    wrong = tmp_path / "traj.bin"
    torch.save({"epoch": 3, "model_traj": model.state_dict()}, wrong)
    with pytest.raises(CheckpointError, match="no 'model_pos' entry"):
        load_model(wrong)


def test_a_file_read_again_gives_the_same_model_until_it_changes(reference_checkpoint, tmp_path):
    """The engine makes a lifter per person in view: the checkpoint is read and built once."""
    import shutil

    copy = tmp_path / "copy.bin"
    shutil.copyfile(reference_checkpoint, copy)
    first = load_model(copy)
    assert load_model(copy) is first
    assert load_model(copy, causal=True) is not first  # another model from the same file
    os.utime(copy, ns=(0, 0))  # the file changed (its time, as a new save would)
    assert load_model(copy) is not first
