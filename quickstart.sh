#!/bin/sh
# quickstart.sh — set up, build and run pst on a fresh Debian 12 machine.
#   ./quickstart.sh check   install what is missing, build, run the test suite (make check, then
#                           make check-valgrind when valgrind is installed)
#   ./quickstart.sh demo    install what is missing, build, train the demo (inputs/demo.ini)
#   ./quickstart.sh build   install what is missing and build only
# Packages are installed with apt-get when run as root; otherwise the missing ones are listed.
set -eu
cd "$(dirname "$0")"
mode=${1:-demo}
case "$mode" in check|demo|build) ;; *) echo "usage: $0 check|demo|build" >&2; exit 2 ;; esac

PKGS="build-essential autoconf automake libtool autoconf-archive pkg-config openmpi-bin libopenmpi-dev
libopenblas-openmp-dev libhdf5-openmpi-dev libscalapack-openmpi-dev libjansson-dev libinih-dev libutf8proc-dev
libcmocka-dev python3 python3-pip python3-torch python3-numpy valgrind default-jre-headless
slurmctld slurmd slurm-client munge libpmix-dev gnuplot-nox"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "quickstart: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
  else
    echo "quickstart: missing Debian packages:$missing" >&2
    echo "quickstart: run as root, or: sudo apt-get install$missing" >&2
    exit 1
  fi
fi

# The reference scripts of the tests (never pst itself) tokenize with PyPI's `tokenizers`.
if [ "$mode" = check ] && ! /usr/bin/python3 -c 'import tokenizers' 2>/dev/null; then
  echo "quickstart: installing PyPI tokenizers for /usr/bin/python3 (test references only)"
  /usr/bin/python3 -m pip install -q --break-system-packages tokenizers
fi

# The NLG score tests compare with sacrebleu / pycocoevalcap, whose METEOR jar (with java from
# default-jre-headless above) test_meteor.sh runs; without the stack that test is skipped.
if [ "$mode" = check ]; then
  scripts/ref-scores || echo "quickstart: scripts/ref-scores failed: METEOR's test will be skipped" >&2
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
  autoreconf -fi
fi
# the CUDA backend is compiled (and its GPU tests run or skip) wherever the toolkit is installed
pst_cuda=; [ -x /usr/local/cuda/bin/nvcc ] && pst_cuda=--with-cuda
if [ ! -f Makefile ] || [ configure -nt Makefile ] || { [ -n "$pst_cuda" ] && ! grep -q '^#define PST_HAVE_CUDA 1' config.h; }; then
  ./configure -q $pst_cuda
fi
make -j"$jobs"

case "$mode" in
  check)
    make -j"$jobs" check || { cat test-suite.log 2>/dev/null | tail -n 80; tests/skipped.sh .; exit 1; }
    tests/skipped.sh .   # which test families were skipped (GPU without a device, ...) and why
    # memcheck pass over the unit tests, fuzz replay and one parity case (tests/valgrind.sh)
    if command -v valgrind >/dev/null 2>&1; then make check-valgrind; fi ;;
  demo)
    /usr/bin/python3 scripts/get-model --dest models/all-MiniLM-L6-v2
    ./pst train -c inputs/demo.ini ;;
  build) ;;
esac
