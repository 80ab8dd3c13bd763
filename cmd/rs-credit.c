/* rs-credit: users, plans, credits, rate limits and tokens; one JSON
 * value out per command. The logic is lib/ledger.c; this file turns
 * words into calls. Tokens are read from standard input, never taken
 * from the command line, where other users could see them. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "json.h"
#include "ledger.h"
#include "move.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#define USAGE \
	"usage: rs-credit user add USER [--plan PLAN] | user show USER | user list\n" \
	"       rs-credit user plan USER PLAN | plan [list | show PLAN]\n" \
	"       rs-credit balance USER | ledger USER [--limit N]\n" \
	"       rs-credit grant USER N --id ID [--note TEXT]\n" \
	"       rs-credit reserve USER N --job JOB | capture --job JOB | release --job JOB\n" \
	"       rs-credit allowance [--period YYYY-MM] [USER]\n" \
	"       rs-credit limit USER [--cost N]\n" \
	"       rs-credit token issue USER [--ttl SECONDS] | token verify | token revoke\n" \
	"       rs-credit check | export > FILE | import < FILE\n"

static struct {
	const char *plan, *id, *note, *job, *period;
	long limit, ttl;
	double cost;
} opt = { .limit = 50, .cost = 1 };

static void
help(void)
{
	fputs(USAGE
	    "Credits, users and limits in $RS_SPOOL/rs.db, or in PostgreSQL with RS_DATABASE.\n"
	    "  --plan PLAN     plan for user add (default free)\n"
	    "  --id ID         external id that makes a grant idempotent\n"
	    "  --note TEXT     note kept with a grant\n"
	    "  --job JOB       job id of a two-phase charge\n"
	    "  --limit N       ledger entries to show (default 50)\n"
	    "  --period P      allowance period YYYY-MM (default this month, UTC)\n"
	    "  --cost N        tokens a request takes from the bucket (default 1)\n"
	    "  --ttl SECONDS   token lifetime (default 30 days)\n"
	    "  -h, --help      show this help\n"
	    "  -V, --version   show the version\n"
	    "Tokens for verify and revoke are read from standard input.\n"
	    "export writes the whole installation (ledger, jobs, objects) as JSON Lines;\n"
	    "import reads one into an empty one, e.g. with other RS_DATABASE and RS_STORE.\n",
	    stdout);
}

static int
amount(const char *s, int64_t *v)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n <= 0 || n > 1000000000) {
		warnx("amount %.40s: expected a whole number from 1 to 1000000000", s);
		return EX_DATAERR;
	}
	*v = n;
	return 0;
}

static int
read_token(char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, stdin) == NULL) {
		warnx("token: expected on standard input");
		return EX_USAGE;
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return 0;
}

static int
out(int rc, jv v)
{
	if (rc == 0)
		return json_write(stdout, v);
	jv_free(v);
	return rc;
}

static int
nargs(int have, int want)
{
	if (have != want) {
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	return 0;
}

static int
dispatch(struct ledger *l, int argc, char **argv)
{
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
	char tok[256], period[8];
	int64_t n;
	int rc, ok;
	jv v = jv_invalid();

	if (strcmp(cmd, "user") == 0) {
		if (strcmp(sub, "add") == 0 && (rc = nargs(argc, 3)) == 0)
			return out(ledger_user_add(l, argv[2], opt.plan, &v), v);
		if (strcmp(sub, "show") == 0 && (rc = nargs(argc, 3)) == 0)
			return out(ledger_user_get(l, argv[2], &v), v);
		if (strcmp(sub, "list") == 0 && (rc = nargs(argc, 2)) == 0)
			return out(ledger_user_list(l, &v), v);
		if (strcmp(sub, "plan") == 0 && (rc = nargs(argc, 4)) == 0)
			return out(ledger_user_plan(l, argv[2], argv[3], &v), v);
	} else if (strcmp(cmd, "plan") == 0) {
		if (argc == 1 || (strcmp(sub, "list") == 0 && argc == 2))
			return out(0, jv_copy(ledger_plans(l)));
		if (strcmp(sub, "show") == 0 && (rc = nargs(argc, 3)) == 0) {
			v = json_get(ledger_plans(l), argv[2]);
			if (jv_get_kind(v) != JV_KIND_OBJECT) {
				warnx("plan %.80s: unknown plan", argv[2]);
				jv_free(v);
				return EX_DATAERR;
			}
			return out(0, v);
		}
	} else if (strcmp(cmd, "balance") == 0 && (rc = nargs(argc, 2)) == 0)
		return out(ledger_balance(l, argv[1], &v), v);
	else if (strcmp(cmd, "ledger") == 0 && (rc = nargs(argc, 2)) == 0)
		return out(ledger_entries(l, argv[1], (int)opt.limit, &v), v);
	else if (strcmp(cmd, "grant") == 0 && (rc = nargs(argc, 3)) == 0) {
		if (opt.id == NULL) {
			warnx("grant: --id is required (it makes the grant idempotent)");
			return EX_USAGE;
		}
		if ((rc = amount(argv[2], &n)) != 0)
			return rc;
		return out(ledger_grant(l, argv[1], n, opt.id, opt.note, &v), v);
	} else if (strcmp(cmd, "reserve") == 0 && (rc = nargs(argc, 3)) == 0) {
		if (opt.job == NULL) {
			warnx("reserve: --job is required");
			return EX_USAGE;
		}
		if ((rc = amount(argv[2], &n)) != 0)
			return rc;
		return out(ledger_reserve(l, argv[1], n, opt.job, &v), v);
	} else if (strcmp(cmd, "capture") == 0 || strcmp(cmd, "release") == 0) {
		const char *job = argc == 2 ? argv[1] : opt.job;
		if (argc > 2 || job == NULL) {
			warnx("%s: --job is required", cmd);
			return EX_USAGE;
		}
		return out(cmd[0] == 'c' ? ledger_capture(l, job, &v) : ledger_release(l, job, &v), v);
	} else if (strcmp(cmd, "allowance") == 0 && argc <= 2) {
		if (opt.period == NULL)
			util_utc(time(NULL), "%Y-%m", period, sizeof period);
		return out(ledger_allowance(l, argc == 2 ? argv[1] : NULL,
		    opt.period ? opt.period : period, &v), v);
	} else if (strcmp(cmd, "limit") == 0 && (rc = nargs(argc, 2)) == 0) {
		if ((rc = ledger_limit(l, argv[1], opt.cost, &ok, &v)) != 0)
			return rc;
		rc = json_write(stdout, v);
		return rc != 0 ? rc : ok ? 0 : 1;
	} else if (strcmp(cmd, "token") == 0) {
		if (strcmp(sub, "issue") == 0 && (rc = nargs(argc, 3)) == 0)
			return out(ledger_token_issue(l, argv[2], opt.ttl, &v), v);
		if (strcmp(sub, "verify") == 0 && (rc = nargs(argc, 2)) == 0) {
			if ((rc = read_token(tok, sizeof tok)) != 0)
				return rc;
			return out(ledger_token_verify(l, tok, &v), v);
		}
		if (strcmp(sub, "revoke") == 0 && (rc = nargs(argc, 2)) == 0) {
			if ((rc = read_token(tok, sizeof tok)) != 0 || (rc = ledger_token_revoke(l, tok)) != 0)
				return rc;
			return out(0, JV_OBJECT(jv_string("revoked"), jv_true()));
		}
	} else if (strcmp(cmd, "check") == 0 && (rc = nargs(argc, 1)) == 0) {
		rc = ledger_check(l, &v);
		int w = json_write(stdout, JV_OBJECT(jv_string("ok"), jv_bool(rc == 0),
		    jv_string("disagree"), v));
		return rc != 0 ? rc : w;
	} else {
		warnx("%s: unknown command", cmd);
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	if (rc == 0) {
		warnx("%s %s: unknown command", cmd, sub);
		fputs(USAGE, stderr);
	}
	return EX_USAGE;
}

/* export / import: the whole installation, with the spool and the store */
static int
move(struct conf *c, struct ledger *l, const char *cmd)
{
	struct spool *sp = NULL;
	struct store *st = NULL;
	int rc, w;
	jv v;

	if ((rc = spool_open(conf_spool(c), 1, &sp)) == 0 &&
	    (rc = store_open(conf_spool(c), 1, &st)) == 0) {
		if (strcmp(cmd, "export") == 0)
			rc = move_export(l, sp, st, stdout, &v);
		else if ((rc = move_import(l, sp, st, stdin, &v)) == 0) {
			jv bad;
			rc = ledger_check(l, &bad);
			v = jv_object_set(v, jv_string("check"), JV_OBJECT(jv_string("ok"),
			    jv_bool(rc == 0), jv_string("disagree"), bad));
			w = json_write(stdout, v);
			v = jv_invalid();
			rc = rc != 0 ? rc : w;
		}
		jv_free(v);   /* export's summary is the stream's last line */
	}
	store_close(st);
	spool_close(sp);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "plan", required_argument, NULL, 'P' },
		{ "id", required_argument, NULL, 'I' },
		{ "note", required_argument, NULL, 'N' },
		{ "job", required_argument, NULL, 'J' },
		{ "limit", required_argument, NULL, 'L' },
		{ "period", required_argument, NULL, 'M' },
		{ "cost", required_argument, NULL, 'C' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	struct conf *c = NULL;
	struct ledger *l = NULL;
	char *end;
	int ch, rc;

	for (int i = 1; i < argc; i++)      /* "-5" is a bad amount, not an option */
		if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9') {
			warnx("amount %.40s: expected a whole number from 1 to 1000000000", argv[i]);
			return EX_DATAERR;
		}
	while ((ch = getopt_long(argc, argv, "hV", lo, NULL)) != -1)
		switch (ch) {
		case 'P': opt.plan = optarg; break;
		case 'I': opt.id = optarg; break;
		case 'N': opt.note = optarg; break;
		case 'J': opt.job = optarg; break;
		case 'M': opt.period = optarg; break;
		case 'L':
		case 'T':
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 || v <= 0) {
				warnx("--%s %s: expected a positive whole number",
				    ch == 'L' ? "limit" : "ttl", optarg);
				return EX_USAGE;
			}
			*(ch == 'L' ? &opt.limit : &opt.ttl) = v;
			break;
		case 'C':
			opt.cost = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(opt.cost > 0) || opt.cost > 1e6) {
				warnx("--cost %s: expected a positive number", optarg);
				return EX_USAGE;
			}
			break;
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-credit " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if (optind == argc) {
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	if ((rc = conf_load(&c)) == 0 && (rc = ledger_open(conf_spool(c), 1, &l)) == 0) {
		const char *cmd = argv[optind];
		if (strcmp(cmd, "export") == 0 || strcmp(cmd, "import") == 0)
			rc = argc - optind == 1 ? move(c, l, cmd) : nargs(argc - optind, 1);
		else
			rc = dispatch(l, argc - optind, argv + optind);
	}
	ledger_close(l);
	conf_free(c);
	return util_stdout_status(rc);
}
