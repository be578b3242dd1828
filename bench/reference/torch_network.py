#!/usr/bin/env python3
"""PyTorch side of scripts/bench-network: the same networks, timed and measured the same way.

Builds ResNet-56 (CIFAR, option-A shortcut) or torchvision-layout ResNet-50 in PyTorch, dense or
with the same L1-pruned widths as bench_network (half of every block's inner channels).

    torch_network.py MODEL dense|pruned BATCH STEPS [--device cpu|cuda]
runs STEPS SGD steps at BATCH (the first untimed) and prints one JSON line with the step time,
images/s, the process's peak resident memory and, on CUDA, the caching allocator's peak reserved
device memory (torch.cuda.max_memory_reserved). On CUDA, TF32 follows PyTorch's defaults, set
explicitly: off for matrix products, on for cuDNN convolutions (shears' device_options defaults).

    torch_network.py --serve [--threads 2]
reads one JSON request a line ({"model", "variant", "mode": "infer"|"train", "batch",
"min_time"}) and answers each with {"ms": mean milliseconds per iteration}, so that a driver can
interleave it with bench_network case by case in one long-lived process.
"""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, mid, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.extra:
            short = F.avg_pool2d(x, 1, self.stride)
            if self.extra:
                short = torch.cat([short, short.new_zeros(short.size(0), self.extra,
                                                          short.size(2), short.size(3))], 1)
        return F.relu(out + short)


class ResNetCifar(nn.Module):
    def __init__(self, depth, keep):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, width in enumerate([16, 32, 64]):
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(cin, int(width * keep), width, stride))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet50(keep):
    import torchvision
    model = torchvision.models.resnet50()
    if keep < 1:
        for layer in [model.layer1, model.layer2, model.layer3, model.layer4]:
            for block in layer:
                c1, c2 = block.conv1.out_channels, block.conv2.out_channels
                k1, k2 = int(c1 * keep), int(c2 * keep)
                block.conv1 = nn.Conv2d(block.conv1.in_channels, k1, 1, bias=False)
                block.bn1 = nn.BatchNorm2d(k1)
                block.conv2 = nn.Conv2d(k1, k2, 3, block.conv2.stride, 1, bias=False)
                block.bn2 = nn.BatchNorm2d(k2)
                block.conv3 = nn.Conv2d(k2, block.conv3.out_channels, 1, bias=False)
    return model


def build(name, variant):
    keep = 0.5 if variant == "pruned" else 1.0
    if name == "resnet56":
        return ResNetCifar(56, keep), (3, 32, 32)
    return resnet50(keep), (3, 224, 224)


def serve(threads):
    """Answers timing requests on stdin, one JSON line each, until stdin closes."""
    torch.set_num_threads(threads)
    models = {}
    print(json.dumps({"context": {"torch": torch.__version__,
                                  "threads": torch.get_num_threads(),
                                  "mkldnn": torch.backends.mkldnn.is_available()}}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        key = (req["model"], req["variant"])
        if key not in models:
            torch.manual_seed(1)
            models[key] = build(*key)
        model, shape = models[key]
        batch, mode = req["batch"], req["mode"]
        x = torch.empty(batch, *shape).uniform_(-1, 1)
        if mode == "infer":
            model.eval()

            def run():
                with torch.no_grad():
                    model(x)
        else:
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            y = torch.arange(batch) % 10

            def run():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        run()  # warm-up: allocation and kernel selection
        calls, start = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= req.get("min_time", 1.0):
                break
        print(json.dumps({"ms": elapsed / calls * 1e3}), flush=True)


def main():
    if "--serve" in sys.argv:
        threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
        serve(threads)
        return
    args = list(sys.argv[1:])
    device = "cpu"
    if "--device" in args:
        i = args.index("--device")
        if i + 1 >= len(args) or args[i + 1] not in ("cpu", "cuda"):
            raise SystemExit("torch_network.py: --device expects cpu or cuda")
        device = args[i + 1]
        del args[i:i + 2]
    if len(args) != 4:
        raise SystemExit("usage: torch_network.py MODEL dense|pruned BATCH STEPS [--device cpu|cuda]")
    name, variant, batch, steps = args[0], args[1], int(args[2]), int(args[3])
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("torch_network.py: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    torch.set_num_threads(2)
    model, shape = build(name, variant)
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.ones(batch, *shape, device=device)
    y = torch.ones(batch, dtype=torch.long, device=device)
    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # the first step allocates and selects kernels: not timed
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(max(steps - 1, 1)):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / max(steps - 1, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {"engine": "pytorch " + torch.__version__, "device": device, "model": name,
           "variant": variant, "batch": batch, "peak_rss_mb": round(peak, 1),
           "step_ms": round(seconds * 1000, 2), "images_per_s": round(batch / seconds, 1)}
    if device == "cuda":
        out["peak_device_mb"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
