/* rs-webhook: verify and apply a Stripe webhook event (raw body on
 * standard input, the Stripe-Signature header as an argument), or create
 * a Checkout or billing-portal session. The logic is lib/stripe.c. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "json.h"
#include "ledger.h"
#include "stripe.h"
#include "util.h"

#define MAX_BODY (1 << 20)
#define USAGE "usage: rs-webhook --signature HEADER < event.json\n" \
	"       rs-webhook checkout USER --plan PLAN | --pack PACK\n" \
	"       rs-webhook portal USER\n"

static struct {
	const char *signature, *plan, *pack;
} opt;

static void
help(void)
{
	fputs(USAGE
	    "Verify a Stripe event and apply it to the ledger exactly once, or start a\n"
	    "Checkout (subscription or credit pack) or billing-portal session.\n"
	    "  -s, --signature HEADER  the Stripe-Signature header of the request\n"
	    "  --plan PLAN             checkout: subscribe to PLAN\n"
	    "  --pack PACK             checkout: buy the credit pack PACK\n"
	    "  -h, --help              show this help\n"
	    "  -V, --version           show the version\n"
	    "Secrets come from the environment or files, never the command line:\n"
	    "RS_STRIPE_WEBHOOK_SECRET[_FILE], RS_STRIPE_WEBHOOK_SECRET_OLD[_FILE],\n"
	    "RS_STRIPE_SECRET_KEY[_FILE]. See rs-webhook(1).\n",
	    stdout);
}

static int
event(void)
{
	struct stripe *s = NULL;
	struct conf *c = NULL;
	struct ledger *l = NULL;
	unsigned char *body = NULL;
	size_t len;
	jv ev, out;
	int rc;

	if ((rc = stripe_open(&s)) != 0 || (rc = util_slurp("-", MAX_BODY, &body, &len)) != 0 ||
	    (rc = stripe_verify(s, opt.signature, body, len, (long long)time(NULL))) != 0)
		goto out;
	ev = jv_parse_sized((const char *)body, (int)len);
	if (jv_get_kind(ev) != JV_KIND_OBJECT) {
		if (jv_invalid_has_msg(jv_copy(ev))) {
			jv m = jv_invalid_get_msg(ev);
			warnx("event: not JSON: %s", jv_string_value(m));
			jv_free(m);
		} else {
			warnx("event: not a JSON object");
			jv_free(ev);
		}
		rc = EX_DATAERR;
		goto out;
	}
	if ((rc = conf_load(&c)) != 0 || (rc = ledger_open(conf_spool(c), 1, &l)) != 0) {
		jv_free(ev);
		goto out;
	}
	if ((rc = stripe_apply(s, l, ev, &out)) == 0)
		rc = json_write(stdout, out);
out:
	free(body);
	ledger_close(l);
	conf_free(c);
	stripe_close(s);
	return rc;
}

static int
session(int argc, char **argv)
{
	struct stripe *s = NULL;
	struct conf *c = NULL;
	struct ledger *l = NULL;
	int checkout = strcmp(argv[0], "checkout") == 0, rc;
	jv out;

	if (argc != 2 || (!checkout && strcmp(argv[0], "portal") != 0)) {
		warnx("%s: unknown command or wrong number of arguments", argv[0]);
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	if (checkout && (opt.plan == NULL) == (opt.pack == NULL)) {
		warnx("checkout: give either --plan or --pack");
		return EX_USAGE;
	}
	if ((rc = stripe_open(&s)) == 0 && (rc = conf_load(&c)) == 0 &&
	    (rc = ledger_open(conf_spool(c), 1, &l)) == 0) {
		rc = checkout ? stripe_checkout(s, l, argv[1], opt.plan, opt.pack, &out) :
		    stripe_portal(s, l, argv[1], &out);
		if (rc == 0)
			rc = json_write(stdout, out);
	}
	ledger_close(l);
	conf_free(c);
	stripe_close(s);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "signature", required_argument, NULL, 's' },
		{ "plan", required_argument, NULL, 'P' },
		{ "pack", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "hs:V", lo, NULL)) != -1)
		switch (ch) {
		case 's': opt.signature = optarg; break;
		case 'P': opt.plan = optarg; break;
		case 'K': opt.pack = optarg; break;
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-webhook " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if (optind < argc)
		return util_stdout_status(session(argc - optind, argv + optind));
	return util_stdout_status(event());
}
