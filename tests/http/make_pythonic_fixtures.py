"""Writes tests/http/fixtures/pythonic.json: answers of a model and the tool calls vLLM's pythonic
parsers read from them (PythonicToolParser, Llama4PythonicToolParser: a pattern, then Python's ast,
each keyword argument a literal, json.dumps(ensure_ascii=False)), for tests/http/test_tools.c.

Run in the venv (`make refresh-pythonic-fixtures`); commit the result. A case in STRICTER is one that
mixrun reads as text where vLLM reads calls, with the reason: the reader takes no construct it does not
compute exactly (docs/serving.md, "Tool calling"). `make test-python` also compares random answers
(--random SEED N OUT)."""
import ast
import json
import os
import random
import re
import sys

# vLLM's PythonicToolParser.TOOL_CALL_REGEX
PATTERN = re.compile(r"\[([a-zA-Z]+\w*\(([a-zA-Z]+\w*=.*,\s*)*([a-zA-Z]+\w*=.*\s)?\),\s*)*([a-zA-Z]+\w*\(([a-zA-Z]+\w*=.*,\s*)*"
                     r"([a-zA-Z]+\w*=.*\s*)?\)\s*)+\]", re.DOTALL)


def literal(node):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        if not all(isinstance(k, ast.Constant) for k in node.keys):
            raise ValueError("dict keys must be literals")
        return {k.value: literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.List):
        return [literal(v) for v in node.elts]
    raise ValueError("arguments must be literals")


def vllm_calls(text, parser):
    """[[name, arguments JSON]] as vLLM reads text, or None (the answer is text)."""
    if parser == "llama4_pythonic" and text.startswith("<|python_start|>"):
        text = text[len("<|python_start|>"):].replace("<|python_end|>", "")
    if not PATTERN.match(text):
        return None
    try:
        module = ast.parse(text)
        parsed = getattr(module.body[0], "value", None)
        if not (isinstance(parsed, ast.List) and all(isinstance(e, ast.Call) for e in parsed.elts)):
            return None
        return [[e.func.id, json.dumps({k.arg: literal(k.value) for k in e.keywords}, ensure_ascii=False)]
                for e in parsed.elts]
    except Exception:   # noqa: BLE001 (vLLM's parser catches everything and answers with text)
        return None


