load helper

db() { echo "$RS_SPOOL/rs.db"; }
bal() { rs-credit balance "$1" | jq -r .balance; }
# locked USER: another process writes for 3 seconds in the background,
# holding USER's row (PostgreSQL) or the database's write lock (SQLite)
locked() {
	if [ -n "${RS_DATABASE:-}" ]; then
		( printf 'BEGIN;\nSELECT 1 FROM users WHERE id = %s FOR UPDATE;\n\\! touch %s\nSELECT pg_sleep(3);\nCOMMIT;\n' \
		    "'$1'" "$T/locked" | psql -qX "$RS_DATABASE" >/dev/null ) &
	else
		( printf 'BEGIN IMMEDIATE;\nINSERT INTO buckets VALUES (%s, 0, 0);\n.system touch %s\n.system sleep 3\nCOMMIT;\n' \
		    "'$1'" "$T/locked" | sqlite3 "$(db)" ) &
	fi
	while [ ! -e "$T/locked" ]; do sleep 0.05; done
}

@test "rs-credit: the acceptance flow: add, grant, reserve, capture, release, balance" {
	run -0 rs-credit user add alice --plan pro
	[ "$(jq -r .plan <<<"$output")" = pro ]
	run -0 rs-credit grant alice 10 --id inv_1
	run -0 rs-credit reserve alice 3 --job j1
	[ "$(jq -r .state <<<"$output")" = held ]
	run -0 rs-credit balance alice
	[ "$(jq -r '"\(.balance) \(.held)"' <<<"$output")" = "7 3" ]
	run -0 rs-credit capture --job j1
	[ "$(jq -r .state <<<"$output")" = captured ]
	run -0 rs-credit reserve alice 2 --job j2
	run -0 rs-credit release --job j2
	[ "$(jq -r .state <<<"$output")" = released ]
	[ "$(bal alice)" = 7 ]
	run -0 rs-credit check
}

@test "rs-credit: a refused reserve exits 65, says why, and changes nothing" {
	rs-credit user add bob >/dev/null
	rs-credit grant bob 2 --id g1 >/dev/null
	run --separate-stderr rs-credit reserve bob 3 --job j1
	failed_with 65 rs-credit
	[[ "$stderr" == *"insufficient credits: balance 2"* ]]
	[ "$(bal bob)" = 2 ]
	run -0 rs-credit ledger bob
	[ "$(jq length <<<"$output")" = 1 ]
}

@test "rs-credit: every phase is idempotent and answers the same" {
	rs-credit user add c >/dev/null
	a=$(rs-credit grant c 5 --id inv_9); b=$(rs-credit grant c 5 --id inv_9)
	[ "$a" = "$b" ]
	a=$(rs-credit reserve c 2 --job j); b=$(rs-credit reserve c 2 --job j)
	[ "$a" = "$b" ]
	a=$(rs-credit capture --job j); b=$(rs-credit capture j)
	[ "$a" = "$b" ]
	[ "$(bal c)" = 3 ]
	[ "$(rs-credit ledger c | jq length)" = 3 ]
}

@test "rs-credit: conflicting replays are refused" {
	rs-credit user add d >/dev/null
	rs-credit user add e >/dev/null
	rs-credit grant d 5 --id inv_1 >/dev/null
	run --separate-stderr rs-credit grant d 6 --id inv_1
	failed_with 65 rs-credit
	run --separate-stderr rs-credit grant e 5 --id inv_1
	failed_with 65 rs-credit
	rs-credit reserve d 2 --job j >/dev/null
	run --separate-stderr rs-credit reserve d 1 --job j
	failed_with 65 rs-credit
	rs-credit release --job j >/dev/null
	run --separate-stderr rs-credit capture --job j
	failed_with 65 rs-credit
	[[ "$stderr" == *"already released"* ]]
	[ "$(bal d)" = 5 ]
}

@test "rs-credit: bad amounts, ids, users and plans" {
	rs-credit user add f >/dev/null
	for n in 0 -1 1.5 abc 99999999999999999999 1000000001 ""; do
		run --separate-stderr rs-credit grant f "$n" --id "x$RANDOM"
		failed_with 65 rs-credit
	done
	run --separate-stderr rs-credit grant f 1 --id "bad id"
	failed_with 65 rs-credit
	run --separate-stderr rs-credit reserve f 1 --job "../etc"
	failed_with 65 rs-credit
	run --separate-stderr rs-credit grant nobody 1 --id y
	failed_with 66 rs-credit
	run --separate-stderr rs-credit balance nobody
	failed_with 66 rs-credit
	run --separate-stderr rs-credit user add g --plan platinum
	failed_with 65 rs-credit
	run --separate-stderr rs-credit capture --job never
	failed_with 66 rs-credit
	run --separate-stderr rs-credit grant f 1
	failed_with 64 rs-credit
	run --separate-stderr rs-credit frobnicate
	failed_with 64 rs-credit
	[ "$(bal f)" = 0 ]
}

