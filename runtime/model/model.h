/* model.h — the model the runtime executes (docs/model.md): a Llama-style decoder whose layers
 * follow a Layout, its weights (in memory as fp32, rounded to the model dtype), the deterministic
 * random weights, loading/saving them as safetensors, and the .npy writer for logits.
 *
 * Tensor names and shapes are those of HF Llama checkpoints ([out, in] for every projection):
 *   model.embed_tokens.weight                       [vocab, hidden]
 *   model.layers.{i}.input_layernorm.weight         [hidden]
 *   model.layers.{i}.self_attn.q_proj.weight        [heads*head_dim, hidden]
 *   model.layers.{i}.self_attn.{k,v}_proj.weight    [kv_heads*head_dim, hidden]   cache owners only
 *   model.layers.{i}.self_attn.o_proj.weight        [hidden, heads*head_dim]
 *   model.layers.{i}.post_attention_layernorm.weight [hidden]
 *   model.layers.{i}.mlp.{gate,up}_proj.weight      [ffn, hidden]
 *   model.layers.{i}.mlp.down_proj.weight           [hidden, ffn]
 *   model.norm.weight                               [hidden]
 *   lm_head.weight                                  [vocab, hidden]   absent = tied to the embedding
 * and the header's variations' (biases, q/k norms, Gemma's sandwich norms, a mixture of experts's
 * mlp.gate and mlp.experts.{e}.*): docs/model.md, "Weights".
 */
#ifndef MIXC_RUNTIME_MODEL_H
#define MIXC_RUNTIME_MODEL_H

#include "mixc.h"
#include "run_plan.h"
#include "safetensors.h"

typedef struct {
    float *norm_in;         /* [hidden] */
    float *wq;              /* [heads*head_dim][hidden] */
    float *wk, *wv;         /* [kv_heads*head_dim][hidden]; NULL for a layer that reads another's cache */
    float *wo;              /* [hidden][heads*head_dim] */
    float *norm_post;       /* [hidden] */
    float *w_gate, *w_up;   /* [ffn][hidden] */
    float *w_down;          /* [hidden][ffn] */
    float *bq, *bk, *bv;    /* qkv_bias: [heads*head_dim], [kv_heads*head_dim] (owners); else NULL */
    float *bo;              /* o_bias: [hidden]; else NULL */
    float *q_norm, *k_norm; /* qk_norm: [head_dim] (k_norm in owners); else NULL */
    float *norm_attn_out, *norm_mlp_out;  /* sandwich_norms: [hidden]; else NULL */
    float *sinks;           /* a layer with sinks: [heads], one logit each; else NULL */
    /* a mixture of experts (experts E; the dense w_gate, w_up, w_down are then NULL): the router
     * [E][hidden]; expert e's projections stacked at e x rows: gate, up [E x ffn][hidden], down
     * [E x hidden][ffn]; their biases with moe_bias; the shared expert's as a dense MLP's */
    float *router, *router_bias;
    float *experts_gate, *experts_gate_bias, *experts_up, *experts_up_bias, *experts_down, *experts_down_bias;
    float *shared_gate, *shared_up, *shared_down;
} LayerWeights;

/* Where layer weights w keeps weight ref (a WeightRef of compiler/plan/plan.h); NULL for the
 * model's own (embedding, final norm, LM head). */
float **model_layer_slot(LayerWeights *w, int ref);

/* A checkpoint read a part at a time (model_stream_safetensors). */
typedef struct ModelStream ModelStream;

typedef struct {
    const Layout *layout;   /* not owned */
    float *embed;           /* [vocab][hidden] */
    float *lm_head;         /* [vocab][hidden]; == embed when the layout ties them (tie_embeddings: then
                             * not separately owned, and a checkpoint's lm_head.weight is not read) */
    float *norm_final;      /* [hidden] */
    LayerWeights *layer;    /* [nlayers] */
    /* A streamed model: its weights stay in the checkpoint (the weight pointers are NULL) and
     * model_fill_plan_weight reads them from there; NULL for a model held in memory. */
    ModelStream *stream;
} Model;

