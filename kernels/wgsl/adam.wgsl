// The fused Adam/AdamW step over fp32 p, g, m, v (and v_max with amsgrad), one pass per element:
// the same formula, order and scalars as kernels/wasm/adam.ts (see adamStepScalars in
// src/rules/adam.ts), so the two backends round alike.

struct Scalars {
  gradSign: f32,
  decay: f32,
  l2: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  invSqrtBiasCorrection2: f32,
  eps: f32,
  negStepSize: f32,
  count: u32,
  amsgrad: u32,
  rowLength: u32, // invocations per row of the 2-D dispatch (workgroups in x × 256)
}

@group(0) @binding(0) var<uniform> s: Scalars;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> vmax: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x + id.y * s.rowLength;
  if (i >= s.count) {
    return;
  }
  // AdamW: θ ← θ·(1 − η·λ)   (decay = 1 for Adam)
  let theta = p[i] * s.decay;
  // g ← −∇ when maximizing; Adam's coupled L2: g ← g + λ·θ   (l2 = 0 for AdamW)
  let gi = g[i] * s.gradSign + s.l2 * theta;
  // m ← m + (1 − β1)·(g − m);  v ← β2·v + (1 − β2)·g·g
  let m0 = m[i];
  let mi = m0 + s.oneMinusBeta1 * (gi - m0);
  let vi = v[i] * s.beta2 + (s.oneMinusBeta2 * gi) * gi;
  m[i] = mi;
  v[i] = vi;
  var vUsed = vi;
  if (s.amsgrad != 0u) {
    vUsed = max(vmax[i], vi);
    vmax[i] = vUsed;
  }
  // θ ← θ − (η/(1 − β1^t)) · m / (√v · (1/√(1 − β2^t)) + ε)
  let denom = sqrt(vUsed) * s.invSqrtBiasCorrection2 + s.eps;
  p[i] = theta + (s.negStepSize * mi) / denom;
}
