"""torch.optim.AdamW(fused=True) on CUDA, and the GPU's copy bandwidth, for bench/gpu.ts.

Usage: /usr/bin/python3 bench/torch_adamw_cuda.py SIZE [SIZE ...]
Prints one JSON object; exits 3 (printing why) when torch or CUDA is missing.
"""
import json
import statistics
import sys

try:
    import torch
except ImportError:
    print(json.dumps({"unavailable": "torch is not installed"}))
    sys.exit(3)
if not torch.cuda.is_available():
    print(json.dumps({"unavailable": f"torch {torch.__version__} sees no CUDA device"}))
    sys.exit(3)


def seconds(fn, reps):
    """Min, median and max of `reps` timings (seconds) with CUDA events, after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return {"min_s": min(times), "median_s": statistics.median(times), "max_s": max(times)}


sizes = [int(s) for s in sys.argv[1:]]
gen = torch.Generator(device="cuda").manual_seed(0)
out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "results": []}
# Copy bandwidth: bytes read + written per second by a device-to-device copy of the largest size.
n = max(sizes)
a, b = torch.empty(n, device="cuda").normal_(generator=gen), torch.empty(n, device="cuda")
out["copy_bytes_per_s"] = 8 * n / seconds(lambda: b.copy_(a), 20)["median_s"]
del a, b
for n in sizes:
    p = torch.empty(n, device="cuda").normal_(generator=gen).requires_grad_()
    p.grad = torch.empty(n, device="cuda").normal_(generator=gen)
    opt = torch.optim.AdamW([p], lr=1e-3, fused=True)
    out["results"].append({"n": n, **seconds(opt.step, 20)})
    del p, opt
    torch.cuda.empty_cache()
print(json.dumps(out))
