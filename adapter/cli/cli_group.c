/*
 * cli_group.c - `evstore group ...` (cli_group.h): consumer-group administration through
 * libevstore's public API. Output is JSON on standard output: one object for create,
 * status, replay-parked and delete, one line per parked event for parked.
 */
#include "cli_group.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_args.h"
#include "evstore.h"

#define PARKED_PAGE 1000

const char EVS_CLI_GROUP_USAGE[] =
    "usage: evstore [GLOBAL...] group SUBCOMMAND NAME [OPTIONS...]\n"
    "\n"
    "Consumer groups share the events of $all or of a category among their members\n"
    "(docs/HTTP-API.md, \"Consumer groups\"; members use the C API: evs_group_join ...).\n"
    "\n"
    "  group create NAME (--category CATEGORY | --all) [--partition P] [--from POSITION]\n"
    "               [--ack-timeout-ms N] [--max-attempts N] [--member-timeout-ms N]\n"
    "      Creates the group, or changes the settings of an existing one (its source,\n"
    "      partition and start cannot change). Prints the group's status.\n"
    "  group status NAME          the definition, checkpoint, in-flight and parked counts,\n"
    "                             and the members, as one JSON object\n"
    "  group parked NAME [--from POSITION] [--limit N]\n"
    "                             the parked events, one JSON object per line\n"
    "  group replay-parked NAME   delivers every parked event again (fresh attempts)\n"
    "  group delete NAME          deletes the group, its progress and parked events\n"
    "\n"
    "Global options: --projector URLS (env EVSTORE_PROJECTOR; one URL or comma-separated\n"
    "seeds: each request goes to the projector that coordinates the group), --timeout-ms N,\n"
    "--ca-file F (env EVSTORE_CA_FILE), --token T (env EVSTORE_TOKEN); --brokers, --topic and\n"
    "--kafka-config are accepted and not used. Exit\n"
    "codes: 0 ok, 2 bad usage or a setting the group refuses, 5 projector unavailable, 6 no\n"
    "such group, 1 anything else.\n";

typedef struct group_args {
    const char *sub;
    const char *name;
    const char *projector;
    const char *ca_file, *token; /* --ca-file, --token or the environment, NULL */
    int timeout_ms;
    const char *category;
    int all;
    uint64_t partition, from, limit, ack_timeout_ms, max_attempts, member_timeout_ms;
    int help;
} group_args;

static int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("evstore group: ", stderr);
    vfprintf(stderr, format, args);
    fputs(" (evstore group --help)\n", stderr);
    va_end(args);
    return EVS_CLI_EXIT_USAGE;
}

static int is_global_with_value(const char *arg)
{
    return !strcmp(arg, "--brokers") || !strcmp(arg, "--projector") || !strcmp(arg, "--topic") ||
           !strcmp(arg, "--timeout-ms") || !strcmp(arg, "--kafka-config") ||
           !strcmp(arg, "--ca-file") || !strcmp(arg, "--token");
}

int evs_cli_group_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--"))
            return i + 1 < argc && !strcmp(argv[i + 1], "group");
        if (!strncmp(arg, "--", 2)) {
            if (strchr(arg, '='))
                continue;
            if (!is_global_with_value(arg))
                return 0;
            i++;
            continue;
        }
        return !strcmp(arg, "group");
    }
    return 0;
}

/* The options with a number value, and where each goes. */
static uint64_t *number_option(group_args *a, const char *name, uint64_t *max)
{
    static const struct {
        const char *name;
        size_t offset;
        uint64_t max;
    } options[] = {
        {"--partition", offsetof(group_args, partition), 100000},
        {"--from", offsetof(group_args, from), INT64_MAX},
        {"--limit", offsetof(group_args, limit), INT64_MAX},
        {"--ack-timeout-ms", offsetof(group_args, ack_timeout_ms), 3600000},
        {"--max-attempts", offsetof(group_args, max_attempts), 1000},
        {"--member-timeout-ms", offsetof(group_args, member_timeout_ms), 600000},
    };
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if (!strcmp(options[i].name, name)) {
            *max = options[i].max;
            return (uint64_t *)((char *)a + options[i].offset);
        }
    }
    return NULL;
}

