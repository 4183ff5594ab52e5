// The fused Adam/AdamW step over fp32 p, g, m, v (and v_max with amsgrad), one pass per element:
// the same rows (generated from kernels/expressions/adam.ts) and scalars as kernels/wasm/adam.ts (see adamStepScalars in
// src/rules/adam.ts), so the two backends round alike. One invocation per element, one workgroup per
// unit of 256; every tensor of the slab in one dispatch (see Window in common.wgsl).

struct Segment {
  firstUnit: u32,   // the tensor's first unit within the slab
  count: u32,       // its elements
  stepping: u32,    // 0: the param has no grad this step; leave it alone
  amsgrad: u32,
  gradSign: f32,
  decay: f32,
  l2: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  invSqrtBiasCorrection2: f32,
  eps: f32,
  negStepSize: f32,
}

@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> vmax: array<f32>;
@group(0) @binding(6) var<storage, read> lookup: array<u32>;
@group(0) @binding(7) var<storage, read> segments: array<Segment>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let unit = unitInWindow(group);
  if (unit >= window.units) {
    return;
  }
  let s = segments[lookup[window.firstUnit + unit]];
  if (s.stepping == 0u || (window.firstUnit + unit - s.firstUnit) * UNIT + lane >= s.count) {
    return;
  }
  let i = unit * UNIT + lane;
  // The formulas: the adam family's expression table (kernels/expressions/adam.ts).
  let theta = adamDecayedParam(p[i], s.decay);
  let gi = adamGradient(g[i], s.gradSign, s.l2, theta);
  let mi = adamFirstMoment(m[i], s.oneMinusBeta1, gi);
  let vi = adamSecondMoment(v[i], s.beta2, s.oneMinusBeta2, gi);
  m[i] = mi;
  v[i] = vi;
  var vUsed = vi;
  if (s.amsgrad != 0u) {
    // the denominator uses v_max
    vUsed = adamMaxSecondMoment(vmax[i], vi);
    vmax[i] = vUsed;
  }
  p[i] = adamNewParam(theta, s.negStepSize, mi, adamDenominator(vUsed, s.invSqrtBiasCorrection2, s.eps));
}
