#!/usr/bin/env python3
"""make_tokenizer_fixtures.py — expected token ids from Hugging Face for tests/unit/test_tokenizer.c.

Reads tests/fixtures/tokenizer/corpus.txt (format described at its top) and writes, next to it:

  bert-uncased.json   BertTokenizer(vocab.txt, do_lower_case=True)    (bert-base-uncased)
  bert-cased.json     BertTokenizer(vocab.txt, do_lower_case=False)   (same vocab, cased path)
  gpt2.json           GPT2Tokenizer(encoder.json, vocab.bpe)
  roberta.json        RobertaTokenizer(encoder.json, vocab.bpe)       (specials appended)
  unicode.json        HF's per-code-point classes over all of U+0000..U+10FFFF (see below)

Each tokenizer file holds, for every corpus input, the raw tokens (add_special_tokens=False)
and the model input at several max_length values (truncation='longest_first'), and the same
for sentence pairs (the corpus' @pair lines plus every input paired with the next one); and
the raw tokens of RANDOM_N seeded random strings of awkward pieces ("random").

unicode.json, run-length over code points (surrogates take the class of the code point before):
  bert: [start, cls]   cls: x removed by clean_text, w white space, c CJK, p punctuation, o other
  gpt2: [start, cls]   cls: S \\s, L \\p{L}, N \\p{N}, O other (classes of the ByteLevel regex)
  bert_lower: {"cp hex": [cps]} BertNormalizer(lowercase) output of every single code point of
              class o/p/c whose output is not the code point itself (" c " for class c), except
              Hangul syllables (AC00-D7A3, algorithmic NFD, covered by the corpus)

--c-tables prints the C tables of src/data/wordpiece.c and src/data/bpe.c: where HF's answer
differs from utf8proc's (loaded with ctypes), so they can be regenerated when either changes.

Usage (offline, from the vocab files; no hub access):
  /usr/bin/python3 -m pip install --break-system-packages tokenizers transformers
  /usr/bin/python3 tests/reference/make_tokenizer_fixtures.py [--vocab DIR] [--out DIR] [--c-tables]
DIR defaults: --vocab ../shared/data/vocab (relative to the repository root), --out
tests/fixtures/tokenizer.
"""
import argparse
import json
import logging
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SINGLE_MAX = [4, 7, 512]
RANDOM_N = 300  # random strings (raw tokens only) built from RANDOM_PIECES, seed 12345

