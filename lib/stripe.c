/* stripe.c: Stripe webhooks and sessions.
 *
 * Verification follows stripe-node and stripe-python exactly (see
 * shared/refs/stripe.md): the header's items split on ',' then on the
 * first '='; t is the timestamp; every v1 is a candidate (v0 and other
 * schemes are ignored, against downgrades); the signed payload is
 * "<t>.<raw body>"; the key is the whole "whsec_..." string as bytes; a
 * candidate matches in constant time. Unlike the libraries we also refuse
 * a timestamp too far in the future. Two secrets may be configured while
 * an endpoint secret is rolled.
 *
 * Events apply exactly once: the event id is recorded in the same
 * transaction as its effect, so a redelivery finds it and changes
 * nothing. Stripe may deliver out of order: subscription states carry the
 * event's creation time and an older one never overwrites a newer one;
 * grants are idempotent by the session or invoice id, so their order
 * does not matter. An event whose user cannot be found yet fails without
 * being recorded, so Stripe's retry applies it later. */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <sodium.h>

#include "conf.h"
#include "json.h"
#include "stripe.h"
#include "util.h"

static const char stripe_default[] =
#include "stripe.inc"
    ;

struct stripe {
	struct conf *c;
	jv conf;                       /* etc/stripe.json */
	char secret[2][256];           /* webhook secrets: current, previous */
	long tolerance;
};

/* The value of key, else the first line of the file named by key_FILE. */
static int
secret(struct conf *c, const char *key, char *buf, size_t size)
{
	char fkey[64];
	const char *v = conf_str(c, key, NULL), *path;
	unsigned char *data;
	size_t len;
	int rc;

	buf[0] = '\0';
	if (v != NULL) {
		if (strlen(v) >= size) {
			warnx("%s: too long", key);
			return EX_CONFIG;
		}
		memcpy(buf, v, strlen(v) + 1);
		return 0;
	}
	snprintf(fkey, sizeof fkey, "%s_FILE", key);
	if ((path = conf_str(c, fkey, NULL)) == NULL)
		return 0;
	if ((rc = util_slurp(path, 4096, &data, &len)) != 0)
		return rc == EX_NOINPUT ? EX_CONFIG : rc;
	len = strcspn((char *)data, "\r\n");
	if (len >= size) {
		warnx("%s: secret too long", path);
		free(data);
		return EX_CONFIG;
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	sodium_memzero(data, len);
	free(data);
	return 0;
}

int
stripe_open(struct stripe **sp)
{
	struct stripe *s;
	unsigned long long tol;
	const char *path;
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	*sp = NULL;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		warn("stripe");
		return EX_OSERR;
	}
	s->conf = jv_invalid();
	if ((rc = conf_load(&s->c)) != 0 ||
	    (rc = secret(s->c, "RS_STRIPE_WEBHOOK_SECRET", s->secret[0], sizeof s->secret[0])) != 0 ||
	    (rc = secret(s->c, "RS_STRIPE_WEBHOOK_SECRET_OLD", s->secret[1], sizeof s->secret[1])) != 0 ||
	    (rc = conf_size(s->c, "RS_STRIPE_TOLERANCE", STRIPE_TOLERANCE, &tol)) != 0)
		goto fail;
	s->tolerance = tol > 86400 ? 86400 : (long)tol;
	if ((path = conf_str(s->c, "RS_STRIPE_CONF", NULL)) != NULL) {
		if ((rc = util_slurp(path, 1 << 20, &buf, &len)) != 0) {
			rc = rc == EX_NOINPUT ? EX_CONFIG : rc;
			goto fail;
		}
		s->conf = jv_parse_sized((const char *)buf, (int)len);
		free(buf);
	} else
		s->conf = jv_parse(stripe_default);
	if (jv_get_kind(s->conf) != JV_KIND_OBJECT) {
		warnx("%s: not a JSON object", path ? path : "built-in stripe.json");
		rc = EX_CONFIG;
		goto fail;
	}
	*sp = s;
	return 0;
fail:
	stripe_close(s);
	return rc;
}

void
stripe_close(struct stripe *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s->secret, sizeof s->secret);
	jv_free(s->conf);
	conf_free(s->c);
	free(s);
}

/* ---- signatures ---- */

