// AssemblyScript: the bandwidth roofline for in-place kernels, used only by bench/cpu.ts.
// x ← x·s over n fp32 values reads and writes each cache line once, with no write-allocate read
// (the line was just read), which is the memory traffic pattern of the fused AdamW step.
// @ts-nocheck  -- AssemblyScript types.

export function scaleInPlace(x: usize, n: i32, s: f32): void {
  const vs = f32x4.splat(s);
  const end = x + ((<usize>n) << 2);
  for (let p = x; p < end; p += 16) v128.store(p, f32x4.mul(v128.load(p), vs));
}