/* Parses argv into *a. Returns 0, or an exit code after a message. */
static int parse(int argc, char **argv, group_args *a)
{
    memset(a, 0, sizeof *a);
    const char *env = getenv("EVSTORE_PROJECTOR");
    a->projector = env && env[0] ? env : NULL;
    env = getenv("EVSTORE_CA_FILE");
    a->ca_file = env && env[0] ? env : NULL;
    env = getenv("EVSTORE_TOKEN");
    a->token = env && env[0] ? env : NULL;
    int seen_group = 0, options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && !strcmp(arg, "--")) {
            options_done = 1;
            continue;
        }
        if (options_done || strncmp(arg, "--", 2)) {
            if (!strcmp(arg, "-h")) {
                a->help = 1;
            } else if (!seen_group) {
                seen_group = 1; /* "group" itself */
            } else if (!a->sub) {
                a->sub = arg;
            } else if (!a->name) {
                a->name = arg;
            } else {
                return usage_error("unexpected argument \"%s\"", arg);
            }
            continue;
        }
        char option[64];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof option)
            return usage_error("unknown option %.60s", arg);
        memcpy(option, arg, len);
        option[len] = 0;
        if (!strcmp(option, "--help")) {
            a->help = 1;
            continue;
        }
        if (!strcmp(option, "--all")) {
            if (eq)
                return usage_error("--all takes no value");
            a->all = 1;
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", option);
            value = argv[++i];
        }
        uint64_t max = 0, number;
        uint64_t *target = number_option(a, option, &max);
        if (!strcmp(option, "--projector")) {
            a->projector = value;
        } else if (!strcmp(option, "--ca-file")) {
            a->ca_file = value;
        } else if (!strcmp(option, "--token")) {
            a->token = value;
        } else if (!strcmp(option, "--brokers") || !strcmp(option, "--topic") ||
                   !strcmp(option, "--kafka-config")) {
            /* not used by group commands */
        } else if (!strcmp(option, "--category")) {
            a->category = value;
        } else if (!strcmp(option, "--timeout-ms")) {
            if (evs_cli_u64_parse(value, 3600000, &number) != 0 || number == 0)
                return usage_error("--timeout-ms must be a whole number from 1 to 3600000");
            a->timeout_ms = (int)number;
        } else if (target) {
            if (evs_cli_u64_parse(value, max, &number) != 0)
                return usage_error("%s must be a whole number up to %llu", option,
                                   (unsigned long long)max);
            *target = number;
        } else {
            return usage_error("unknown option %s", option);
        }
    }
    if (a->help)
        return 0;
    if (!a->sub)
        return usage_error("a subcommand is required: create, status, parked, replay-parked "
                           "or delete");
    if (!a->name)
        return usage_error("group %s needs the group's NAME", a->sub);
    int create = !strcmp(a->sub, "create"), parked = !strcmp(a->sub, "parked");
    if (!create && !parked && strcmp(a->sub, "status") && strcmp(a->sub, "replay-parked") &&
        strcmp(a->sub, "delete"))
        return usage_error("unknown subcommand \"%s\"", a->sub);
    if (create && !!a->category == !!a->all)
        return usage_error("group create needs exactly one of --category CATEGORY and --all");
    if (!create && (a->category || a->all || a->partition || a->ack_timeout_ms || a->max_attempts ||
                    a->member_timeout_ms))
        return usage_error("--category, --all, --partition and the settings belong to group "
                           "create");
    if (!parked && a->limit)
        return usage_error("--limit belongs to group parked");
    if (!create && !parked && a->from)
        return usage_error("--from belongs to group create and group parked");
    return 0;
}

static int fail_evs(int rc)
{
    const char *detail = evs_last_error();
    fprintf(stderr, "evstore: %s\n", detail[0] ? detail : evs_strerror(rc));
    return evs_cli_exit_code(rc);
}

static int print_line(const char *text)
{
    size_t len = strlen(text);
    if (fwrite(text, 1, len, stdout) != len)
        return EVS_CLI_EXIT_OTHER;
    if ((len == 0 || text[len - 1] != '\n') && fputc('\n', stdout) == EOF)
        return EVS_CLI_EXIT_OTHER;
    return EVS_CLI_EXIT_OK;
}

