/* http.h - HTTP/1.1 connections on one libuv loop: accept, parse with llhttp, enforce limits,
 * hand complete requests to a handler, write responses.
 *
 * Promises: keep-alive and pipelining (requests on a connection are answered strictly in order:
 * the next pipelined request is parsed only after the previous response is written); the header
 * block and the body are bounded (431 / 413 with a JSON error, then close); malformed HTTP gets a
 * 400 JSON error; slow requests get 408 and idle connections are closed (one sweep timer per
 * server, no per-request timer work). Buffers belong to the connection and are reused across its
 * requests. A handler may answer synchronously or later (after Redis acknowledged): the request
 * and its connection stay valid until http_respond is called, even if the peer went away.
 * Everything runs on the loop's thread; one http_server per loop. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct http_server http_server;
typedef struct http_conn http_conn;

/* Timeouts (0 = off), all checked by the one sweep timer, answered 408 + close:
 * - header_timeout_ms: request line + headers must arrive within this from the request's first
 *   byte (for a new connection: from accept, so a silent connection is closed after it);
 * - body_timeout_ms + min_body_rate: after the headers, the body must keep up min_body_rate:
 *   the deadline is body_timeout_ms (a grace) + bytes received so far / min_body_rate seconds
 *   after the headers, so a trickle falls behind and a steady slow upload does not;
 * - request_timeout_ms: the whole request, whatever its pace;
 * - idle_timeout_ms: a keep-alive connection between requests is closed (no answer). */
typedef struct {
    size_t max_header_bytes; /* request line + headers */
    size_t max_body_bytes;   /* raw body as received (before any decompression) */
    size_t max_connections;  /* beyond this, new connections are closed at once */
    uint64_t idle_timeout_ms;
    uint64_t request_timeout_ms;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t min_body_rate; /* bytes/s; 0 = no rate term */
} http_limits;

typedef struct {
    const char *p;
    size_t n;
} http_slice;

/* Headers the collector cares about; the others are only counted against the limit. */
#define HTTP_HEADER_MAP(X)                                                                         \
    X(CONTENT_TYPE, "content-type")                                                                \
    X(CONTENT_ENCODING, "content-encoding")                                                        \
    X(AUTHORIZATION, "authorization")                                                              \
    X(ORIGIN, "origin")                                                                            \
    X(X_FORWARDED_FOR, "x-forwarded-for")                                                          \
    X(ACR_HEADERS, "access-control-request-headers")                                               \
    X(EXPECT, "expect")                                                                            \
    X(USER_AGENT, "user-agent")                                                                    \
    X(SP_ANONYMOUS, "sp-anonymous")                                                                \
    X(SLUICE_SESSION, "x-sluice-session")

typedef enum {
#define HTTP_HDR_ENUM(id, name) HTTP_H_##id,
    HTTP_HEADER_MAP(HTTP_HDR_ENUM)
#undef HTTP_HDR_ENUM
        HTTP_H__COUNT
} http_header_id;

/* A request as seen by the handler. Every pointer borrows from the connection and stays valid
 * until http_respond is called for it. Slices are not NUL-terminated; absent = {NULL, 0}. */
typedef struct {
    int method; /* llhttp_method_t */
    http_slice path;
    http_slice query; /* without the '?' */
    http_slice headers[HTTP_H__COUNT];
    const char *body;
    size_t body_len;
    const char *peer_ip; /* NUL-terminated text form of the TCP peer address */
    bool keep_alive;
} http_request;

/* Called for each complete request; must lead to exactly one http_respond(c, ...) call. */
typedef void (*http_handler)(void *ud, http_conn *c, const http_request *req);
/* Called when the HTTP layer itself answers (400/408/413/431); may write extra header lines
 * ("Name: value\r\n"...) into hdrs (cap bytes) and returns their length. req may be partial. */
typedef size_t (*http_reject_hook)(void *ud, const http_request *req, int status, char *hdrs,
                                   size_t cap);

typedef struct {
    uint64_t accepted, refused, open;
    uint64_t bytes_in, bytes_out;
} http_stats;

/* Creates a server on loop. Returns NULL on out-of-memory. reject may be NULL. */
http_server *http_server_new(uv_loop_t *loop, const http_limits *lim, http_handler h,
                             http_reject_hook reject, void *ud);
/* Starts accepting on fd (a bound, listening socket, e.g. from http_listen_socket); the server
 * owns fd from then on. Returns 0 or a libuv error code. */
int http_server_listen_fd(http_server *s, int fd, int backlog);
/* Stops accepting, closes idle connections, and closes the others after their current response.
 * done(ud) is called once no connection and no listener is left. Call once. */
