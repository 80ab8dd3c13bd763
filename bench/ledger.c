/* bench/ledger: two-phase charges per second through lib/ledger in one
 * process, beside plain single-row INSERT transactions on a database with
 * the same settings: the floor for this design. SQLite in DIR (WAL,
 * synchronous=FULL), or PostgreSQL when RS_DATABASE is set (the anchor:
 * one autocommit INSERT through libpq, the same server and settings).
 * Rounds alternate the two so that disk and load drift hit both alike;
 * prints the medians and the median of the per-round ratios.
 * Usage: bench/ledger DIR N ROUNDS */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sqlite3.h>

#include "ledger.h"
#include "pg.h"

static double
secs(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char *argv[])
{
	struct ledger *l;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	PGconn *pg = NULL;
	PGresult *res;
	const char *url, *p[1];
	char path[4096], job[64];
	double t0, charge[64], insert[64], ratio[64];
	int n, rounds, k = 0;
	jv v;

	if (argc != 4 || (n = atoi(argv[2])) <= 0 || (rounds = atoi(argv[3])) <= 0 || rounds > 64)
		errx(64, "usage: bench/ledger DIR N ROUNDS");
	if (pg_url(&url) != 0 || ledger_open(argv[1], 1, &l) != 0 ||
	    ledger_user_add(l, "bench", "premium", &v) != 0)
		return 1;
	jv_free(v);
	if (ledger_grant(l, "bench", 1000000000, "bench-seed", NULL, &v) != 0)
		return 1;
	jv_free(v);
	snprintf(path, sizeof path, "%s/plain.db", argv[1]);
	if (url != NULL) {
		if (pg_connect(url, &pg) != 0)
			return 1;
		res = PQexec(pg, "CREATE TABLE IF NOT EXISTS bench_plain(id bigint GENERATED ALWAYS AS "
		    "IDENTITY PRIMARY KEY, job text, at bigint)");
		if (pg_check(res, "bench_plain") != 0)
			return 1;
		PQclear(res);
	} else if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE t(id INTEGER PRIMARY KEY, job TEXT, at INTEGER)", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO t(job, at) VALUES (?1, 0)", -1, &st, NULL) != SQLITE_OK)
		errx(1, "%s: %s", path, sqlite3_errmsg(db));
	for (int r = 0; r < rounds; r++) {
		t0 = secs();
		for (int i = 0; i < n; i++, k++) {
			snprintf(job, sizeof job, "job-%d", k);
			if (ledger_reserve(l, "bench", 1, job, &v) != 0)
				return 1;
			jv_free(v);
			if (ledger_capture(l, job, &v) != 0)
				return 1;
			jv_free(v);
		}
		charge[r] = n / (secs() - t0);
		t0 = secs();
		for (int i = 0; i < n && pg != NULL; i++) {
			p[0] = job;
			res = PQexecParams(pg, "INSERT INTO bench_plain(job, at) VALUES ($1, 0)", 1, NULL,
			    p, NULL, NULL, 0);
			if (pg_check(res, "insert") != 0)
				return 1;
			PQclear(res);
		}
		for (int i = 0; i < n && pg == NULL; i++) {
			sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
			sqlite3_bind_text(st, 1, job, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) != SQLITE_DONE)
				errx(1, "insert: %s", sqlite3_errmsg(db));
			sqlite3_reset(st);
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		}
		insert[r] = n / (secs() - t0);
		ratio[r] = charge[r] / insert[r];
	}
	printf("%s:\n", url != NULL ? "PostgreSQL (RS_DATABASE)" : "SQLite");
	printf("plain INSERT transactions (anchor): %8.0f /s\n", median(insert, rounds));
	printf("two-phase charges (reserve+capture): %7.0f /s\n", median(charge, rounds));
	printf("ratio, median of %d rounds of %d: %.2f (target >= 0.50)\n", rounds, n,
	    median(ratio, rounds));
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (pg != NULL)
		PQfinish(pg);
	ledger_close(l);
	return 0;
}
