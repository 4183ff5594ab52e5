"""A stand-in for the safetensors package's `safe_open`, for machines where it cannot be installed
(this project's have no PyPI). It follows the format: an 8-byte little-endian header length, a JSON
header, little-endian tensor bytes. resume.py uses it only when `import safetensors` fails."""
import json
import struct

import numpy as np
import torch

_NUMPY = {"F32": np.float32, "I64": np.int64, "U8": np.uint8, "BF16": np.uint16}


class safe_open:
    def __init__(self, path, framework="pt"):
        with open(path, "rb") as f:
            raw = f.read()
        (length,) = struct.unpack("<Q", raw[:8])
        self._header = json.loads(raw[8 : 8 + length])
        self._metadata = self._header.pop("__metadata__", {})
        self._data = raw[8 + length :]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def metadata(self):
        return self._metadata

    def keys(self):
        return list(self._header)

    def get_tensor(self, name):
        info = self._header[name]
        begin, end = info["data_offsets"]
        array = np.frombuffer(self._data[begin:end], dtype=_NUMPY[info["dtype"]]).copy().reshape(info["shape"])
        tensor = torch.from_numpy(array)
        return tensor.view(torch.bfloat16) if info["dtype"] == "BF16" else tensor
