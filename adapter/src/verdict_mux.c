/*
 * verdict_mux.c - verdict waits shared by the appends of one client (verdict_mux.h).
 *
 * State, under one mutex never held during I/O: per partition, how many requests are in
 * flight and the queue of waits behind them, oldest first. Invariant: a queue is non-empty
 * only while its partition has EVS_VERDICT_MUX_IN_FLIGHT requests in flight, so a wait
 * that finds fewer leads at once, alone. A leader that ends hands its place to the oldest
 * wait queued: it cuts that wait and up to EVS_VERDICT_MUX_BATCH_MAX - 1 behind it off
 * the queue, as a chain through their `next`, and makes the first the new leader, which
 * walks the chain once it wakes (no one else touches a cut chain). Each wait lives on its
 * own thread's stack; the leader writes a waiter's outcome, then, under the mutex, marks
 * it done and signals it, and touches it no more (the waiter may return at once).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "errors.h"
#include "evstore.h"
#include "verdict_mux.h"

/* The most bytes one item of the request takes: {"append_id":"<36>","partition":<10>,
 * "offset":<19>} and a comma. */
#define ITEM_TEXT_MAX 128

typedef enum waiter_state {
    WAITER_QUEUED,   /* behind a request in flight */
    WAITER_LEAD,     /* to send the next request of its partition */
    WAITER_DONE,     /* rc, error and *response hold its outcome */
    WAITER_FALLBACK, /* to ask with its own GET (the projector does not know the POST) */
} waiter_state;

typedef struct waiter {
    const char *append_id;
    int32_t partition;
    int64_t offset;
    int64_t deadline_ms; /* when its own wait ends */
    waiter_state state;   /* under the mutex */
    waiter_state outcome; /* the leader's word for it, made its state under the mutex */
    pthread_cond_t cond;
    int rc;
    char error[EVS__ERROR_MAX];
    evs_http_response *response;
    json_t **verdict; /* a judged item's answer, parsed (set only with response->status 200) */
    struct waiter *next;
} waiter;

typedef struct part_queue {
    int in_flight; /* requests of leaders, 0..EVS_VERDICT_MUX_IN_FLIGHT */
    waiter *head, *tail;
} part_queue;

struct evs_verdict_mux {
    pthread_mutex_t lock;
    evs_router *router;
    int request_timeout_ms;
    atomic_int use_get;
    part_queue *parts; /* nparts of them, grown on demand */
    int32_t nparts;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int evs__verdict_mux_open(evs_router *router, int request_timeout_ms, evs_verdict_mux **out)
{
    evs_verdict_mux *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return evs__set_error(EVS_ENOMEM, "out of memory opening a client");
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return evs__set_error(EVS_ENOMEM, "cannot create a mutex");
    }
    m->router = router;
    m->request_timeout_ms = request_timeout_ms;
    *out = m;
    return 0;
}

void evs__verdict_mux_close(evs_verdict_mux *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->parts);
    free(m);
}

int evs__verdict_mux_uses_get(const evs_verdict_mux *m)
{
    return atomic_load_explicit(&((evs_verdict_mux *)m)->use_get, memory_order_relaxed);
}

/* One verdict, one GET (the request a client that waits alone makes). */
static int single_get(evs_verdict_mux *m, const char *append_id, int32_t partition,
                      int64_t offset, int wait_ms, evs_http_response *response)
{
    char path[160];
    snprintf(path, sizeof path, "/verdicts/%s?partition=%" PRId32 "&offset=%" PRId64, append_id,
             partition, offset);
    evs_route_request request = {.method = "GET",
                                 .path = path,
                                 .partition = partition,
                                 .verdict_wait_ms = wait_ms,
                                 .budget_ms = (long)wait_ms + m->request_timeout_ms};
    return evs__router_request(m->router, &request, response);
}

/* ---- One request for a batch -------------------------------------------------------- */

typedef struct batch {
    waiter **w;
    size_t n;
    evs_http_response *kept; /* per waiter: an item judged in a failover answer, status 0 if none */
} batch;