int
stripe_verify_with(const char *const *secrets, long tolerance, const char *header,
    const unsigned char *body, size_t len, long long now)
{
	char h[4096], *save = NULL, *item, ts[32];
	const char *v1[16];
	int nv1 = 0, have_t = 0, match = 0;
	long long t = 0;

	if (header == NULL || *header == '\0') {
		warnx("Stripe-Signature: missing");
		return STRIPE_NO_HEADER;
	}
	if (strlen(header) >= sizeof h) {
		warnx("Stripe-Signature: too long");
		return STRIPE_BAD_HEADER;
	}
	memcpy(h, header, strlen(header) + 1);
	for (item = strtok_r(h, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (strcmp(item, "t") == 0) {
			char *end;
			errno = 0;
			t = strtoll(eq + 1, &end, 10);
			if (eq[1] == '\0' || *end != '\0' || errno != 0 || t < 0) {
				warnx("Stripe-Signature: unable to extract timestamp");
				return STRIPE_BAD_HEADER;
			}
			have_t = 1;
		} else if (strcmp(item, "v1") == 0 && nv1 < 16)
			v1[nv1++] = eq + 1;
	}
	if (!have_t) {
		warnx("Stripe-Signature: unable to extract timestamp and signatures from header");
		return STRIPE_BAD_HEADER;
	}
	if (nv1 == 0) {
		warnx("Stripe-Signature: no signatures found with expected scheme v1");
		return STRIPE_NO_V1;
	}
	snprintf(ts, sizeof ts, "%lld", t);
	for (int k = 0; secrets[k] != NULL; k++) {
		crypto_auth_hmacsha256_state st;
		unsigned char mac[32];
		char hex[65];
		if (*secrets[k] == '\0')
			continue;
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)secrets[k], strlen(secrets[k]));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
		crypto_auth_hmacsha256_update(&st, body, len);
		crypto_auth_hmacsha256_final(&st, mac);
		util_hex(mac, sizeof mac, hex);
		for (int i = 0; i < nv1; i++)       /* constant time over equal lengths */
			if (strlen(v1[i]) == 64 && sodium_memcmp(hex, v1[i], 64) == 0)
				match = 1;
	}
	if (!match) {
		warnx("Stripe-Signature: no signatures found matching the expected signature for payload");
		return STRIPE_MISMATCH;
	}
	if (now - t > tolerance || t - now > tolerance) {
		warnx("Stripe-Signature: timestamp %lld outside the tolerance zone (%lds, now %lld)",
		    t, tolerance, now);
		return STRIPE_STALE;
	}
	return 0;
}

int
stripe_verify(struct stripe *s, const char *header, const unsigned char *body, size_t len,
    long long now)
{
	const char *secrets[] = { s->secret[0], s->secret[1], NULL };

	if (s->secret[0][0] == '\0') {
		warnx("RS_STRIPE_WEBHOOK_SECRET: not set (nor RS_STRIPE_WEBHOOK_SECRET_FILE)");
		return EX_CONFIG;
	}
	return stripe_verify_with(secrets, s->tolerance, header, body, len, now);
}

/* ---- events ---- */

/* obj[key] as a string, or NULL; borrowed from obj */
static const char *
str(jv obj, const char *key)
{
	return json_str(obj, key);
}

/* the first item of a list object: obj.key.data[0] (owned; invalid if absent) */
static jv
first_item(jv obj, const char *key)
{
	jv list = json_get(obj, key), data = json_get(list, "data"), item = jv_invalid();

	if (jv_get_kind(data) == JV_KIND_ARRAY && jv_array_length(jv_copy(data)) > 0)
		item = jv_array_get(jv_copy(data), 0);
	jv_free(data);
	jv_free(list);
	return item;
}

/* price id of a subscription item or invoice line (owned string or invalid) */
static jv
price_of(jv item)
{
	jv p = json_get(item, "price"), id;

	if (jv_get_kind(p) == JV_KIND_STRING)
		return p;
	id = json_get(p, "id");
	jv_free(p);
	if (jv_get_kind(id) == JV_KIND_STRING)
		return id;
	jv_free(id);
	/* API 2025+: line.pricing.price_details.price */
	jv pr = json_get(item, "pricing"), pd = json_get(pr, "price_details");
	id = json_get(pd, "price");
	jv_free(pd);
	jv_free(pr);
	if (jv_get_kind(id) == JV_KIND_STRING)
		return id;
	jv_free(id);
	return jv_invalid();
}

