/* test_schedule.c — unit tests of the cubic sparsity schedule pst_schedule_at
 * (include/pst/sparsity.h, src/sparsity/schedule.c) against DESIGN.md §1:
 *
 *     t <= w_i T          : s = s_i
 *     t >  T - w_f T      : s = s_f
 *     otherwise           : s = s_f + (s_i - s_f) (1 - (t - w_i T) / (T - (w_i + w_f) T))^3
 *
 * The closed form is re-evaluated here in long double (ref_schedule) at every t in [0, T+2]
 * for T in {1, 2, 5, 7, 10, 1000}, for several (s_i, s_f) pairs (increasing, decreasing,
 * equal) and warm-up/cool-down fractions (paper's 0.1/0.3, zero, dyadic, summing to 1, only
 * one of them). Tolerance: |s - ref| <= 1e-12 (the schedule is continuous at both
 * boundaries, so the few ulp by which w_i T differs between double and long double cannot
 * move the value by more than ~1e-15). Exact (==) checks: s = s_i at t = 0 and at
 * t = w_i T exactly, s = s_f at t = T (s_i when w_i = 1: the warm-up test comes first) and
 * t > T; within 1e-15: s = s_f at t = T - w_f T (where the cubic reaches 0), hand-computed
 * midpoints (w = 0.25/0.25, T = 1000, t = 500: r = 1/2 -> s_f +
 * (s_i - s_f)/8), monotonicity (non-decreasing when s_i < s_f, non-increasing otherwise)
 * and the range [min(s_i,s_f), max(s_i,s_f)]. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "pst/sparsity.h"

#define TOL 1e-12

static long double ref_schedule(double si_, double sf_, double wi_, double wf_, long t, long T) {
  long double si = si_, sf = sf_, wi = (long double)wi_ * T, wf = (long double)wf_ * T;
  long double tt = t, TT = T;
  if (tt <= wi) return si;
  if (tt > TT - wf) return sf;
  long double r = 1.0L - (tt - wi) / (TT - wi - wf);
  return sf + (si - sf) * r * r * r;
}

static const double FRACS[][2] = {{0.1, 0.3}, {0.0, 0.0}, {0.25, 0.25}, {0.5, 0.5}, {0.0, 1.0}, {1.0, 0.0},
                                  {0.2, 0.0}, {0.0, 0.3}, {0.33, 0.33}, {0.1, 0.2}, {0.05, 0.9}};
static const double SPARS[][2] = {{0.0, 0.9}, {0.5, 0.5}, {0.9, 0.1}, {0.0, 1.0}, {0.3, 0.95}};
static const long TS[] = {1, 2, 5, 7, 10, 1000};
#define NF ((int)(sizeof FRACS / sizeof FRACS[0]))
#define NS ((int)(sizeof SPARS / sizeof SPARS[0]))
#define NT ((int)(sizeof TS / sizeof TS[0]))

static void test_closed_form_every_step(void **state) {
  (void)state;
  for (int f = 0; f < NF; f++)
    for (int s = 0; s < NS; s++)
      for (int k = 0; k < NT; k++) {
        pst_schedule sch = {SPARS[s][0], SPARS[s][1], FRACS[f][0], FRACS[f][1]};
        long T = TS[k];
        for (long t = 0; t <= T + 2; t++) {
          double got = pst_schedule_at(&sch, t, T);
          long double want = ref_schedule(sch.s_init, sch.s_final, sch.warmup_frac, sch.cooldown_frac, t, T);
          if (!(fabsl((long double)got - want) <= TOL))
            fail_msg("s_i=%g s_f=%g w_i=%g w_f=%g T=%ld t=%ld: got %.17g, want %.17Lg", sch.s_init, sch.s_final,
                     sch.warmup_frac, sch.cooldown_frac, T, t, got, want);
        }
      }
}

static void test_boundaries_exact(void **state) {
  (void)state;
  for (int f = 0; f < NF; f++)
    for (int s = 0; s < NS; s++)
      for (int k = 0; k < NT; k++) {
        pst_schedule sch = {SPARS[s][0], SPARS[s][1], FRACS[f][0], FRACS[f][1]};
        long T = TS[k];
        /* first forward pass (t = 0) uses s_i; the end and beyond use s_f (unless the
         * warm-up covers every step: "t <= w_i T" is tested first in DESIGN.md) */
        assert_true(pst_schedule_at(&sch, 0, T) == sch.s_init);
        if (sch.warmup_frac >= 1.0) {
          assert_true(pst_schedule_at(&sch, T, T) == sch.s_init);
          assert_true(pst_schedule_at(&sch, T + 1, T) == sch.s_final);
          continue;
        }
        if (!(pst_schedule_at(&sch, T, T) == sch.s_final))
          fail_msg("t = T = %ld (w_i=%g w_f=%g): %.17g != s_f %.17g", T, sch.warmup_frac, sch.cooldown_frac,
                   pst_schedule_at(&sch, T, T), sch.s_final);
        assert_true(pst_schedule_at(&sch, T + 1, T) == sch.s_final);
        assert_true(pst_schedule_at(&sch, 10 * T + 7, T) == sch.s_final);
        /* t = w_i T exactly (when that is an integer): still s_i */
        double wiT = sch.warmup_frac * (double)T;
        if (wiT == floor(wiT) && wiT <= T) {
          if (!(pst_schedule_at(&sch, (long)wiT, T) == sch.s_init))
            fail_msg("t = w_i T = %ld (T=%ld, w_i=%g): %.17g != s_i %.17g", (long)wiT, T, sch.warmup_frac,
                     pst_schedule_at(&sch, (long)wiT, T), sch.s_init);
        }
        /* t = T - w_f T exactly: s_f (the cubic is 0 there, and cool-down starts after it) */
        double cT = (double)T - sch.cooldown_frac * (double)T;
        if (cT == floor(cT) && cT >= 0 && cT > wiT) {
          double v = pst_schedule_at(&sch, (long)cT, T);
          if (!(fabs(v - sch.s_final) <= 1e-15))
            fail_msg("t = T - w_f T = %ld (T=%ld, w_f=%g): %.17g != s_f %.17g", (long)cT, T, sch.cooldown_frac, v,
                     sch.s_final);
        }
      }
}

