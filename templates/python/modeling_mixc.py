"""modeling_mixc.py: the PyTorch model of a mixc layout, for transformers (trust_remote_code).

Written by `mixc export --transformers DIR` (templates/python/modeling_mixc.py in mixc, embedded in the
mixc binary). The file is the same for every layout; config.json holds the layout: per layer its window
(0: global), the layer whose KV cache it reads (itself for an owner) and its RoPE, and the model's
variations. It computes what mixrun computes (docs/model.md in mixc), with mixrun's tensor names:
  - a reader (a layer reading another layer's cache) has no k/v projection: it attends to its owner's
    keys and values (already normed and rotated by the owner), with its own window and RoPE on q;
  - a window W lets a query see the W keys ending at its own position;
  - with a cache, only owners write it (at their own layer index); readers use their owner's entries.
No Python loop runs over tokens: attention is one scaled_dot_product_attention per layer with a
boolean mask (an explicit softmax when scores are soft-capped).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

import transformers
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from .configuration_mixc import MixcConfig

# transformers 5 names the cache field of outputs (and the forward argument) `cache`, 4 `past_key_values`.
_CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
_TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5


def rope_inv_freq(config, rope):
    """One layer's inverse frequencies (as mixc's compiler/ir/rope.c: double, rounded once to fp32)
    and the factor cos and sin are multiplied by. The header's scaling applies to "scaled" layers."""
    theta, dim = float(rope["theta"]), config.head_dim
    scaling = config.mixc_rope_scaling if rope.get("scaled") else None
    kind = scaling["rope_type"] if scaling else "default"
    plain = [theta ** (-2.0 * k / dim) for k in range(dim // 2)]
    if kind == "linear":
        inv = [f / scaling["factor"] for f in plain]
    elif kind == "llama3":
        inv = [_llama3(scaling, f) for f in plain]
    elif kind == "yarn":
        inv = _yarn(scaling, dim, theta)
    else:
        inv = plain
    return inv, float(scaling["attention_factor"]) if kind == "yarn" else 1.0


def _llama3(s, inv):
    wavelen, orig = 2 * math.pi / inv, float(s["original_max_position_embeddings"])
    low, high = orig / s["low_freq_factor"], orig / s["high_freq_factor"]
    if wavelen > low:
        return inv / s["factor"]
    if wavelen < high:
        return inv
    smooth = (orig / wavelen - s["low_freq_factor"]) / (s["high_freq_factor"] - s["low_freq_factor"])
    return (1 - smooth) * inv / s["factor"] + smooth * inv


def _yarn(s, dim, base):
    orig = s["original_max_position_embeddings"]

    def correction_dim(rotations):
        return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(s["beta_fast"]), correction_dim(s["beta_slow"])
    if s.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    inv = []
    for k in range(dim // 2):
        extrapolated = base ** (-2.0 * k / dim)
        keep = 1 - min(max((k - low) / (high - low), 0.0), 1.0)
        inv.append(extrapolated / s["factor"] * (1 - keep) + extrapolated * keep)
    return inv


def rotate(x, cos, sin):
    """rotate_half RoPE; cos and sin are [batch, 1, seq, head_dim]."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class MixcRMSNorm(nn.Module):
    """x / rms(x) times w, or times (1 + w) for mixc_norm rms_plus_one (Gemma), in fp32."""

    def __init__(self, width, eps, plus_one):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(width) if plus_one else torch.ones(width))
        self.eps, self.offset = eps, 1.0 if plus_one else 0.0

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * (self.offset + self.weight.float())).to(x.dtype)


class MixcMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.gelu = config.mixc_activation == "gelu_tanh"

    def forward(self, x):
        gate = self.gate_proj(x)
        gate = F.gelu(gate, approximate="tanh") if self.gelu else F.silu(gate)
        return self.down_proj(gate * self.up_proj(x))


class MixcAttention(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        c = config
        self.layer_idx, self.owner = layer_idx, c.mixc_kv_owner[layer_idx]
        self.heads, self.kv_heads, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.window, self.softcap = c.mixc_windows[layer_idx], c.mixc_attn_softcap
        self.scale = (c.mixc_query_pre_attn_scalar or c.head_dim) ** -0.5
        qw, kvw = self.heads * self.head_dim, self.kv_heads * self.head_dim
        self.q_proj = nn.Linear(c.hidden_size, qw, bias=c.mixc_qkv_bias)
        if self.owner == layer_idx:
            self.k_proj = nn.Linear(c.hidden_size, kvw, bias=c.mixc_qkv_bias)
            self.v_proj = nn.Linear(c.hidden_size, kvw, bias=c.mixc_qkv_bias)
        self.o_proj = nn.Linear(qw, c.hidden_size, bias=c.mixc_o_bias)
        if c.mixc_qk_norm:
            plus_one = c.mixc_norm == "rms_plus_one"
            self.q_norm = MixcRMSNorm(self.head_dim, c.rms_norm_eps, plus_one)
            if self.owner == layer_idx:
                self.k_norm = MixcRMSNorm(self.head_dim, c.rms_norm_eps, plus_one)

    def heads_of(self, proj, x, n, norm):
        b, t, _ = x.shape
        h = proj(x).view(b, t, n, self.head_dim)
        return (norm(h) if norm is not None else h).transpose(1, 2)

    def forward(self, x, rope, mask, shared, cache):
        """rope: (cos, sin) or None (NoPE); shared: the owners' (k, v) of this forward, by layer."""
        q = self.heads_of(self.q_proj, x, self.heads, getattr(self, "q_norm", None))
        if rope is not None:
            q = rotate(q, *rope)
        if self.owner == self.layer_idx:
            k = self.heads_of(self.k_proj, x, self.kv_heads, getattr(self, "k_norm", None))
            v = self.heads_of(self.v_proj, x, self.kv_heads, None)
            if rope is not None:
                k = rotate(k, *rope)
            if cache is not None:
                k, v = cache.update(k, v, self.layer_idx)
            shared[self.layer_idx] = (k, v)
        k, v = shared[self.owner]
        group = self.heads // self.kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        if self.softcap:
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
            scores = torch.tanh(scores / self.softcap) * self.softcap
            scores = scores.float().masked_fill(~mask, float("-inf"))
            out = torch.matmul(torch.softmax(scores, dim=-1).to(v.dtype), v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)
        b, _, t, _ = out.shape
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class MixcDecoderLayer(nn.Module):
    """Pre-norm: x + attn(norm(x)), then + mlp(norm(x)); with sandwich norms (Gemma 2/3) the attention
    and MLP outputs are normed too (the MLP's input norm is then pre_feedforward_layernorm)."""

    def __init__(self, config, layer_idx):
        super().__init__()
        eps, plus_one = config.rms_norm_eps, config.mixc_norm == "rms_plus_one"
        self.self_attn = MixcAttention(config, layer_idx)
        self.mlp = MixcMLP(config)
        self.sandwich = config.mixc_sandwich_norms
        self.input_layernorm = MixcRMSNorm(config.hidden_size, eps, plus_one)
        self.post_attention_layernorm = MixcRMSNorm(config.hidden_size, eps, plus_one)
        if self.sandwich:
            self.pre_feedforward_layernorm = MixcRMSNorm(config.hidden_size, eps, plus_one)
            self.post_feedforward_layernorm = MixcRMSNorm(config.hidden_size, eps, plus_one)

    def forward(self, x, rope, mask, shared, cache):
        h = self.self_attn(self.input_layernorm(x), rope, mask, shared, cache)
        if self.sandwich:
            x = x + self.post_attention_layernorm(h)
            return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x))


class MixcPreTrainedModel(PreTrainedModel):
    config_class = MixcConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False
    _no_split_modules = ["MixcDecoderLayer"]
    _supports_sdpa = True

    def _init_weights(self, module):
        std = self.config.initializer_range
        with torch.no_grad():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, std)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
            elif isinstance(module, MixcRMSNorm):
                module.weight.fill_(1.0 - module.offset)


