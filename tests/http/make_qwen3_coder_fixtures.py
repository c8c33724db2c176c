"""Writes tests/http/fixtures/qwen3_coder.json: answers of a model in Qwen3-Coder's XML and the tool
calls vLLM's qwen3_coder parser (Qwen3CoderToolParser.extract_tool_calls) reads from them, for
tests/http/test_tools.c: its patterns, each parameter's text with one newline dropped at each end, the
value by the type the request's tool gives the parameter, json.dumps(ensure_ascii=False).

The reading below restates that parser's rules (read in vLLM's source, not imported: vLLM is not
installed here). Run in the venv (`make refresh-qwen3-coder-fixtures`); commit the result. A case in
STRICTER is one that mixrun reads as text where vLLM reads calls, with the reason (docs/serving.md,
"Tool calling"). `make test-python` also compares random answers (--random SEED N OUT)."""
import ast
import json
import os
import random
import re
import sys

TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*?)$", re.DOTALL)
FUNCTION = re.compile(r"<function=(.*?)</function>|<function=(.*)$", re.DOTALL)
PARAMETER = re.compile(r"<parameter=(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)", re.DOTALL)

TOOLS = [
    {"type": "function", "function": {"name": "f", "description": None, "parameters": {"type": "object", "properties": {
        "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"},
        "o": {"type": "object"}, "a": {"type": "array"}, "u": {"type": ["string", "null"]}, "e": {"enum": ["x", "y"]},
        "t": {"type": " Integer "}, "x": {"type": "\u00c9"}, "l": {"type": "list[int]"}, "f": {"type": "float64"},
        "y": {"type": ""}, "z": {"type": None}, "w": "not a schema"}}}},
    {"type": "function", "function": {"name": "g", "description": None, "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "h", "description": None, "parameters": None}},
]


def arguments_config(name):
    for t in TOOLS:
        if t["type"] == "function" and t["function"]["name"] == name:
            params = t["function"]["parameters"]
            if isinstance(params, dict) and "properties" in params:
                return params["properties"]
            return params if isinstance(params, dict) else {}
    return {}


def convert(value, name, config):
    if value.lower() == "null":
        return None
    if name not in config:
        return value
    kind = str(config[name]["type"]).strip().lower() if isinstance(config[name], dict) and "type" in config[name] else "string"
    if kind in ["string", "str", "text", "varchar", "char", "enum"]:
        return value
    if kind.startswith(("int", "uint", "long", "short", "unsigned")):
        try:
            return int(value)
        except Exception:   # noqa: BLE001 (vLLM: the text stays)
            return value
    if kind.startswith(("num", "float")):
        try:
            f = float(value)
            return f if f - int(f) != 0 else int(f)
        except Exception:   # noqa: BLE001
            return value
    if kind in ["boolean", "bool", "binary"]:
        return value.lower() == "true"
    if kind in ["object", "array", "arr"] or kind.startswith(("dict", "list")):
        try:
            return json.loads(value)
        except Exception:   # noqa: BLE001
            pass
    try:
        return ast.literal_eval(value)
    except Exception:   # noqa: BLE001
        return value


def parse_call(text):
    end = text.index(">")
    name, config, params = text[:end], arguments_config(text[:end]), {}
    for match in PARAMETER.findall(text[end + 1:]):
        k = match.index(">")
        value = match[k + 1:]
        if value.startswith("\n"):
            value = value[1:]
        if value.endswith("\n"):
            value = value[:-1]
        params[match[:k]] = convert(value, match[:k], config)
    return [name, json.dumps(params, ensure_ascii=False)]


def vllm_read(text):
    """([[name, arguments JSON]], content or None) as vLLM reads text, or (None, text): no calls."""
    if "<function=" not in text:
        return None, text
    try:
        raw = [a or b for a, b in TOOL_CALL.findall(text)] or [text]
        functions = [a or b for r in raw for a, b in FUNCTION.findall(r)]
        if not functions:
            return None, text
        calls = [parse_call(f) for f in functions]
        at = text.find("<tool_call>")
        content = text[:at if at >= 0 else text.find("<function=")]
        return calls, content or None
    except Exception:   # noqa: BLE001 (vLLM's parser catches everything and answers with text)
        return None, text


def call(name, *params, close=True):
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params)
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>" if close else f"<tool_call>\n<function={name}>\n{body}"


