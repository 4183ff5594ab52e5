// AdamW with bitsandbytes' 8-bit blockwise state (src/rules/blockwise8bit.ts is the readable version;
// kernels/wasm/blockwise8bit.ts the CPU kernel, whose tables this follows; the per-element formulas
// are generated from kernels/expressions/blockwise8bit.ts). One
// workgroup per block of 256 elements, one quad of four elements per invocation: dequantize, update m
// and v (0 where g is not finite), step the params, reduce the block's new absmax in workgroup memory,
// requantize. `shift` is diffusion-pipe's Kahan buffer (AdamW8bitKahan) in the param's dtype. A block
// is a unit of the slab, so every tensor of the slab goes in one dispatch (see Window in common.wgsl).
//
// StableAdamW: mode 1 only sums g²/max(v̂, ε²) per block into the reduction part of `absmax`;
// stable-rms.wgsl turns each tensor's sums into its lr/max(1, RMS); mode 2 is the whole step with it.

struct Segment {
  firstUnit: u32,         // the tensor's first block within the slab
  count: u32,             // its elements
  stepping: u32,          // 0: the param has no grad this step; leave it alone
  paramBf16: u32,
  gradBf16: u32,          // 0: fp32; 1: bf16 at the start of its fp32 slot; 2: packed bf16 (see gradQuad)
  kahan: u32,
  gradSign: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  decay: f32,             // 1 − η·λ
  negStepSize: f32,       // −η/(1 − β1^t)
  invSqrtBiasCorrection2: f32,
  eps: f32,
  weightDecay: f32,
  biasCorrection1: f32,   // 1 − β1^t, for mode 2's step size
  biasCorrection2: f32,   // 1 − β2^t, for v̂ in mode 1
}

@group(0) @binding(1) var<storage, read_write> p: array<u32>;
@group(0) @binding(2) var<storage, read_write> g: array<u32>;
@group(0) @binding(3) var<storage, read_write> codes1: array<u32>;
@group(0) @binding(4) var<storage, read_write> codes2: array<u32>;
// Per block of the slab: absmax1, then absmax2 (from slabUnits), then StableAdamW's sums
// (partialsAt), then each tensor's η_t (lrAt). One buffer, as a kernel may bind only 8 storage buffers.
@group(0) @binding(5) var<storage, read_write> absmax: array<f32>;
@group(0) @binding(6) var<storage, read_write> shift: array<u32>;
// Each block's segment (slabUnits entries), then both maps (256 values each, as f32 bits), then both
// quantization tables (65536 entries each), as src/backends/quantization-tables.ts builds them.
@group(0) @binding(7) var<storage, read> lookup: array<u32>;
@group(0) @binding(8) var<storage, read> segments: array<Segment>;

// Offsets of the tables after lookup's per-block part.
const SIGNED_VALUES = 0u;
const UNSIGNED_VALUES = 256u;
const SIGNED_ENTRIES = 512u;
const UNSIGNED_ENTRIES = 512u + 65536u;

// Entry i of the tables.
fn table(i: u32) -> u32 {
  return lookup[window.slabUnits + i];
}

var<workgroup> shared1: array<f32, 64>;
var<workgroup> shared2: array<f32, 64>;

// Map values of the four codes packed in `word`.
fn dequantize(word: u32, values: u32) -> vec4<f32> {
  let codes = vec4<u32>(word & 0xffu, (word >> 8u) & 0xffu, (word >> 16u) & 0xffu, word >> 24u);
  return bitcast<vec4<f32>>(vec4<u32>(table(values + codes.x), table(values + codes.y), table(values + codes.z), table(values + codes.w)));
}

// bitsandbytes' dQuantize through the table: code = (entry >> 16) + (position(x) > (entry & 0xffff)).
fn quantize(x: f32, entries: u32) -> u32 {
  let bits = bitcast<u32>(x);
  let entry = table(entries + (bits >> 16u));
  // x's position in its bucket, in value order: the low 16 bits, complemented for negative x.
  let position = (bits & 0xffffu) ^ select(0u, 0xffffu, (bits >> 31u) != 0u);
  return (entry >> 16u) + select(0u, 1u, position > (entry & 0xffffu));
}

fn quantizeQuad(x: vec4<f32>, entries: u32) -> u32 {
  return quantize(x.x, entries) | (quantize(x.y, entries) << 8u) | (quantize(x.z, entries) << 16u) | (quantize(x.w, entries) << 24u);
}