class MixcModel(MixcPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(MixcDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = MixcRMSNorm(config.hidden_size, config.rms_norm_eps, config.mixc_norm == "rms_plus_one")
        # Each distinct RoPE once (None: NoPE): its fp32 inverse frequencies as doubles, and its scale.
        self._ropes, self._layer_rope = [], []
        for rope in config.mixc_rope:
            key = None if rope is None else rope_inv_freq(config, rope)
            if key is not None and key not in self._ropes:
                self._ropes.append(key)
            self._layer_rope.append(None if key is None else self._ropes.index(key))
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def rope_tables(self, positions, dtype):
        """(cos, sin) [batch, 1, seq, head_dim] of each distinct RoPE: angles in double, as mixrun."""
        tables = []
        for inv, scale in self._ropes:
            inv32 = torch.tensor(inv, dtype=torch.float32, device=positions.device).double()
            angle = positions.double()[..., None] * inv32
            angle = torch.cat((angle, angle), dim=-1)[:, None]
            tables.append(((angle.cos().float() * scale).to(dtype), (angle.sin().float() * scale).to(dtype)))
        return tables

    def masks(self, past, t, attention_mask, device):
        """Per distinct window: [batch|1, 1, t, past + t] booleans, True where a query sees a key. With
        padding (a 2D attention_mask), padded keys are hidden; a padded query still sees itself, so
        that no row is empty (an empty row would give NaN, which 0 weights would carry on)."""
        q = torch.arange(past, past + t, device=device)[:, None]
        k = torch.arange(past + t, device=device)[None, :]
        keep = None if attention_mask is None else attention_mask[:, None, None, -(past + t):].bool()
        out = {}
        for w in set(self.config.mixc_windows):
            m = k <= q
            if w:
                m = m & (k > q - w)
            m = m[None, None]
            out[w] = m if keep is None else (m & keep) | (k == q)
        return out

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, **kwargs):
        cache = cache if cache is not None else past_key_values
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and cache is None:
            cache = DynamicCache()
        if not use_cache:
            cache = None
        past = cache.get_seq_length() if cache is not None else 0
        b, t, _ = inputs_embeds.shape
        if position_ids is None:
            position_ids = torch.arange(past, past + t, device=inputs_embeds.device)[None].expand(b, t)
        x = inputs_embeds
        if self.config.mixc_embed_scale:
            x = x * torch.tensor(self.config.hidden_size ** 0.5, dtype=x.dtype)
        ropes = self.rope_tables(position_ids, x.dtype)
        masks = self.masks(past, t, attention_mask, x.device)
        shared = {}
        for i, layer in enumerate(self.layers):
            r = self._layer_rope[i]
            x = layer(x, None if r is None else ropes[r], masks[self.config.mixc_windows[i]], shared, cache)
        return BaseModelOutputWithPast(last_hidden_state=self.norm(x), **{_CACHE_FIELD: cache})


class MixcForCausalLM(MixcPreTrainedModel, GenerationMixin):
    if _TRANSFORMERS_5:
        _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    else:
        _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.model = MixcModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, logits_to_keep=0, **kwargs):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         cache=cache if cache is not None else past_key_values, inputs_embeds=inputs_embeds,
                         use_cache=use_cache)
        h = out.last_hidden_state
        if isinstance(logits_to_keep, int) and logits_to_keep > 0:
            h = h[:, -logits_to_keep:]
        logits = self.lm_head(h)
        cap = self.config.mixc_logit_softcap
        if cap:
            logits = torch.tanh(logits / cap) * cap
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{_CACHE_FIELD: getattr(out, _CACHE_FIELD)})