/* The parts of a model a streamed load holds one at a time: a layer (its index), or one of these. */
enum { PART_EMBED = -1, PART_NORM_FINAL = -2, PART_LM_HEAD = -3 };

/* One tensor of the model, as named in a checkpoint. */
typedef struct {
    char name[96];
    int ndim;               /* 1 or 2 */
    int64_t shape[2];
    float **slot;           /* where the model keeps it: the tensor starts `offset` floats into *slot */
    int64_t offset;         /* 0, or expert e's place in a stacked tensor of a mixture of experts */
    int64_t alloc_elems;    /* floats *slot holds: allocated with the tensor at offset 0 */
    int64_t fan_in;         /* columns (the random scale); 0 for norms (initialised to 1) */
    int part;               /* its layer, or PART_EMBED, PART_NORM_FINAL, PART_LM_HEAD */
} ModelTensor;

/* The tensor's values: *t->slot + t->offset. */
float *model_tensor_data(const ModelTensor *t);

/* Every tensor the layout's model has (lm_head only when not tied), in checkpoint order.
 * Returns the count; *out is malloc'ed. The slots point into `m`. */
int model_tensors(Model *m, ModelTensor **out);

/* The host values of a weight of a run plan (compiler/plan/run_plan.h's WeightSlot): the model's
 * whole array (a mixture of experts' stacked weights are one array, E slices of the checkpoint's
 * tensors); NULL when the model lacks it. */
const float *model_plan_weight(const Model *m, const WeightSlot *w);
/* The values of a run plan's weight into dst (w->rows x w->cols floats): the model's array, or for a
 * fused weight (WT_QKV, WT_QKV_BIAS, WT_GATE_UP: plan_fused_parts) each part's values in its slice,
 * one after the other (Wq's rows, then Wk's, then Wv's). A streamed model first reads the weight's
 * part (its layer, or the one global tensor) from the checkpoint, letting go of the part it held
 * before. false with a message in err when the model lacks a part, the parts do not fill the slot
 * exactly, or (streamed) a value read is NaN or Inf. */
bool model_fill_plan_weight(const Model *m, const WeightSlot *w, float *dst, char *err, size_t errlen);
/* The same values where they lie: the host arrays of w in order (one, or a fused weight's parts) and
 * their element counts, valid until the next call (a streamed model may let go of them then). Returns
 * how many; 0 with a message in err, as model_fill_plan_weight fails. */
int model_plan_weight_parts(const Model *m, const WeightSlot *w, const float *part[3], int64_t count[3], char *err,
                            size_t errlen);
/* Whether the model has as many values as the run plan's weights hold (its tensors, an expert's
 * slices included). */
bool model_matches_plan(const Model *m, const RunPlan *p);

/* Whether the weights fit in this machine's memory as the load holds them in fp32: all of them, or
 * (streamed) the largest part; false with a message in err (the count, the bytes needed and the
 * memory there is). */
bool model_check_size(const Layout *l, bool streamed, char *err, size_t errlen);

/* Deterministic random weights: each tensor draws from splitmix64 seeded by mix(seed, FNV-1a(name)),
 * uniform(-1, 1) / sqrt(fan_in) for projections, uniform(-1, 1) for the embedding, 1 for norms;
 * rounded to the model dtype. lm_head exists unless the header ties the embeddings. */
void model_init_random(Model *m, const Layout *l, uint64_t seed);

/* Loads weights from a safetensors file for layout l. Returns false with a message naming the file
 * and the tensor in err (a missing tensor, wrong shape or dtype, a reading layer with k/v_proj,
 * a malformed file, and unless allow_unused a tensor the model does not use: the first few named).
 * Tensors not used are counted in *unused (may be NULL). */
bool model_load_safetensors(Model *m, const Layout *l, const char *path, bool allow_unused, int *unused, char *err,
                            size_t errlen);

/* The same checkpoint for a backend that copies the weights into memory of its own (emu, cuda): the
 * same checks from the files' headers (every error above but a NaN or Inf value), and no value read
 * yet. m is a streamed model (m->stream): model_fill_plan_weight reads each part when the backend
 * asks for it, so the host holds one layer's fp32 values at a time instead of the whole model's.
 * The checkpoint stays open (mapped) until model_free. */
