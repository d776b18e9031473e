// spfs's binding to libfuse3's low-level API (Node-API, C). One libfuse thread reads requests from /dev/fuse; each
// handler copies what it was given into a request record and posts it to JavaScript through a thread-safe function,
// then returns at once: no libfuse thread ever waits for JavaScript. JavaScript answers later through the reply*
// functions (fuse_reply_* may be called from any thread). Kernel cache invalidations go through a queue to a thread of
// their own, because a notification can wait on a kernel lock that an operation JavaScript has not answered yet holds.
//
// A request is named to JavaScript by its fuse_req_t as a double: user-space pointers on x86_64 and arm64 stay below
// 2^53 (checked per request; one that doesn't fit is answered EIO here).
#define FUSE_USE_VERSION 35
#define NAPI_VERSION 8
#include <errno.h>
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum op {
  OP_INIT = 1,
  OP_LOOKUP,
  OP_FORGET,
  OP_GETATTR,
  OP_SETATTR,
  OP_OPENDIR,
  OP_READDIR,
  OP_READDIRPLUS,
  OP_RELEASEDIR,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_CREATE,
  OP_MKDIR,
  OP_UNLINK,
  OP_RMDIR,
  OP_RENAME,
  OP_STATFS,
  OP_REFUSED, // symlink, link, mknod: EPERM decided in JavaScript (name and errno table live there)
  OP_EXIT,    // the session loop ended (unmounted, or the connection aborted)
  OP_GETXATTR,
  OP_LISTXATTR,
  OP_SETXATTR,
  OP_REMOVEXATTR,
};

// What one request carries. Unused fields are zero.
typedef struct request {
  int op;
  fuse_req_t req;
  uint64_t ino, ino2, fh, nlookup;
  int64_t off, size;
  int flags, valid, datasync;
  uint32_t mode, uid, gid, pid;
  double atime_ms, mtime_ms;
  char *name, *name2;
  char *data;
  size_t datalen;
  int slot; // a write's bytes are in the session's write slot `slot - 1`; 0: none (they are in `data`, or absent)
} request_t;

enum notify_kind { NOTIFY_INODE = 1, NOTIFY_ENTRY = 2, NOTIFY_DELETE = 3 };

typedef struct notification {
  struct notification *next;
  int kind;
  uint64_t ino, parent;
  char *name;
} notification_t;

// A write's bytes are copied into one of these instead of fresh memory: a fresh Buffer per request (one per 128 KiB
// a program writes) made V8 count 256 MiB of new external memory per 256 MiB file and run a full GC every 40 ms.
// Each slot is a JavaScript ArrayBuffer made once at mount; the request's Buffer is a view of it, and the slot is
// free again when the request is answered (JavaScript is done with the bytes by then).
#define WRITE_SLOTS 8

typedef struct write_slot {
  char *mem;
  napi_ref buffer;
  fuse_req_t owner; // NULL: free
} write_slot_t;

typedef struct session {
  struct fuse_session *se;
  write_slot_t slots[WRITE_SLOTS];
  size_t slot_size;
  pthread_mutex_t slot_mu;
  napi_threadsafe_function tsfn;
  pthread_t loop_thread, notify_thread;
  int loop_started, notify_started;
  unsigned max_write, max_readahead, max_background;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  notification_t *head, *tail;
  int notify_stop;
  int loop_rc;
  int destroyed;
} session_t;

#define STAT_FIELDS 10 // nodeid, st_ino, mode, nlink, uid, gid, size, atime ms, mtime ms, ctime ms

// ---- libfuse thread: requests to JavaScript ----------------------------------------------------------------------

// A free write slot for `req`'s `size` bytes (its index + 1), or 0 when all are taken (the bytes then go to fresh
// memory as before).
static int take_slot(session_t *s, fuse_req_t req, size_t size) {
  if (size > s->slot_size) return 0;
  int got = 0;
  pthread_mutex_lock(&s->slot_mu);
  for (int i = 0; i < WRITE_SLOTS && got == 0; i++)
    if (s->slots[i].mem != NULL && s->slots[i].owner == NULL) {
      s->slots[i].owner = req;
      got = i + 1;
    }
  pthread_mutex_unlock(&s->slot_mu);
  return got;
}

