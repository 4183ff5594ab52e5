"""Regenerate test/oracles/bnb-dynamic-maps.json: bitsandbytes' create_dynamic_map (functional.py), run in
real PyTorch float32. Needs torch (Debian: apt-get install python3-torch).

    /usr/bin/python3 scripts/oracles/bnb_dynamic_maps.py > test/oracles/bnb-dynamic-maps.json

torch.linspace's vectorized CPU kernel rounds some entries one ulp differently from the scalar
formula, depending on the CPU's vector width, so bitsandbytes' maps themselves can differ by an ulp
between machines; the tests allow exactly that.
"""
import json

import torch


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    # As bitsandbytes/functional.py (non_sign_bits = total_bits - 1; no additional items at 8 bits).
    data = []
    non_sign_bits = total_bits - 1
    for i in range(max_exponent_bits):
        fraction_items = int(
            2 ** (i + non_sign_bits - max_exponent_bits) + 1
            if signed
            else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1
        )
        boundaries = torch.linspace(0.1, 1, fraction_items)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


print(json.dumps({
    "source": f"bitsandbytes create_dynamic_map, computed with torch {torch.__version__} float32 on CPU",
    "signed": create_dynamic_map(True).tolist(),
    "unsigned": create_dynamic_map(False).tolist(),
}))
