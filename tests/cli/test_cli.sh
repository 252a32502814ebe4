#!/bin/sh
# test_cli.sh — `pst` as a user meets it: help, config errors that name file/line/key,
# data errors that name file:line, and a short real training run whose loss must fall and
# whose sparsity must reach its target.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PST="$top_builddir/pst"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check NAME CONDITION-COMMAND...
  name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
expect_fail() { # expect_fail NAME PATTERN pst-args...: non-zero exit and stderr matching PATTERN
  name=$1; pat=$2; shift 2
  "$PST" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$pat" "$tmp/err"; then echo "ok   $name"; else
    echo "FAIL $name (exit $rc, stderr:)"; cat "$tmp/err"; fails=$((fails + 1)); fi
}

check "pst --help exits 0" "$PST" --help >/dev/null
check "pst train --help lists keys" sh -c "'$PST' train --help | grep -q 'pst.sparsity_final'"
expect_fail "train without config" "no config given" train

demo="$top_srcdir/inputs/demo"
# 64 training sentences: a set the small random-weight model can fit within 40 steps
head -n 64 "$demo/train.ids.tsv" >"$tmp/train64.tsv"
cat >"$tmp/base.ini" <<EOI
[model]
arch = bert
hidden = 32
layers = 1
heads = 2
ffn = 64
vocab = 1957
max_positions = 64
init_std = 0.1
[pst]
sparsity_final = 0.8
[optim]
lr = 0.01
[train]
steps = 40
batch_size = 16
seq_len = 32
log_every = 10
eval_every = 20
run_dir = $tmp/run
[data]
train = $tmp/train64.tsv
dev = $(cd "$demo" && pwd)/dev.ids.tsv
EOI
printf '[model]\nhiden = 3\n' >"$tmp/unknown.ini"
expect_fail "unknown key names file:line and key" "unknown.ini:2: unknown key 'hiden' in \[model\]" train -c "$tmp/unknown.ini"
printf '[pst]\nmethod = sparse\n' >"$tmp/enum.ini"
expect_fail "bad enum lists allowed values" "pst.method = 'sparse': allowed values are pst|dense|lora" train -c "$tmp/enum.ini"
printf '[optim]\nlr = fast\n' >"$tmp/num.ini"
expect_fail "bad number names the key" "num.ini:2: optim.lr = 'fast' is not a finite number" train -c "$tmp/num.ini"
expect_fail "unknown override" "unknown key train.stepz" train -c "$tmp/base.ini" train.stepz=3
expect_fail "hidden not divisible by heads" "not divisible by model.heads" train -c "$tmp/base.ini" model.heads=3
expect_fail "missing config file" "cannot open config" train -c "$tmp/nope.ini"
printf '1\t1 5 99999 2\n' >"$tmp/bad.tsv"
expect_fail "bad token id names file:line" "bad.tsv:1: token '99999'" train -c "$tmp/base.ini" "data.train=$tmp/bad.tsv"
expect_fail "missing weights file" "nothere.safetensors" train -c "$tmp/base.ini" model.weights=nothere.safetensors

# a real short run: loss falls, sparsity reaches the target, outputs exist
"$PST" train -c "$tmp/base.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "training run exits 0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
check "progress line on stderr" grep -q '^step 40/40 | loss .* | sparsity 0.800 | .* tok/s | ETA' "$tmp/err"
check "dev evaluation printed" grep -q '^dev @ step 40: 600 examples | loss .* | accuracy .* | f1 ' "$tmp/err"
check "trainables saved" [ -s "$tmp/run/trainables.safetensors" ]
check "resolved config saved" grep -q '^sparsity_final = 0.80000000000000004' "$tmp/run/config.ini"
check "metrics: 40 steps + 2 dev lines" [ "$(wc -l <"$tmp/run/metrics.jsonl")" -eq 42 ]
# model selection: the step-20 evaluation is before the target sparsity (reached after step 28)
check "results.json: best is the step-40 evaluation" /usr/bin/python3 -c "
import json, sys; r = json.load(open('$tmp/run/results.json'))
sys.exit(not (r['best']['step'] == 40 and [e['step'] for e in r['evals']] == [20, 40] and r['best']['accuracy'] > 0))"
# loss falls: mean of the last 10 steps below the mean of the first 10
grep -v '"dev"' "$tmp/run/metrics.jsonl" | awk -F'"loss":' 'NF > 1 { split($2, a, ","); l[++n] = a[1] }
  END { for (i = 1; i <= 10; i++) { f += l[i]; t += l[n - 10 + i] }
        printf "first10 %.4f last10 %.4f\n", f / 10, t / 10; exit !(t < f) }' 