static int show_status(evs_client *client, const char *name)
{
    char *json = NULL;
    int rc = evs_group_status(client, name, &json);
    if (rc != 0)
        return fail_evs(rc);
    int code = print_line(json);
    free(json);
    return code;
}

/* Pages through the parked events, one line each, up to a->limit (0: all). */
static int show_parked(evs_client *client, const group_args *a)
{
    uint64_t from = a->from ? a->from : 1, printed = 0;
    for (;;) {
        uint64_t left = a->limit ? a->limit - printed : PARKED_PAGE;
        if (a->limit && left == 0)
            return EVS_CLI_EXIT_OK;
        char *json = NULL;
        int rc = evs_group_parked_list(client, a->name, from,
                                       left < PARKED_PAGE ? (size_t)left : PARKED_PAGE, &json);
        if (rc != 0)
            return fail_evs(rc);
        json_t *root = json_loads(json, 0, NULL);
        free(json);
        json_t *items = json_object_get(root, "parked");
        json_t *next = json_object_get(root, "next");
        if (!json_is_array(items) || !json_is_integer(next)) {
            json_decref(root);
            fprintf(stderr, "evstore: the projector's list of parked events is malformed\n");
            return EVS_CLI_EXIT_OTHER;
        }
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            char *line = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER);
            int code = line ? print_line(line) : EVS_CLI_EXIT_OTHER;
            free(line);
            if (code != EVS_CLI_EXIT_OK) {
                json_decref(root);
                return code;
            }
            printed++;
        }
        int end = json_is_true(json_object_get(root, "end")) || json_array_size(items) == 0;
        from = (uint64_t)json_integer_value(next);
        json_decref(root);
        if (end)
            return EVS_CLI_EXIT_OK;
    }
}

int evs_cli_group_main(int argc, char **argv)
{
    group_args a;
    int code = parse(argc, argv, &a);
    if (code != 0)
        return code;
    if (a.help) {
        fputs(EVS_CLI_GROUP_USAGE, stdout);
        return EVS_CLI_EXIT_OK;
    }
    evs_client_options options;
    evs_client_options_init(&options);
    options.projector_url = a.projector;
    options.ca_file = a.ca_file;
    options.token = a.token;
    if (a.timeout_ms > 0)
        options.request_timeout_ms = a.timeout_ms;
    evs_client *client = NULL;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        return fail_evs(rc);

    if (!strcmp(a.sub, "create")) {
        evs_group_options go;
        evs_group_options_init(&go);
        go.category = a.category;
        go.partition = (int32_t)a.partition;
        go.from = a.from;
        go.ack_timeout_ms = (int)a.ack_timeout_ms;
        go.max_attempts = (int)a.max_attempts;
        go.member_timeout_ms = (int)a.member_timeout_ms;
        rc = evs_group_create(client, a.name, &go);
        code = rc != 0 ? fail_evs(rc) : show_status(client, a.name);
    } else if (!strcmp(a.sub, "status")) {
        code = show_status(client, a.name);
    } else if (!strcmp(a.sub, "parked")) {
        code = show_parked(client, &a);
    } else if (!strcmp(a.sub, "replay-parked")) {
        uint64_t replayed = 0;
        rc = evs_group_replay_parked(client, a.name, &replayed);
        if (rc != 0) {
            code = fail_evs(rc);
        } else {
            json_t *out = json_pack("{s:s,s:I}", "group", a.name, "replayed", (json_int_t)replayed);
            char *line = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            code = line ? print_line(line) : EVS_CLI_EXIT_OTHER;
            free(line);
            json_decref(out);
        }
    } else {
        rc = evs_group_delete(client, a.name);
        if (rc != 0) {
            code = fail_evs(rc);
        } else {
            json_t *out = json_pack("{s:s,s:b}", "group", a.name, "deleted", 1);
            char *line = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            code = line ? print_line(line) : EVS_CLI_EXIT_OTHER;
            free(line);
            json_decref(out);
        }
    }
    evs_client_close(client);
    if (fflush(stdout) != 0 && code == EVS_CLI_EXIT_OK)
        code = EVS_CLI_EXIT_OTHER;
    return code;
}
