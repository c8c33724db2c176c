"""mixc_vllm_model.py: a mixc layout's model for vLLM (the `mixc-vllm` plugin).

Written by `mixc export --vllm DIR` (templates/python/vllm_mixc.py in mixc, embedded in the mixc
binary). It serves the model directory that `mixc export --transformers` writes (config.json with
model_type "mixc", read with trust_remote_code; mixrun's safetensors), and reads the layout from that
config: per layer the window, the layer whose KV cache it reads (vLLM's kv_sharing_target_layer_name)
and the RoPE, and the model's variations. Written against vLLM's Llama-style building blocks, so
tensor and pipeline parallelism come from vLLM. A reader has only a q projection; vLLM's rules for
sharing (a reader has its owner's attention type and window; an owner and its readers sit in one
pipeline stage) are checked by `mixc export --vllm` and again here.
"""

import math
from collections.abc import Iterable

import torch
from torch import nn

try:  # vLLM moved Attention in later releases
    from vllm.attention import Attention
except ImportError:  # pragma: no cover
    from vllm.model_executor.layers.attention import Attention
from vllm.config import VllmConfig
from vllm.distributed import get_pp_group, get_tensor_model_parallel_world_size
from vllm.model_executor.layers.activation import GeluAndMul, SiluAndMul
from vllm.model_executor.layers.layernorm import GemmaRMSNorm, RMSNorm
from vllm.model_executor.layers.linear import (ColumnParallelLinear, MergedColumnParallelLinear,
                                               QKVParallelLinear, RowParallelLinear)
from vllm.model_executor.layers.logits_processor import LogitsProcessor
from vllm.model_executor.layers.rotary_embedding import get_rope
from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding
from vllm.model_executor.model_loader.weight_utils import default_weight_loader
from vllm.model_executor.models.utils import is_pp_missing_parameter, make_layers, maybe_prefix
from vllm.sequence import IntermediateTensors


def layer_index(prefix):
    return int(prefix.split(".")[-1])


def norm_class(config):
    return GemmaRMSNorm if config.mixc_norm == "rms_plus_one" else RMSNorm


def rope_of(config, layer):
    """vLLM's rotary embedding of one layer, or None for NoPE."""
    rope = config.mixc_rope[layer]
    if rope is None:
        return None
    scaling = dict(config.mixc_rope_scaling) if rope["scaled"] and config.mixc_rope_scaling else None
    if scaling and scaling["rope_type"] == "yarn":
        # vLLM multiplies its own get_mscale(factor) by attn_factor; mixc's attention_factor is the product.
        factor = scaling["factor"]
        scaling["attn_factor"] = scaling.pop("attention_factor") / (0.1 * math.log(factor) + 1 if factor > 1 else 1)
    return get_rope(config.head_dim, rotary_dim=config.head_dim, max_position=config.max_position_embeddings,
                    base=rope["theta"], is_neox_style=True, rope_scaling=scaling)


class MixcAttention(nn.Module):
    def __init__(self, config, cache_config, quant_config, prefix):
        super().__init__()
        i = layer_index(prefix.rsplit(".", 1)[0])
        self.owner = config.mixc_kv_owner[i]
        self.is_owner = self.owner == i
        tp = get_tensor_model_parallel_world_size()
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads // tp
        self.num_kv_heads = max(1, config.num_key_value_heads // tp)
        self.q_size, self.kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        bias = config.mixc_qkv_bias
        if self.is_owner:
            self.qkv_proj = QKVParallelLinear(config.hidden_size, self.head_dim, config.num_attention_heads,
                                              config.num_key_value_heads, bias=bias, quant_config=quant_config,
                                              prefix=f"{prefix}.qkv_proj")
        else:
            self.q_proj = ColumnParallelLinear(config.hidden_size, config.num_attention_heads * self.head_dim,
                                               bias=bias, quant_config=quant_config, prefix=f"{prefix}.q_proj")
        self.o_proj = RowParallelLinear(config.num_attention_heads * self.head_dim, config.hidden_size,
                                        bias=config.mixc_o_bias, quant_config=quant_config, prefix=f"{prefix}.o_proj")
        if config.mixc_qk_norm:
            self.q_norm = norm_class(config)(self.head_dim, eps=config.rms_norm_eps)
            if self.is_owner:
                self.k_norm = norm_class(config)(self.head_dim, eps=config.rms_norm_eps)
        self.rotary_emb = rope_of(config, i)
        window = config.mixc_windows[i]
        owner_prefix = prefix.replace(f".layers.{i}.", f".layers.{self.owner}.")
        self.attn = Attention(self.num_heads, self.head_dim, (config.mixc_query_pre_attn_scalar or self.head_dim) ** -0.5,
                              num_kv_heads=self.num_kv_heads, cache_config=cache_config, quant_config=quant_config,
                              per_layer_sliding_window=window or None,
                              logits_soft_cap=config.mixc_attn_softcap or None,
                              kv_sharing_target_layer_name=None if self.is_owner else f"{owner_prefix}.attn",
                              prefix=f"{prefix}.attn")

    def head_norm(self, x, norm, heads):
        if norm is None:
            return x
        return norm(x.unflatten(-1, (heads, self.head_dim))).flatten(-2, -1)

    def forward(self, positions, hidden_states):
        if self.is_owner:
            qkv, _ = self.qkv_proj(hidden_states)
            q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
            k = self.head_norm(k, getattr(self, "k_norm", None), self.num_kv_heads)
        else:   # reads its owner's cache: no k or v of its own
            q, _ = self.q_proj(hidden_states)
            k = v = None
        q = self.head_norm(q, getattr(self, "q_norm", None), self.num_heads)
        if self.rotary_emb is not None:
            q, rotated = self.rotary_emb(positions, q, k if k is not None else q.clone())
            k = rotated if k is not None else None
        out, _ = self.o_proj(self.attn(q, k, v))
        return out


class MixcMLP(nn.Module):
    def __init__(self, config, quant_config, prefix):
        super().__init__()
        self.gate_up_proj = MergedColumnParallelLinear(config.hidden_size, [config.intermediate_size] * 2, bias=False,
                                                       quant_config=quant_config, prefix=f"{prefix}.gate_up_proj")
        self.down_proj = RowParallelLinear(config.intermediate_size, config.hidden_size, bias=False,
                                           quant_config=quant_config, prefix=f"{prefix}.down_proj")
        self.act_fn = GeluAndMul(approximate="tanh") if config.mixc_activation == "gelu_tanh" else SiluAndMul()

    def forward(self, x):
        gate_up, _ = self.gate_up_proj(x)
        x, _ = self.down_proj(self.act_fn(gate_up))
        return x


class MixcDecoderLayer(nn.Module):
    def __init__(self, config, cache_config, quant_config, prefix):
        super().__init__()
        norm, eps = norm_class(config), config.rms_norm_eps
        self.self_attn = MixcAttention(config, cache_config, quant_config, f"{prefix}.self_attn")
        self.mlp = MixcMLP(config, quant_config, f"{prefix}.mlp")
        self.sandwich = config.mixc_sandwich_norms
        self.input_layernorm = norm(config.hidden_size, eps=eps)
        self.post_attention_layernorm = norm(config.hidden_size, eps=eps)
        if self.sandwich:
            self.pre_feedforward_layernorm = norm(config.hidden_size, eps=eps)
            self.post_feedforward_layernorm = norm(config.hidden_size, eps=eps)

    def forward(self, positions, x):
        h = self.self_attn(positions, self.input_layernorm(x))
        if self.sandwich:
            x = x + self.post_attention_layernorm(h)
            return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x))


