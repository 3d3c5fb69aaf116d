/*
 * bench_common.h - what evs_bench and pg_bench (tests/bench) share, so that the two measure
 * with the same workloads and report in the same shape: command-line plumbing, the clock,
 * the stream picker, the events' JSON, the error tally, the latency output and the counters
 * of a multi-writer run. Not part of libevstore.
 *
 * What differs between the programs stays in each: the calls under test (libevstore or
 * libpq), each program's options, its error slots (named by the caller here) and the fields
 * of its JSON line beyond the ones written here.
 *
 * Messages to the user start with the program's name: main calls bench_program_set() first.
 * Nothing here is thread-safe unless it says so; the functions that take a bench_run and
 * the random generator (one state per thread) are.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_histogram.h"

/* --label: at most this many characters, copied into the JSON line unescaped. */
#define BENCH_LABEL_MAX 64

/* ---- Command line ---------------------------------------------------------------------- */

/* Sets the name that starts every message (default "bench"); name must outlive the run. */
void bench_program_set(const char *name);

/* Prints "<program>: <message>" and a pointer to --help on stderr; returns 2 (bad usage). */
int bench_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses the value of --<name> as a whole number in min..max into *out: 0, or 2 with the
 * error reported (*out unchanged). */
int bench_parse_long(const char *name, const char *text, long min, long max, long *out);

/* --zipf-s: a number above 0 and at most 10. 0, or 2 with the error reported. */
int bench_parse_zipf_s(const char *text, double *out);

/* --label: at most BENCH_LABEL_MAX characters, no '"', '\\' or control characters, copied
 * into out (at least BENCH_LABEL_MAX + 1 bytes). 0, or 2 with the error reported. */
int bench_parse_label(const char *text, char *out, size_t out_size);

/* The characters of an evstore stream name ([A-Za-z0-9_.:@-], evstore_limits.h), which are
 * also safe to print into JSON unescaped. 1 if every character of name is one. */
int bench_stream_chars_ok(const char *name);

/* 1 if name is a valid evstore stream name: 1..EVS_STREAM_NAME_MAX of those characters. */
int bench_stream_name_ok(const char *name);

/* The next option of a command line "[options] COMMAND [options]", parsed with getopt_long
 * and options (their values first_option and up, all above 255). A word that is not an
 * option is the command: its index in commands (command_count names; index 0, "no
 * command", is not a name and may be NULL) is stored in *command, which starts at 0.
 * Returns the option's value (> 0), 0 at the end of the line, or -1 after reporting bad
 * usage (an unknown or second command, an unknown option, a missing value). */
int bench_option_next(int argc, char **argv, const struct option *options, int first_option,
                      const char *const *commands, int command_count, int *command);

/* Refuses an option given (seen[value] set, values first_option..last_option) that does not
 * apply to command: option_commands(value) has bit 1 << command clear. 0, or 2 with the
 * error reported. */
int bench_options_check(const int *seen, int first_option, int last_option,
                        const struct option *options, unsigned (*option_commands)(int option),
                        int command);

/* ---- Clock and randomness -------------------------------------------------------------- */

/* CLOCK_MONOTONIC in microseconds. */
uint64_t bench_now_us(void);

/* splitmix64: small, fast, good enough to pick streams and fill payloads; one state per
 * thread. */
uint64_t bench_rng_next(uint64_t *state);

/* A uniform double in [0, 1). */
double bench_rng_unit(uint64_t *state);

/* The cumulative probabilities of ranks 1..n with P(rank k) proportional to 1 / k^s: n
 * doubles, the last exactly 1.0, owned by the caller (free()). NULL when out of memory. */
double *bench_zipf_cdf_new(long n, double s);

/* A stream index in 0..n-1: uniform when zipf_cdf is NULL, else by that CDF (rank 1, index
 * 0, the hottest). */
long bench_stream_pick(const double *zipf_cdf, long n, uint64_t *rng);

/* Raises *slot to at least v (thread-safe): the highest version seen of a stream. */
void bench_version_raise(_Atomic uint64_t *slot, uint64_t v);

/* ---- The events' JSON ------------------------------------------------------------------ */

/* Room for the fixed fields beyond the target size (the target is a minimum when it is
 * smaller than the fields themselves). */
#define BENCH_PAYLOAD_FIELDS_MAX 256

/* The data and metadata buffers of the events of one append: an OrderPlaced-like JSON
 * object of about data_target bytes and one of about metadata_target bytes (none when 0),
 * rewritten before each append so that no two events carry the same bytes (as in real use;
 * nothing dedups by content, but a compressing broker or a cache could). */
typedef struct bench_payload {
    size_t event_count; /* room for this many events */
    size_t data_target, metadata_target;
    size_t data_cap, metadata_cap;
    char *buffers; /* event_count * (data_cap + metadata_cap) bytes */
} bench_payload;

/* One event's JSON as bench_payload_fill wrote it: pointers into the payload's buffers,
 * valid until the next fill of that event or bench_payload_free; NUL-terminated. */
typedef struct bench_event_json {
    const char *data;
    size_t data_len;
    const char *metadata; /* NULL when metadata_target is 0 */
    size_t metadata_len;
} bench_event_json;

/* Writes {<fields>,"pad":"xxx…"} into buf, the pad sized so the object is target bytes long
 * (or as short as the fields allow), NUL-terminated; returns its length. cap is at least
 * target + BENCH_PAYLOAD_FIELDS_MAX and fields shorter than BENCH_PAYLOAD_FIELDS_MAX - 32, so
 * everything fits. */
