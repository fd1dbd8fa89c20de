"""Backbone, temporal shift, step mode and config validation."""

import numpy as np
import pytest
import torch

from tsmfpga.quant.config import ConfigError, load_config
from tsmfpga.quant.models import ModelConfig, VideoNet, load_float_into_quant, shift_clip

SMALL = dict(in_channels=1, input_size=16, widths=(8, 16), blocks=(1, 1), num_classes=5)


def reference_shift(v, fold, direction):
    """Plain-loop temporal shift on (N, T, C, H, W)."""
    n, t = v.shape[:2]
    out = np.zeros_like(v)
    for i in range(n):
        for f in range(t):
            out[i, f, fold:] = v[i, f, fold:]
            if f > 0:
                out[i, f, :fold] = v[i, f - 1, :fold]
            if direction == "bidirectional":
                out[i, f, fold:2 * fold] = v[i, f + 1, fold:2 * fold] if f + 1 < t else 0
    return out


@pytest.mark.parametrize("direction", ["online", "bidirectional"])
def test_shift_clip_matches_reference(direction):
    v = torch.randn(2, 5, 16, 3, 3)
    got = shift_clip(v.reshape(10, 16, 3, 3), 5, 2, direction).reshape(v.shape)
    np.testing.assert_array_equal(got.numpy(), reference_shift(v.numpy(), 2, direction))


@pytest.mark.parametrize("quantized", [False, True])
def test_step_mode_equals_clip_mode(quantized):
    torch.manual_seed(0)
    net = VideoNet(ModelConfig(**SMALL), "tsm", quantized).eval()
    clip = torch.randint(0, 256, (1, 6, 1, 16, 16)).float() / 255
    with torch.no_grad():
        ref = net(clip)[0]
        states = [torch.zeros(s) for s in net.state_shapes()]
        steps = []
        for t in range(6):
            logits, *states = net.forward_step(clip[:, t], *states)
            steps.append(logits[0])
    torch.testing.assert_close(torch.stack(steps), ref, atol=1e-5, rtol=0)
    # the shift matters: without states the later frames differ
    tsn = VideoNet(ModelConfig(**SMALL), "tsn", quantized).eval()
    tsn.load_state_dict(net.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(tsn(clip)[0][1:], ref[1:])


def test_input_quantizer_code_is_the_pixel():
    net = VideoNet(ModelConfig(**SMALL), "tsm", quantized=True).eval()
    pixels = torch.arange(256, dtype=torch.float32).view(1, 1, 16, 16)
    q = net.input_quant(pixels / 255)
    codes = (q.value / q.scale + q.zero_point).round()
    assert torch.equal(codes, pixels)
    assert float(q.zero_point) == 0


def test_float_weights_load_into_quant_by_name():
    torch.manual_seed(0)
    f = VideoNet(ModelConfig(**SMALL), "tsm", quantized=False)
    q = VideoNet(ModelConfig(**SMALL), "tsm", quantized=True)
    extra = load_float_into_quant(q, f.state_dict())
    assert all("quant" in k for k in extra)
    torch.testing.assert_close(q.stages[0].conv.weight, f.stages[0].conv.weight)


@pytest.mark.parametrize("field,value", [("weight_bits", 0), ("act_bits", 9), ("first_weight_bits", 12)])
def test_bit_width_out_of_range(field, value):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{**SMALL, field: value}).validate()


def test_config_unknown_key_is_named(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  widths: [8]\n  blocks: [1]\n  wieght_bits: 4\n")
    with pytest.raises(ConfigError, match="model.wieght_bits"):
        load_config(str(p))


def test_config_bad_bits_and_type(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  weight_bits: 11\n")
    with pytest.raises(ConfigError, match="weight_bits"):
        load_config(str(p))
    p.write_text("train:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config(str(p))


def test_builtin_configs_load():
    for name in ("tiny", "reference"):
        cfg = load_config(name)
        assert cfg.name == name
    ref = load_config("reference")
    assert (ref.data.frames, ref.data.size, ref.model.weight_bits, ref.model.act_bits) == (8, 32, 4, 4)
    # a fair baseline: the TSN trains as long as the float TSM it is compared with
    assert ref.train.tsn_epochs == ref.train.float_epochs
    with pytest.raises(ConfigError, match="no config named"):
        load_config("nonexistent")