@test "rs-credit: users: show, list, change plan; adding twice is idempotent" {
	rs-credit user add u1 >/dev/null
	run -0 rs-credit user add u1
	run --separate-stderr rs-credit user add u1 --plan premium
	failed_with 65 rs-credit
	rs-credit user add u2 --plan premium >/dev/null
	run -0 rs-credit user list
	[ "$(jq -r 'map(.user) | join(",")' <<<"$output")" = u1,u2 ]
	run -0 rs-credit user plan u1 pro
	[ "$(rs-credit user show u1 | jq -r .plan)" = pro ]
	run -0 rs-credit plan show premium
	[ "$(jq -r .images_per_request <<<"$output")" = 3 ]
	[ "$(rs-credit plan | jq -r '.free.images_per_request')" = 1 ]
}

@test "rs-credit: plans come from RS_PLANS when set" {
	echo '{"gold": {"monthly_credits": 7, "rollover": true}}' >"$T/plans.json"
	RS_PLANS="$T/plans.json" run -0 rs-credit user add h --plan gold
	RS_PLANS="$T/plans.json" run -0 rs-credit allowance h --period 2026-01
	[ "$(jq -r '.[0].granted' <<<"$output")" = 7 ]
	echo 'not json' >"$T/bad.json"
	RS_PLANS="$T/bad.json" run --separate-stderr rs-credit plan
	failed_with 78 rs-credit
}

@test "rs-credit: monthly allowance: free resets, pro rolls over, each period once" {
	rs-credit user add free1 >/dev/null
	rs-credit user add pro1 --plan pro >/dev/null
	run -0 rs-credit allowance --period 2026-10
	[ "$(bal free1)" = 5 ]
	[ "$(bal pro1)" = 100 ]
	a=$(rs-credit allowance --period 2026-10)
	[ "$a" = "$output" ]                        # a replay answers the same
	[ "$(bal free1)" = 5 ]
	rs-credit reserve free1 2 --job j1 >/dev/null && rs-credit capture --job j1 >/dev/null
	rs-credit grant free1 4 --id pack_1 >/dev/null       # purchased credits stay
	run -0 rs-credit allowance --period 2026-11
	# free: min(balance 7, last allowance 5) = 5 expire, then 5 granted
	[ "$(jq -r '.[] | select(.user == "free1") | "\(.expired) \(.granted)"' <<<"$output")" = "5 5" ]
	[ "$(bal free1)" = 7 ]
	[ "$(bal pro1)" = 200 ]
	run --separate-stderr rs-credit allowance --period 2026-13
	failed_with 65 rs-credit
	run -0 rs-credit check
}

@test "rs-credit: the cached balance always equals the ledger's sum" {
	rs-credit user add k >/dev/null
	rs-credit grant k 50 --id a >/dev/null
	for i in $(seq 1 10); do rs-credit reserve k 3 --job "j$i" >/dev/null; done
	for i in 1 3 5 7; do rs-credit capture --job "j$i" >/dev/null; done
	for i in 2 4 6; do rs-credit release --job "j$i" >/dev/null; done
	[ "$(bal k)" = "$(db_query "SELECT sum(amount) FROM ledger WHERE \"user\" = 'k'")" ]
	[ "$(bal k)" = $((50 - 30 + 9)) ]
	run -0 rs-credit check
	# tamper with the cache behind the ledger's back: check notices
	db_query "UPDATE users SET balance = balance + 1 WHERE id = 'k'"
	run --separate-stderr rs-credit check
	[ "$status" -eq 70 ]
	[ "$(jq -r '.disagree[0].user' <<<"$output")" = k ]
}