/* plan for a price id, or NULL (borrowed from s->conf) */
static const char *
plan_for_price(struct stripe *s, jv price)
{
	const char *p = NULL;

	if (jv_get_kind(price) == JV_KIND_STRING) {
		jv prices = json_get(s->conf, "prices");
		p = json_str(prices, jv_string_value(price));
		jv_free(prices);
	}
	return p;
}

/* The rs user of a Stripe object: by linked customer, else by the
 * user name rs put in its metadata (linking the customer then). */
static int
find_user(struct ledger *l, jv obj, jv meta, jv *user)
{
	const char *cus = str(obj, "customer"), *name = str(meta, "user");
	int rc;

	*user = jv_invalid();
	if (cus != NULL && (rc = ledger_user_by_customer(l, cus, user)) != EX_NOINPUT)
		return rc;
	if (name == NULL) {
		if (cus == NULL)
			warnx("event: no customer and no metadata.user");
		return EX_NOINPUT;
	}
	if (cus != NULL && (rc = ledger_user_link(l, name, cus, NULL)) != 0)
		return rc;
	return ledger_user_get(l, name, user);
}

static int
apply_checkout(struct stripe *s, struct ledger *l, jv obj, const char *type, jv *res)
{
	const char *user = str(obj, "client_reference_id"), *cus = str(obj, "customer");
	const char *mode = str(obj, "mode"), *paid = str(obj, "payment_status");
	const char *id = str(obj, "id");
	jv meta = json_get(obj, "metadata"), out;
	int rc = 0;

	if (user == NULL || id == NULL) {
		warnx("%s: checkout session without client_reference_id", id ? id : "event");
		rc = EX_DATAERR;
		goto out;
	}
	*res = jv_object_set(*res, jv_string("user"), jv_string(user));
	if (cus != NULL && (rc = ledger_user_link(l, user, cus, str(obj, "subscription"))) != 0)
		goto out;
	if (mode != NULL && strcmp(mode, "subscription") == 0 && strcmp(type,
	    "checkout.session.completed") == 0) {
		const char *plan = str(meta, "plan");
		jv plans = ledger_plans(l), p = json_get(plans, plan ? plan : "");
		if (jv_get_kind(p) == JV_KIND_OBJECT && paid != NULL && strcmp(paid, "paid") == 0) {
			struct ledger_sub sub = { .id = str(obj, "subscription"), .status = "active",
				.plan = plan, .effective_plan = plan };
			jv created = json_get(obj, "created");
			int applied;
			sub.updated = jv_get_kind(created) == JV_KIND_NUMBER ?
			    (int64_t)jv_number_value(created) : 0;
			jv_free(created);
			rc = ledger_user_subscription(l, user, &sub, &applied);
			*res = jv_object_set(*res, jv_string("plan"), jv_string(plan));
		}
		jv_free(p);
	} else if (mode != NULL && strcmp(mode, "payment") == 0 && paid != NULL &&
	    strcmp(paid, "paid") == 0) {
		const char *pack = str(meta, "pack");
		jv packs = json_get(s->conf, "packs"), pk = json_get(packs, pack ? pack : "");
		jv credits = json_get(pk, "credits");
		char ext[300];
		if (jv_get_kind(credits) != JV_KIND_NUMBER || jv_number_value(credits) < 1) {
			warnx("%s: unknown credit pack %s", id, pack ? pack : "(no metadata.pack)");
			rc = EX_DATAERR;
		} else {
			snprintf(ext, sizeof ext, "checkout:%s", id);
			rc = ledger_grant(l, user, (int64_t)jv_number_value(credits), ext, "credit pack", &out);
			if (rc == 0) {
				*res = jv_object_set(*res, jv_string("granted"), json_get(out, "amount"));
				jv_free(out);
			}
		}
		jv_free(credits);
		jv_free(pk);
		jv_free(packs);
	}
out:
	jv_free(meta);
	return rc;
}