size_t bench_json_object_fill(char *buf, size_t cap, size_t target, const char *fields);

/* Room for event_count events. 0, or -1 when out of memory (p is then empty). */
int bench_payload_init(bench_payload *p, size_t event_count, size_t data_bytes,
                       size_t metadata_bytes);

/* Frees the buffers; p is empty afterwards (freeing an empty or zeroed one is fine). */
void bench_payload_free(bench_payload *p);

/* Writes the JSON of event index (< event_count) of append number serial: the data draws
 * one number from rng, the metadata (if any) a second. */
void bench_payload_fill(bench_payload *p, size_t index, uint64_t serial, uint64_t *rng,
                        bench_event_json *out);

/* ---- Error tally ----------------------------------------------------------------------- */

#define BENCH_ERROR_SLOTS_MAX 16
#define BENCH_ERROR_MESSAGE_MAX 512

/* Failed calls counted by slot, with the first failure's message of each. The slots and
 * their names are the caller's (evs_bench: libevstore's codes; pg_bench: its own), given as
 * a NULL-terminated list of at most BENCH_ERROR_SLOTS_MAX names to the output functions.
 * A zeroed struct is empty; one per thread, merged at the end. */
typedef struct bench_errors {
    uint64_t count[BENCH_ERROR_SLOTS_MAX];
    char first_message[BENCH_ERROR_SLOTS_MAX][BENCH_ERROR_MESSAGE_MAX];
} bench_errors;

/* Counts one failure in slot; keeps message (truncated, a long one keeps its start, which
 * names the cause) if it is the slot's first. */
void bench_errors_add(bench_errors *e, unsigned slot, const char *message);

/* Adds src's counts to dst, and src's first messages where dst has none. */
void bench_errors_merge(bench_errors *dst, const bench_errors *src);

/* All failures counted. */
uint64_t bench_errors_total(const bench_errors *e);

/* "  errors: none", or a line "  errors: N x <name>, first: <message>" per slot used. */
void bench_errors_print(const bench_errors *e, const char *const *slot_names);

/* The JSON field ,"errors":{"<name>":N,...} of the slots used. */
void bench_errors_json(const bench_errors *e, const char *const *slot_names);

/* ---- Latency output -------------------------------------------------------------------- */

/* "  <what> latency (us): p50 .. p95 .. p99 .. p99.9 .. max .. min .. mean ..  (n=..)" */
void bench_latency_print(const char *what, const bench_histogram *h);

/* The histogram's JSON fields ,"<prefix>n":..,"<prefix>p50_us":.., ... "<prefix>mean_us":..
 * (prefix "" for the run's main histogram, e.g. "page_" for a second one). */
void bench_latency_json(const char *prefix, const bench_histogram *h);

/* ---- A multi-writer run ---------------------------------------------------------------- */

/* The threads and counters of W writers that make count calls in total (a writer claims
 * the next one until all are claimed or the run is stopped). Protocol: the main thread calls
 * bench_run_init, bench_run_start, bench_run_wait, bench_run_join (also on the way out; it
 * joins what was started) and bench_run_destroy; each writer sets up, calls bench_run_ready
 * (every writer must, or the barrier never opens), then claims calls with bench_run_claim
 * and reports each with bench_run_call_done, and calls bench_run_writer_done last. */
typedef struct bench_run {
    pthread_barrier_t start; /* the W writers and the main thread */
    long writers;
    pthread_t *threads; /* writers entries, the first started of them running */
    long started;
    long count;            /* calls in total */
    long max_errors;       /* failed calls that stop the run */
    atomic_long next_call; /* calls claimed so far */
    atomic_long failed_calls;
    atomic_long finished_calls;
    atomic_long finished_writers;
    atomic_int stop;
} bench_run;

/* 0, or -1 if out of memory or the barrier cannot be created (nothing to destroy then). */
int bench_run_init(bench_run *r, long writers, long count, long max_errors);

/* Starts the W writer threads: thread i runs writer_main((char *)args + i * arg_size). If
 * one cannot be started, says so and exits the process with 1: the barrier counts on every
 * writer, so the others would wait for ever. */
void bench_run_start(bench_run *r, void *(*writer_main)(void *arg), void *args, size_t arg_size);

/* Joins the writer threads started and not joined yet. */
void bench_run_join(bench_run *r);

/* After bench_run_join: frees what bench_run_init made. */
void bench_run_destroy(bench_run *r);

/* A writer is set up (setup_failed: it is not, which stops the run) and waits for the
 * others and the main thread. */
void bench_run_ready(bench_run *r, int setup_failed);

/* The serial number (0..count-1) of the next call to make, or -1: all claimed, or stopped. */
long bench_run_claim(bench_run *r);

/* A claimed call ended; failed: it failed (max_errors of them stop the run). */
void bench_run_call_done(bench_run *r, int failed);

/* Stops the run: no more calls are claimed. */
void bench_run_stop(bench_run *r);

/* The writer makes no more calls. */
void bench_run_writer_done(bench_run *r);

/* The main thread: opens the barrier and waits until all writers are done; with progress,
 * prints "<program>: <n> of <count> <calls> after .. s (.. <calls>/s)" to stderr every 5 s.
 * Returns the seconds from the barrier to the last writer's end. */
double bench_run_wait(bench_run *r, int progress, const char *calls);

/* 1 if the run did not stop on max_errors failed calls. */
int bench_run_completed(bench_run *r);

#endif /* BENCH_COMMON_H */
