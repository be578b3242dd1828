# Rows of the device-check table for the channel kernels: Google Benchmark JSON of
# bench_channel_ops (argv[1]), each kernel's GB/s against a device-to-device copy of the same
# shape; every result is appended as a JSON line to argv[2].
import json, sys
runs = json.load(open(sys.argv[1])).get("benchmarks", [])
copy = {}
for r in runs:
    op, backend, shape = (r["name"].split("/") + ["", ""])[:3]
    if op == "copy" and "bytes_per_second" in r:
        copy[(backend, shape)] = r["bytes_per_second"]
with open(sys.argv[2], "a") as out:
    for r in runs:
        if "bytes_per_second" not in r:
            continue
        op, backend, shape = (r["name"].split("/") + ["", ""])[:3]
        out.write(json.dumps({"engine": "shears", "bench": r["name"],
                              "gb_per_s": r["bytes_per_second"] / 1e9}) + "\n")
        if op == "copy":
            continue
        ref = copy.get((backend, shape))
        ratio = f"{r['bytes_per_second'] / ref:.2f} (target >= 0.85)" if ref else ""
        print(f"bandwidth|{op} {shape}|{r['bytes_per_second'] / 1e9:.0f} GB/s"
              + (f" vs copy {ref / 1e9:.0f} GB/s" if ref else "") + f"|{ratio}")
