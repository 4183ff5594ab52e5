/** Where benchmarks write their results: the docs site reads them from here (committed). */
import { join } from 'node:path';

export const BENCH_RESULTS_DIR = join(__dirname, '..', 'site', 'data', 'bench');
