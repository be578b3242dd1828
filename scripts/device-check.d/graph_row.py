# Rows of the device-check table for a recorded (CUDA graph) training step: shears' eager JSON
# result, its graph JSON result, PyTorch's (or an empty string), the row label and the target
# ratio against PyTorch as arguments.
import json, sys
def load(text):
    try:
        return json.loads(text)
    except ValueError:
        return None
eager, graph, theirs = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
label, target = sys.argv[4], sys.argv[5]
if not graph:
    print(f"graph step|{label}|shears --graph failed (see device-check.log)|")
    raise SystemExit
line = f"graph step|{label}|{graph['step_ms']:.2f} ms ({graph['images_per_s']:.0f} img/s)"
if graph.get("replays", 0) == 0:
    line += f", not replayed: {graph.get('graph_fallback', '')[:120]}"
if eager:
    line += f" vs eager {eager['step_ms']:.2f} ms|{eager['step_ms'] / graph['step_ms']:.2f} (speed-up)"
else:
    line += "|"
if theirs:
    line += (f"\ngraph vs PyTorch|{label}|{graph['step_ms']:.2f} ms vs PyTorch "
             f"{theirs['step_ms']:.2f} ms|{theirs['step_ms'] / graph['step_ms']:.2f} (target {target})")
    gm, tm = graph.get("peak_device_mb"), theirs.get("peak_device_mb")
    if gm and tm:
        line += (f"\ngraph peak device memory|{label}|{gm:.0f} MB (graphs {graph.get('graph_device_mb', 0):.0f})"
                 f" vs PyTorch {tm:.0f} MB|{gm / tm:.2f} (target <= 1)")
print(line)
