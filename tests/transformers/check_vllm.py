"""The vLLM plugin's model (`mixc export --vllm`) against mixrun, on CPU, in one process (run-python.sh).

Arguments: the plugin directory (on PYTHONPATH), then directories as check.py's (a `--transformers`
export with mixrun's fp32 random weights, ref.npy, prompt.txt, tokens.txt). For each: vLLM's own
VllmConfig from the directory (CPU platform, eager), a single-process gloo group, and the model that
vLLM's loader (get_model) makes with the plugin's MixcForCausalLM and mixrun's safetensors; then
  - load_weights takes every tensor of mixrun's safetensors and fills every parameter (none missing;
    a tensor of no parameter is refused by name);
  - each layer's Attention has the layout's window, scale, soft-cap and kv_sharing_target_layer_name
    (a reader names its owner's attention), and vLLM's KV cache manager groups the caches so;
  - each layer's rotary cos/sin cache equals mixrun's RoPE (modeling_mixc.rope_inv_freq);
  - the model's forward gives mixrun's cpu logits (check.py's tolerance). vLLM's attention kernels
    need vllm._C (and a KV cache bound by the engine), so Attention.forward is replaced by
    causal_window_attention, which computes what the layer's Attention was configured with (its own
    window, scale, soft-cap, and for a reader its target's k and v); all else is the plugin's code on
    vLLM's layers (custom ops in their native PyTorch form).
Prints PASS/FAIL lines; exits 1 on a failure.
"""
import os
import sys
import tempfile
import traceback

import numpy as np
import torch
from safetensors.torch import load_file

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")   # vLLM's CPU platform (no GPU here)
import mixc_vllm   # noqa: E402  (the plugin, from PYTHONPATH)
from vllm.config import (CompilationConfig, CompilationMode, DeviceConfig, ModelConfig,  # noqa: E402
                         VllmConfig, set_current_vllm_config)
from vllm.distributed import init_distributed_environment, initialize_model_parallel  # noqa: E402
from vllm.model_executor.layers.attention import Attention  # noqa: E402
from vllm.model_executor.layers.rotary_embedding import get_rope  # noqa: E402
from vllm.model_executor.model_loader import get_model  # noqa: E402
from vllm.model_executor.model_loader.utils import get_model_architecture  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import ids_of, report, within_tolerance  # noqa: E402

torch.set_num_threads(2)


class ReferenceAttention:
    """What each Attention computes in one prefill of one sequence from position 0: the keys and values
    an owner wrote, by layer name, and a window added to every layer's (the sensitivity check)."""
    kv = {}
    extra_window = 0


def causal_window_attention(self, query, key, value, output_shape=None, output_dtype=None):
    if self.kv_sharing_target_layer_name is None:
        ReferenceAttention.kv[self.layer_name] = (key, value)
    else:
        key, value = ReferenceAttention.kv[self.kv_sharing_target_layer_name]
    t = query.shape[0]
    q = query.view(t, self.num_heads, self.head_size).transpose(0, 1).double()
    k = key.view(t, self.num_kv_heads, self.head_size).transpose(0, 1).double()
    v = value.view(t, self.num_kv_heads, self.head_size).transpose(0, 1).double()
    group = self.num_heads // self.num_kv_heads
    k, v = k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
    scores = q @ k.transpose(1, 2) * self.impl.scale
    if self.impl.logits_soft_cap:
        scores = torch.tanh(scores / self.impl.logits_soft_cap) * self.impl.logits_soft_cap
    pos = torch.arange(t)
    seen = pos[None, :] <= pos[:, None]
    if self.sliding_window is not None:
        seen &= pos[None, :] > pos[:, None] - (self.sliding_window + ReferenceAttention.extra_window)
    out = torch.softmax(scores.masked_fill(~seen, float("-inf")), -1) @ v
    return out.transpose(0, 1).reshape(t, -1).to(query.dtype)


def build(d):
    """vLLM's config of the export directory and the model vLLM's loader makes of it (get_model: the
    class the registry resolves, mixrun's safetensors read and loaded by its load_weights, vLLM's check
    that every parameter was loaded, process_weights_after_loading), fp32 on CPU, eager."""
    model_config = ModelConfig(model=d, trust_remote_code=True, dtype="float32", skip_tokenizer_init=True,
                               max_model_len=64)
    vllm_config = VllmConfig(model_config=model_config, device_config=DeviceConfig(device="cpu"),
                             compilation_config=CompilationConfig(mode=CompilationMode.NONE, custom_ops=["none"]))
    with set_current_vllm_config(vllm_config):
        if not torch.distributed.is_initialized():
            init_distributed_environment(world_size=1, rank=0, local_rank=0, backend="gloo",
                                         distributed_init_method="file://" + tempfile.mktemp())
            initialize_model_parallel(1, 1)
        assert get_model_architecture(model_config)[1] == "MixcForCausalLM"
        return vllm_config, get_model(vllm_config=vllm_config)


