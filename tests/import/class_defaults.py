"""`make test-python`: what `mixc import` makes of a Hugging Face config that omits fields, against
the transformers config class instantiated with the same fields (docs/interop.md: a field a config
omits takes its config class's default).

For every model_type mixc computes (hf_support.c's FAMILIES without a reason), a minimal config
(model_type and the four fields mixc needs no default for) at 6 and 12 layers, and a few configs that
give some fields (so the class's derived defaults show: layer types, windows, experts per layer), are
imported with `mixc import` and read back with `mixc report --format json`; the header and every
layer must be what the class's values ask for. One PASS or FAIL line per config, a FAIL listing each
field that differs (mixc's value, the class's).

usage: class_defaults.py [--mixc build/mixc] [--verbose]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import transformers

# The fields mixc needs no default for, at sizes where every class's default kv heads divide the heads.
MINIMAL = [{"num_hidden_layers": 6, "hidden_size": 1024, "num_attention_heads": 32, "vocab_size": 1000},
           {"num_hidden_layers": 12, "hidden_size": 2048, "num_attention_heads": 64, "vocab_size": 1000}]
BASE = {"num_hidden_layers": 8, "hidden_size": 1024, "num_attention_heads": 32, "vocab_size": 1000}
FAMILIES = ["llama", "mistral", "ministral", "mixtral", "smollm3", "qwen2", "qwen3", "qwen3_moe", "gemma2", "gemma3",
            "gemma3_text", "gpt_oss", "llama4", "llama4_text"]
NESTED = {"gemma3", "llama4"}   # multimodal: the text fields in text_config, as their published configs have them

DROP = object()   # a field of BASE left out

# Configs that give some fields: the class's defaults derived from them (layer types from a window,
# the experts' layers from a step, ...). (model_type, fields)
VARIANTS = [
    ("qwen2", {"use_sliding_window": True, "sliding_window": 64, "max_window_layers": 3}),
    ("qwen3", {"use_sliding_window": True, "sliding_window": 64, "max_window_layers": 2}),
    ("qwen3_moe", {"use_sliding_window": True, "sliding_window": 64}),
    ("qwen2", {"use_sliding_window": True, "max_window_layers": 4}),
    ("mistral", {"sliding_window": 64, "layer_types": ["full_attention", "sliding_attention"] * 4}),
    ("mixtral", {"sliding_window": 64, "layer_types": ["full_attention", "sliding_attention"] * 4}),
    ("qwen3_moe", {"use_sliding_window": True, "sliding_window": 64, "layer_types": ["full_attention"] * 8}),
    ("gemma2", {"sliding_window_pattern": 4}),
    ("gpt_oss", {"sliding_window_pattern": 4}),
    ("ministral", {"sliding_window": 64, "layer_types": ["full_attention", "sliding_attention"] * 4}),
    ("llama4_text", {"no_rope_layers": []}),
    ("llama4_text", {"attention_chunk_size": None}),   # null: every layer full_attention
    ("llama4_text", {"attention_chunk_size": 256, "no_rope_layer_interval": 3, "num_local_experts": 4}),
    ("gpt_oss", {"rope_parameters": {"rope_type": "default", "rope_theta": 40000.0}}),
    ("gpt_oss", {"rope_parameters": None, "rope_scaling": None}),   # null: the class's yarn
    ("gpt_oss", {"rope_parameters": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 2048,
                                     "rope_theta": 150000.0}, "max_position_embeddings": 16384}),
    ("gemma2", {"query_pre_attn_scalar": 128, "attn_logit_softcapping": None}),
    ("gemma2", {"num_attention_heads": DROP}),   # Gemma2Config's 8 (a field mixc would otherwise need)
    ("mixtral", {"head_dim": 64, "num_key_value_heads": 4}),
    ("qwen3_moe", {"num_experts": 16, "num_experts_per_tok": 2, "moe_intermediate_size": 128}),
    ("gemma3", {"sliding_window": 512, "rope_parameters": {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}}),
    ("qwen3_moe", {"decoder_sparse_step": 2, "norm_topk_prob": True}),
    ("mistral", {"sliding_window": None}),
    ("mixtral", {"sliding_window": 256}),
    ("ministral", {"sliding_window": None}),
    ("smollm3", {"no_rope_layer_interval": 3}),
    ("smollm3", {"use_sliding_window": True, "sliding_window": 64}),
    ("gemma2", {"sliding_window": 256, "num_key_value_heads": 2, "head_dim": 64}),
    ("gemma3_text", {"sliding_window_pattern": 4}),
    ("gemma3_text", {"sliding_window": 256, "query_pre_attn_scalar": 128}),
    ("gpt_oss", {"sliding_window": 64, "num_local_experts": 8, "num_experts_per_tok": 2}),
    ("llama4_text", {"interleave_moe_layer_step": 2}),
    ("llama4_text", {"moe_layers": [], "attn_temperature_tuning": False, "use_qk_norm": False}),
    ("mixtral", {"rope_parameters": {"rope_type": "default"}}),
    ("smollm3", {"rope_parameters": {"rope_type": "default", "rope_theta": 100000.0}}),
    ("llama4_text", {"rope_parameters": {"rope_type": "default", "rope_theta": 250000.0}}),
    ("gemma3_text", {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 500000.0},
                                         "sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}}}),
    ("llama", {"max_position_embeddings": 4096, "rope_parameters": {"rope_type": "yarn", "factor": 4.0,
                                                                   "original_max_position_embeddings": 1024,
                                                                   "rope_theta": 500000.0}}),
]


# Configs mixc cannot compute as transformers does: refused naming the field. (config, expected error)
REFUSED = [
    # Qwen3Config's 32 kv heads under 8 heads make no model
    ({"model_type": "qwen3", **BASE, "num_attention_heads": 8},
     "'num_attention_heads' (8) is not a multiple of 'num_key_value_heads' (32)"),
    ({"model_type": "gemma3_text", **BASE, "use_bidirectional_attention": True},
     "'use_bidirectional_attention' true is not supported (mixc computes causal attention)"),
    # sliding layers (the class's layer_types) without a window: transformers' sliding mask raises
    ({"model_type": "gpt_oss", **BASE, "sliding_window": None},
     "the family's default pattern makes layer 0 sliding but 'sliding_window' is null"),
    # Gemma3Config and Llama4Config build the text model from text_config alone
    ({"model_type": "gemma3", **BASE}, "'model_type' \"gemma3\" is not supported (its config class reads the text model"),
    ({"model_type": "llama4", **BASE}, "'model_type' \"llama4\" is not supported (its config class reads the text model"),
]


def check_refused(mixc, doc, want, tmp):
    report, err = mixc_import(mixc, doc, tmp)
    name = json.dumps(doc, separators=(',', ':'))
    if report is None and want in err:
        print(f"PASS {name}: refused ({want})")
        return True
    print(f"FAIL {name}: want the refusal \"{want}\"\n    " + err.replace("\n", "\n    "))
    return False


def class_config(model_type, fields):
    """The config class instantiated with `fields`, and the JSON mixc reads (the same fields)."""
    if model_type in NESTED:
        doc = {"model_type": model_type, "text_config": dict(fields)}
        cfg = transformers.AutoConfig.for_model(model_type, text_config=dict(fields)).get_text_config()
    else:
        doc = {"model_type": model_type, **fields}
        cfg = transformers.AutoConfig.for_model(model_type, **fields)
    return doc, cfg


def rope_of(params):
    """(theta, scaling) of one rope_parameters entry, scaling as `mixc report` writes it or None."""
    kind = params.get("rope_type", params.get("type", "default"))
    theta = float(params["rope_theta"])
    if kind == "default":
        return theta, None
    s = {"type": kind, "factor": float(params["factor"])}
    if kind == "yarn":
        s["original_context"] = float(params.get("original_max_position_embeddings"))
        s["beta_fast"] = float(params.get("beta_fast") or 32)
        s["beta_slow"] = float(params.get("beta_slow") or 1)
        mscale = lambda f, m=1.0: 1.0 if f <= 1 else 0.1 * m * math.log(f) + 1   # transformers' get_mscale
        af = params.get("attention_factor")
        if af is None and params.get("mscale") and params.get("mscale_all_dim"):
            af = mscale(s["factor"], params["mscale"]) / mscale(s["factor"], params["mscale_all_dim"])
        s["attention_factor"] = float(af if af is not None else mscale(s["factor"]))
        s["truncate"] = bool(params.get("truncate", True))
    elif kind == "llama3":
        s.update(low_freq_factor=float(params["low_freq_factor"]), high_freq_factor=float(params["high_freq_factor"]),
                 original_context=float(params["original_max_position_embeddings"]))
    return theta, s


def experts_of(mt, c, m):
    """The mixture of experts the family's modeling code builds from config c, into m."""
    if mt == "mixtral":
        m.update(experts=c.num_local_experts, experts_per_token=c.num_experts_per_tok, router="topk_softmax")
    elif mt == "qwen3_moe":
        m.update(experts=c.num_experts, experts_per_token=c.num_experts_per_tok, ffn=c.moe_intermediate_size,
                 router="topk_softmax" if c.norm_topk_prob else "softmax_topk")
        step = c.decoder_sparse_step
        assert not c.mlp_only_layers
        if step > 1:
            m.update(moe_step=step, dense_ffn=c.intermediate_size)
    elif mt == "gpt_oss":
        m.update(experts=c.num_local_experts, experts_per_token=c.num_experts_per_tok, router="topk_softmax",
                 moe_bias=True)
    elif mt.startswith("llama4"):
        moe = list(c.moe_layers)
        if not moe:
            m["ffn"] = c.intermediate_size_mlp
            return
        step = moe[0] + 1
        assert moe == list(range(step - 1, c.num_hidden_layers, step)), moe
        m.update(experts=c.num_local_experts, experts_per_token=c.num_experts_per_tok, router="sigmoid_input",
                 shared_expert_ffn=c.intermediate_size)
        if step > 1:
            m.update(moe_step=step, dense_ffn=c.intermediate_size_mlp)