check "loss falls" [ $? -eq 0 ]
# final sparsity: per-layer keep = numel - floor(0.8 numel), so within 1/numel of 0.8
grep -v '"dev"' "$tmp/run/metrics.jsonl" | tail -n 1 | awk -F'"sparsity":' '{ split($2, a, ","); exit !(a[1] > 0.799 && a[1] <= 0.8) }'
check "final sparsity is 0.8" [ $? -eq 0 ]

# text data: tsv tokenized with the BERT vocabulary (../shared/data), then the same through
# `pst prep` (HDF5): identical training; GLUE SST-2 with its metrics
shared=$(cd "${PST_SHARED_DATA:-$top_srcdir/../shared/data}" && pwd) || { echo "FAIL: no ../shared/data"; exit 1; }
cat >"$tmp/text.ini" <<EOI
[model]
hidden = 32
layers = 1
heads = 2
ffn = 64
vocab = 30522
init_std = 0.1
[train]
steps = 6
batch_size = 16
seq_len = 32
eval_every = 3
run_dir = $tmp/text_a
[data]
format = tsv
train = $(cd "$demo" && pwd)/train.tsv
dev = $(cd "$demo" && pwd)/dev.tsv
tokenizer = $shared/vocab/bert-base-uncased
EOI
"$PST" train -c "$tmp/text.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "train from a tsv with the BERT tokenizer" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
"$PST" prep -c "$tmp/text.ini" -o "$tmp/data.h5" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "pst prep writes the HDF5 file" [ $rc -eq 0 -a -s "$tmp/data.h5" ]
[ $rc -eq 0 ] || cat "$tmp/err"
"$PST" train -c "$tmp/text.ini" data.format=prep "data.train=$tmp/data.h5" "data.dev=$tmp/data.h5" \
  "train.run_dir=$tmp/text_b" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "train from the prep file" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
check "prep file trains identically to the tsv" sh -c "[ -s '$tmp/text_a/metrics.jsonl' ] && [ \"\$(sed 's/\"elapsed_s\":[0-9.]*//' '$tmp/text_a/metrics.jsonl')\" = \"\$(sed 's/\"elapsed_s\":[0-9.]*//' '$tmp/text_b/metrics.jsonl')\" ]"
# train.padding: batches padded to their longest example (the default) train as batches padded to
# seq_len up to float order (masked keys weigh exactly 0); fewer positions are computed
"$PST" train -c "$tmp/text.ini" train.seq_len=64 "train.run_dir=$tmp/text_p" >"$tmp/out" 2>"$tmp/err" &&
  "$PST" train -c "$tmp/text.ini" train.seq_len=64 train.padding=seq_len "train.run_dir=$tmp/text_c" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "train with train.padding = longest and = seq_len" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
check "padding to the longest: same losses and dev metrics (rel 1e-5), fewer tokens" /usr/bin/python3 -c "
import json, sys
a = [json.loads(l) for l in open('$tmp/text_p/metrics.jsonl')]
c = [json.loads(l) for l in open('$tmp/text_c/metrics.jsonl')]
sa, sc = [r for r in a if 'loss' in r and 'tokens' in r], [r for r in c if 'tokens' in r]
ok = len(sa) == len(sc) == 6 and all(abs(x['loss'] - y['loss']) <= 1e-5 * abs(y['loss']) for x, y in zip(sa, sc))
ok = ok and all(y['tokens'] == 16 * 64 for y in sc) and all(x['tokens'] % (16 * 8) == 0 and x['tokens'] < 16 * 64 for x in sa)
ra, rc = json.load(open('$tmp/text_p/results.json')), json.load(open('$tmp/text_c/results.json'))
ok = ok and [e['accuracy'] for e in ra['evals']] == [e['accuracy'] for e in rc['evals']]
ok = ok and all(abs(x['loss'] - y['loss']) <= 1e-5 * y['loss'] for x, y in zip(ra['evals'], rc['evals']))
sys.exit(not ok)"
"$PST" train -c "$tmp/text.ini" train.seq_len=64 data.group_by_length=true "train.run_dir=$tmp/text_g" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "data.group_by_length: the first steps come longest first" sh -c "[ $rc -eq 0 ] && /usr/bin/python3 -c \"
import json, sys
t = [json.loads(l)['tokens'] for l in open('$tmp/text_g/metrics.jsonl') if 'tokens' in l]
sys.exit(not (len(t) == 6 and t == sorted(t, reverse=True) and t[0] > t[-1]))\""
# ckpt.every_minutes: a checkpoint whenever that much wall time passed (here: after every step)
"$PST" train -c "$tmp/text.ini" train.steps=3 train.eval_every=0 ckpt.every_minutes=1e-9 ckpt.keep=10 \
  "train.run_dir=$tmp/text_t" >"$tmp/out" 2>"$tmp/err"
