"""configuration_mixc.py: the configuration of a mixc layout's transformers model.

Written by `mixc export --transformers DIR` (templates/python/configuration_mixc.py in mixc, embedded in
the mixc binary). The file is the same for every layout: the layout's facts are the values in
config.json (per layer: window, the layer whose KV cache it reads, its RoPE; the model's variations).
"""

try:
    from transformers import PreTrainedConfig as _BaseConfig
except ImportError:  # transformers 4
    from transformers import PretrainedConfig as _BaseConfig

# The mixc_ keys modeling_mixc.py computes. A config.json from a newer mixc may carry more: such a
# model is refused by name (MixcConfig.check_known) rather than computed without the feature.
KNOWN_MIXC_KEYS = {
    "mixc_version", "mixc_windows", "mixc_kv_owner", "mixc_rope", "mixc_rope_scaling", "mixc_qkv_bias",
    "mixc_o_bias", "mixc_qk_norm", "mixc_activation", "mixc_norm", "mixc_sandwich_norms", "mixc_embed_scale",
    "mixc_attn_softcap", "mixc_logit_softcap", "mixc_query_pre_attn_scalar",
}


class MixcConfig(_BaseConfig):
    model_type = "mixc"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]

    def __init__(self, vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
                 max_position_embeddings=4096, rope_theta=10000.0, tie_word_embeddings=False,
                 initializer_range=0.02, use_cache=True, mixc_windows=None, mixc_kv_owner=None, mixc_rope=None,
                 mixc_rope_scaling=None, mixc_qkv_bias=False, mixc_o_bias=False, mixc_qk_norm=False,
                 mixc_activation="silu", mixc_norm="rms", mixc_sandwich_norms=False, mixc_embed_scale=False,
                 mixc_attn_softcap=0.0, mixc_logit_softcap=0.0, mixc_query_pre_attn_scalar=0.0,
                 mixc_version=None, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.rms_norm_eps = rms_norm_eps
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        n = num_hidden_layers
        self.mixc_windows = list(mixc_windows) if mixc_windows is not None else [0] * n
        self.mixc_kv_owner = list(mixc_kv_owner) if mixc_kv_owner is not None else list(range(n))
        self.mixc_rope = list(mixc_rope) if mixc_rope is not None else [{"theta": rope_theta, "scaled": True}] * n
        self.mixc_rope_scaling = mixc_rope_scaling
        self.mixc_qkv_bias = mixc_qkv_bias
        self.mixc_o_bias = mixc_o_bias
        self.mixc_qk_norm = mixc_qk_norm
        self.mixc_activation = mixc_activation
        self.mixc_norm = mixc_norm
        self.mixc_sandwich_norms = mixc_sandwich_norms
        self.mixc_embed_scale = mixc_embed_scale
        self.mixc_attn_softcap = mixc_attn_softcap
        self.mixc_logit_softcap = mixc_logit_softcap
        self.mixc_query_pre_attn_scalar = mixc_query_pre_attn_scalar
        self.mixc_version = mixc_version
        unknown = sorted(k for k in kwargs if k.startswith("mixc_") and k not in KNOWN_MIXC_KEYS)
        if unknown:
            raise ValueError("this modeling_mixc.py does not compute %s (written by a newer mixc?)" % ", ".join(unknown))
        self.check_layout()
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)

    def check_layout(self):
        """The per-layer lists are one entry per layer, and a reader reads an earlier owner."""
        n = self.num_hidden_layers
        for key in ("mixc_windows", "mixc_kv_owner", "mixc_rope"):
            if len(getattr(self, key)) != n:
                raise ValueError("'%s' has %d entries but num_hidden_layers is %d" % (key, len(getattr(self, key)), n))
        for i, owner in enumerate(self.mixc_kv_owner):
            if not (0 <= owner <= i and self.mixc_kv_owner[owner] == owner):
                raise ValueError("'mixc_kv_owner' of layer %d is %r: not an earlier layer that owns its cache" % (i, owner))
        if self.mixc_activation not in ("silu", "gelu_tanh"):
            raise ValueError("'mixc_activation' %r is not computed (silu, gelu_tanh)" % self.mixc_activation)
        if self.mixc_norm not in ("rms", "rms_plus_one"):
            raise ValueError("'mixc_norm' %r is not computed (rms, rms_plus_one)" % self.mixc_norm)
        scaling = self.mixc_rope_scaling
        if scaling is not None and scaling.get("rope_type") not in ("linear", "llama3", "yarn"):
            raise ValueError("'mixc_rope_scaling' type %r is not computed (linear, llama3, yarn)" % scaling.get("rope_type"))
