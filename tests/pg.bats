load helper
# The ledger on PostgreSQL (RS_DATABASE): connecting, migrations,
# concurrency, a server restart. Runs when RS_TEST_DATABASE names a server
# (tests/scale/pg-up); the restart test starts a server of its own.

bal() { rs-credit balance "$1" | jq -r .balance; }

setup() {
	export RS_SPOOL="$BATS_TEST_TMPDIR/spool" RS_CONF=/dev/null
	T="$BATS_TEST_TMPDIR"
	[ -n "${RS_TEST_DATABASE:-}" ] || skip "RS_TEST_DATABASE is not set (tests/scale/pg-up)"
	scale_setup
}

@test "pg: a bad URL is a configuration error (78), the password never printed" {
	RS_DATABASE='postgresql://rs:s3cret@127.0.0.1:notaport/rs' run --separate-stderr rs-credit user list
	failed_with 78 rs-credit
	[[ "$stderr" == *'rs:***@127.0.0.1'* ]]
	[[ "$stderr" != *s3cret* ]]
	RS_DATABASE='mysql://rs:s3cret@127.0.0.1/rs' run --separate-stderr rs-credit user list
	failed_with 78 rs-credit
	[[ "$stderr" != *s3cret* ]]
	good=$RS_DATABASE                               # a wrong password
	RS_DATABASE=$(sed 's|^\(postgresql://[^:]*:\)[^@]*@|\1wrong-s3cret@|' <<<"$good") \
	    run --separate-stderr rs-credit user list
	failed_with 78 rs-credit
	[[ "$stderr" != *s3cret* ]]
}

@test "pg: a server that cannot be reached is a temporary failure (75)" {
	RS_DATABASE='postgresql://rs:s3cret@127.0.0.1:1/rs' run --separate-stderr rs-credit user list
	failed_with 75 rs-credit
	[[ "$stderr" == *'rs:***@'* ]]
	[[ "$stderr" != *s3cret* ]]
	[ ! -e "$RS_SPOOL/rs.db" ]
}

@test "pg: an empty schema is migrated once; reopening changes nothing; newer is refused" {
	run -0 rs-credit user list
	[ "$output" = '[]' ]
	[ "$(db_query "SELECT version FROM rs_migrations WHERE component = 'ledger'")" = 1 ]
	[ "$(db_query "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()
	    AND table_name IN ('users','ledger','holds','tokens','buckets','stripe_events','limits','restorations')")" = 8 ]
	[ ! -e "$RS_SPOOL/rs.db" ]                      # no SQLite file on the side
	rs-credit user add a --plan pro >/dev/null
	rs-credit grant a 7 --id g >/dev/null
	before=$(db_query "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE n.nspname = current_schema()")
	run -0 rs-credit balance a
	[ "$(jq -r .balance <<<"$output")" = 7 ]
	[ "$(db_query "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE n.nspname = current_schema()")" = "$before" ]
	db_query "UPDATE rs_migrations SET version = 99 WHERE component = 'ledger'"
	run --separate-stderr rs-credit balance a
	failed_with 78 rs-credit
	[[ "$stderr" == *newer* ]]
}

@test "pg: eight processes opening an empty schema at once all succeed" {
	for i in 1 2 3 4 5 6 7 8; do
		( rs-credit user add "u$i" >/dev/null 2>"$T/err.$i"; echo $? >"$T/rc.$i" ) &
	done
	wait
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(cat "$T/rc.$i")" = 0 ] || { cat "$T/err.$i" >&2; false; }
	done
	[ "$(rs-credit user list | jq length)" = 8 ]
	[ "$(db_query "SELECT version FROM rs_migrations WHERE component = 'ledger'")" = 1 ]
}

@test "pg: concurrent reserves, captures, releases and limits on one user stay exact" {
	rs-credit user add race --plan premium >/dev/null
	rs-credit grant race 100 --id seed >/dev/null
	for p in 1 2 3 4 5 6 7 8; do
		(
			ok=0 busy=0 rc=0
			for i in $(seq 1 25); do
				rc=0
				rs-credit reserve race 1 --job "p$p-$i" >/dev/null 2>>"$T/err" || rc=$?
				case $rc in
				0) if [ $((i % 5)) = 0 ]; then rs-credit release --job "p$p-$i" >/dev/null
				   else rs-credit capture --job "p$p-$i" >/dev/null && ok=$((ok + 1)); fi ;;
				75) busy=$((busy + 1)) ;;
				esac
				rs-credit limit race >/dev/null 2>&1 || true
			done
			echo "$ok $busy" >"$T/ok.$p"
		) &
	done
	wait
	[ "$(cat "$T"/ok.* | awk '{ s += $2 } END { print s }')" = 0 ]          # none gave up
	ok=$(cat "$T"/ok.* | awk '{ s += $1 } END { print s }')
	[ "$((ok + $(bal race)))" = 100 ]
	[ "$(db_query "SELECT count(*) FROM holds WHERE state = 'captured'")" = "$ok" ]
	[ "$(db_query "SELECT count(*) FROM holds WHERE state = 'held'")" = 0 ]
	run -0 rs-credit check
	! grep -v 'insufficient credits' "$T/err" || false
}

