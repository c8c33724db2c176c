/* prompts.h — mixrun's prompts as token ids: --tokens, --tokens-file and --prompts (prompts.c). */
#ifndef MIXC_PROMPTS_H
#define MIXC_PROMPTS_H

#include <stdbool.h>
#include <stdint.h>

/* The prompts of a run, one after another in ids: prompt s is ids[offset[s] .. offset[s + 1]). */
typedef struct {
    int64_t count;
    int32_t *ids;
    int64_t *offset;   /* count + 1 */
} Prompts;

static inline const int32_t *prompt_ids(const Prompts *p, int64_t s) { return p->ids + p->offset[s]; }
static inline int64_t prompt_len(const Prompts *p, int64_t s) { return p->offset[s + 1] - p->offset[s]; }
/* The longest prompt's length (0 without prompts). */
int64_t prompts_longest(const Prompts *p);

/* Token ids separated by white space and/or one comma ("1,2, 3 4"): decimal digits, at most
 * INT32_MAX. A comma with no id on one side of it is refused. false with "mixrun: WHAT: why" on
 * stderr (and *out untouched). */
bool parse_tokens(const char *text, const char *what, int32_t **out, int64_t *n);
/* Every id below vocab, else false with a message naming the position (and the prompt: which, from
 * 1; 0 for the only prompt). */
bool check_vocab(const int32_t *t, int64_t n, int64_t vocab, int64_t which);
/* A --prompts file: one prompt per line, blank lines skipped, at most MIXC_MAX_BATCH. false with a
 * message on stderr naming PATH:LINE. */
bool read_prompts_file(const char *path, int64_t vocab, Prompts *out);
/* count prompts of n ids each, one after another in ids (taken over). */
void prompts_uniform(Prompts *p, int32_t *ids, int64_t count, int64_t n);
void prompts_free(Prompts *p);

#endif
