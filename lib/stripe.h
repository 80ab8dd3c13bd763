/* stripe.h: Stripe billing. Webhook signatures verified exactly as
 * Stripe's libraries do; events applied to the ledger exactly once and
 * in any order; Checkout and billing-portal sessions over libcurl.
 * Settings: etc/stripe.json (price → plan, credit packs; RS_STRIPE_CONF
 * overrides), RS_STRIPE_WEBHOOK_SECRET (+ _OLD during a rotation, or
 * _FILE variants), RS_STRIPE_SECRET_KEY (or _FILE), RS_STRIPE_API,
 * RS_STRIPE_TOLERANCE, RS_PUBLIC_URL.
 * Functions return 0 or a status, having printed one diagnostic. */
#ifndef RS_STRIPE_H
#define RS_STRIPE_H

#include <stddef.h>
#include <jv.h>

#include "ledger.h"

/* Verification failures, distinct so a caller can tell them apart. */
enum {
	STRIPE_NO_HEADER = 10,     /* no Stripe-Signature value */
	STRIPE_BAD_HEADER = 11,    /* no t=, or t is not a number */
	STRIPE_NO_V1 = 12,         /* no v1 signature in the header */
	STRIPE_MISMATCH = 13,      /* no v1 matches any configured secret */
	STRIPE_STALE = 14,         /* timestamp outside the tolerance, past or future */
};
#define STRIPE_TOLERANCE 300
#define STRIPE_VERSION "2026-07-29.dahlia"

struct stripe;                                       /* opaque: settings */
int  stripe_open(struct stripe **sp);                /* reads the settings */
void stripe_close(struct stripe *s);                 /* NULL is fine */
/* Verify header against body with each configured secret; now is the
 * clock in seconds. 0 or a STRIPE_* status. */
int  stripe_verify(struct stripe *s, const char *header, const unsigned char *body,
         size_t len, long long now);
/* The same check with explicit secrets (NULL-terminated), for tests. */
int  stripe_verify_with(const char *const *secrets, long tolerance, const char *header,
         const unsigned char *body, size_t len, long long now);
/* Apply a verified event once. *out: {"event","type","applied"|"replayed",…}.
 * Consumes event. */
int  stripe_apply(struct stripe *s, struct ledger *l, jv event, jv *out);
/* Create a Checkout Session for user: a plan (subscription) or a pack
 * (one-time payment). *out: {"id","url"}. */
int  stripe_checkout(struct stripe *s, struct ledger *l, const char *user,
         const char *plan, const char *pack, jv *out);
int  stripe_portal(struct stripe *s, struct ledger *l, const char *user, jv *out);

#endif