check "ckpt.every_minutes: a checkpoint after each of 3 steps" \
  test "$(ls "$tmp/text_t/checkpoints" 2>/dev/null | tr '\n' ' ')" = "ckpt-00000001.h5 ckpt-00000002.h5 ckpt-00000003.h5 "
# ckpt.sparse = false (default): resume checkpoints hold no CSR; the final one does; both resume
"$PST" inspect "$tmp/text_t/checkpoints/ckpt-00000001.h5" >"$tmp/i1" 2>&1 &&
  "$PST" inspect "$tmp/text_t/checkpoints/ckpt-00000003.h5" >"$tmp/i3" 2>&1
check "ckpt.sparse: an intermediate checkpoint holds no /sparse, the final one does" sh -c \
  "grep -q '^sparsified layers: not in this checkpoint' '$tmp/i1' && ! grep -q '^  /sparse' '$tmp/i1' &&
   grep -q '^  /sparse ' '$tmp/i3' && grep -q '^  blk.0.fc2 ' '$tmp/i3'"
"$PST" train -c "$tmp/text.ini" train.steps=3 train.eval_every=0 ckpt.sparse=true ckpt.every=1 ckpt.keep=10 \
  "train.run_dir=$tmp/text_s" >"$tmp/out" 2>"$tmp/err" && "$PST" inspect "$tmp/text_s/checkpoints/ckpt-00000001.h5" >"$tmp/i1s" 2>&1
check "ckpt.sparse = true: every checkpoint holds /sparse" grep -q '^  blk.0.fc2 ' "$tmp/i1s"
"$PST" train -c "$tmp/text.ini" train.steps=3 train.eval_every=0 "train.run_dir=$tmp/text_r" \
  --resume "$tmp/text_t/checkpoints/ckpt-00000001.h5" >"$tmp/out" 2>"$tmp/err"
check "resume from a checkpoint without /sparse" grep -q "resumed from .*ckpt-00000001.h5" "$tmp/err"
# ckpt.mpiio_hints reach MPI_File_open through HDF5; a malformed item is refused by name
"$PST" train -c "$tmp/text.ini" train.steps=2 train.eval_every=0 ckpt.mpiio_hints=romio_cb_write=enable,cb_nodes=1 \
  "train.run_dir=$tmp/text_h" >"$tmp/out" 2>"$tmp/err" && "$PST" inspect "$tmp/text_h/checkpoints/ckpt-00000002.h5" >"$tmp/ih" 2>&1
check "ckpt.mpiio_hints: the checkpoint is written and verifies" grep -q "^checksums: all [0-9]* datasets verified" "$tmp/ih"
expect_fail "ckpt.mpiio_hints with a blank" "ckpt.mpiio_hints: ' cb_nodes=2' is not key=value" train -c "$tmp/text.ini" \
  "ckpt.mpiio_hints=striping_factor=8, cb_nodes=2"
expect_fail "prep file with another seq_len" "prepared with seq_len 32 but train.seq_len is 16" train -c "$tmp/text.ini" \
  data.format=prep "data.train=$tmp/data.h5" train.seq_len=16
