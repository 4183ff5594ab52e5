"""torch.optim.AdamW step time on this machine, for bench/cpu.ts. Prints one JSON object.

Usage: /usr/bin/python3 bench/torch_adamw.py THREADS SIZE [SIZE ...]
Times are in seconds: min, median and max over the repetitions.
"""
import json
import statistics
import sys
import time

import torch

threads = int(sys.argv[1])
sizes = [int(s) for s in sys.argv[2:]]
torch.set_num_threads(threads)
gen = torch.Generator().manual_seed(0)
out = {"torch": torch.__version__, "threads": threads, "results": []}
for n in sizes:
    p = torch.randn(n, generator=gen).requires_grad_()
    p.grad = torch.randn(n, generator=gen)
    opt = torch.optim.AdamW([p], lr=1e-3)
    for _ in range(3):
        opt.step()
    reps = 15 if n <= 2_000_000 else 9
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    out["results"].append({"n": n, "min_s": min(times), "median_s": statistics.median(times), "max_s": max(times)})
print(json.dumps(out))
