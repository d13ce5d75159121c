/* conns.h: the hub's connections, counted so that no peer holds more of the
 * hub than its share: file descriptors, handshakes in progress, connections
 * per member key, and replies queued for a peer that does not read them.
 *
 * libzmq tells the hub little about single connections: a socket monitor
 * reports each accepted TCP connection and each disconnection with its file
 * descriptor, the ZAP handler sees each handshake with the peer's IP address
 * and key (but not the descriptor), and every message carries the User-Id
 * that ZAP gave and the descriptor it came in on (metadata "__fd", read with
 * ZMQ_SRCFD). This module joins them:
 *
 * - a connection is "in handshake" from the monitor's ACCEPTED until ZAP
 *   admits a member from its address; more than limits.unauthenticated of
 *   them (both sockets together) and the oldest is closed, so a flood of
 *   connections that never speak cannot use up the descriptors (libzmq's
 *   listener spins on EMFILE);
 * - ZAP admits a member only while it holds fewer than
 *   limits.member_connections connections on that socket (admitted and not
 *   yet disconnected); an admission is matched to the oldest connection in
 *   handshake from the same address, and a later message from the
 *   connection corrects the match when two members handshake from one
 *   address at the same moment;
 * - a connection the hub cannot send to because its reply queue is full
 *   (it does not read) is closed with shutdown(2) on its descriptor, and
 *   what it sent after that is ignored.
 *
 * Closing a descriptor libzmq owns is done with shutdown(2), never close(2):
 * libzmq sees the end of the stream, closes the descriptor itself and frees
 * the connection. Before that the descriptor's peer address is compared with
 * the one recorded at ACCEPTED, so a descriptor number reused by a newer
 * connection is never shut. SIGPIPE is ignored (libzmq writes with send(2)
 * without MSG_NOSIGNAL, which raises it on a shut socket).
 *
 * Threads: hub_conns_admit() is for the ZAP handler's thread; every other
 * function is for the hub's loop only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "config.h"

/* The two sockets whose connections are counted. */
enum hub_conn_socket {
        HUB_CONN_ROUTER = 0,    /* envelopes and receipts */
        HUB_CONN_FEED = 1,      /* the alert feed */
        HUB_CONN_SOCKETS = 2,
};

struct hub_conns;

/* Raises the soft RLIMIT_NOFILE to the hard limit (logging both) and sets up
 * the tables with limits (borrowed; must outlive the tables). The limit on
 * connections in handshake is lowered to a quarter of the descriptors when
 * it would be more (logged). SIGPIPE is ignored from here on. Returns 0 or
 * -ENOMEM. */
NMO_WUR int hub_conns_new(struct hub_conns **ret, const struct hub_limits *limits);

/* Sets how members are named in the log lines of their connections and
 * disconnections ("member NAME connected to the envelope socket from IP"):
 * namer writes member's name to name (len bytes) and returns 0, or a
 * negative errno (the id is logged then). Hub loop only. */
void hub_conns_set_namer(struct hub_conns *c,
                         int (*namer)(void *userdata, uint32_t member, char *name, size_t len),
                         void *userdata);

/* Stops every monitor and frees; accepts NULL. */
void hub_conns_free(struct hub_conns *c);

/* From the ZAP handler: may member (id from the registry) connect one more
 * time to socket s from address ip (ZAP's address frame)? Returns 0 and
 * counts the connection as the member's, or -EUSERS when the member holds
 * limits.member_connections already. */
NMO_WUR int hub_conns_admit(struct hub_conns *c, enum hub_conn_socket s, uint32_t member,
                            const char *ip);

/* Starts counting the connections of zmq socket sock (bound or about to be)
 * as s, in zmq context ctx, forgetting those counted for s before (after a
 * socket was closed and opened again). *monitor is the socket to poll for
 * ZMQ_POLLIN; hub_conns_events() reads it. Returns 0 or a negative errno. */
NMO_WUR int hub_conns_watch(struct hub_conns *c, void *ctx, void *sock, enum hub_conn_socket s,
                            void **monitor);

/* Stops counting s and forgets its connections (call before zmq_close() on
 * the socket). */
void hub_conns_unwatch(struct hub_conns *c, enum hub_conn_socket s);

/* Reads every waiting monitor event of every socket, matches admissions to
 * connections and closes the oldest connections in handshake beyond the
 * limit. Cheap when nothing waits; the loop calls it every turn. */
void hub_conns_events(struct hub_conns *c);

/* A message (or subscription) msg came in on s from member (0: unknown).
 * Returns false when it comes from a connection being closed: ignore it.
 * When count is not NULL it is set to the number of messages seen from the
 * connection so far, this one included. */
bool hub_conns_message(struct hub_conns *c, enum hub_conn_socket s, const zmq_msg_t *msg,
                       uint32_t member, uint32_t *count);

/* Closes the connection msg came in on (it does not read what the hub
 * sends), logging why; from now on hub_conns_message() is false for it. */
void hub_conns_drop(struct hub_conns *c, enum hub_conn_socket s, const zmq_msg_t *msg,
                    const char *why);

/* How many distinct members hold at least one connection (matched to them,
 * on either socket) now. */
uint32_t hub_conns_members_connected(struct hub_conns *c);

/* For the presence records (presence.h): *connected the members holding a
 * connection now, *seen those that connected or disconnected since the last
 * call (repeats possible; taken: the next call starts afresh). Both arrays
 * are the caller's to free() (*seen may be NULL when empty). Hub loop only.
 * Returns 0 or -ENOMEM (nothing taken then). */
NMO_WUR int hub_conns_presence(struct hub_conns *c, uint32_t **connected, size_t *nconnected,
                               uint32_t **seen, size_t *nseen);

/* Housekeeping, about once a second: forgets admissions that never became
 * connections, gives freed memory back to the system after many
 * disconnections, and logs how many connections in handshake were closed. */
void hub_conns_tick(struct hub_conns *c);
