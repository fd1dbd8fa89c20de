"""QONNX export of the per-frame step graph and its check against torch on whole clips.

The step graph takes one frame ``frame`` (1, C, H, W) and one state per shift point
``state_in_i`` (1, C_i/shift_div, H_i, W_i) and returns ``logits`` (1, K) and ``state_out_i``.
Running it frame by frame with the states threaded through (zeros at the clip's first frame)
is the golden reference for a clip. What later stages and the driver need is stored as ONNX
metadata (the graph's ``metadata_props``, as qonnx's ``set_metadata_prop`` writes it), each
value JSON.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from tsmfpga.core.clip import run_clip
from tsmfpga.core.executor import executor
from tsmfpga.quant.nets import make_net
from tsmfpga.quant.train import to_input

#: metadata keys written into the exported model
META_KEYS = ("tsmfpga.frames", "tsmfpga.shift_div", "tsmfpga.shift_direction", "tsmfpga.class_names",
             "tsmfpga.input_scale", "tsmfpga.input_zero_point", "tsmfpga.input_dtype",
             "tsmfpga.normalisation", "tsmfpga.states", "tsmfpga.model_config", "tsmfpga.task")


class StepModule(torch.nn.Module):
    """Wraps a network of :func:`tsmfpga.quant.nets.make_net` (either family) so that
    ``forward(frame, *states) -> (logits, *new_states)``."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, frame, *states):
        return self.net.forward_step(frame, *states)


def state_names(n: int) -> tuple[list[str], list[str]]:
    return [f"state_in_{i}" for i in range(n)], [f"state_out_{i}" for i in range(n)]


def input_quant_params(net: torch.nn.Module) -> tuple[float, int]:
    """Scale and zero-point of the model's input quantizer (code = round(x / scale) + zp)."""
    q = net.input_quant
    return float(q.act_quant.scale().detach()), int(q.act_quant.zero_point().detach())


def export_step_graph(net: torch.nn.Module, path: Path, metadata: dict) -> Path:
    """Export ``net`` (quantized, eval mode) as a QONNX step graph with metadata; atomic write."""
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper

    net.eval()
    shapes = net.state_shapes()
    sin, sout = state_names(len(shapes))
    frame = torch.zeros(1, net.cfg.in_channels, net.cfg.input_size, net.cfg.input_size)
    states = tuple(torch.zeros(s) for s in shapes)
    # torch.onnx warns about torchvision ops it cannot register; irrelevant here
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    path = Path(path)
    # the exporter may write external-data side files: keep them in a scratch folder that goes away
    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent) as scratch:
        raw = Path(scratch) / "raw.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_qonnx(StepModule(net).eval(), args=(frame, *states), export_path=str(raw),
                         input_names=["frame", *sin], output_names=["logits", *sout], verbose=False)
        model = ModelWrapper(str(raw))  # loads external data into the protobuf
        inits = {i.name for i in model.graph.initializer}
        for inp in [i for i in model.graph.input if i.name in inits]:  # weights are not graph inputs
            model.graph.input.remove(inp)
        for key, value in metadata.items():
            model.set_metadata_prop(key, json.dumps(value))
        tmp = Path(scratch) / "final.onnx"
        model.save(str(tmp))
        os.replace(tmp, path)
    return path


def export_random_step_graph(cfg, path: Path, frames: int, seed: int = 0, batches: int = 3,
                             batch: int = 4) -> torch.nn.Module:
    """Export a quantized TSM of model config ``cfg`` with random (seeded) weights and non-trivial
    BatchNorm statistics and activation scales: ``batches`` train-mode forwards of random clips,
    BN statistics as their plain average (a few exponential steps leave a deep random network's
    activations at 0). For hardware benchmarks and tests whose figures do not depend on training
    (throughput, latency, bit-exactness, resources); returns the network."""
    torch.manual_seed(seed)
    net = make_net(cfg, "tsm", quantized=True)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None
    net.train()
    with torch.no_grad():
        for _ in range(batches):
            net(torch.rand(batch, frames, cfg.in_channels, cfg.input_size, cfg.input_size))
    for bn in bns:
        bn.momentum = 0.1
    net.eval()
    export_step_graph(net, path, {"tsmfpga.frames": frames})
    return net


def read_metadata(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    # qonnx keeps metadata on the graph (ModelWrapper.set_metadata_prop); accept model level too
    props = list(model.metadata_props) + list(model.graph.metadata_props)
    return {p.key: json.loads(p.value) for p in props if p.key.startswith("tsmfpga.")}


def check_step_graph(path: Path, net: torch.nn.Module, clips_uint8: np.ndarray, tolerance: float = 1e-4) -> dict:
    """Compare qonnx frame-by-frame execution of the step graph with the torch clip forward.

    torch and onnxruntime accumulate convolutions in different orders, so a value lying within
    float32 rounding of a quantizer's rounding boundary can land on the neighbouring level in one
    of them (a "tie flip"); through the temporal shift such a flip also reaches the next frames
    of its clip. Frames beyond ``tolerance`` are counted, not hidden: the hardware golden is the
    QONNX graph itself, so these frames only measure torch-vs-ONNX float agreement."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes
    from tqdm import tqdm

    model = executor(ModelWrapper(str(path)).transform(InferShapes()))
    net.eval()
    x = to_input(clips_uint8)
    with torch.no_grad():
        ref = net(x).numpy()
    worst, argmax_equal, frame_argmax_equal, frames_off, clips_off = 0.0, 0, 0, 0, 0
    for i in tqdm(range(len(x)), desc="export check", leave=False, disable=None):
        got = np.stack([o.reshape(-1) for o in run_clip(model, [f[None] for f in x[i].numpy()])])
        per_frame = np.abs(got - ref[i]).max(1)
        worst = max(worst, float(per_frame.max()))
        frames_off += int((per_frame > tolerance).sum())
        clips_off += int((per_frame > tolerance).any())
        argmax_equal += int(got.mean(0).argmax() == ref[i].mean(0).argmax())
        frame_argmax_equal += int((got.argmax(1) == ref[i].argmax(1)).sum())
    return {
        "clips": int(len(x)),
        "frames": int(len(x) * x.shape[1]),
        "max_abs_diff": worst,
        "tolerance": tolerance,
        "frames_beyond_tolerance": frames_off,
        "clips_beyond_tolerance": clips_off,
        "argmax_equal": argmax_equal == len(x),
        "clip_argmax_agree": argmax_equal,
        "frame_argmax_agree": frame_argmax_equal,
        "source": "qonnx_exec vs torch",
    }
