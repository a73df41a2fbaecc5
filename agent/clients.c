/*
 * The clients store, address allocation, pushed routes, wg-quick profiles
 * and QR codes (see clients.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/inotify.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <qrencode.h>

#include "agent/clients.h"
#include "dataplane/noise.h"

#define CLIENTS_MAX_SIZE (16 * 1024 * 1024)

typedef unsigned __int128 u128;

int
clients_valid_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > CLIENTS_NAME_MAX || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' &&
		    name[i] != '-')
			return 0;
	return 1;
}

/* ---- the file -------------------------------------------------------------- */

static int
bad(struct buf *err, const char *path, size_t i, const char *what)
{
	buf_printf(err, "%s: clients[%zu]: %s\n", path, i, what);
	return -EINVAL;
}

static int
parse_client(const char *path, size_t i, struct json_object *o, struct client *c,
    struct buf *err)
{
	const char *s;
	int have = 0;

	if (!json_object_is_type(o, json_type_object))
		return bad(err, path, i, "expected an object");
	json_object_object_foreach(o, key, val) {
		if (!json_object_is_type(val, json_type_string))
			return bad(err, path, i, "every value must be a string");
		s = json_object_get_string(val);
		if (strcmp(key, "name") == 0) {
			if (!clients_valid_name(s))
				return bad(err, path, i, "\"name\" must be 1-47 of [A-Za-z0-9._-]");
			cr_strlcpy(c->name, s, sizeof(c->name));
			have |= 1;
		} else if (strcmp(key, "public_key") == 0) {
			if (dp_key_from_base64(c->public_key, s) < 0)
				return bad(err, path, i, "\"public_key\" is not a WireGuard key");
			have |= 2;
		} else if (strcmp(key, "address") == 0) {
			if (prefix_parse(s, &c->address, 0) < 0 ||
			    c->address.len != (c->address.family == AF_INET ? 32 : 128))
				return bad(err, path, i, "\"address\" must be a host prefix (/32 or /128)");
			have |= 4;
		} else if (strcmp(key, "created") == 0) {
			cr_strlcpy(c->created, s, sizeof(c->created));
		} else {
			buf_printf(err, "%s: clients[%zu]: unknown key \"%s\"\n", path, i, key);
			return -EINVAL;
		}
	}
	if (have != 7)
		return bad(err, path, i, "\"name\", \"public_key\" and \"address\" are required");
	return 0;
}

static int
check_unique(const char *path, const struct client_store *cs, struct buf *err)
{
	size_t i, j;

	for (i = 0; i < cs->n; i++)
		for (j = 0; j < i; j++) {
			if (strcmp(cs->v[i].name, cs->v[j].name) == 0)
				return bad(err, path, i, "duplicate name");
			if (memcmp(cs->v[i].public_key, cs->v[j].public_key, 32) == 0)
				return bad(err, path, i, "duplicate public key");
			if (prefix_equal(&cs->v[i].address, &cs->v[j].address))
				return bad(err, path, i, "duplicate address");
		}
	return 0;
}

static int
only_space(const char *p, size_t n)
{
	while (n > 0 && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	return n == 0;
}

int
clients_parse(const char *path, const char *text, size_t len, struct client_store *cs,
    struct buf *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *a = NULL;
	size_t i, n;
	int r = -EINVAL;

	cs->v = NULL;
	cs->n = 0;
	if (tok == NULL)
		return -ENOMEM;
	if (len > CLIENTS_MAX_SIZE || memchr(text, '\0', len) != NULL) {
		buf_printf(err, "%s: not a clients file (too large or binary)\n", path);
		goto out;
	}
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object) ||
	    !only_space(text + json_tokener_get_parse_end(tok),
	    len - json_tokener_get_parse_end(tok))) {
		buf_printf(err, "%s: not a clients file (expected {\"clients\": [...]})\n", path);
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		(void)val;
		if (strcmp(key, "clients") != 0) {
			buf_printf(err, "%s: unknown key \"%s\"\n", path, key);
			goto out;
		}
	}
	if (!json_object_object_get_ex(root, "clients", &a) ||
	    !json_object_is_type(a, json_type_array)) {
		buf_printf(err, "%s: \"clients\" must be an array\n", path);
		goto out;
	}
	n = json_object_array_length(a);
	if (n > CLIENTS_MAX) {
		buf_printf(err, "%s: too many clients (%zu)\n", path, n);
		goto out;
	}
	if ((cs->v = calloc(n ? n : 1, sizeof(*cs->v))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = parse_client(path, i, json_object_array_get_idx(a, i), &cs->v[i], err)) < 0)
			goto out;
		cs->n = i + 1;
	}
	r = check_unique(path, cs, err);
