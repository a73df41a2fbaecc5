/*
 * Where things are in a JSON text.  json-c parses the config but keeps no
 * positions, so after a successful parse this scanner walks the same text
 * (comments included) and records the line:col of every key and value by
 * path ("/tunnel/peers/0/name").  It also finds duplicate keys, which json-c
 * silently collapses.
 */
#ifndef AG_JSONPOS_H
#define AG_JSONPOS_H

#include <stddef.h>

struct jpos_entry {
	char *path;
	unsigned int key_line, key_col;    /* 0 for array elements and the root */
	unsigned int val_line, val_col;
};

struct jpos {
	struct jpos_entry *v;
	size_t n, cap;
	int has_dup;
	char dup_key[128];
	unsigned int dup_line, dup_col;
};

/* 0, or -EINVAL on text json-c would not have accepted, -ENOMEM. */
int jpos_scan(const char *text, size_t len, struct jpos *out);
/* Position of the value (or of the key when `key` is set, falling back to
 * the value); 0 or -ENOENT. */
int jpos_find(const struct jpos *jp, const char *path, int key,
    unsigned int *line, unsigned int *col);
void jpos_free(struct jpos *jp);
/* Line and column (1-based, bytes) of offset off in text. */
void jpos_linecol(const char *text, size_t off, unsigned int *line, unsigned int *col);

#endif
