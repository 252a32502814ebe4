/* util.c — logging, aligned allocation, clocks and peak RSS. */
#include "pst/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

int pst_log_level = 1;
static int log_console = 1;
static FILE *log_file;

void pst_log_setup(int console, FILE *file) {
  log_console = console;
  log_file = file;
}

void pst_log(int level, const char *fmt, ...) {
  if (level > pst_log_level) return;
  va_list ap;
  if (log_console) {
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  if (log_file) {
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fflush(log_file);
  }
}

pst_err pst_calloc(void **out, size_t count, size_t size, const char *what) {
  *out = NULL;
  if (count == 0 || size == 0) return PST_OK;
  if (count > SIZE_MAX / size) PST_ERR(PST_ERR_MEM, "allocation of %s overflows size_t", what);
  size_t bytes = count * size;
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, rounded);
  if (!p) PST_ERR(PST_ERR_MEM, "out of memory allocating %zu bytes for %s", bytes, what);
  memset(p, 0, rounded);
  *out = p;
  return PST_OK;
}

void pst_free(void *p) { free(p); }

pst_err pst_alloc_pages(void **out, size_t bytes, const char *what) {
  *out = NULL;
  if (bytes == 0) return PST_OK;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) PST_ERR(PST_ERR_MEM, "out of memory mapping %zu bytes for %s: %s", bytes, what, strerror(errno));
  *out = p;
  return PST_OK;
}

void pst_free_pages(void *p, size_t bytes) {
  if (p && bytes) munmap(p, bytes);
}

double pst_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t pst_peak_rss(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (size_t)ru.ru_maxrss * 1024;
}

void pst_fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t len = 0;
  buf[0] = 0;
  len += (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

pst_err pst_write_file(const char *path, const char *data, size_t n) {
  char tmp[4096 + 8];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) PST_ERR(PST_ERR_ARG, "path too long: %s", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
  int bad = fwrite(data, 1, n, f) != n;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path)) {
    const int e = errno;
    remove(tmp);
    PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(e));
  }
  return PST_OK;
}