def expected(mt, c):
    """The header (`mixc report`'s model object, less name, dtypes and chunk) and layers the class asks for."""
    heads = c.num_attention_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
    rp = c.rope_parameters
    per_type = "full_attention" in rp
    theta, scaling = rope_of(rp["full_attention"] if per_type else rp)
    m = {"layers": c.num_hidden_layers, "hidden": c.hidden_size, "heads": heads,
         "kv_heads": c.num_key_value_heads or heads, "head_dim": head_dim, "ffn": c.intermediate_size,
         "vocab": c.vocab_size, "rope_theta": theta, "norm_eps": c.rms_norm_eps,
         "context": c.max_position_embeddings, "tie_embeddings": bool(c.tie_word_embeddings)}
    if scaling:
        m["rope_scaling"] = scaling
    gemma = mt.startswith("gemma")
    act = getattr(c, "hidden_activation", None) if gemma else c.hidden_act
    if mt == "gpt_oss":
        m.update(activation="clamped_swiglu", swiglu_limit=c.swiglu_limit, swiglu_alpha=c.swiglu_alpha)
    elif act in ("gelu_pytorch_tanh", "gelu_new"):
        m["activation"] = "gelu_tanh"
    else:
        assert act in ("silu", "swish"), act
    if mt == "qwen2":
        m["qkv_bias"] = True
    if getattr(c, "attention_bias", False):
        assert mt in ("llama", "gpt_oss"), (mt, "attention_bias")
        m["qkv_bias"] = m["o_bias"] = True
    if gemma:
        m.update(norm="rms_plus_one", sandwich_norms=True, embed_scale=True)
        for key, ours in (("attn_logit_softcapping", "attn_softcap"), ("final_logit_softcapping", "logit_softcap")):
            if getattr(c, key, None):
                m[ours] = float(getattr(c, key))
        if c.query_pre_attn_scalar != head_dim:
            m["query_pre_attn_scalar"] = float(c.query_pre_attn_scalar)
    if mt in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"):
        m["qk_norm"] = True
    llama4 = mt.startswith("llama4")
    if llama4:
        m["rope_interleaved"] = True
        if c.use_qk_norm:
            m["qk_l2_norm"] = True
        if c.attn_temperature_tuning:
            m.update(nope_temperature_floor=c.floor_scale, nope_temperature_scale=c.attn_scale)
    experts_of(mt, c, m)
    return m, expected_layers(mt, c, rp if per_type else None, theta)


