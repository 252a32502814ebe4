/* jsonkind.h — the kind of a jansson value in words ("an object", "a string", ...), for error
 * messages of the readers that parse JSON (safetensors headers, config.json, index files). */
#ifndef PST_JSONKIND_H
#define PST_JSONKIND_H

#include <jansson.h>

const char *pst_json_kind(const json_t *v);

#endif
