/* SPDX-License-Identifier: Apache-2.0 */
/* canary-shm's C ABI (C11): what a worker written in C, or a binding to another language, calls.
 *
 *   canary_attach(NULL);                                         once, before or after fork()
 *   canary_decision d;
 *   canary_route(uid, uid_len, path, path_len, &d);              per request
 *   canary_record(&d, CANARY_METHOD_POST, 200, latency_us);      when it is answered
 *
 * The same rules as the C++ header canary/writer.hpp, whose calls these are: no call takes a lock,
 * allocates, or makes a system call on the per-request path, and none fails loudly. A process that
 * cannot attach routes everyone to the baseline and records nothing (fail open); the return codes
 * say so. Every call may run on any thread; a canary_request is recorded on the thread that began
 * it.
 *
 * Stability: libcanary.so exports these functions alone, under the SONAME libcanary.so.1
 * (CANARY_ABI_VERSION). Within it, functions and enumerators are only added, structs only grow
 * where a comment says so, and no meaning changes. */
#ifndef CANARY_CANARY_H
#define CANARY_CANARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CANARY_BUILDING_SHARED)
#define CANARY_API __attribute__((visibility("default")))
#else
#define CANARY_API
#endif

#define CANARY_ABI_VERSION 1

/* Return codes: 0 or a positive answer on success, a negative code otherwise. */
enum {
  CANARY_OK = 0,
  CANARY_ERR_ARGUMENT = -1,     /* a null pointer, or a length over the limit */
  CANARY_ERR_ATTACH = -2,       /* the segment cannot be opened or is not valid: failing open */
  CANARY_ERR_NOT_ATTACHED = -3, /* no segment: routed to the baseline, nothing recorded */
  CANARY_ERR_UNKNOWN = -4       /* no version or endpoint by that name */
};

/* HTTP methods as the segment counts them. */
typedef enum canary_method {
  CANARY_METHOD_GET = 0,
  CANARY_METHOD_POST = 1,
  CANARY_METHOD_PUT = 2,
  CANARY_METHOD_PATCH = 3,
  CANARY_METHOD_DELETE = 4,
  CANARY_METHOD_OTHER = 5
} canary_method;

/* Which version serves a request. `version` is an index: 0 the baseline ("legacy"), 1 the first
 * candidate ("canary"), up to 7; canary_version_name() names it. `endpoint` is the id of the
 * endpoint template the path matched (0: none). `user_hash` is what canary_record() takes, so that
 * an id is hashed once per request. */
typedef struct canary_decision {
  uint32_t version;
  uint32_t endpoint;
  uint64_t user_hash;
} canary_decision;

/* A request marked in flight by canary_begin(): if the process dies before canary_end(), the
 * aggregator counts it once as unavailable (status 0). The opaque words belong to the library. */
typedef struct canary_request {
  canary_decision decision;
  uint64_t opaque[6];
} canary_request;

/* What this process's writer has seen. New fields are added at the end only; `size` is set by the
 * caller to sizeof(canary_stats) so that an older caller's smaller struct is filled as far as it
 * goes. */
typedef struct canary_stats {
  uint32_t size;
  int32_t attached;                /* 1 when attached to a valid segment */
  int32_t rseq;                    /* 1 when this thread adds with restartable sequences */
  int32_t ring;                    /* this thread's ring, -1 if none */
  uint64_t attach_failures;        /* this process */
  uint64_t ring_full_drops;        /* this thread's ring: records lost because it was full */
  uint64_t in_flight_other_thread; /* this process: requests ended off their canary_begin() thread */
} canary_stats;

/* Attaches this process to a segment (NULL or "": $CANARY_SEGMENT, else "canary"). CANARY_OK, or
 * CANARY_ERR_ATTACH after one line on stderr, and the process fails open. Attaching again
 * replaces the segment. Not on the per-request path: it opens and maps the segment. */
CANARY_API int canary_attach(const char* segment);
/* 1 when attached, 0 when not. */
CANARY_API int canary_attached(void);

/* Routes a user on a request path (query string ignored; matched against the endpoint templates).
 * An empty user id, or one over 1024 bytes, goes to the baseline. CANARY_OK, or
 * CANARY_ERR_NOT_ATTACHED with the baseline in *out; CANARY_ERR_ARGUMENT when out is NULL. */
CANARY_API int canary_route(const char* user_id, size_t user_id_len, const char* path, size_t path_len,
                            canary_decision* out);
/* The same with an endpoint id already resolved (canary_resolve_endpoint()). */
CANARY_API int canary_route_endpoint(const char* user_id, size_t user_id_len, uint32_t endpoint,
                                     canary_decision* out);
/* The seed's is_canary_user: 1 when the user goes to any candidate, endpoints aside; 0 otherwise. */
CANARY_API int canary_is_canary_user(const char* user_id, size_t user_id_len);
/* The endpoint id of a request path or a template; 0 when none matches. */
CANARY_API uint32_t canary_resolve_endpoint(const char* path, size_t path_len);

/* Records an answered request: its status (0: no response) and latency in microseconds. */
CANARY_API void canary_record(const canary_decision* decision, canary_method method, uint32_t status,
                              uint64_t latency_us);
/* Marks a request in flight (see canary_request). CANARY_OK, or CANARY_ERR_NOT_ATTACHED (the
 * request is still recorded by canary_end(), without a mark). */
CANARY_API int canary_begin(const canary_decision* decision, canary_request* out);
/* Records a request begun with canary_begin() and takes its mark off. */
CANARY_API void canary_end(canary_request* request, canary_method method, uint32_t status, uint64_t latency_us);

/* The method of an HTTP method name ("GET", "post", ...); CANARY_METHOD_OTHER when unknown. */
CANARY_API canary_method canary_parse_method(const char* name, size_t name_len);

/* The name of a version index in the current config ("legacy", "canary", ...), NUL-terminated, in
 * this thread's storage: valid until this thread's next call with the same index. NULL when the
 * index has no version or the process is not attached. */
CANARY_API const char* canary_version_name(uint32_t index);
/* The index of a version by name; CANARY_ERR_UNKNOWN when none. */
CANARY_API int canary_find_version(const char* name, size_t name_len);

/* Fills *out (out->size set by the caller). CANARY_OK, or CANARY_ERR_ARGUMENT. */
CANARY_API int canary_writer_stats(canary_stats* out);

/* CANARY_ABI_VERSION of the library actually loaded. */
CANARY_API int canary_abi_version(void);
/* "0.4.0": the project version the library was built from. */
CANARY_API const char* canary_library_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CANARY_CANARY_H */
