/* replay_main.h — the replay mode shared by the fuzz targets (built with -DPST_FUZZ_MAIN):
 * a main() that feeds every named file, or every regular file of every named directory (in
 * name order), to LLVMFuzzerTestOneInput. The including file defines PST_FUZZ_NAME (its
 * corpus folder under tests/fuzz/corpus/) and a `static const char *current_input` that its
 * failure reports name. Include it last, once. */
#ifndef PST_FUZZ_REPLAY_MAIN_H
#define PST_FUZZ_REPLAY_MAIN_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Replay mode: run each named file, or each regular file of each named directory (in
 * name order). Exits non-zero if nothing was replayed; a failing input aborts. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? 2 * cap : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) abort();
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  fclose(f);
  current_input = path;
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Without arguments the committed corpus, $top_srcdir/tests/fuzz/corpus/PST_FUZZ_NAME
 * (top_srcdir defaults to "."), is replayed, so `make check` can list the program in TESTS. */
int main(int argc, char **argv) {
  char def[4096];
  char *def_argv[3] = {argv[0], def, NULL};
  if (argc < 2) {
    const char *top = getenv("top_srcdir");
    snprintf(def, sizeof def, "%s/tests/fuzz/corpus/" PST_FUZZ_NAME, top && *top ? top : ".");
    argc = 2;
    argv = def_argv;
  }
  int replayed = 0;
  for (int a = 1; a < argc; a++) {
    struct stat sb;
    if (stat(argv[a], &sb) != 0) {
      perror(argv[a]);
      return 1;
    }
    if (!S_ISDIR(sb.st_mode)) {
      if (replay_file(argv[a])) return 1;
      replayed++;
      continue;
    }
    DIR *dir = opendir(argv[a]);
    if (!dir) {
      perror(argv[a]);
      return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
      if (de->d_name[0] == '.') continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        char **nn = realloc(names, cap * sizeof *nn);
        if (!nn) abort();
        names = nn;
      }
      names[n++] = strdup(de->d_name);
    }
    closedir(dir);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", argv[a], names[i]);
      if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (replay_file(p)) return 1;
        replayed++;
      }
      free(names[i]);
    }
    free(names);
  }
  if (!replayed) {
    fprintf(stderr, "fuzz_" PST_FUZZ_NAME ": no inputs found\n");
    return 1;
  }
  printf("fuzz_" PST_FUZZ_NAME ": replayed %d inputs, no failures\n", replayed);
  return 0;
}

#endif