// Called just before `req` is answered, whatever the answer: its write slot (if it has one) is free again.
static void release_slot(fuse_req_t req) {
  if (req == NULL) return;
  session_t *s = fuse_req_userdata(req);
  if (s == NULL) return;
  pthread_mutex_lock(&s->slot_mu);
  for (int i = 0; i < WRITE_SLOTS; i++)
    if (s->slots[i].owner == req) s->slots[i].owner = NULL;
  pthread_mutex_unlock(&s->slot_mu);
}

static void reply_err_now(fuse_req_t req, int err) {
  release_slot(req);
  fuse_reply_err(req, err);
}

static request_t *new_request(fuse_req_t req, int op) {
  request_t *r = calloc(1, sizeof(request_t));
  if (r == NULL) return NULL;
  r->op = op;
  r->req = req;
  if (req != NULL) {
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    r->uid = ctx->uid;
    r->gid = ctx->gid;
    r->pid = ctx->pid;
  }
  return r;
}

static void free_request(request_t *r) {
  if (r == NULL) return;
  free(r->name);
  free(r->name2);
  free(r->data);
  free(r);
}

static void post(fuse_req_t req, request_t *r) {
  session_t *s = fuse_req_userdata(req);
  if (r == NULL || ((uintptr_t)req >> 53) != 0 ||
      napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_nonblocking) != napi_ok) {
    free_request(r);
    reply_err_now(req, r == NULL ? ENOMEM : EIO);
  }
}

static char *dup_name(const char *name) { return name == NULL ? NULL : strdup(name); }

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  session_t *s = userdata;
  conn->max_write = s->max_write;
  if (s->max_readahead < conn->max_readahead) conn->max_readahead = s->max_readahead;
  conn->max_background = s->max_background;
  conn->congestion_threshold = s->max_background * 3 / 4;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  // Read replies name a descriptor (replyFd): the kernel splices the bytes from the cache file's pages into the
  // reader's, one copy in the kernel and none through this process. Not moved: a moved page would leave the cache
  // file's page cache, and its next reader (the hash check, another handle) would go to the disk. Requests are
  // still read into memory (the write handler wants bytes, and posts them to JavaScript).
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_MOVE);
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  request_t *r = new_request(req, OP_LOOKUP);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
  }
  post(req, r);
}

// Forgets need no answer from JavaScript: answered here, counted there.
static void post_forget(session_t *s, fuse_ino_t ino, uint64_t nlookup) {
  request_t *r = new_request(NULL, OP_FORGET);
  if (r == NULL) return;
  r->ino = ino;
  r->nlookup = nlookup;
  if (napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_nonblocking) != napi_ok) free_request(r);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  session_t *s = fuse_req_userdata(req);
  post_forget(s, ino, nlookup);
  fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  session_t *s = fuse_req_userdata(req);
  for (size_t i = 0; i < count; i++) post_forget(s, forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_GETATTR);
  if (r) {
    r->ino = ino;
    r->fh = fi ? fi->fh : 0;
    r->flags = fi ? 1 : 0;
  }
  post(req, r);
}

static double ms_of(const struct timespec *t) { return (double)t->tv_sec * 1000.0 + (double)t->tv_nsec / 1e6; }

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_SETATTR);
  if (r) {
    r->ino = ino;
    r->fh = fi ? fi->fh : 0;
    r->flags = fi ? 1 : 0;
    r->valid = to_set;
    r->mode = attr->st_mode;
    r->uid = attr->st_uid; // the caller's uid/gid are not needed for setattr: these are the values to set
    r->gid = attr->st_gid;
    r->size = attr->st_size;
    r->atime_ms = ms_of(&attr->st_atim);
    r->mtime_ms = ms_of(&attr->st_mtim);
  }
  post(req, r);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_OPENDIR);
  if (r) {
    r->ino = ino;
    r->flags = fi->flags;
  }
  post(req, r);
}

static void post_readdir(fuse_req_t req, int op, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  request_t *r = new_request(req, op);
  if (r) {
    r->ino = ino;
    r->size = (int64_t)size;
    r->off = off;
    r->fh = fi->fh;
  }
  post(req, r);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  post_readdir(req, OP_READDIR, ino, size, off, fi);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  post_readdir(req, OP_READDIRPLUS, ino, size, off, fi);
}

