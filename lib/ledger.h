/* ledger.h: users, plans, bearer tokens, the credit ledger, rate-limit
 * buckets. Today one SQLite database (WAL) in the spool, $RS_SPOOL/rs.db;
 * the seam lets PostgreSQL replace it.
 *
 * Credits: a user's balance is what they can spend now. It is derived
 * from append-only ledger entries (a cached copy in users.balance is
 * updated in the same transaction, and CHECK(balance >= 0) holds). A
 * charge has two phases keyed by job id: reserve moves credits from the
 * balance into a hold; capture spends the hold (job done); release gives
 * it back (job failed). Each is idempotent: repeating it changes nothing
 * and returns the same answer. Grants are idempotent by an external id.
 *
 * Functions return 0 or an EX_* status, having printed one diagnostic:
 * 65 refused (no credits, bad amount, conflicting replay), 66 unknown
 * user/job/token, 75 database busy beyond the timeout, 77 bad token. */
#ifndef RS_LEDGER_H
#define RS_LEDGER_H

#include <stdint.h>
#include <jv.h>

struct ledger;                                  /* opaque: one connection */
/* Open $spool/rs.db (created, migrated when create is set). */
int  ledger_open(const char *spool, int create, struct ledger **lp);
void ledger_close(struct ledger *l);            /* NULL is fine */
/* The plans (etc/plans.json, or RS_PLANS): an object name → settings.
 * Borrowed; lives as long as l. */
jv   ledger_plans(struct ledger *l);

/* Users. *out receives the user object (owned). */
int  ledger_user_add(struct ledger *l, const char *user, const char *plan, jv *out);
int  ledger_user_get(struct ledger *l, const char *user, jv *out);
int  ledger_user_list(struct ledger *l, jv *out);          /* array */
int  ledger_user_plan(struct ledger *l, const char *user, const char *plan, jv *out);

/* Credits. *out receives {"user","balance","held",…} or the hold/entry. */
int  ledger_balance(struct ledger *l, const char *user, jv *out);
int  ledger_entries(struct ledger *l, const char *user, int limit, jv *out);
int  ledger_grant(struct ledger *l, const char *user, int64_t amount,
         const char *ext_id, const char *note, jv *out);
int  ledger_reserve(struct ledger *l, const char *user, int64_t amount,
         const char *job, jv *out);
int  ledger_capture(struct ledger *l, const char *job, jv *out);
int  ledger_release(struct ledger *l, const char *job, jv *out);
/* Holds still open (state held) that were reserved before the time: an
 * array of {"job","user","amount","state"}; for sweeping the holds of
 * uploads that died before their job was queued. */
int  ledger_holds_open(struct ledger *l, int64_t before, jv *out);
/* The monthly allowance of period "YYYY-MM" for user (NULL: everyone). */
int  ledger_allowance(struct ledger *l, const char *user, const char *period, jv *out);

/* Rate limit: take cost tokens from user's bucket. *allowed 1 or 0;
 * *out says tokens left and retry_after seconds. */
int  ledger_limit(struct ledger *l, const char *user, double cost, int *allowed, jv *out);

/* Bearer tokens: only a hash is stored. ttl 0 = the default. */
int  ledger_token_issue(struct ledger *l, const char *user, long ttl, jv *out);
int  ledger_token_verify(struct ledger *l, const char *token, jv *out); /* 77 if bad */
int  ledger_token_revoke(struct ledger *l, const char *token);

/* Transactions spanning several calls (a webhook event and its effect
 * commit together): between ledger_tx_begin and ledger_tx_end every
 * function joins the one transaction. ledger_tx_end commits when rc is 0,
 * else rolls back, and returns the final status. */
int  ledger_tx_begin(struct ledger *l);
int  ledger_tx_end(struct ledger *l, int rc);

/* Stripe billing state (lib/stripe.c interprets events; this stores).
 * ledger_event_record: *seen 1 when id was applied before, else records
 * it (commit it with its effect in one transaction). */
int  ledger_event_record(struct ledger *l, const char *id, const char *type,
         int64_t created, int *seen);
int  ledger_user_by_customer(struct ledger *l, const char *customer, jv *out);
int  ledger_user_link(struct ledger *l, const char *user, const char *customer,
         const char *subscription);                  /* subscription may be NULL */
struct ledger_sub {
	const char *id, *status;
	const char *plan;            /* the subscribed plan, NULL: unknown price */
	const char *effective_plan;  /* the plan to apply now, NULL: keep */
	int64_t period_end, updated; /* updated: the event's time, for ordering */
	int cancel_at_period_end;
};
/* Apply a subscription state unless a newer one is stored (*applied 0). */
int  ledger_user_subscription(struct ledger *l, const char *user,
         const struct ledger_sub *s, int *applied);
int  ledger_user_past_due(struct ledger *l, const char *user, int past_due,
         const char *plan);                          /* plan NULL: keep */

/* Accounts (rs-serve). ledger_account_get: {"email","has_password"}.
 * ledger_account_set hashes password with Argon2id; a user who has a
 * password must give it as current (77 if wrong). ledger_user_by_email
 * is quiet when there is none (66). ledger_login: the user, or 77 with
 * the same cost whether the email or the password was wrong. */
int  ledger_account_get(struct ledger *l, const char *user, jv *out);
int  ledger_account_set(struct ledger *l, const char *user, const char *email,
         const char *password, const char *current);
int  ledger_user_by_email(struct ledger *l, const char *email, jv *out);
int  ledger_login(struct ledger *l, const char *email, const char *password, jv *out);
/* A token bucket for any key (a client address, an email): cap tokens,
 * refilled per_minute; *retry seconds until cost would be allowed. */
int  ledger_limit_key(struct ledger *l, const char *key, double cap, double per_minute,
         double cost, int *allowed, double *retry);
/* The index of each user's restorations (job ids sort by age). */
int  ledger_job_add(struct ledger *l, const char *id, const char *user);
int  ledger_job_remove(struct ledger *l, const char *id);
/* Up to limit ids of user older than before (NULL: the newest), newest first. */
int  ledger_job_list(struct ledger *l, const char *user, const char *before, int limit, jv *out);

/* Moving an installation (lib/move.c). ledger_export calls emit with
 * {"table":NAME,"row":{COLUMN:VALUE,…}} for every row of every table,
 * rows referenced before the rows that reference them, blobs as hex;
 * emit borrows the record, and a non-zero return stops. Stop the
 * programs that write first: the rows are read in one transaction, but
 * on PostgreSQL at READ COMMITTED. ledger_import inserts one such record
 * (borrowed) inside ledger_tx_begin/end, into an empty ledger only: 65
 * when it already has users or the record is malformed. */
int  ledger_export(struct ledger *l, int (*emit)(jv rec, void *arg), void *arg);
int  ledger_import(struct ledger *l, jv rec);

/* Prove the cached balances equal the ledger sums; *out lists any that
 * do not (EX_SOFTWARE then). */
int  ledger_check(struct ledger *l, jv *out);

#endif
