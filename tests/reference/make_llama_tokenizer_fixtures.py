#!/usr/bin/env python3
"""make_llama_tokenizer_fixtures.py — small LLaMA-family tokenizer.json files and the token ids
PyPI `tokenizers` gives for them, for tests/unit/test_tokenizer_json.c.

Trains (offline, BpeTrainer, on ../shared/data: GLUE, E2E, UCI sentiment, plus generated
multilingual / code / number lines) small BPE models and writes, under
tests/fixtures/tokenizer/json/:

  llama3.json     byte-level: Split(Llama 3 regex) + ByteLevel(use_regex=false), ignore_merges,
                  Llama 3's added tokens, TemplateProcessing "<|begin_of_text|> $A"; a few
                  extra vocab words that merges cannot build (so ignore_merges shows)
  qwen2.json      byte-level: NFC + Split(Qwen2 regex) + ByteLevel, <|endoftext|> <|im_start|>
                  <|im_end|> (special) and <tool_call> (not special), no template
  smollm2.json    byte-level: Digits(individual_digits) + ByteLevel(use_regex=true), specials
                  <|endoftext|> <|im_start|> <|im_end|> at ids 0-2, as SmolLM2's file
  llama2.json     SentencePiece-style: normalizer Prepend("▁") + Replace(" ", "▁"), BPE with
                  byte_fallback, <unk> (fuse_unk), <0x00>..<0xFF> at ids 3-258, "<s> $A"
                  template, Llama 2's decoder; merges written as "a b" strings and made as
                  transformers' LlamaConverter makes them from SentencePiece scores (score 0
                  for ids < 259, else -id), so that merges derived from scores can be checked
  mistral.json    the same vocab (the trainer's merges, as [a, b] pairs) with pre_tokenizer Metaspace(prepend_scheme "first",
                  split false) and no normalizer, plus a normalized non-special added token
  small.json      hand-made tiny tokenizers (see small_tokenizers) with a few texts each: raw
                  tokens, decode, encode with specials, encode of (text, "ab")
  texts.json      the test texts (>= 2,000): tests/fixtures/tokenizer/corpus.txt, samples of the
                  shared data (some cut at random points) and generated edge cases
  NAME.ids.json   for each tokenizer: raw tokens of every text (add_special_tokens=False) and
                  decode(tokens, skip_special_tokens=True) where it differs from the text
  NAME.enc.json   encode(add_special_tokens=True) at max_length 512 and 8 (ids, type ids) and
                  its decode without skipping specials for the first ENCODE_N texts, and pairs
                  (a, b: consecutive non-empty texts) for PAIR_N of them at max_length 512 and 9

The C test reads these and must reproduce every list exactly (for tokenizer.json via
pst_tokenizer_load_json and, for all but mistral, via pst_tokenizer_from_vocab with arrays built
from the file as a GGUF converter would). The files are committed; rerun this script (same
tokenizers version, see "generator") only to regenerate them:

  /usr/bin/python3 -m pip install --break-system-packages tokenizers
  /usr/bin/python3 tests/reference/make_llama_tokenizer_fixtures.py [--data DIR] [--out DIR]
"""
import argparse
import csv
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from make_tokenizer_fixtures import RANDOM_PIECES, RANDOM_WORDS, read_corpus  # noqa: E402

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")
VOCAB = 3000
ENCODE_N = 300
PAIR_N = 120
SEED = 2024

CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
    "if __name__ == '__main__':\n    main()\n",
    "const x = {a: 1, 'b': [2, 3]};\r\n",
    "    \tmixed  indentation\t\t\n\n\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }",
    "x=1;y=2;z=x+y  # 3\n\n",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "λx. x + 1 → ∀y ∈ ℝ, y² ≥ 0",
    "path/to/file_name-v2.tar.gz  ~/.config/app.ini  C:\\Users\\me",
    "user@example.com https://example.org/a?b=1&c=2#frag",
]
MULTI = [
    "中文分词测试：我爱北京天安门。", "日本語のテキスト、カタカナとひらがな。", "한국어 문장입니다.",
    "Ελληνικά κείμενα με τόνους", "Русский текст с ёжиком", "العربية مَرحبا بالعالم", "हिन्दी नमस्ते दुनिया",
    "ไทย ภาษา", "emoji 😀👍🏽 👨‍👩‍👧 🇫🇷 ❤️", "combining e\u0301 a\u0308 o\u0302\u0323 Z\u0335\u0321",
    "numbers 1234567890 3.14159 1,000,000 ٣٤٥ ५६ ① ½ Ⅻ", "tabs\tand\nnewlines\r\nand  spaces   x",
]
SPECIAL_BITS = ["<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_start|>",
                "<|im_end|>", "<|endoftext|>", "<tool_call>", "<|begin_of", "<0x41>", "▁", "▁▁", "New York",
                "<|start_header_id|>user<|end_header_id|>\n\n"]
EDGE_PIECES = RANDOM_PIECES + SPECIAL_BITS + [
    "'S", "'LL", "'Re", "'ſ", "ſ", "\r", "\r\n\r\n", "\n\n", "\t\t", "    ", "  \n", " \n ", "12", "123", "1234",
    "00000", "3.5", "-7", "1e9", "0x1F", "x²", "٣", "𝟘𝟙", "😀", "🏽", "👨‍👩‍👧", "def", "():", "{}", "[]", "==", "->",
    "//", "/*", "*/", "#!", ";\n", "\u00a0\u00a0", "\u3000", "é", "e\u0301", "ﬁ", "Ａ", "가", "中文", "カ"]


def read_shared(data):
    """Sentences of the shared data sets (GLUE, E2E, UCI sentiment), in a fixed order."""
    out = []

    def tsv(path, cols, header=True):
        with open(path, encoding='utf-8-sig', newline='') as f:
            rows = list(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE))
        for r in rows[1 if header else 0:]:
            for c in cols:
                if c < len(r) and r[c].strip():
                    out.append(r[c])
    tsv(os.path.join(data, 'glue/SST-2/dev.tsv'), [0])
    tsv(os.path.join(data, 'glue/SST-2/train.tsv'), [0])
    tsv(os.path.join(data, 'glue/CoLA/train.tsv'), [3], header=False)
    tsv(os.path.join(data, 'glue/MRPC/train.tsv'), [3, 4])
    tsv(os.path.join(data, 'glue/RTE/train.tsv'), [1, 2])
    tsv(os.path.join(data, 'glue/STS-B/train.tsv'), [7, 8])
    for name in ('imdb', 'yelp', 'amazon'):
        tsv(os.path.join(data, 'uci-sentiment/%s.tsv' % name), [0])
    with open(os.path.join(data, 'e2e/trainset.csv'), encoding='utf-8', newline='') as f:
        for r in list(csv.reader(f))[1:]:
            out.extend([r[0], r[1]])
    return out


def training_lines(shared, rng):
    lines = shared[:40000]
    for _ in range(3000):
        lines.append(rng.choice(CODE) + rng.choice(MULTI))
        lines.append(''.join(rng.choice(EDGE_PIECES) for _ in range(rng.randint(1, 12))))
    return lines


def test_texts(shared, corpus_singles, rng):
    texts = list(corpus_singles)
    sample = rng.sample(shared, 1500)
    for i, s in enumerate(sample):
        if i % 3 == 1 and len(s) > 4:  # cut at a random point (mid-word, mid-space)
            s = s[:rng.randint(1, len(s) - 1)]
        elif i % 3 == 2 and len(s) > 120:
            s = s[:120]
        texts.append(s)
    for c in CODE:
        texts.append(c)
    for m in MULTI:
        texts.append(m)
    for _ in range(650):  # edge cases: pieces and words, white space runs, digits, specials
        n = rng.randint(0, 16)
        texts.append(''.join(rng.choice(EDGE_PIECES) if rng.random() < 0.75 else rng.choice(RANDOM_WORDS)
                             for _ in range(n)))
    for _ in range(40):
        texts.append(''.join(rng.choice(' \t\n\r\u00a0') for _ in range(rng.randint(1, 12))) + rng.choice(['x', '', '!', '1', '中']))
        texts.append(''.join(rng.choice('0123456789') for _ in range(rng.randint(1, 14))) + rng.choice(['', ' ', 'a', '.5']))
    for _ in range(10):
        texts.append(' '.join(rng.choice(shared) for _ in range(4)))  # long inputs
    return texts