static void post_fh(fuse_req_t req, int op, fuse_ino_t ino, struct fuse_file_info *fi) {
  request_t *r = new_request(req, op);
  if (r) {
    r->ino = ino;
    r->fh = fi->fh;
    r->flags = fi->flags;
  }
  post(req, r);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  post_fh(req, OP_RELEASEDIR, ino, fi);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { post_fh(req, OP_OPEN, ino, fi); }

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_READ);
  if (r) {
    r->ino = ino;
    r->fh = fi->fh;
    r->size = (int64_t)size;
    r->off = off;
  }
  post(req, r);
}

// libfuse reuses the request buffer once the handler returns, so the bytes are copied: into a write slot (see
// WRITE_SLOTS), or into memory that becomes the JavaScript Buffer itself when every slot is taken.
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_WRITE);
  if (r) {
    r->ino = ino;
    r->fh = fi->fh;
    r->off = off;
    r->slot = take_slot(fuse_req_userdata(req), req, size);
  }
  if (r && r->slot != 0) {
    memcpy(((session_t *)fuse_req_userdata(req))->slots[r->slot - 1].mem, buf, size);
    r->datalen = size;
  } else if (r) {
    r->data = malloc(size > 0 ? size : 1);
    if (r->data == NULL) {
      free_request(r);
      r = NULL;
    } else {
      memcpy(r->data, buf, size);
      r->datalen = size;
    }
  }
  post(req, r);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { post_fh(req, OP_FLUSH, ino, fi); }

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  post_fh(req, OP_RELEASE, ino, fi);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_FSYNC);
  if (r) {
    r->ino = ino;
    r->fh = fi->fh;
    r->datasync = datasync;
  }
  post(req, r);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  request_t *r = new_request(req, OP_CREATE);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
    r->mode = mode;
    r->flags = fi->flags;
  }
  post(req, r);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  request_t *r = new_request(req, OP_MKDIR);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
    r->mode = mode;
  }
  post(req, r);
}

static void post_name(fuse_req_t req, int op, fuse_ino_t parent, const char *name) {
  request_t *r = new_request(req, op);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
  }
  post(req, r);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { post_name(req, OP_UNLINK, parent, name); }
static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) { post_name(req, OP_RMDIR, parent, name); }

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
                      unsigned int flags) {
  request_t *r = new_request(req, OP_RENAME);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
    r->ino2 = newparent;
    r->name2 = dup_name(newname);
    r->flags = (int)flags;
  }
  post(req, r);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  request_t *r = new_request(req, OP_STATFS);
  if (r) r->ino = ino;
  post(req, r);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  (void)link;
  request_t *r = new_request(req, OP_REFUSED);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
    r->name2 = strdup("symlink");
  }
  post(req, r);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  request_t *r = new_request(req, OP_REFUSED);
  if (r) {
    r->ino = newparent;
    r->ino2 = ino;
    r->name = dup_name(newname);
    r->name2 = strdup("link");
  }
  post(req, r);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  (void)rdev;
  request_t *r = new_request(req, OP_REFUSED);
  if (r) {
    r->ino = parent;
    r->name = dup_name(name);
    r->name2 = strdup("mknod");
    r->mode = mode;
  }
  post(req, r);
}

// Extended attributes: spfs serves only names under this prefix (src/vfs/xattrs.ts). Any other getxattr is answered
// here without a trip to JavaScript: the kernel asks for security.capability before every write.
#define XATTR_PREFIX "user.spfs."

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  if (strncmp(name, XATTR_PREFIX, sizeof(XATTR_PREFIX) - 1) != 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  request_t *r = new_request(req, OP_GETXATTR);
  if (r) {
    r->ino = ino;
    r->name = dup_name(name);
    r->size = (int64_t)size;
  }
  post(req, r);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  request_t *r = new_request(req, OP_LISTXATTR);
  if (r) {
    r->ino = ino;
    r->size = (int64_t)size;
  }
  post(req, r);
}

// The value is copied: libfuse reuses the request buffer once the handler returns.
static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  request_t *r = new_request(req, OP_SETXATTR);
  if (r) {
    r->ino = ino;
    r->name = dup_name(name);
    r->flags = flags;
    r->data = malloc(size > 0 ? size : 1);
    if (r->data == NULL) {
      free_request(r);
      r = NULL;
    } else {
      memcpy(r->data, value, size);
      r->datalen = size;
    }
  }
  post(req, r);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  post_name(req, OP_REMOVEXATTR, ino, name);
}