/* Copies text[0..len) into r as an answer of status (a JSON body). */
static int answer_set(evs_http_response *r, long status, const char *text, size_t len)
{
    char *body = malloc(len + 1);
    if (!body)
        return -1;
    memcpy(body, text, len);
    body[len] = 0;
    free(r->body);
    r->status = status;
    r->body = body;
    r->body_len = len;
    r->body_cap = len + 1;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    return 0;
}

/* The items of a POST /verdicts answer, when it lists exactly b's waits in order: the
 * array, owned by *root (to json_decref); NULL otherwise. */
static json_t *answer_items(const batch *b, const evs_http_response *a, json_t **root)
{
    *root = a->body ? json_loadb(a->body, a->body_len, 0, NULL) : NULL;
    json_t *list = json_object_get(*root, "verdicts");
    if (!json_is_array(list) || json_array_size(list) != b->n)
        return NULL;
    for (size_t i = 0; i < b->n; i++) {
        json_t *item = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(item, "append_id"));
        if (!json_is_integer(json_object_get(item, "http_status")) ||
            !json_is_object(json_object_get(item, "answer")) || !id ||
            strcmp(id, b->w[i]->append_id) != 0)
            return NULL;
    }
    return list;
}

/* Writes item's answer (status and body) into r. Returns 0 or -1 (out of memory). */
static int item_answer(json_t *item, evs_http_response *r)
{
    long status = (long)json_integer_value(json_object_get(item, "http_status"));
    char *text = json_dumps(json_object_get(item, "answer"), JSON_COMPACT);
    int rc = text ? answer_set(r, status, text, strlen(text)) : -1;
    free(text);
    return rc;
}

/* Gives w item's answer: a verdict (200) as the parsed object, shared with the answer (the
 * waiter maps it without writing and reading it again as text), else as status and body.
 * Returns 0 or -1 (out of memory). */
static int waiter_answer(waiter *w, json_t *item)
{
    json_t *answer = json_object_get(item, "answer");
    if (json_integer_value(json_object_get(item, "http_status")) != 200)
        return item_answer(item, w->response);
    *w->verdict = json_incref(answer);
    w->response->status = 200;
    return 0;
}

/* The router's failover_seen: keeps the items a replica judged before the request moves
 * on (a 504 lists the ones it has not judged yet as 504 items). */
static void keep_judged(void *ctx, const evs_http_response *answer)
{
    batch *b = ctx;
    json_t *root;
    json_t *list = answer_items(b, answer, &root);
    for (size_t i = 0; list && i < b->n; i++) {
        json_t *item = json_array_get(list, i);
        long status = (long)json_integer_value(json_object_get(item, "http_status"));
        if (b->kept[i].status == 0 && status != 504 && status != 503 && status != 421)
            item_answer(item, &b->kept[i]);
    }
    json_decref(root);
}

/* Sets every waiter of b to fail with rc and the thread's last error. */
static void batch_fail(batch *b, int rc)
{
    for (size_t i = 0; i < b->n; i++) {
        b->w[i]->rc = rc;
        snprintf(b->w[i]->error, sizeof b->w[i]->error, "%s", evs_last_error());
        b->w[i]->outcome = WAITER_DONE;
    }
}

/* Asks for every verdict of b (n > 1) in one POST and writes each waiter's outcome (its
 * state: WAITER_DONE, or WAITER_FALLBACK for all when the projector lacks the route). */