out:
	json_object_put(root);
	json_tokener_free(tok);
	if (r < 0)
		clients_free(cs);
	return r;
}

int
clients_load(const char *state_dir, struct client_store *cs, struct buf *err)
{
	char path[PATH_MAX];
	struct buf text;
	int r;

	memset(cs, 0, sizeof(*cs));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, CLIENTS_FILE) >= sizeof(path))
		return -ENAMETOOLONG;
	buf_init(&text, CLIENTS_MAX_SIZE);
	r = file_read(path, CLIENTS_MAX_SIZE, &text);
	if (r == -ENOENT) {
		r = 0;
	} else if (r < 0) {
		buf_printf(err, "%s: %s\n", path, strerror(-r));
	} else {
		r = clients_parse(path, text.data ? text.data : "", text.len, cs, err);
	}
	buf_free(&text);
	cr_strlcpy(cs->path, path, sizeof(cs->path));
	return r;
}

char *
clients_format(const struct client_store *cs)
{
	struct json_object *root = json_object_new_object(), *a = json_object_new_array();
	char b64[45], pf[PREFIX_STRLEN], *s;
	size_t i;

	for (i = 0; i < cs->n; i++) {
		const struct client *c = &cs->v[i];
		struct json_object *o = json_object_new_object();
		dp_key_to_base64(b64, c->public_key);
		json_object_object_add(o, "name", json_object_new_string(c->name));
		json_object_object_add(o, "public_key", json_object_new_string(b64));
		json_object_object_add(o, "address",
		    json_object_new_string(prefix_fmt(&c->address, pf, sizeof(pf))));
		if (c->created[0])
			json_object_object_add(o, "created", json_object_new_string(c->created));
		json_object_array_add(a, o);
	}
	json_object_object_add(root, "clients", a);
	s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return s;
}

int
clients_save(const struct client_store *cs)
{
	char *s = clients_format(cs);
	struct buf b;
	int r;

	if (s == NULL)
		return -ENOMEM;
	buf_init(&b, CLIENTS_MAX_SIZE);
	if ((r = buf_puts(&b, s)) == 0 && (r = buf_puts(&b, "\n")) == 0)
		r = file_write_atomic(cs->path, b.data, b.len, 0600);
	buf_free(&b);
	free(s);
	return r;
}