static const struct fuse_lowlevel_ops ll_ops = {
    .init = ll_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .open = ll_open,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .create = ll_create,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .rename = ll_rename,
    .statfs = ll_statfs,
    .symlink = ll_symlink,
    .link = ll_link,
    .mknod = ll_mknod,
    .getxattr = ll_getxattr,
    .listxattr = ll_listxattr,
    .setxattr = ll_setxattr,
    .removexattr = ll_removexattr,
};

static void *loop_main(void *arg) {
  session_t *s = arg;
  s->loop_rc = fuse_session_loop(s->se);
  request_t *r = new_request(NULL, OP_EXIT);
  if (r) {
    r->off = s->loop_rc;
    if (napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_blocking) != napi_ok) free_request(r);
  }
  return NULL;
}

// ---- notification thread ---------------------------------------------------------------------------------------

static void *notify_main(void *arg) {
  session_t *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->head == NULL && !s->notify_stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->head == NULL) break;
    notification_t *n = s->head;
    s->head = n->next;
    if (s->head == NULL) s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    // ENOENT (the kernel does not hold that inode or name) is the usual, harmless answer.
    if (n->kind == NOTIFY_INODE)
      fuse_lowlevel_notify_inval_inode(s->se, n->ino, 0, 0);
    else if (n->kind == NOTIFY_ENTRY)
      fuse_lowlevel_notify_inval_entry(s->se, n->parent, n->name, strlen(n->name));
    else if (n->kind == NOTIFY_DELETE)
      fuse_lowlevel_notify_delete(s->se, n->parent, n->ino, n->name, strlen(n->name));
    free(n->name);
    free(n);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

// ---- JavaScript thread ------------------------------------------------------------------------------------------

