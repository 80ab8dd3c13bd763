/* api_account.c: sessions and accounts for rs-serve (api.c routes them).
 *
 * POST /v1/session makes an anonymous free account and gives it the free
 * plan's allowance for the current month (idempotent per month:
 * ledger_allowance; repeated for free users on GET /v1/me and POST
 * /v1/restorations in a new month), so a first visit can restore at
 * once. An email and password are added later; Argon2id hashes them. */
#include <sys/stat.h>
#include <sys/wait.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "api_int.h"
#include "conf.h"
#include "http.h"
#include "json.h"
#include "ledger.h"
#include "spool.h"
#include "store.h"
#include "upload.h"
#include "util.h"

static int
limit_key(struct api *a, const char *key, double cap, double per_minute)
{
	int allowed, rc;

	if ((rc = ledger_limit_key(a->lg, key, cap, per_minute, 1, &allowed, &a->retry)) != 0) {
		api_fail_ex(a, rc, "rate limit");
		return -1;
	}
	if (!allowed) {
		api_fail(a, HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry in %.0f s",
		    a->retry);
		return -1;
	}
	return 0;
}

static jv
token_reply(jv tok, jv user)
{
	jv r = JV_OBJECT(jv_string("token"), json_get(tok, "token"),
	    jv_string("user"), json_get(tok, "user"),
	    jv_string("expires"), json_get(tok, "expires"),
	    jv_string("plan"), json_get(user, "plan"),
	    jv_string("credits"), json_get(user, "balance"));

	jv_free(tok);
	jv_free(user);
	return r;
}

void
api_post_session(struct api *a)
{
	char key[128], id[32];
	unsigned char rnd[10];
	jv u = jv_invalid(), tok = jv_invalid();
	int rc;

	if (api_need_ledger(a) != 0)
		return;
	snprintf(key, sizeof key, "session:%s", a->peer);
	if (limit_key(a, key, api_conf_num(a->conf, "RS_SESSION_BURST", 10),
	    api_conf_num(a->conf, "RS_SESSION_PER_MINUTE", 10)) != 0)
		return;
	randombytes_buf(rnd, sizeof rnd);
	memcpy(id, "u-", 2);
	util_hex(rnd, sizeof rnd, id + 2);
	if ((rc = ledger_user_add(a->lg, id, "free", &u)) != 0 ||
	    (rc = api_free_allowance(a, u)) != 0) {
		jv_free(u);
		api_fail_ex(a, rc, "account");
		return;
	}
	jv_free(u);
	snprintf(a->user, sizeof a->user, "%s", id);
	if ((rc = ledger_user_get(a->lg, id, &u)) != 0 ||
	    (rc = ledger_token_issue(a->lg, id, 0, &tok)) != 0) {
		jv_free(u);
		api_fail_ex(a, rc, "token");
		return;
	}
	api_reply(a, HTTP_CREATED, token_reply(tok, u), NULL, NULL);
}

static jv
plan_limits(struct api *a, const char *plan)
{
	jv s = json_get(ledger_plans(a->lg), plan != NULL ? plan : ""), out = jv_object();
	static const char *const keys[] = { "monthly_credits", "images_per_request",
	    "max_upload_bytes", "bucket_capacity", "bucket_refill_per_minute", "cost" };

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		jv v = json_get(s, keys[i]);
		if (jv_is_valid(v))
			out = jv_object_set(out, jv_string(keys[i]), v);
		else
			jv_free(v);
	}
	jv_free(s);
	return out;
}

double
api_plan_num(struct api *a, const char *plan, const char *key, double def)
{
	jv s = json_get(ledger_plans(a->lg), plan != NULL ? plan : ""), v = json_get(s, key);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : def;

	jv_free(v);
	jv_free(s);
	return d;
}

void
api_get_me(struct api *a)
{
	jv tok, u = jv_invalid(), acc = jv_invalid(), me;
	int rc;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if ((rc = ledger_user_get(a->lg, a->user, &u)) != 0 || (rc = api_free_allowance(a, u)) != 0)
		goto err;
	jv_free(u);
	if ((rc = ledger_user_get(a->lg, a->user, &u)) != 0 ||
	    (rc = ledger_account_get(a->lg, a->user, &acc)) != 0)
		goto err;
	me = JV_OBJECT(jv_string("user"), json_get(u, "user"), jv_string("plan"), json_get(u, "plan"),
	    jv_string("credits"), json_get(u, "balance"), jv_string("held"), json_get(u, "held"),
	    jv_string("email"), json_get(acc, "email"),
	    jv_string("has_password"), json_get(acc, "has_password"),
	    jv_string("limits"), plan_limits(a, json_str(u, "plan")));
	{
		jv b = json_get(u, "billing");
		if (jv_get_kind(b) == JV_KIND_OBJECT)
			me = jv_object_set(me, jv_string("billing"), JV_OBJECT(
			    jv_string("status"), json_get(b, "status"),
			    jv_string("period_end"), json_get(b, "period_end"),
			    jv_string("cancel_at_period_end"), json_get(b, "cancel_at_period_end"),
			    jv_string("past_due"), json_get(b, "past_due")));
		jv_free(b);
	}
	jv_free(u);
	jv_free(acc);
	api_reply(a, HTTP_OK, me, NULL, NULL);
	return;
err:
	jv_free(u);
	jv_free(acc);
	api_fail_ex(a, rc, "account");
}

