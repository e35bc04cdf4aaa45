/* SPDX-License-Identifier: Apache-2.0 */
/* The C ABI from C11: every function of canary/canary.h against a real segment.
 *   c_abi_test SEGMENT canary|legacy
 * `canary`: the segment routes 100% to the canary; the program routes and records four requests
 * (one 503) that tests/c_abi/run.sh then finds in canary-shm-dump. `legacy`: the share is 0. */
#include <canary/canary.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(condition)                                                     \
  do {                                                                       \
    if (!(condition)) {                                                      \
      fprintf(stderr, "c_abi_test:%d: failed: %s\n", __LINE__, #condition); \
      ++failures;                                                            \
    }                                                                        \
  } while (0)

static const char kUser[] = "user-1";
static const char kPath[] = "/api/v2/conversations/abc/turn?x=1";
static const char kTemplate[] = "/api/v2/conversations/{session_id}/turn";

static void before_attach(void) {
  canary_decision d;
  CHECK(canary_abi_version() == CANARY_ABI_VERSION);
  CHECK(strlen(canary_library_version()) > 0);
  CHECK(canary_attached() == 0);
  CHECK(canary_route(kUser, strlen(kUser), kPath, strlen(kPath), &d) == CANARY_ERR_NOT_ATTACHED);
  CHECK(d.version == 0);
  CHECK(canary_version_name(0) == NULL);
  CHECK(canary_attach("canary-c-abi-test-no-such-segment") == CANARY_ERR_ATTACH);
  canary_stats stats;
  stats.size = sizeof stats;
  CHECK(canary_writer_stats(&stats) == CANARY_OK);
  CHECK(stats.attach_failures == 1 && stats.attached == 0);
}

static void arguments(void) {
  CHECK(canary_route(kUser, strlen(kUser), kPath, strlen(kPath), NULL) == CANARY_ERR_ARGUMENT);
  CHECK(canary_route_endpoint(kUser, strlen(kUser), 1, NULL) == CANARY_ERR_ARGUMENT);
  CHECK(canary_begin(NULL, NULL) == CANARY_ERR_ARGUMENT);
  CHECK(canary_writer_stats(NULL) == CANARY_ERR_ARGUMENT);
  canary_record(NULL, CANARY_METHOD_GET, 200, 1); /* ignored, not a crash */
  canary_end(NULL, CANARY_METHOD_GET, 200, 1);
  CHECK(canary_is_canary_user(NULL, 0) == 0);
  CHECK(canary_resolve_endpoint(NULL, 0) == 0);
  CHECK(canary_version_name(99) == NULL);
  CHECK(canary_find_version("no-such-version", 15) == CANARY_ERR_UNKNOWN);
  CHECK(canary_parse_method("GET", 3) == CANARY_METHOD_GET);
  CHECK(canary_parse_method("DELETE", 6) == CANARY_METHOD_DELETE);
  CHECK(canary_parse_method("BREW", 4) == CANARY_METHOD_OTHER);
  /* A caller's older, smaller struct is filled as far as it goes. */
  canary_stats small;
  memset(&small, 0xAB, sizeof small);
  small.size = 8;
  CHECK(canary_writer_stats(&small) == CANARY_OK);
  CHECK(small.size == 8 && small.rseq == (int32_t)0xABABABAB);
}

static void routes_and_records(int expect_canary) {
  const uint32_t endpoint = canary_resolve_endpoint(kTemplate, strlen(kTemplate));
  CHECK(endpoint != 0);
  CHECK(canary_resolve_endpoint(kPath, strlen(kPath)) == endpoint);

  canary_decision d;
  CHECK(canary_route(kUser, strlen(kUser), kPath, strlen(kPath), &d) == CANARY_OK);
  CHECK(d.version == (expect_canary ? 1u : 0u));
  CHECK(d.endpoint == endpoint);
  CHECK(d.user_hash != 0);
  canary_decision by_id;
  CHECK(canary_route_endpoint(kUser, strlen(kUser), endpoint, &by_id) == CANARY_OK);
  CHECK(by_id.version == d.version && by_id.user_hash == d.user_hash);
  CHECK(canary_is_canary_user(kUser, strlen(kUser)) == expect_canary);

  CHECK(canary_version_name(0) != NULL && strcmp(canary_version_name(0), "legacy") == 0);
  CHECK(canary_version_name(1) != NULL && strcmp(canary_version_name(1), "canary") == 0);
  CHECK(canary_version_name(7) == NULL);
  CHECK(canary_find_version("canary", 6) == 1);
  CHECK(canary_find_version("legacy", 6) == 0);

  if (!expect_canary) return;
  canary_record(&d, CANARY_METHOD_POST, 200, 1000);
  canary_record(&d, CANARY_METHOD_POST, 503, 2000);
  canary_record(&by_id, canary_parse_method("POST", 4), 200, 3000);
  canary_request request;
  CHECK(canary_begin(&d, &request) == CANARY_OK);
  CHECK(request.decision.version == d.version);
  canary_end(&request, CANARY_METHOD_POST, 200, 4000);

  canary_stats stats;
  stats.size = sizeof stats;
  CHECK(canary_writer_stats(&stats) == CANARY_OK);
  CHECK(stats.size == sizeof stats);
  CHECK(stats.attached == 1 && stats.ring >= 0 && stats.ring_full_drops == 0 && stats.in_flight_other_thread == 0);
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[2], "canary") != 0 && strcmp(argv[2], "legacy") != 0)) {
    fprintf(stderr, "usage: c_abi_test SEGMENT canary|legacy\n");
    return 2;
  }
  before_attach();
  CHECK(canary_attach(argv[1]) == CANARY_OK);
  CHECK(canary_attached() == 1);
  arguments();
  routes_and_records(strcmp(argv[2], "canary") == 0);
  if (failures != 0) return 1;
  printf("c_abi_test: %s: all checks passed\n", argv[2]);
  return 0;
}
