#!/bin/sh
# grid_store.sh — keep a long `pst grid` in the repository between machines and sessions: the
# small files of every finished point (config.ini, status.json, results.json, metrics.jsonl,
# train.log; never checkpoints or trainables) go to bench/grids/NAME/, and come back into a
# fresh expansion of the grid elsewhere, so that only the pending points run there.
#
#   bench/grid_store.sh save RUN_DIR             # RUN_DIR from `pst grid expand GRID RUN_DIR`
#   bench/grid_store.sh restore GRID RUN_DIR     # expand GRID into RUN_DIR, put the saved points back
#   then: sbatch --array=$(./pst grid status RUN_DIR --pending)%1 jobs/grid.sbatch RUN_DIR
#
# NAME is the grid's name (manifest.json). A saved point is one whose status.json says "done";
# restore refuses a saved point whose overrides differ from the fresh expansion's (the grid file
# changed), naming it. The saved config.ini keeps the paths of the machine that ran it.
# Environment: PST (default ./pst), GRID_STORE (default bench/grids).
set -eu
PST=${PST:-./pst}
GRID_STORE=${GRID_STORE:-bench/grids}
die() { echo "grid_store.sh: $*" >&2; exit 1; }
name_of() { jq -r .name "$1/manifest.json" 2>/dev/null || die "$1/manifest.json: not a grid run dir"; }

case ${1:-} in
save)
  [ $# -eq 2 ] || die "usage: grid_store.sh save RUN_DIR"
  run=$2
  name=$(name_of "$run")
  store=$GRID_STORE/$name
  mkdir -p "$store/points"
  cp "$run/manifest.json" "$store/manifest.json"
  n=0
  for p in "$run"/points/*/; do
    p=${p%/}
    [ "$(jq -r .state "$p/status.json" 2>/dev/null)" = done ] || continue
    dst="$store/points/${p##*/}"
    mkdir -p "$dst"
    for f in config.ini status.json results.json metrics.jsonl train.log; do
      [ -f "$p/$f" ] && cp "$p/$f" "$dst/$f"
    done
    n=$((n + 1))
  done
  echo "grid_store.sh: $n finished point(s) of $name saved in $store"
  ;;
restore)
  [ $# -eq 3 ] || die "usage: grid_store.sh restore GRID RUN_DIR"
  grid=$2 run=$3
  "$PST" grid expand "$grid" "$run" >/dev/null
  name=$(name_of "$run")
  store=$GRID_STORE/$name
  [ -d "$store/points" ] || die "$store: nothing saved for grid $name"
  n=0
  for src in "$store"/points/*/; do
    src=${src%/}
    i=${src##*/}
    want=$(jq -c ".points[] | select(.dir | endswith(\"/$i\")) | .overrides" "$store/manifest.json")
    have=$(jq -c ".points[] | select(.dir | endswith(\"/$i\")) | .overrides" "$run/manifest.json")
    [ -n "$have" ] || die "saved point $i is not in the grid any more"
    [ "$want" = "$have" ] || die "saved point $i has other overrides than the grid now ($want vs $have)"
    for f in status.json results.json metrics.jsonl train.log; do
      [ -f "$src/$f" ] && cp "$src/$f" "$run/points/$i/$f"
    done
    n=$((n + 1))
  done
  echo "grid_store.sh: $n saved point(s) of $name restored into $run; pending: $("$PST" grid status "$run" --pending)"
  ;;
*) die "usage: grid_store.sh save RUN_DIR | restore GRID RUN_DIR" ;;
esac