# Pieces of the random strings: white space of every kind, contractions, combining marks of
# several classes (and ones newer than HF's tables), case corners, CJK / Hangul / kana, emoji
# with ZWJ and variation selectors, special tokens and fragments of them, controls, format
# characters, unassigned and private-use code points, digits of several scripts.
RANDOM_PIECES = list("abcXYZ019 .,!?'\"-_") + [
    "'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d", "'D", "''", " '", "  ", "   ", "\t", "\n", "\r\n",
    "\u00a0", "\u2028", "\u3000", "\u2003", "\x0b", "\x0c", "\x1c", "\x85",
    "\u0301", "\u0323", "\u0334", "\u05b0", "\u0e38", "\U0001D165", "\U0001D16D", "\u0898", "\u1734",
    "\U000111c9", "\u0345", "\u0302",
    "é", "É", "ñ", "Å", "A\u030a", "ǅ", "İ", "ı", "Σ", "ς", "ß", "ẞ", "ﬁ", "Ａ", "ａ", "１", "\u212a", "\u2126",
    "中", "国", "丽", "\U0002F800", "\U00020000", "가", "힣", "ᄀ", "ᅡ", "ㄱ", "あ", "カ", "ｶ",
    "😀", "👍", "🏽", "\u200d", "\ufe0f", "🇫", "🇷", "\U0001F970",
    "[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "[SEP", "[mask]", "<s>", "</s>", "<mask>", "<pad>", "<unk>",
    "<|endoftext|>", "<|endo", "<", ">", "|",
    "\x01", "\x7f", "\x9f", "\u00ad", "\u200b", "\ufeff", "\ufffd", "\ue000", "\U0010FFFF", "\u0378", "\u0890",
    "٣", "५", "①", "½", "Ⅻ", "𝟙", "ـ", "مَ", "नमस्ते", "क्ष", "ไทย", "\U00016EA0", "\U00011938", "\uA7CB",
    "\u166d", "\u2e43", "$", "%", "^", "`", "~", "«", "»", "—", "…", "¿", "¡", "•", "·", "@", "#", "&", "*", "+",
    "=", "/", "\\"]
RANDOM_WORDS = ["hello", "world", "the", "un", "##aff", "affable", "antidisestablishmentarianism",
                "supercalifragilistic", "Hello", "HELLO", "naïve", "café", "résumé", "don", "can", "It", "I"]


def random_texts():
    import random
    rng = random.Random(12345)
    out = []
    for i in range(RANDOM_N):
        n = rng.randint(0, 30)
        out.append(''.join(rng.choice(RANDOM_PIECES) if rng.random() < 0.7 else rng.choice(RANDOM_WORDS)
                           for _ in range(n)))
    for i in range(4):  # long runs: BPE on long pieces, white space runs before a word
        out.append(''.join(rng.choice('abcdefghijklmnopqrstuvwxyzé') for _ in range(rng.randint(50, 800))))
        out.append(''.join(rng.choice(' \t\n\u00a0') for _ in range(rng.randint(1, 40))) + rng.choice(['x', '', '!', '1']))
    return out
PAIR_MAX = [4, 5, 9, 16, 512]

WS = {9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F,
      0x3000}


def unescape(s):
    def rep(m):
        e = m.group(0)
        if e == '\\\\':
            return '\\'
        if e in ('\\n', '\\t', '\\r'):
            return {'\\n': '\n', '\\t': '\t', '\\r': '\r'}[e]
        return chr(int(e[2:], 16))
    return re.sub(r'\\\\|\\n|\\t|\\r|\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8}', rep, s)


def read_corpus(path):
    singles, pairs = [], []
    with open(path, encoding='utf-8', newline='\n') as f:
        for line in f.read().split('\n')[:-1]:
            if line.startswith('#'):
                continue
            if line.startswith('@pair '):
                a, b = line[len('@pair '):].split('|||')
                a = a[:-1] if a.endswith(' ') else a
                b = b[1:] if b.startswith(' ') else b
                pairs.append((unescape(a), unescape(b)))
            else:
                singles.append(unescape(line))
    return singles, pairs


def load_hf(vocab):
    logging.disable(logging.WARNING)
    os.environ.setdefault('TRANSFORMERS_VERBOSITY', 'error')
    os.environ['HF_HUB_OFFLINE'] = '1'
    from transformers import BertTokenizer, GPT2Tokenizer, RobertaTokenizer
    v = os.path.join(vocab, 'bert-base-uncased', 'vocab.txt')
    e = os.path.join(vocab, 'gpt2', 'encoder.json')
    m = os.path.join(vocab, 'gpt2', 'vocab.bpe')
    return {
        'bert-uncased': (BertTokenizer(v, do_lower_case=True),
                         {'kind': 'wordpiece', 'lowercase': True, 'vocab': 'bert-base-uncased/vocab.txt'}),
        'bert-cased': (BertTokenizer(v, do_lower_case=False),
                       {'kind': 'wordpiece', 'lowercase': False, 'vocab': 'bert-base-uncased/vocab.txt'}),
        'gpt2': (GPT2Tokenizer(e, m), {'kind': 'bpe', 'roberta': False, 'vocab': 'gpt2/encoder.json',
                                       'merges': 'gpt2/vocab.bpe'}),
        'roberta': (RobertaTokenizer(e, m), {'kind': 'bpe', 'roberta': True, 'vocab': 'gpt2/encoder.json',
                                             'merges': 'gpt2/vocab.bpe'}),
    }


def encode(tok, a, b, max_len):
    r = tok(a, b, truncation='longest_first' if max_len else False, max_length=max_len,
            return_token_type_ids=True, add_special_tokens=True)
    return r['input_ids'], r['token_type_ids']


def write_tokenizer_fixtures(vocab, out, singles, pairs):
    import tokenizers
    import transformers
    pairs = pairs + [(singles[i], singles[i + 1]) for i in range(len(singles) - 1)]
    for name, (tok, meta) in load_hf(vocab).items():
        doc = dict(meta)
        doc['generator'] = 'tests/reference/make_tokenizer_fixtures.py (transformers %s, tokenizers %s)' % (
            transformers.__version__, tokenizers.__version__)
        doc['vocab_size'] = len(tok)
        doc['pad_id'] = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        doc['single_max_len'] = SINGLE_MAX
        doc['pair_max_len'] = PAIR_MAX
        doc['single'] = []
        for t in singles:
            e = {'text': t, 'tokens': tok(t, add_special_tokens=False)['input_ids']}
            e['ids'], e['types'] = [], []
            for L in SINGLE_MAX:
                i, ty = encode(tok, t, None, L)
                e['ids'].append(i)
                e['types'].append(ty)
            doc['single'].append(e)
        doc['random'] = [{'text': t, 'tokens': tok(t, add_special_tokens=False)['input_ids']}
                         for t in random_texts()]
        doc['pair'] = []
        for a, b in pairs:
            e = {'a': a, 'b': b, 'ids': [], 'types': []}
            for L in PAIR_MAX:
                i, ty = encode(tok, a, b, L)
                e['ids'].append(i)
                e['types'].append(ty)
            doc['pair'].append(e)
        path = os.path.join(out, name + '.json')
        with open(path, 'w', encoding='utf-8') as f:
            f.write('{\n')
            keys = [k for k in doc if k not in ('single', 'pair', 'random')]
            for k in keys:
                f.write('  %s: %s,\n' % (json.dumps(k), json.dumps(doc[k], ensure_ascii=False)))
            for k in ('single', 'pair', 'random'):
                f.write('  %s: [\n' % json.dumps(k))
                for j, e in enumerate(doc[k]):
                    f.write('    %s%s\n' % (json.dumps(e, ensure_ascii=True), ',' if j + 1 < len(doc[k]) else ''))
                f.write('  ]%s\n' % (',' if k != 'random' else ''))
            f.write('}\n')
        print('wrote %s: %d single, %d pairs, %d random' % (path, len(doc['single']), len(doc['pair']),
                                                            len(doc['random'])))


def cjk(c):
    return (0x4E00 <= c <= 0x9FFF or 0x3400 <= c <= 0x4DBF or 0x20000 <= c <= 0x2A6DF or 0x2A700 <= c <= 0x2B73F
            or 0x2B740 <= c <= 0x2B81F or 0x2B920 <= c <= 0x2CEAF or 0xF900 <= c <= 0xFAFF
            or 0x2F800 <= c <= 0x2FA1F)


def hf_codepoints():
    """HF's behaviour for each code point: (lower-normalised, cased-normalised, bert pre-tokeniser
    class o/w/p, byte-level regex class S/L/N/O)."""
    from tokenizers import normalizers, pre_tokenizers
    bl = normalizers.BertNormalizer(lowercase=True)
    bc = normalizers.BertNormalizer(lowercase=False)
    bp = pre_tokenizers.BertPreTokenizer()
    gl = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf = {}
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        b = {1: 'o', 2: 'w', 3: 'p'}[len(bp.pre_tokenize_str('a' + ch + 'a'))]
        if len(gl.pre_tokenize_str('a' + ch)) == 1:
            g = 'L'
        elif len(gl.pre_tokenize_str('1' + ch)) == 1:
            g = 'N'
        elif len(gl.pre_tokenize_str('!' + ch)) == 1:
            g = 'O'
        else:
            g = 'S'
        hf[c] = (bl.normalize_str(ch), bc.normalize_str(ch), b, g)
    return hf


def bert_class(c, h):
    nl, nc, b, g = h
    if nc == '':
        return 'x'
    if nc == ' ':
        return 'w'
    if cjk(c):
        return 'c'
    return b


def rle(hf, f):
    runs, prev = [], None
    for c in range(0x110000):
        v = prev if 0xD800 <= c <= 0xDFFF else f(c, hf[c])
        if v != prev:
            runs.append([c, v])
            prev = v
    return runs


def write_unicode_fixture(out, hf):
    lower = {}
    for c, h in hf.items():
        k = bert_class(c, h)
        if k in 'xw' or 0xAC00 <= c <= 0xD7A3:
            continue
        if h[0] != (' %c ' % c if k == 'c' else chr(c)):
            lower['%x' % c] = [ord(x) for x in h[0]]
    import tokenizers
    doc = {'generator': 'tests/reference/make_tokenizer_fixtures.py (tokenizers %s)' % tokenizers.__version__,
           'bert': rle(hf, bert_class), 'gpt2': rle(hf, lambda c, h: h[3]), 'bert_lower': lower}
    path = os.path.join(out, 'unicode.json')
    with open(path, 'w') as f:
        f.write('{\n  "generator": %s,\n' % json.dumps(doc['generator']))
        for k in ('bert', 'gpt2'):
            f.write('  "%s": [\n' % k)
            runs = doc[k]
            for i in range(0, len(runs), 12):
                f.write('    %s%s\n' % (', '.join(json.dumps(r) for r in runs[i:i + 12]),
                                        ',' if i + 12 < len(runs) else ''))
            f.write('  ],\n')
        items = list(lower.items())
        f.write('  "bert_lower": {\n')
        for i in range(0, len(items), 8):
            f.write('    %s%s\n' % (', '.join('%s: %s' % (json.dumps(k), json.dumps(v)) for k, v in items[i:i + 8]),
                                    ',' if i + 8 < len(items) else ''))
        f.write('  }\n}\n')
    print('wrote %s: %d bert runs, %d gpt2 runs, %d lower-case entries' % (
        path, len(doc['bert']), len(doc['gpt2']), len(lower)))


def print_c_tables(hf):
    """Where HF differs from utf8proc (via ctypes), as the C range tables of the sources."""
    import ctypes
    U = ctypes.CDLL('libutf8proc.so.2')
    U.utf8proc_NFD.restype = ctypes.c_void_p
    U.utf8proc_NFD.argtypes = [ctypes.c_char_p]
    U.utf8proc_unicode_version.restype = ctypes.c_char_p
    libc = ctypes.CDLL('libc.so.6')
    libc.free.argtypes = [ctypes.c_void_p]

    def nfd(s):
        p = U.utf8proc_NFD(s.encode())
        r = ctypes.string_at(p).decode()
        libc.free(p)
        return r

    cat = U.utf8proc_category  # 1-5 L, 6 Mn, 9-11 N, 12-18 P, 26-29 Cc Cf Cs Co

    def my_control(c):
        return c not in (9, 10, 13) and (c < 0x20 or 0x7F <= c < 0xA0 or cat(c) in (26, 27, 28, 29))

    def my_punct(c):
        if c < 128:
            return 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126
        return 12 <= cat(c) <= 18

    def my_gpt(c):
        if c in WS:
            return 'S'
        k = cat(c)
        return 'L' if 1 <= k <= 5 else 'N' if 9 <= k <= 11 else 'O'

    ctl, pun, mn, low, gpt = {}, {}, {}, {}, {}
    for c, (nl, nc, b, g) in hf.items():
        if c not in WS and c not in (0, 0xFFFD) and (nc == '') != my_control(c):
            ctl[c] = int(nc == '')
        if (b == 'p') != my_punct(c):
            pun[c] = int(b == 'p')
        if g != my_gpt(c):
            gpt[c] = {'L': 'CL_LETTER', 'N': 'CL_NUMBER', 'O': 'CL_OTHER', 'S': 'CL_SPACE'}[g]
        if nc in ('', ' ') or cjk(c) or nfd(chr(c)) != chr(c):
            continue
        if (nl == '') != (cat(c) == 6):
            mn[c] = int(nl == '')
        if nl != '' and nl != chr(U.utf8proc_tolower(c)):
            low[c] = ord(nl) - c

    def emit(name, d, comment):
        rows = []
        for c in sorted(d):
            if rows and rows[-1][1] == c - 1 and rows[-1][2] == d[c]:
                rows[-1][1] = c
            else:
                rows.append([c, c, d[c]])
        print('/* %s */\nstatic const uni_range %s[] = {' % (comment, name))
        line = '   '
        for lo, hi, v in rows:
            s = ' {0x%X, 0x%X, %s},' % (lo, hi, v)
            if len(line) + len(s) > 100:
                print(line)
                line = '   '
            line += s
        print(line + '\n};')

    print('/* against utf8proc with Unicode %s */' % U.utf8proc_unicode_version().decode())
    emit('bert_control_fix', ctl, 'HF "control" where utf8proc differs')
    emit('bert_punct_fix', pun, 'HF punctuation')
    emit('bert_mn_fix', mn, 'HF nonspacing marks')
    emit('lower_fix', low, 'lower - upper')
    emit('gpt2_class_fix', gpt, 'Unicode 16 letters / numbers')
    def via_nfd(c):
        return ''.join(chr(U.utf8proc_tolower(ord(x))) for x in nfd(chr(c)) if cat(ord(x)) != 6)

    keep = [c for c, (nl, nc, b, g) in hf.items()
            if nc not in ('', ' ') and not cjk(c) and nfd(chr(c)) != chr(c) and nl == chr(U.utf8proc_tolower(c))
            and nl != via_nfd(c)]
    print('/* canonical decompositions HF does not apply (NFD_KEEP): %s */' % ', '.join('0x%X' % c for c in keep))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--vocab', default=os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'vocab'))
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer'))
    ap.add_argument('--c-tables', action='store_true', help='print the C tables and exit')
    ap.add_argument('--skip-unicode', action='store_true', help='do not rewrite unicode.json (slow)')
    args = ap.parse_args()
    if not os.path.isdir(args.vocab):
        sys.exit('vocab directory %s not found (use --vocab)' % args.vocab)
    if args.c_tables:
        print_c_tables(hf_codepoints())
        return
    singles, pairs = read_corpus(os.path.join(args.out, 'corpus.txt'))
    write_tokenizer_fixtures(args.vocab, args.out, singles, pairs)
    if not args.skip_unicode:
        write_unicode_fixture(args.out, hf_codepoints())


if __name__ == '__main__':
    main()
