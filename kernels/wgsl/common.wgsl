// Helpers shared by the kernels (scripts/build-wasm.mjs puts this file in front of each).
//
// WGSL has no 16- or 8-bit storage, so bf16 and u8 buffers are bound as array<u32>: two bf16 or four
// u8 elements per word, little-endian, exactly as a Uint16Array or Uint8Array lays them out. Kernels
// that touch such buffers give each invocation four consecutive elements (a "quad"), so no two
// invocations ever write the same word.
requires unrestricted_pointer_parameters;

// max(a, b) that is NaN when either is, like torch.maximum: WGSL's max may return the other operand.
// The test reads the bits, so it holds even where a compiler assumes floats are never NaN.
fn maxPropagatingNan(a: f32, b: f32) -> f32 {
  let nan = ((bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u) || ((bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u);
  // a + b is NaN then (a NaN constant cannot be written: WGSL refuses NaN in constant expressions).
  return select(max(a, b), a + b, nan);
}

// The float32 value of each bf16 half of a word: element 2k in the low half, 2k + 1 in the high one.
fn bf16PairToF32(word: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

// Four bf16 elements (two words) as float32.
fn bf16QuadToF32(words: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(bf16PairToF32(words.x), bf16PairToF32(words.y));
}

// x rounded to the nearest bf16 (ties to even), as its 16-bit pattern; NaN stays a quiet NaN.
// The rows are kernels/expressions/bf16.ts's, as in kernels/wasm/common.ts.
fn f32ToBf16Bits(x: f32) -> u32 {
  let bits = bitcast<u32>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return bf16QuietNanBits(bits) & 0xffffu;
  }
  return bf16RoundedBits(bits) & 0xffffu;
}

// Four float32s rounded to bf16 and packed into two words.
fn f32QuadToBf16(x: vec4<f32>) -> vec2<u32> {
  return vec2<u32>(f32ToBf16Bits(x.x) | (f32ToBf16Bits(x.y) << 16u), f32ToBf16Bits(x.z) | (f32ToBf16Bits(x.w) << 16u));
}

// x as stored in a bf16 (isBf16) or fp32 buffer: what storing it would keep.
fn roundedTo(x: vec4<f32>, isBf16: bool) -> vec4<f32> {
  if (isBf16) {
    return bf16QuadToF32(f32QuadToBf16(x));
  }
  return x;
}

// StableAdamW's per-element term g²/max(v̂, ε²); the tensor's RMS is the square root of its mean.
// Computed as (g/√max(v̂, ε²))², which cannot overflow (g² would for |g| > 1.8e19); v̂ = +∞ gives 0.
fn stabilizationTerms(g: vec4<f32>, vHat: vec4<f32>, epsSquared: f32) -> vec4<f32> {
  return stableTerm(stableRatio(g, vHat, epsSquared));
}

// Quad q of a buffer that holds bf16 (isBf16) or fp32 elements.
fn loadQuad(buffer: ptr<storage, array<u32>, read_write>, q: u32, isBf16: bool) -> vec4<f32> {
  if (isBf16) {
    return bf16QuadToF32(vec2<u32>((*buffer)[2u * q], (*buffer)[2u * q + 1u]));
  }
  return bitcast<vec4<f32>>(vec4<u32>((*buffer)[4u * q], (*buffer)[4u * q + 1u], (*buffer)[4u * q + 2u], (*buffer)[4u * q + 3u]));
}

// Store quad q (rounded to bf16 when isBf16); returns the values as stored.
fn storeQuad(buffer: ptr<storage, array<u32>, read_write>, q: u32, x: vec4<f32>, isBf16: bool) -> vec4<f32> {
  if (isBf16) {
    let words = f32QuadToBf16(x);
    (*buffer)[2u * q] = words.x;
    (*buffer)[2u * q + 1u] = words.y;
    return bf16QuadToF32(words);
  }
  let bits = bitcast<vec4<u32>>(x);
  (*buffer)[4u * q] = bits.x;
  (*buffer)[4u * q + 1u] = bits.y;
  (*buffer)[4u * q + 2u] = bits.z;
  (*buffer)[4u * q + 3u] = bits.w;
  return x;
}

// What one dispatch covers. The store lays the tensors that share a kernel end to end in one slab
// (one set of buffers), each tensor a "segment" starting on a unit of 256 elements, so a single
// dispatch updates them all: one workgroup per unit of its window (the whole slab, or the part of it
// a binding may reach under maxStorageBufferBindingSize). `lookup[unit]` is the unit's segment, and
// `segments[k]` that segment's step scalars (its own hyperparameters, step and dtypes).
struct Window {
  firstUnit: u32,   // the window's first unit within the slab
  units: u32,       // units in the window: workgroups dispatched
  rowLength: u32,   // workgroups per row of the 2-D dispatch
  mode: u32,        // StableAdamW: 0 whole step; 1 moments and per-unit sums; 2 params with the segment's η_t
  slabUnits: u32,   // units in the whole slab: the length of each per-unit array
  partialsAt: u32,  // where the per-unit sums start in the kernel's reduction buffer
  lrAt: u32,        // where each segment's η_t is, in the same buffer
}

@group(0) @binding(0) var<uniform> window: Window;

const UNIT = 256u;

// The unit of the window that workgroup `group` covers.
fn unitInWindow(group: vec3<u32>) -> u32 {
  return group.x + group.y * window.rowLength;
}

// The index, within its tensor, of the first element of the quad that invocation `lane` of the
// window's `unit` holds (4 elements an invocation, 64 invocations a unit).
fn quadStart(unit: u32, lane: u32, tensorFirstUnit: u32) -> u32 {
  return (window.firstUnit + unit - tensorFirstUnit) * UNIT + 4u * lane;
}

// Where quad q of the window (elements 4q .. 4q + 3) reads its grad. A bf16 grad of a slab tensor
// is uploaded to the start of the tensor's fp32-sized slot in each window (gradBf16 = 1), so its quads
// count from there; a caller's packed bf16 buffer (2) and fp32 grads (0) are read in place.
fn gradQuad(q: u32, firstUnit: u32, gradBf16: u32) -> u32 {
  if (gradBf16 == 1u) {
    return q + (max(firstUnit, window.firstUnit) - window.firstUnit) * (UNIT / 4u);
  }
  return q;
}