@test "pg: a deadlock is retried: the capture that lost it runs again and succeeds, quietly" {
	rs-credit user add dl >/dev/null
	rs-credit grant dl 5 --id g >/dev/null
	rs-credit reserve dl 2 --job j1 >/dev/null
	# another session locks the user, then (once the capture waits for
	# it, holding the hold's row) asks for the hold: a cycle
	cat >"$T/other.sql" <<-EOF
	BEGIN;
	SELECT 1 FROM users WHERE id = 'dl' FOR UPDATE;
	\\o $T/other.pid
	SELECT pg_backend_pid();
	\\o
	\\! touch $T/locked
	\\! while [ ! -e $T/go ]; do sleep 0.02; done
	SELECT 1 FROM holds WHERE job = 'j1' FOR UPDATE;
	COMMIT;
	EOF
	( psql -qXAt -v ON_ERROR_STOP=1 "$RS_DATABASE" -f "$T/other.sql" >/dev/null 2>"$T/other.err"
	  echo $? >"$T/other.rc" ) &
	while [ ! -e "$T/locked" ]; do sleep 0.02; done
	( rs-credit capture --job j1 >"$T/cap.out" 2>"$T/cap.err"; echo $? >"$T/cap.rc" ) &
	for i in $(seq 1 250); do        # until the capture waits for the other session
		[ "$(db_query "SELECT count(*) FROM pg_stat_activity
		    WHERE $(cat "$T/other.pid") = ANY(pg_blocking_pids(pid))")" -ge 1 ] && break
		sleep 0.02
	done
	touch "$T/go"
	wait
	[ "$(cat "$T/other.rc")" = 0 ] || { cat "$T/other.err" >&2; false; }  # it won
	[ "$(cat "$T/cap.rc")" = 0 ]
	[ ! -s "$T/cap.err" ]
	[ "$(jq -r .state "$T/cap.out")" = captured ]
	[ "$(bal dl)" = 3 ]
	[ "$(db_query "SELECT count(*) FROM ledger WHERE \"user\" = 'dl'")" = 3 ]
	run -0 rs-credit check
}

@test "pg: a PostgreSQL restart under load loses no credit and charges none twice" {
	D=/tmp/ledgerpg
	[ ! -e "$D" ] || tests_pg_down "$D"
	# durable: an immediate shutdown must not lose what was acknowledged
	url=$(PG_DURABLE=1 "$BATS_TEST_DIRNAME/scale/pg-up" "$D" 2>"$T/pg-up.log") || { cat "$T/pg-up.log" >&2; false; }
	export RS_DATABASE=$url
	rs-credit user add r >/dev/null
	rs-credit grant r 300 --id seed >/dev/null
	# 4 workers x 100 jobs against 300 credits; a client retries a job
	# that got 75 (the server away) until it has an answer
	for p in 1 2 3 4; do
		(
			ok=0
			for i in $(seq 1 100); do
				for try in $(seq 1 100); do
					rc=0
					rs-credit reserve r 1 --job "p$p-$i" >/dev/null 2>&1 || rc=$?
					[ $rc = 75 ] && { sleep 0.2; continue; }
					break
				done
				[ $rc = 0 ] || continue
				for try in $(seq 1 100); do
					rc=0
					rs-credit capture --job "p$p-$i" >/dev/null 2>&1 || rc=$?
					[ $rc = 75 ] && { sleep 0.2; continue; }
					break
				done
				[ $rc = 0 ] && ok=$((ok + 1))
			done
			echo "$ok" >"$T/ok.$p"
		) &
	done
	sleep 2
	pg_restart "$D" immediate
	sleep 2
	pg_restart "$D" fast
	wait
	ok=$(cat "$T"/ok.* | awk '{ s += $1 } END { print s }')
	bal=$(bal r)
	captured=$(db_query "SELECT count(*) FROM holds WHERE state = 'captured'")
	held=$(db_query "SELECT count(*) FROM holds WHERE state = 'held'")
	rs-credit check >"$T/check" || true
	tests_pg_down "$D"
	echo "ok $ok balance $bal captured $captured held $held" >&2
	[ "$ok" = 300 ]
	[ "$bal" = 0 ]
	[ "$captured" = 300 ]
	[ "$held" = 0 ]
	[ "$(jq -r .ok "$T/check")" = true ]
}

# restart the server pg-up started in DIR: pg_restart DIR MODE
pg_restart() {
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$(stat -c %U "$1/data")" -- "$bin/pg_ctl" -D "$1/data" -m "$2" \
		    -l "$1/log/postgres.log" -w -s restart >/dev/null 2>&1
	else
		"$bin/pg_ctl" -D "$1/data" -m "$2" -l "$1/log/postgres.log" -w -s restart >/dev/null 2>&1
	fi
}

tests_pg_down() { "$BATS_TEST_DIRNAME/scale/pg-down" "$1" 2>/dev/null; }
