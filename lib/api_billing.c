/* api_billing.c: Stripe checkout, the customer portal and the webhook
 * for rs-serve (api.c routes them).
 *
 * Stripe is reached through rs-webhook(1), which runs lib/stripe.c: the
 * webhook's raw body goes to its standard input byte for byte, and its
 * JSON and exit status come back. Billing requests are rare and wait on
 * a remote service anyway, while linking libcurl (and its thirty shared
 * objects) into rs-serve would cost every connection its exec. */
#define _GNU_SOURCE                 /* pipe2 */
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

/* Run rs-webhook with args, body (may be NULL) on its stdin; *out its
 * JSON (owned; invalid if none). Returns its exit status, or -1. */
static int
webhook(struct api *a, char *const args[], const unsigned char *body, size_t len, jv *out)
{
	char path[PATH_MAX + 16], buf[65536];
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, st = 0;
	size_t n = 0;
	ssize_t k;
	pid_t pid;

	*out = jv_invalid();
	snprintf(path, sizeof path, "%s/rs-webhook", api_self(a));
	if (a->self[0] == '\0' || access(path, X_OK) != 0)
		snprintf(path, sizeof path, "rs-webhook");
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0) {
		warn("rs-webhook: pipe");
		goto fail;
	}
	fflush(stderr);
	if ((pid = fork()) < 0) {
		warn("rs-webhook: fork");
		goto fail;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(op[1], 1);
		execvp(path, args);
		warn("%s", path);
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	in[0] = op[1] = -1;
	/* rs-webhook reads all of its input before it writes anything */
	if (body != NULL && len > 0 && util_write_all(in[1], body, len) < 0)
		warn("rs-webhook: write");
	close(in[1]);
	in[1] = -1;
	while (n < sizeof buf - 1 && (k = read(op[0], buf + n, sizeof buf - 1 - n)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		n += (size_t)k;
	}
	close(op[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n > 0)
		*out = jv_parse_sized(buf, (int)n);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	return -1;
}

void
api_billing(struct api *a, int checkout)
{
	jv tok, body = jv_invalid(), out = jv_invalid();
	char *args[6];
	int rc;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (api_body_json(a, &body) != 0)
		goto done;
	args[0] = "rs-webhook";
	args[1] = checkout ? "checkout" : "portal";
	args[2] = a->user;
	args[3] = args[4] = args[5] = NULL;
	if (checkout) {
		const char *plan = json_str(body, "plan"), *pack = json_str(body, "pack");
		if ((plan == NULL) == (pack == NULL)) {
			api_fail(a, HTTP_UNPROCESSABLE, NULL, "give either plan or pack");
			goto done;
		}
		args[3] = plan != NULL ? "--plan" : "--pack";
		args[4] = (char *)(plan != NULL ? plan : pack);
	}
	rc = webhook(a, args, NULL, 0, &out);
	if (rc == 0 && jv_get_kind(out) == JV_KIND_OBJECT) {
		api_reply(a, HTTP_OK, out, NULL, NULL);
		out = jv_invalid();
	} else if (rc == EX_CONFIG)
		api_fail(a, HTTP_UNAVAILABLE, "billing_unavailable", "billing is not configured");
	else if (rc == 0 || rc < 0)
		api_fail(a, HTTP_INTERNAL, NULL, "internal error");
	else
		api_fail_ex(a, rc, checkout ? "no such plan or pack" : "no billing account yet");
done:
	jv_free(out);
	jv_free(body);
}

void
api_stripe_webhook(struct api *a)
{
	const char *sig = http_header(a->r, "Stripe-Signature");
	unsigned char *body = NULL;
	char *args[] = { "rs-webhook", "--signature", (char *)(sig != NULL ? sig : ""), NULL };
	size_t len = 0;
	ssize_t k;
	jv out = jv_invalid();
	int rc;

	if (a->r->length > WEBHOOK_MAX) {
		api_fail(a, HTTP_PAYLOAD_TOO_LARGE, NULL, "too large for an event");
		return;
	}
	if ((body = malloc(WEBHOOK_MAX + 1)) == NULL) {
		api_fail(a, HTTP_INTERNAL, NULL, "out of memory");
		return;
	}
	http_body_limit(a->c, WEBHOOK_MAX);
	while ((k = http_read_body(a->c, body + len, WEBHOOK_MAX + 1 - len)) > 0)
		len += (size_t)k;
	if (k < 0) {
		api_fail(a, (int)-k, NULL, "could not read the event");
		goto out;
	}
	/* the raw bytes, exactly as received, are what Stripe signed */
	rc = webhook(a, args, body, len, &out);
	if (rc == 0 && jv_get_kind(out) == JV_KIND_OBJECT) {
		api_reply(a, HTTP_OK, out, NULL, NULL);
		out = jv_invalid();
	} else if (rc >= 10 && rc <= 14)     /* the STRIPE_* verification failures */
		api_fail(a, HTTP_BAD_REQUEST, "bad_signature", "the Stripe signature does not verify");
	else if (rc == EX_CONFIG)
		api_fail(a, HTTP_UNAVAILABLE, "billing_unavailable", "webhooks are not configured");
	else if (rc == EX_DATAERR)
		api_fail(a, HTTP_BAD_REQUEST, "bad_event", "the event is not acceptable");
	else if (rc == 0 || rc < 0)
		api_fail(a, HTTP_INTERNAL, NULL, "internal error");
	else
		api_fail_ex(a, rc, "the event cannot be applied yet");
out:
	jv_free(out);
	free(body);
}
