/* The config's security keys (config_process.c), for config.c. */
#ifndef GW_CONFIG_PROCESS_H
#define GW_CONFIG_PROCESS_H

#include "gatewayd/core/config.h"
#include "gatewayd/core/json_fields.h"

void sandbox_defaults(struct sandbox_cfg *sb);
/* obj's "sandbox", if any, over what sb holds (the enclosing default). */
int load_sandbox(struct check *c, json_t *obj, const char *where, struct sandbox_cfg *sb);
/* obj's "user" and "group", resolved; without them, above's (may be NULL). */
int load_identity(struct check *c, json_t *obj, const char *where, const struct identity_cfg *above,
                  struct identity_cfg *id);
int load_min_ids(struct check *c, json_t *root, struct config *cfg);
void identity_free(struct identity_cfg *id);
/* "dispatchers": a count or "auto" (online cores); after the pools. */
int load_dispatchers(struct check *c, json_t *root, struct config *cfg);

#endif
