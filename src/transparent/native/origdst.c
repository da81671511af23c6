/*
 * origdst: a tiny N-API addon that recovers the original destination of a TCP
 * connection that iptables REDIRECTed to one of our listeners.
 *
 * Why an addon: Node exposes no getsockopt(). The kernel keeps the pre-NAT
 * destination in the connection's conntrack entry and hands it back through
 * getsockopt(SOL_IP, SO_ORIGINAL_DST) (IPv4) or
 * getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST) (IPv6) on the accepted socket.
 * That is the same mechanism Envoy's original_dst listener filter, Linkerd
 * and Consul's transparent proxy rely on. Reading /proc/net/nf_conntrack or a
 * netlink dump instead would cost a table scan or a round trip per connection.
 *
 * Plain node_api.h (no node-addon-api), NAPI_VERSION 8: ABI-stable, so one
 * build works across Node majors.
 *
 * JS surface (wrapped by ../original-dst.ts, which is the only caller):
 *   setState(state: Int32Array(3))  once, after loading: where results go.
 *   getOriginalDst(fd: number) -> string | undefined
 *     the original destination address; port, family (4 | 6) and
 *     redirected (0 | 1) are written to state[0..2]. Writing numbers into a
 *     shared typed array and returning one string keeps the per-call cost
 *     to two syscalls and one string: building a result object from C with
 *     napi_set_named_property() cost more than the syscalls themselves.
 *     undefined   : the kernel has no conntrack entry for the socket (ENOENT),
 *                   i.e. nothing was NATed, or conntrack is not active here.
 *     redirected 0: the original destination equals the socket's own local
 *                   address (a direct connection, not a redirect).
 *   Throws an Error with `code` = errno name for anything else (EBADF, ...).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif

#define CHECK(env, call)                                                       \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error((env), "EADDON", "origdst: N-API call failed: " #call); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  const char *name = "EUNKNOWN";
  switch (err) {
    case EBADF: name = "EBADF"; break;
    case ENOTSOCK: name = "ENOTSOCK"; break;
    case ENOPROTOOPT: name = "ENOPROTOOPT"; break;
    case EINVAL: name = "EINVAL"; break;
    case EPERM: name = "EPERM"; break;
    case ENOTCONN: name = "ENOTCONN"; break;
    default: break;
  }
  snprintf(msg, sizeof msg, "origdst: %s failed: %s", what, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

/* Where results go: an Int32Array(3) owned by JS, kept alive by a reference. */
typedef struct {
  napi_ref ref;
  int32_t *slots;
} state_t;

static void free_state(napi_env env, void *data, void *hint) {
  state_t *st = data;
  if (st->ref != NULL) napi_delete_reference(env, st->ref);
  free(st);
}

static napi_value set_state(napi_env env, napi_callback_info info) {
  size_t argc = 1, length = 0;
  napi_value argv[1];
  napi_typedarray_type type;
  void *data = NULL;
  state_t *st;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array || length < 3) {
    napi_throw_type_error(env, "EINVAL", "origdst: setState expects an Int32Array(3)");
    return NULL;
  }
  CHECK(env, napi_get_instance_data(env, (void **)&st));
  if (st->ref != NULL) CHECK(env, napi_delete_reference(env, st->ref));
  CHECK(env, napi_create_reference(env, argv[0], 1, &st->ref));
  st->slots = data;
  return NULL;
}

static napi_value make_result(napi_env env, const char *addr, unsigned port,
                              int family, int redirected) {
  state_t *st;
  napi_value v;
  CHECK(env, napi_get_instance_data(env, (void **)&st));
  if (st->slots == NULL) {
    napi_throw_error(env, "EINVAL", "origdst: call setState() first");
    return NULL;
  }
  st->slots[0] = (int32_t)port;
  st->slots[1] = family;
  st->slots[2] = redirected;
  CHECK(env, napi_create_string_latin1(env, addr, NAPI_AUTO_LENGTH, &v));
  return v;
}

static napi_value get_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "origdst: expected a non-negative fd");
    return NULL;
  }

  /* The local address tells us which table to ask, and lets us tell a
     redirected connection from a direct one. */
  struct sockaddr_storage local;
  socklen_t llen = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0)
    return throw_errno(env, "getsockname", errno);

  int v4 = local.ss_family == AF_INET;
  struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)&local;
  if (local.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr)) v4 = 1;
  else if (local.ss_family != AF_INET && local.ss_family != AF_INET6)
    return throw_errno(env, "origdst (not an IP socket)", EINVAL);

  char text[INET6_ADDRSTRLEN];
  napi_value undef;
  if (v4) {
    struct sockaddr_in orig;
    socklen_t olen = sizeof orig;
    memset(&orig, 0, sizeof orig);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &olen) != 0) {
      if (errno == ENOENT) { CHECK(env, napi_get_undefined(env, &undef)); return undef; }
      return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
    }
    inet_ntop(AF_INET, &orig.sin_addr, text, sizeof text);
    const void *laddr = local.ss_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)&local)->sin_addr
                            : (const void *)&l6->sin6_addr.s6_addr[12];
    in_port_t lport = local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
                                                 : l6->sin6_port;
    int same = memcmp(laddr, &orig.sin_addr, 4) == 0 && lport == orig.sin_port;
    return make_result(env, text, ntohs(orig.sin_port), 4, !same);
  }

  struct sockaddr_in6 orig6;
  socklen_t olen6 = sizeof orig6;
  memset(&orig6, 0, sizeof orig6);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig6, &olen6) != 0) {
    if (errno == ENOENT) { CHECK(env, napi_get_undefined(env, &undef)); return undef; }
    return throw_errno(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", errno);
  }
  inet_ntop(AF_INET6, &orig6.sin6_addr, text, sizeof text);
  int same6 = memcmp(&l6->sin6_addr, &orig6.sin6_addr, 16) == 0 && l6->sin6_port == orig6.sin6_port;
  return make_result(env, text, ntohs(orig6.sin6_port), 6, !same6);
}

NAPI_MODULE_INIT() {
  state_t *st = calloc(1, sizeof *st);
  napi_value fn;
  if (st == NULL) {
    napi_throw_error(env, "ENOMEM", "origdst: out of memory");
    return NULL;
  }
  CHECK(env, napi_set_instance_data(env, st, free_state, NULL));
  CHECK(env, napi_create_function(env, "setState", NAPI_AUTO_LENGTH, set_state, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "setState", fn));
  CHECK(env, napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, get_original_dst, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "getOriginalDst", fn));
  return exports;
}