void
clients_free(struct client_store *cs)
{
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

ssize_t
clients_find(const struct client_store *cs, const char *name)
{
	size_t i;

	for (i = 0; i < cs->n; i++)
		if (strcmp(cs->v[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

int
clients_append(struct client_store *cs, const struct client *c)
{
	struct client *nv = realloc(cs->v, (cs->n + 1) * sizeof(*nv));

	if (nv == NULL)
		return -ENOMEM;
	cs->v = nv;
	cs->v[cs->n++] = *c;
	return 0;
}

void
clients_delete(struct client_store *cs, size_t i)
{
	if (i >= cs->n)
		return;
	memmove(&cs->v[i], &cs->v[i + 1], (cs->n - i - 1) * sizeof(*cs->v));
	cs->n--;
}

int
clients_watch_open(const char *state_dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	/* file_write_atomic renames a temp file over clients.json */
	if (inotify_add_watch(fd, state_dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int
clients_watch_changed(int fd)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	ssize_t n;
	char *p;
	int changed = 0;

	while ((n = read(fd, ev, sizeof(ev))) > 0)
		for (p = ev; p < ev + n; p += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)p;
			if (e->len > 0 && strcmp(e->name, CLIENTS_FILE) == 0)
				changed = 1;
		}
	return changed;
}

int
clients_key_path(const char *state_dir, const char *name, char *out, size_t len)
{
	if (!clients_valid_name(name) ||
	    (size_t)snprintf(out, len, "%s/clients/%s.key", state_dir, name) >= len)
		return -EINVAL;
	return 0;
}

/* ---- allocation -------------------------------------------------------------- */

static u128
to_u128(const struct prefix *p)
{
	size_t i, n = prefix_addrlen(p);
	u128 v = 0;

	for (i = 0; i < n; i++)
		v = (v << 8) | p->addr[i];
	return v;
}

static void
from_u128(int family, u128 v, struct prefix *p)
{
	size_t i, n = family == AF_INET ? 4 : 16;

	memset(p, 0, sizeof(*p));
	p->family = family;
	p->len = (uint8_t)(n * 8);
	for (i = n; i-- > 0; v >>= 8)
		p->addr[i] = (uint8_t)(v & 0xff);
}

/* First and last address of a prefix. */
static void
range(const struct prefix *p, u128 *lo, u128 *hi)
{
	unsigned int bits = p->family == AF_INET ? 32 : 128, host = bits - p->len;
	u128 mask = host >= 128 ? ~(u128)0 : (((u128)1 << host) - 1);

	*lo = to_u128(p) & ~mask;
	*hi = *lo | mask;
}

static int
alloc_in(const struct prefix *net, const struct prefix_set *taken, struct prefix *out)
{
	u128 lo, hi, cand, tlo, thi;
	size_t i;
	int moved;

	range(net, &lo, &hi);
	if (hi - lo < 2)
		return -ENOSPC;            /* /31, /32, /127, /128: no host address */
	cand = lo + 1;
	/* Jump past every taken range that holds the candidate; each jump moves
	 * forward, so this ends after at most taken->n rounds per range. */
	do {
		moved = 0;
		for (i = 0; i < taken->n; i++) {
			if (taken->v[i].family != net->family)
				continue;
			range(&taken->v[i], &tlo, &thi);
			if (tlo <= cand && cand <= thi) {
				if (thi >= hi - 1)
					return -ENOSPC;
				cand = thi + 1;
				moved = 1;
			}
		}
	} while (moved);
	if (cand >= hi)
		return -ENOSPC;
	from_u128(net->family, cand, out);
	return 0;
}

int
clients_alloc(const struct prefix_set *overlay, const struct prefix_set *taken,
    struct prefix *out)
{
	size_t i;

	for (i = 0; i < overlay->n; i++)
		if (alloc_in(&overlay->v[i], taken, out) == 0)
			return 0;
	return -ENOSPC;
}

static int
add_host(struct prefix_set *out, const struct prefix *p)
{
	struct prefix h = *p;

	h.len = p->family == AF_INET ? 32 : 128;
	return prefix_set_add(out, &h);
}

int
clients_taken(const struct config *cfg, const struct client_store *cs, struct prefix_set *out)
{
	size_t i, j, k;
	int r = 0;

	for (i = 0; i < cfg->tunnel.address.n && r == 0; i++)
		r = add_host(out, &cfg->tunnel.address.v[i]);
	/* A peer's prefix strictly inside the overlay is another connector's
	 * (or a static client's) address; one that covers the overlay is a hub. */
	for (i = 0; i < cfg->tunnel.n_peers && r == 0; i++) {
		const struct prefix_set *ai = &cfg->tunnel.peers[i].allowed_ips;
		for (j = 0; j < ai->n && r == 0; j++)
			for (k = 0; k < cfg->overlay.n && r == 0; k++)
				if (prefix_contains(&cfg->overlay.v[k], &ai->v[j]) &&
				    ai->v[j].len > cfg->overlay.v[k].len)
					r = prefix_set_add(out, &ai->v[j]);
	}
	for (i = 0; i < cs->n && r == 0; i++)
		r = prefix_set_add(out, &cs->v[i].address);
	return r;
}

size_t
clients_check(const struct config *cfg, const struct client_store *cs, struct buf *out)
{
	char a[PREFIX_STRLEN], b[PREFIX_STRLEN];
	size_t i, j, k, n = 0;

	for (i = 0; i < cs->n; i++) {
		const struct client *c = &cs->v[i];
		prefix_fmt(&c->address, a, sizeof(a));
		if (!prefix_set_covers(&cfg->overlay, &c->address)) {
			buf_printf(out, "client %s: address %s is outside the overlay (the overlay "
			    "changed?); remove the client and add it again\n", c->name, a);
			n++;
		}
		for (j = 0; j < cfg->tunnel.address.n; j++) {
			struct prefix h = cfg->tunnel.address.v[j];
			h.len = h.family == AF_INET ? 32 : 128;
			if (prefix_equal(&h, &c->address)) {
				buf_printf(out, "client %s: address %s is this connector's "
				    "tunnel.address; remove the client and add it again\n", c->name, a);
				n++;
			}
		}
		for (j = 0; j < cfg->tunnel.n_peers; j++)
			for (k = 0; k < cfg->tunnel.peers[j].allowed_ips.n; k++) {
				const struct prefix *p = &cfg->tunnel.peers[j].allowed_ips.v[k];
				if (!prefix_contains(p, &c->address) || prefix_set_has(&cfg->overlay, p) ||
				    !prefix_set_covers(&cfg->overlay, p))
					continue;   /* a hub's route to the whole overlay is fine */
				buf_printf(out, "client %s: address %s is inside peer %s's allowed IP %s; "
				    "the peer gets its traffic (remove the client and add it again)\n",
				    c->name, a, cfg->tunnel.peers[j].name, prefix_fmt(p, b, sizeof(b)));
				n++;
			}
	}
	return n;
}

/* ---- pushed routes ----------------------------------------------------------- */

/* a and b are the two halves of one prefix one bit shorter. */
static int
siblings(const struct prefix *a, const struct prefix *b, struct prefix *parent)
{
	struct prefix pa, pb;

	if (a->family != b->family || a->len != b->len || a->len == 0 || prefix_equal(a, b))
		return 0;
	pa = *a;
	pa.len--;
	prefix_network(&pa, &pa);
	pb = *b;
	pb.len--;
	prefix_network(&pb, &pb);
	if (!prefix_equal(&pa, &pb))
		return 0;
	*parent = pa;
	return 1;
}

void
clients_aggregate(struct prefix_set *s)
{
	struct prefix parent;
	size_t i, j;
	int changed = 1;

	while (changed) {
		changed = 0;
		prefix_set_merge(s);
		for (i = 0; i < s->n && !changed; i++)
			for (j = i + 1; j < s->n && !changed; j++)
				if (siblings(&s->v[i], &s->v[j], &parent)) {
					s->v[i] = parent;
					memmove(&s->v[j], &s->v[j + 1], (s->n - j - 1) * sizeof(*s->v));
					s->n--;
					changed = 1;
				}
	}
	prefix_set_sort(s);
}

static int
add_all(struct prefix_set *out, const struct prefix_set *in)
{
	size_t i;
	int r = 0;

	for (i = 0; i < in->n && r == 0; i++) {
		struct prefix p;
		prefix_network(&in->v[i], &p);
		r = prefix_set_add(out, &p);
	}
	return r;
}

int
clients_routes(const struct config *cfg, int full_tunnel, struct prefix_set *out,
    struct buf *err)
{
	struct prefix p;
	size_t i;
	int r;

	if (full_tunnel) {
		if (!cfg->egress) {
			buf_printf(err, "--full-tunnel sends all of the client's traffic here, but "
			    "this connector does not forward to the internet (\"egress\": false in "
			    "%s); turn egress on or leave out --full-tunnel\n", cfg->path);
			return -EPERM;
		}
		prefix_parse("0.0.0.0/0", &p, 0);
		if ((r = prefix_set_add(out, &p)) < 0)
			return r;
		prefix_parse("::/0", &p, 0);
		return prefix_set_add(out, &p);
	}
	if ((r = add_all(out, &cfg->overlay)) < 0 || (r = add_all(out, &cfg->local_subnets)) < 0)
		return r;
	if (cfg->tunnel.mode == TUNNEL_EXTERNAL)
		r = add_all(out, &cfg->tunnel.routes);
	for (i = 0; i < cfg->tunnel.n_peers && r == 0; i++)
		r = add_all(out, &cfg->tunnel.peers[i].allowed_ips);
	if (r == 0)
		clients_aggregate(out);
	return r;
}

/* ---- profile ----------------------------------------------------------------- */

int
clients_render(const struct client_profile *p, struct buf *out)
{
	char b64[45], pf[PREFIX_STRLEN];
	size_t i;
	int r = 0;

	r |= buf_puts(out, "[Interface]\n");
	if (p->has_private_key) {
		dp_key_to_base64(b64, p->private_key);
		r |= buf_printf(out, "PrivateKey = %s\n", b64);
		OPENSSL_cleanse(b64, sizeof(b64));
	} else {
		r |= buf_puts(out, "# PrivateKey: not stored here (only the client has it; "
		    "`client add --keep-key` keeps a copy)\n");
	}
	r |= buf_printf(out, "Address = %s\n", prefix_fmt(&p->address, pf, sizeof(pf)));
	r |= buf_puts(out, "\n[Peer]\n");
	dp_key_to_base64(b64, p->server_public_key);
	r |= buf_printf(out, "PublicKey = %s\n", b64);
	r |= buf_printf(out, "Endpoint = %s\n", p->endpoint);
	r |= buf_puts(out, "AllowedIPs = ");
	for (i = 0; i < p->allowed_ips->n; i++)
		r |= buf_printf(out, "%s%s", i ? ", " : "",
		    prefix_fmt(&p->allowed_ips->v[i], pf, sizeof(pf)));
	r |= buf_puts(out, "\n");
	if (p->keepalive)
		r |= buf_printf(out, "PersistentKeepalive = %u\n", p->keepalive);
	return r ? -E2BIG : 0;
}

/* ---- QR ------------------------------------------------------------------------ */

#define QR_MARGIN 2

static int
dark(const QRcode *q, int x, int y)
{
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return 0;
	return q->data[y * q->width + x] & 1;
}

int
clients_qr(const char *text, struct buf *out, struct buf *err)
{
	/* Light modules are drawn as white foreground on a black background, so
	 * the code reads right on dark and light terminals alike. */
	static const char *const cell[4] = { "\xe2\x96\x88", "\xe2\x96\x80", "\xe2\x96\x84", " " };
	size_t n = strlen(text);
	QRcode *q;
	int x, y, r = 0;

	if (n > CLIENTS_QR_MAX) {
		buf_printf(err, "the profile is %zu bytes, too big for a QR code a phone can scan "
		    "(at most %d); print it without --qr and copy the file instead\n",
		    n, CLIENTS_QR_MAX);
		return -E2BIG;
	}
	if ((q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L)) == NULL) {
		buf_printf(err, "cannot encode the QR code: %s\n", strerror(errno));
		return errno == ERANGE ? -E2BIG : -EIO;
	}
	for (y = -QR_MARGIN; y < q->width + QR_MARGIN && r == 0; y += 2) {
		r |= buf_puts(out, "\033[40;97m");
		for (x = -QR_MARGIN; x < q->width + QR_MARGIN; x++)
			r |= buf_puts(out, cell[dark(q, x, y) * 2 + dark(q, x, y + 1)]);
		r |= buf_puts(out, "\033[0m\n");
	}
	QRcode_free(q);
	return r ? -E2BIG : 0;
}