CASES = {
    "one": "[get_weather(city='Paris')]",
    "two": '[get_weather(city="Paris", days=2), now()]',
    "no-args-then-args": "[now(), get_weather(city='Paris')]",
    "values": "[f(s='a\\'b\"c', t=\"x\\ny\\t\\\\z\", i=42, x=1.5, e=1e-05, big=1e22, b=True, n=None, l=[1, 'two', [False]], "
              "d={'k': 'v', 'n': {'m': []}})]",
    "unicode": "[f(city='東京', emoji='😀', esc='\\u00e9\\U0001F600\\x41\\101')]",
    "raw-string": "[f(p=r'C:\\new\\x', q=R\"a\\\"b\")]",
    "u-prefix": "[f(s=u'x')]",
    "concatenated": "[f(s='a' \"b\" 'c')]",
    "triple": "[f(s='''line1\nline2''', t=\"\"\"q\"\"\")]",
    "unknown-escape": "[f(s='a\\qb\\d')]",
    "line-continued": "[f(s='a\\\nb')]",
    "trailing-comma-args": "[f(a=1,)]",
    "trailing-comma-nested": "[f(a=[1, 2,], d={'k': 1,})]",
    "multiline": "[f(\n    a=1,\n    b=2\n),\n g(c=3)]",
    "dup-dict-key": "[f(d={'a': 1, 'b': 2, 'a': 3})]",
    "underscores": "[f(n=1_000, x=1_0.5)]",
    "floats": "[f(a=1., b=.5, c=1.e3, d=00.5, e=0.0, f=1e-400)]",
    "trailing-newline": "[f(a=1)]\n",
    "dup-kwarg": "[f(a=1, a=2)]",
    "dup-kwarg-order": "[f(a=1, b=2, a=3)]",
    "dup-kwarg-complex": "[f(a=1j, a=2)]",
    "dup-kwarg-bytes": "[f(a=b'x', a=2)]",
    "based-ints": "[f(h=0x1F, H=0XfF, o=0o17, b=0b101, u=0x_1_0, z=0_0)]",
    "bad-based": "[f(a=0x)]",
    "comment-inside": "[f(a=1, # the first\n  b=2)]",
    "comment-after-free": "[f(a=1), # more\n g(b=2)]",
    "comment-not-freed": "[f(), # more\n g(b=2)]",
    "underscore-later": "[f(a=1, _b=2), _g(c=3)]",
    "underscore-call-not-freed": "[f(), _g(c=3)]",
    "positional": "[f(1, a=2)]",
    "negative": "[f(a=-1)]",
    "expression": "[f(a=1+2)]",
    "name-value": "[f(a=x)]",
    "tuple": "[f(a=(1, 2))]",
    "set": "[f(a={1, 2})]",
    "int-key": "[f(d={1: 'a'})]",
    "hex": "[f(a=0x1F)]",
    "leading-zero": "[f(a=01)]",
    "zeros": "[f(a=00)]",
    "complex": "[f(a=1j)]",
    "bytes": "[f(a=b'x')]",
    "fstring": "[f(a=f'x')]",
    "big-int": "[f(a=123456789012345678901234567890)]",
    "inf": "[f(a=1e400)]",
    "named-escape": "[f(a='\\N{BULLET}')]",
    "surrogate": "[f(a='\\ud800')]",
    "comment": "[f(a=1)]  # done",
    "text-after": "[f(a=1)] done",
    "second-statement": "[f(a=1)]\nx",
    "text-before": "Sure: [f(a=1)]",
    "space-after-bracket": "[ f(a=1)]",
    "space-before-paren": "[f (a=1)]",
    "space-after-paren": "[f( a=1)]",
    "space-before-equals": "[f(a =1)]",
    "freed-by-first": "[f(a=1) , g (b = 2)]",
    "not-freed": "[f() , g(b=2)]",
    "no-args-space-comma": "[f() ,g()]",
    "no-args-last-space": "[f(), g()  ]",
    "empty-list": "[]",
    "not-a-call": "[1, 2]",
    "keyword-name": "[f(class_=1, if_=2)]",
    "keyword": "[f(a=1, lambda=2)]",
    "attribute-call": "[a.b(c=1)]",
    "underscore-name": "[_f(a=1)]",
    "underscore-arg": "[f(_a=1)]",
    "kwargs": "[f(**{'a': 1})]",
    "unclosed": "[f(a=1)",
    "plain-text": "The weather is fine.",
    "newline-in-string": "[f(a='x\ny')]",
    "cr": "[f(a=1,\r\n b=2)]",
    "nul": "[f(a='\x00')]",
    "deep": "[f(a=" + "[" * 70 + "]" * 70 + ")]",
}

# Where mixrun reads text and vLLM reads calls, and why.
STRICTER = {
    "positional": "vLLM drops a positional argument; the call it makes is not the one written",
    "int-key": "a dict's key that is not a string (json.dumps writes it as one)",
    "big-int": "an integer past 64 bits",
    "inf": "a float past the largest double: json.dumps writes Infinity, which is not JSON",
    "named-escape": "\\N{...}: Unicode's character names are not here",
    "second-statement": "a statement after the list (Python reads it; vLLM drops it)",
    "cr": "a carriage return (Python's source translates it)",
    "deep": "brackets nested past 64 levels",
    "dup-kwarg-complex": "a value JSON has no form of (a complex number, bytes, ...), even one that a keyword given "
                         "again replaces",
    "dup-kwarg-bytes": "the same, bytes",
}

