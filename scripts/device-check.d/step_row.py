# One row of the device-check table for a training step: shears' JSON result, PyTorch's (or
# an empty string), the row label and the target ratio as arguments.
import json, sys
def load(text):
    try:
        return json.loads(text)
    except ValueError:
        return None
ours, theirs, label, target = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3], sys.argv[4]
if not ours:
    print(f"train step|{label}|shears failed (see device-check.log)|")
    raise SystemExit
line = f"train step|{label}|{ours['step_ms']:.2f} ms ({ours['images_per_s']:.0f} img/s)"
if theirs:
    line += f" vs PyTorch {theirs['step_ms']:.2f} ms|{theirs['step_ms'] / ours['step_ms']:.2f} (target {target})"
    om, tm = ours.get("peak_device_mb"), theirs.get("peak_device_mb")
    if om and tm:
        line += f"\npeak device memory|{label}|{om:.0f} MB vs PyTorch {tm:.0f} MB|{om / tm:.2f} (target <= 1)"
else:
    line += "|"
print(line)
