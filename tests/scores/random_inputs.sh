#!/bin/sh
# random_inputs.sh DIR — the robustness inputs of `pst score` (test_score_cli.sh, valgrind.sh),
# from fixed seeds: rand0 .. rand5 (4000 random bytes each, invalid UTF-8 likely, few line
# ends), asciirand (letters, spaces, punctuation and line ends), utf8rand (valid UTF-8: pieces
# the tokenizers treat specially, non-ASCII letters and white space), long and long2 (two lines of
# 3000 words each) and huge (two lines of 40000 words: over TER's table limit, an error).
set -u
d=$1
awk -v d="$d" 'BEGIN { srand(12); for (f = 0; f < 6; f++) { s = ""; for (i = 0; i < 4000; i++) {
  c = int(rand() * 256); if (c == 10 && rand() < 0.9) c = 32; s = s sprintf("%c", c) }
  printf "%s", s > (d "/rand" f) } }'
awk -v d="$d" 'BEGIN { srand(13); for (i = 0; i < 3000; i++) { c = substr("abcdefghij .,!?\n", int(rand() * 16) + 1, 1); printf "%s", c > (d "/asciirand") } }'
awk -v d="$d" 'BEGIN { srand(14); n = split("a|B|7|0|.|,|-|--|...|!?|'"'"'|n'"'"'t|'"'"'s|\"|(|)|[|{|&amp;|&quot;|<skipped>|\303\211|\304\260|\316\243|\302\243|\342\202\254|\302\242|\303\237|\302\240|\343\200\200|\342\200\250|\034|\t|etc.|St.|u.s.|cannot|can'"'"'t|20-25|3.5|1,000|-5| | | |\n|\n\n", p, "|")
  for (i = 0; i < 3000; i++) printf "%s", p[int(rand() * n) + 1] > (d "/utf8rand") }'
words() { # SEED WORDS: two lines of WORDS random words with some periods
  awk -v seed="$1" -v n="$2" 'BEGIN { srand(seed); for (l = 0; l < 2; l++) { for (i = 0; i < n; i++)
    printf "%s%s%s", (rand() < 0.5 ? "w" : "x"), int(rand() * 50), (rand() < 0.1 ? ". " : " "); printf "\n" } }'
}
words 7 3000 >"$d/long"
words 8 3000 >"$d/long2"
words 9 40000 >"$d/huge"
