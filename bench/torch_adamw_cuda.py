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


def median_seconds(fn, reps):
    """Median of `reps` timings with CUDA events, after two warm-up calls."""
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
    return statistics.median(times)


sizes = [int(s) for s in sys.argv[1:]]
gen = torch.Generator(device="cuda").manual_seed(0)
out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "results": []}
# Copy bandwidth: bytes read + written per second by a device-to-device copy of the largest size.
n = max(sizes)
a, b = torch.empty(n, device="cuda").normal_(generator=gen), torch.empty(n, device="cuda")
out["copy_bytes_per_s"] = 8 * n / median_seconds(lambda: b.copy_(a), 20)
del a, b
for n in sizes:
    p = torch.empty(n, device="cuda").normal_(generator=gen).requires_grad_()
    p.grad = torch.empty(n, device="cuda").normal_(generator=gen)
    opt = torch.optim.AdamW([p], lr=1e-3, fused=True)
    out["results"].append({"n": n, "median_s": median_seconds(opt.step, 20)})
    del p, opt
    torch.cuda.empty_cache()
print(json.dumps(out))