@test "rs-credit: 16 processes x 200 reserve+capture against 1000 credits: exactly 1000 succeed" {
	rs-credit user add race >/dev/null
	rs-credit grant race 1000 --id seed >/dev/null
	export RS_DB_TIMEOUT=120000     # a loaded CI machine: wait rather than fail with 75
	for p in $(seq 1 16); do
		(
			ok=0
			for i in $(seq 1 200); do
				if rs-credit reserve race 1 --job "p$p-$i" >/dev/null 2>&1; then
					rs-credit capture --job "p$p-$i" >/dev/null 2>&1 && ok=$((ok + 1))
				fi
			done
			echo "$ok" >"$T/ok.$p"
		) &
	done
	wait
	[ "$(cat "$T"/ok.* | awk '{ s += $1 } END { print s }')" -eq 1000 ]
	[ "$(bal race)" -eq 0 ]
	[ "$(db_query "SELECT count(*) FROM holds WHERE state = 'captured'")" -eq 1000 ]
	run -0 rs-credit check
}

@test "rs-credit: SIGKILL inside a reserve commits nothing; the retry completes once" {
	rs-credit user add m >/dev/null
	rs-credit grant m 5 --id g >/dev/null
	RS_CRASH_AT=ledger-reserve run rs-credit reserve m 2 --job j1
	[ "$status" -eq 137 ]
	[ "$(bal m)" = 5 ]
	[ "$(db_query "SELECT count(*) FROM holds")" -eq 0 ]
	run -0 rs-credit reserve m 2 --job j1
	RS_CRASH_AT=ledger-reserved run rs-credit reserve m 2 --job j1
	[ "$(bal m)" = 3 ]
	RS_CRASH_AT=ledger-capture run rs-credit capture --job j1
	[ "$status" -eq 137 ]
	[ "$(rs-credit balance m | jq -r .held)" = 2 ]
	run -0 rs-credit capture --job j1
	run -0 rs-credit capture --job j1
	[ "$(bal m)" = 3 ]
	[ "$(db_query "SELECT count(*) FROM ledger WHERE \"user\" = 'm'")" -eq 3 ]
	run -0 rs-credit check
}

@test "rs-credit: a database busy beyond the timeout is a temporary failure" {
	rs-credit user add n >/dev/null
	locked n
	RS_DB_TIMEOUT=200 run --separate-stderr rs-credit grant n 1 --id g
	failed_with 75 rs-credit
	[[ "$stderr" == *"database busy"* ]]
	wait
	run -0 rs-credit grant n 1 --id g
}

@test "rs-credit: a read does not wait for another process's write" {
	rs-credit user add r >/dev/null
	rs-credit grant r 7 --id g >/dev/null
	locked r
	RS_DB_TIMEOUT=200 run -0 rs-credit balance r
	[ "$(echo "$output" | jq .balance)" -eq 7 ]
	wait
}

@test "rs-credit: a corrupt or foreign database is refused and left untouched" {
	skip_unless_sqlite "a damaged or foreign database file"
	mkdir -p "$RS_SPOOL"
	head -c 8192 /dev/urandom >"$(db)"
	cp "$(db)" "$T/before"
	run --separate-stderr rs-credit user add x
	failed_with 65 rs-credit
	cmp "$(db)" "$T/before"
	rm "$(db)"
	sqlite3 "$(db)" "CREATE TABLE photos(id); INSERT INTO photos VALUES (1);"
	cp "$(db)" "$T/before"
	run --separate-stderr rs-credit user add x
	failed_with 65 rs-credit
	[[ "$stderr" == *"not an rs database"* ]]
	cmp "$(db)" "$T/before"
}

@test "rs-credit: the WAL stays short, so a process opening the database reads little of it" {
	skip_unless_sqlite "SQLite's write-ahead log"
	rs-credit user add w >/dev/null
	for i in $(seq 1 60); do rs-credit grant w 1 --id "g$i" >/dev/null; done
	[ "$(bal w)" -eq 60 ]
	# the frames a newcomer must read: at most the 32 of the automatic
	# checkpoint and one transaction's (SQLite's default lets 1000 pile up)
	frames=$(sqlite3 "$(db)" "PRAGMA wal_checkpoint(PASSIVE)" | cut -d'|' -f2)
	[ "$frames" -le 48 ] || { echo "$frames frames in the WAL" >&2; return 1; }
}

@test "rs-credit: the schema is versioned; a newer database is refused" {
	skip_unless_sqlite "PRAGMA user_version and WAL (PostgreSQL: tests/pg.bats)"
	rs-credit user add v >/dev/null
	[ "$(sqlite3 "$(db)" "PRAGMA user_version")" -ge 1 ]
	[ "$(sqlite3 "$(db)" "PRAGMA journal_mode")" = wal ]
	run -0 rs-credit balance v                  # reopening migrates nothing
	sqlite3 "$(db)" "PRAGMA user_version = 99"
	run --separate-stderr rs-credit balance v
	failed_with 65 rs-credit
	[[ "$stderr" == *"newer"* ]]
}