void http_server_drain(http_server *s, void (*done)(void *ud), void *ud);
/* Closes every connection now (drain deadline); answers still owed are discarded on respond. */
void http_server_close_all(http_server *s);
/* Frees a drained server (after done fired); the memory goes when the loop runs its last close
 * callback, so keep running the loop. */
void http_server_free(http_server *s);
/* Relaxed snapshot; call on the loop thread. */
void http_server_get_stats(const http_server *s, http_stats *out);

/* Sends the response for the connection's current request. extra_headers: NULL or
 * "Name: value\r\n" lines. content_type NULL = no body headers (204). The body is copied.
 * After the call, the request's memory is no longer valid. */
void http_respond(http_conn *c, int status, const char *extra_headers, const char *content_type,
                  const char *body, size_t body_len);
/* {"success":false,"error":message[,"limit":limit]} with status; message and limit are escaped. */
void http_respond_error(http_conn *c, int status, const char *extra_headers, const char *message,
                        const char *limit);
/* The request currently owed an answer, or NULL. */
const http_request *http_conn_request(const http_conn *c);
/* Asks the connection to close after its current response (Connection: close). */
void http_conn_set_close(http_conn *c);

/* ---- streaming responses (Server-Sent Events and the like) ----
 * http_stream_start answers the connection's current request with "200 OK", Content-Type,
 * Cache-Control: no-cache, Connection: close and extra_headers, and no Content-Length: the body
 * is what http_stream_write sends until the connection closes. From then on the connection serves
 * nothing else (bytes the peer sends are read and dropped, only to notice when it goes away) and
 * is exempt from the idle and request timeouts.
 * on_close(ud) fires exactly once, from a loop callback (never from inside an http_* call), when
 * the connection closes for any reason other than http_stream_end: the peer went away, a write
 * failed, the queue bound was hit, or the server drained or closed everything. After on_close,
 * or after http_stream_end, c must not be used.
 * Returns 0 (streaming; on_close may come at any later loop turn), UV_ECANCELED (the server is
 * draining: a 503 was answered instead), UV_ECONNRESET (the connection was already gone; no
 * on_close) or UV_EINVAL (no request is owed an answer). */
#define HTTP_STREAM_MAX_QUEUE (1u << 20) /* bytes queued per stream before it is dropped */
int http_stream_start(http_conn *c, const char *extra_headers, const char *content_type,
                      void (*on_close)(void *ud), void *ud);
/* Sends n bytes (copied when the socket does not take them at once). Returns 0, or < 0 when the
 * stream is closing: the peer is gone, or more than HTTP_STREAM_MAX_QUEUE bytes would be queued
 * (a slow consumer is dropped rather than buffered without bound); the connection is then being
 * closed and on_close follows. */
int http_stream_write(http_conn *c, const char *data, size_t n);
/* Ends the stream: queued bytes are still sent, then the connection closes; on_close is not
 * called. */
void http_stream_end(http_conn *c);
/* Bytes queued and not yet taken by the socket. */
size_t http_stream_queued(const http_conn *c);

/* Creates a non-blocking TCP socket with SO_REUSEADDR + SO_REUSEPORT, bound to host:port and
 * listening. *port_inout: 0 picks a free port and receives it. Returns 0 or -errno with a message
 * in err. */
int http_listen_socket(const char *host, int *port_inout, int backlog, int *fd_out, char *err,
                       size_t errlen);

/* Socket-free parsing for fuzzing and tests: feeds data, in pieces of at most `step` bytes (0 =
 * all at once), through the same llhttp callbacks and limits as a connection, and calls on_req for
 * each complete request (the request is valid during the call only). Stops at the first error.
 * Returns the number of complete requests; *reject_status gets 0, or the status the server would
 * answer (400, 413, 431) with its message in msg (msglen bytes). */
size_t http_parse_requests(const http_limits *lim, const char *data, size_t n, size_t step,
                           void (*on_req)(void *ud, const http_request *req), void *ud,
                           int *reject_status, char *msg, size_t msglen);

/* Standard reason phrase ("Payload Too Large"); "Unknown" otherwise. */
const char *http_status_text(int status);
/* Appends s as JSON string contents (no quotes) into dst; returns bytes written (< cap). */
size_t http_json_escape(char *dst, size_t cap, const char *s, size_t n);

/* Percent-decodes src[0..n) ('+' is a space, as in forms) into dst[cap]; returns the length, or
 * -1 when it does not fit or an escape is malformed. dst is not NUL-terminated. */
long http_pct_decode(const char *src, size_t n, char *dst, size_t cap);

/* The decoded value of query parameter `name` (q without the '?') into dst[cap], not
 * NUL-terminated: its length, or -1 when absent or undecodable. */
long http_query_get(http_slice q, const char *name, char *dst, size_t cap);

#endif