static void batch_run(evs_verdict_mux *m, batch *b)
{
    evs_http_response answer = {0};
    json_t *root = NULL;
    int64_t now = now_ms(), latest = 0;
    size_t cap = 32 + b->n * ITEM_TEXT_MAX;
    char *body = NULL;
    if (atomic_load(&m->use_get)) { /* learned while this batch queued */
        for (size_t i = 0; i < b->n; i++)
            b->w[i]->outcome = WAITER_FALLBACK;
        return;
    }
    body = malloc(cap);
    b->kept = calloc(b->n, sizeof *b->kept);
    if (!body || !b->kept) {
        batch_fail(b, evs__set_error(EVS_ENOMEM, "out of memory asking for verdicts"));
        goto done;
    }
    size_t len = (size_t)snprintf(body, cap, "{\"verdicts\":[");
    for (size_t i = 0; i < b->n; i++) {
        waiter *w = b->w[i];
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"append_id\":\"%s\",\"partition\":%" PRId32
                                ",\"offset\":%" PRId64 "}",
                                i ? "," : "", w->append_id, w->partition, w->offset);
        if (w->deadline_ms - now > latest)
            latest = w->deadline_ms - now;
    }
    len += (size_t)snprintf(body + len, cap - len, "]}");
    /* As long as the latest wait of the batch has left: nobody waits less than its own. */
    int wait_ms = (int)latest;
    evs_route_request request = {.method = "POST",
                                 .path = "/verdicts",
                                 .body = body,
                                 .body_len = len,
                                 .partition = b->w[0]->partition,
                                 .verdict_wait_ms = wait_ms,
                                 .budget_ms = (long)wait_ms + m->request_timeout_ms,
                                 .failover_seen = keep_judged,
                                 .failover_ctx = b};
    int rc = evs__router_request(m->router, &request, &answer);
    if (rc != 0) {
        /* Items judged by a replica before the others failed keep their answers. */
        char cause[EVS__ERROR_MAX];
        snprintf(cause, sizeof cause, "%s", evs_last_error());
        for (size_t i = 0; i < b->n; i++) {
            waiter *w = b->w[i];
            w->outcome = WAITER_DONE;
            if (b->kept[i].status != 0) {
                *w->response = b->kept[i];
                memset(&b->kept[i], 0, sizeof b->kept[i]);
            } else {
                w->rc = rc;
                snprintf(w->error, sizeof w->error, "%s", cause);
            }
        }
        goto done;
    }
    if (answer.status == 404 || answer.status == 405) {
        atomic_store(&m->use_get, 1); /* an older projector: one GET per verdict from now on */
        for (size_t i = 0; i < b->n; i++)
            b->w[i]->outcome = WAITER_FALLBACK;
        goto done;
    }
    json_t *list = answer_items(b, &answer, &root);
    if (!list && (answer.status == 200 || answer.status == 504)) {
        batch_fail(b, evs__set_error(EVS_EPROTOCOL,
                                     "the projector's answer to POST /verdicts (HTTP %ld) does "
                                     "not list the %zu verdicts asked for",
                                     answer.status, b->n));
        goto done;
    }
    for (size_t i = 0; i < b->n; i++) {
        waiter *w = b->w[i];
        int failed;
        w->outcome = WAITER_DONE;
        if (b->kept[i].status != 0 &&
            (!list || (long)json_integer_value(json_object_get(json_array_get(list, i),
                                                               "http_status")) == 504)) {
            *w->response = b->kept[i];
            memset(&b->kept[i], 0, sizeof b->kept[i]);
            continue;
        }
        /* Not a list (a 401, 403, 400, or the 421 or 503 of every replica): the answer a
         * GET would have had too, given to each. */
        failed = list ? waiter_answer(w, json_array_get(list, i))
                      : answer_set(w->response, answer.status, answer.body ? answer.body : "",
                                   answer.body ? answer.body_len : 0);
        if (failed) {
            w->rc = evs__set_error(EVS_ENOMEM, "out of memory reading verdicts");
            snprintf(w->error, sizeof w->error, "%s", evs_last_error());
        }
    }
done:
    json_decref(root);
    evs__http_response_free(&answer);
    for (size_t i = 0; b->kept && i < b->n; i++)
        evs__http_response_free(&b->kept[i]);
    free(b->kept);
    b->kept = NULL;
    free(body);
}

/* The queue of partition (grown to hold it), or NULL when out of memory. Under the lock. */
static part_queue *queue_of(evs_verdict_mux *m, int32_t partition)
{
    if (partition >= m->nparts) {
        int32_t n = m->nparts ? m->nparts : 8;
        while (n <= partition)
            n *= 2;
        part_queue *parts = realloc(m->parts, (size_t)n * sizeof *parts);
        if (!parts)
            return NULL;
        memset(parts + m->nparts, 0, (size_t)(n - m->nparts) * sizeof *parts);
        m->parts = parts;
        m->nparts = n;
    }
    return &m->parts[partition];
}

