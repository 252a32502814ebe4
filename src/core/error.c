/* error.c — the error message and frame trail behind PST_ERR / PST_CHECK.
 * One trail per thread; errors are raised on the calling thread only. */
#include "pst/core.h"

#include <stdarg.h>
#include <string.h>

#define PST_TRAIL_MAX 32

static _Thread_local char err_msg[1024];
static _Thread_local char err_trail[PST_TRAIL_MAX][160];
static _Thread_local int err_depth;

void pst_err_set(pst_err code, const char *file, int line, const char *func,
                 const char *fmt, ...) {
  (void)code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err_msg, sizeof err_msg, fmt, ap);
  va_end(ap);
  err_depth = 0;
  pst_err_trace(file, line, func);
}

void pst_err_trace(const char *file, int line, const char *func) {
  if (err_depth < PST_TRAIL_MAX)
    snprintf(err_trail[err_depth++], sizeof err_trail[0], "%s:%d %s()", file, line, func);
}

const char *pst_err_message(void) { return err_msg; }

void pst_err_print(FILE *f, int verbose) {
  fprintf(f, "pst: error: %s\n", err_msg[0] ? err_msg : "(no message)");
  if (verbose)
    for (int i = 0; i < err_depth; i++) fprintf(f, "  at %s\n", err_trail[i]);
  pst_err_clear();
}

void pst_err_clear(void) {
  err_msg[0] = 0;
  err_depth = 0;
}
