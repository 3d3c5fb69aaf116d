/*
 * cli_token.c - `evstore token new` (cli_token.h).
 */
#include "cli_token.h"

#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "evstore.h"

static const char usage[] =
    "usage: evstore token new --scope SCOPE [--scope SCOPE...]\n"
    "Makes a random bearer token for the projector's HTTP API. Prints the token on the first\n"
    "line (give it to the client: --token or EVSTORE_TOKEN; it is shown only now) and, on\n"
    "the second, the line to add to the projector's --token-file (its SHA-256 and scopes).\n"
    "SCOPE is read, append or admin, optionally limited to stream names with a prefix:\n"
    "append:Order- (docs/SECURITY.md, \"Scopes\").\n";

int evs_cli_token_wanted(int argc, char **argv)
{
    return argc > 1 && !strcmp(argv[1], "token");
}

int evs_cli_token_main(int argc, char **argv)
{
    const char *scopes[32];
    size_t count = 0;
    if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
        fputs(usage, stdout);
        return EVS_CLI_EXIT_OK;
    }
    if (argc < 3 || strcmp(argv[2], "new")) {
        fprintf(stderr, "evstore: token: the subcommand is new\n%s", usage);
        return EVS_CLI_EXIT_USAGE;
    }
    for (int i = 3; i < argc; i++) {
        const char *value = NULL;
        if (!strncmp(argv[i], "--scope=", 8))
            value = argv[i] + 8;
        else if (!strcmp(argv[i], "--scope") && i + 1 < argc)
            value = argv[++i];
        if (!value || count == sizeof scopes / sizeof scopes[0]) {
            fprintf(stderr, "evstore: token new: unexpected \"%s\" (at most 32 --scope SCOPE)\n%s",
                    argv[i], usage);
            return EVS_CLI_EXIT_USAGE;
        }
        scopes[count++] = value;
    }
    if (count == 0) {
        fprintf(stderr, "evstore: token new needs at least one --scope\n%s", usage);
        return EVS_CLI_EXIT_USAGE;
    }
    char token[EVS_TOKEN_TEXT_MAX + 1], line[EVS_TOKEN_LINE_MAX];
    int rc = evs_token_new(scopes, count, token, line);
    if (rc != 0) {
        fprintf(stderr, "evstore: %s\n", evs_last_error());
        return evs_cli_exit_code(rc);
    }
    printf("%s\n%s\n", token, line);
    return EVS_CLI_EXIT_OK;
}