def check_load(name, model, d):
    """get_model loaded the weights; loading them again shows what load_weights took."""
    weights = load_file(os.path.join(d, "model.safetensors"))
    loaded = model.load_weights(weights.items())
    params = set(dict(model.named_parameters()))
    missing, unexpected = sorted(params - loaded), sorted(loaded - params)
    report(not missing and not unexpected,
           "%s: load_weights takes mixrun's %d tensors and fills every parameter" % (name, len(weights)),
           "missing %s, unexpected %s" % (missing[:4], unexpected[:4]))
    bogus = "model.layers.0.self_attn.bogus_proj.weight"
    try:
        model.load_weights([(bogus, torch.zeros(1))])
        report(False, "%s: a tensor of no parameter is refused by name" % name, "loaded")
    except ValueError as e:
        report(bogus in str(e), "%s: a tensor of no parameter is refused by name" % name, str(e))


def check_attention(name, model, config):
    bad = []
    for i, layer in enumerate(model.model.layers):
        attn, owner = layer.self_attn.attn, config.mixc_kv_owner[i]
        want = {"sliding_window": config.mixc_windows[i] or None,
                "kv_sharing_target_layer_name": None if owner == i else "model.layers.%d.self_attn.attn" % owner,
                "scale": (config.mixc_query_pre_attn_scalar or config.head_dim) ** -0.5,
                "logits_soft_cap": config.mixc_attn_softcap or 0}
        got = {"sliding_window": attn.sliding_window, "kv_sharing_target_layer_name": attn.kv_sharing_target_layer_name,
               "scale": attn.impl.scale, "logits_soft_cap": attn.impl.logits_soft_cap}
        has_kv = hasattr(layer.self_attn, "qkv_proj")
        if got != want or has_kv != (owner == i):
            bad.append("layer %d: %s, want %s (k/v projection: %s)" % (i, got, want, has_kv))
    readers = [i for i, o in enumerate(config.mixc_kv_owner) if o != i]
    report(not bad, "%s: every Attention has the layout's window, scale, soft-cap and KV owner (%d readers)"
           % (name, len(readers)), "\n".join(bad))
    if readers:   # the plugin refuses what vLLM cannot share, as mixc export --vllm does
        check_sharing_refused(name, config, readers[-1])


def check_kv_cache_groups(name, vllm_config, config):
    """vLLM's KV cache manager on the model, as the engine sets it up (the runner's get_kv_cache_spec:
    a spec per owner, none for a reader; get_kv_cache_groups; add_kv_sharing_layers_to_kv_cache_groups):
    every layer in one group, whose cache has the layer's window, a reader in its owner's group."""
    from vllm.config import get_layers_from_vllm_config
    from vllm.v1.core.kv_cache_planning import get_kv_cache_groups
    from vllm.v1.worker.utils import add_kv_sharing_layers_to_kv_cache_groups
    layers = get_layers_from_vllm_config(vllm_config, Attention)
    shared = {n: a.kv_sharing_target_layer_name for n, a in layers.items() if a.kv_sharing_target_layer_name}
    specs = {n: a.get_kv_cache_spec(vllm_config) for n, a in layers.items() if n not in shared}
    vllm_config.cache_config.kv_cache_layout = "NHD"   # what the engine core resolves before grouping
    groups = get_kv_cache_groups(vllm_config, specs)
    add_kv_sharing_layers_to_kv_cache_groups(shared, groups)
    group_of = {n: g for g in groups for n in g.layer_names}
    bad = []
    for i in range(config.num_hidden_layers):
        layer, owner = "model.layers.%d.self_attn.attn" % i, "model.layers.%d.self_attn.attn" % config.mixc_kv_owner[i]
        group = group_of.get(layer)
        window = getattr(group.kv_cache_spec, "sliding_window", None) if group else "no group"
        if sum(layer in g.layer_names for g in groups) != 1 or window != (config.mixc_windows[i] or None) \
                or group is not group_of.get(owner):
            bad.append("layer %d: cache window %s, group of its owner: %s" % (i, window, group is group_of.get(owner)))
    report(not bad, "%s: vLLM's KV cache manager gives every layer a cache of its window, a reader its owner's "
           "(%d groups)" % (name, len(groups)), "\n".join(bad))


def check_sharing_refused(name, config, reader):
    import copy
    import mixc_vllm_model
    owner, n = config.mixc_kv_owner[reader], config.num_hidden_layers
    for what, want, edit, start in (
            ("a reader with another window than its owner's", "vLLM shares a cache only between layers",
             lambda c: c.mixc_windows.__setitem__(reader, c.mixc_windows[owner] + 1), 0),
            ("a reader in a later pipeline stage than its owner", "in an earlier pipeline stage", None, owner + 1)):
        bad = copy.deepcopy(config)
        if edit:
            edit(bad)
        try:
            mixc_vllm_model.check_sharing(bad, start, n)
            report(False, "%s: the plugin refuses %s" % (name, what), "accepted")
        except ValueError as e:
            report(want in str(e), "%s: the plugin refuses %s" % (name, what), str(e))


