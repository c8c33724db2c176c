/* hf_config.h — what the two halves of the Hugging Face importer share: hf_import.c reads the layout
 * and the model header, hf_support.c finds what in the config mixc does not compute. */
#ifndef MIXC_HF_CONFIG_H
#define MIXC_HF_CONFIG_H

#include "mixc.h"

#include <jansson.h>

typedef struct {
    json_t *cfg;               /* the text config (text_config when nested, else the root) */
    json_t *root;
    json_t *defaults;          /* the config class's defaults for fields a config may omit, or NULL */
    const char *model_type;    /* "" when absent */
} HfConfig;

/* hf_defaults.c: the config class's defaults of model_type as a JSON object (NULL when mixc has
 * none: every field is then mixc's default), the period of its default local:global alternation
 * (layer i global when (i + 1) % period == 0; 0: none), and its tie_word_embeddings default. */
json_t *hf_family_defaults(const char *model_type);
int64_t hf_default_pattern(const char *model_type);
bool hf_default_tie(const char *model_type);

/* A field of the text config, else of the root (multimodal configs keep some fields at the top),
 * else the config class's default; NULL when absent or null. */
json_t *hf_field(const HfConfig *c, const char *key);
/* The same without the class's defaults: what the file itself gives. */
json_t *hf_given(const HfConfig *c, const char *key);

/* Receives one thing the config asks for that mixc does not compute: `what` names the field and its
 * value ("'rope_scaling' {...}"), `why` says what mixc computes instead. */
typedef void (*HfRefuse)(void *ctx, const char *what, const char *why);

/* Sets in `m` the header's variations (docs/language.md) that the config's fields and its family
 * ask for, and reports through `refuse` every field whose value makes the model compute something
 * else than mixc's decoder (docs/model.md), and, by model_type, what a family computes that no field
 * states. `m` is the header read from the config (its head_dim and rope_theta are compared with fields). */
void hf_check_support(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx);

/* hf_experts.c: the config's mixture of experts as the header's experts fields (its family's router,
 * expert width, shared expert and biases); reports a mixture mixc does not map. */
void hf_map_experts(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx);

/* "'key' VALUE", the value as one line of ASCII JSON, shortened with "..." past about 60 characters. */
void hf_describe(const char *key, json_t *v, char *out, size_t n);

/* hf_attention.c: layer_types (a list v of n entries) into sliding[] and chunked[] (attention_chunk_size
 * for chunked_attention entries, else left 0); false with a message in err when malformed. And Llama 4
 * text configs (model_type llama4, llama4_text): hf_llama4_support maps the mixture-of-experts layers
 * (moe_layers, interleave_moe_layer_step: hf_map_experts) and sets a dense model's ffn to intermediate_size_mlp;
 * hf_llama4_chunked, for a config without layer_types, sets chunked[i] to attention_chunk_size for the
 * RoPE layers (no_rope_layers) and 0 for the NoPE ones, which are global (every layer global when
 * attention_chunk_size is null). */
bool hf_layer_types(const HfConfig *c, json_t *v, int n, bool *sliding, int64_t *chunked, char *err, size_t errlen);
bool hf_is_llama4(const HfConfig *c);
/* Attention sinks: every layer of a gpt_oss config, the layers `mixc export --hf` marks in mixc_sinks
 * (one boolean per layer); false with a message in err when mixc_sinks is malformed. */
bool hf_read_layer_sinks(const HfConfig *c, Layout *l, char *err, size_t errlen);
void hf_llama4_support(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx);
bool hf_llama4_chunked(const HfConfig *c, int n, int64_t *chunked, char *err, size_t errlen);

/* hf_rope.c: the object holding the RoPE scaling (its key in *key), NULL when none; the scaling it
 * asks for, false (why says what mixc computes) when mixc does not compute it; and the header's
 * rope_scaling read from the config (left plain when unsupported: hf_check_support refuses it). */
json_t *hf_rope_scaling_object(const HfConfig *c, const char **key);
bool hf_rope_scaling(json_t *o, int64_t context, RopeScaling *s, char *why, size_t n);
void hf_read_rope_scaling(const HfConfig *c, ModelHeader *m);
/* The RoPE of the sliding layers: Gemma 3's rope_local_base_freq, or transformers 5's
 * rope_parameters.sliding_attention, as a kind's own (plain) base; the header's when equal. false
 * when mixc cannot express it (a scaled second base, a bad value), with the field in *key, *value. */
bool hf_sliding_rope(const HfConfig *c, const ModelHeader *m, LayerRope *out, const char **key, json_t **value);
/* no_rope_layers, NULL when absent, null, or (Llama4TextConfig: its default then) an empty list. */
json_t *hf_nope_list(const HfConfig *c);
/* Whether layer i has no RoPE (no_rope_layers; SmolLM3's no_rope_layer_interval). */
bool hf_nope_layer(const HfConfig *c, int64_t layers, int64_t i);
/* The layers' RoPE: the sliding layers' base, NoPE layers. */
void hf_read_layer_ropes(const HfConfig *c, Layout *l);
/* Writes the layout's RoPE into an exported config: rope_scaling (without its defaults),
 * rope_local_base_freq, no_rope_layers; warns on err about what HF cannot carry. */
void hf_export_rope(const Layout *l, json_t *o, FILE *err);
/* One scaling parameter as transformers' rope_scaling holds it: a number, an integer or a bool. */
json_t *hf_rope_param_json(const RopeScaling *s, const RopeParam *p);

#endif
