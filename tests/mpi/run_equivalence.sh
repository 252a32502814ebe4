#!/bin/sh
# run_equivalence.sh — distributed training equals single-process training (issue 4).
# Tiny LLaMA (grouped-query, tied and untied head; on 2x1, 1x2, 2x2) as GPT-2 below. Full
# fine-tuning (pst.method = dense on BERT, GPT-2 and LLaMA; magnitude-full, movement-full) on 2x2. Tiny BERT (classification, UCI sentiment ids, dev set evaluated at the end, split over dp) and tiny GPT-2 (LM on E2E pairs with the
# GPT-2 BPE, loss on the reference tokens only, so dp slices carry different token weights),
# 20 steps with sparsity rising to 0.9, on layouts dp x tp = 2x1, 1x2, 2x2, 4x1, 1x4 under
# mpirun (more ranks than cores: oversubscribed), each compared with the 1x1 run by
# compare_runs.py: mask digests equal at every step, losses and final trainables within 1e-5
# relative (tensors in the L2 norm, see compare_runs.py), final masks identical. Then a rank that cannot open its data must stop the whole
# job with a message naming the rank and the file.
# Masks are compared exactly, so the runs must not meet a float near-tie: a layer whose
# keep-th and (keep+1)-th scores differ by about one ulp flips with the reduction order (seen
# with hidden 128, seed 42: two scores 0.16304590 / 0.16304591 swapped at step 14 on tp 4,
# verified by recomputing them from both runs' tensors). hidden 64 / seed 1 has no such tie
# on any layout here; if a change of kernels makes one appear, the failure names the step.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$top_builddir/pst"
PY=${PST_PYTHON:-/usr/bin/python3}
[ -d "$top_srcdir/../shared/data" ] || { echo "missing $top_srcdir/../shared/data (the shared data set)"; exit 1; }
shared=$(cd "$top_srcdir/../shared/data" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

common="train.steps=20 train.log_every=20 train.eval_every=0 dist.check_replicas=1 pst.sparsity_init=0
  pst.sparsity_final=0.9 pst.warmup_frac=0.1 pst.cooldown_frac=0.2"
bert="-c $top_srcdir/inputs/tiny-random.ini train.batch_size=8 train.seq_len=32 model.hidden=64 model.ffn=256 train.seed=1"
head -n 120 "$shared/e2e/lora/train.txt" >"$tmp/e2e-train.txt"
gpt2="-c $top_srcdir/tests/fixtures/gpt2-tiny.ini data.train=$tmp/e2e-train.txt data.tokenizer=$shared/vocab/gpt2 optim.label_smoothing=0.1"
# tiny LLaMA (4 query heads, 2 key/value heads), tied and untied head, same data
llama="-c $top_srcdir/tests/fixtures/llama-tiny.ini data.train=$tmp/e2e-train.txt data.tokenizer=$shared/vocab/gpt2 optim.label_smoothing=0.1"
llamau="$llama model.tie_embeddings=false"
layouts_bert="2x1 1x2 2x2 4x1 1x4"; layouts_gpt2=$layouts_bert
layouts_llama="2x1 1x2 2x2"; layouts_llamau=$layouts_llama  # kv_heads 2: tp <= 2
# full fine-tuning (every tensor trains: embeddings, norms and biases are replicated over tp and
# every rank computes their whole gradient) and the paper's masked full fine-tuning baselines
bertdense="$bert pst.method=dense"; gpt2dense="$gpt2 pst.method=dense"; llamadense="$llamau pst.method=dense"
bertmagfull="$bert pst.method=magnitude-full"; gpt2movfull="$gpt2 pst.method=movement-full"
layouts_bertdense="2x2"; layouts_gpt2dense="2x2"; layouts_llamadense="2x2"
layouts_bertmagfull="2x2"; layouts_gpt2movfull="2x2"

for model in bert gpt2 llama llamau bertdense gpt2dense llamadense bertmagfull gpt2movfull; do
  eval args=\$$model
  eval layouts=\$layouts_$model
  if ! "$PST" train $args $common "train.run_dir=$tmp/$model-1x1" 2>"$tmp/err"; then
    echo "FAIL: $model 1x1 run"; cat "$tmp/err"; fails=$((fails + 1)); continue
  fi
  for layout in $layouts; do
    dp=${layout%x*}; tp=${layout#*x}; np=$((dp * tp))
    if ! timeout 600 mpirun -np $np "$PST" train $args $common dist.tp=$tp "train.run_dir=$tmp/$model-$layout" \
        2>"$tmp/err"; then
      echo "FAIL: $model $layout run"; tail -20 "$tmp/err"; fails=$((fails + 1)); continue
    fi
    if "$PY" "$top_srcdir/tests/mpi/compare_runs.py" "$tmp/$model-1x1" "$tmp/$model-$layout" 1e-5; then
      echo "ok: $model $layout"
    else
      echo "FAIL: $model $layout differs from 1x1"; fails=$((fails + 1))
    fi
  done
done

# gradient accumulation: two micro-batches per step, each split over dp, summed once
acc="$gpt2 $common train.steps=10 optim.grad_accum=2"
if "$PST" train $acc "train.run_dir=$tmp/acc-1x1" 2>"$tmp/err" &&
   timeout 600 mpirun -np 4 "$PST" train $acc dist.tp=2 "train.run_dir=$tmp/acc-2x2" 2>"$tmp/err" &&
   "$PY" "$top_srcdir/tests/mpi/compare_runs.py" "$tmp/acc-1x1" "$tmp/acc-2x2" 1e-5; then
  echo "ok: gpt2 2x2 with grad_accum 2"
else
  echo "FAIL: gpt2 2x2 with grad_accum 2"; tail -5 "$tmp/err"; fails=$((fails + 1))
fi

# tp must divide the key/value heads: a clear error naming the numbers, no hang
timeout 120 mpirun -np 4 "$PST" train $llama $common dist.tp=4 "train.run_dir=$tmp/llama-tp4" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "dist.tp = 4 must divide model.heads = 4, model.kv_heads = 2" "$tmp/err"; then
  echo "ok: llama with dist.tp = 4 > kv_heads = 2 is refused (exit $rc)"
else
  echo "FAIL: llama dist.tp = 4: exit $rc"; tail -5 "$tmp/err"; fails=$((fails + 1))
fi

# a tp = 2 rank holds half of every sparsified weight (its rank log names the largest one)
mpirun -np 2 "$PST" train $bert train.steps=1 dist.tp=2 dist.rank_logs=true "train.run_dir=$tmp/held" 2>/dev/null
if grep -q "largest sparsified weight held: blk.0.fc1.w \[128, 64\] of \[256, 64\]" "$tmp/held/train.log" &&
   grep -q "largest sparsified weight held: blk.0.fc1.w \[128, 64\] of \[256, 64\]" "$tmp/held/logs/rank-1.log"; then
  echo "ok: tp 2 ranks hold half of each sparsified weight: $(grep -h 'frozen' "$tmp/held/logs/rank-1.log")"
else
  echo "FAIL: tp 2 rank logs do not show half-size weights"; cat "$tmp/held/train.log" "$tmp/held/logs/"*; fails=$((fails + 1))
fi

# one rank cannot open its data: the job stops (no hang), naming the rank and the file
cat >"$tmp/onebad.sh" <<EOS
#!/bin/sh
data="$top_srcdir/inputs/demo/train.ids.tsv"
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && data="$tmp/not-on-this-node.tsv"
exec "$PST" train $bert train.steps=3 "data.train=\$data" "train.run_dir=$tmp/onebad"
EOS
chmod +x "$tmp/onebad.sh"
timeout 120 mpirun -np 2 "$tmp/onebad.sh" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1 of 2" "$tmp/err" && grep -q "not-on-this-node.tsv" "$tmp/err"; then
  echo "ok: a rank without its data stops the job (exit $rc) and is named"
else
  echo "FAIL: one rank without data: exit $rc"; tail -20 "$tmp/err"; fails=$((fails + 1))
fi

[ $fails -eq 0 ] && echo "mpi equivalence: all passed" || echo "mpi equivalence: $fails failed"
[ $fails -eq 0 ]
