"""The exported transformers models against mixrun (tests/transformers/run-python.sh makes the inputs).

Each argument is a directory holding an export (`mixc export --transformers`, or a built-in family's
config.json from `mixc export --hf DIR`), mixrun's random weights (model.safetensors, fp32), mixrun's
fp32 cpu logits of the prompt and its greedy continuation (ref.npy) and the prompt and continuation
(prompt.txt, tokens.txt). For each: loading with no missing or unexpected tensor, the logits of every
row within the cpu tolerance of tests/hf, and for the generated model one training step and `generate`
(greedy, with the cache) giving mixrun's tokens. Prints PASS/FAIL lines; exits 1 on a failure.
"""
import json
import math
import os
import sys
import traceback

import numpy as np
import torch
from transformers import AutoModelForCausalLM

# tests/hf/run.sh's cpu tolerance: |got - ref| <= TOL * rms(row) + TOL * |ref| (fp32 in another order).
TOL = 2.0 ** -16
torch.manual_seed(0)
torch.set_num_threads(2)
failures = 0


def report(ok, name, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + name + (" (" + detail + ")" if detail and ok else ""))
    if not ok:
        failures += 1
        for line in detail.splitlines()[-12:]:
            print("    " + line)


def ids_of_line(line):
    return [int(t) for t in line.replace(",", " ").split()]


def ids_of(path):
    return ids_of_line(open(path).read())


def load(d, remote):
    model, info = AutoModelForCausalLM.from_pretrained(d, trust_remote_code=remote, dtype=torch.float32,
                                                       output_loading_info=True)
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    return model.eval(), bad


def compare_logits(model, tokens, ref):
    with torch.no_grad():
        got = model(torch.tensor([tokens])).logits[0].numpy()
    return within_tolerance(got, ref)


def within_tolerance(got, ref):
    if got.shape != ref.shape:
        return False, "logits %s, mixrun %s" % (got.shape, ref.shape)
    rms = np.sqrt((ref.astype(np.float64) ** 2).mean(-1, keepdims=True))
    err = np.abs(got - ref)
    worst = float((err / rms).max())
    return bool((err <= TOL * rms + TOL * np.abs(ref)).all()), "max |diff| %.2g of rms" % worst


def batch_generate(model, name, d):
    """Two prompts of different lengths in one left-padded batch (attention_mask): mixrun's tokens
    for each (mixrun --prompts runs them as one batch too)."""
    prompts = [ids_of_line(line) for line in open(os.path.join(d, "batch.txt")).read().splitlines()]
    want = [ids_of_line(line) for line in open(os.path.join(d, "batch-tokens.txt")).read().splitlines()]
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=mask, max_new_tokens=len(want[0]), min_new_tokens=len(want[0]),
                             do_sample=False, pad_token_id=0)
    got = out[:, width:].tolist()
    report(got == want, "%s: generate on a left-padded batch of two prompts = mixrun --prompts" % name,
           "%s, mixrun %s" % (got, want))


def window_sensitivity(d, tokens, ref):
    """The tolerance sees one key more in a window: the same export with every window + 1 must fail."""
    from transformers import AutoConfig
    config = AutoConfig.from_pretrained(d, trust_remote_code=True)
    config.mixc_windows = [w + 1 if w else 0 for w in config.mixc_windows]
    model = AutoModelForCausalLM.from_pretrained(d, config=config, trust_remote_code=True, dtype=torch.float32)
    ok, detail = compare_logits(model.eval(), tokens, ref)
    report(not ok, "the comparison sees one key more in a window (ma, windows + 1)", detail)


def unknown_feature(d):
    """A config.json with a mixc_ key this modeling_mixc.py does not compute is refused by name."""
    import shutil
    import tempfile
    from transformers import AutoConfig
    what = "a mixc_ key the model does not compute is refused by name"
    with tempfile.TemporaryDirectory() as t:
        for f in ("configuration_mixc.py", "modeling_mixc.py"):
            shutil.copy(os.path.join(d, f), t)
        config = json.load(open(os.path.join(d, "config.json")))
        config["mixc_sliding_sinks"] = 4
        json.dump(config, open(os.path.join(t, "config.json"), "w"))
        try:
            AutoConfig.from_pretrained(t, trust_remote_code=True)
            report(False, what, "loaded")
        except ValueError as e:
            report("mixc_sliding_sinks" in str(e), what, str(e))


def train_step(model, tokens):
    """One AdamW step: the loss and every gradient finite, every parameter that takes part updated."""
    model.train()
    ids = torch.tensor([tokens])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = model(ids, labels=ids).loss
    loss.backward()
    grads = [(n, p.grad) for n, p in model.named_parameters()]
    missing = [n for n, g in grads if g is None]
    if not math.isfinite(loss.item()) or missing or not all(torch.isfinite(g).all() for _, g in grads if g is not None):
        return False, "loss %s; no gradient: %s" % (loss.item(), ", ".join(missing[:4]))
    before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    opt.step()
    opt.zero_grad()
    after = model(ids, labels=ids).loss.item()
    changed = not torch.equal(before, model.model.layers[0].self_attn.q_proj.weight)
    model.eval()
    return math.isfinite(after) and changed, "loss %.4f, then %.4f" % (loss.item(), after)


def check(d):
    name = os.path.basename(d.rstrip("/"))
    family = json.load(open(os.path.join(d, "config.json")))["model_type"]
    remote = family == "mixc"
    prompt, generated = ids_of(os.path.join(d, "prompt.txt")), ids_of(os.path.join(d, "tokens.txt"))
    ref = np.load(os.path.join(d, "ref.npy"))
    model, bad = load(d, remote)
    report(not bad, "%s: %s loads mixrun's weights with no missing or unexpected tensor" % (name, family), str(bad))
    ok, detail = compare_logits(model, prompt + generated, ref)
    report(ok, "%s: %s logits = mixrun cpu fp32" % (name, family), detail)
    if not remote:
        return
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=len(generated), do_sample=False,
                             min_new_tokens=len(generated), output_logits=True, return_dict_in_generate=True)
    got = out.sequences[0, len(prompt):].tolist()
    report(got == generated, "%s: generate (greedy, with the cache) = mixrun's tokens" % name,
           "%s, mixrun %s" % (got, generated))
    # The cached steps' logits, not only their argmax: row len(prompt) - 1 + i of mixrun's.
    steps = torch.stack([l[0] for l in out.logits]).numpy()
    ok, detail = within_tolerance(steps, ref[len(prompt) - 1:len(prompt) - 1 + len(generated)])
    report(ok, "%s: generate's logits at every cached step = mixrun cpu fp32" % name, detail)
    batch_generate(model, name, d)
    if name == "ma":
        window_sensitivity(d, prompt + generated, ref)
        unknown_feature(d)
    ok, detail = train_step(model, prompt + generated)
    report(ok, "%s: one training step (loss.backward, AdamW)" % name, detail)


if __name__ == "__main__":   # check_vllm.py imports the helpers
    for d in sys.argv[1:]:
        try:
            check(d)
        except Exception:
            report(False, "%s: runs" % os.path.basename(d.rstrip("/")), traceback.format_exc())
    sys.exit(1 if failures else 0)
