"""Resume adamw-lab checkpoints in PyTorch with the loader that docs/checkpoints.mdx shows, and compare
with adamw-lab's own continuation (written by run.ts). Usage: /usr/bin/python3 resume.py DIR"""
import json
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import safetensors  # noqa: F401
    reader = "safetensors " + getattr(safetensors, "__version__", "")
except ImportError:
    sys.path.insert(0, os.path.join(HERE, "standin"))
    reader = "a numpy stand-in for safetensors.safe_open (scripts/torch-resume/standin)"

# The loader exactly as the page shows it: its second Python block.
page = open(os.path.join(HERE, "..", "..", "docs", "checkpoints.mdx"), encoding="utf-8").read()
exec(re.findall(r"```python\n(.*?)```", page, re.S)[1])

directory = sys.argv[1]
results = []
for case in json.load(open(os.path.join(directory, "cases.json"))):
    params = [torch.tensor(m, dtype=torch.float32).view(*s).requires_grad_() for m, s in zip(case["mid"], case["shapes"])]
    optimizer_class = getattr(torch.optim, case["torch"])
    # Deliberately wrong hyperparameters: the loader must take them from the file.
    optimizer = optimizer_class([{"params": [p]} for p in params], lr=0.5, weight_decay=0.9)
    load_adamw_lab(optimizer, os.path.join(directory, case["file"]))  # noqa: F821 (defined by exec)
    for grads in case["grads"]:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g, dtype=torch.float32).view_as(p)
        optimizer.step()
    difference = max(float((p.detach().flatten() - torch.tensor(f)).abs().max()) for p, f in zip(params, case["final"]))
    moved = max(float((torch.tensor(f) - torch.tensor(m)).abs().max()) for f, m in zip(case["final"], case["mid"]))
    results.append({"name": case["name"], "difference": difference, "moved": moved})
print(json.dumps({"torch": torch.__version__, "reader": reader, "results": results}))
