#!/bin/sh
# build-prebuilt.sh — build the GPU programs HERE (a machine with the CUDA toolkit and pst's Debian
# build dependencies) as nearly self-contained programs for a GPU machine that has only the CUDA
# toolkit and driver: OpenBLAS (OpenMP build), libgomp, inih, jansson, libstdc++ and the CUDA
# runtime are linked statically; only libcublas.so.13 (+ libcublasLt) and glibc come from the
# GPU machine. No MPI: the programs run as one process and tests/gpu/dist_stub.c stands in for
# the dp collectives (never called with dist = NULL). Output, in tests/gpu/prebuilt/ (ignored by
# git: pass `carry: ["tests/gpu/prebuilt"]` to the device tool) one multi-call program, pst-gpu
# (tests/gpu/multicall.c; one binary keeps the static OpenBLAS and CUDA runtime once: the carried
# tree is limited to 64 MiB):
#   pst-gpu test_cuda_ops ...     the op-level parity test (tests/gpu/test_cuda_ops.c)
#   pst-gpu test_device_step ...  the on-device training step against the CPU trainer (issue 7)
#   pst-gpu bench_step_cuda ...   the device step benchmark (bench/bench_step_cuda.c)
# tests/gpu/run.sh uses it when present.
#   CUDA=/usr/local/cuda  CUDA_ARCH=sm_90  NVCC_CCBIN=  (environment overrides)
set -eu
cd "$(dirname "$0")/../.."
CUDA=${CUDA:-/usr/local/cuda}
ARCH=${CUDA_ARCH:-sm_90}
NVCC="$CUDA/bin/nvcc"
[ -x "$NVCC" ] || { echo "build-prebuilt: no $NVCC" >&2; exit 1; }
CCBIN=${NVCC_CCBIN:+-ccbin $NVCC_CCBIN}
OUTDIR=tests/gpu/prebuilt
OBJ=$OUTDIR/obj
rm -rf "$OUTDIR"
mkdir -p "$OBJ"
MA=$(gcc -print-multiarch)
BLASDIR=/usr/lib/$MA/openblas-openmp
# the same flags as Makefile.am's AM_CFLAGS (gcc = what mpicc wraps; no MPI code is needed here)
CFLAGS="-std=c11 -O3 -g -Wall -Wextra -Werror -fopenmp -Iinclude -I. -D_GNU_SOURCE -I/usr/include/$MA/openblas-openmp"
NVFLAGS="$CCBIN -arch=$ARCH -std=c++17 -O3 -g -fmad=false -Xcompiler -Wall,-Wextra,-Werror,-ffp-contract=off -Iinclude"
for f in src/kernels/cuda/*.cu; do
  "$NVCC" $NVFLAGS -c "$f" -o "$OBJ/$(basename "$f" .cu).cu.o"
done
# the library part: every object the three programs may need goes into one archive, so each
# program pulls only what it uses
for f in src/core/error.c src/core/util.c src/core/blas.c src/core/params.c src/core/rng.c src/core/config.c \
         src/kernels/cpu/*.c src/sparsity/topk.c src/sparsity/topk_shard.c src/sparsity/schedule.c \
         src/sparsity/linear.c src/sparsity/methods.c src/model/model.c src/model/block.c src/model/pass.c \
         src/model/device.c src/train/adamw.c src/train/trainer.c src/io/safetensors.c src/io/jsonkind.c src/data/idsfile.c \
         tests/gpu/dist_stub.c; do
  # safetensors.c: -O2 as make builds it (configure's CFLAGS=-O2 comes after AM_CFLAGS' -O3);
  # at -O3 gcc 12 reports a false maybe-uninitialized in its writer, which no program here uses
  case "$f" in src/io/safetensors.c) extra=-O2 ;; *) extra= ;; esac
  gcc $CFLAGS $extra -c "$f" -o "$OBJ/$(basename "$f" .c).o"
done
ar rcs "$OUTDIR/libpstgpu.a" "$OBJ"/*.o
MAIN=$OUTDIR/main
mkdir -p "$MAIN"
for f in tests/gpu/test_cuda_ops.c tests/gpu/test_device_step.c bench/bench_step_cuda.c; do
  b=$(basename "$f" .c)
  gcc $CFLAGS -Dmain="${b}_main" -c "$f" -o "$MAIN/$b.o"
done
gcc $CFLAGS -c tests/gpu/multicall.c -o "$MAIN/multicall.o"
GOMP=$(gcc -print-file-name=libgomp.a)
gcc -o "$OUTDIR/pst-gpu" "$MAIN"/*.o "$OUTDIR/libpstgpu.a" "$BLASDIR/libopenblas.a" "$GOMP" \
  "/usr/lib/$MA/libinih.a" "/usr/lib/$MA/libjansson.a" -L"$CUDA/lib64" -Wl,-rpath,"$CUDA/lib64" -lcublas \
  -lcudart_static -static-libstdc++ -static-libgcc -lstdc++ -lgfortran -lpthread -ldl -lrt -lm
# libgfortran (OpenBLAS's LAPACK part) is dynamic in Debian: ship it beside the program if used
mkdir -p "$OUTDIR/lib"
for l in $(ldd "$OUTDIR/pst-gpu" | awk '/=> \// {print $3}'); do
  case "$(basename "$l")" in
    # glibc and the gcc runtime come from the GPU machine (never ship glibc parts: libmvec
    # must match its libc), cuBLAS from its CUDA toolkit
    libc.so*|libm.so*|libmvec.so*|libpthread.so*|libdl.so*|librt.so*|libstdc++.so*|libgcc_s.so*|libcublas*|libcudart*|ld-linux*) ;;
    *) cp -L "$l" "$OUTDIR/lib/" ;;
  esac
done
rm -rf "$OBJ" "$MAIN" "$OUTDIR/libpstgpu.a"
echo "build-prebuilt: $OUTDIR/pst-gpu ($(du -sh "$OUTDIR" | cut -f1)); needs at run time:"
ldd "$OUTDIR/pst-gpu" | sed 's/^/  /'