// WGSL lets compilers assume floats are finite, so finiteness is read from the bits.
fn isFinite(x: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) != vec4<u32>(0x7f800000u);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) group: vec3<u32>) {
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
  // Quads past the tensor (in its last, partial block) only take part in the reductions: WebGPU may
  // redirect an out-of-bounds write to any element of the buffer, so they must not write.
  let inTensor = first < s.count;
  let index = vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u);
  let gi = blockwise8bitGradient(loadQuad(&g, gradQuad(q, s.firstUnit, s.gradBf16), s.gradBf16 != 0u), s.gradSign);
  // Elements past `count` (padding of the tensor's last quad) and non-finite gradients: m = v = 0.
  let live = isFinite(gi) & (index < vec4<u32>(s.count));
  let absmaxBlock = window.firstUnit + unit;
  // m and v from the dequantized state
  let mNew = select(vec4<f32>(0.0), blockwise8bitFirstMoment(dequantize(codes1[q], SIGNED_VALUES), absmax[absmaxBlock], s.beta1, s.oneMinusBeta1, gi), live);
  let vNew = select(vec4<f32>(0.0), blockwise8bitSecondMoment(dequantize(codes2[q], UNSIGNED_VALUES), absmax[window.slabUnits + absmaxBlock], s.beta2, s.oneMinusBeta2, gi), live);
  // Where v overflowed float32 (a huge finite g), m and v reset to 0 and θ only decays (the step is
  // 0/(0 + ε)), so the block's absmax stays finite; its RMS term is 0 (src/rules/blockwise8bit.ts).
  let fits = isFinite(vNew);
  let m = select(vec4<f32>(0.0), mNew, fits);
  let v = select(vec4<f32>(0.0), vNew, fits);

  if (window.mode == 1u) {
    let terms = select(vec4<f32>(0.0), stabilizationTerms(gi, blockwise8bitDebiasedSecondMoment(v, s.biasCorrection2), s.eps * s.eps), live & fits);
    shared1[lane] = terms.x + terms.y + terms.z + terms.w;
    for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
      workgroupBarrier();
      if (lane < stride) {
        shared1[lane] = shared1[lane] + shared1[lane + stride];
      }
    }
    if (lane == 0u) {
      absmax[window.partialsAt + absmaxBlock] = shared1[0];
    }
    return;
  }

  var decay = s.decay;
  var negStepSize = s.negStepSize;
  if (window.mode == 2u) {
    // StableAdamW: η_t = η / max(1, RMS), used by the decay and the step alike
    let lr = absmax[window.lrAt + segment];
    decay = 1.0 - lr * s.weightDecay;
    negStepSize = -lr / s.biasCorrection1;
  }
  // Δθ = −η·λ·θ − η/(1−β1^t) · m/(√v/√(1−β2^t) + ε); elements without a live gradient keep θ (and shift)
  let paramBf16 = s.paramBf16 != 0u;
  if (inTensor) {
    let theta = loadQuad(&p, q, paramBf16);
    let decayed = blockwise8bitDecayedParam(theta, decay);
    let step = blockwise8bitStep(negStepSize, m, v, s.invSqrtBiasCorrection2, s.eps);
    if (s.kahan != 0u) {
      // shift ← shift + Δθ;  θ' = θ + shift (in θ's dtype);  shift ← shift + (θ − θ')
      let shift0 = loadQuad(&shift, q, paramBf16);
      let c = blockwise8bitShiftedUpdate(shift0, decayed, theta, step, paramBf16);
      // θ' as stored, before the store: the shift row reads it
      let next = select(theta, roundedTo(blockwise8bitKahanParam(theta, c), paramBf16), live);
      storeQuad(&p, q, next, paramBf16);
      storeQuad(&shift, q, select(shift0, blockwise8bitNewShift(c, theta, next), live), paramBf16);
    } else {
      storeQuad(&p, q, select(theta, blockwise8bitNewParam(decayed, step), live), paramBf16);
    }
  }

  // The block's new absmax: a max over the 64 invocations.
  shared1[lane] = max(max(abs(m.x), abs(m.y)), max(abs(m.z), abs(m.w)));
  shared2[lane] = max(max(abs(v.x), abs(v.y)), max(abs(v.z), abs(v.w)));
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (lane < stride) {
      shared1[lane] = max(shared1[lane], shared1[lane + stride]);
      shared2[lane] = max(shared2[lane], shared2[lane + stride]);
    }
  }
  workgroupBarrier();
  let new1 = shared1[0];
  let new2 = shared2[0];
  if (lane == 0u) {
    absmax[absmaxBlock] = new1;
    absmax[window.slabUnits + absmaxBlock] = new2;
  }
  // Requantize against the new absmax: m·(1/absmax), as the CPU kernel and bitsandbytes' __fdividef.
  // A block of zeros keeps x = m (every code then dequantizes to 0 anyway).
  let inv1 = select(1.0, 1.0 / new1, new1 > 0.0);
  let inv2 = select(1.0, 1.0 / new2, new2 > 0.0);
  if (inTensor) {
    codes1[q] = quantizeQuad(blockwise8bitNormalized(m, inv1), SIGNED_ENTRIES);
    codes2[q] = quantizeQuad(blockwise8bitNormalized(v, inv2), UNSIGNED_ENTRIES);
  }
}