def reference_rope(config, layer):
    """mixrun's cos and sin [positions, head_dim / 2] of one layer (as modeling_mixc's rope_tables)."""
    from transformers.dynamic_module_utils import get_class_from_dynamic_module
    modeling = sys.modules[get_class_from_dynamic_module("modeling_mixc.MixcForCausalLM", config._name_or_path)
                           .__module__]
    inv, scale = modeling.rope_inv_freq(config, config.mixc_rope[layer])
    angle = torch.arange(config.max_position_embeddings).double()[:, None] * torch.tensor(inv).float().double()
    return angle.cos().float() * scale, angle.sin().float() * scale


def rope_differs(rotary, cos, sin):
    """The largest difference of a rotary embedding's cache from mixrun's cos and sin, as a fraction
    of fp32 rounding of the angles at these positions (vLLM computes them in fp32, mixrun in double)."""
    n, half = cos.shape[0], cos.shape[1]
    cache = rotary.cos_sin_cache[:n].float()
    err = max((cache[:, :half] - cos).abs().max().item(), (cache[:, half:2 * half] - sin).abs().max().item())
    return err / (n * 2.0 ** -23 * float(cos.abs().max()))


def check_rope(name, model, config):
    bad, kinds = [], set()
    for i, layer in enumerate(model.model.layers):
        rotary = layer.self_attn.rotary_emb
        if (rotary is None) != (config.mixc_rope[i] is None):
            bad.append("layer %d: rotary %s, mixc_rope %s" % (i, rotary, config.mixc_rope[i]))
        elif rotary is not None:
            kinds.add(type(rotary).__name__)
            cos, sin = reference_rope(config, i)
            worst = rope_differs(rotary, cos, sin)
            if worst > 1:
                bad.append("layer %d (%s): cos/sin off by %.3g of fp32 rounding" % (i, type(rotary).__name__, worst))
    report(not bad, "%s: every layer's rotary cos/sin cache = mixrun's RoPE (%s)" % (name, ", ".join(sorted(kinds))
           or "NoPE"), "\n".join(bad))
    scaling = config.mixc_rope_scaling
    if scaling and scaling["rope_type"] == "yarn":   # a context past vLLM's yarn table is refused
        check_yarn_table(name, config)
    if scaling and scaling.get("truncate") is False:   # the check sees truncate dropped
        i = next(i for i, r in enumerate(config.mixc_rope) if r and r["scaled"])
        import mixc_vllm_model
        params = {k: v for k, v in mixc_vllm_model.rope_parameters(config, i).items() if k != "truncate"}
        rounded = get_rope(config.head_dim, config.max_position_embeddings, True, params)
        worst = rope_differs(rounded, *reference_rope(config, i))
        report(worst > 1, "%s: the RoPE comparison sees yarn's truncate dropped" % name, "%.3g" % worst)


def check_yarn_table(name, config):
    import copy
    import mixc_vllm_model
    longer = copy.copy(config)
    scaling = config.mixc_rope_scaling
    longer.max_position_embeddings = int(scaling["original_max_position_embeddings"] * scaling["factor"]) + 1
    i = next(i for i, r in enumerate(config.mixc_rope) if r and r["scaled"])
    try:
        mixc_vllm_model.rope_of(longer, i)
        report(False, "%s: a context past vLLM's yarn table is refused" % name, "built")
    except ValueError as e:
        report("fewer than the context %d" % longer.max_position_embeddings in str(e),
               "%s: a context past vLLM's yarn table is refused" % name, str(e))


def logits(model, tokens):
    ReferenceAttention.kv = {}
    with torch.no_grad():
        hidden = model(torch.tensor(tokens), torch.arange(len(tokens)))
        return model.compute_logits(hidden).numpy()


def check_forward(name, model, d):
    tokens = ids_of(os.path.join(d, "prompt.txt")) + ids_of(os.path.join(d, "tokens.txt"))
    ref = np.load(os.path.join(d, "ref.npy"))
    ok, detail = within_tolerance(logits(model, tokens), ref)
    report(ok, "%s: the vLLM model's logits = mixrun cpu fp32 (reference attention)" % name, detail)
    if name == "ma":   # the comparison sees one key more in each window
        ReferenceAttention.extra_window = 1
        try:
            ok, detail = within_tolerance(logits(model, tokens), ref)
        finally:
            ReferenceAttention.extra_window = 0
        report(not ok, "the vLLM comparison sees one key more in a window (ma, windows + 1)", detail)


def check(d):
    name = os.path.basename(d.rstrip("/"))
    vllm_config, model = build(d)
    config = vllm_config.model_config.hf_config
    with set_current_vllm_config(vllm_config):
        model.eval()
        check_load(name, model, d)
        check_attention(name, model, config)
        check_kv_cache_groups(name, vllm_config, config)
        check_rope(name, model, config)
        check_forward(name, model, d)


mixc_vllm.register()
Attention.forward = causal_window_attention
for directory in sys.argv[1:]:
    try:
        check(directory)
    except Exception:
        report(False, "%s: runs" % os.path.basename(directory.rstrip("/")), traceback.format_exc())
sys.exit(1 if sys.modules["check"].failures else 0)   # report counts them there
