"""Convert MediaPipe's selfie segmentation (.tflite) into brushwork's shipped fp16 safetensors.

Run once, by a maintainer, when the weights change (users never need it):

    pip download mediapipe==0.10.14 --no-deps -d /tmp/mp      # the wheel (cp311), 36 MB
    unzip -o /tmp/mp/mediapipe-0.10.14-*.whl 'mediapipe/modules/selfie_segmentation/*.tflite' -d /tmp/mp
    pip install tflite                                         # the flatbuffer schema only
    python scripts/convert_selfie_segmentation.py /tmp/mp/mediapipe/modules/selfie_segmentation

It reads the graph with the ``tflite`` package (no mediapipe code), checks that its operators are the
ones :class:`brushwork.networks.segmentation.SelfieSegmentation` implements, in the same order, and
maps the convolutions' constants onto that module by position (each shape checked), writing
``src/brushwork/models/segmentation/<name>.safetensors`` and its NOTICE. The ``.tflite`` constants
are fp16 already, so the fp16 files hold exactly the same numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from brushwork.networks.segmentation import VARIANTS, WEIGHTS_DIR, SelfieSegmentation  # noqa: E402

SOURCE = "PyPI wheel mediapipe==0.10.14 (cp311), mediapipe/modules/selfie_segmentation/"
NOTICE = """MediaPipe selfie segmentation weights (person / background)

Files: selfie_segmentation.safetensors, selfie_segmentation_landscape.safetensors
Source: {source}{{selfie_segmentation,selfie_segmentation_landscape}}.tflite
  sha256 selfie_segmentation.tflite           {general}
  sha256 selfie_segmentation_landscape.tflite {landscape}
Converted by scripts/convert_selfie_segmentation.py (the same fp16 values, NCHW layout for PyTorch).

Copyright 2021 The MediaPipe Authors (Google LLC).
Licensed under the Apache License, Version 2.0 (the "License"); you may not use these files except in
compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the License is
distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or
implied. See the License for the specific language governing permissions and limitations under the
License. Model card: "MediaPipe Selfie Segmentation" (Google, 2021).
"""
#: The graph's weight-carrying operators, in order; everything else is checked against ALLOWED.
CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "CUSTOM"}
ALLOWED = CONV_OPS | {"DEQUANTIZE", "HARD_SWISH", "RELU", "AVERAGE_POOL_2D", "MEAN", "LOGISTIC", "MUL", "ADD",
                      "RESIZE_BILINEAR"}


def _constant(model, graph, index: int, dequantized: dict[int, int]) -> np.ndarray:
    index = dequantized.get(index, index)
    tensor = graph.Tensors(index)
    data = model.Buffers(tensor.Buffer()).DataAsNumpy()
    import tflite

    dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}[tensor.Type()]
    return np.frombuffer(data.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy())


def read_convolutions(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(operator, weight, bias) of every convolution of the graph, in the order it runs them."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    dequantized: dict[int, int] = {}
    convs = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if name not in ALLOWED:
            raise SystemExit(f"{path.name}: operator {k} is {name}, which the PyTorch port does not have")
        if name == "DEQUANTIZE":
            dequantized[op.Outputs(0)] = op.Inputs(0)
        elif name in CONV_OPS:
            if name == "CUSTOM" and code.CustomCode() != b"Convolution2DTransposeBias":
                raise SystemExit(f"{path.name}: unknown custom operator {code.CustomCode()!r}")
            weight = _constant(model, graph, op.Inputs(1), dequantized)
            bias = _constant(model, graph, op.Inputs(2), dequantized)
            convs.append((name, weight, bias))
    return convs


def to_torch(name: str, weight: np.ndarray, module) -> torch.Tensor:
    """TFLite layouts -> PyTorch: conv OHWI -> OIHW; depthwise 1HWC -> C1HW; transposed OHWI -> IOHW."""
    w = torch.from_numpy(weight.astype(np.float32))
    if name == "CONV_2D":
        w = w.permute(0, 3, 1, 2)
    elif name == "DEPTHWISE_CONV_2D":
        w = w[0].permute(2, 0, 1)[:, None]
    else:
        w = w.permute(3, 0, 1, 2)
    if tuple(w.shape) != tuple(module.weight.shape):
        raise SystemExit(f"shape mismatch: {name} {tuple(w.shape)} vs {type(module).__name__} "
                         f"{tuple(module.weight.shape)}")
    return w


def convert(tflite_path: Path) -> dict[str, torch.Tensor]:
    net = SelfieSegmentation()
    modules = net.convs()
    convs = read_convolutions(tflite_path)
    if len(convs) != len(modules):
        raise SystemExit(f"{tflite_path.name}: {len(convs)} convolutions, the port has {len(modules)}")
    with torch.no_grad():
        for (name, weight, bias), module in zip(convs, modules):
            module.weight.copy_(to_torch(name, weight, module))
            module.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return {k: v.half().contiguous() for k, v in net.state_dict().items()}


def main() -> None:
    from safetensors.torch import save_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder holding the two .tflite files")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for variant, (file, h, w) in VARIANTS.items():
        source = args.folder / (Path(file).stem + ".tflite")
        digests[variant] = hashlib.sha256(source.read_bytes()).hexdigest()
        state = convert(source)
        meta = {"source": SOURCE + source.name, "source_sha256": digests[variant], "license": "Apache-2.0",
                "input": f"{h}x{w} RGB [0,1]", "converted_by": "scripts/convert_selfie_segmentation.py"}
        save_file(state, str(args.out / file), metadata=meta)
        print(f"wrote {args.out / file} ({sum(v.numel() for v in state.values())} parameters)")
    (args.out / "NOTICE").write_text(NOTICE.format(source=SOURCE, **digests))


if __name__ == "__main__":
    main()
