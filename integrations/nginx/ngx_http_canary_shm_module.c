/* SPDX-License-Identifier: Apache-2.0 */
/* canary-shm inside nginx's workers (SPEC section 13, docs/nginx.md): per-user routing and
 * recording for any backend, through the C ABI of canary/canary.h.
 *
 *   canary_shm_segment NAME;            http: the segment; each worker attaches once (init_process)
 *   canary_shm_user_id $cookie_uid;     http, server, location: the user, any complex value
 *   canary_shm_endpoint $uri;           http, server, location: matched against the templates
 *   canary_shm_record on|off;           http, server, location (default on)
 *
 * $canary_version is the version's name (legacy, canary, ...) for proxy_pass or a map, and
 * $canary_bucket the user's bucket (0-9999) for logs. A request is routed once, at the first of the
 * access phase or a read of either variable; from there it counts as in flight (a worker killed
 * before the log phase leaves it counted once as unavailable), and the log phase records its
 * status and the upstream response time (else the request time). Nothing here allocates beyond
 * the request's pool, locks or makes a system call per request. A segment that cannot be attached
 * routes everyone to the baseline and records nothing, after one line in the error log. */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <canary/canary.h>

typedef struct {
  ngx_str_t segment;
} ngx_http_canary_shm_main_conf_t;

typedef struct {
  ngx_http_complex_value_t *user_id;
  ngx_http_complex_value_t *endpoint;
  ngx_flag_t record;
} ngx_http_canary_shm_loc_conf_t;

/* One per request, found again after an internal redirect (which clears the module contexts)
 * through the pool cleanup that also ends a request the log phase never saw. */
typedef struct {
  canary_request request;
  ngx_http_request_t *r;
  unsigned routed : 1;
  unsigned begun : 1;  /* counted in flight: canary_end() is owed */
} ngx_http_canary_shm_ctx_t;

static ngx_int_t ngx_http_canary_shm_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_canary_shm_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_canary_shm_init_process(ngx_cycle_t *cycle);
static void *ngx_http_canary_shm_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_canary_shm_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_canary_shm_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);

static ngx_command_t ngx_http_canary_shm_commands[] = {
    {ngx_string("canary_shm_segment"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(ngx_http_canary_shm_main_conf_t, segment), NULL},
    {ngx_string("canary_shm_user_id"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_set_complex_value_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_canary_shm_loc_conf_t, user_id), NULL},
    {ngx_string("canary_shm_endpoint"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_set_complex_value_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_canary_shm_loc_conf_t, endpoint), NULL},
    {ngx_string("canary_shm_record"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_canary_shm_loc_conf_t, record), NULL},
    ngx_null_command};

static ngx_http_module_t ngx_http_canary_shm_module_ctx = {
    ngx_http_canary_shm_add_variables,     /* preconfiguration */
    ngx_http_canary_shm_init,              /* postconfiguration */
    ngx_http_canary_shm_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_canary_shm_create_loc_conf,   /* create location configuration */
    ngx_http_canary_shm_merge_loc_conf     /* merge location configuration */
};

ngx_module_t ngx_http_canary_shm_module = {
    NGX_MODULE_V1,
    &ngx_http_canary_shm_module_ctx,   /* module context */
    ngx_http_canary_shm_commands,      /* module directives */
    NGX_HTTP_MODULE,                   /* module type */
    NULL,                              /* init master */
    NULL,                              /* init module */
    ngx_http_canary_shm_init_process,  /* init process */
    NULL,                              /* init thread */
    NULL,                              /* exit thread */
    NULL,                              /* exit process */
    NULL,                              /* exit master */
    NGX_MODULE_V1_PADDING};

static ngx_flag_t ngx_http_canary_shm_attached;

/* The pool cleanup: a request whose log phase never ran (a connection closed at an odd moment)
 * is still recorded, with what nginx answered, so that its in-flight mark comes off. */
static void ngx_http_canary_shm_cleanup(void *data) {
  ngx_http_canary_shm_ctx_t *ctx = data;
  if (!ctx->begun) return;
  ctx->begun = 0;
  canary_end(&ctx->request, canary_parse_method((const char *)ctx->r->method_name.data, ctx->r->method_name.len),
             (uint32_t)ctx->r->headers_out.status, 0);
}

static ngx_http_canary_shm_ctx_t *ngx_http_canary_shm_find_ctx(ngx_http_request_t *r) {
  ngx_http_canary_shm_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_canary_shm_module);
  if (ctx != NULL) return ctx;
  /* After an internal redirect the context is gone, but the cleanup that holds it is not. */
  for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
    if (cln->handler == ngx_http_canary_shm_cleanup) {
      ctx = cln->data;
      ngx_http_set_ctx(r, ctx, ngx_http_canary_shm_module);
      return ctx;
    }
  }
  return NULL;
}

