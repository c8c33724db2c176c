"""mixc_vllm_model.py: a mixc layout's model for vLLM (the `mixc-vllm` plugin).

Written by `mixc export --vllm DIR` (templates/python/vllm_mixc.py in mixc, embedded in the mixc
binary). It serves the model directory that `mixc export --transformers` writes (config.json with
model_type "mixc", read with trust_remote_code; mixrun's safetensors), and reads the layout from that
config: per layer the window, the layer whose KV cache it reads (vLLM's kv_sharing_target_layer_name)
and the RoPE, and the model's variations. Written against vLLM 0.33's Llama-style building blocks
(the module layout, get_rope's rope_parameters, embed_input_ids), so tensor and pipeline parallelism
come from vLLM. A reader has only a q projection and hands Attention no k or v; vLLM's rules for
sharing (a reader has its owner's attention type and window; an owner and its readers sit in one
pipeline stage) are checked by `mixc export --vllm` and again here.
"""

from collections.abc import Iterable
from itertools import islice

import torch
from torch import nn

from vllm.compilation.decorators import support_torch_compile
from vllm.config import VllmConfig
from vllm.distributed import get_pp_group, get_tensor_model_parallel_world_size
from vllm.model_executor.layers.activation import GeluAndMul, SiluAndMul
from vllm.model_executor.layers.attention import Attention
from vllm.model_executor.layers.layernorm import GemmaRMSNorm, RMSNorm
from vllm.model_executor.layers.linear import (ColumnParallelLinear, MergedColumnParallelLinear,
                                               QKVParallelLinear, RowParallelLinear)
from vllm.model_executor.layers.logits_processor import LogitsProcessor
from vllm.model_executor.layers.rotary_embedding import get_rope
from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding
from vllm.model_executor.model_loader.weight_utils import default_weight_loader
from vllm.model_executor.models.interfaces import SupportsPP
from vllm.model_executor.models.utils import (PPMissingLayer, extract_layer_index, is_pp_missing_parameter,
                                              make_empty_intermediate_tensors_factory, make_layers, maybe_prefix)
from vllm.sequence import IntermediateTensors

# What vLLM's get_rope reads of each scaling that mixc exports (mixc's keys have vLLM's names): yarn's
# attention_factor is the whole factor on cos and sin (mixc's, used as is), truncate whether the ramp's
# bounds are rounded (false for gpt-oss's yarn).
ROPE_SCALING_KEYS = {
    "linear": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
    "yarn": ("factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor", "truncate"),
}


def norm_class(config):
    return GemmaRMSNorm if config.mixc_norm == "rms_plus_one" else RMSNorm


def rope_parameters(config, layer):
    """vLLM's rope_parameters of one layer (its base, and the header's scaling if the layer is scaled),
    or None for NoPE."""
    rope = config.mixc_rope[layer]
    if rope is None:
        return None
    params = {"rope_type": "default", "rope_theta": float(rope["theta"])}
    scaling = config.mixc_rope_scaling if rope["scaled"] else None
    if scaling:
        kind = scaling["rope_type"]
        if kind not in ROPE_SCALING_KEYS:
            raise ValueError(f"'mixc_rope_scaling' type {kind!r} is not computed by this plugin (linear, llama3, yarn)")
        params["rope_type"] = kind
        params.update({k: scaling[k] for k in ROPE_SCALING_KEYS[kind] if k in scaling})
    return params


def rope_of(config, layer):
    """vLLM's rotary embedding of one layer (neox style: mixrun's rotate_half), or None for NoPE."""
    params = rope_parameters(config, layer)
    if params is None:
        return None
    rotary = get_rope(config.head_dim, max_position=config.max_position_embeddings, is_neox_style=True,
                      rope_parameters=params)
    # vLLM's yarn tabulates original_max_position_embeddings * factor positions, whatever the context:
    # a longer context would read past the table.
    if rotary.cos_sin_cache.shape[0] < config.max_position_embeddings:
        raise ValueError(f"layer {layer}: vLLM's {params['rope_type']} RoPE covers {rotary.cos_sin_cache.shape[0]} "
                         f"positions (original_max_position_embeddings x factor), fewer than the context "
                         f"{config.max_position_embeddings}")
    return rotary


def check_sharing(config, start, end):
    """vLLM's rules for the readers among layers start..end-1 (this pipeline stage), as `mixc export
    --vllm` checks them: a reader has its owner's window, and its owner is in the same stage."""
    for i in range(start, end):
        owner = config.mixc_kv_owner[i]
        if config.mixc_windows[i] != config.mixc_windows[owner]:
            raise ValueError(f"layer {i} (window {config.mixc_windows[i]}) reads layer {owner}'s cache (window "
                             f"{config.mixc_windows[owner]}): vLLM shares a cache only between layers of the same "
                             "attention type and window")
        if owner < start:
            raise ValueError(f"layer {i} reads layer {owner}'s cache, which is in an earlier pipeline stage; "
                             "vLLM shares caches within a stage (choose another pipeline_parallel_size)")


