/* multicall.c — the one prebuilt program for the GPU machine (tests/gpu/build-prebuilt.sh):
 *   pst-gpu test_cuda_ops|test_device_step|bench_step_cuda [ARGS]
 * runs that program's main (each compiled with -Dmain=NAME_main). One binary instead of three
 * keeps the statically linked OpenBLAS and CUDA runtime once (the carried tree is size-limited).
 * A copy or link of pst-gpu named after a program runs that program too. */
#include <stdio.h>
#include <string.h>

int test_cuda_ops_main(int argc, char **argv);
int test_device_step_main(int argc, char **argv);
int bench_step_cuda_main(int argc, char **argv);

static const struct {
  const char *name;
  int (*run)(int, char **);
} PROGS[] = {
    {"test_cuda_ops", test_cuda_ops_main},
    {"test_device_step", test_device_step_main},
    {"bench_step_cuda", bench_step_cuda_main},
};

int main(int argc, char **argv) {
  const int n = (int)(sizeof PROGS / sizeof PROGS[0]);
  const char *self = strrchr(argv[0], '/');
  self = self ? self + 1 : argv[0];
  for (int i = 0; i < n; i++)
    if (!strcmp(self, PROGS[i].name)) return PROGS[i].run(argc, argv);
  if (argc >= 2)
    for (int i = 0; i < n; i++)
      if (!strcmp(argv[1], PROGS[i].name)) return PROGS[i].run(argc - 1, argv + 1);
  fprintf(stderr, "usage: %s PROGRAM [ARGS]; PROGRAM: test_cuda_ops, test_device_step, bench_step_cuda\n", argv[0]);
  return 2;
}
