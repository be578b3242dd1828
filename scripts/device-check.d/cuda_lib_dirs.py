# Prints the directories that hold the CUDA libraries of PyTorch's nvidia-* wheels, one a line.
import os
try:
    import nvidia
except ImportError:
    raise SystemExit(0)
for base in list(nvidia.__path__):
    for dirpath, dirnames, filenames in os.walk(base):
        if dirpath[len(base):].count(os.sep) > 3:
            dirnames[:] = []
            continue
        if any(f.startswith("lib") and ".so" in f for f in filenames):
            print(dirpath)
