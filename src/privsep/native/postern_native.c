/*
 * postern_native: the few system calls Node 20 does not expose.  The contract
 * is src/privsep/native.ts; the reasons are in docs/architecture.md.
 *
 * Every call is synchronous on the calling JS thread.  For the credential
 * calls that is the point (glibc applies setresuid/setresgid to every thread
 * of the process, libuv's pool included, before returning); for the lock
 * calls it means a waiting lock stalls the event loop, so callers that cannot
 * afford that use the non-blocking forms.
 *
 * Failures become errors shaped like Node's own system errors (code, errno,
 * syscall), errno negated as libuv does so util.getSystemErrorName() accepts
 * it.  Bad arguments are TypeErrors thrown before any call is made: a coerced
 * NaN or "0" in a privilege-dropping path must never reach the kernel.
 * Returning NULL from a callback gives JS `undefined` (or the pending error).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <syslog.h>
#include <unistd.h>

#define MAX_SAFE 9007199254740991LL /* Number.MAX_SAFE_INTEGER: larger values are not exact */
#define MAX_ID 4294967294LL         /* (uid_t)-1 is reserved to mean "unchanged" */
#define ARGS(n) size_t argc = (n); napi_value argv[(n)]; \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL
#define TRY(expr) do { if (!(expr)) return NULL; } while (0)

/* The errnos these calls can plausibly return; any other is named E<n>. */
#define ERRNOS X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(EBADF) \
  X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY) X(EEXIST) X(ENODEV) \
  X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(EFBIG) X(ENOSPC) \
  X(EROFS) X(EPIPE) X(ERANGE) X(EDEADLK) X(ENOLCK) X(ENOSYS) X(EOVERFLOW) \
  X(ENOTSOCK) X(EOPNOTSUPP) X(ENOTCONN) X(EADDRINUSE) X(EADDRNOTAVAIL) \
  X(EAFNOSUPPORT) X(ENAMETOOLONG) X(ECONNREFUSED) X(ECONNRESET) X(ETIMEDOUT)

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char code[16], msg[256];
  napi_value js_code, js_msg, js_errno, js_syscall, error;
  switch (err) {
#define X(e) case e: snprintf(code, sizeof code, "%s", #e); break;
    ERRNOS
#undef X
    default: snprintf(code, sizeof code, "E%d", err);
  }
  snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(err), syscall);
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) == napi_ok &&
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) == napi_ok &&
      napi_create_error(env, js_code, js_msg, &error) == napi_ok &&
      napi_create_int32(env, -err, &js_errno) == napi_ok &&
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall) == napi_ok &&
      napi_set_named_property(env, error, "errno", js_errno) == napi_ok &&
      napi_set_named_property(env, error, "syscall", js_syscall) == napi_ok)
    napi_throw(env, error);
  return NULL;
}

static bool type_error(napi_env env, const char *name, const char *expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "The \"%s\" argument must be %s", name, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

/* An integral Number in [lo, hi]; `undefined` stands for 0 when `optional`. */
static bool int_arg(napi_env env, napi_value v, const char *name, int64_t lo, int64_t hi, bool optional,
                    int64_t *out) {
  napi_valuetype t;
  double d = 0;
  char expected[64];
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if ((t == napi_undefined && optional) ||
      (t == napi_number && napi_get_value_double(env, v, &d) == napi_ok && d == trunc(d) && d >= lo && d <= hi)) {
    *out = (int64_t)d;
    return true;
  }
  snprintf(expected, sizeof expected, "an integer from %lld to %lld", (long long)lo, (long long)hi);
  return type_error(env, name, expected);
}

static bool bool_arg(napi_env env, napi_value v, const char *name, bool *out) {
  return napi_get_value_bool(env, v, out) == napi_ok || type_error(env, name, "a boolean");
}

/* Index of string `v` in the NULL-terminated `names`. */
static bool enum_arg(napi_env env, napi_value v, const char *name, const char *const *names,
                     const char *expected, int *index) {
  char buf[16];
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) == napi_ok && len < sizeof buf - 1)
    for (int i = 0; names[i]; i++)
      if (strcmp(buf, names[i]) == 0) return (*index = i), true;
  return type_error(env, name, expected);
}

/* A JS string as a malloc'd C string, or NULL with an error pending. */
static char *string_arg(napi_env env, napi_value v, const char *name) {
  size_t len;
  char *s = NULL;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) type_error(env, name, "a string");
  else if (!(s = malloc(len + 1))) throw_errno(env, "malloc", ENOMEM);
  else napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value js_bool(napi_env env, bool b) {
  napi_value v;
  return napi_get_boolean(env, b, &v) == napi_ok ? v : NULL;
}