def train(lines, pre, byte_level, specials, limit_alphabet=None):
    from tokenizers import Tokenizer, models, trainers, pre_tokenizers
    model = models.BPE(unk_token=None if byte_level else '<unk>', byte_fallback=not byte_level,
                       fuse_unk=not byte_level)
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre
    kw = dict(vocab_size=VOCAB, special_tokens=specials, show_progress=False)
    if byte_level:
        kw['initial_alphabet'] = pre_tokenizers.ByteLevel.alphabet()
    if limit_alphabet:
        kw['limit_alphabet'] = limit_alphabet
    tok.train_from_iterator(lines, trainers.BpeTrainer(**kw))
    return json.loads(tok.to_str())


def added(i, content, special=True, normalized=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": special}


def template(bos, bos_id):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


BYTELEVEL_POST = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
BYTELEVEL_DEC = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
LLAMA2_DEC = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def byte_level_files(lines):
    from tokenizers import pre_tokenizers as P, Regex
    bl = lambda regex: P.ByteLevel(add_prefix_space=False, use_regex=regex)  # noqa: E731
    out = {}
    # Llama 3
    d = train(lines, P.Sequence([P.Split(Regex(LLAMA3), 'isolated'), bl(False)]), True, [])
    d['model']['ignore_merges'] = True
    vocab = d['model']['vocab']
    n = len(vocab)
    for w in ['Ġthe', 'Ġmovie', 'Ġfilm', 'Ġrestaurant', 'Ġpublic', 'Ġfamily', 'Ġcharacters', 'Ġbeautiful',
              'Ġcustomer', 'Ġrating', 'Ġnear', 'Ġprice', 'Ġfood', 'Ġgood', 'Ġgreat', 'Ġstory', 'Ġtime', 'ing',
              'Ġand', 'Ġnot', 'Ġhas', 'Ġwas', 'Ġvery', 'Ġbad', 'Ġreally', 'Ġ123', '000', 'ĠĠĠ', 'ĊĊ',
              'ä¸Ńæĸĩ', 'ðŁĺĢ', 'Hello', 'Ġworld', 'world']:
        if w not in vocab:  # words merges cannot build (or can): the whole piece is one token
            vocab[w] = n
            n += 1
    names = ['<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>',
             '<|reserved_special_token_1|>', '<|start_header_id|>', '<|end_header_id|>',
             '<|reserved_special_token_2|>', '<|eot_id|>'] + ['<|reserved_special_token_%d|>' % k for k in range(3, 12)]
    d['added_tokens'] = [added(n + k, t) for k, t in enumerate(names)]
    d['post_processor'] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        template('<|begin_of_text|>', n)]}
    d['decoder'] = BYTELEVEL_DEC
    out['llama3'] = d
    # Qwen2
    d = train(lines, P.Sequence([P.Split(Regex(QWEN2), 'isolated'), bl(False)]), True, [])
    n = len(d['model']['vocab'])
    d['normalizer'] = {"type": "NFC"}
    d['added_tokens'] = [added(n, '<|endoftext|>'), added(n + 1, '<|im_start|>'), added(n + 2, '<|im_end|>'),
                         added(n + 3, '<tool_call>', special=False)]
    d['post_processor'] = BYTELEVEL_POST
    d['decoder'] = BYTELEVEL_DEC
    out['qwen2'] = d
    # SmolLM2
    d = train(lines, P.Sequence([P.Digits(individual_digits=True), bl(True)]), True,
              ['<|endoftext|>', '<|im_start|>', '<|im_end|>'])
    d['post_processor'] = BYTELEVEL_POST
    d['decoder'] = BYTELEVEL_DEC
    out['smollm2'] = d
    return out