static void test_hand_values(void **state) {
  (void)state;
  /* w_i = w_f = 1/4, T = 1000: ramp over t in (250, 750], r = 1 - (t - 250)/500 */
  pst_schedule a = {0.0, 0.8, 0.25, 0.25};
  assert_true(pst_schedule_at(&a, 250, 1000) == 0.0);
  assert_true(fabs(pst_schedule_at(&a, 500, 1000) - 0.7) <= 1e-15); /* 0.8 - 0.8/8 */
  assert_true(fabs(pst_schedule_at(&a, 375, 1000) - (0.8 - 0.8 * 27.0 / 64.0)) <= 1e-15);
  assert_true(fabs(pst_schedule_at(&a, 625, 1000) - (0.8 - 0.8 / 64.0)) <= 1e-15);
  assert_true(pst_schedule_at(&a, 750, 1000) == 0.8);
  assert_true(pst_schedule_at(&a, 751, 1000) == 0.8);
  /* strictly inside the ramp: strictly between s_i and s_f */
  double v = pst_schedule_at(&a, 251, 1000);
  assert_true(v > 0.0 && v < 0.8);
  /* paper defaults w_i = 0.1, w_f = 0.3, T = 10: warm-up t <= 1, ramp t in (1, 7], r = 1 - (t-1)/6 */
  pst_schedule p = {0.0, 0.9, 0.1, 0.3};
  assert_true(pst_schedule_at(&p, 0, 10) == 0.0);
  assert_true(pst_schedule_at(&p, 1, 10) == 0.0);
  assert_true(fabs(pst_schedule_at(&p, 4, 10) - (0.9 - 0.9 * 0.125)) <= 1e-15);
  assert_true(fabs(pst_schedule_at(&p, 2, 10) - (0.9 - 0.9 * 125.0 / 216.0)) <= 1e-15);
  assert_true(fabs(pst_schedule_at(&p, 7, 10) - 0.9) <= 1e-15);
  assert_true(pst_schedule_at(&p, 8, 10) == 0.9);
  /* T = 1: t = 0 is warm-up, t = 1 is cool-down */
  assert_true(pst_schedule_at(&p, 0, 1) == 0.0);
  assert_true(pst_schedule_at(&p, 1, 1) == 0.9);
  /* no warm-up/cool-down: pure cubic from t = 0 to T */
  pst_schedule z = {0.2, 0.6, 0.0, 0.0};
  assert_true(pst_schedule_at(&z, 0, 4) == 0.2);
  assert_true(fabs(pst_schedule_at(&z, 2, 4) - (0.6 - 0.4 / 8.0)) <= 1e-15);
  assert_true(pst_schedule_at(&z, 4, 4) == 0.6);
}

static void test_monotone_and_range(void **state) {
  (void)state;
  for (int f = 0; f < NF; f++)
    for (int s = 0; s < NS; s++)
      for (int k = 0; k < NT; k++) {
        pst_schedule sch = {SPARS[s][0], SPARS[s][1], FRACS[f][0], FRACS[f][1]};
        long T = TS[k];
        double lo = fmin(sch.s_init, sch.s_final), hi = fmax(sch.s_init, sch.s_final);
        double prev = pst_schedule_at(&sch, 0, T);
        for (long t = 1; t <= T + 2; t++) {
          double v = pst_schedule_at(&sch, t, T);
          assert_true(v >= lo && v <= hi);
          if (sch.s_init < sch.s_final && v < prev)
            fail_msg("not non-decreasing at t=%ld T=%ld w=%g/%g: %.17g < %.17g", t, T, sch.warmup_frac,
                     sch.cooldown_frac, v, prev);
          if (sch.s_init > sch.s_final && v > prev)
            fail_msg("not non-increasing at t=%ld T=%ld: %.17g > %.17g", t, T, v, prev);
          if (sch.s_init == sch.s_final) assert_true(v == sch.s_init);
          prev = v;
        }
      }
  /* a long ramp is strictly increasing inside (t in (w_i T, T - w_f T]) */
  pst_schedule sch = {0.0, 0.9, 0.1, 0.3};
  double prev = pst_schedule_at(&sch, 100, 1000);
  for (long t = 101; t <= 700; t++) {
    double v = pst_schedule_at(&sch, t, 1000);
    if (!(v > prev)) fail_msg("not strictly increasing at t=%ld: %.17g <= %.17g", t, v, prev);
    prev = v;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_closed_form_every_step),
      cmocka_unit_test(test_boundaries_exact),
      cmocka_unit_test(test_hand_values),
      cmocka_unit_test(test_monotone_and_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