head -c 3000 "$tmp/data.h5" >"$tmp/cut.h5"
expect_fail "truncated prep file" "cut.h5" train -c "$tmp/text.ini" data.format=prep "data.train=$tmp/cut.h5" data.dev=
head -n 201 "$shared/glue/SST-2/train.tsv" >"$tmp/sst2-200.tsv"
"$PST" train -c "$tmp/text.ini" data.format=glue data.glue_task=SST-2 "data.train=$tmp/sst2-200.tsv" \
  "data.dev=$shared/glue/SST-2/dev.tsv" "train.run_dir=$tmp/glue" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "GLUE SST-2 run" [ $rc -eq 0 ]
check "GLUE SST-2 dev metrics" grep -q '^dev @ step 6: 872 examples | loss .* | accuracy' "$tmp/err"
check "results.json names the task" grep -q '"task": "sst2"' "$tmp/glue/results.json"

# train.device = cuda without a usable device (this machine, or a build without CUDA): the CPU
# runs the step and the log says why
"$PST" train -c "$tmp/base.ini" "data.train=$tmp/train64.tsv" train.steps=1 train.device=cuda \
  "train.run_dir=$tmp/dev" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "training on the CPU" "$tmp/err"; then echo "ok   train.device = cuda falls back: $(grep 'training on the CPU' "$tmp/err")"
elif [ $rc -eq 0 ] && grep -q "a CUDA device is present" "$tmp/err"; then echo "ok   a CUDA device is present (reported)"
else echo "FAIL train.device = cuda fallback (exit $rc)"; cat "$tmp/err"; fails=$((fails + 1)); fi

# GPT-2 language modelling on E2E pairs (LoRA's text format) with the GPT-2 BPE vocabulary
head -n 200 "$shared/e2e/lora/train.txt" >"$tmp/e2e-train.txt"
head -n 40 "$shared/e2e/lora/test.txt" >"$tmp/e2e-dev.txt"
cat >"$tmp/gpt2.ini" <<EOI
[model]
arch = gpt2
hidden = 32
layers = 1
heads = 2
ffn = 64
vocab = 50257
max_positions = 64
init_std = 0.1
[optim]
lr = 0.01
label_smoothing = 0.1
[train]
steps = 20
batch_size = 8
seq_len = 64
eval_every = 10
run_dir = $tmp/gpt2
[data]
task = lm
format = e2e_lora
train = $tmp/e2e-train.txt
dev = $tmp/e2e-dev.txt
tokenizer = $shared/vocab/gpt2
EOI
"$PST" train -c "$tmp/gpt2.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "GPT-2 LM on E2E pairs" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
# learning, with margin: the untrained random model starts near 11 nats (its first training loss,
# above the uniform ln(50257) = 10.825); after 20 steps the dev loss must be at least 0.3 nat
# below that first loss (observed 10.98 -> 10.53 on 2026-12-02), below uniform, and falling
# between the two evaluations. Embeddings, norms and the tied head are frozen random tensors, so
# a 1-layer, hidden-32 model cannot get far; a model that does not learn stays at ~11.
check "GPT-2 dev loss 0.3 nat below its first loss, below uniform, falling" /usr/bin/python3 -c "
import json, sys
r = json.load(open('$tmp/gpt2/results.json'))
m = [json.loads(l) for l in open('$tmp/gpt2/metrics.jsonl') if '\"dev\"' not in l]
first, ev = m[0]['loss'], [e['loss'] for e in r['evals']]
print('     first loss %.3f, dev %s' % (first, ev))
sys.exit(not (ev[-1] < first - 0.3 and ev[-1] < 10.825 and ev[-1] < ev[0] and r['evals'][-1]['perplexity'] > 1))"

# pst generate with that run (its best checkpoint: the trained sparse model) on the distinct dev
# inputs; token-for-token parity with transformers is tests/parity/run_generate_parity.sh
"$PST" generate --run "$tmp/gpt2" --prompts "$tmp/e2e-dev.txt" --format e2e_lora --max-new-tokens 8 --beams 3 \
  --batch 5 -o "$tmp/hyp.txt" 2>"$tmp/err"; rc=$?
check "generate --run on data-to-text inputs" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
ninputs=$(awk -F'[|][|]' '{ print $1 }' "$tmp/e2e-dev.txt" | sed 's/^ *//; s/ *$//' | awk '!seen[$0]++' | wc -l)
check "generate: one line per distinct input ($ninputs)" [ "$(wc -l <"$tmp/hyp.txt")" -eq "$ninputs" ]
"$PST" generate --run "$tmp/gpt2" --prompts "$tmp/e2e-dev.txt" --format e2e_lora --max-new-tokens 8 --beams 3 \
  --batch 1 -q -o "$tmp/hyp1.txt"
