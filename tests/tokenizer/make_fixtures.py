#!/usr/bin/env python3
"""Writes tests/tokenizer/fixtures: small tokenizer.json files trained with the Hugging Face
`tokenizers` package on the corpus below (nothing downloaded), and for each the ids and decoded text
the package gives for every corpus line (expected.json). Also tokenizer files mixc must refuse, each
with the name its error must give (refuse.json). `make refresh-tokenizer-fixtures` rewrites them;
`make test-python` makes them fresh into the build folder and runs tests/tokenizer/run.sh on them."""
import argparse, copy, json, os

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "It's what they'll say: we're sure you've met I'd, I'm and don't.",
    "Café crème brûlée, naïve façade, Ærøskøbing, São Paulo, Zürich.",
    "Привет, мир! Как дела? Ελληνικά γράμματα.",
    "中文分词测试：我们今天去北京。日本語のテキストです。한국어 문장입니다.",
    "Emoji: 😀🎉👍🏽 and 👨‍👩‍👧‍👦 family, flags 🇫🇷🇯🇵.",
    "مرحبا بالعالم، هذا اختبار للنص العربي.",
    "def add(a, b):\n    return a + b  # sum\n\nprint(add(12, 345))",
    "for (int i = 0; i < n; ++i) { x[i] = y[i] * 2.5f; }",
    "Numbers: 0 7 42 1234 56789 3.14159 -17 1,000,000 and 2024-06-30.",
    "   leading spaces, trailing spaces   ",
    "tabs\tand\t\tnew\nlines\n\n\nand  double  spaces",
    "<|endoftext|> special in the middle <|endoftext|>end",
    "added <tool> tokens<tool>glued and <tool>",
    "MiXeD CaSe WoRdS and ALLCAPS and snake_case_names and camelCaseNames",
    "URLs: https://example.com/path?q=1&r=two#frag and mail@example.org",
    "Unseen: ǅ ℌ ﬁ ⅷ ①, rare symbols ∮ ⊕ ≠ ≤ and the null-ish \u200b zero width",
    "",
    " ",
    "\n",
    "a",
    "Decomposed: Cafe\u0301, A\u030angstro\u0308m, n\u0303, \u1100\u1161\u11a8 and composed Café, Ångström",
]

GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def train(tok, special, added, vocab_size=600):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    tok.add_tokens(added)
    return tok


def gpt2_style():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return train(tok, ["<|endoftext|>"], ["<tool>"])


def gpt2_prefix_space():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return train(tok, ["<|endoftext|>"], [], vocab_size=400)


def llama3_style():
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok = train(tok, ["<|begin_of_text|>", "<|endoftext|>"], ["<tool>"])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def qwen2_style():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return train(tok, ["<|endoftext|>", "<|im_start|>"], ["<tool>"])


def with_byte_tokens(tok):
    """The tokenizer with <0x00>..<0xFF> appended to its vocabulary (as sentencepiece conversions hold
    them) so that byte_fallback has them: read back through the package, which makes the expectations."""
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    return Tokenizer.from_str(json.dumps(j))