static int
apply_invoice(struct stripe *s, struct ledger *l, jv obj, const char *type, jv *res)
{
	const char *id = str(obj, "id"), *plan, *rule;
	jv parent = json_get(obj, "parent"), details = json_get(parent, "subscription_details");
	jv meta = json_get(details, "metadata"), user = jv_invalid(), line, price, billing, out;
	char ext[300];
	int rc;

	if (id == NULL) {
		warnx("event: invoice without id");
		rc = EX_DATAERR;
		goto out;
	}
	if ((rc = find_user(l, obj, meta, &user)) != 0)
		goto out;
	*res = jv_object_set(*res, jv_string("user"), json_get(user, "user"));
	billing = json_get(user, "billing");
	rule = json_str(s->conf, "past_due");
	if (strcmp(type, "invoice.payment_failed") == 0) {
		rc = ledger_user_past_due(l, json_str(user, "user"), 1,
		    rule != NULL && strcmp(rule, "free") == 0 ? "free" : NULL);
		*res = jv_object_set(*res, jv_string("past_due"), jv_true());
		jv_free(billing);
		goto out;
	}
	/* invoice.paid: the plan's monthly credits, once per invoice */
	line = first_item(obj, "lines");
	price = price_of(line);
	plan = plan_for_price(s, price);
	if (plan == NULL)
		plan = json_str(billing, "plan");
	if (plan == NULL)
		plan = json_str(user, "plan");
	jv pd = json_get(billing, "past_due");
	const char *back = jv_get_kind(pd) == JV_KIND_TRUE ? json_str(billing, "plan") : NULL;
	jv_free(pd);
	if ((rc = ledger_user_past_due(l, json_str(user, "user"), 0, back)) == 0) {
		jv plans = ledger_plans(l), p = json_get(plans, plan), mc = json_get(p, "monthly_credits");
		int64_t n = jv_get_kind(mc) == JV_KIND_NUMBER ? (int64_t)jv_number_value(mc) : 0;
		jv_free(mc);
		jv_free(p);
		if (n > 0) {
			snprintf(ext, sizeof ext, "invoice:%s", id);
			if ((rc = ledger_grant(l, json_str(user, "user"), n, ext, "subscription invoice",
			    &out)) == 0)
				jv_free(out);
		}
		*res = jv_object_set(*res, jv_string("plan"), jv_string(plan));
		*res = jv_object_set(*res, jv_string("granted"), jv_number((double)n));
	}
	jv_free(price);
	jv_free(line);
	jv_free(billing);
out:
	jv_free(user);
	jv_free(meta);
	jv_free(details);
	jv_free(parent);
	return rc;
}

static int
apply_subscription(struct stripe *s, struct ledger *l, jv obj, const char *type,
    int64_t created, jv *res)
{
	const char *status = str(obj, "status"), *plan, *effective = NULL;
	jv meta = json_get(obj, "metadata"), user = jv_invalid(), item, price, end, cancel;
	struct ledger_sub sub = { .updated = created };
	int rc, applied = 0, deleted = strcmp(type, "customer.subscription.deleted") == 0;

	if ((rc = find_user(l, obj, meta, &user)) != 0)
		goto out;
	item = first_item(obj, "items");
	price = price_of(item);
	plan = plan_for_price(s, price);
	end = json_get(item, "current_period_end");
	cancel = json_get(obj, "cancel_at_period_end");
	if (deleted || status == NULL || strcmp(status, "canceled") == 0 ||
	    strcmp(status, "unpaid") == 0 || strcmp(status, "incomplete_expired") == 0)
		effective = "free";
	else if (strcmp(status, "active") == 0 || strcmp(status, "trialing") == 0)
		effective = plan;           /* NULL (unknown price): keep the plan */
	else if (strcmp(status, "past_due") == 0) {
		const char *rule = json_str(s->conf, "past_due");
		effective = rule != NULL && strcmp(rule, "free") == 0 ? "free" : plan;
	}
	if (plan == NULL && jv_get_kind(price) == JV_KIND_STRING)
		warnx("%s: price %s maps to no plan (etc/stripe.json \"prices\"); plan kept",
		    str(obj, "id") ? str(obj, "id") : "subscription", jv_string_value(price));
	sub.id = str(obj, "id");
	sub.status = deleted ? "canceled" : status;
	sub.plan = plan;
	sub.effective_plan = effective;
	sub.period_end = jv_get_kind(end) == JV_KIND_NUMBER ? (int64_t)jv_number_value(end) : 0;
	sub.cancel_at_period_end = jv_get_kind(cancel) == JV_KIND_TRUE;
	rc = ledger_user_subscription(l, json_str(user, "user"), &sub, &applied);
	*res = jv_object_set(*res, jv_string("user"), json_get(user, "user"));
	if (!applied)
		*res = jv_object_set(*res, jv_string("result"), jv_string("stale"));
	else if (effective != NULL)
		*res = jv_object_set(*res, jv_string("plan"), jv_string(effective));
	jv_free(cancel);
	jv_free(end);
	jv_free(price);
	jv_free(item);
out:
	jv_free(user);
	jv_free(meta);
	return rc;
}