check "generate: outputs do not depend on the batch" cmp -s "$tmp/hyp.txt" "$tmp/hyp1.txt"
for b in 1 3; do
  "$PST" generate -c "$tmp/gpt2.ini" --prompt "The Eagle" --prompt "A pub" --prompt "name" --sample --seed 7 \
    --top-k 50 --top-p 0.9 --temperature 0.8 --max-new-tokens 6 --batch $b --ids -q -o "$tmp/sample$b.txt"
done
check "generate: seeded sampling is reproducible across batch sizes" cmp -s "$tmp/sample1.txt" "$tmp/sample3.txt"
"$PST" generate -c "$tmp/gpt2.ini" --prompt "The Eagle" --sample --seed 8 --max-new-tokens 6 --ids -q -o "$tmp/sample8.txt"
check "generate: another seed samples other tokens" sh -c "! cmp -s '$tmp/sample8.txt' '$tmp/sample1.txt'"
# stop strings: a piece of the free continuation ends the sequence there (end "stop")
"$PST" generate -c "$tmp/gpt2.ini" --prompt "The Eagle" --max-new-tokens 12 --no-eos --json -q -o "$tmp/free.json"
stop=$(/usr/bin/python3 -c "import json; t = json.load(open('$tmp/free.json'))['text']; print(t[len(t) // 2:len(t) // 2 + 3])")
"$PST" generate -c "$tmp/gpt2.ini" --prompt "The Eagle" --max-new-tokens 12 --no-eos --json -q --stop "$stop" -o "$tmp/stop.json"
check "generate: a stop string ends the text where it appears" /usr/bin/python3 -c "
import json, sys
f, s = json.load(open('$tmp/free.json')), json.load(open('$tmp/stop.json'))
stop = sys.argv[1]
print('     stop %r: %d -> %d tokens, end %s' % (stop, len(f['ids']), len(s['ids']), s['end']))
ok = s['end'] == 'stop' and stop in s['text'] and s['ids'] == f['ids'][:len(s['ids'])] and len(s['ids']) < len(f['ids'])
sys.exit(not ok)" "$stop"
printf 'a pub\n\nriverside\n' >"$tmp/prompts-empty.txt"
printf 'fine\n\377\376 bad\n' >"$tmp/prompts-utf8.txt"
expect_fail "generate: empty prompt" "prompt 1 on the command line is empty" generate -c "$tmp/gpt2.ini" --prompt ""
expect_fail "generate: empty line names file:line" "prompts-empty.txt:2: empty prompt" generate -c "$tmp/gpt2.ini" \
  --prompts "$tmp/prompts-empty.txt"
expect_fail "generate: invalid UTF-8 names the line" "prompts-utf8.txt, prompt 2 (line 2): text is not valid UTF-8" \
  generate -c "$tmp/gpt2.ini" --prompts "$tmp/prompts-utf8.txt"
expect_fail "generate: beam size 0" "generate.num_beams = 0 is out of range" generate -c "$tmp/gpt2.ini" --prompt a --beams 0
expect_fail "generate: beam size above the vocabulary" "num_beams = 60000: it must be in \[1, 50257\]" \
  generate -c "$tmp/gpt2.ini" --prompt a --beams 60000
expect_fail "generate: max_new_tokens 0" "generate.max_new_tokens = 0 is out of range" \
  generate -c "$tmp/gpt2.ini" --prompt a --max-new-tokens 0
expect_fail "generate: prompt + new tokens beyond the positions" "prompt 1 has 1 tokens: with max_new_tokens = 70 that exceeds the model's 64 positions" \
  generate -c "$tmp/gpt2.ini" --prompt a --max-new-tokens 70
expect_fail "generate: an encoder cannot generate" "model.arch = bert is not a decoder" generate -c "$tmp/base.ini" --prompt a

# eval.generate: every dev evaluation decodes 5 dev inputs (beam 2), scores them, keeps the
# hypotheses; the best evaluation at the target sparsity (0: all of them) is the one of highest BLEU
"$PST" train -c "$tmp/gpt2.ini" train.run_dir="$tmp/gpt2-gen" train.steps=15 train.eval_every=5 pst.sparsity_final=0 \
  ckpt.every=5 ckpt.keep=1 eval.generate=true eval.generate_max=5 generate.max_new_tokens=6 generate.num_beams=2 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "eval.generate training run" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
