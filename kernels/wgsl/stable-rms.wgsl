// StableAdamW's per-tensor learning rate, from the per-unit sums that debiased.wgsl and
// blockwise8bit.wgsl write in their mode 1: η_t = η / max(1, √(Σ g²/max(v̂, ε²) / n)), one workgroup
// per tensor of the slab, stored at reduction[lrAt + k] for their mode 2. The sum runs in float32
// (the CPU kernels sum in float64, so η_t may differ from theirs in its last bits).

struct Segment {
  firstUnit: u32,   // the tensor's first unit within the slab
  units: u32,       // its units: how many sums to add
  count: u32,       // n: its elements
  stepping: u32,    // 0: the param has no grad this step
  lr: f32,
}

@group(0) @binding(1) var<storage, read_write> reduction: array<f32>;
@group(0) @binding(2) var<storage, read> segments: array<Segment>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  // Here the window's "units" are the slab's tensors.
  let k = unitInWindow(group);
  if (k >= window.units) {
    return;
  }
  let s = segments[k];
  if (s.stepping == 0u) {
    return;
  }
  var total = 0.0;
  for (var u = lane; u < s.units; u = u + 256u) {
    total = total + reduction[window.partialsAt + s.firstUnit + u];
  }
  sums[lane] = total;
  for (var stride = 128u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (lane < stride) {
      sums[lane] = sums[lane] + sums[lane + stride];
    }
  }
  if (lane == 0u) {
    // η/max(1, rms), written so that a NaN rms (a non-finite gradient) leaves η unscaled, as optimi's
    // Python max(1, rms) does and the CPU backends do (src/rules/debiased.ts stabilizedLr).
    let rms = sqrt(sums[0] / f32(s.count));
    reduction[window.lrAt + k] = select(s.lr, s.lr / rms, rms > 1.0);
  }
}
