#!/bin/sh
# build-prebuilt.sh — build tests/gpu/test_cuda_ops HERE (a machine with the CUDA toolkit and
# pst's Debian build dependencies) as a nearly self-contained program for a GPU machine that
# has only the CUDA toolkit and driver: OpenBLAS (OpenMP build), libgomp, libstdc++ and the CUDA
# runtime are linked statically; only libcublas.so.13 (+ libcublasLt) and glibc come from the
# GPU machine. Output: tests/gpu/prebuilt/test_cuda_ops (ignored by git: pass
# `carry: ["tests/gpu/prebuilt"]` to the device tool). tests/gpu/run.sh uses it when present.
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
for f in src/core/error.c src/core/util.c src/core/blas.c src/core/params.c src/core/rng.c src/kernels/cpu/*.c \
         src/sparsity/topk.c src/sparsity/linear.c src/sparsity/methods.c src/train/adamw.c \
         tests/gpu/test_cuda_ops.c; do
  gcc $CFLAGS -c "$f" -o "$OBJ/$(basename "$f" .c).o"
done
GOMP=$(gcc -print-file-name=libgomp.a)
gcc -o "$OUTDIR/test_cuda_ops" "$OBJ"/*.o "$BLASDIR/libopenblas.a" "$GOMP" \
  -L"$CUDA/lib64" -Wl,-rpath,"$CUDA/lib64" -lcublas -lcudart_static \
  -static-libstdc++ -static-libgcc -lstdc++ -lgfortran -lpthread -ldl -lrt -lm
# libgfortran (OpenBLAS's LAPACK part) is dynamic in Debian: ship it beside the program if used
mkdir -p "$OUTDIR/lib"
for l in $(ldd "$OUTDIR/test_cuda_ops" | awk '/=> \// {print $3}'); do
  case "$(basename "$l")" in
    # glibc and the gcc runtime come from the GPU machine (never ship glibc parts: libmvec
    # must match its libc), cuBLAS from its CUDA toolkit
    libc.so*|libm.so*|libmvec.so*|libpthread.so*|libdl.so*|librt.so*|libstdc++.so*|libgcc_s.so*|libcublas*|libcudart*|ld-linux*) ;;
    *) cp -L "$l" "$OUTDIR/lib/" ;;
  esac
done
rm -rf "$OBJ"
echo "build-prebuilt: $OUTDIR/test_cuda_ops ($(du -sh "$OUTDIR" | cut -f1)); needs at run time:"
ldd "$OUTDIR/test_cuda_ops" | sed 's/^/  /'
