/* TAP test of lib/core: Philox known answers, stream purity, uniformity,
 * ownership ranges, error records. */
#include <math.h>
#include <string.h>

#include "eloss/core.h"
#include "tap.h"

static int philox_matches(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                          uint32_t k1, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  const uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1};
  uint32_t out[4];
  core_philox4x32(key, ctr, out);
  return out[0] == r0 && out[1] == r1 && out[2] == r2 && out[3] == r3;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(14);

  /* Known answers: Random123 tests/kat_vectors, "philox4x32 10" lines
   * (counter[4], key[2], result[4]). */
  tap_ok(philox_matches(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8),
         "Philox4x32-10 known answer, zero counter and key");
  tap_ok(philox_matches(~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd),
         "Philox4x32-10 known answer, all-ones counter and key");
  tap_ok(philox_matches(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
                        0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1),
         "Philox4x32-10 known answer, pi digits");

  /* A stream is a pure function of (seed, purpose, index). */
  core_rng a, b, c;
  core_rng_init(&a, 2385, CORE_PURPOSE_TEST, 17);
  for (int i = 0; i < 1001; ++i) core_rng_u32(&a);
  core_rng saved = a;
  uint64_t after_a = core_rng_u64(&a);
  uint64_t after_saved = core_rng_u64(&saved);
  core_rng_init(&b, 2385, CORE_PURPOSE_TEST, 17);
  for (int i = 0; i < 1001; ++i) core_rng_u32(&b);
  tap_ok(after_a == after_saved && core_rng_u64(&b) == after_a,
         "copying the struct saves the stream; re-initialising replays it");
  core_rng_init(&a, 2385, CORE_PURPOSE_TEST, 17);
  core_rng_init(&b, 2385, CORE_PURPOSE_TEST, 18);
  core_rng_init(&c, 2385, CORE_PURPOSE_EDGES, 17);
  uint64_t xa = core_rng_u64(&a), xb = core_rng_u64(&b), xc = core_rng_u64(&c);
  core_rng_init(&b, 2386, CORE_PURPOSE_TEST, 17);
  tap_ok(xa != xb && xa != xc && xb != xc && core_rng_u64(&b) != xa,
         "index, purpose and seed each change the stream");

  /* Seeking: word 4001 of a stream, reached by seek or by drawing. */
  core_rng_init(&a, 31, CORE_PURPOSE_TEST, 5);
  for (int i = 0; i < 4001; ++i) core_rng_u32(&a);
  uint32_t drawn = core_rng_u32(&a), next = core_rng_u32(&a);
  core_rng_init(&b, 31, CORE_PURPOSE_TEST, 5);
  core_rng_seek(&b, 4001);
  uint32_t sought = core_rng_u32(&b);
  tap_ok(drawn == sought && core_rng_u32(&b) == next, "core_rng_seek(4001) lands on the 4001st word");

  /* Uniformity: chi-square over 64 bins of 640000 draws, 63 degrees of
   * freedom; 110 is beyond the 99.99th percentile. */
  enum { BINS = 64, DRAWS = 640000 };
  long hist[BINS] = {0};
  core_rng_init(&a, 7, CORE_PURPOSE_TEST, 0);
  double sum = 0, sum2 = 0;
  for (int i = 0; i < DRAWS; ++i) {
    double u = core_rng_uniform(&a);
    hist[(int)(u * BINS)]++;
    sum += u, sum2 += u * u;
  }
  double chi2 = 0, expect = (double)DRAWS / BINS;
  for (int i = 0; i < BINS; ++i) chi2 += (hist[i] - expect) * (hist[i] - expect) / expect;
  tap_ok(chi2 < 110, "uniform draws pass chi-square over 64 bins (chi2 = %.1f, 63 dof)", chi2);
  double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
  tap_ok(fabs(mean - 0.5) < 4 * sqrt(1.0 / 12 / DRAWS) && fabs(var - 1.0 / 12) < 1e-3,
         "uniform mean %.5f and variance %.5f", mean, var);

  /* Normal deviates: mean 0 and variance 1 within 5 sigma. */
  core_rng_init(&a, 11, CORE_PURPOSE_TEST, 3);
  sum = sum2 = 0;
  for (int i = 0; i < 200000; ++i) {
    double z = core_rng_normal(&a);
    sum += z, sum2 += z * z;
  }
  mean = sum / 200000, var = sum2 / 200000 - mean * mean;
  tap_ok(fabs(mean) < 5 / sqrt(200000.0) && fabs(var - 1) < 5 * sqrt(2 / 200000.0),
         "normal mean %.5f and variance %.5f", mean, var);

  /* core_rng_below stays in range and hits every value of a small range. */
  int seen[7] = {0}, in_range = 1;
  for (int i = 0; i < 7000; ++i) {
    uint64_t v = core_rng_below(&a, 7);
    if (v >= 7) in_range = 0;
    else seen[v]++;
  }
  int all_hit = 1;
  for (int i = 0; i < 7; ++i) all_hit &= seen[i] > 800;
  tap_ok(in_range && all_hit, "core_rng_below(7) stays in range and covers it evenly");

  /* Ownership ranges tile [0, n) in rank order. */
  int tiles = 1;
  for (int64_t n = 0; n < 40; ++n)
    for (int size = 1; size <= 6; ++size) {
      int64_t next = 0;
      for (int r = 0; r < size; ++r) {
        int64_t ln, ls;
        core_partition(n, size, r, &ln, &ls);
        if (ls != next || ln < n / size || ln > n / size + 1) tiles = 0;
        next = ls + ln;
      }
      if (next != n) tiles = 0;
    }
  tap_ok(tiles, "core_partition tiles [0, n) for n < 40 and 1..6 ranks");

  /* Error records: message kept, status returned, agreement on one rank. */
  core_status st = CORE_ERROR(CORE_ERR_FORMAT, "%s: bad header", "x.npy");
  tap_ok(st == CORE_ERR_FORMAT && !strcmp(core_error_message(), "x.npy: bad header") &&
             strstr(core_error_origin(), "test_core.c"),
         "CORE_ERROR records the message and its origin");
  tap_ok(core_agree(MPI_COMM_WORLD, st) == CORE_ERR_FORMAT && core_agree(MPI_COMM_WORLD, CORE_OK) == CORE_OK,
         "core_agree returns the failing status and success otherwise");

  /* What a refused resume names: a changed value, an option only this run
   * has (newer than the file), an option only the file has, no difference. */
  char what[128], left[16] = "untouched";
  const int d1 = core_options_difference("-a 1 -b 2 -c 3", "-a 1 -b 5 -c 3", what, sizeof what);
  const int ok1 = d1 && !strcmp(what, "-b 5 (the file has 2)");
  const int d2 = core_options_difference("-a 1 -b 2", "-a 1 -b 2 -conv winograd", what, sizeof what);
  const int ok2 = d2 && !strcmp(what, "-conv winograd (the file has no -conv)");
  const int d3 = core_options_difference("-a 1 -b 2 -conv winograd", "-a 1 -b 2", what, sizeof what);
  const int ok3 = d3 && !strcmp(what, "no -conv (the file has -conv winograd)");
  const int d4 = core_options_difference("-a 1 -b 2", "-a 1 -b 2", left, sizeof left);
  /* An option in the middle of one line only: named, not the words after it. */
  const int d5 = core_options_difference("-a 1 -b 2 -c 3", "-a 1 -v crc32:7 -b 2 -c 3", what, sizeof what);
  const int ok5 = d5 && !strcmp(what, "-v crc32:7 (the file has no -v)");
  const int d6 = core_options_difference("-a 1 -v crc32:7 -b 2", "-a 1 -b 2", what, sizeof what);
  const int ok6 = d6 && !strcmp(what, "no -v (the file has -v crc32:7)");
  const int d7 = core_options_difference("-h0 -5 -f -b 2", "-h0 -4 -f -b 2", what, sizeof what);
  const int ok7 = d7 && !strcmp(what, "-h0 -4 (the file has -5)");
  tap_ok(ok1 && ok2 && ok3 && !d4 && !strcmp(left, "untouched") && ok5 && ok6 && ok7,
         "core_options_difference names a changed value, an option new in this run, one only the file has, by name");
  MPI_Finalize();
  return tap_done();
}
