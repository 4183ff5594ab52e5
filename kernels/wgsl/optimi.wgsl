// optimi's AdamW / StableAdamW step (src/rules/optimi.ts is the readable version; kernels/wasm/optimi.ts
// the CPU kernel): debiased moments m̂, v̂ in fp32 or bf16, params in fp32 or bf16, optionally through
// a bf16 Kahan compensation c. Each invocation updates one quad of four elements.
//
// StableAdamW runs three dispatches: mode 1 updates the moments and writes each workgroup's sum of
// g²/max(v̂, ε²) to `reduction`; stable-rms.wgsl turns the sums into lr/max(1, RMS) at reduction[0];
// mode 2 updates the params with that lr. Without StableAdamW, mode 0 does the whole step in one pass.

struct Scalars {
  count: u32,             // elements in this window
  rowLength: u32,         // invocations per row of the 2-D dispatch
  mode: u32,              // 0: whole step; 1: moments and RMS partial sums; 2: params with reduction[0]'s lr
  partialsOffset: u32,    // where this window's workgroup sums start in `reduction` (after element 0)
  paramBf16: u32,
  gradBf16: u32,
  momentsBf16: u32,
  kahan: u32,
  gradSign: f32,
  oneMinusBeta1Hat: f32,
  beta2Hat: f32,
  oneMinusBeta2Hat: f32,
  decay: f32,             // 1 − η·λ (exactly 1 without weight decay); mode 2 recomputes it from its lr
  negLr: f32,
  eps: f32,
  weightDecay: f32,
}

@group(0) @binding(0) var<uniform> s: Scalars;
@group(0) @binding(1) var<storage, read_write> p: array<u32>;
@group(0) @binding(2) var<storage, read_write> g: array<u32>;
@group(0) @binding(3) var<storage, read_write> m: array<u32>;
@group(0) @binding(4) var<storage, read_write> v: array<u32>;
@group(0) @binding(5) var<storage, read_write> c: array<u32>;
@group(0) @binding(6) var<storage, read_write> reduction: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(local_invocation_index) lane: u32,
        @builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let q = id.x + id.y * s.rowLength;
  let inRange = q * 4u < s.count;
  let momentsBf16 = s.momentsBf16 != 0u;
  let paramBf16 = s.paramBf16 != 0u;
  var term = 0.0;
  if (inRange && s.mode != 2u) {
    // m ← m + (1 − β̂1)(g − m),  v ← β̂2·v + (1 − β̂2)·g²   (already debiased)
    let gi = loadQuad(&g, q, s.gradBf16 != 0u) * s.gradSign;
    let m0 = loadQuad(&m, q, momentsBf16);
    storeQuad(&m, q, m0 + s.oneMinusBeta1Hat * (gi - m0), momentsBf16);
    let vi = storeQuad(&v, q, s.beta2Hat * loadQuad(&v, q, momentsBf16) + (s.oneMinusBeta2Hat * gi) * gi, momentsBf16);
    if (s.mode == 1u) {
      // Padding elements past `count` have g = 0: their terms are 0.
      let terms = stabilizationTerms(gi, vi, s.eps * s.eps);
      term = terms.x + terms.y + terms.z + terms.w;
    }
  }
  if (s.mode == 1u) {
    // One sum per workgroup: a tree over the 256 invocations.
    sums[lane] = term;
    for (var stride = 128u; stride > 0u; stride = stride >> 1u) {
      workgroupBarrier();
      if (lane < stride) {
        sums[lane] = sums[lane] + sums[lane + stride];
      }
    }
    if (lane == 0u) {
      reduction[1u + s.partialsOffset + group.x + group.y * groups.x] = sums[0];
    }
    return;
  }
  if (!inRange) {
    return;
  }
  var decay = s.decay;
  var negLr = s.negLr;
  if (s.mode == 2u) {
    // StableAdamW: η_t = η / max(1, RMS), and the decay uses η_t
    let lr = reduction[0];
    negLr = -lr;
    decay = select(1.0, 1.0 - lr * s.weightDecay, s.weightDecay != 0.0);
  }
  // θ ← θ·(1 − η_t·λ);  u = −η_t·m̂/(√v̂ + ε)
  var theta = loadQuad(&p, q, paramBf16);
  if (decay != 1.0) {
    theta = roundedTo(theta * decay, paramBf16);
  }
  let update = (negLr * loadQuad(&m, q, momentsBf16)) / (sqrt(loadQuad(&v, q, momentsBf16)) + s.eps);
  if (s.kahan != 0u) {
    // c ← c + u;  θ' = θ + c;  c ← c + (θ − θ')   (c is bf16)
    let ci = roundedTo(loadQuad(&c, q, true) + update, true);
    let next = storeQuad(&p, q, theta + ci, paramBf16);
    storeQuad(&c, q, ci + (theta - next), true);
  } else {
    storeQuad(&p, q, theta + update, paramBf16);
  }
}
