"""Read a safetensors file the way the format specifies, with numpy only, and print a JSON summary.

The `safetensors` package is not installable on this project's machines (no PyPI), so this reader
follows the format's specification independently of adamw-lab's TypeScript encoder: an 8-byte
little-endian header length, a JSON header, contiguous little-endian tensor bytes.

Usage: /usr/bin/python3 test/python/read_safetensors.py FILE
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8, "BF16": np.uint16}

with open(sys.argv[1], "rb") as f:
    raw = f.read()
(header_len,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
data = raw[8 + header_len :]
metadata = header.pop("__metadata__", {})
summary = {}
covered = 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    begin, end = info["data_offsets"]
    assert begin == covered, f"{name}: gap or overlap at {begin}"
    covered = end
    array = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
    if info["dtype"] == "BF16":
        # bfloat16 is the upper half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    array = array.reshape(info["shape"])
    summary[name] = {"dtype": info["dtype"], "shape": list(array.shape), "sum": float(np.sum(array, dtype=np.float64))}
assert covered == len(data), "trailing bytes after the last tensor"
print(json.dumps({"metadata": metadata, "tensors": summary}))