LLAMA4 = {
    "llama4-tags": "<|python_start|>[f(a=1)]<|python_end|>",
    "llama4-no-tags": "[f(a=1)]",
    "llama4-end-in-string": "<|python_start|>[f(a='x<|python_end|>y')]",
    "llama4-end-only": "[f(a=1)]<|python_end|>",
}


def encodable(calls):
    """calls, or None where their text is not UTF-8 (a lone surrogate: vLLM's answer fails to encode)."""
    try:
        json.dumps(calls, ensure_ascii=False).encode("utf-8")
        return calls
    except UnicodeEncodeError:
        return None


def case(name, text, parser):
    vllm = encodable(vllm_calls(text, parser))
    mixc = None if name in STRICTER else vllm
    return {"name": name, "parser": parser, "text": text, "calls": mixc, "vllm": vllm,
            **({"stricter": STRICTER[name]} if name in STRICTER else {})}


def random_answer(rng, outside):
    """A list of calls as models write them, with random literals: some outside the reader's subset
    (a positional argument, a dict's key that is not a string, a complex number: their kinds added to
    outside)."""
    def lit(depth):
        k = rng.randrange(12 if depth < 3 else 8)
        if k == 0:
            return repr(rng.choice(["a", "b'c", 'd"e', "é中", "x\\y", "\n", "", "😀"]))
        if k == 1:
            return str(rng.choice([0, 1, 7, 42, 10 ** 6, 2 ** 62]))
        if k == 2:
            return repr(rng.choice([0.5, 1e-05, 1e22, 2.5, 0.1, 123.25]))
        if k == 3:
            return rng.choice(["True", "False", "None"])
        if k == 4:
            v = rng.choice(["-1", "0x10", "1j", "x", "(1,)", "{1: 2}", "1+1"])
            # a complex number vLLM takes where a keyword given again drops it: mixc reads no complex
            outside.update({"{1: 2}": ["int-key"], "1j": ["complex"]}.get(v, []))
            return v
        if k == 5:
            return rng.choice(['"a" "b"', "r'\\n'", "'''t'''", "1_000", "1.", ".5"])
        if k < 8:
            return "'" + rng.choice(["p", "q", "\\t", "\\u00e9", "\\x41"]) + "'"
        if k < 10:
            return "[" + ", ".join(lit(depth + 1) for _ in range(rng.randrange(3))) + rng.choice(["", ","]) * (rng.random() < .3) + "]"
        return "{" + ", ".join(repr(rng.choice("abc")) + ": " + lit(depth + 1) for _ in range(rng.randrange(3))) + "}"

    def one():
        name = rng.choice(["f", "get_weather", "now", "_g", "x1"])
        args = [rng.choice(["a", "b", "city", "_c", "a"]) + rng.choice(["=", "=", " = "]) + lit(0) for _ in range(rng.randrange(4))]
        if rng.random() < .1:
            args.insert(0, lit(0))
            outside.add("positional")
        return name + rng.choice(["(", "(", "( "]) + ", ".join(args) + rng.choice(["", "", ","]) * bool(args) + ")"

    text = "[" + rng.choice(["", "", " "]) + rng.choice([", ", ",", ",\n ", " , "]).join(one() for _ in range(rng.randrange(1, 4))) + "]"
    return text + rng.choice(["", "", "\n", " # c", " x"])


def main():
    if "--random" in sys.argv:   # --random SEED N OUT: random answers, as vLLM reads them
        seed, n, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        rng = random.Random(seed)
        cases = []
        for i in range(n):
            outside = set()
            text = random_answer(rng, outside)
            cases.append({"name": f"random-{seed}-{i}", "parser": "pythonic", "text": text,
                          "vllm": encodable(vllm_calls(text, "pythonic")), "outside": sorted(outside)})
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"random": True, "cases": cases}, f, ensure_ascii=False, indent=1)
        return
    cases = [case(n, t, "pythonic") for n, t in CASES.items()] + [case(n, t, "llama4_pythonic") for n, t in LLAMA4.items()]
    out = os.path.join(os.path.dirname(__file__), "fixtures", "pythonic.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