def expected_layers(mt, c, per_type, theta):
    n = c.num_hidden_layers
    window = getattr(c, "sliding_window", None)
    # mistral, mixtral, qwen3_moe: their attention reads sliding_window alone (layer_types never)
    types = None if mt in ("llama", "mistral", "mixtral", "qwen3_moe") else getattr(c, "layer_types", None)
    if types is None:   # mistral, mixtral, qwen3_moe: the window (when set) on every layer; llama: none
        types = ["sliding_attention" if window is not None and mt != "llama" else "full_attention"] * n
    nope = [x == 0 for x in getattr(c, "no_rope_layers", None) or [1] * n]
    layers = []
    for i, t in enumerate(types):
        layer = {"attention": {"sliding_attention": "sliding", "full_attention": "global",
                               "chunked_attention": "chunked"}[t],
                 "window": window if t == "sliding_attention" else None}
        if t == "chunked_attention":
            layer["chunk_size"] = c.attention_chunk_size
        if mt == "gpt_oss":
            layer["sinks"] = True
        if nope[i]:
            layer["nope"] = True
        elif per_type and t == "sliding_attention":
            local, local_scaling = rope_of(per_type["sliding_attention"])
            assert local_scaling is None
            if local != theta:
                layer["rope_theta"] = local
        layers.append(layer)
    return layers


