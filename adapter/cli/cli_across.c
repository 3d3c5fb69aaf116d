/*
 * cli_across.c - the partitions a CLI read or subscription covers (cli_across.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_across.h"
#include "cli_output.h"

int evs_cli_scope_open(evs_client *client, const evs_cli_args *args, evs_cli_scope *scope)
{
    int32_t partitions = 1;

    memset(scope, 0, sizeof *scope);
    int one_stream = args->command == EVS_CLI_READ ||
                     (args->command == EVS_CLI_SUBSCRIBE && args->target != NULL);
    if (one_stream || args->partition_given)
        return 0;
    if (evs_client_partitions(client, &partitions) != 0)
        partitions = 1; /* the request will say why */
    scope->with_partition = partitions > 1;
    scope->across = partitions > 1 || args->from_positions != NULL;
    if (args->from_positions) {
        int rc = evs_position_vector_parse(args->from_positions, &scope->from);
        if (rc != 0) /* cli_args.c parsed it already: only memory can fail here */
            return evs_cli_fail_evs(rc);
    }
    /* A read has no `from` beside its cursor: a plain --from goes into every partition the
     * vector leaves at 0. (A subscription passes it on as options.from, which means that.) */
    if (scope->across && args->command != EVS_CLI_SUBSCRIBE && args->from > 0) {
        evs_position_vector *v = &scope->from;
        if (v->count < partitions) {
            uint64_t *grown = realloc(v->positions, (size_t)partitions * sizeof *grown);
            if (!grown) {
                evs_cli_scope_free(scope);
                return evs_cli_fail(EVS_CLI_EXIT_OTHER, "out of memory");
            }
            for (int32_t p = v->count; p < partitions; p++)
                grown[p] = 0;
            v->positions = grown;
            v->count = partitions;
        }
        for (int32_t p = 0; p < v->count; p++)
            if (v->positions[p] == 0)
                v->positions[p] = args->from;
    }
    return 0;
}

void evs_cli_scope_free(evs_cli_scope *scope)
{
    evs_position_vector_free(&scope->from);
}

void evs_cli_print_resume(const evs_subscription *subscription)
{
    evs_position_vector positions = {NULL, 0};
    char *text = NULL;
    if (evs_subscription_positions(subscription, &positions) == 0 &&
        evs_position_vector_format(&positions, &text) == 0)
        fprintf(stderr, "evstore: resume with --from %s\n", text);
    free(text);
    evs_position_vector_free(&positions);
}