int
stripe_apply(struct stripe *s, struct ledger *l, jv ev, jv *out)
{
	const char *id = str(ev, "id"), *type = str(ev, "type");
	jv data = json_get(ev, "data"), obj = json_get(data, "object"), created = json_get(ev, "created");
	jv res = jv_invalid();
	int64_t t;
	int rc, seen;

	*out = jv_invalid();
	if (id == NULL || type == NULL || jv_get_kind(obj) != JV_KIND_OBJECT ||
	    jv_get_kind(created) != JV_KIND_NUMBER) {
		warnx("event: not a Stripe event (id, type, created, data.object)");
		rc = EX_DATAERR;
		goto out;
	}
	t = (int64_t)jv_number_value(created);
	res = JV_OBJECT(jv_string("event"), jv_string(id), jv_string("type"), jv_string(type),
	    jv_string("result"), jv_string("applied"));
	if ((rc = ledger_tx_begin(l)) != 0)
		goto out;
	if ((rc = ledger_event_record(l, id, type, t, &seen)) == 0 && !seen) {
		if (strcmp(type, "checkout.session.completed") == 0 ||
		    strcmp(type, "checkout.session.async_payment_succeeded") == 0)
			rc = apply_checkout(s, l, obj, type, &res);
		else if (strcmp(type, "invoice.paid") == 0 || strcmp(type, "invoice.payment_failed") == 0)
			rc = apply_invoice(s, l, obj, type, &res);
		else if (strncmp(type, "customer.subscription.", 22) == 0 &&
		    (strcmp(type + 22, "created") == 0 || strcmp(type + 22, "updated") == 0 ||
		    strcmp(type + 22, "deleted") == 0))
			rc = apply_subscription(s, l, obj, type, t, &res);
		else {
			warnx("%s: event type %s acknowledged, nothing to do", id, type);
			res = jv_object_set(res, jv_string("result"), jv_string("ignored"));
		}
	} else if (rc == 0)
		res = jv_object_set(res, jv_string("result"), jv_string("replayed"));
	util_crashpoint("stripe-apply");
	if ((rc = ledger_tx_end(l, rc)) != 0)
		goto out;
	*out = res;
	res = jv_invalid();
out:
	jv_free(res);
	jv_free(created);
	jv_free(obj);
	jv_free(data);
	jv_free(ev);
	return rc;
}

/* ---- the API: Checkout and billing-portal sessions ---- */

struct buf {
	char *p;
	size_t len;
	int retry_hdr;            /* Stripe-Should-Retry: 1 true, 0 false, -1 absent */
};

static size_t
on_body(char *d, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t k = sz * n;
	char *np;

	if (b->len + k > (1u << 20) || (np = realloc(b->p, b->len + k + 1)) == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, d, k);
	b->len += k;
	b->p[b->len] = '\0';
	return k;
}

static size_t
on_header(char *d, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t k = sz * n;

	if (k > 20 && strncasecmp(d, "Stripe-Should-Retry:", 20) == 0) {
		const char *v = d + 20;
		while (*v == ' ')
			v++;
		b->retry_hdr = strncmp(v, "true", 4) == 0 ? 1 : strncmp(v, "false", 5) == 0 ? 0 : -1;
	}
	return k;
}

/* append "&key=escaped(value)" */
static int
form_add(CURL *cu, char **form, const char *key, const char *value)
{
	char *e = curl_easy_escape(cu, value, 0), *nf;
	size_t old = *form ? strlen(*form) : 0, n;

	if (e == NULL)
		return -1;
	n = old + strlen(key) + strlen(e) + 3;
	if ((nf = realloc(*form, n)) == NULL) {
		curl_free(e);
		return -1;
	}
	snprintf(nf + old, n - old, "%s%s=%s", old ? "&" : "", key, e);
	*form = nf;
	curl_free(e);
	return 0;
}

/* POST form to path with Stripe's headers and retry rules; *out: the
 * response object. */