static bool set_num(napi_env env, napi_value obj, const char *key, double d) {
  napi_value v;
  return napi_create_double(env, d, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static napi_value PeerCredentials(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  struct ucred cred;
  socklen_t len = sizeof cred;
  napi_value obj;
  TRY(int_arg(env, argv[0], "fd", 0, INT_MAX, false, &fd));
  if (getsockopt((int)fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "getsockopt", errno);
  TRY(napi_create_object(env, &obj) == napi_ok && set_num(env, obj, "pid", cred.pid) &&
      set_num(env, obj, "uid", cred.uid) && set_num(env, obj, "gid", cred.gid));
  return obj;
}

/* setresuid/setresgid; -1 keeps an id unchanged, as in C. */
static napi_value set_ids(napi_env env, napi_callback_info info, bool gid) {
  ARGS(3);
  static const char *const names[2][3] = {{"ruid", "euid", "suid"}, {"rgid", "egid", "sgid"}};
  int64_t id[3];
  for (int i = 0; i < 3; i++) TRY(int_arg(env, argv[i], names[gid][i], -1, MAX_ID, false, &id[i]));
  if ((gid ? setresgid((gid_t)id[0], (gid_t)id[1], (gid_t)id[2]) : setresuid((uid_t)id[0], (uid_t)id[1], (uid_t)id[2])))
    return throw_errno(env, gid ? "setresgid" : "setresuid", errno);
  return NULL;
}
static napi_value Setresuid(napi_env env, napi_callback_info info) { return set_ids(env, info, false); }
static napi_value Setresgid(napi_env env, napi_callback_info info) { return set_ids(env, info, true); }

static napi_value get_ids(napi_env env, bool gid) {
  unsigned id[3]; /* uid_t and gid_t are both unsigned int on Linux */
  napi_value arr, v;
  if (gid ? getresgid(&id[0], &id[1], &id[2]) : getresuid(&id[0], &id[1], &id[2]))
    return throw_errno(env, gid ? "getresgid" : "getresuid", errno);
  TRY(napi_create_array_with_length(env, 3, &arr) == napi_ok);
  for (uint32_t i = 0; i < 3; i++)
    TRY(napi_create_uint32(env, id[i], &v) == napi_ok && napi_set_element(env, arr, i, v) == napi_ok);
  return arr;
}
static napi_value Getresuid(napi_env env, napi_callback_info info) { (void)info; return get_ids(env, false); }
static napi_value Getresgid(napi_env env, napi_callback_info info) { (void)info; return get_ids(env, true); }

static napi_value Setgroups(napi_env env, napi_callback_info info) {
  ARGS(1);
  bool is_array;
  uint32_t n;
  gid_t *gids;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    type_error(env, "gids", "an array");
    return NULL;
  }
  TRY(napi_get_array_length(env, argv[0], &n) == napi_ok);
  if (n > (uint32_t)sysconf(_SC_NGROUPS_MAX)) return throw_errno(env, "setgroups", EINVAL);
  if (!(gids = malloc((n ? n : 1) * sizeof *gids))) return throw_errno(env, "malloc", ENOMEM);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int64_t id;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || !int_arg(env, v, "gids[]", 0, MAX_ID, false, &id)) {
      free(gids);
      return NULL;
    }
    gids[i] = (gid_t)id;
  }
  int rc = setgroups(n, gids), err = errno;
  free(gids);
  return rc ? throw_errno(env, "setgroups", err) : NULL;
}

static napi_value Flock(napi_env env, napi_callback_info info) {
  ARGS(3);
  static const char *const names[] = {"shared", "exclusive", "unlock", NULL};
  static const int ops[] = {LOCK_SH, LOCK_EX, LOCK_UN};
  int64_t fd;
  int op, rc;
  bool nb;
  TRY(int_arg(env, argv[0], "fd", 0, INT_MAX, false, &fd) &&
      enum_arg(env, argv[1], "operation", names, "'shared', 'exclusive' or 'unlock'", &op) &&
      bool_arg(env, argv[2], "nonBlocking", &nb));
  /* A signal handler interrupting a wait is no reason to give up the wait. */
  while ((rc = flock((int)fd, ops[op] | (nb ? LOCK_NB : 0))) && errno == EINTR) {}
  if (rc && !(nb && errno == EWOULDBLOCK)) return throw_errno(env, "flock", errno);
  return js_bool(env, rc == 0);
}

