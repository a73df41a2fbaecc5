/*
 * Small shared helpers: bounded strings and buffers, whole-file I/O with
 * atomic replacement, and secret files.
 */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Copies at most size-1 bytes, always terminates; returns strlen(src). */
size_t cr_strlcpy(char *dst, const char *src, size_t size);
/* Parses a whole decimal string into [min,max]; 0 or -EINVAL/-ERANGE. */
int cr_parse_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *out);

/*
 * A growable byte buffer with a hard cap (curl's dynbuf): appends beyond
 * `max` fail with -E2BIG and leave the buffer unchanged.  data is always
 * NUL-terminated.  buf_free wipes the contents (buffers may carry secrets).
 */
struct buf {
	char *data;
	size_t len, cap, max;
};
void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
/* The per-thread last error (see nc_last_error, prov_last_error). */
void cr_verror(const char *fmt, va_list ap) CR_PRINTF(1, 0);
void cr_clear_error(void);
const char *cr_last_error(void);
int buf_printf(struct buf *b, const char *fmt, ...) CR_PRINTF(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) CR_PRINTF(2, 0);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the data over (caller frees); the buffer is left empty. */
char *buf_steal(struct buf *b);

/* Reads a whole file (at most max bytes, else -EFBIG) into b. */
int file_read(const char *path, size_t max, struct buf *b);
/*
 * Writes data to path atomically: path.tmp.PID, fsync, rename, fsync of the
 * directory.  mode applies to the new file.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/*
 * Reads a secret file: refuses (-EPERM) a symbolic link, a file that is not
 * a regular file, is owned by someone other than root or us, or is
 * accessible by group or others.  Logs nothing: file_secret_error() says why.
 */
int file_read_secret(const char *path, size_t max, struct buf *b);
/* Why the last file_read_secret() of this thread failed, in words. */
const char *file_secret_error(void);
/* mkdir -p with mode for the created components. */
int mkdir_p(const char *path, mode_t mode);

/* Lowercase hex SHA-256 of n bytes (SigV4 hashes, change detection). 0 or -EIO. */
int cr_sha256_hex(const void *p, size_t n, char out[65]);

/* Monotonic and wall clock in milliseconds. */
uint64_t now_ms(void);
/* 1 when s is a valid interface name (kernel rules, and quotable in nft). */
int cr_ifname_valid(const char *s);
uint64_t wall_ms(void);

#endif