class MixcModel(nn.Module):
    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        super().__init__()
        config = vllm_config.model_config.hf_config
        self.config = config
        self.embed_tokens = VocabParallelEmbedding(config.vocab_size, config.hidden_size)
        self.start_layer, self.end_layer, self.layers = make_layers(
            config.num_hidden_layers,
            lambda prefix: MixcDecoderLayer(config, vllm_config.cache_config, vllm_config.quant_config, prefix),
            prefix=f"{prefix}.layers")
        for i in range(self.start_layer, self.end_layer):
            owner = config.mixc_kv_owner[i]
            if owner < self.start_layer:
                raise ValueError(f"layer {i} reads layer {owner}'s cache, which is in an earlier pipeline stage; "
                                 "vLLM shares caches within a stage (choose another pipeline_parallel_size)")
        self.norm = norm_class(config)(config.hidden_size, eps=config.rms_norm_eps)
        self.normalizer = config.hidden_size ** 0.5 if config.mixc_embed_scale else None

    def get_input_embeddings(self, input_ids):
        x = self.embed_tokens(input_ids)
        return x * torch.tensor(self.normalizer, dtype=x.dtype) if self.normalizer else x

    def forward(self, input_ids, positions, intermediate_tensors=None, inputs_embeds=None):
        if get_pp_group().is_first_rank:
            x = inputs_embeds if inputs_embeds is not None else self.get_input_embeddings(input_ids)
        else:
            x = intermediate_tensors["hidden_states"]
        for layer in self.layers[self.start_layer:self.end_layer]:
            x = layer(positions, x)
        if not get_pp_group().is_last_rank:
            return IntermediateTensors({"hidden_states": x})
        return self.norm(x)


class MixcForCausalLM(nn.Module):
    # mixrun's (HF Llama's) separate projections, loaded into vLLM's fused ones.
    stacked_params_mapping = [(".qkv_proj", ".q_proj", "q"), (".qkv_proj", ".k_proj", "k"),
                              (".qkv_proj", ".v_proj", "v"), (".gate_up_proj", ".gate_proj", 0),
                              (".gate_up_proj", ".up_proj", 1)]

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        super().__init__()
        config = vllm_config.model_config.hf_config
        self.config = config
        self.model = MixcModel(vllm_config=vllm_config, prefix=maybe_prefix(prefix, "model"))
        if config.tie_word_embeddings:
            self.lm_head = self.model.embed_tokens
        else:
            self.lm_head = ParallelLMHead(config.vocab_size, config.hidden_size, prefix=maybe_prefix(prefix, "lm_head"))
        self.logits_processor = LogitsProcessor(config.vocab_size, soft_cap=config.mixc_logit_softcap or None)

    def get_input_embeddings(self, input_ids):
        return self.model.get_input_embeddings(input_ids)

    def forward(self, input_ids, positions, intermediate_tensors=None, inputs_embeds=None):
        return self.model(input_ids, positions, intermediate_tensors, inputs_embeds)

    def compute_logits(self, hidden_states, sampling_metadata=None):
        if sampling_metadata is None:
            return self.logits_processor(self.lm_head, hidden_states)
        return self.logits_processor(self.lm_head, hidden_states, sampling_metadata)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        params = dict(self.named_parameters())
        loaded = set()
        for name, tensor in weights:
            if self.config.tie_word_embeddings and name == "lm_head.weight":
                continue
            target, shard = name, None
            for fused, single, shard_id in self.stacked_params_mapping:
                if single in name and name.replace(single, fused) in params:   # a reader's q_proj stays
                    target, shard = name.replace(single, fused), shard_id
                    break
            if target not in params or is_pp_missing_parameter(target, self):
                continue
            param = params[target]
            loader = getattr(param, "weight_loader", default_weight_loader)
            if shard is None:
                loader(param, tensor)
            else:
                loader(param, tensor, shard)
            loaded.add(target)
        return loaded
