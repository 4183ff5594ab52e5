// StableAdamW's per-tensor learning rate, from the workgroup sums that optimi.wgsl and
// blockwise8bit.wgsl write in their mode 1: η_t = η / max(1, √(Σ g²/max(v̂, ε²) / n)), stored at
// reduction[0] for their mode 2. One workgroup; the sum runs in float32 (the CPU kernels sum in
// float64, so η_t may differ from theirs in its last bits).

struct Scalars {
  partials: u32,          // workgroup sums at reduction[1 ..= partials]
  count: u32,             // n: the tensor's elements
  lr: f32,
}

@group(0) @binding(0) var<uniform> s: Scalars;
@group(0) @binding(1) var<storage, read_write> reduction: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lane: u32) {
  var total = 0.0;
  for (var k = lane; k < s.partials; k = k + 256u) {
    total = total + reduction[1u + k];
  }
  sums[lane] = total;
  for (var stride = 128u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (lane < stride) {
      sums[lane] = sums[lane] + sums[lane + stride];
    }
  }
  if (lane == 0u) {
    reduction[0] = s.lr / max(1.0, sqrt(sums[0] / f32(s.count)));
  }
}
