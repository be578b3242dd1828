#!/usr/bin/env python3
"""PyTorch side of the CPU convolution benchmark.

Times torch.nn.functional.conv2d on the layers that bench_conv measures (read from the JSON table
that `bench_conv --print_shapes` prints), forward and forward + backward (grad of input and
weight), and each backward pass alone (aten.convolution_backward with one output), in f32 on the
CPU with a fixed thread count. Reports GFLOP/s with the same FLOP counts as bench_conv (2 *
multiply-adds; each backward pass costs as much as the forward), as JSON:

    {"context": {...}, "results": [{"name": "fwd/torch/<layer>", "gflops": ..., "ms": ...}, ...]}

With --serve it instead reads layer names from stdin, one a line, and answers each with one line
of JSON holding that layer's results, so that a driver can interleave it with bench_conv layer by
layer without paying for a new Python process each time.

With --device cuda the same layers run on the GPU (each timed call is followed by
torch.cuda.synchronize(); TF32 as PyTorch's defaults: on for cuDNN convolutions).

Usage: torch_conv.py --shapes shapes.json [--device cpu|cuda] [--threads 2] [--min-time 0.2]
                     [--filter REGEX] [--out results.json | --serve]
"""

import argparse
import json
import re
import sys
import time

import torch
import torch.nn.functional as F


DEVICE = "cpu"


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def time_per_call(fn, min_time):
    """Seconds per call of fn: one warm-up call, then calls until min_time has passed."""
    fn()
    sync()
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        sync()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def bench_layer(layer, min_time):
    """Returns [(direction, seconds per call)] for one layer of the table."""
    torch.manual_seed(0)
    stride, pad = layer["stride"], layer["pad"]
    x = torch.empty(layer["n"], layer["c"], layer["h"], layer["w"],
                    device=DEVICE).uniform_(-1, 1)
    w = torch.empty(layer["k"], layer["c"], layer["kh"], layer["kw"],
                    device=DEVICE).uniform_(-1, 1)

    def forward():
        with torch.no_grad():
            F.conv2d(x, w, None, stride, pad)

    with torch.no_grad():
        grad_y = torch.empty_like(F.conv2d(x, w, None, stride, pad)).uniform_(-1, 1)
    xg = x.clone().requires_grad_(True)
    wg = w.clone().requires_grad_(True)

    def forward_backward():
        y = F.conv2d(xg, wg, None, stride, pad)
        # autograd.grad returns fresh gradients instead of accumulating into .grad, matching the
        # backend's write semantics.
        torch.autograd.grad(y, (xg, wg), grad_y)

    def backward_only(mask):
        def run():
            torch.ops.aten.convolution_backward(grad_y, x, w, None, [stride, stride], [pad, pad],
                                                [1, 1], False, [0, 0], 1, mask)
        return run

    return [("fwd", time_per_call(forward, min_time)),
            ("bwd_data", time_per_call(backward_only([True, False, False]), min_time)),
            ("bwd_weight", time_per_call(backward_only([False, True, False]), min_time)),
            ("fwdbwd", time_per_call(forward_backward, min_time))]


def layer_results(layer, min_time):
    """Result records of one layer: forward, each backward pass, and all three."""
    records = []
    for direction, seconds in bench_layer(layer, min_time):
        flops = layer["flops"] * (3 if direction == "fwdbwd" else 1)
        records.append({"name": f"{direction}/torch/{layer['name']}",
                        "gflops": flops / seconds * 1e-9, "ms": seconds * 1e3})
    return records


def context():
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": DEVICE,
            "mkldnn": torch.backends.mkldnn.is_available()}


def serve(layers, min_time):
    """Answers layer names on stdin with JSON lines on stdout until stdin closes."""
    by_name = {layer["name"]: layer for layer in layers}
    print(json.dumps({"context": context()}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        if name not in by_name:
            print(json.dumps({"error": f"unknown layer {name}"}), flush=True)
            continue
        print(json.dumps({"results": layer_results(by_name[name], min_time)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", required=True, help="JSON from `bench_conv --print_shapes`")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--filter", default="", help="regex on layer names")
    parser.add_argument("--out", help="write JSON here instead of stdout")
    parser.add_argument("--serve", action="store_true",
                        help="answer layer names read from stdin, one JSON line each")
    args = parser.parse_args()

    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    torch.set_num_threads(args.threads)
    with open(args.shapes) as f:
        layers = json.load(f)
    if args.serve:
        serve(layers, args.min_time)
        return 0
    pattern = re.compile(args.filter)
    results = []
    for layer in layers:
        if pattern.search(layer["name"]):
            results += layer_results(layer, args.min_time)
    report = {"context": context(), "results": results}
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
