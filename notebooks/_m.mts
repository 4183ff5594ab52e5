import { dynamicMap } from 'adamw-lab';
const S = dynamicMap(true);
const positive = Array.from(S).filter((x) => x > 0).sort((a, b) => a - b);
function exactMean(codesOf: number[], lo: number, hi: number): number {
  let sum = 0;
  for (let k = 0; k + 1 < codesOf.length; k++) {
    const a = codesOf[k], b = codesOf[k + 1], c = (a + b) / 2;
    const [l1, r1] = [Math.max(a, lo), Math.min(c, hi)];
    if (l1 < r1) sum += Math.log(r1 / l1) + a / r1 - a / l1;
    const [l2, r2] = [Math.max(c, lo), Math.min(b, hi)];
    if (l2 < r2) sum += b / l2 - b / r2 - Math.log(r2 / l2);
  }
  return sum / Math.LN10;
}
for (let i = 1; i <= 6; i++) console.log(i, exactMean(positive, 10 ** (i - 7), 10 ** (i - 6)));
