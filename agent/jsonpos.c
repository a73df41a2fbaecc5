/*
 * A position-recording JSON scanner (see jsonpos.h).  It accepts what
 * json-c's default tokener accepts for our purposes: objects, arrays,
 * strings with escapes, numbers, literals, and // and block comments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/jsonpos.h"

struct scan {
	const char *s;
	size_t len, off;
	unsigned int line, col;
	struct jpos *jp;
	int depth;
};

static void
adv(struct scan *sc)
{
	if (sc->off >= sc->len)
		return;
	if (sc->s[sc->off] == '\n') {
		sc->line++;
		sc->col = 1;
	} else {
		sc->col++;
	}
	sc->off++;
}

static int
peek(const struct scan *sc)
{
	return sc->off < sc->len ? (unsigned char)sc->s[sc->off] : -1;
}

static void
skip_ws(struct scan *sc)
{
	for (;;) {
		int c = peek(sc);
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			adv(sc);
		} else if (c == '/' && sc->off + 1 < sc->len && sc->s[sc->off + 1] == '/') {
			while (peek(sc) != -1 && peek(sc) != '\n')
				adv(sc);
		} else if (c == '/' && sc->off + 1 < sc->len && sc->s[sc->off + 1] == '*') {
			adv(sc);
			adv(sc);
			while (peek(sc) != -1 &&
			    !(peek(sc) == '*' && sc->off + 1 < sc->len && sc->s[sc->off + 1] == '/'))
				adv(sc);
			adv(sc);
			adv(sc);
		} else {
			return;
		}
	}
}

static int
record(struct scan *sc, const char *path, unsigned int kl, unsigned int kc)
{
	struct jpos *jp = sc->jp;
	struct jpos_entry *e;

	if (jp->n == jp->cap) {
		size_t ncap = jp->cap ? jp->cap * 2 : 64;
		struct jpos_entry *nv = reallocarray(jp->v, ncap, sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		jp->v = nv;
		jp->cap = ncap;
	}
	e = &jp->v[jp->n];
	if ((e->path = strdup(path)) == NULL)
		return -ENOMEM;
	e->key_line = kl;
	e->key_col = kc;
	e->val_line = sc->line;
	e->val_col = sc->col;
	jp->n++;
	return 0;
}

/* Reads a string token; the unescaped text (truncated) goes to out. */
static int
scan_string(struct scan *sc, char *out, size_t outlen)
{
	size_t o = 0;

	if (peek(sc) != '"')
		return -EINVAL;
	adv(sc);
	for (;;) {
		int c = peek(sc);
		if (c == -1)
			return -EINVAL;
		adv(sc);
		if (c == '"')
			break;
		if (c == '\\') {
			c = peek(sc);
			if (c == -1)
				return -EINVAL;
			adv(sc);
		}
		if (out && o + 1 < outlen)
			out[o++] = (char)c;
	}
	if (out && outlen)
		out[o] = '\0';
	return 0;
}

static int scan_value(struct scan *sc, const char *path, unsigned int kl, unsigned int kc);

static int
scan_object(struct scan *sc, const char *path)
{
	char key[128], sub[1024];
	struct json_object *seen;            /* the keys so far: a hash set */
	int r = 0;

	adv(sc);                             /* '{' */
	skip_ws(sc);
	if (peek(sc) == '}') {
		adv(sc);
		return 0;
	}
	if ((seen = json_object_new_object()) == NULL)
		return -ENOMEM;
	for (;;) {
		unsigned int kl, kc;

		skip_ws(sc);
		kl = sc->line;
		kc = sc->col;
		if ((r = scan_string(sc, key, sizeof(key))) < 0)
			goto out;
		if (json_object_object_get_ex(seen, key, NULL)) {
			if (!sc->jp->has_dup) {
				sc->jp->has_dup = 1;
				snprintf(sc->jp->dup_key, sizeof(sc->jp->dup_key), "%s", key);
				sc->jp->dup_line = kl;
				sc->jp->dup_col = kc;
			}
		} else if (json_object_object_add(seen, key, NULL) < 0) {
			r = -ENOMEM;
			goto out;
		}
		skip_ws(sc);
		if (peek(sc) != ':') {
			r = -EINVAL;
			goto out;
		}
		adv(sc);
		skip_ws(sc);
		snprintf(sub, sizeof(sub), "%s/%s", path, key);
		if ((r = scan_value(sc, sub, kl, kc)) < 0)
			goto out;
		skip_ws(sc);
		if (peek(sc) == ',') {
			adv(sc);
			skip_ws(sc);
			if (peek(sc) == '}') {          /* json-c tolerates a trailing comma */
				adv(sc);
				break;
			}
			continue;
		}
		if (peek(sc) == '}') {
			adv(sc);
			break;
		}
		r = -EINVAL;
		goto out;
	}
out:
	json_object_put(seen);
	return r;
}

static int
scan_array(struct scan *sc, const char *path)
{
	char sub[1024];
	unsigned int idx = 0;
	int r;

	adv(sc);                             /* '[' */
	skip_ws(sc);
	if (peek(sc) == ']') {
		adv(sc);
		return 0;
	}
	for (;;) {
		skip_ws(sc);
		snprintf(sub, sizeof(sub), "%s/%u", path, idx++);
		if ((r = scan_value(sc, sub, 0, 0)) < 0)
			return r;
		skip_ws(sc);
		if (peek(sc) == ',') {
			adv(sc);
			skip_ws(sc);
			if (peek(sc) == ']') {
				adv(sc);
				return 0;
			}
			continue;
		}
		if (peek(sc) == ']') {
			adv(sc);
			return 0;
		}
		return -EINVAL;
	}
}

static int
scan_value(struct scan *sc, const char *path, unsigned int kl, unsigned int kc)
{
	int c, r;

	if (++sc->depth > 64)
		return -EINVAL;
	if ((r = record(sc, path, kl, kc)) < 0)
		return r;
	c = peek(sc);
	if (c == '{')
		r = scan_object(sc, path);
	else if (c == '[')
		r = scan_array(sc, path);
	else if (c == '"')
		r = scan_string(sc, NULL, 0);
	else if (c == -1)
		r = -EINVAL;
	else {
		/* number or literal: up to a delimiter */
		while ((c = peek(sc)) != -1 && c != ',' && c != '}' && c != ']' &&
		    c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '/')
			adv(sc);
		r = 0;
	}
	sc->depth--;
	return r;
}

int
jpos_scan(const char *text, size_t len, struct jpos *out)
{
	struct scan sc = { text, len, 0, 1, 1, out, 0 };
	int r;

	memset(out, 0, sizeof(*out));
	skip_ws(&sc);
	if ((r = scan_value(&sc, "", 0, 0)) < 0)
		return r;
	return 0;
}

int
jpos_find(const struct jpos *jp, const char *path, int key,
    unsigned int *line, unsigned int *col)
{
	size_t i;

	for (i = 0; i < jp->n; i++) {
		if (strcmp(jp->v[i].path, path) != 0)
			continue;
		if (key && jp->v[i].key_line) {
			*line = jp->v[i].key_line;
			*col = jp->v[i].key_col;
		} else {
			*line = jp->v[i].val_line;
			*col = jp->v[i].val_col;
		}
		return 0;
	}
	return -ENOENT;
}

void
jpos_free(struct jpos *jp)
{
	size_t i;

	for (i = 0; i < jp->n; i++)
		free(jp->v[i].path);
	free(jp->v);
	memset(jp, 0, sizeof(*jp));
}

void
jpos_linecol(const char *text, size_t off, unsigned int *line, unsigned int *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}