/* Routes the request once (NULL when this location does not route: no user id configured). */
static ngx_http_canary_shm_ctx_t *ngx_http_canary_shm_route(ngx_http_request_t *r) {
  ngx_http_request_t *mr = r->main;
  ngx_http_canary_shm_ctx_t *ctx = ngx_http_canary_shm_find_ctx(mr);
  if (ctx != NULL) return ctx;
  ngx_http_canary_shm_loc_conf_t *lcf = ngx_http_get_module_loc_conf(mr, ngx_http_canary_shm_module);
  if (lcf->user_id == NULL) return NULL;

  ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(mr->pool, sizeof(ngx_http_canary_shm_ctx_t));
  if (cln == NULL) return NULL;
  ctx = cln->data;
  ngx_memzero(ctx, sizeof(ngx_http_canary_shm_ctx_t));
  ctx->r = mr;
  cln->handler = ngx_http_canary_shm_cleanup;
  ngx_http_set_ctx(mr, ctx, ngx_http_canary_shm_module);

  ngx_str_t user = ngx_null_string, endpoint = mr->uri;
  if (ngx_http_complex_value(mr, lcf->user_id, &user) != NGX_OK) {
    ngx_str_null(&user);
  }
  if (lcf->endpoint != NULL && ngx_http_complex_value(mr, lcf->endpoint, &endpoint) != NGX_OK) endpoint = mr->uri;
  /* Not attached: the baseline, as canary_route() says. */
  (void)canary_route((const char *)user.data, user.len, (const char *)endpoint.data, endpoint.len, &ctx->request.decision);
  ctx->routed = 1;
  if (lcf->record && ngx_http_canary_shm_attached) {
    canary_decision decision = ctx->request.decision;
    (void)canary_begin(&decision, &ctx->request);  /* not attached: still ended, without a mark */
    ctx->begun = 1;
  }
  return ctx;
}

static ngx_int_t ngx_http_canary_shm_access_handler(ngx_http_request_t *r) {
  (void)ngx_http_canary_shm_route(r);
  return NGX_DECLINED;
}

/* The upstream's response time (the sum over the upstreams tried), else the request's time. */
static uint64_t ngx_http_canary_shm_latency_us(ngx_http_request_t *r) {
  if (r->upstream_states != NULL && r->upstream_states->nelts > 0) {
    ngx_http_upstream_state_t *state = r->upstream_states->elts;
    uint64_t ms = 0;
    for (ngx_uint_t i = 0; i < r->upstream_states->nelts; i++)
      if (state[i].status != 0 && state[i].response_time != (ngx_msec_t)-1) ms += state[i].response_time;
    return ms * 1000;
  }
  ngx_time_t *now = ngx_timeofday();
  const ngx_msec_int_t ms = (ngx_msec_int_t)((now->sec - r->start_sec) * 1000 + (now->msec - r->start_msec));
  return ms > 0 ? (uint64_t)ms * 1000 : 0;
}

static ngx_int_t ngx_http_canary_shm_log_handler(ngx_http_request_t *r) {
  ngx_http_canary_shm_ctx_t *ctx = ngx_http_canary_shm_find_ctx(r->main);
  if (ctx == NULL || !ctx->begun || r != r->main) return NGX_OK;
  ctx->begun = 0;
  /* 499 (the client closed the connection) and 444 are nginx's own: no response was sent. */
  ngx_uint_t status = r->headers_out.status;
  if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST || status == NGX_HTTP_CLOSE) status = 0;
  canary_end(&ctx->request, canary_parse_method((const char *)r->method_name.data, r->method_name.len), (uint32_t)status,
             ngx_http_canary_shm_latency_us(r));
  return NGX_OK;
}

