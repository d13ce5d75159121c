/* harness.h: helpers for the integration tests: temporary directories, the
 * real nmo-hub / nmo-node / nmo-keys processes (paths from NMO_HUB, NMO_NODE,
 * NMO_KEYS), free loopback ports, JSON output, and a raw CurveZMQ client that
 * speaks to the hub as an enrolled member would, for the attacks that a
 * well-behaved node never makes.
 *
 * With NMO_VALGRIND=1 in the environment (./check.sh --valgrind) every nmo-hub,
 * nmo-node and nmo-keys the harness starts runs under valgrind memcheck, with
 * a log valgrind-PID.log in the test's directory; when valgrind reports an
 * error (exit 99, or errors in the log) the test fails naming that log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

#include "keys.h"
#include "receipt.h"

/* A fresh directory under $TMPDIR (or /tmp); removed by h_rmrf(). */
char *h_tmpdir(void);
void h_rmrf(const char *dir);

/* Runs argv (NULL-terminated) to completion. Captures stdout and stderr into
 * fresh strings when the pointers are not NULL. Returns the exit status, or
 * -1 when it did not exit normally. */
int h_run(char *const argv[], char **out, char **err);

/* Like h_run with printf-style arguments joined by spaces is too easy to get
 * wrong; tests build argv arrays. These are the binaries: */
const char *h_hub_bin(void);
const char *h_node_bin(void);
const char *h_keys_bin(void);

/* Starts argv in the background with stdout and stderr appended to log. */
pid_t h_spawn(char *const argv[], const char *log);
/* Sends sig and waits for the process; returns its exit status or -signal. */
int h_stop(pid_t pid, int sig);
/* Waits up to ms for pid to exit; returns exit status, -signal, or -1000 on timeout. */
int h_wait(pid_t pid, int ms);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int h_free_port(void);
/* Waits until something accepts on 127.0.0.1:port; false after ms. */
bool h_wait_port(int port, int ms);

/* Runs argv, parses stdout as JSON (NULL on failure; caller json_object_put). */
json_object *h_run_json(char *const argv[]);
/* Integer member of a JSON object (a boolean as 1 or 0), or -1. */
int64_t h_json_int(json_object *o, const char *key);

/* A hub in a temporary directory, serving on a loopback port, with members. */
struct h_hub {
        char *dir;          /* the test's root temporary directory */
        char *hub_dir;      /* root/hub */
        char endpoint[64];  /* tcp://127.0.0.1:PORT */
        int port;
        char alerts_endpoint[64]; /* the alert feed */
        int alerts_port;
        pid_t pid;
        char log[512];
        uint32_t epoch;     /* h_hub_init_fresh_epoch(): the epoch (month id) it starts in */
};

/* Appends text to the hub's hub.conf (stop the hub first; it applies at the
 * next h_hub_start). */
void h_hub_conf_append(struct h_hub *h, const char *text);
/* Creates and starts a hub (h_hub_start) after init. */
void h_hub_init(struct h_hub *h);
/* The same with the hub's clock (h_hub_clock) set to Tuesday 10:00 UTC of
 * the first week of an epoch (h->epoch) at least 35 days ahead: the release
 * calendar's tests then do not depend on today's date. */
void h_hub_init_fresh_epoch(struct h_hub *h);
void h_hub_start(struct h_hub *h);
/* The hub runs under libfaketime: its wall clock is the real one plus an
 * offset the test sets (monotonic time is left alone). h_hub_clock() sets the
 * offset in seconds (it takes effect within 1.3 s, also while the hub runs);
 * h_hub_now_ms() is the hub's clock now; h_hub_release() moves it past the
 * next release point (Monday 00:00 UTC plus the default delay) and waits
 * until the hub has logged the release. */