static int
api_post(struct stripe *s, const char *path, const char *form, jv *out)
{
	char key[256], url[1024], auth[300], idem[64], errbuf[CURL_ERROR_SIZE];
	const char *base = conf_str(s->c, "RS_STRIPE_API", "https://api.stripe.com");
	unsigned char r[16];
	int rc, attempt;
	long status = 0;

	*out = jv_invalid();
	if ((rc = secret(s->c, "RS_STRIPE_SECRET_KEY", key, sizeof key)) != 0)
		return rc;
	if (key[0] == '\0') {
		warnx("RS_STRIPE_SECRET_KEY: not set (nor RS_STRIPE_SECRET_KEY_FILE)");
		return EX_CONFIG;
	}
	snprintf(url, sizeof url, "%s%s", base, path);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
	sodium_memzero(key, sizeof key);
	randombytes_buf(r, sizeof r);
	memcpy(idem, "rs-", 3);
	util_hex(r, sizeof r, idem + 3);
	for (attempt = 0; ; attempt++) {   /* the same Idempotency-Key on every retry */
		struct buf b = { .retry_hdr = -1 };
		struct curl_slist *hd = NULL;
		char ih[100];
		CURL *cu = curl_easy_init();
		CURLcode cc;
		int retry;

		snprintf(ih, sizeof ih, "Idempotency-Key: %s", idem);
		hd = curl_slist_append(hd, auth);
		hd = curl_slist_append(hd, "Stripe-Version: " STRIPE_VERSION);
		hd = curl_slist_append(hd, ih);
		hd = curl_slist_append(hd, "Content-Type: application/x-www-form-urlencoded");
		curl_easy_setopt(cu, CURLOPT_URL, url);
		curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hd);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(cu, CURLOPT_HEADERDATA, &b);
		curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(cu, CURLOPT_USERAGENT, "rs/" RS_VERSION);
		curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
		errbuf[0] = '\0';
		cc = curl_easy_perform(cu);
		status = 0;
		curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(hd);
		curl_easy_cleanup(cu);
		/* stripe-node's rules: no response, Stripe-Should-Retry: true, 409
		 * or >= 500 retry; Stripe-Should-Retry: false and all else (429
		 * included) do not. At most 2 retries. */
		retry = cc != CURLE_OK ? 1 : b.retry_hdr >= 0 ? b.retry_hdr : status == 409 || status >= 500;
		if (!retry || attempt == 2) {
			if (cc != CURLE_OK) {
				warnx("%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
				rc = EX_TEMPFAIL;
			} else {
				jv v = b.p ? jv_parse(b.p) : jv_invalid();
				if (status >= 200 && status < 300 && jv_get_kind(v) == JV_KIND_OBJECT) {
					*out = v;
					rc = 0;
				} else {
					jv e = json_get(v, "error");
					const char *m = json_str(e, "message");
					warnx("%s: Stripe answered %ld: %s", path, status, m ? m : "no error message");
					rc = status >= 500 || status == 429 || status == 409 ? EX_TEMPFAIL :
					    EX_UNAVAILABLE;
					jv_free(e);
					jv_free(v);
				}
			}
			free(b.p);
			break;
		}
		free(b.p);
		{
			double d = 0.5 * (double)(1 << attempt);
			d = d > 5 ? 5 : d;
			d *= 0.5 + 0.5 * randombytes_uniform(1001) / 1000.0;
			d = d < 0.5 ? 0.5 : d;
			usleep((useconds_t)(d * 1e6));
		}
	}
	sodium_memzero(auth, sizeof auth);
	return rc;
}

/* POST a session request; *out: {"user","id","url"} for the browser */
static int
session_post(struct stripe *s, const char *path, const char *form, const char *user, jv *out)
{
	jv res;
	int rc;

	if ((rc = api_post(s, path, form, &res)) != 0)
		return rc;
	*out = JV_OBJECT(jv_string("user"), jv_string(user), jv_string("id"), json_get(res, "id"),
	    jv_string("url"), json_get(res, "url"));
	jv_free(res);
	return 0;
}

static int
public_url(struct stripe *s, const char *which, char *buf, size_t size)
{
	const char *base = conf_str(s->c, "RS_PUBLIC_URL", "http://localhost:8080");
	const char *p = json_str(s->conf, which);

	if ((size_t)snprintf(buf, size, "%s%s", base, p ? p : "/") >= size) {
		warnx("RS_PUBLIC_URL: too long");
		return EX_CONFIG;
	}
	return 0;
}

