/* agent-link.c: the agent's connection to the hub as `nmo-node status`
 * shows it: the monitor's events, the cause of a failed connection said once
 * per cause, the back-off after a refused handshake, and the last hub error
 * and link state recorded in the outbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agent-state.h"
#include "client.h"
#include "log.h"
#include "node.h"
#include "outbox.h"

/* The longest a probe for the cause of a failed connection may take. */
#define PROBE_MS 300

/* Records (or clears, with msg NULL) the hub error that `status` shows, once
 * per change. */
int agent_note_hub_error(struct agent *a, const char *msg)
{
        int r;

        if (!msg && !a->hub_error[0])
                return 0;
        if (msg && strncmp(a->hub_error, msg, OUTBOX_TEXT_MAX) == 0)
                return 0;
        r = outbox_set_hub_error(a->ob, msg, util_now_ms());
        if (r < 0) {
                if (r != -ENOSPC) /* said once by the outbox */
                        log_error("%s: cannot record the hub error: %s", a->node->outbox_path,
                                  strerror(-r));
                return r;
        }
        snprintf(a->hub_error, sizeof(a->hub_error), "%s", msg ? msg : "");
        return 0;
}


/* Records the connection state for `status`; a failure is logged, the
 * outbox said why once when it is the disk. */
int agent_save_link(struct agent *a)
{
        int r = outbox_set_hub_link(a->ob, &a->link);

        if (r < 0 && r != -ENOSPC)
                log_error("%s: cannot record the hub connection state: %s",
                          a->node->outbox_path, strerror(-r));
        return r;
}

/* A connection attempt failed for cause (in words) of kind: says so once per
 * cause (with the delay before the next try), records it for `status`, and,
 * unless libzmq backs off by itself (unreachable), disconnects so that the
 * next try waits delay_ms. */
static int link_failed(struct agent *a, enum link_problem kind, const char *cause,
                       uint64_t delay_ms)
{
        char text[2 * OUTBOX_TEXT_MAX];
        int r;

        snprintf(text, sizeof(text), "hub at %s: %s", a->cfg->hub_endpoint, cause);
        if (kind != a->problem || strncmp(text, a->hub_error, OUTBOX_TEXT_MAX) != 0)
                log_error("%s; retrying in %llu s", text,
                          (unsigned long long)((delay_ms + 999) / 1000));
        else
                log_debug("%s; retrying in %llu ms", text, (unsigned long long)delay_ms);
        a->problem = kind;
        a->connected = false;
        if (kind != LINK_UNREACHABLE && !a->detached) {
                /* libzmq would try again within a second, for ever: back off. */
                if (zmq_disconnect(a->dealer, a->cfg->hub_endpoint) == 0) {
                        a->detached = true;
                        a->reconnect_at_ms = util_mono_ms() + delay_ms;
                }
        }
        a->link.next_retry_ms = util_now_ms() + delay_ms;
        r = agent_note_hub_error(a, text);
        if (r < 0)
                return r;
        return agent_save_link(a);
}

/* The delay before the next handshake after failures in a row. */
static uint64_t handshake_backoff(struct agent *a)
{
        a->failures++;
        return util_backoff_ms(a->failures, a->cfg->reconnect_ivl_ms,
                               a->cfg->reconnect_ivl_max_ms);
}

int agent_link_monitor(struct agent *a)
{
        for (;;) {
                zmq_msg_t msg;
                bool multipart;
                uint16_t event;
                uint32_t value;
                char text[160];
                int r = agent_recv_frame(a->monitor, &msg, &multipart);

                if (r <= 0)
                        return r;
                if (zmq_msg_size(&msg) < 6) {
                        (void)zmq_msg_close(&msg);
                        continue;
                }
                memcpy(&event, zmq_msg_data(&msg), sizeof(event));
                memcpy(&value, (uint8_t *)zmq_msg_data(&msg) + 2, sizeof(value));
                (void)zmq_msg_close(&msg);

                switch (event) {
                case ZMQ_EVENT_CONNECTED:
                        a->tcp_reached = true;
                        log_debug("TCP connection to %s up; handshake next", a->cfg->hub_endpoint);
                        break;
                case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                        if (!a->connected)
                                log_info("connected to the hub at %s", a->cfg->hub_endpoint);
                        a->connected = true;
                        a->scan_now = true;
                        a->failures = 0;
                        a->problem = LINK_NONE;
                        /* ZAP took our key: a refusal noted before is over. */
                        r = agent_note_hub_error(a, NULL);
                        if (r < 0)
                                return r;
                        a->link.last_contact_ms = util_now_ms();
                        a->link.next_retry_ms = 0;
                        r = agent_save_link(a);
                        if (r < 0)
                                return r;
                        break;
                case ZMQ_EVENT_DISCONNECTED:
                        if (a->connected) {
                                log_warn("lost the connection to the hub; reconnecting");
                                a->link.last_contact_ms = util_now_ms();
                                r = agent_save_link(a);
                                if (r < 0)
                                        return r;
                        }
                        a->connected = false;
                        break;
                case ZMQ_EVENT_CONNECT_RETRIED:
                        /* After a TCP connection, the handshake's failure (or
                         * the loss of the connection) is the story, and after
                         * our disconnect the retry will not happen. */
                        if (a->tcp_reached || a->detached) {
                                a->tcp_reached = false;
                                log_debug("reconnect to the hub scheduled in %u ms", value);
                                break;
                        }
                        /* value: libzmq's next reconnect interval. It does not
                         * say why; a probe does, once per episode. */
                        if (a->problem != LINK_UNREACHABLE)
                                snprintf(a->probe_cause, sizeof(a->probe_cause), "%s",
                                         client_probe_text(client_probe(a->cfg->hub_endpoint,
                                                                        PROBE_MS)));
                        r = link_failed(a, LINK_UNREACHABLE, a->probe_cause, value);
                        if (r < 0)
                                return r;
                        break;
                case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                        snprintf(text, sizeof(text), "%s (ZAP status %u)", CLIENT_REFUSED_TEXT,
                                 value);
                        r = link_failed(a, LINK_REFUSED, text, handshake_backoff(a));
                        if (r < 0)
                                return r;
                        break;
                case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                        snprintf(text, sizeof(text), "handshake failed (protocol error 0x%x): "
                                 "check [hub] endpoint in node.conf and keys/hub.pub", value);
                        r = link_failed(a, LINK_PROTOCOL, text, handshake_backoff(a));
                        if (r < 0)
                                return r;
                        break;
                case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                        /* The hub closes the connection when it cannot open our
                         * HELLO: sealed to another key than its own. */
                        log_debug("handshake with the hub failed (errno %u)", value);
                        r = link_failed(a, LINK_KEY_MISMATCH, CLIENT_KEY_MISMATCH_TEXT,
                                        handshake_backoff(a));
                        if (r < 0)
                                return r;
                        break;
                default:
                        break;
                }
        }
}

/* Connects again once the backoff after a failed handshake is over. */
void agent_link_reconnect_due(struct agent *a, uint64_t now)
{
        if (!a->detached || now < a->reconnect_at_ms)
                return;
        a->detached = false;
        log_debug("connecting to the hub at %s again", a->cfg->hub_endpoint);
        if (zmq_connect(a->dealer, a->cfg->hub_endpoint) < 0)
                log_error("%s: cannot connect to %s: %s", a->node->conf_path,
                          a->cfg->hub_endpoint, zmq_strerror(zmq_errno()));
}