bool model_stream_safetensors(Model *m, const Layout *l, const char *path, bool allow_unused, int *unused, char *err,
                              size_t errlen);

/* Reads every part of streamed model m in turn (the embedding, each layer, the final norm, the LM head),
 * as a backend's open would: false with the first error (a NaN or Inf, named). */
bool model_stream_read_all(const Model *m, char *err, size_t errlen);

/* "[4, 64, 128]": a shape as the loader's messages print it. */
void model_format_shape(char *out, size_t n, int ndim, const int64_t *shape);

/* fused_experts.c: the checkpoint forms of the feed forward (docs/model.md, "Checkpoint forms"),
 * told by c's names: how its layers' feed forward is named (Qwen3-MoE's and Llama's mlp.*, Llama 4's
 * feed_forward.*, Mixtral's block_sparse_moe.*), whether the text model sits under language_model.
 * (a multimodal Llama 4), and (with experts) the fused form of its experts (gpt-oss's
 * mlp.experts.gate_up_proj ..., Llama 4's feed_forward.experts.*), NULL when not fused. */
typedef enum { CKPT_HF, CKPT_LLAMA4, CKPT_MIXTRAL } CheckpointNames;
typedef struct FusedForm FusedForm;
typedef struct {
    const char *prefix;     /* "" or "language_model." */
    CheckpointNames names;
    const FusedForm *fused;
    const ModelHeader *model;   /* which layers have experts (model_layer_moe) */
} CheckpointForm;
/* The first layer with experts tells the fused form (none without experts). */
void model_checkpoint_form(const StCheckpoint *c, const ModelHeader *m, CheckpointForm *form);
/* The model's tensor table renamed (in place) to the form's names, before the load. */
void model_rename_tensors(const CheckpointForm *form, ModelTensor *t, int n);
/* Whether a checkpoint tensor is read otherwise or not the text model's: one of the fused tensors
 * (the router included) of a layer below nlayers that has experts, or a multimodal checkpoint's
 * vision tower. */
bool model_form_skips(const CheckpointForm *form, const char *name, int nlayers);
/* Whether a model tensor's name (renamed) is one the fused tensors replace (a router or an expert's). */
bool model_fused_target(const char *name);
/* Whether layer i's fused tensors are there, of the dtypes and shapes the layout needs (false with a
 * message naming the file and the tensor); nothing to check for a dense layer. */
bool model_check_fused_experts(const StCheckpoint *c, const CheckpointForm *form, const Layout *l, int i, char *err,
                               size_t errlen);
/* Layer i's router and experts read from the fused tensors (false with a message naming the file and
 * the tensor); nothing for a dense layer of a model with moe_step. */
bool model_load_fused_experts(const StCheckpoint *c, const CheckpointForm *form, Model *m, int i, char *err,
                              size_t errlen);

/* rope_interleaved: q_proj and k_proj rows (and their biases, q/k norm weights) of every head permuted
 * from the checkpoint's interleaved RoPE pairs to the rotate_half order the backends compute (to_mixc),
 * or back; nothing without rope_interleaved. The loader and --save-weights call it (docs/model.md). */
void model_permute_rope_pairs(Model *m, bool to_mixc);

/* Writes the weights as safetensors in the model dtype (atomically). false with a message in err. */
bool model_save_safetensors(Model *m, const char *path, char *err, size_t errlen);

void model_free(Model *m);

/* Parameter bytes held in memory (fp32) and in the model dtype. */
int64_t model_param_count(Model *m);

/* Rounds n floats in place to the model dtype (bf16 or fp16; others untouched). */
void model_round_to_dtype(float *x, int64_t n, DType t);

/* The splitmix64 generator: the next value of the sequence from *state (random weights, the bench's
 * and the synthetic requests' tokens). */
uint64_t splitmix64(uint64_t *state);

/* Greedy decoding's choice: the lowest id among the largest logits. */
int32_t model_greedy_token(const float *logits, int64_t vocab);

/* npy.c: writes a float32 array [rows, cols] as a version 1.0 .npy file ('<f4', C order), atomically. */
bool npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols);

#endif
