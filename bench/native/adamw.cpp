// The native peer of `npm run bench`: a fused fp32 AdamW loop in C++, as DeepSpeed's CPU Adam runs it
// (one pass over p, g, m, v; OpenMP threads; SIMD), compiled by bench/native.ts with
// g++ -O3 -march=native -fopenmp. It is a ceiling to measure against, not part of the library.
//
//   adamw time N REPS        time REPS steps over N params (after 2 warm-up steps), OMP_NUM_THREADS threads;
//                            prints {"n", "threads", "min", "median", "max"} in seconds
//   adamw check IN OUT STEPS LR BETA1 BETA2 EPS WEIGHT_DECAY
//                            IN holds N fp32 params then N fp32 grads; STEPS steps from zero moments;
//                            OUT gets the params, exp_avg and exp_avg_sq (fp32), for bench/native.ts to compare
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// One AdamW step (PyTorch's order: decay first), with DeepSpeed's rounding of the denominator:
//   p ← p·(1 − ηλ)
//   m ← β1·m + (1 − β1)·g
//   v ← β2·v + (1 − β2)·g²
//   p ← p − (η / (1 − β1ᵗ)) · m / (√v · (1/√(1 − β2ᵗ)) + ε)
static void adamw_step(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, long n,
                       int step, double lr, double beta1_d, double beta2_d, double eps_d, double weight_decay) {
  // The scalars in double, rounded once to fp32, as PyTorch (Python floats) and DeepSpeed do:
  // 1 − 0.999f in fp32 would be 1.3e-5 off, a hundred ulps in v.
  const float decay = static_cast<float>(1.0 - lr * weight_decay);
  const float beta1 = static_cast<float>(beta1_d), beta2 = static_cast<float>(beta2_d), eps = static_cast<float>(eps_d);
  const float one_minus_beta1 = static_cast<float>(1.0 - beta1_d), one_minus_beta2 = static_cast<float>(1.0 - beta2_d);
  const float neg_step_size = static_cast<float>(-lr / (1.0 - std::pow(beta1_d, step)));
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(beta2_d, step)));
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < n; i++) {
    const float gi = g[i];
    const float pi = p[i] * decay;
    const float mi = beta1 * m[i] + one_minus_beta1 * gi;
    const float vi = beta2 * v[i] + one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + neg_step_size * (mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps));
  }
}

static double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static int time_steps(long n, int reps) {
  std::vector<float> p(n), g(n), m(n), v(n);
  // First touch on the threads that will use each page, as the timed loop splits it.
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    p[i] = 1.0f + 1e-3f * static_cast<float>(i % 977);
    g[i] = 1e-2f * static_cast<float>(static_cast<long>(i % 613) - 306);
    m[i] = 0.0f;
    v[i] = 0.0f;
  }
  std::vector<double> times;
  for (int r = 0; r < reps + 2; r++) {
    const double t0 = seconds_now();
    adamw_step(p.data(), g.data(), m.data(), v.data(), n, r + 1, 1e-3, 0.9, 0.999, 1e-8, 0.01);
    const double t = seconds_now() - t0;
    if (r >= 2) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  const size_t k = times.size();
  const double median = k % 2 ? times[k / 2] : (times[k / 2 - 1] + times[k / 2]) / 2;
  std::printf("{\"n\": %ld, \"threads\": %d, \"min\": %.9g, \"median\": %.9g, \"max\": %.9g, \"checksum\": %.9g}\n", n,
              omp_get_max_threads(), times.front(), median, times.back(), static_cast<double>(p[n / 2]));
  return 0;
}

static int check(const char* in_path, const char* out_path, int steps, double lr, double beta1, double beta2, double eps, double weight_decay) {
  FILE* in = std::fopen(in_path, "rb");
  if (!in) return std::fprintf(stderr, "adamw: cannot read %s\n", in_path), 1;
  std::fseek(in, 0, SEEK_END);
  const long n = std::ftell(in) / 8;
  std::fseek(in, 0, SEEK_SET);
  std::vector<float> p(n), g(n), m(n, 0.0f), v(n, 0.0f);
  const bool read = std::fread(p.data(), 4, n, in) == static_cast<size_t>(n) && std::fread(g.data(), 4, n, in) == static_cast<size_t>(n);
  std::fclose(in);
  if (!read) return std::fprintf(stderr, "adamw: short read from %s\n", in_path), 1;
  for (int t = 1; t <= steps; t++) adamw_step(p.data(), g.data(), m.data(), v.data(), n, t, lr, beta1, beta2, eps, weight_decay);
  FILE* out = std::fopen(out_path, "wb");
  if (!out) return std::fprintf(stderr, "adamw: cannot write %s\n", out_path), 1;
  std::fwrite(p.data(), 4, n, out);
  std::fwrite(m.data(), 4, n, out);
  std::fwrite(v.data(), 4, n, out);
  std::fclose(out);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "time") return time_steps(std::atol(argv[2]), std::atoi(argv[3]));
  if (argc == 10 && std::string_view(argv[1]) == "check") {
    return check(argv[2], argv[3], std::atoi(argv[4]), std::strtod(argv[5], nullptr), std::strtod(argv[6], nullptr),
                 std::strtod(argv[7], nullptr), std::strtod(argv[8], nullptr), std::strtod(argv[9], nullptr));
  }
  std::fprintf(stderr, "usage: adamw time N REPS | adamw check IN OUT STEPS LR BETA1 BETA2 EPS WEIGHT_DECAY\n");
  return 2;
}