/* a plausible address: local@domain, printable, no spaces; lower-cased */
static int
valid_email(const char *in, char *out, size_t size)
{
	size_t n = strlen(in);
	const char *at = strchr(in, '@');

	if (n < 3 || n > 254 || n >= size || at == NULL || at == in || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (i < n && (ch <= 0x20 || ch == 0x7f || ch == '"' || ch == '<' || ch == '>' ||
		    ch == '(' || ch == ')' || ch == ',' || ch == ';' || ch == '\\'))
			return 0;
		out[i] = (char)tolower(ch);
	}
	return 1;
}

void
api_post_account(struct api *a)
{
	char email[256];
	const char *e, *pw, *cur;
	jv tok, body = jv_invalid(), other = jv_invalid();
	int rc;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (api_body_json(a, &body) != 0)
		return;
	e = json_str(body, "email");
	pw = json_str(body, "password");
	cur = json_str(body, "current_password");
	if (e == NULL || !valid_email(e, email, sizeof email)) {
		api_fail(a, HTTP_UNPROCESSABLE, "invalid_email", "email: expected an address like name@example.org");
		goto out;
	}
	if (pw == NULL || strlen(pw) < 8 || strlen(pw) > 1024) {
		api_fail(a, HTTP_UNPROCESSABLE, "invalid_password", "password: 8 to 1024 bytes");
		goto out;
	}
	rc = ledger_user_by_email(a->lg, email, &other);
	if (rc == 0 && strcmp(json_str(other, "user"), a->user) != 0) {
		api_fail(a, HTTP_UNPROCESSABLE, "email_taken", "that email belongs to another account");
		goto out;
	}
	if (rc != 0 && rc != EX_NOINPUT) {
		api_fail_ex(a, rc, "account");
		goto out;
	}
	if ((rc = ledger_account_set(a->lg, a->user, email, pw, cur)) != 0) {
		if (rc == EX_NOPERM)
			api_fail(a, HTTP_FORBIDDEN, "wrong_password",
			    "current_password: give the account's current password to change it");
		else if (rc == EX_DATAERR)
			api_fail(a, HTTP_UNPROCESSABLE, "email_taken", "that email belongs to another account");
		else
			api_fail_ex(a, rc, "account");
		goto out;
	}
	jv_free(body);
	jv_free(other);
	api_get_me(a);
	return;
out:
	jv_free(body);
	jv_free(other);
}

void
api_post_login(struct api *a)
{
	char email[256], key[320];
	const char *e, *pw;
	jv body = jv_invalid(), u = jv_invalid(), tok = jv_invalid();
	int rc;

	if (api_need_ledger(a) != 0 || api_body_json(a, &body) != 0)
		return;
	e = json_str(body, "email");
	pw = json_str(body, "password");
	if (e == NULL || pw == NULL || !valid_email(e, email, sizeof email) || strlen(pw) > 1024) {
		api_fail(a, HTTP_UNPROCESSABLE, "invalid", "give email and password");
		goto out;
	}
	snprintf(key, sizeof key, "login-peer:%s", a->peer);
	if (limit_key(a, key, api_conf_num(a->conf, "RS_LOGIN_PEER_BURST", 20),
	    api_conf_num(a->conf, "RS_LOGIN_PEER_PER_MINUTE", 10)) != 0)
		goto out;
	snprintf(key, sizeof key, "login:%s", email);
	if (limit_key(a, key, api_conf_num(a->conf, "RS_LOGIN_BURST", 5),
	    api_conf_num(a->conf, "RS_LOGIN_PER_MINUTE", 2)) != 0)
		goto out;
	if ((rc = ledger_login(a->lg, email, pw, &u)) != 0) {
		if (rc == EX_NOPERM)
			api_fail(a, HTTP_UNAUTHORIZED, "bad_credentials", "wrong email or password");
		else
			api_fail_ex(a, rc, "login");
		goto out;
	}
	snprintf(a->user, sizeof a->user, "%s", json_str(u, "user"));
	if ((rc = ledger_token_issue(a->lg, a->user, 0, &tok)) != 0) {
		api_fail_ex(a, rc, "token");
		goto out;
	}
	api_reply(a, HTTP_OK, token_reply(tok, u), NULL, NULL);
	u = jv_invalid();
out:
	jv_free(u);
	jv_free(body);
}

void
api_post_logout(struct api *a)
{
	jv tok;
	int rc;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if ((rc = ledger_token_revoke(a->lg, a->token)) != 0) {
		api_fail_ex(a, rc, "token");
		return;
	}
	api_send_body(a, HTTP_NO_CONTENT, NULL, NULL, NULL, "", 0);
}
