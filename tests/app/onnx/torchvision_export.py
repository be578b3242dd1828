"""Exports torchvision networks with PyTorch's ONNX exporter, as a fixture for the import test.

Usage: torchvision_export.py OUT_DIR INPUT.f32 N C H W NAME...

For each NAME (a torchvision.models constructor: resnet18, mobilenet_v2, vgg16), builds the
network with seeded random weights and batch-norm statistics moved away from their initial
values (as after training), writes OUT_DIR/NAME.onnx (eval mode, opset 13, input "input",
output "logits") and OUT_DIR/NAME.logits (raw float32: PyTorch's logits for INPUT). Runs in
the PyTorch venv of scripts/torch-venv; the exporter's `onnx` module is Debian's python3-onnx
when the venv has none.
"""
import sys

import numpy as np
import torch
import torchvision

try:
    import onnx  # noqa: F401  (PyTorch's exporter needs it)
except ImportError:
    # A venv without it: Debian's python3-onnx, behind the venv's own packages.
    sys.path.append("/usr/lib/python3/dist-packages")


def main():
    out_dir, input_path = sys.argv[1], sys.argv[2]
    shape = [int(v) for v in sys.argv[3:7]]
    x = torch.from_numpy(np.fromfile(input_path, dtype="<f4").reshape(shape))
    torch.set_num_threads(1)
    for name in sys.argv[7:]:
        torch.manual_seed(7)
        model = getattr(torchvision.models, name)(weights=None)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.3, 0.3)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.2, 1.0)
                    m.bias.uniform_(-0.2, 0.2)
        model.eval()
        with torch.no_grad():
            model(x).numpy().astype("<f4").tofile(f"{out_dir}/{name}.logits")
        torch.onnx.export(model, (x,), f"{out_dir}/{name}.onnx", input_names=["input"],
                          output_names=["logits"], opset_version=13, dynamo=False)


if __name__ == "__main__":
    main()