class MixcAttention(nn.Module):
    def __init__(self, config, cache_config, quant_config, prefix):
        super().__init__()
        i = extract_layer_index(prefix)
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
        self.q_norm = self.k_norm = None
        if config.mixc_qk_norm:
            self.q_norm = norm_class(config)(self.head_dim, eps=config.rms_norm_eps)
            if self.is_owner:
                self.k_norm = norm_class(config)(self.head_dim, eps=config.rms_norm_eps)
        self.rotary_emb = rope_of(config, i)
        owner_prefix = prefix.replace(f".layers.{i}.", f".layers.{self.owner}.")
        self.attn = Attention(self.num_heads, self.head_dim, (config.mixc_query_pre_attn_scalar or self.head_dim) ** -0.5,
                              num_kv_heads=self.num_kv_heads, cache_config=cache_config, quant_config=quant_config,
                              logits_soft_cap=config.mixc_attn_softcap or None,
                              per_layer_sliding_window=config.mixc_windows[i] or None,
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
            k = self.head_norm(k, self.k_norm, self.num_kv_heads)
        else:   # reads its owner's cache: no k or v of its own
            q, _ = self.q_proj(hidden_states)
            k = v = None
        q = self.head_norm(q, self.q_norm, self.num_heads)
        if self.rotary_emb is not None:
            q, k = self.rotary_emb(positions, q, k)
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


@support_torch_compile(dynamic_arg_dims={"input_ids": 0, "positions": 0, "intermediate_tensors": 0,
                                         "inputs_embeds": 0})
class MixcModel(nn.Module):
    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        super().__init__()
        config = vllm_config.model_config.hf_config
        self.config = config
        pp = get_pp_group()
        if pp.is_first_rank or (config.tie_word_embeddings and pp.is_last_rank):
            self.embed_tokens = VocabParallelEmbedding(config.vocab_size, config.hidden_size,
                                                       quant_config=vllm_config.quant_config)
        else:
            self.embed_tokens = PPMissingLayer()
        self.start_layer, self.end_layer, self.layers = make_layers(
            config.num_hidden_layers,
            lambda prefix: MixcDecoderLayer(config, vllm_config.cache_config, vllm_config.quant_config, prefix),
            prefix=f"{prefix}.layers")
        check_sharing(config, self.start_layer, self.end_layer)
        self.norm = norm_class(config)(config.hidden_size, eps=config.rms_norm_eps) if pp.is_last_rank else PPMissingLayer()
        self.normalizer = config.hidden_size ** 0.5 if config.mixc_embed_scale else None
        self.make_empty_intermediate_tensors = make_empty_intermediate_tensors_factory(["hidden_states"],
                                                                                       config.hidden_size)

    def embed_input_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        return x * torch.tensor(self.normalizer, dtype=x.dtype) if self.normalizer else x

    def forward(self, input_ids: torch.Tensor | None, positions: torch.Tensor,
                intermediate_tensors: IntermediateTensors | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor | IntermediateTensors:
        if get_pp_group().is_first_rank:
            x = inputs_embeds if inputs_embeds is not None else self.embed_input_ids(input_ids)
        else:
            x = intermediate_tensors["hidden_states"]
        for layer in islice(self.layers, self.start_layer, self.end_layer):
            x = layer(positions, x)
        if not get_pp_group().is_last_rank:
            return IntermediateTensors({"hidden_states": x})
        return self.norm(x)


class MixcForCausalLM(nn.Module, SupportsPP):
    # mixrun's (HF Llama's) separate projections, loaded into vLLM's fused ones.
    stacked_params_mapping = [(".qkv_proj", ".q_proj", "q"), (".qkv_proj", ".k_proj", "k"),
                              (".qkv_proj", ".v_proj", "v"), (".gate_up_proj", ".gate_proj", 0),
                              (".gate_up_proj", ".up_proj", 1)]
    packed_modules_mapping = {"qkv_proj": ["q_proj", "k_proj", "v_proj"], "gate_up_proj": ["gate_proj", "up_proj"]}

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        super().__init__()
        config = vllm_config.model_config.hf_config
        self.config = config
        self.model = MixcModel(vllm_config=vllm_config, prefix=maybe_prefix(prefix, "model"))
        if get_pp_group().is_last_rank:
            self.lm_head = ParallelLMHead(config.vocab_size, config.hidden_size, quant_config=vllm_config.quant_config,
                                          prefix=maybe_prefix(prefix, "lm_head"))
            if config.tie_word_embeddings:
                self.lm_head = self.lm_head.tie_weights(self.model.embed_tokens)
            self.logits_processor = LogitsProcessor(config.vocab_size, soft_cap=config.mixc_logit_softcap or None)
        else:
            self.lm_head = PPMissingLayer()
        self.make_empty_intermediate_tensors = self.model.make_empty_intermediate_tensors

    def embed_input_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_input_ids(input_ids)

    def forward(self, input_ids: torch.Tensor | None, positions: torch.Tensor,
                intermediate_tensors: IntermediateTensors | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor | IntermediateTensors:
        return self.model(input_ids, positions, intermediate_tensors, inputs_embeds)

    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        return self.logits_processor(self.lm_head, hidden_states)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        """mixrun's tensors into this stage's parameters; a tensor that is no parameter of the model is
        refused by name (a checkpoint of another layout). Returns the names loaded, which vLLM's loader
        compares with the model's parameters."""
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
            if is_pp_missing_parameter(target, self):
                continue
            if target not in params:
                raise ValueError(f"the checkpoint's tensor '{name}' is not a parameter of this layout's model")
            param = params[target]
            loader = getattr(param, "weight_loader", default_weight_loader)
            if shard is None:
                loader(param, tensor)
            else:
                loader(param, tensor, shard)
            loaded.add(target)
        return loaded