CASES = {
    "one": call("f", ("s", "Paris")),
    "content-before": "I'll look.\n\n" + call("f", ("s", "Paris")),
    "two": call("f", ("s", "a")) + "\n" + call("f", ("i", "2")),
    "text-between": call("f", ("s", "a")) + " then " + call("f", ("s", "b")) + " after",
    "two-in-one-group": "<tool_call>\n<function=f>\n<parameter=s>\na\n</parameter>\n</function>\n<function=g>\n</function>\n</tool_call>",
    "no-group": "<function=f>\n<parameter=s>\nx\n</parameter>\n</function>",
    "unclosed-group": call("f", ("s", "x"), close=False),
    "unclosed-group-last-newline": "<tool_call>\n<function=f>\n<parameter=s>\nx\n\n",
    "unclosed-parameter": "<tool_call>\n<function=f>\n<parameter=s>\nx\n<parameter=i>\n3\n</function>\n</tool_call>",
    "unclosed-function": "<tool_call>\n<function=f>\n<parameter=s>\nx\n</parameter>\n</tool_call>",
    "no-gt-function": "<tool_call>\n<function=f\n</function>\n</tool_call>",
    "no-gt-parameter": "<tool_call>\n<function=f>\n<parameter=s\n</parameter>\n</function>\n</tool_call>",
    "empty-function": "<tool_call><function=</function></tool_call>",
    "function-only-in-text": "say <function= here",
    "no-function": "just text with <tool_call> and <parameter=x>",
    "name-with-space": call("get weather", ("s", "x")),
    "unknown-tool": call("zz", ("i", "5"), ("b", "yes")),
    "unknown-parameter": call("f", ("zz", "5")),
    "duplicate-parameter": call("f", ("s", "a"), ("i", "1"), ("s", "b")),
    "newlines-kept": "<tool_call>\n<function=f>\n<parameter=s>\n\nline1\nline2\n\n</parameter>\n</function>\n</tool_call>",
    "no-newlines": "<tool_call><function=f><parameter=s>tight</parameter></function></tool_call>",
    "string-values": call("f", ("s", "  12  "), ("e", "x"), ("s", "中文 \"q\" \\ é")),
    "null-values": call("f", ("s", "null"), ("i", "NULL"), ("u", "Null")),
    "integers": call("f", ("i", " 7 "), ("t", "+3"), ("i", "-0")),
    "integer-underscores": call("f", ("i", "1_000"), ("t", "007")),
    "integer-not": call("f", ("i", "abc"), ("t", "12.5")),
    "integer-bad-underscore": call("f", ("i", "1__0")),
    "integer-64": call("f", ("i", "9223372036854775807"), ("t", "-9223372036854775808")),
    "integer-past-64": call("f", ("i", "9223372036854775808")),
    "integer-unicode-digits": call("f", ("i", "\u0661\u0662")),
    "numbers": call("f", ("n", "1.5"), ("f", "2.0"), ("n", "1e3")),
    "numbers-forms": call("f", ("n", ".5"), ("f", "5."), ("n", "-0.0"), ("f", "1_0.2_5"), ("n", " 2.5e-3 ")),
    "numbers-not": call("f", ("n", "inf"), ("f", "-Infinity"), ("n", "nan")),
    "numbers-overflow": call("f", ("n", "1e400"), ("f", "abc")),
    "number-huge-whole": call("f", ("n", "1e20")),
    "number-tiny": call("f", ("n", "1e-400")),
    "booleans": call("f", ("b", "true"), ("b", "False")),
    "boolean-case": call("f", ("b", "TRUE")),
    "boolean-other": call("f", ("b", "yes")),
    "json-values": call("f", ("o", '{"k": [1, 2.5, null], "s": "\u00e9"}'), ("a", " [1, 2] ")),
    "json-scalar": call("f", ("a", "3"), ("l", '"x"')),
    "json-python-dict": call("f", ("o", "{'k': 1}")),
    "json-nan": call("f", ("a", "[NaN]")),
    "json-bad": call("f", ("o", "{oops")),
    "literal-word": call("f", ("u", "Paris")),
    "literal-words": call("f", ("u", "New York, NY")),
    "literal-path": call("f", ("u", "/tmp/x.txt")),
    "literal-constants": call("f", ("u", "None")),
    "literal-true": call("f", ("u", "True")),
    "literal-constant-then-text": call("f", ("u", "None, 1")),
    "literal-keyword-led": call("f", ("u", "not a thing"), ("zz", "x")),
    "literal-number": call("f", ("u", "123")),
    "literal-numbers": call("f", ("u", "-5"), ("z", "1.5"), ("y", "1e5"), ("w", "5")),
    "literal-number-forms": call("f", ("u", "+1_000"), ("z", "-0.0"), ("y", ".5"), ("u2", "7")),
    "literal-zeros": call("f", ("u", "007"), ("z", "00"), ("y", "0_0")),
    "literal-number-hex": call("f", ("u", "0x10")),
    "literal-number-then-text": call("f", ("u", "5 apples")),
    "literal-number-spaced": call("f", ("u", " 42 \t")),
    "literal-number-huge": call("f", ("u", "99999999999999999999")),
    "literal-float-inf": call("f", ("u", "1e400")),
    "literal-quoted": call("f", ("u", "'quoted'")),
    "literal-bytes": call("f", ("u", "b'x'")),
    "literal-unicode-word": call("f", ("u", "東京")),
    "literal-empty": call("f", ("u", "")),
    "type-non-ascii": call("f", ("x", "5")),
    "type-case-strip": call("f", ("t", "42")),
    "properties-absent": call("g", ("type", "5"), ("k", "v")),
    "type-empty-none-odd": call("f", ("y", "word"), ("z", "Paris"), ("w", "5")),
    "parameters-none": call("h", ("i", "5")),
}

