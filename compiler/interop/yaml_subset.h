/* yaml_subset.h — reads the YAML that llm-foundry model configs use and `mixc export --foundry`
 * writes (yaml_subset.c says which part); no YAML library needed. */
#ifndef MIXC_YAML_SUBSET_H
#define MIXC_YAML_SUBSET_H

#include "mixc.h"

#include <jansson.h>

/* Parses text into a JSON tree (mappings as objects, sequences as arrays). On success *lines maps each
 * key's path ("model.attn_config.kv_n_heads", "model.block_overrides.order[2].name") to its line, for
 * messages. NULL on error, with "PATH:LINE: what" in err. */
json_t *yaml_subset_read(const char *path, const char *text, json_t **lines, char *err, size_t errlen);

#endif