static const char *const lock_names[] = {"read", "write", "unlock", NULL};
static const short lock_types[] = {F_RDLCK, F_WRLCK, F_UNLCK};

/* fd, type and the optional byte range shared by recordLock and recordLockHolder. */
static bool lock_args(napi_env env, napi_value *argv, size_t range_at, const char *expected, bool unlock_ok,
                      int *fd, struct flock *fl) {
  int64_t n, start, len;
  int type;
  if (!int_arg(env, argv[0], "fd", 0, INT_MAX, false, &n) || !enum_arg(env, argv[1], "type", lock_names, expected, &type))
    return false;
  if (lock_types[type] == F_UNLCK && !unlock_ok) return type_error(env, "type", expected);
  if (!int_arg(env, argv[range_at], "start", 0, MAX_SAFE, true, &start) ||
      !int_arg(env, argv[range_at + 1], "length", 0, MAX_SAFE, true, &len))
    return false;
  *fd = (int)n;
  *fl = (struct flock){.l_type = lock_types[type], .l_whence = SEEK_SET, .l_start = start, .l_len = len};
  return true;
}

static napi_value RecordLock(napi_env env, napi_callback_info info) {
  ARGS(5);
  struct flock fl;
  int fd, rc;
  bool wait;
  TRY(lock_args(env, argv, 3, "'read', 'write' or 'unlock'", true, &fd, &fl) && bool_arg(env, argv[2], "wait", &wait));
  while ((rc = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl)) && errno == EINTR) {}
  /* POSIX lets F_SETLK report a conflicting lock as either EAGAIN or EACCES. */
  if (rc && !(!wait && (errno == EAGAIN || errno == EACCES))) return throw_errno(env, "fcntl", errno);
  return js_bool(env, rc == 0);
}

/*
 * Open-file-description locks (F_OFD_SETLK, F_OFD_SETLKW with `wait`): like
 * flock, they belong to the descriptor, not the process, so two descriptors
 * of one process conflict and closing an unrelated descriptor of the same
 * file releases nothing.  Without `wait`, a lock held elsewhere answers false.
 */
static napi_value DescriptionLock(napi_env env, napi_callback_info info) {
  ARGS(5);
  struct flock fl;
  int fd, rc;
  bool wait = false;
  napi_valuetype wait_type;
  TRY(lock_args(env, argv, 2, "'read', 'write' or 'unlock'", true, &fd, &fl));
  TRY(napi_typeof(env, argv[4], &wait_type) == napi_ok);
  if (wait_type != napi_undefined) TRY(bool_arg(env, argv[4], "wait", &wait));
  fl.l_pid = 0; /* required by F_OFD_* */
  while ((rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) && errno == EINTR) {}
  if (rc && (wait || (errno != EAGAIN && errno != EACCES))) return throw_errno(env, "fcntl", errno);
  return js_bool(env, rc == 0);
}

static napi_value RecordLockHolder(napi_env env, napi_callback_info info) {
  ARGS(4);
  struct flock fl;
  int fd;
  napi_value obj, type;
  TRY(lock_args(env, argv, 2, "'read' or 'write'", false, &fd, &fl));
  if (fcntl(fd, F_GETLK, &fl)) return throw_errno(env, "fcntl", errno);
  if (fl.l_type == F_UNLCK) return napi_get_null(env, &obj) == napi_ok ? obj : NULL;
  TRY(napi_create_object(env, &obj) == napi_ok && set_num(env, obj, "pid", fl.l_pid) &&
      napi_create_string_utf8(env, fl.l_type == F_WRLCK ? "write" : "read", NAPI_AUTO_LENGTH, &type) == napi_ok &&
      napi_set_named_property(env, obj, "type", type) == napi_ok);
  return obj;
}

static const char *const rlimit_names[] = {"core", "cpu", "data", "fsize", "nofile", "nproc", "as", "stack", "memlock", NULL};
static const int rlimits[] = {RLIMIT_CORE, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_NOFILE,
                              RLIMIT_NPROC, RLIMIT_AS, RLIMIT_STACK, RLIMIT_MEMLOCK};
#define RLIMIT_EXPECTED "'core', 'cpu', 'data', 'fsize', 'nofile', 'nproc', 'as', 'stack' or 'memlock'"

/* JS Infinity stands for RLIM_INFINITY, both ways. */
static bool limit_arg(napi_env env, napi_value v, const char *name, rlim_t *out) {
  double d;
  int64_t n;
  if (napi_get_value_double(env, v, &d) == napi_ok && d == INFINITY) return (*out = RLIM_INFINITY), true;
  if (!int_arg(env, v, name, 0, MAX_SAFE, false, &n)) return false;
  return (*out = (rlim_t)n), true;
}

