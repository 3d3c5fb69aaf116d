/*
 * cli_snapshot.c - `evstore snapshot` and `evstore checkpoint` (usage in cli_args.c, which
 * has already checked the words and options): thin wrappers over evs_snapshot_* and
 * evs_checkpoint_*.
 *
 * A snapshot's bytes are stored exactly as given: --data as typed (checked to be JSON when
 * the content type is JSON, like `append --data`), --file as read, byte for byte.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_json.h"
#include "cli_output.h"
#include "cli_snapshot.h"

/* Reads a whole file ("-" = standard input) of at most EVS_SNAPSHOT_DATA_MAX bytes into
 * *out (malloc'd). Returns 0, or an exit code after reporting the problem. */
static int read_file(const char *path, char **out, size_t *out_len)
{
    int code = 0;
    int is_stdin = strcmp(path, "-") == 0;
    FILE *in = is_stdin ? stdin : fopen(path, "rb");
    char *bytes = NULL;
    size_t len = 0;

    if (!in)
        return evs_cli_fail(EVS_CLI_EXIT_USAGE, "cannot open %s: %s", path, strerror(errno));
    /* One byte more than the limit tells "too large" from "exactly at the limit". */
    bytes = malloc((size_t)EVS_SNAPSHOT_DATA_MAX + 1);
    if (!bytes) {
        code = evs_cli_fail(EVS_CLI_EXIT_OTHER, "out of memory");
        goto done;
    }
    len = fread(bytes, 1, (size_t)EVS_SNAPSHOT_DATA_MAX + 1, in);
    if (ferror(in)) {
        code = evs_cli_fail(EVS_CLI_EXIT_USAGE, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (len > EVS_SNAPSHOT_DATA_MAX) {
        code = evs_cli_fail(EVS_CLI_EXIT_USAGE, "%s is larger than the snapshot limit of %d bytes",
                            path, EVS_SNAPSHOT_DATA_MAX);
        goto done;
    }
    *out = bytes;
    *out_len = len;
    bytes = NULL;
done:
    free(bytes);
    if (!is_stdin)
        fclose(in);
    return code;
}

static int snapshot_save(evs_client *client, const evs_cli_args *args)
{
    char err[512];
    char *file_bytes = NULL;
    const char *data = args->data;
    size_t len = data ? strlen(data) : 0;
    int code;

    if (args->file) {
        if ((code = read_file(args->file, &file_bytes, &len)) != 0)
            return code;
        data = file_bytes;
    }
    if (evs_cli_is_json_content_type(args->content_type) &&
        !evs_cli_json_valid(data, len, err, sizeof err)) {
        code = evs_cli_fail(EVS_CLI_EXIT_USAGE,
                            "the snapshot data is not valid JSON (%s); give --content-type for "
                            "other bytes",
                            err);
        goto done;
    }
    int rc = evs_snapshot_save(client, args->extra[0], args->version, args->content_type,
                               args->schema_version, data, len);
    code = rc == 0 ? EVS_CLI_EXIT_OK : evs_cli_fail_evs(rc);
done:
    free(file_bytes);
    return code;
}

static int snapshot_load(evs_client *client, const evs_cli_args *args)
{
    evs_snapshot *snapshot = NULL;
    evs_cli_buf out = {0};
    int rc = evs_snapshot_load(client, args->extra[0], args->version, &snapshot);
    if (rc != 0)
        return evs_cli_fail_evs(rc);
    evs_cli_format_snapshot(&out, snapshot);
    int code = evs_cli_write(&out) == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
    evs_cli_buf_free(&out);
    evs_snapshot_free(snapshot);
    return code;
}

int evs_cli_snapshot(evs_client *client, const evs_cli_args *args)
{
    return strcmp(args->target, "save") == 0 ? snapshot_save(client, args)
                                             : snapshot_load(client, args);
}

int evs_cli_checkpoint(evs_client *client, const evs_cli_args *args)
{
    const char *name = args->extra[0];
    int rc;
    if (strcmp(args->target, "save") == 0) {
        rc = evs_checkpoint_save(client, name, args->position);
    } else if (strcmp(args->target, "delete") == 0) {
        rc = evs_checkpoint_delete(client, name);
    } else {
        uint64_t position;
        rc = evs_checkpoint_load(client, name, &position);
        if (rc == 0) {
            evs_cli_buf out = {0};
            evs_cli_format_checkpoint(&out, name, position);
            int code = evs_cli_write(&out) == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
            evs_cli_buf_free(&out);
            return code;
        }
    }
    return rc == 0 ? EVS_CLI_EXIT_OK : evs_cli_fail_evs(rc);
}