static ngx_int_t ngx_http_canary_shm_version_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                                                      uintptr_t data) {
  (void)data;
  ngx_http_canary_shm_ctx_t *ctx = ngx_http_canary_shm_route(r);
  uint32_t version = ctx != NULL ? ctx->request.decision.version : 0;
  const char *name = canary_version_name(version);
  if (name == NULL) name = version == 0 ? "legacy" : "canary";  /* not attached: the defaults */
  const size_t len = ngx_strlen(name);
  u_char *copy = ngx_pnalloc(r->pool, len);
  if (copy == NULL) return NGX_ERROR;
  ngx_memcpy(copy, name, len);
  v->data = copy;
  v->len = len;
  v->valid = 1;
  v->no_cacheable = 0;
  v->not_found = 0;
  return NGX_OK;
}

static ngx_int_t ngx_http_canary_shm_bucket_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                                                     uintptr_t data) {
  (void)data;
  ngx_http_canary_shm_ctx_t *ctx = ngx_http_canary_shm_route(r);
  if (ctx == NULL || ctx->request.decision.user_hash == 0) {
    v->not_found = 1;
    return NGX_OK;
  }
  u_char *p = ngx_pnalloc(r->pool, NGX_INT32_LEN);
  if (p == NULL) return NGX_ERROR;
  v->len = ngx_sprintf(p, "%uD", (uint32_t)(ctx->request.decision.user_hash % 10000)) - p;
  v->data = p;
  v->valid = 1;
  v->no_cacheable = 0;
  v->not_found = 0;
  return NGX_OK;
}

static ngx_int_t ngx_http_canary_shm_add_variables(ngx_conf_t *cf) {
  ngx_http_variable_t *v = ngx_http_add_variable(cf, &(ngx_str_t)ngx_string("canary_version"), NGX_HTTP_VAR_NOCACHEABLE);
  if (v == NULL) return NGX_ERROR;
  v->get_handler = ngx_http_canary_shm_version_variable;
  v = ngx_http_add_variable(cf, &(ngx_str_t)ngx_string("canary_bucket"), NGX_HTTP_VAR_NOCACHEABLE);
  if (v == NULL) return NGX_ERROR;
  v->get_handler = ngx_http_canary_shm_bucket_variable;
  return NGX_OK;
}

static ngx_int_t ngx_http_canary_shm_init(ngx_conf_t *cf) {
  ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
  ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
  if (h == NULL) return NGX_ERROR;
  *h = ngx_http_canary_shm_access_handler;
  h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
  if (h == NULL) return NGX_ERROR;
  *h = ngx_http_canary_shm_log_handler;
  return NGX_OK;
}

/* Each worker attaches once, after the fork: a segment that is missing or not valid fails open. */
static ngx_int_t ngx_http_canary_shm_init_process(ngx_cycle_t *cycle) {
  ngx_http_canary_shm_main_conf_t *mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_canary_shm_module);
  if (mcf == NULL || mcf->segment.len == 0) return NGX_OK;
  char name[256];
  if (mcf->segment.len >= sizeof(name)) {
    ngx_log_error(NGX_LOG_ERR, cycle->log, 0, "canary_shm_segment \"%V\" is too long: routing legacy", &mcf->segment);
    return NGX_OK;
  }
  ngx_memcpy(name, mcf->segment.data, mcf->segment.len);
  name[mcf->segment.len] = '\0';
  ngx_http_canary_shm_attached = canary_attach(name) == CANARY_OK;
  if (!ngx_http_canary_shm_attached)
    ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                  "canary_shm_segment \"%V\" cannot be attached: routing every user legacy, recording nothing", &mcf->segment);
  return NGX_OK;
}

static void *ngx_http_canary_shm_create_main_conf(ngx_conf_t *cf) {
  return ngx_pcalloc(cf->pool, sizeof(ngx_http_canary_shm_main_conf_t));
}

static void *ngx_http_canary_shm_create_loc_conf(ngx_conf_t *cf) {
  ngx_http_canary_shm_loc_conf_t *conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_canary_shm_loc_conf_t));
  if (conf == NULL) return NULL;
  conf->record = NGX_CONF_UNSET;
  return conf;
}

static char *ngx_http_canary_shm_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child) {
  (void)cf;
  ngx_http_canary_shm_loc_conf_t *prev = parent;
  ngx_http_canary_shm_loc_conf_t *conf = child;
  if (conf->user_id == NULL) conf->user_id = prev->user_id;
  if (conf->endpoint == NULL) conf->endpoint = prev->endpoint;
  ngx_conf_merge_value(conf->record, prev->record, 1);
  return NGX_CONF_OK;
}