#define CHECK(call)                                                                                                   \
  do {                                                                                                                \
    if ((call) != napi_ok) {                                                                                          \
      napi_throw_error(env, "SPFS_FUSE3", "Node-API call failed: " #call);                                          \
      return NULL;                                                                                                    \
    }                                                                                                                 \
  } while (0)

static napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value str_or_undefined(napi_env env, const char *s) {
  napi_value out;
  if (s == NULL)
    napi_get_undefined(env, &out);
  else
    napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

static void free_data(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

// dispatch(op, req, ino, fh, off, size, flags, mode, name, name2, ino2, data, extra) — extra holds what only a few
// ops use: [valid, uid, gid, atimeMs, mtimeMs, nlookup, datasync, pid]. For getattr and setattr, flags is 1 when fh
// is a file handle.
static void call_js(napi_env env, napi_value dispatch, void *context, void *data) {
  (void)context;
  request_t *r = data;
  if (env == NULL) { // the function is being torn down: nobody will answer
    if (r->req != NULL) reply_err_now(r->req, EIO);
    free_request(r);
    return;
  }
  napi_value argv[13];
  argv[0] = num(env, r->op);
  argv[1] = num(env, (double)(uintptr_t)r->req);
  argv[2] = num(env, (double)r->ino);
  argv[3] = num(env, (double)r->fh);
  argv[4] = num(env, (double)r->off);
  argv[5] = num(env, (double)r->size);
  argv[6] = num(env, r->flags);
  argv[7] = num(env, r->mode);
  argv[8] = str_or_undefined(env, r->name);
  argv[9] = str_or_undefined(env, r->name2);
  argv[10] = num(env, (double)r->ino2);
  napi_value slot_buffer;
  if (r->slot != 0 &&
      napi_get_reference_value(env, ((session_t *)fuse_req_userdata(r->req))->slots[r->slot - 1].buffer,
                               &slot_buffer) == napi_ok) {
    napi_create_typedarray(env, napi_uint8_array, r->datalen, slot_buffer, 0, &argv[11]);
  } else if (r->data != NULL) {
    napi_create_external_buffer(env, r->datalen, r->data, free_data, NULL, &argv[11]);
    r->data = NULL; // owned by the Buffer now
  } else {
    napi_get_undefined(env, &argv[11]);
  }
  napi_value extra;
  napi_create_array_with_length(env, 8, &extra);
  double ex[8] = {r->valid, r->uid, r->gid, r->atime_ms, r->mtime_ms, (double)r->nlookup, r->datasync, r->pid};
  for (uint32_t i = 0; i < 8; i++) napi_set_element(env, extra, i, num(env, ex[i]));
  argv[12] = extra;
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, dispatch, 13, argv, &result);
  if (st == napi_pending_exception) {
    // The dispatcher catches its own errors (it may have answered before throwing, so no answer is sent here).
    napi_value ex_val;
    napi_get_and_clear_last_exception(env, &ex_val);
  }
  free_request(r);
}

static void finalize_tsfn(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  (void)hint;
}

static int get_f64(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

// The request a reply function answers; only called by them, right before the answer, so its write slot is freed.
static fuse_req_t req_of(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  fuse_req_t req = (fuse_req_t)(uintptr_t)d;
  release_slot(req);
  return req;
}

static char *string_arg(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *out = malloc(len + 1);
  if (out == NULL) return NULL;
  napi_get_value_string_utf8(env, v, out, len + 1, &len);
  return out;
}

static session_t *session_arg(napi_env env, napi_value v) {
  session_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok) return NULL;
  return s;
}

static void drop_slots(napi_env env, session_t *s) {
  for (int i = 0; i < WRITE_SLOTS; i++)
    if (s->slots[i].mem != NULL) napi_delete_reference(env, s->slots[i].buffer);
  memset(s->slots, 0, sizeof(s->slots));
}

// mount(mountpoint, options, maxWrite, maxReadahead, maxBackground, dispatch) → session
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "SPFS_FUSE3", "mount(mountpoint, options, maxWrite, maxReadahead, maxBackground, fn)");
    return NULL;
  }
  char *mountpoint = string_arg(env, argv[0]);
  char *options = string_arg(env, argv[1]);
  double max_write = 0, max_readahead = 0, max_background = 0;
  get_f64(env, argv[2], &max_write);
  get_f64(env, argv[3], &max_readahead);
  get_f64(env, argv[4], &max_background);
  session_t *s = calloc(1, sizeof(session_t));
  if (mountpoint == NULL || options == NULL || s == NULL) {
    free(mountpoint);
    free(options);
    free(s);
    napi_throw_error(env, "SPFS_FUSE3", "out of memory");
    return NULL;
  }
  s->max_write = (unsigned)max_write;
  s->max_readahead = (unsigned)max_readahead;
  s->max_background = (unsigned)max_background;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_mutex_init(&s->slot_mu, NULL);

  char *args_v[] = {"spfs", "-o", options, NULL};
  struct fuse_args args = FUSE_ARGS_INIT(options[0] ? 3 : 1, args_v);
  s->se = fuse_session_new(&args, &ll_ops, sizeof(ll_ops), s);
  free(options);
  if (s->se == NULL) {
    free(mountpoint);
    free(s);
    napi_throw_error(env, "SPFS_FUSE3_SESSION", "fuse_session_new failed (bad mount options?)");
    return NULL;
  }
  if (fuse_session_mount(s->se, mountpoint) != 0) {
    fuse_session_destroy(s->se);
    free(mountpoint);
    free(s);
    napi_throw_error(env, "SPFS_FUSE3_MOUNT", "fuse_session_mount failed (see the daemon's stderr for libfuse's reason)");
    return NULL;
  }
  free(mountpoint);
  napi_value name;
  napi_create_string_utf8(env, "spfs-fuse3", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[5], NULL, name, 0, 1, NULL, finalize_tsfn, s, call_js, &s->tsfn) !=
      napi_ok) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    free(s);
    napi_throw_error(env, "SPFS_FUSE3", "napi_create_threadsafe_function failed");
    return NULL;
  }
  s->slot_size = s->max_write;
  for (int i = 0; i < WRITE_SLOTS; i++) { // a slot that cannot be made stays unused (mem NULL)
    napi_value ab;
    void *mem = NULL;
    if (napi_create_arraybuffer(env, s->slot_size, &mem, &ab) == napi_ok &&
        napi_create_reference(env, ab, 1, &s->slots[i].buffer) == napi_ok)
      s->slots[i].mem = mem;
  }
  if (pthread_create(&s->notify_thread, NULL, notify_main, s) == 0) s->notify_started = 1;
  if (pthread_create(&s->loop_thread, NULL, loop_main, s) == 0) s->loop_started = 1;
  if (!s->loop_started || !s->notify_started) {
    napi_throw_error(env, "SPFS_FUSE3", "could not start the session threads");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, s, NULL, NULL, &out));
  return out;
}

