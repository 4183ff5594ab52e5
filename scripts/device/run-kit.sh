#!/usr/bin/env bash
# Runs the device kit (build/device-kit.tar.xz, from `npm run device:kit`) on a machine without Node:
# bench:gpu, the WebGPU parity cases and torch's AdamW(fused=True), each on its own time budget, so
# one that fails or runs long leaves the others their results. Everything lands in $OUT:
#   gpu.json (bench:gpu's results, torch's merged in), parity.json, torch.json, one .log per part, summary.txt.
# Usage: OUT=dir bash scripts/device/run-kit.sh [--sizes=1M,16M,256M] [--kit=PATH]
# The Vulkan driver: VK_ICD_FILENAMES or VK_DRIVER_FILES when set (SwiftShader for a rehearsal), else
# NVIDIA's ICD wherever the driver put it, else the loader's own search.
set -u
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${OUT:?set OUT to the folder that receives the results}
sizes=1M,16M,256M
kit=$repo/build/device-kit.tar.xz
for arg in "$@"; do
  case $arg in
    --sizes=*) sizes=${arg#--sizes=} ;;
    --kit=*) kit=${arg#--kit=} ;;
    *) echo "run-kit.sh: unknown argument '$arg' (allowed: --sizes=LIST, --kit=PATH)" >&2; exit 2 ;;
  esac
done
# Seconds each part may run: 8 minutes in all at most, under the device tool's 600 s a command.
bench_budget=${BENCH_BUDGET_S:-240} bench_retry_budget=${BENCH_RETRY_BUDGET_S:-90} parity_budget=${PARITY_BUDGET_S:-90} torch_budget=${TORCH_BUDGET_S:-60}
mkdir -p "$out"
summary=$out/summary.txt
note() { echo "$*" | tee -a "$summary"; }
: >"$summary"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS
# tar needs xz for -J; Python's lzma module unpacks it where xz is missing.
if command -v xz >/dev/null; then tar -C "$work" -xJf "$kit"; else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$kit" "$work"; fi \
  || { note "kit: could not unpack $kit"; exit 1; }
note "kit: $(du -b "$kit" | cut -f1) bytes, unpacked in $((SECONDS - started)) s: $(tr -d '\n ' <"$work/KIT.json")"
node=$work/bin/node
export LD_LIBRARY_PATH=$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# dawn.node needs libstdc++ from GCC 12 or later; an older system one gets the kit's.
if ! "$node" -e "require('$work/node_modules/webgpu/dist/linux-x64/dawn.node')" 2>"$work/loader.err"; then
  export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$work/fallback-lib
  note "kit: the system libstdc++ could not load dawn.node ($(head -c 300 "$work/loader.err")); using the kit's"
fi
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia*.json /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
  done
  # A container may have NVIDIA's driver library but not its ICD file: describe it ourselves.
  if [ -z "${VK_DRIVER_FILES:-}" ] && ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia\.so\.0'; then
    echo '{"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.3"}}' >"$work/nvidia_icd.json"
    export VK_DRIVER_FILES=$work/nvidia_icd.json
  fi
fi
note "vulkan: loader $work/lib/libvulkan.so.1, driver ${VK_ICD_FILENAMES:-${VK_DRIVER_FILES:-none set, so the loader searches}}"
command -v nvidia-smi >/dev/null && note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"

# Part 1: the WebGPU parity cases.
note "parity (at most $parity_budget s)"
timeout -k 10 "$parity_budget" "$node" "$work/device/parity.cjs" "$out/parity.json" "$repo/test/oracles/torch-adamw.json" >"$out/parity.log" 2>&1
note "parity: exit $? after $((SECONDS - started)) s in all; $(tail -n 1 "$out/parity.log")"

# Part 2: torch.optim.AdamW(fused=True) from the machine's own PyTorch, at the same sizes.
elements() { # 16M -> 16777216
  local s=$1
  case $s in *[mM]) echo $(( ${s%?} << 20 )) ;; *[kK]) echo $(( ${s%?} << 10 )) ;; *) echo "$s" ;; esac
}
python=
for p in python3 /usr/bin/python3 python; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then python=$p; break; fi
done
if [ -n "$python" ]; then
  note "torch: $python (at most $torch_budget s)"
  IFS=, read -ra list <<<"$sizes"
  counts=(); for s in "${list[@]}"; do counts+=("$(elements "$s")"); done
  timeout -k 10 "$torch_budget" "$python" "$work/bench/torch_adamw_cuda.py" "${counts[@]}" >"$out/torch.json" 2>"$out/torch.log"
  note "torch: exit $? after $((SECONDS - started)) s in all"
else
  note "torch: no python3 here imports torch with CUDA; not measured"
fi

# Part 3: bench:gpu at every size; if it fails or runs out of time, again without the largest.
results=$work/site/data/bench/gpu.json
bench() {
  local list=$1 budget=$2
  note "bench:gpu --sizes=$list (at most $budget s)"
  rm -f "$results"
  timeout -k 10 "$budget" "$node" "$work/bench/gpu.cjs" "--sizes=$list" >>"$out/gpu.log" 2>&1
  local rc=$?
  note "bench:gpu --sizes=$list: exit $rc after $((SECONDS - started)) s in all"
  [ $rc -eq 0 ] && [ -f "$results" ] && measured=$list
}
measured=
if ! bench "$sizes" "$bench_budget" && [ "${sizes%,*}" != "$sizes" ]; then bench "${sizes%,*}" "$bench_retry_budget"; fi

# gpu.json says what ran it (this script, from which kit) and, where bench:gpu's /usr/bin/python3 had no
# CUDA torch, carries part 2's figures.
if [ -n "$measured" ]; then
  "$node" -e '
    const fs = require("fs"); const [results, kit, torch, command, out] = process.argv.slice(1);
    const g = JSON.parse(fs.readFileSync(results, "utf8"));
    g.command = command; g.kit = JSON.parse(fs.readFileSync(kit, "utf8"));
    let t; try { t = JSON.parse(fs.readFileSync(torch, "utf8")); } catch { t = undefined; }
    if (!("results" in g.torch) && t && "results" in t) { g.torch = t; console.log("torch: its figures merged into gpu.json"); }
    fs.writeFileSync(out, JSON.stringify(g, null, 2) + "\n");
  ' "$results" "$work/KIT.json" "$out/torch.json" "bash scripts/device/run-kit.sh --sizes=$measured" "$out/gpu.json" | tee -a "$summary"
fi
note "done in $((SECONDS - started)) s"
