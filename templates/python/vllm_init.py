"""The mixc-vllm plugin: vLLM loads it through the `vllm.general_plugins` entry point (pyproject.toml)
and it registers mixc's model, so that `vllm serve DIR --trust-remote-code` serves a directory written
by `mixc export --transformers` (config.json with architectures ["MixcForCausalLM"]). Written by
`mixc export --vllm DIR` (templates/python/vllm_init.py in mixc)."""


def register():
    from vllm import ModelRegistry

    if "MixcForCausalLM" not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model("MixcForCausalLM", "mixc_vllm_model:MixcForCausalLM")