def differences(want, got, path=""):
    out = []
    for key in sorted(set(want) | set(got)):
        w, g = want.get(key), got.get(key)
        if isinstance(w, dict) and isinstance(g, dict):
            out += differences(w, g, f"{path}{key}.")
        elif not (w == g or (isinstance(w, float) and isinstance(g, (int, float)) and math.isclose(w, g, rel_tol=1e-12))):
            out.append(f"{path}{key}: mixc {json.dumps(g)}, class {json.dumps(w)}")
    return out


def mixc_import(mixc, doc, tmp):
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    imp = subprocess.run([mixc, "import", path, "-o", os.path.join(tmp, "m.mix")], capture_output=True, text=True)
    if imp.returncode:
        return None, imp.stderr.strip()
    rep = subprocess.run([mixc, "report", os.path.join(tmp, "m.mix"), "--format", "json"], capture_output=True, text=True)
    if rep.returncode:
        return None, rep.stderr.strip()
    return json.loads(rep.stdout), imp.stderr.strip()


def check(mixc, mt, fields, tmp, verbose):
    doc, cfg = class_config(mt, fields)
    name = f"{mt} {json.dumps(fields, separators=(',', ':'))}"
    report, err = mixc_import(mixc, doc, tmp)
    if report is None:
        print(f"FAIL {name}: mixc import refused it\n    " + err.replace("\n", "\n    "))
        return False
    want, want_layers = expected(mt, cfg)
    got = {k: v for k, v in report["model"].items() if k not in ("name", "dtype", "kv_dtype", "chunk")}
    diffs = differences(want, got)
    for i, (w, g) in enumerate(zip(want_layers, report["layers"])):
        g = {k: v for k, v in g.items() if k not in ("index", "reads", "cache")}
        diffs += differences(w, g, f"layer {i}: ")
    if diffs:
        print(f"FAIL {name}: {len(diffs)} field(s) differ from {type(cfg).__name__}")
        for d in diffs[:40]:
            print(f"    {d}")
        return False
    print(f"PASS {name}: the header and {len(want_layers)} layers are {type(cfg).__name__}'s")
    if verbose and err:
        print("    " + err.replace("\n", "\n    "))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixc", default=os.path.join(os.environ.get("BUILD", "build"), "mixc"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    cases = [(mt, dict(fields)) for mt in FAMILIES for fields in MINIMAL]
    cases += [(mt, {k: v for k, v in {**BASE, **extra}.items() if v is not DROP}) for mt, extra in VARIANTS]
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        for mt, fields in cases:
            fails += not check(args.mixc, mt, fields, tmp, args.verbose)
        for doc, want in REFUSED:
            fails += not check_refused(args.mixc, doc, want, tmp)
        cases += REFUSED
    print(f"class defaults (transformers {transformers.__version__}): {len(cases) - fails} of {len(cases)} configs "
          f"import as their config class says")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
