/*
 * token.c - evs_token_new: a bearer token and its token-file line (evstore.h, "Tokens";
 * the format is schemas/access_token.h).
 */
#include <stdio.h>
#include <string.h>

#include "access_token.h"
#include "errors.h"
#include "evstore.h"

_Static_assert(EVS_TOKEN_TEXT_MAX == EVS_TOKEN_TEXT_LEN, "the public and the format's length");

int evs_token_new(const char *const *scopes, size_t count, char *token_out, char *line_out)
{
    if (count == 0 || count > EVS_TOKEN_SCOPES_MAX)
        return evs__set_error(EVS_EINVAL, "a token needs 1 to %d scopes (read, append, admin)",
                              EVS_TOKEN_SCOPES_MAX);
    for (size_t i = 0; i < count; i++) {
        evs_token_scope scope;
        if (!scopes[i] || evs_token_scope_parse(scopes[i], strlen(scopes[i]), &scope) < 0)
            return evs__set_error(EVS_EINVAL,
                                  "invalid scope \"%.220s\": use read, append or admin, "
                                  "optionally with :PREFIX of stream-name characters "
                                  "(append:Order-)",
                                  scopes[i] ? scopes[i] : "(null)");
    }
    if (evs_token_generate(token_out) < 0)
        return evs__set_error(EVS_EINTERNAL, "the system gave no random bytes for a token");
    evs_token_hash_text(token_out, strlen(token_out), line_out);
    size_t used = strlen(line_out);
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(line_out + used, EVS_TOKEN_LINE_MAX - used, " %s", scopes[i]);
    return 0;
}