def sentencepiece_bpe(normalizer, pre_tokenizer, decoder, special, added, template=True, vocab_size=500):
    """A BPE of a sentencepiece conversion: byte_fallback, an unk token, a small alphabet (so that the
    rarer characters fall back to bytes), a Metaspace-like normalizer or pre-tokenizer."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoder
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  limit_alphabet=80)
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    tok.add_tokens(added)
    tok = with_byte_tokens(tok)
    if template:
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                           special_tokens=[("<s>", bos)])
    return tok


SP_DECODER = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]


def llama2_style():
    """Llama 2 and Mistral v0.1 (legacy conversion): Prepend and Replace normalizers, no pre-tokenizer."""
    return sentencepiece_bpe(normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]),
                             None, decoders.Sequence(SP_DECODER + [decoders.Strip(" ", 1, 0)]),
                             ["<unk>", "<s>", "</s>"], ["<tool>"])


def metaspace_first():
    """The newer conversion: a Metaspace pre-tokenizer prepending to the first piece only."""
    return sentencepiece_bpe(None, pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False),
                             decoders.Sequence(SP_DECODER + [decoders.Strip(" ", 1, 0)]),
                             ["<unk>", "<s>", "</s>"], ["<tool>"])


def metaspace_split():
    """Metaspace splitting at every space (words), always prepending."""
    return sentencepiece_bpe(None, pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
                             decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="always",
                                                                   split=True), decoders.ByteFallback(), decoders.Fuse()]),
                             ["<unk>", "<s>", "</s>"], [], template=False)


def gemma_style():
    """Gemma: spaces replaced, nothing prepended, no pre-tokenizer, no Strip."""
    return sentencepiece_bpe(normalizers.Replace(" ", "\u2581"), None, decoders.Sequence(SP_DECODER),
                             ["<pad>", "<eos>", "<s>", "<unk>", "<start_of_turn>", "<end_of_turn>"], [])


def expected(tok):
    cases = []
    for text in CORPUS:
        ids = tok.encode(text).ids
        cases.append({"text": text, "ids": ids,
                      "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    return cases


def refusals(base):
    """(file name, tokenizer.json dict, the name the error must give)."""
    out = []
    def variant(name, must_name, edit):
        j = copy.deepcopy(base)
        edit(j)
        out.append((name, j, must_name))
    variant("normalizer_nfkc", "NFKC", lambda j: j.__setitem__("normalizer", {"type": "NFKC"}))
    variant("normalizer_sequence", "Lowercase",
            lambda j: j.__setitem__("normalizer", {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"}, {"type": "Lowercase"}]}))
    variant("normalizer_replace_regex", "Regex",
            lambda j: j.__setitem__("normalizer", {"type": "Replace", "pattern": {"Regex": " +"}, "content": " "}))
    variant("decoder_ctc", "CTC", lambda j: j.__setitem__("decoder", {"type": "CTC", "pad_token": "<pad>",
                                                                        "word_delimiter_token": "|", "cleanup": True}))
    variant("pretok_metaspace_bad_scheme", "prepend_scheme",
            lambda j: j.__setitem__("pre_tokenizer", {"type": "Metaspace", "replacement": "\u2581",
                                                      "prepend_scheme": "sometimes", "split": False}))
    variant("model_wordpiece", "WordPiece", lambda j: j["model"].__setitem__("type", "WordPiece"))
    variant("model_unigram", "Unigram", lambda j: j["model"].__setitem__("type", "Unigram"))
    variant("pretok_digits", "Digits",
            lambda j: j.__setitem__("pre_tokenizer", {"type": "Digits", "individual_digits": True}))
    variant("dropout", "dropout", lambda j: j["model"].__setitem__("dropout", 0.1))
    variant("postproc_roberta", "RobertaProcessing",
            lambda j: j.__setitem__("post_processor", {"type": "RobertaProcessing", "sep": ["</s>", 2],
                                                        "cls": ["<s>", 0], "trim_offsets": True,
                                                        "add_prefix_space": False}))
    variant("added_lstrip", "lstrip", lambda j: j["added_tokens"][0].__setitem__("lstrip", True))
    return out


def small_json(tok):
    return json.loads(tok.to_str())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    families = {"gpt2": gpt2_style(), "gpt2_prefix": gpt2_prefix_space(), "llama3": llama3_style(),
                "qwen2": qwen2_style(), "llama2": llama2_style(), "metaspace_first": metaspace_first(),
                "metaspace_split": metaspace_split(), "gemma": gemma_style()}
    for name, tok in families.items():
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(small_json(tok), f, ensure_ascii=False, separators=(",", ":"))
        with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
            json.dump(expected(tok), f, ensure_ascii=False, indent=0)
    rd = os.path.join(args.out, "refuse")
    os.makedirs(rd, exist_ok=True)
    table = {}
    for name, j, must in refusals(small_json(families["gpt2"])):
        # Only what the refusal needs: a vocabulary of the bytes, no merges, keeps these files small.
        j["model"]["vocab"] = {k: v for k, v in j["model"]["vocab"].items() if v < 300}
        j["model"]["merges"] = []
        with open(os.path.join(rd, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
        table[name] = must
    with open(os.path.join(rd, "refuse.json"), "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out, "made_with.json"), "w") as f:
        json.dump({"tokenizers": tokenizers.__version__}, f)


if __name__ == "__main__":
    main()
