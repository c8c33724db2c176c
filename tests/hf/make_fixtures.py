#!/usr/bin/env python3
"""Writes the Hugging Face fixtures of tests/hf: for each family, a tiny random checkpoint saved by
transformers' own save_pretrained (config.json + model.safetensors in bf16), a prompt longer than
window + chunk, and the logits transformers computes for that prompt in fp32 with eager attention
(from the bf16-rounded weights, so a reader of the checkpoint can reproduce them exactly).

    make refresh-hf-fixtures          (builds the venv with torch and transformers, runs this)
    python3 tests/hf/make_fixtures.py [--out tests/hf/fixtures] [FAMILY ...]

Never part of `make test`: tests/hf/run.sh compares mixrun against the committed files.
Weights are redrawn with scales chosen so that attention is peaked (a key more or less in a window
changes the logits), biases and norm weights are far from their neutral values, and soft-caps bite.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import transformers

WINDOW = 8          # sliding window of every sliding layer
PROMPT_LEN = 26     # > WINDOW + the chunk of 8 that tests/hf/run.sh prefills with
SEED = 20261202
QK_GAIN = 1.5     # q and k matrices drawn this much larger: scores of standard deviation ~2

COMMON = dict(vocab_size=128, hidden_size=128, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=2, num_key_value_heads=1, head_dim=64, max_position_embeddings=512,
              rms_norm_eps=1e-5, tie_word_embeddings=False, attention_dropout=0.0,
              pad_token_id=None, bos_token_id=1, eos_token_id=2)

SLIDING_THEN_FULL = ["sliding_attention", "full_attention"]

# family -> (config class, causal LM class, config fields beyond COMMON)
FAMILIES = {
    # wavelengths 2*pi*theta^(i/32): i <= 2 kept, 3..5 smoothed, >= 6 divided by the factor
    "llama3": ("LlamaConfig", "LlamaForCausalLM", dict(
        rope_theta=500000.0,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64))),
    # attention_bias: q, k, v and o projections with biases (mixc's qkv_bias and o_bias)
    "llama-bias": ("LlamaConfig", "LlamaForCausalLM", dict(rope_theta=10000.0, attention_bias=True)),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(sliding_window=WINDOW, rope_theta=10000.0)),
    "ministral": ("MinistralConfig", "MinistralForCausalLM", dict(
        sliding_window=WINDOW, layer_types=SLIDING_THEN_FULL, rope_theta=100000.0)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(rope_theta=1000000.0, use_sliding_window=False)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(rope_theta=1000000.0, use_sliding_window=False,
                                                     attention_bias=False)),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", dict(
        sliding_window=WINDOW, layer_types=SLIDING_THEN_FULL, hidden_activation="gelu_pytorch_tanh",
        query_pre_attn_scalar=32, attn_logit_softcapping=4.0, final_logit_softcapping=3.0,
        tie_word_embeddings=True, rms_norm_eps=1e-6)),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", dict(
        sliding_window=WINDOW, layer_types=SLIDING_THEN_FULL, hidden_activation="gelu_pytorch_tanh",
        query_pre_attn_scalar=32, rope_theta=1000000.0, rope_local_base_freq=10000.0,
        tie_word_embeddings=True, rms_norm_eps=1e-6)),
    "smollm3": ("SmolLM3Config", "SmolLM3ForCausalLM", dict(
        rope_theta=2000000.0, no_rope_layers=[1, 0], use_sliding_window=False)),
    # gpt-oss: sinks, q/k/v/o biases, 4 experts with biases (fused checkpoint tensors), 2 per token,
    # the clamped SwiGLU at a limit this model's gates and ups pass; plain RoPE
    "gpt-oss": ("GptOssConfig", "GptOssForCausalLM", dict(
        sliding_window=WINDOW, layer_types=SLIDING_THEN_FULL, num_local_experts=4, num_experts_per_tok=2,
        swiglu_limit=0.75, attention_bias=True, rope_parameters=dict(rope_type="default", rope_theta=10000.0))),
    # gpt-oss with its published RoPE: yarn x32 over 4096 tokens, rope_theta 150000, truncate false
    # (the ramp's bounds 8.09 and 17.4 pairs at head_dim 64, not rounded to 8 and 18)
    "gpt-oss-yarn": ("GptOssConfig", "GptOssForCausalLM", dict(
        sliding_window=WINDOW, layer_types=SLIDING_THEN_FULL, num_local_experts=4, num_experts_per_tok=2,
        swiglu_limit=0.75, attention_bias=True,
        rope_parameters=dict(rope_type="yarn", rope_theta=150000.0, factor=32.0, beta_fast=32.0, beta_slow=1.0,
                             truncate=False, original_max_position_embeddings=4096))),
    # a mixture of experts: 6 of width 32, 2 per token, softmax over the chosen (norm_topk_prob)
    "qwen3-moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM", dict(
        rope_theta=1000000.0, use_sliding_window=False, attention_bias=False, num_experts=6,
        num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True, decoder_sparse_step=1,
        mlp_only_layers=[])),
    # Mixtral: every layer sliding, 4 experts of width 32, 2 per token (softmax over the chosen); its
    # checkpoint names the experts block_sparse_moe.experts.{e}.w1 / w3 / w2 and the router
    # block_sparse_moe.gate
    "mixtral": ("MixtralConfig", "MixtralForCausalLM", dict(
        sliding_window=WINDOW, rope_theta=1000000.0, num_local_experts=4, num_experts_per_tok=2,
        intermediate_size=32)),
    # Llama 4 text: 4 layers, the first three chunked (attention_chunk_size 8) with RoPE on interleaved
    # pairs and the L2 q/k norm, the last global without RoPE (no_rope_layers' default) and with the
    # attention temperature (floor_scale 4: positions 3 on scaled); experts in every layer (4 of width
    # 32, 2 per token, the router's sigmoid scaling their input) beside a shared expert; llama3 RoPE
    # scaling with equal low and high frequency factors (Scout's form) biting at pair 3
    "llama4": ("Llama4TextConfig", "Llama4ForCausalLM", dict(
        num_hidden_layers=4, intermediate_size=32, intermediate_size_mlp=64, num_local_experts=4,
        num_experts_per_tok=2, interleave_moe_layer_step=1, attention_chunk_size=WINDOW,
        use_qk_norm=True, attn_temperature_tuning=True, floor_scale=4, attn_scale=0.5,
        rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=16.0, low_freq_factor=1.0,
                             high_freq_factor=1.0, original_max_position_embeddings=16))),
    # Llama 4 text without experts (moe_layers []: every layer's feed forward the dense
    # feed_forward.{gate,up,down}_proj of intermediate_size_mlp), plain RoPE, the L2 q/k norm and the
    # default attention temperature (floor_scale 8192: every factor 1 here), so that emu runs it too
    "llama4-dense": ("Llama4TextConfig", "Llama4ForCausalLM", dict(
        num_hidden_layers=4, intermediate_size=32, intermediate_size_mlp=64, moe_layers=[],
        attention_chunk_size=WINDOW, use_qk_norm=True, attn_temperature_tuning=True,
        rope_parameters=dict(rope_type="default", rope_theta=500000.0))),
    # Llama 4 Maverick's form: experts on every other layer (interleave_moe_layer_step 2: layers 1 and
    # 3, 4 experts of width 32, top-1, the router's sigmoid scaling their input, a shared expert),
    # layers 0 and 2 the dense feed_forward.{gate,up,down}_proj of intermediate_size_mlp 64; no q/k
    # norm (Maverick's use_qk_norm false), plain RoPE, the attention temperature from position 3
    "llama4-maverick": ("Llama4TextConfig", "Llama4ForCausalLM", dict(
        num_hidden_layers=4, intermediate_size=32, intermediate_size_mlp=64, num_local_experts=4,
        num_experts_per_tok=1, interleave_moe_layer_step=2, attention_chunk_size=WINDOW,
        use_qk_norm=False, attn_temperature_tuning=True, floor_scale=4, attn_scale=0.5,
        rope_parameters=dict(rope_type="default", rope_theta=500000.0))),
    # A multimodal Llama 4 (Llama4ForConditionalGeneration, as the published checkpoints are): the text
    # model of "llama4" (2 layers) under language_model., beside a one-layer vision tower that text
    # tokens never reach; config.json is Llama4Config's, with text_config
    "llama4-multimodal": ("Llama4Config", "Llama4ForConditionalGeneration", dict(
        text_config=dict(num_hidden_layers=2, intermediate_size=32, intermediate_size_mlp=64, num_local_experts=4,
                         num_experts_per_tok=2, attention_chunk_size=WINDOW, no_rope_layers=[1, 0],
                         floor_scale=4, attn_scale=0.5),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14, vision_output_dim=32, projector_input_dim=32,
                           projector_output_dim=32))),
}


def norm_offset(family):
    """Gemma stores RMSNorm weights as offsets from 1 (the norm multiplies by 1 + w)."""
    return family.startswith("gemma")


def redraw(model, family, gen):
    """Every parameter redrawn: matrices N(0, gain^2 / fan_in), q and k with gain 2 so the attention
    is peaked, the embedding N(0, 1), norm weights 1 + N(0, 0.1^2) (or N(0, 0.1^2) as offsets),
    biases N(0, 0.3^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name:
                v = 0.1 * r + (0.0 if norm_offset(family) else 1.0)
            elif name.endswith("bias"):
                v = 0.3 * r
            elif "embed_tokens" in name or name.endswith("sinks"):
                v = r
            elif p.dim() < 2:   # the vision tower's embeddings (llama4-multimodal)
                v = 0.1 * r
            else:
                gain = QK_GAIN if ("q_proj" in name or "k_proj" in name) else 1.0
                v = r * (gain / math.sqrt(p.shape[1]))
            p.copy_(v)


def make(family, out_dir):
    config_name, model_name, extra = FAMILIES[family]
    fields = dict(COMMON)
    fields.update(extra)
    if "text_config" in extra:   # a multimodal config: COMMON describes its text model
        fields = dict(extra, text_config=dict(COMMON, **extra["text_config"]))
    config = getattr(transformers, config_name)(**fields)
    config._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = getattr(transformers, model_name)(config).eval()
    gen = torch.Generator().manual_seed(SEED + sum(map(ord, family)))
    redraw(model, family, gen)
    with torch.no_grad():   # the checkpoint holds bf16: the reference computes from those values
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    prompt = torch.randint(0, COMMON["vocab_size"], (1, PROMPT_LEN), generator=gen)
    with torch.no_grad():   # fp32 throughout (buffers such as RoPE's inv_freq stay fp32 too)
        if "text_config" in extra:   # transformers 5.24's Llama4ForConditionalGeneration.forward fails to
            # build its output without an image (image_outputs); for text it embeds the tokens with the
            # language model's embedding and runs the language model, as this does
            logits = model.language_model(input_ids=prompt, use_cache=False).logits[0].float().numpy()
        else:
            logits = model(input_ids=prompt, use_cache=False).logits[0].float().numpy()

    os.makedirs(out_dir, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(out_dir, safe_serialization=True)
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    np.save(os.path.join(out_dir, "logits.npy"), np.ascontiguousarray(logits, dtype="<f4"))
    with open(os.path.join(out_dir, "prompt.txt"), "w") as f:
        f.write(",".join(str(int(t)) for t in prompt[0]) + "\n")
    with open(os.path.join(out_dir, "made_with.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                   "model": model_name, "window": WINDOW, "prompt_len": PROMPT_LEN,
                   "attention": "eager", "compute_dtype": "float32", "weights_dtype": "bfloat16"},
                  f, indent=1)
        f.write("\n")
    print(f"{family}: {out_dir} ({logits.shape[0]} x {logits.shape[1]} logits, "
          f"transformers {transformers.__version__})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "fixtures"))
    ap.add_argument("families", nargs="*", default=list(FAMILIES))
    args = ap.parse_args()
    for fam in args.families:
        if fam not in FAMILIES:
            sys.exit(f"make_fixtures: unknown family '{fam}' (known: {', '.join(FAMILIES)})")
        make(fam, os.path.join(args.out, fam))


if __name__ == "__main__":
    main()
