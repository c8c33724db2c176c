#!/usr/bin/env python3
"""tests/doc_keys.py DOCS... -- JSON...: every object key of the JSON files is documented.

A key counts as documented when it stands as a word inside code in one of the DOCS: a `code span`
(the schema tables write `kv_planned`, `stages[]`, `memory.kv_planned`, ...) or a fenced block (the
manifest's schema is a JSON outline, docs/kernels.md and docs/plan.md). Prints the keys that are
not, each with a file that has it, and exits 1; exits 0 when every key is there. Used by the suites
whose commands print JSON (tests/report, tests/codegen, tests/mixrun), so that a field added to an
output without a line in its schema fails a test.
"""
import json
import re
import sys


def code_words(paths):
    words = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
        prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
        spans = [s for s in re.findall(r"`([^`]+)`", prose) if "\n\n" not in s]   # a span may wrap a line
        for code in fenced + spans:
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    return words


def object_keys(value, found, where):
    if isinstance(value, dict):
        for key, inner in value.items():
            found.setdefault(key, where)
            object_keys(inner, found, where)
    elif isinstance(value, list):
        for inner in value:
            object_keys(inner, found, where)


def main(argv):
    if "--" not in argv or argv.index("--") == 0 or argv[-1] == "--":
        print("usage: doc_keys.py DOC.md... -- FILE.json...", file=sys.stderr)
        return 2
    cut = argv.index("--")
    docs, files = argv[:cut], argv[cut + 1:]
    found = {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                object_keys(json.load(f), found, path)
        except (OSError, ValueError) as e:
            print(f"{path}: not JSON: {e}")
            return 1
    missing = sorted(k for k in found if k not in code_words(docs))
    for key in missing:
        print(f"'{key}' (in {found[key]}) is in no code of {', '.join(docs)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
