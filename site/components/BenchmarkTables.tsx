// The published benchmark results (site/data/bench/*.json, written by npm run bench,
// npm run bench:variants and npm run bench:gpu), with the machine and the command that produced them.
import React from 'react';
import { cpuBench, gpuBench, variantBench, type TimeStats } from './data';
import { useStrings } from './locale';

const STRINGS = {
  en: {
    ran: 'Ran',
    on: 'on',
    threads: 'threads',
    path: 'Path',
    params: 'Params',
    median: 'Step: median [min–max]',
    gbs: 'GB/s',
    roofline: 'of in-place roofline',
    copy: 'of copy bandwidth',
    torch: 'vs PyTorch (same machine)',
    bandwidth: 'Measured bandwidth on this machine',
    copyBw: 'copy (read + write)',
    inPlace1: 'in-place x ← x·s, 1 thread',
    inPlaceAll: 'in-place, all threads',
    torchNote: (v: string, t: number) => `PyTorch ${v}, torch.optim.AdamW on ${t} threads, same machine and run`,
    preset: 'Preset',
    bytes: 'Bytes moved/param',
    ratio: (t: string, r: string) => `8-bit step / fp32 step, ${t} thread(s): ${r}× (median [min–max] of the rounds)`,
    plainOfLimit: 'of the copy-bandwidth limit (28 B/param at copy speed; goal ≥ 0.7)',
    plainOverArena: 'plain-array step / createParam step',
    plainHow: (n: string, t: number, rounds: number) => `Plain Float32Array params, ${n} params, ${t} threads: median [min–max] over ${rounds} rounds in which a copy, the plain-array step and the createParam step alternate.`,
    nativeSkipped: 'Native peer: not measured',
    nativePeer: 'Native fused AdamW (C++, OpenMP)',
    nativeRatio: 'our step / native step (goal ≤ 1.25)',
    nativeHow: (compiler: string, flags: string, ulps: number) => `${compiler}, ${flags}. Before timing, the peer and the wasm step take the same seeded steps and agree within ${ulps} ulps. The ratio is the median [min–max] over rounds in which the native step and ours (createParam) alternate.`,
  },
  ko: {
    ran: '실행',
    on: '머신',
    threads: '스레드',
    path: '경로',
    params: '파라미터 수',
    median: '스텝: 중앙값 [최소–최대]',
    gbs: 'GB/s',
    roofline: 'in-place 루프라인 대비',
    copy: '복사 대역폭 대비',
    torch: 'PyTorch 대비(같은 머신)',
    bandwidth: '이 머신에서 측정한 대역폭',
    copyBw: '복사(읽기 + 쓰기)',
    inPlace1: 'in-place x ← x·s, 1 스레드',
    inPlaceAll: 'in-place, 모든 스레드',
    torchNote: (v: string, t: number) => `PyTorch ${v}, torch.optim.AdamW, ${t} 스레드, 같은 머신·같은 실행`,
    preset: '프리셋',
    bytes: '파라미터당 이동 바이트',
    ratio: (t: string, r: string) => `8비트 스텝 / fp32 스텝, ${t} 스레드: ${r}배 (라운드별 비율의 중앙값 [최소–최대])`,
    plainOfLimit: '복사 대역폭 한계 대비(복사 속도로 파라미터당 28 B; 목표 ≥ 0.7)',
    plainOverArena: '일반 배열 스텝 / createParam 스텝',
    plainHow: (n: string, t: number, rounds: number) => `일반 Float32Array 파라미터, 파라미터 ${n}, ${t} 스레드: 복사, 일반 배열 스텝, createParam 스텝을 번갈아 돌린 ${rounds} 라운드의 중앙값 [최소–최대]입니다.`,
    nativeSkipped: '네이티브 비교 대상: 측정하지 않음',
    nativePeer: '네이티브 융합 AdamW(C++, OpenMP)',
    nativeRatio: '우리 스텝 / 네이티브 스텝(목표 ≤ 1.25)',
    nativeHow: (compiler: string, flags: string, ulps: number) => `${compiler}, ${flags}. 시간을 재기 전에 네이티브 코드와 wasm 스텝이 같은 시드의 스텝을 밟고 ${ulps} ulp 안에서 일치함을 확인합니다. 비율은 네이티브 스텝과 우리 스텝(createParam)을 번갈아 돌린 라운드별 비율의 중앙값 [최소–최대]입니다.`,
  },
};

const ms = (seconds: number): string => `${(seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1)} ms`;