check "eval.generate: BLEU on the dev line" grep -q '^dev @ step 15: .* | BLEU [0-9.]* NIST [0-9.]* ROUGE-L [0-9.]* CIDEr [0-9.]* (5 inputs' "$tmp/err"
check "eval.generate: hypotheses kept, 5 per evaluation" sh -c "[ \$(cat '$tmp/gpt2-gen/hyps/dev-step-5.txt' '$tmp/gpt2-gen/hyps/dev-step-10.txt' '$tmp/gpt2-gen/hyps/dev-step-15.txt' | wc -l) -eq 15 ]"
check "eval.generate: the best evaluation has the highest BLEU" /usr/bin/python3 -c "
import json, sys
r = json.load(open('$tmp/gpt2-gen/results.json'))
b = [e['bleu'] for e in r['evals']]
print('     BLEU per evaluation', b, 'best step', r['best']['step'])
sys.exit(not (len(b) == 3 and r['best']['bleu'] == max(b) and all(k in r['best'] for k in ('nist', 'rouge_l', 'cider', 'ter', 'meteor'))))"
check "eval.generate: the best evaluation's checkpoint survives pruning (ckpt.keep = 1)" /usr/bin/python3 -c "
import json, os, sys
b = json.load(open('$tmp/gpt2-gen/results.json'))['best']['step']
ck = sorted(os.listdir('$tmp/gpt2-gen/checkpoints'))
print('     best step', b, 'checkpoints', ck)
sys.exit(not ('ckpt-%08d.h5' % b in ck and 'ckpt-00000015.h5' in ck and len(ck) <= 2))"
"$PST" eval --run "$tmp/gpt2-gen" --data "$tmp/e2e-dev.txt" --format e2e_lora --max 5 generate.max_new_tokens=6 \
  generate.num_beams=2 -q -o "$tmp/eval-hyp.txt" --scores "$tmp/eval.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "pst eval of the run" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$tmp/err"
check "pst eval: same hypotheses as the training evaluation of that checkpoint" \
  cmp -s "$tmp/eval-hyp.txt" "$tmp/gpt2-gen/hyps/dev-step-15.txt"
expect_fail "pst eval: plain lines have no references" "pst eval scores data-to-text inputs" \
  eval --run "$tmp/gpt2-gen" --data "$tmp/e2e-dev.txt" --format lines

# inspect-model on GGUF files (committed fixtures of tests/reference/make_gguf_fixtures.py)
gg="$top_srcdir/tests/fixtures/gguf"
"$PST" inspect-model "$gg/llama-tiny.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "inspect-model GGUF exits 0" [ $rc -eq 0 ]
check "inspect-model GGUF: architecture and dimensions" \
  grep -q '^dimensions       hidden 32, layers 2, heads 4 (head dim 8), kv heads 2, ffn 64, vocab 64$' "$tmp/out"
check "inspect-model GGUF: tied head" grep -q '^head             tied to token_embd.weight' "$tmp/out"
check "inspect-model GGUF: tensors by type" grep -q '^tensors          28: F32 13, F16 2, Q4_0 3, Q4_1 6, Q8_0 2, BF16 2$' "$tmp/out"
check "inspect-model GGUF: tokenizer" grep -q '^tokenizer        gpt2 (pre-tokenizer .smollm.), 64 tokens, 3 merges' "$tmp/out"
check "inspect-model GGUF: loaded into a pst model" grep -q '^pst model        28 tensors loaded, 20832 parameters' "$tmp/out"
expect_fail "inspect-model GGUF of another architecture" "'general.architecture' = 'test': pst reads 'llama' and 'qwen2'" \
  inspect-model "$gg/quants.gguf"
expect_fail "inspect-model broken GGUF names file and field" "bad_overlap.gguf: tensors 'x' and 'y' overlap" \
  inspect-model "$top_srcdir/tests/fuzz/corpus/gguf/bad_overlap.gguf"

[ $fails -eq 0 ] && echo "cli: all passed" || echo "cli: $fails failed"
[ $fails -eq 0 ]
