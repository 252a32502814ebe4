#!/bin/sh
# dist_files.sh — `make dist` gives the whole project: every file git tracks (but .gitignore
# files) is in the tarball, so a tarball builds and tests like a checkout (EXTRA_DIST lists the
# files automake does not know of). Skips (77) outside a git checkout, e.g. in a tarball build.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
command -v git >/dev/null 2>&1 && git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
  { echo "SKIP: not a git checkout (nothing to compare the tarball with)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# a private copy of the build's distdir rules: distdir=... keeps it apart from other make runs
if ! make -C "$top_builddir" distdir distdir="$tmp/pst" >"$tmp/log" 2>&1; then
  echo "FAIL: make distdir failed:"; tail -20 "$tmp/log"; exit 1
fi
(cd "$tmp/pst" && find . -type f | sed 's#^\./##' | sort) >"$tmp/dist.lst"
git -C "$top_srcdir" ls-files | grep -v '\(^\|/\)\.gitignore$' | sort >"$tmp/git.lst"
missing=$(comm -13 "$tmp/dist.lst" "$tmp/git.lst")
if [ -n "$missing" ]; then
  echo "FAIL: tracked files missing from make dist (add them to EXTRA_DIST in Makefile.am):"
  echo "$missing" | sed 's/^/  /'
  exit 1
fi
echo "ok   make dist has all $(wc -l <"$tmp/git.lst") tracked files ($(wc -l <"$tmp/dist.lst") files in all)"