int evs__verdict_mux_wait(evs_verdict_mux *m, const char *append_id, int32_t partition,
                          int64_t offset, int wait_ms, evs_http_response *response,
                          json_t **verdict)
{
    memset(response, 0, sizeof *response);
    *verdict = NULL;
    if (atomic_load_explicit(&m->use_get, memory_order_relaxed) || partition < 0 ||
        partition >= EVS_VERDICT_MUX_PARTITIONS_MAX)
        return single_get(m, append_id, partition, offset, wait_ms, response);

    waiter self = {.append_id = append_id,
                   .partition = partition,
                   .offset = offset,
                   .deadline_ms = now_ms() + wait_ms,
                   .state = WAITER_QUEUED,
                   .response = response,
                   .verdict = verdict};
    if (pthread_cond_init(&self.cond, NULL) != 0)
        return single_get(m, append_id, partition, offset, wait_ms, response);
    pthread_mutex_lock(&m->lock);
    part_queue *q = queue_of(m, partition);
    if (!q) {
        pthread_mutex_unlock(&m->lock);
        pthread_cond_destroy(&self.cond);
        return single_get(m, append_id, partition, offset, wait_ms, response);
    }
    int at_once = q->in_flight < EVS_VERDICT_MUX_IN_FLIGHT;
    if (at_once) { /* the queue is empty: lead a batch of one */
        q->in_flight++;
        self.state = WAITER_LEAD;
    } else {
        if (q->tail)
            q->tail->next = &self;
        else
            q->head = &self;
        q->tail = &self;
        while (self.state == WAITER_QUEUED)
            pthread_cond_wait(&self.cond, &m->lock);
    }

    int rc = 0;
    if (self.state == WAITER_LEAD) {
        /* This thread heads the chain its predecessor cut off the queue (or is alone). */
        waiter *taken[EVS_VERDICT_MUX_BATCH_MAX];
        batch b = {.w = taken, .n = 0};
        for (waiter *w = &self; w; w = w->next)
            taken[b.n++] = w;
        pthread_mutex_unlock(&m->lock);

        if (b.n == 1) { /* alone: the GET, with the whole wait unless it queued first */
            int64_t left = self.deadline_ms - now_ms();
            rc = single_get(m, append_id, partition, offset,
                            at_once ? wait_ms : left > 0 ? (int)left : 0, response);
            self.outcome = WAITER_DONE;
        } else {
            batch_run(m, &b);
        }

        pthread_mutex_lock(&m->lock);
        self.state = self.outcome;
        for (size_t i = 1; i < b.n; i++) { /* taken[0] is this thread's */
            waiter *w = taken[i];
            w->state = w->outcome;
            pthread_cond_signal(&w->cond); /* it reads its state once this unlocks */
        }
        q = &m->parts[partition]; /* the array may have grown meanwhile */
        if (q->head) { /* the place passes to the oldest wait, with those behind it */
            waiter *lead = q->head, *last = lead;
            for (size_t n = 1; n < EVS_VERDICT_MUX_BATCH_MAX && last->next; n++)
                last = last->next;
            q->head = last->next;
            if (!q->head)
                q->tail = NULL;
            last->next = NULL;
            lead->state = WAITER_LEAD;
            pthread_cond_signal(&lead->cond);
        } else {
            q->in_flight--;
        }
    }
    pthread_mutex_unlock(&m->lock);
    pthread_cond_destroy(&self.cond);

    if (self.state == WAITER_FALLBACK) {
        int64_t left = self.deadline_ms - now_ms();
        return single_get(m, append_id, partition, offset, left > 0 ? (int)left : 0, response);
    }
    if (self.rc != 0) {
        evs__http_response_free(response);
        json_decref(*verdict);
        *verdict = NULL;
        return evs__set_error(self.rc, "%s", self.error);
    }
    return rc;
}