def sp_scores(vocab):
    """SentencePiece-style scores: 0 for the specials and byte tokens, -id for the others."""
    return {t: 0.0 if i < 259 else -float(i) for t, i in vocab.items()}


def generate_merges(vocab, vocab_scores):
    """transformers' convert_slow_tokenizer.generate_merges (LlamaConverter's merges from the
    SentencePiece scores): every split of every piece into two pieces, ranked by the piece's
    score, then the lengths of the parts, highest first (stable)."""
    merges = []
    for merge, piece_score in vocab_scores.items():
        local = []
        for index in range(1, len(merge)):
            piece_l, piece_r = merge[:index], merge[index:]
            if piece_l in vocab and piece_r in vocab:
                local.append((piece_l, piece_r, piece_score))
        local = sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges = sorted(merges, key=lambda val: (val[2], len(val[0]), len(val[1])), reverse=True)
    return [(val[0], val[1]) for val in merges]


def sentencepiece_files(lines):
    from tokenizers import pre_tokenizers as P
    d = train(lines, P.Metaspace(replacement='▁', prepend_scheme='always', split=True), False,
              ['<unk>', '<s>', '</s>'], limit_alphabet=150)
    old = d['model']['vocab']
    order = sorted(old, key=lambda t: old[t])
    vocab = {'<unk>': 0, '<s>': 1, '</s>': 2}
    for b in range(256):
        vocab['<0x%02X>' % b] = len(vocab)
    for t in order:
        if t not in vocab:
            vocab[t] = len(vocab)
    m = d['model']
    m['vocab'] = vocab
    m['merges'] = [' '.join(p) if isinstance(p, list) else p for p in m['merges']]
    m['unk_token'] = '<unk>'
    m['byte_fallback'] = True
    m['fuse_unk'] = True
    d['added_tokens'] = [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')]
    d['post_processor'] = template('<s>', 1)
    d['decoder'] = LLAMA2_DEC
    llama2 = json.loads(json.dumps(d))
    llama2['model']['merges'] = [' '.join(p) for p in generate_merges(vocab, sp_scores(vocab))]
    llama2['normalizer'] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    llama2['pre_tokenizer'] = None
    mistral = json.loads(json.dumps(d))
    mistral['normalizer'] = None
    mistral['pre_tokenizer'] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    m2 = mistral['model']
    m2['merges'] = [p.split(' ') for p in m2['merges']]
    nt = len(m2['vocab'])
    mistral['added_tokens'].append(added(nt, 'New York', special=False, normalized=True))
    return {'llama2': llama2, 'mistral': mistral}


def dump_tokenizer(path, d):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(d, f, ensure_ascii=False, separators=(',', ':'))
        f.write('\n')


def write_ids(path, tok, name, texts):
    import tokenizers
    doc = {"generator": "tests/reference/make_llama_tokenizer_fixtures.py (tokenizers %s)" % tokenizers.__version__,
           "tokenizer": name + ".json", "vocab_size": tok.get_vocab_size(with_added_tokens=True),
           "tokens": [], "decode": {}, "encode": [], "pairs": []}
    for i, t in enumerate(texts):
        ids = tok.encode(t, add_special_tokens=False).ids
        doc["tokens"].append(ids)
        dec = tok.decode(ids, skip_special_tokens=True)
        if dec != t:
            doc["decode"][str(i)] = dec
    for t in texts[:ENCODE_N]:
        e = {}
        for L in (512, 8):
            tok.enable_truncation(L, strategy='longest_first')
            r = tok.encode(t, add_special_tokens=True)
            e[str(L)] = [r.ids, r.type_ids]
        tok.no_truncation()
        e["keep"] = tok.decode(e["512"][0], skip_special_tokens=False)
        doc["encode"].append(e)
    nonempty = [i for i, t in enumerate(texts) if t]  # tokenizers takes "" as an (empty) second sequence
    for k in range(PAIR_N):
        a, b = nonempty[k], nonempty[k + 1]
        e = {"a": a, "b": b}
        for L in (512, 9):
            tok.enable_truncation(L, strategy='longest_first')
            r = tok.encode(texts[a], texts[b], add_special_tokens=True)
            e[str(L)] = [r.ids, r.type_ids]
        tok.no_truncation()
        doc["pairs"].append(e)
    def lists(f, k, last):
        f.write('  "%s": [\n' % k)
        for j, e in enumerate(doc[k]):
            f.write('    %s%s\n' % (json.dumps(e, separators=(',', ':'), ensure_ascii=True),
                                    ',' if j + 1 < len(doc[k]) else ''))
        f.write('  ]%s\n' % ('' if last else ','))
    with open(path + '.ids.json', 'w', encoding='utf-8') as f:  # raw tokens and decodes
        f.write('{\n')
        for k in ("generator", "tokenizer", "vocab_size"):
            f.write('  %s: %s,\n' % (json.dumps(k), json.dumps(doc[k])))
        f.write('  "decode": %s,\n' % json.dumps(doc["decode"], ensure_ascii=True))
        lists(f, "tokens", True)
        f.write('}\n')
    with open(path + '.enc.json', 'w', encoding='utf-8') as f:  # model inputs
        f.write('{\n')
        for k in ("generator", "tokenizer"):
            f.write('  %s: %s,\n' % (json.dumps(k), json.dumps(doc[k])))
        lists(f, "encode", False)
        lists(f, "pairs", True)
        f.write('}\n')
    return sum(len(x) for x in doc["tokens"]), len(doc["decode"])


def small_tokenizers():
    """Hand-made tiny tokenizer.json documents for the corners the trained ones do not reach:
    characters without a token (byte fallback with some byte tokens missing, unk fused or not,
    dropped without unk), Metaspace always/split, lstrip / rstrip / normalized added tokens,
    Digits in runs, BertProcessing / RobertaProcessing templates."""
    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "ab": 7, "<0xC3>": 8, "<0xA9>": 9,
                "<0x0A>": 10, "▁ab": 11, "<0xE4>": 12}
    sp_merges = [["▁", "a"], ["a", "b"], ["▁a", "b"]]
    llama_norm = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}

    def sp(fuse, unk=True, norm=llama_norm, pre=None, post=None):
        return {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
                "normalizer": norm, "pre_tokenizer": pre, "post_processor": post or template("<s>", 1),
                "decoder": LLAMA2_DEC,
                "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>" if unk else None,
                          "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": fuse,
                          "byte_fallback": True, "ignore_merges": False, "vocab": sp_vocab, "merges": sp_merges}}
    sp_texts = ["a b", "ab é", "中文a", "a中é文", "x y z", "\n", "é中", "<s>ab</s>", " a", "a  b", "", "abab ab",
                "é", "中", "中中中 ab", "a\nb", "ab</s>ab", "  "]
    from tokenizers.pre_tokenizers import ByteLevel
    bl_vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    for w in ["ab", "abc", "Ġa", "Ġab", "12", "123"]:
        bl_vocab[w] = len(bl_vocab)
    n = len(bl_vocab)
    bl_added = [added(n, "<mask>"), added(n + 1, "<sep>"), added(n + 2, "[CLS]"), added(n + 3, "[SEP]"),
                added(n + 4, "x y", special=False, normalized=True)]
    bl_added[0]["lstrip"] = True
    bl_added[1]["rstrip"] = True
    bl_merges = [["a", "b"], ["ab", "c"], ["Ġ", "a"], ["Ġa", "b"], ["1", "2"], ["12", "3"]]

    def bl(pre, post=None, norm=None, vocab=bl_vocab, add=bl_added, merges=bl_merges):
        return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": add, "normalizer": norm,
                "pre_tokenizer": pre, "post_processor": post, "decoder": BYTELEVEL_DEC,
                "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                          "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                          "ignore_merges": False, "vocab": vocab, "merges": merges}}
    digits_bl = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False},
                                                       {"type": "ByteLevel", "add_prefix_space": False,
                                                        "trim_offsets": True, "use_regex": False}]}
    gpt2_bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    bl_texts = ["a <mask> b", "a  <mask>", "<sep>  x", "12345 abc 6", "  <mask>  <sep>  ", "ab abc 123 1234",
                "x y", "ax yb", "x  y", "<mask><mask>", "abc<sep>", "\t<mask>\n", "é 中", ""]
    ascii_vocab = {chr(c): c - 33 for c in range(33, 127)}
    return [
        ("sp-fuse", sp(True), sp_texts),
        ("sp-nofuse", sp(False), sp_texts),
        ("sp-nounk", sp(True, unk=False), sp_texts),
        ("sp-metaspace-always-split", sp(True, norm=None, pre={"type": "Metaspace", "replacement": "▁",
                                                               "prepend_scheme": "always", "split": True}), sp_texts),
        ("sp-metaspace-legacy", sp(False, norm=None, pre={"type": "Metaspace", "replacement": "▁",
                                                          "add_prefix_space": True}), sp_texts),
        ("bl-digits-bert", bl(digits_bl, post={"type": "BertProcessing", "sep": ["[SEP]", n + 3],
                                               "cls": ["[CLS]", n + 2]}), bl_texts),
        ("bl-gpt2-roberta-nfc", bl(gpt2_bl, norm={"type": "NFC"},
                                   post={"type": "RobertaProcessing", "sep": ["[SEP]", n + 3], "cls": ["[CLS]", n + 2],
                                         "trim_offsets": True, "add_prefix_space": False}), bl_texts),
        ("bl-missing-bytes", bl(gpt2_bl, vocab=ascii_vocab, add=[], merges=[]), ["héllo wörld", "a b", "中"]),
    ]