// destroy(session): after the loop has ended (OP_EXIT) and every request has been answered.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s = session_arg(env, argv[0]);
  if (s == NULL || s->destroyed) return NULL;
  s->destroyed = 1;
  if (s->loop_started) pthread_join(s->loop_thread, NULL);
  pthread_mutex_lock(&s->mu);
  s->notify_stop = 1;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (s->notify_started) pthread_join(s->notify_thread, NULL);
  fuse_session_unmount(s->se);
  fuse_session_destroy(s->se);
  s->se = NULL;
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
  drop_slots(env, s);
  return NULL;
}

// exit(session): ask the loop to stop after its current request (used when the mount is already gone).
static napi_value js_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s = session_arg(env, argv[0]);
  if (s != NULL && s->se != NULL) fuse_session_exit(s->se);
  return NULL;
}

// notify(session, kind, ino, parent, name)
static napi_value js_notify(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s = session_arg(env, argv[0]);
  if (s == NULL || s->destroyed) return NULL;
  double kind = 0, ino = 0, parent = 0;
  get_f64(env, argv[1], &kind);
  get_f64(env, argv[2], &ino);
  get_f64(env, argv[3], &parent);
  notification_t *n = calloc(1, sizeof(notification_t));
  if (n == NULL) return NULL;
  n->kind = (int)kind;
  n->ino = (uint64_t)ino;
  n->parent = (uint64_t)parent;
  if (n->kind != NOTIFY_INODE) {
    n->name = string_arg(env, argv[4]);
    if (n->name == NULL) {
      free(n);
      return NULL;
    }
  }
  pthread_mutex_lock(&s->mu);
  if (s->tail)
    s->tail->next = n;
  else
    s->head = n;
  s->tail = n;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void fill_stat(const double *f, struct stat *st) {
  memset(st, 0, sizeof(*st));
  st->st_ino = (ino_t)f[1];
  st->st_mode = (mode_t)f[2];
  st->st_nlink = (nlink_t)f[3];
  st->st_uid = (uid_t)f[4];
  st->st_gid = (gid_t)f[5];
  st->st_size = (off_t)f[6];
  st->st_blksize = 4096;
  st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
  const double *t[3] = {&f[7], &f[8], &f[9]};
  struct timespec *ts[3] = {&st->st_atim, &st->st_mtim, &st->st_ctim};
  for (int i = 0; i < 3; i++) {
    double ms = *t[i];
    ts[i]->tv_sec = (time_t)(ms / 1000.0);
    long ns = (long)((ms - (double)ts[i]->tv_sec * 1000.0) * 1e6);
    if (ns < 0) ns = 0;
    if (ns > 999999999) ns = 999999999;
    ts[i]->tv_nsec = ns;
  }
}

// A Float64Array's elements, checked for the needed count.
static const double *f64_arg(napi_env env, napi_value v, size_t need) {
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array ||
      length < need) {
    napi_throw_type_error(env, "SPFS_FUSE3", "expected a Float64Array of stat fields");
    return NULL;
  }
  // An empty array may have no backing store: its data pointer is NULL, which is not a failure (the end of a
  // listing replies with no entries).
  static const double none[1] = {0};
  return data != NULL ? data : none;
}

static napi_value int_result(napi_env env, int rc) {
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

// A reply whose arguments were refused (a TypeError is pending for the caller) still answers its request with EIO:
// JavaScript has already marked it answered, and a request never answered hangs the calling process in the kernel.
static napi_value reply_bad_args(napi_env env, napi_value req) {
  fuse_reply_err(req_of(env, req), EIO);
  return NULL;
}

#define ARGS(n)                                                                                                       \
  size_t argc = n;                                                                                                    \
  napi_value argv[n];                                                                                                 \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                                                        \
  if (argc < n) {                                                                                                     \
    napi_throw_type_error(env, "SPFS_FUSE3", "missing arguments");                                                    \
    return NULL;                                                                                                      \
  }

// replyErr(req, errno)
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  double e = EIO;
  get_f64(env, argv[1], &e);
  return int_result(env, fuse_reply_err(req_of(env, argv[0]), (int)e));
}

