// optimi's AdamW / StableAdamW step (src/rules/debiased.ts is the readable version; kernels/wasm/debiased.ts
// the CPU kernel; the formulas are generated from kernels/expressions/debiased.ts): debiased moments
// m̂, v̂ in fp32 or bf16, params in fp32 or bf16, optionally through a bf16 Kahan compensation c. Each invocation updates one quad of four elements, each workgroup one
// unit of 256; every tensor of the slab in one dispatch (see Window in common.wgsl).
//
// StableAdamW runs three dispatches: mode 1 updates the moments and writes each unit's sum of
// g²/max(v̂, ε²) to `reduction`; stable-rms.wgsl turns each tensor's sums into its lr/max(1, RMS);
// mode 2 updates the params with that lr. Without StableAdamW, mode 0 does the whole step in one pass.

struct Segment {
  firstUnit: u32,         // the tensor's first unit within the slab
  count: u32,             // its elements
  stepping: u32,          // 0: the param has no grad this step; leave it alone
  paramBf16: u32,
  gradBf16: u32,          // 0: fp32; 1: bf16 at the start of its fp32 slot; 2: packed bf16 (see gradQuad)
  momentsBf16: u32,
  kahan: u32,
  gradSign: f32,
  oneMinusBeta1Hat: f32,
  beta2Hat: f32,
  oneMinusBeta2Hat: f32,
  decay: f32,             // 1 − η·λ (exactly 1 without weight decay); mode 2 recomputes it from its lr
  negStepSize: f32,
  eps: f32,
  weightDecay: f32,
}

@group(0) @binding(1) var<storage, read_write> p: array<u32>;
@group(0) @binding(2) var<storage, read_write> g: array<u32>;
@group(0) @binding(3) var<storage, read_write> m: array<u32>;
@group(0) @binding(4) var<storage, read_write> v: array<u32>;
@group(0) @binding(5) var<storage, read_write> c: array<u32>;
@group(0) @binding(6) var<storage, read_write> reduction: array<f32>;
@group(0) @binding(7) var<storage, read> lookup: array<u32>;
@group(0) @binding(8) var<storage, read> segments: array<Segment>;

var<workgroup> sums: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let unit = unitInWindow(group);
  if (unit >= window.units) {
    return;
  }
  let segment = lookup[window.firstUnit + unit];
  let s = segments[segment];
  if (s.stepping == 0u) {
    return;
  }
  let q = unit * (UNIT / 4u) + lane;
  let first = quadStart(unit, lane, s.firstUnit);
  let inRange = first < s.count;
  let momentsBf16 = s.momentsBf16 != 0u;
  let paramBf16 = s.paramBf16 != 0u;
  var term = 0.0;
  if (inRange && window.mode != 2u) {
    // The moments (already debiased), stored in their dtype
    let gi = debiasedGradient(loadQuad(&g, gradQuad(q, s.firstUnit, s.gradBf16), s.gradBf16 != 0u), s.gradSign);
    storeQuad(&m, q, debiasedFirstMoment(loadQuad(&m, q, momentsBf16), s.oneMinusBeta1Hat, gi), momentsBf16);
    let vi = storeQuad(&v, q, debiasedSecondMoment(s.beta2Hat, loadQuad(&v, q, momentsBf16), s.oneMinusBeta2Hat, gi), momentsBf16);
    if (window.mode == 1u) {
      // Padding past `count` (in the tensor's last quad) may hold anything: it adds nothing.
      let inTensor = vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(s.count);
      let terms = select(vec4<f32>(0.0), stabilizationTerms(gi, vi, s.eps * s.eps), inTensor);
      term = terms.x + terms.y + terms.z + terms.w;
    }
  }
  if (window.mode == 1u) {
    // One sum per unit: a tree over the 64 invocations.
    sums[lane] = term;
    for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
      workgroupBarrier();
      if (lane < stride) {
        sums[lane] = sums[lane] + sums[lane + stride];
      }
    }
    if (lane == 0u) {
      reduction[window.partialsAt + window.firstUnit + unit] = sums[0];
    }
    return;
  }
  if (!inRange) {
    return;
  }
  var decay = s.decay;
  var negStepSize = s.negStepSize;
  if (window.mode == 2u) {
    // StableAdamW: η_t = η / max(1, RMS), and the decay uses η_t
    let lr = reduction[window.lrAt + segment];
    negStepSize = -lr;
    decay = select(1.0, 1.0 - lr * s.weightDecay, s.weightDecay != 0.0);
  }
  // θ ← θ·(1 − η_t·λ);  u = −η_t·m̂/(√v̂ + ε);  θ ← θ + u, directly or through the Kahan sum with c (bf16)
  var theta = loadQuad(&p, q, paramBf16);
  if (decay != 1.0) {
    theta = debiasedDecayedParam(theta, decay, paramBf16);
  }
  let update = debiasedParamUpdate(negStepSize, loadQuad(&m, q, momentsBf16), loadQuad(&v, q, momentsBf16), s.eps);
  if (s.kahan != 0u) {
    let ci = debiasedCompensatedUpdate(loadQuad(&c, q, true), update);
    let next = storeQuad(&p, q, debiasedKahanParam(theta, ci), paramBf16);
    storeQuad(&c, q, debiasedCompensation(ci, theta, next), true);
  } else {
    storeQuad(&p, q, debiasedNewParam(theta, update), paramBf16);
  }
}