static napi_value Setrlimit(napi_env env, napi_callback_info info) {
  ARGS(3);
  int res;
  struct rlimit rl;
  TRY(enum_arg(env, argv[0], "resource", rlimit_names, RLIMIT_EXPECTED, &res) &&
      limit_arg(env, argv[1], "soft", &rl.rlim_cur) && limit_arg(env, argv[2], "hard", &rl.rlim_max));
  return setrlimit(rlimits[res], &rl) ? throw_errno(env, "setrlimit", errno) : NULL;
}

static napi_value Getrlimit(napi_env env, napi_callback_info info) {
  ARGS(1);
  int res;
  struct rlimit rl;
  napi_value obj;
  TRY(enum_arg(env, argv[0], "resource", rlimit_names, RLIMIT_EXPECTED, &res));
  if (getrlimit(rlimits[res], &rl)) return throw_errno(env, "getrlimit", errno);
  TRY(napi_create_object(env, &obj) == napi_ok &&
      set_num(env, obj, "soft", rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur) &&
      set_num(env, obj, "hard", rl.rlim_max == RLIM_INFINITY ? INFINITY : (double)rl.rlim_max));
  return obj;
}

static napi_value SetNoNewPrivs(napi_env env, napi_callback_info info) {
  (void)info;
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? throw_errno(env, "prctl", errno) : NULL;
}

/*
 * openlog(3) keeps the ident pointer instead of copying the string, so our
 * copy must outlive every later syslog().  It is freed only once a new
 * openlog() has replaced it, never in closelog(): not every libc forgets the
 * pointer there, and a syslog() after closelog() reopens the log with it.
 */
static char *log_ident;

static napi_value Openlog(napi_env env, napi_callback_info info) {
  ARGS(3);
  int64_t option, facility;
  char *ident;
  TRY(int_arg(env, argv[1], "option", 0, INT_MAX, false, &option) &&
      int_arg(env, argv[2], "facility", 0, INT_MAX, false, &facility) && (ident = string_arg(env, argv[0], "ident")));
  openlog(ident, (int)option, (int)facility);
  free(log_ident);
  log_ident = ident;
  return NULL;
}

static napi_value Syslog(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t priority;
  char *message;
  TRY(int_arg(env, argv[0], "priority", 0, INT_MAX, false, &priority) && (message = string_arg(env, argv[1], "message")));
  syslog((int)priority, "%s", message); /* the message is data, never a format */
  free(message);
  return NULL;
}

static napi_value Closelog(napi_env env, napi_callback_info info) {
  (void)env, (void)info;
  closelog();
  return NULL;
}

/*
 * listenSocket(family, address, port, backlog) -> fd: a listening socket the
 * caller never accepts on.  The master binds as root and hands the descriptor
 * to unprivileged workers, which accept; a Node server in the master would
 * accept connections itself.  family is "inet", "inet6" (v6 only) or "unix"
 * (address is the path; port is ignored).  The descriptor is close-on-exec:
 * it reaches a child only where the spawner places it.
 */