/** A timing as the tables show it: the median, then [min–max] in the median's precision. */
function Spread({ min, median, max }: TimeStats): React.ReactElement {
  const digits = median < 0.01 ? 2 : 1;
  const f = (s: number): string => (s * 1e3).toFixed(digits);
  return (
    <>
      {f(median)} ms <small>[{f(min)}–{f(max)}]</small>
    </>
  );
}

/** A ratio as the tables show it: median [min–max]. */
const ratioSpread = (r: TimeStats): string => `${r.median.toFixed(2)} [${r.min.toFixed(2)}–${r.max.toFixed(2)}]`;
const sizeLabel = (n: number): string => (n >= 1 << 20 ? `${n / (1 << 20)}M` : n.toLocaleString());

function Provenance({ command, date, cpu, node, threads }: { command: string; date: string; cpu: string; node: string; threads?: number }): React.ReactElement {
  const s = useStrings(STRINGS);
  return (
    <p>
      <small>
        {s.ran}: <code>{command}</code>, {date.replace('T', ' ').slice(0, 16)} UTC · {s.on}: {cpu}
        {threads ? `, ${threads} ${s.threads}` : ''} · Node {node}
      </small>
    </p>
  );
}

/** npm run bench: fp32 AdamW on every CPU path, against the bandwidth limits and PyTorch. */
export function CpuBenchmark(): React.ReactElement {
  const s = useStrings(STRINGS);
  const b = cpuBench;
  return (
    <>
      <Provenance command={b.command} date={b.date} cpu={b.cpu} node={b.node} threads={b.threads} />
      <table className="data-table">
        <thead>
          <tr>
            <th>{s.path}</th>
            <th className="num">{s.params}</th>
            <th className="num">{s.median}</th>
            <th className="num">ns/param</th>
            <th className="num">{s.gbs}</th>
            <th className="num">{s.roofline}</th>
            <th className="num">{s.copy}</th>
            <th className="num">{s.torch}</th>
          </tr>
        </thead>
        <tbody>
          {b.results.map((r) => (
            <tr key={`${r.path}-${r.n}`}>
              <td>{r.path}</td>
              <td className="num">{sizeLabel(r.n)}</td>
              <td className="num"><Spread min={r.minSeconds} median={r.medianSeconds} max={r.maxSeconds} /></td>
              <td className="num">{r.nsPerParam.toFixed(2)}</td>
              <td className="num">{r.gbPerSecond.toFixed(1)}</td>
              <td className="num">{r.ratioToRoofline.toFixed(2)}</td>
              <td className="num">{r.ratioToCopy.toFixed(2)}</td>
              <td className="num">{r.vsTorch === null ? '—' : `${r.vsTorch.toFixed(1)}×`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <small>
          {s.bandwidth}: {s.copyBw} {(b.bandwidth.copy / 1e9).toFixed(1)} GB/s · {s.inPlace1} {(b.bandwidth.inPlace1 / 1e9).toFixed(1)} GB/s ·{' '}
          {s.inPlaceAll} {(b.bandwidth.inPlaceAll / 1e9).toFixed(1)} GB/s
          {b.torch ? ` · ${s.torchNote(b.torch.torch, b.torch.threads)}` : ''}
        </small>
      </p>
    </>
  );
}

/** npm run bench: plain Float32Array params against the copy-bandwidth limit and against createParam. */
export function PlainArrayFigures(): React.ReactElement {
  const s = useStrings(STRINGS);
  const p = cpuBench.plainArrays;
  return (
    <>
      <p>{s.plainHow(sizeLabel(p.n), p.threads, p.rounds)}</p>
      <ul>
        <li>{s.plainOfLimit}: <strong>{ratioSpread(p.ofCopyLimit)}</strong></li>
        <li>{s.plainOverArena}: {ratioSpread(p.overCreateParam)}</li>
      </ul>
    </>
  );
}

/** npm run bench: the native C++ peer on the same sizes and threads, and our step over it. */
export function NativePeer(): React.ReactElement {
  const s = useStrings(STRINGS);
  const native = cpuBench.native;
  if ('skipped' in native) return <p><small>{s.nativeSkipped} ({native.skipped}).</small></p>;
  return (
    <>
      <table className="data-table">
        <thead>
          <tr>
            <th>{s.nativePeer}</th>
            <th className="num">{s.params}</th>
            <th className="num">{s.threads}</th>
            <th className="num">{s.median}</th>
            <th className="num">ns/param</th>
            <th className="num">{s.nativeRatio}</th>
          </tr>
        </thead>
        <tbody>
          {native.results.map((r) => (
            <tr key={`${r.n}-${r.threads}`}>
              <td>g++ -O3 -march=native -fopenmp</td>
              <td className="num">{sizeLabel(r.n)}</td>
              <td className="num">{r.threads}</td>
              <td className="num"><Spread {...r} /></td>
              <td className="num">{((r.median / r.n) * 1e9).toFixed(2)}</td>
              <td className="num">{ratioSpread(r.oursOverNative)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p><small>{s.nativeHow(native.compiler, native.flags.join(' '), native.check.maxUlps)}</small></p>
    </>
  );
}

/** npm run bench:variants: the 8-bit step against the fp32 step. */
export function VariantBenchmark(): React.ReactElement {
  const s = useStrings(STRINGS);
  const b = variantBench;
  return (
    <>
      <Provenance command={b.command} date={b.date} cpu={b.cpu} node={b.node} />
      <table className="data-table">
        <thead>
          <tr>
            <th>{s.preset}</th>
            <th className="num">{s.threads}</th>
            <th className="num">{s.median}</th>
            <th className="num">ns/param</th>
            <th className="num">{s.bytes}</th>
            <th className="num">{s.gbs}</th>
            <th className="num">{s.roofline}</th>
          </tr>
        </thead>
        <tbody>
          {b.steps.map((r) => {
            const gbs = (r.bytesPerParam * b.params) / r.seconds.median;
            return (
              <tr key={`${r.preset}-${r.threads}`}>
                <td>{r.preset}</td>
                <td className="num">{r.threads}</td>
                <td className="num"><Spread {...r.seconds} /></td>
                <td className="num">{((r.seconds.median / b.params) * 1e9).toFixed(2)}</td>
                <td className="num">{r.bytesPerParam.toFixed(2)}</td>
                <td className="num">{(gbs / 1e9).toFixed(1)}</td>
                <td className="num">{(gbs / b.rooflineBytesPerSecond).toFixed(2)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <ul>
        {Object.entries(b.eightBitOverFp32).map(([t, r]) => (
          <li key={t}>{s.ratio(t, ratioSpread(r))}</li>
        ))}
      </ul>
    </>
  );
}

/** The 16M-param figure of each CPU path, for the backend guide. */
export function BackendFigures(): React.ReactElement {
  const en = useStrings({ en: true, ko: false });
  const rows = cpuBench.results.filter((r) => r.n === 1 << 24);
  const torch = cpuBench.torch?.results.find((r) => r.n === 1 << 24);
  return (
    <>
      <table className="data-table">
        <thead>
          <tr>
            <th>{en ? 'CPU path, 16M params' : 'CPU 경로, 파라미터 16M'}</th>
            <th className="num">ns/param</th>
            <th className="num">{en ? 'of in-place roofline' : 'in-place 루프라인 대비'}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.path}>
              <td>{r.path}</td>
              <td className="num">{r.nsPerParam.toFixed(2)}</td>
              <td className="num">{r.ratioToRoofline.toFixed(2)}</td>
            </tr>
          ))}
          {torch && (
            <tr>
              <td>PyTorch {cpuBench.torch!.torch} torch.optim.AdamW, {cpuBench.torch!.threads} threads</td>
              <td className="num">{((torch.median_s / torch.n) * 1e9).toFixed(2)}</td>
              <td className="num">—</td>
            </tr>
          )}
        </tbody>
      </table>
      <p>
        <small>
          {en ? 'From ' : '출처: '}<code>{cpuBench.command}</code>, {cpuBench.date.slice(0, 10)}, {cpuBench.cpu}, {cpuBench.threads}{' '}
          {en ? 'threads. Full results on the benchmark page.' : '스레드. 전체 결과는 벤치마크 페이지에 있습니다.'}
        </small>
      </p>
    </>
  );
}

const GPU_STRINGS = {
  en: {
    swiftshader: 'No GPU took part in this run: the WebGPU adapter was SwiftShader, a CPU Vulkan driver, so these are figures of a 2-core CPU emulating a GPU, useful only to show the benchmark runs. On a GPU machine, npm run bench:gpu measures 1M, 16M and 256M params and PyTorch\'s fused AdamW on the same GPU.',
    adapter: 'WebGPU adapter',
    copy: 'device copy bandwidth (read + write)',
    webgpu: 'WebGPU step',
    kernels: 'GPUBuffer params: median [min–max]',
    host: 'with host arrays: median [min–max]',
    ofCopy: 'of copy bandwidth',
    onnx: 'ONNX Runtime step',
    provider: 'provider',
    across: 'bytes across/param',
    params: 'Params',
    median: 'Step: median [min–max]',
    torchMissing: 'PyTorch fused AdamW: not measured',
    ratio: (n: string, r: number) => `8-bit step / fp32 step, GPUBuffer params, ${n}: ${r.toFixed(2)}× (the goal: within 2× at 16M)`,
  },
  ko: {
    swiftshader: '이 실행에는 GPU가 없었습니다. WebGPU 어댑터가 CPU용 Vulkan 드라이버인 SwiftShader였으므로, 아래 수치는 2코어 CPU가 GPU를 흉내 낸 결과이며 벤치마크가 돈다는 것만 보여 줍니다. GPU 머신에서 npm run bench:gpu는 파라미터 1M·16M·256M과 같은 GPU의 PyTorch fused AdamW를 측정합니다.',
    adapter: 'WebGPU 어댑터',
    copy: '장치 복사 대역폭(읽기 + 쓰기)',
    webgpu: 'WebGPU 스텝',
    kernels: 'GPUBuffer 파라미터: 중앙값 [최소–최대]',
    host: '호스트 배열과 함께: 중앙값 [최소–최대]',
    ofCopy: '복사 대역폭 대비',
    onnx: 'ONNX Runtime 스텝',
    provider: '프로바이더',
    across: '파라미터당 오가는 바이트',
    params: '파라미터 수',
    median: '스텝: 중앙값 [최소–최대]',
    torchMissing: 'PyTorch fused AdamW: 측정하지 않음',
    ratio: (n: string, r: number) => `8비트 스텝 / fp32 스텝, GPUBuffer 파라미터, ${n}: ${r.toFixed(2)}배 (목표: 16M에서 2배 이내)`,
  },
};

/** npm run bench:gpu: the fused WGSL steps against the device's copy bandwidth, and ONNX Runtime. */
export function GpuBenchmark(): React.ReactElement {
  const s = useStrings(GPU_STRINGS);
  const b = gpuBench;
  return (
    <>
      {b.swiftshader && <div className="alert alert--warning">{s.swiftshader}</div>}
      <Provenance command={b.command} date={b.date} cpu={b.cpu} node={b.node} />
      <p>
        {s.adapter}: <code>{b.adapter}</code> · {s.copy}: {(b.copyBytesPerSecond / 1e9).toFixed(1)} GB/s
      </p>
      <table className="data-table">
        <thead>
          <tr>
            <th>{s.webgpu}</th>
            <th className="num">{s.params}</th>
            <th className="num">B/param</th>
            <th className="num">{s.kernels}</th>
            <th className="num">GB/s</th>
            <th className="num">{s.ofCopy}</th>
            <th className="num">{s.host}</th>
          </tr>
        </thead>
        <tbody>
          {b.webgpu.map((r) => (
            <tr key={`${r.preset}-${r.n}`}>
              <td>{r.preset}</td>
              <td className="num">{sizeLabel(r.n)}</td>
              <td className="num">{r.bytesPerParam.toFixed(2)}</td>
              <td className="num"><Spread min={r.kernelMinS} median={r.kernelMedianS} max={r.kernelMaxS} /></td>
              <td className="num">{r.kernelGBps.toFixed(1)}</td>
              <td className="num">{r.ratioToCopy.toFixed(2)}</td>
              <td className="num"><Spread min={r.hostStepMinS} median={r.hostStepMedianS} max={r.hostStepMaxS} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      <ul>
        {b.eightBitOverFp32.map(([n, r]) => (
          <li key={n}>{s.ratio(sizeLabel(n), r)}</li>
        ))}
      </ul>
      <table className="data-table">
        <thead>
          <tr>
            <th>{s.onnx}</th>
            <th>{s.provider}</th>
            <th className="num">{s.params}</th>
            <th className="num">{s.across}</th>
            <th className="num">{s.median}</th>
          </tr>
        </thead>
        <tbody>
          {b.onnx.map((r) => (
            <tr key={`${r.provider}-${r.preset}-${r.n}`}>
              <td>{r.preset}</td>
              <td>{r.provider}{r.provider === 'webgpu' && b.swiftshader ? ' (SwiftShader)' : ''}</td>
              <td className="num">{sizeLabel(r.n)}</td>
              <td className="num">{r.bytesAcrossPerParam.toFixed(2)}</td>
              <td className="num"><Spread min={r.minS} median={r.medianS} max={r.maxS} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {'unavailable' in b.torch ? (
        <p><small>{s.torchMissing} ({b.torch.unavailable}).</small></p>
      ) : (
        <p>
          PyTorch {b.torch.torch} AdamW(fused=True), {b.torch.device}:{' '}
          {b.torch.results.map((r) => `${sizeLabel(r.n)} ${ms(r.median_s)} [${ms(r.min_s)}–${ms(r.max_s)}] (${((28 * r.n) / r.median_s / 1e9).toFixed(0)} GB/s)`).join(' · ')}
        </p>
      )}
    </>
  );
}