static void fill_entry(struct fuse_entry_param *e, const double *f, double entry_timeout, double attr_timeout) {
  memset(e, 0, sizeof(*e));
  e->ino = (fuse_ino_t)f[0];
  fill_stat(f, &e->attr);
  e->entry_timeout = entry_timeout;
  e->attr_timeout = attr_timeout;
}

// replyEntry(req, stat, entryTimeout, attrTimeout): nodeid 0 is a cached "no such name" for entryTimeout.
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  ARGS(4);
  const double *f = f64_arg(env, argv[1], STAT_FIELDS);
  if (f == NULL) return reply_bad_args(env, argv[0]);
  double et = 0, at = 0;
  get_f64(env, argv[2], &et);
  get_f64(env, argv[3], &at);
  struct fuse_entry_param e;
  fill_entry(&e, f, et, at);
  return int_result(env, fuse_reply_entry(req_of(env, argv[0]), &e));
}

static void fill_fi(struct fuse_file_info *fi, double fh, double flags) {
  memset(fi, 0, sizeof(*fi));
  fi->fh = (uint64_t)fh;
  unsigned f = (unsigned)flags;
  fi->direct_io = (f & 1) != 0;
  fi->keep_cache = (f & 2) != 0;
  fi->nonseekable = (f & 4) != 0;
  fi->cache_readdir = (f & 8) != 0;
}

// replyCreate(req, stat, entryTimeout, attrTimeout, fh, openFlags)
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(6);
  const double *f = f64_arg(env, argv[1], STAT_FIELDS);
  if (f == NULL) return reply_bad_args(env, argv[0]);
  double et = 0, at = 0, fh = 0, flags = 0;
  get_f64(env, argv[2], &et);
  get_f64(env, argv[3], &at);
  get_f64(env, argv[4], &fh);
  get_f64(env, argv[5], &flags);
  struct fuse_entry_param e;
  fill_entry(&e, f, et, at);
  struct fuse_file_info fi;
  fill_fi(&fi, fh, flags);
  return int_result(env, fuse_reply_create(req_of(env, argv[0]), &e, &fi));
}

// replyAttr(req, stat, attrTimeout)
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  ARGS(3);
  const double *f = f64_arg(env, argv[1], STAT_FIELDS);
  if (f == NULL) return reply_bad_args(env, argv[0]);
  double at = 0;
  get_f64(env, argv[2], &at);
  struct stat st;
  fill_stat(f, &st);
  return int_result(env, fuse_reply_attr(req_of(env, argv[0]), &st, at));
}

// replyOpen(req, fh, openFlags): bit 0 direct_io, 1 keep_cache, 2 nonseekable, 3 cache_readdir
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  double fh = 0, flags = 0;
  get_f64(env, argv[1], &fh);
  get_f64(env, argv[2], &flags);
  struct fuse_file_info fi;
  fill_fi(&fi, fh, flags);
  return int_result(env, fuse_reply_open(req_of(env, argv[0]), &fi));
}

// replyWrite(req, count)
static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  double n = 0;
  get_f64(env, argv[1], &n);
  return int_result(env, fuse_reply_write(req_of(env, argv[0]), (size_t)n));
}

// replyBuf(req, buffer, length)
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "SPFS_FUSE3", "replyBuf: expected a Buffer");
    return reply_bad_args(env, argv[0]);
  }
  double n = 0;
  get_f64(env, argv[2], &n);
  if (n < 0) n = 0;
  if ((size_t)n < len) len = (size_t)n;
  return int_result(env, fuse_reply_buf(req_of(env, argv[0]), data, len));
}

// replyFd(req, fd, position, length): a read's data, `length` bytes of `fd` at `position` (fewer at its end),
// spliced into the reply where the kernel can, read and written otherwise. The descriptor is only used during
// the call.
static napi_value js_reply_fd(napi_env env, napi_callback_info info) {
  ARGS(4);
  double fd = -1, pos = 0, n = 0;
  get_f64(env, argv[1], &fd);
  get_f64(env, argv[2], &pos);
  get_f64(env, argv[3], &n);
  if (fd < 0 || pos < 0 || n < 0) return reply_bad_args(env, argv[0]);
  struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);
  bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
  bv.buf[0].fd = (int)fd;
  bv.buf[0].pos = (off_t)pos;
  return int_result(env, fuse_reply_data(req_of(env, argv[0]), &bv, 0));
}

