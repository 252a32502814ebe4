/* core.h — status codes, PETSc-style error trail, logging and small helpers.
 *
 * Every fallible function returns pst_err (0 = success). PST_ERR sets a message and
 * returns a code; PST_CHECK calls a function and, on failure, appends "file:line func"
 * to the trail and returns the same code. The trail is printed once by the caller
 * that gives up (normally main) with pst_err_print(). */
#ifndef PST_CORE_H
#define PST_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef int pst_err;

enum {
  PST_OK = 0,
  PST_ERR_ARG = 1,      /* bad argument or value (user or caller error) */
  PST_ERR_IO = 2,       /* file could not be opened, read or written */
  PST_ERR_FORMAT = 3,   /* malformed file content */
  PST_ERR_MEM = 4,      /* allocation failed */
  PST_ERR_CONFIG = 5,   /* unknown key or bad value in a config */
  PST_ERR_NUMERIC = 6,  /* NaN/Inf where a finite number is required */
  PST_ERR_INTERNAL = 7  /* broken invariant: a bug */
};

/* Set the error message (printf format) and return code from the current function. */
#define PST_ERR(code, ...)                                                      \
  do {                                                                          \
    pst_err_set((code), __FILE__, __LINE__, __func__, __VA_ARGS__);             \
    return (code);                                                              \
  } while (0)

/* Call a pst_err function; on failure add this frame to the trail and return. */
#define PST_CHECK(call)                                                         \
  do {                                                                          \
    pst_err pst_check_rc_ = (call);                                             \
    if (pst_check_rc_) {                                                        \
      pst_err_trace(__FILE__, __LINE__, __func__);                              \
      return pst_check_rc_;                                                     \
    }                                                                           \
  } while (0)

void pst_err_set(pst_err code, const char *file, int line, const char *func,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void pst_err_trace(const char *file, int line, const char *func);
/* The message of the last error (without the trail). */
const char *pst_err_message(void);
/* Print "pst: error: <message>" and, if verbose, the trail of frames; clears it. */
void pst_err_print(FILE *f, int verbose);
void pst_err_clear(void);

/* Logging: levels 0 = quiet, 1 = info (default), 2 = debug. */
extern int pst_log_level;
/* Where pst_log writes: stderr if console, and also `file` if not NULL (not owned). */
void pst_log_setup(int console, FILE *file);
void pst_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 64-byte aligned allocation, zero-filled; PST_ERR_MEM naming `what` on failure. */
pst_err pst_calloc(void **out, size_t count, size_t size, const char *what);
void pst_free(void *p);
/* Zero-filled, page-aligned memory whose pages cost nothing until written (an anonymous
 * mapping): for buffers that may stay partly untouched, such as the dense weights of the
 * linears a sparse inference model never reads. Free with pst_free_pages and the same bytes. */
pst_err pst_alloc_pages(void **out, size_t bytes, const char *what);
void pst_free_pages(void *p, size_t bytes);

/* Write n bytes to path atomically: path.tmp, then rename (a failure leaves path untouched). */
pst_err pst_write_file(const char *path, const char *data, size_t n);
/* Wall-clock seconds (monotonic). */
double pst_now(void);
/* Peak resident set size of this process in bytes (from getrusage). */
size_t pst_peak_rss(void);
/* A tensor shape as text, "[2, 3]", into buf (truncated if it does not fit; cap >= 1). */
void pst_fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

#endif