@test "rs-credit: a version 1 database is migrated forward, keeping its data" {
	skip_unless_sqlite "the SQLite file's own migrations (PostgreSQL: tests/pg.bats)"
	rs-credit user add old >/dev/null
	rs-credit grant old 7 --id g >/dev/null
	# take the file back to schema 1: drop what migrations 3 and 2 added
	sqlite3 "$(db)" "DROP TABLE restorations; DROP TABLE limits; DROP INDEX users_email;
	  ALTER TABLE users DROP COLUMN email; ALTER TABLE users DROP COLUMN pwhash;
	  DROP TABLE stripe_events; DROP INDEX users_customer;
	  ALTER TABLE users DROP COLUMN stripe_customer; ALTER TABLE users DROP COLUMN stripe_subscription;
	  ALTER TABLE users DROP COLUMN sub_status; ALTER TABLE users DROP COLUMN sub_plan;
	  ALTER TABLE users DROP COLUMN sub_period_end; ALTER TABLE users DROP COLUMN sub_cancel;
	  ALTER TABLE users DROP COLUMN sub_updated; ALTER TABLE users DROP COLUMN past_due;
	  PRAGMA user_version = 1;"
	run -0 rs-credit balance old
	[ "$(jq -r .balance <<<"$output")" = 7 ]
	[ "$(sqlite3 "$(db)" "PRAGMA user_version")" = 3 ]
	[ "$(sqlite3 "$(db)" "SELECT count(*) FROM stripe_events")" = 0 ]
	[ "$(sqlite3 "$(db)" "SELECT count(*) FROM restorations")" = 0 ]
}

@test "rs-credit: rate limit: a bucket drains, says when to retry, and refills" {
	rs-credit user add r >/dev/null            # free: 5 tokens, 2 a minute
	export RS_NOW=1800000000
	for i in 1 2 3 4 5; do run -0 rs-credit limit r; done
	run rs-credit limit r
	[ "$status" -eq 1 ]
	[ "$(jq -r '"\(.allowed) \(.retry_after)"' <<<"$output")" = "false 30" ]
	RS_NOW=1800000030 run -0 rs-credit limit r
	RS_NOW=1800000030 run rs-credit limit r
	[ "$status" -eq 1 ]
	RS_NOW=1800003600 run -0 rs-credit limit r --cost 5
	run --separate-stderr rs-credit limit r --cost 6
	failed_with 65 rs-credit
	run --separate-stderr rs-credit limit nobody
	failed_with 66 rs-credit
}

@test "rs-credit: tokens: issued once, stored hashed, verified, revoked, expired" {
	rs-credit user add t >/dev/null
	export RS_NOW=1800000000
	tok=$(rs-credit token issue t --ttl 60 | jq -r .token)
	[[ "$tok" == rs1.* ]]
	run -0 rs-credit token verify <<<"$tok"
	[ "$(jq -r .user <<<"$output")" = t ]
	[ -n "${RS_DATABASE:-}" ] || ! grep -qF "${tok#rs1.}" "$(db)"* || false
	db_dump >"$T/dump"
	grep -q 'tokens' "$T/dump"
	! grep -qF "${tok#rs1.}" "$T/dump" || false
	run --separate-stderr rs-credit token verify <<<"${tok}x"
	failed_with 77 rs-credit
	run --separate-stderr rs-credit token verify <<<"garbage"
	failed_with 77 rs-credit
	RS_NOW=1800000061 run --separate-stderr rs-credit token verify <<<"$tok"
	failed_with 77 rs-credit
	[[ "$stderr" == *expired* ]]
	run -0 rs-credit token revoke <<<"$tok"
	run --separate-stderr rs-credit token verify <<<"$tok"
	failed_with 77 rs-credit
	[[ "$stderr" == *revoked* ]]
}

@test "rs-credit: --help, --version, usage errors" {
	run -0 rs-credit --help
	[[ "$output" == usage:* ]]
	run -0 rs-credit --version
	run --separate-stderr rs-credit
	[ "$status" -eq 64 ]
	run --separate-stderr rs-credit user
	[ "$status" -eq 64 ]
	run --separate-stderr rs-credit balance
	[ "$status" -eq 64 ]
}