# Where mixrun reads text and vLLM reads calls, and why.
STRICTER = {
    "integer-past-64": "an integer past 64 bits",
    "integer-unicode-digits": "int() of digits beyond ASCII",
    "number-huge-whole": "a whole number past 64 bits",
    "boolean-other": "a boolean neither true nor false (vLLM: false)",
    "json-python-dict": "JSON that jansson does not read (vLLM: literal_eval)",
    "json-nan": "JSON that jansson does not read (NaN)",
    "json-bad": "JSON that jansson does not read (vLLM: literal_eval fails, the text)",
    "literal-number-hex": "literal_eval of a hexadecimal number",
    "literal-number-then-text": "literal_eval of a number and text (vLLM: a SyntaxError, the text)",
    "literal-number-huge": "an integer past 64 bits",
    "literal-float-inf": "a float past the largest (vLLM writes Infinity, not JSON)",
    "literal-quoted": "literal_eval of a string literal",
    "literal-constant-then-text": "literal_eval of a tuple",
    "type-non-ascii": "a type beyond ASCII",
}


def case(name, text):
    calls, content = vllm_read(text)
    mixc = None if name in STRICTER else calls
    return {"name": name, "parser": "qwen3_coder", "text": text, "calls": mixc, "vllm": calls,
            "content": content if mixc is not None else text, **({"stricter": STRICTER[name]} if name in STRICTER else {})}


def random_answer(rng, outside):
    """An answer of calls with values of every kind, and text around them; the kinds of value mixrun
    leaves to vLLM go to outside."""
    values = {"s": ["Paris", " x ", "null", "é"], "i": ["5", "-3", "1_0", "x", "99999999999999999999", "2.5"],
              "n": ["1.5", "2", "1e3", "inf", ".5", "1e30"], "b": ["true", "False", "yes"],
              "o": ['{"a": 1}', "[1]", "{'a': 1}", "{"], "u": ["Paris", "None", "12", "a b", "/p"],
              "zz": ["1", "text"]}
    risky = {"99999999999999999999": "big", "1e30": "big", "yes": "bool", "{'a': 1}": "json", "{": "json",
             }

    def one():
        name, params = rng.choice(["f", "f", "g", "zz"]), []
        for _ in range(rng.randrange(4)):
            k = rng.choice(list(values))
            v = rng.choice(values[k])
            if v in risky and k in ("i", "n", "b", "o", "u"):   # f types it (an unclosed f takes the next calls' too)
                outside.add(risky[v])
            params.append((k, v))
        return call(name, *params, close=rng.random() > .1)

    parts = [rng.choice(["", "Sure. ", "a\n"])] + [one() for _ in range(rng.randrange(1, 3))]
    return rng.choice(["", "\n"]).join(parts) + rng.choice(["", "\n", " tail"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if len(sys.argv) == 5 and sys.argv[1] == "--random":
        rng, cases = random.Random(int(sys.argv[2])), []
        for k in range(int(sys.argv[3])):
            outside = set()
            text = random_answer(rng, outside)
            calls, content = vllm_read(text)
            cases.append({"name": f"random-{k}", "parser": "qwen3_coder", "text": text, "vllm": calls,
                          "content": content if calls is not None else text, "outside": sorted(outside)})
        out = sys.argv[4]
        doc = {"random": True, "tools": TOOLS, "cases": cases}
    else:
        out = os.path.join(here, "fixtures", "qwen3_coder.json")
        doc = {"made_by": "tests/http/make_qwen3_coder_fixtures.py", "tools": TOOLS,
               "cases": [case(n, t) for n, t in CASES.items()]}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out}: {len(doc['cases'])} cases")


if __name__ == "__main__":
    main()
