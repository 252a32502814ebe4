/* schedule.c — cubic sparsity schedule with warm-up and cool-down (DESIGN.md §1).
 * t = completed optimizer steps, T = total steps; all arithmetic in double. */
#include "pst/sparsity.h"

#include <math.h>

double pst_schedule_at(const pst_schedule *sch, long t, long T) {
  double wi = sch->warmup_frac * (double)T, wf = sch->cooldown_frac * (double)T;
  double tt = (double)t, TT = (double)T;
  if (tt <= wi) return sch->s_init;
  if (tt > TT - wf) return sch->s_final;
  double span = TT - (sch->warmup_frac + sch->cooldown_frac) * TT;
  double r = 1.0 - (tt - wi) / span;
  return sch->s_final + (sch->s_init - sch->s_final) * pow(r, 3.0); /* pow as Python's ** */
}