#define H_RELEASE_DELAY_MS (6ULL * 3600000ULL)
void h_hub_clock(struct h_hub *h, int64_t offset_s);
int64_t h_hub_clock_offset(struct h_hub *h);
uint64_t h_hub_now_ms(struct h_hub *h);
void h_hub_release(struct h_hub *h);
/* The path of libfaketimeMT.so.1, or NULL. */
const char *h_faketime_lib(void);
/* SIGTERM (clean) or SIGKILL; returns the exit status as h_stop. */
int h_hub_stop(struct h_hub *h, int sig);
/* Stops the hub if running and removes everything. */
void h_hub_destroy(struct h_hub *h);
/* A stats counter of the hub (nmo-hub stats --json). */
int64_t h_hub_stat(struct h_hub *h, const char *key);

/* Creates node directory root/NAME with `nmo-node init` and enrols it with
 * `nmo-hub member add` (unless enrol is false). Returns the node directory. */
char *h_node_create(struct h_hub *h, const char *name, bool enrol);
/* Makes a member key pair without a node: root/NAME/keys/member.key (+ .pub,
 * by nmo-keys generate), enrolled when enrol is true. For raw-client tests. */
char *h_member_create(struct h_hub *h, const char *name, bool enrol);
/* Runs nmo-hub member CMD NAME (suspend, resume, revoke); returns exit status. */
int h_member(struct h_hub *h, const char *cmd, const char *name);
/* nmo-node submit with a few fixed fields and the given material; returns the
 * signal id (static buffer) or NULL. */
const char *h_node_submit(const char *node_dir, const char *material);
/* nmo-node status --json counter. */
int64_t h_node_count(const char *node_dir, const char *key);
/* nmo-node run --once --timeout SECONDS; returns exit status. */
int h_node_run_once(const char *node_dir, int seconds);

/* A raw client: a DEALER socket with a member's CURVE keys. */
struct h_client {
        void *ctx;
        void *sock;
        struct keys_secret *member;    /* the member's secret keys */
        struct keys_public hub;        /* the hub's public keys */
};

/* Connects with the keys of node directory node_dir to the hub. */
void h_client_open(struct h_client *c, struct h_hub *h, const char *node_dir);
/* The same with keys held in memory (a copy is taken): keys that no key file
 * could hold, such as an attacker's announced keys. */
void h_client_open_keys(struct h_client *c, struct h_hub *h, const struct keys_secret *member);
void h_client_close(struct h_client *c);
/* Seals a valid signal (material) with the client's member keys. */
void h_client_seal(struct h_client *c, const char *material, uint8_t **frame, size_t *len,
                   uint8_t id[SIGNAL_ID_BYTES]);
/* Sends one frame (or nparts frames), waits up to ms for a reply, verifies it
 * with the hub's signing key. Returns 0 and fills r/duplicate; -ETIMEDOUT when
 * nothing came; -EKEYREJECTED or -EBADMSG for a bad reply. */
int h_client_send(struct h_client *c, const uint8_t *frame, size_t len, int ms,
                  struct receipt *r, bool *duplicate);
int h_client_send_parts(struct h_client *c, const uint8_t *const *frames, const size_t *lens,
                        size_t nparts, int ms, struct receipt *r, bool *duplicate);

/* The Prometheus endpoints ([metrics] listen; harness-metrics.c). */
/* GET /metrics from 127.0.0.1:port over HTTP/1.0 (the answer must say the
 * text format 0.0.4); returns the body (free()) or NULL when nothing
 * answered, with the status line's code in *status. */
char *h_metrics_scrape(int port, int *status);
/* The value of the sample line "NAME VALUE" (labels included in name), or -1. */
double h_metrics_sample(const char *body, const char *name);
/* Checks the text exposition format 0.0.4 line by line (HELP and TYPE
 * before each family's samples, cumulative histogram buckets ending in
 * le="+Inf" equal to _count, no negative value) and that there are at least
 * min_samples samples. */
void h_metrics_check_format(const char *body, int min_samples);
/* promtool check metrics on body (written to dir/metrics.txt), when
 * Prometheus's promtool is installed; says so and checks nothing otherwise. */
void h_promtool_check(const char *dir, const char *body);