static napi_value ListenSocket(napi_env env, napi_callback_info info) {
  static const char *const families[] = {"inet", "inet6", "unix", NULL};
  ARGS(4);
  int family;
  int64_t port, backlog;
  union { struct sockaddr sa; struct sockaddr_in in; struct sockaddr_in6 in6; struct sockaddr_un un; } addr;
  socklen_t addrlen;
  char *address;
  int fd, one = 1;
  napi_value result;
  TRY(enum_arg(env, argv[0], "family", families, "\"inet\", \"inet6\" or \"unix\"", &family));
  TRY(int_arg(env, argv[2], "port", 0, 65535, false, &port));
  TRY(int_arg(env, argv[3], "backlog", 1, INT_MAX, false, &backlog));
  TRY(address = string_arg(env, argv[1], "address"));
  memset(&addr, 0, sizeof addr);
  if (family == 2) {
    if (strlen(address) >= sizeof addr.un.sun_path) { free(address); return throw_errno(env, "bind", ENAMETOOLONG); }
    addr.un.sun_family = AF_UNIX;
    strcpy(addr.un.sun_path, address);
    addrlen = sizeof addr.un;
  } else if (family == 0) {
    addr.in.sin_family = AF_INET;
    addr.in.sin_port = htons((uint16_t)port);
    addrlen = sizeof addr.in;
    if (inet_pton(AF_INET, address, &addr.in.sin_addr) != 1) { free(address); return type_error(env, "address", "an IPv4 address"), NULL; }
  } else {
    addr.in6.sin6_family = AF_INET6;
    addr.in6.sin6_port = htons((uint16_t)port);
    addrlen = sizeof addr.in6;
    if (inet_pton(AF_INET6, address, &addr.in6.sin6_addr) != 1) { free(address); return type_error(env, "address", "an IPv6 address"), NULL; }
  }
  free(address);
  fd = socket(addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if ((family != 2 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ||
      (family == 1 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt", err);
  }
  if (bind(fd, &addr.sa, addrlen) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  if (listen(fd, (int)backlog) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "listen", err);
  }
  TRY(napi_create_int32(env, fd, &result) == napi_ok);
  return result;
}

/*
 * connectUnix(path) -> fd: a connected, blocking AF_UNIX stream socket,
 * close-on-exec.  The MSP (`sendmail -t`) talks to the daemon's submission
 * socket with plain blocking reads and writes: Node's net module and event
 * loop cost a short-lived command more start-up time than the submission
 * itself (docs/architecture.md, "Start-up cost").  A connect interrupted by
 * a signal goes on in the kernel; its outcome is waited for, not retried.
 */
static napi_value ConnectUnix(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un addr;
  char *path;
  int fd, err = 0;
  napi_value result;
  TRY(path = string_arg(env, argv[0], "path"));
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) { free(path); return throw_errno(env, "connect", ENAMETOOLONG); }
  strcpy(addr.sun_path, path);
  free(path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    err = errno;
    if (err == EINTR) {
      struct pollfd p = {fd, POLLOUT, 0};
      socklen_t len = sizeof err;
      while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
  }
  if (err != 0) {
    close(fd);
    return throw_errno(env, "connect", err);
  }
  TRY(napi_create_int32(env, fd, &result) == napi_ok);
  return result;
}

/* shutdownWrite(fd): shutdown(fd, SHUT_WR), the end of what this side sends. */
static napi_value ShutdownWrite(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  TRY(int_arg(env, argv[0], "fd", 0, INT_MAX, false, &fd));
  return shutdown((int)fd, SHUT_WR) ? throw_errno(env, "shutdown", errno) : NULL;
}

/*
 * waitReadable(fd, timeoutMs) -> bool: poll(2) for input (end of file and
 * errors count: the next read reports them); -1 waits for ever.  False when
 * the time ran out.  A signal does not end the wait early.
 */
static napi_value WaitReadable(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd, timeout;
  int rc;
  TRY(int_arg(env, argv[0], "fd", 0, INT_MAX, false, &fd));
  TRY(int_arg(env, argv[1], "timeoutMs", -1, INT_MAX, false, &timeout));
  struct pollfd p = {(int)fd, POLLIN, 0};
  while ((rc = poll(&p, 1, (int)timeout)) < 0 && errno == EINTR) {}
  if (rc < 0) return throw_errno(env, "poll", errno);
  if (rc > 0 && (p.revents & POLLNVAL)) return throw_errno(env, "poll", EBADF);
  return js_bool(env, rc > 0);
}

/*
 * exitNow(status): _exit(2).  For a finished submission: everything it wrote
 * went out synchronously, and exit(3)'s handlers (V8's, OpenSSL's) and
 * Node's teardown only cost time.
 */
static napi_value ExitNow(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t status;
  TRY(int_arg(env, argv[0], "status", 0, 255, false, &status));
  _exit((int)status);
}

static napi_value Init(napi_env env, napi_value exports) {
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
  static const napi_property_descriptor fns[] = {
      FN("peerCredentials", PeerCredentials), FN("setresuid", Setresuid), FN("setresgid", Setresgid),
      FN("getresuid", Getresuid), FN("getresgid", Getresgid), FN("setgroups", Setgroups),
      FN("flock", Flock), FN("recordLock", RecordLock), FN("descriptionLock", DescriptionLock), FN("recordLockHolder", RecordLockHolder),
      FN("setrlimit", Setrlimit), FN("getrlimit", Getrlimit), FN("setNoNewPrivs", SetNoNewPrivs),
      FN("listenSocket", ListenSocket), FN("connectUnix", ConnectUnix), FN("shutdownWrite", ShutdownWrite),
      FN("waitReadable", WaitReadable), FN("openlog", Openlog), FN("syslog", Syslog), FN("closelog", Closelog),
      FN("exitNow", ExitNow)};
#undef FN
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok ? exports : NULL;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
