#!/usr/bin/env python3
"""Random templates (white-space control, nesting, expressions) rendered by jinja2 as transformers
sets it up, written as a fixture for tests/tokenizer/test_jinja (`make test-python-jinja`):
    fuzz_chat_templates.py SEED COUNT OUT.json
A case jinja2 fails on must fail in mixc too; every other must render the same text."""
import json, random, sys
from transformers.utils.chat_template_utils import _compile_jinja_template
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
TEXTS = ["", "a", " ", "\n", "  \n", "x\n  ", "\t", "\n\n", " b \n", "\n  ", "c"]
def L(): return random.choice(["{%", "{%-", "{%+"])
def R(): return random.choice(["%}", "-%}", "+%}"])
def VL(): return random.choice(["{{", "{{-"])
def VR(): return random.choice(["}}", "-}}"])
ATOMS = ["'a'", '"b"', "' s '", "1", "0", "2", "true", "false", "none", "(messages | length)", "messages[0].role",
         "messages[0]['content']", "bos_token", "bos_token", "messages[-1].content", "''", "loop_x"]
def expr(d=0):
    if d > 2 or random.random() < 0.3:
        return random.choice(ATOMS)
    k = random.randrange(9)
    a, b = expr(d + 1), expr(d + 1)
    if k == 0: return f"({a} {random.choice(['+', '-', '*', '%', '~'])} {b})"
    if k == 1: return f"({a} {random.choice(['==', '!=', '<', '>', '<=', '>='])} {b})"
    if k == 2: return f"({a} {random.choice(['and', 'or'])} {b})"
    if k == 3: return f"(not {a})"
    if k == 4: return f"({a} {random.choice(['in', 'not in'])} {b})"
    if k == 5: return f"({a} is {random.choice(['defined', 'not defined', 'none', 'string', 'not none'])})"
    if k == 6: return f"({a} | {random.choice(['trim', 'length'])})"
    if k == 7: return f"({a} if {b} else {expr(d + 1)})"
    return f"{a}"
def block(d=0):
    out = []
    for _ in range(random.randrange(1, 4)):
        out.append(random.choice(TEXTS))
        k = random.randrange(6 if d < 2 else 3)
        if k == 0: out.append(f"{VL()} {expr()} {VR()}")
        elif k == 1: out.append(random.choice(["{# c #}", "{#- c #}", "{# c -#}", "{#- c -#}"]))
        elif k == 2: out.append(f"{L()} set sx = {expr()} {R()}")
        elif k == 3:
            out.append(f"{L()} if {expr()} {R()}" + block(d + 1))
            if random.random() < 0.5: out.append(f"{L()} elif {expr()} {R()}" + block(d + 1))
            if random.random() < 0.5: out.append(f"{L()} else {R()}" + block(d + 1))
            out.append(f"{L()} endif {R()}")
        else:
            out.append(f"{L()} for m in messages{random.choice(['', '[1:]', '[:-1]'])} {R()}" + block(d + 1).replace("loop_x", random.choice(["loop_x", "m.role", "loop.index", "loop.last"])) + f"{L()} endfor {R()}")
        out.append(random.choice(TEXTS))
    return "".join(out)
msgs = [{"role": "user", "content": " hi \n"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "\u3000x"}]
templates, cases = {}, []
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 500):
    t = "{% set loop_x = 'lx' %}" + block()
    name = f"f{i}"
    templates[name] = t
    case = {"name": name, "template": name, "messages": msgs, "bos_token": "<s>", "eos_token": None, "add_generation_prompt": True}
    try:
        case["expected"] = _compile_jinja_template(t).render(messages=msgs, bos_token="<s>", add_generation_prompt=True)
    except Exception as e:
        case["error"] = True
        case["why"] = repr(e)
    cases.append(case)
json.dump({"templates": templates, "cases": cases}, open(sys.argv[3] if len(sys.argv) > 3 else "fuzz.json", "w"), ensure_ascii=False)
print(sum(1 for c in cases if "error" in c), "errors of", len(cases))