int
stripe_checkout(struct stripe *s, struct ledger *l, const char *user, const char *plan,
    const char *pack, jv *out)
{
	char ok[1024], no[1024], pbuf[256];
	const char *price = NULL, *cus;
	char *form = NULL;
	CURL *cu = NULL;
	jv u = jv_invalid(), prices = json_get(s->conf, "prices"), packs = json_get(s->conf, "packs");
	jv pk = jv_invalid(), billing = jv_invalid();
	int rc, bad = 0;

	*out = jv_invalid();
	if ((rc = ledger_user_get(l, user, &u)) != 0)
		goto out;
	if (plan != NULL && jv_get_kind(prices) == JV_KIND_OBJECT) {
		jv_object_foreach(prices, k, v) {
			if (price == NULL && jv_get_kind(v) == JV_KIND_STRING &&
			    strcmp(jv_string_value(v), plan) == 0 &&
			    (size_t)snprintf(pbuf, sizeof pbuf, "%s", jv_string_value(k)) < sizeof pbuf)
				price = pbuf;
			jv_free(k);
			jv_free(v);
		}
	} else if (pack != NULL) {
		pk = json_get(packs, pack);
		price = json_str(pk, "price");
	}
	if (price == NULL) {
		warnx("%s %s: no Stripe price for it in etc/stripe.json", plan ? "plan" : "pack",
		    plan ? plan : pack);
		rc = EX_DATAERR;
		goto out;
	}
	if ((rc = public_url(s, "success_url", ok, sizeof ok)) != 0 ||
	    (rc = public_url(s, "cancel_url", no, sizeof no)) != 0)
		goto out;
	cu = curl_easy_init();
	billing = json_get(u, "billing");
	cus = json_str(billing, "customer");
	bad |= form_add(cu, &form, "mode", plan ? "subscription" : "payment");
	bad |= form_add(cu, &form, "line_items[0][price]", price);
	bad |= form_add(cu, &form, "line_items[0][quantity]", "1");
	bad |= form_add(cu, &form, "success_url", ok);
	bad |= form_add(cu, &form, "cancel_url", no);
	bad |= form_add(cu, &form, "client_reference_id", user);
	bad |= form_add(cu, &form, "metadata[user]", user);
	bad |= form_add(cu, &form, plan ? "metadata[plan]" : "metadata[pack]", plan ? plan : pack);
	if (plan != NULL) {
		bad |= form_add(cu, &form, "subscription_data[metadata][user]", user);
		bad |= form_add(cu, &form, "subscription_data[metadata][plan]", plan);
	} else
		bad |= form_add(cu, &form, "payment_intent_data[metadata][user]", user);
	if (cus != NULL)
		bad |= form_add(cu, &form, "customer", cus);
	if (bad) {
		warn("checkout");
		rc = EX_OSERR;
		goto out;
	}
	rc = session_post(s, "/v1/checkout/sessions", form, user, out);
out:
	if (cu != NULL)
		curl_easy_cleanup(cu);
	free(form);
	jv_free(billing);
	jv_free(pk);
	jv_free(packs);
	jv_free(prices);
	jv_free(u);
	return rc;
}

int
stripe_portal(struct stripe *s, struct ledger *l, const char *user, jv *out)
{
	char back[1024];
	const char *cus;
	char *form = NULL;
	CURL *cu = NULL;
	jv u = jv_invalid(), billing = jv_invalid();
	int rc, bad = 0;

	*out = jv_invalid();
	if ((rc = ledger_user_get(l, user, &u)) != 0)
		goto out;
	billing = json_get(u, "billing");
	if ((cus = json_str(billing, "customer")) == NULL) {
		warnx("user %s: no Stripe customer yet (subscribe or buy credits first)", user);
		rc = EX_NOINPUT;
		goto out;
	}
	if ((rc = public_url(s, "return_url", back, sizeof back)) != 0)
		goto out;
	cu = curl_easy_init();
	bad |= form_add(cu, &form, "customer", cus);
	bad |= form_add(cu, &form, "return_url", back);
	if (bad) {
		warn("portal");
		rc = EX_OSERR;
		goto out;
	}
	rc = session_post(s, "/v1/billing_portal/sessions", form, user, out);
out:
	if (cu != NULL)
		curl_easy_cleanup(cu);
	free(form);
	jv_free(billing);
	jv_free(u);
	return rc;
}