// replyXattr(req, size): the size a getxattr/listxattr with a zero-size buffer asked for.
static napi_value js_reply_xattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  double n = 0;
  get_f64(env, argv[1], &n);
  if (n < 0) n = 0;
  return int_result(env, fuse_reply_xattr(req_of(env, argv[0]), (size_t)n));
}

// replyStatfs(req, [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, namemax])
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  ARGS(2);
  const double *f = f64_arg(env, argv[1], 9);
  if (f == NULL) return reply_bad_args(env, argv[0]);
  struct statvfs sv;
  memset(&sv, 0, sizeof(sv));
  sv.f_bsize = (unsigned long)f[0];
  sv.f_frsize = (unsigned long)f[1];
  sv.f_blocks = (fsblkcnt_t)f[2];
  sv.f_bfree = (fsblkcnt_t)f[3];
  sv.f_bavail = (fsblkcnt_t)f[4];
  sv.f_files = (fsfilcnt_t)f[5];
  sv.f_ffree = (fsfilcnt_t)f[6];
  sv.f_favail = (fsfilcnt_t)f[7];
  sv.f_namemax = (unsigned long)f[8];
  return int_result(env, fuse_reply_statfs(req_of(env, argv[0]), &sv));
}

// replyDirents(req, size, offsets, names, stats, plus, entryTimeout, attrTimeout) → entries that fit. Entry i gets
// offset offsets[i] (where the next readdir resumes after it; a Float64Array). With plus, a nodeid of 0 sends no entry to the kernel's cache (".",
// ".."): the kernel takes no lookup reference for it.
static napi_value js_reply_dirents(napi_env env, napi_callback_info info) {
  ARGS(8);
  fuse_req_t req = req_of(env, argv[0]);
  double size_d = 0, plus_d = 0, et = 0, at = 0;
  get_f64(env, argv[1], &size_d);
  get_f64(env, argv[5], &plus_d);
  get_f64(env, argv[6], &et);
  get_f64(env, argv[7], &at);
  uint32_t count = 0;
  CHECK(napi_get_array_length(env, argv[3], &count));
  const double *f = f64_arg(env, argv[4], (size_t)count * STAT_FIELDS);
  if (f == NULL) return reply_bad_args(env, argv[0]);
  const double *offsets = f64_arg(env, argv[2], (size_t)count);
  if (offsets == NULL) return reply_bad_args(env, argv[0]);
  size_t size = (size_t)size_d;
  char *buf = malloc(size > 0 ? size : 1);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return int_result(env, 0);
  }
  size_t used = 0;
  uint32_t added = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    napi_get_element(env, argv[3], i, &v);
    char *name = string_arg(env, v);
    if (name == NULL) break;
    const double *sf = f + (size_t)i * STAT_FIELDS;
    off_t next = (off_t)offsets[i];
    size_t need;
    if (plus_d != 0) {
      struct fuse_entry_param e;
      fill_entry(&e, sf, et, at);
      need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
    } else {
      struct stat st;
      fill_stat(sf, &st);
      need = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
    }
    free(name);
    if (need > size - used) break;
    used += need;
    added++;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  return int_result(env, (int)added);
}

static napi_value init_module(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"mount", js_mount},           {"destroy", js_destroy},         {"exit", js_exit},
      {"notify", js_notify},         {"replyErr", js_reply_err},      {"replyEntry", js_reply_entry},
      {"replyCreate", js_reply_create}, {"replyAttr", js_reply_attr}, {"replyOpen", js_reply_open},
      {"replyWrite", js_reply_write}, {"replyBuf", js_reply_buf},     {"replyFd", js_reply_fd},
      {"replyStatfs", js_reply_statfs}, {"replyDirents", js_reply_dirents}, {"replyXattr", js_reply_xattr},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
  }
  napi_value v;
  napi_create_string_utf8(env, fuse_pkgversion(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "libfuseVersion", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