def write_small(path):
    from tokenizers import Tokenizer
    import tokenizers
    out = []
    for name, d, texts in small_tokenizers():
        tok = Tokenizer.from_str(json.dumps(d))
        cases = []
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            e = tok.encode(t, add_special_tokens=True)
            p = tok.encode(t, "ab", add_special_tokens=True)
            cases.append({"text": t, "tokens": ids, "decode": tok.decode(ids, skip_special_tokens=True),
                          "encode": [e.ids, e.type_ids], "pair_ab": [p.ids, p.type_ids],
                          "keep": tok.decode(e.ids, skip_special_tokens=False)})
        out.append({"name": name, "tokenizer": d, "cases": cases})
    with open(path, 'w', encoding='utf-8') as f:
        f.write('{"generator": %s,\n "small": [\n' % json.dumps(
            "tests/reference/make_llama_tokenizer_fixtures.py (tokenizers %s)" % tokenizers.__version__))
        for j, e in enumerate(out):
            f.write('  %s%s\n' % (json.dumps(e, ensure_ascii=True), ',' if j + 1 < len(out) else ''))
        f.write(']}\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=os.path.join(os.path.dirname(ROOT), 'shared', 'data'))
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer', 'json'))
    args = ap.parse_args()
    from tokenizers import Tokenizer
    rng = random.Random(SEED)
    shared = read_shared(args.data)
    rng.shuffle(shared)
    lines = training_lines(shared, rng)
    singles, _ = read_corpus(os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer', 'corpus.txt'))
    texts = test_texts(shared[40000:], singles, rng)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'texts.json'), 'w', encoding='utf-8') as f:
        f.write('[\n')
        for j, t in enumerate(texts):
            f.write('  %s%s\n' % (json.dumps(t, ensure_ascii=True), ',' if j + 1 < len(texts) else ''))
        f.write(']\n')
    write_small(os.path.join(args.out, 'small.json'))
    files = byte_level_files(lines)
    files.update(sentencepiece_files(lines))
    for name, d in files.items():
        path = os.path.join(args.out, name + '.json')
        dump_tokenizer(path, d)
        tok = Tokenizer.from_file(path)
        ntok, ndec = write_ids(os.path.join(args.out, name), tok, name, texts)
        print('%s: %d texts, %d tokens, %d decodes differ from the text' % (name, len(texts), ntok, ndec))


if __name__ == '__main__':
    main()
