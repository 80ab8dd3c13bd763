load helper
load queue

# The job queue in PostgreSQL (lib/spool_pg.c) across "hosts": each host
# is a working directory of its own ($T/A, $T/B) with its own RS_SPOOL and
# its own host name (a UTS namespace: unshare -u), sharing one database
# (RS_DATABASE: this test's schema in RS_TEST_DATABASE). The ledger is in
# the same database. The objects are not: until a test runs with S3
# (RS_STORE), host B's objects directory is a symlink to host A's, which
# stands for the shared bucket.

setup() {
	export RS_CONF=/dev/null RS_KICK=none
	unset RS_MAX_BYTES RS_MAX_PIXELS RS_MAX_SIDE RS_CORS_ORIGINS RS_WEB_ROOT RS_HSTS
	unset RS_STRIPE_WEBHOOK_SECRET RS_STRIPE_SECRET_KEY RS_STRIPE_API RS_FREE_ALLOWANCE
	T="$BATS_TEST_TMPDIR"
	export RS_SPOOL="$T/A/spool"
	scale_setup
	[ -n "${RS_DATABASE:-}" ] || skip "the queue in PostgreSQL: set RS_TEST_DATABASE (tests/scale/pg-up)"
	if unshare -u true 2>/dev/null; then U=(unshare -u)
	elif unshare -Ur -u true 2>/dev/null; then U=(unshare -Ur -u)
	else skip "unshare -u (a host name per runner) is not allowed here"
	fi
	# "${A[@]}" CMD, "${B[@]}" CMD: run CMD as host A or B (a simple
	# command, so CMD & gives CMD's own pid in $!)
	A=(env -C "$T/A" RS_SPOOL="$T/A/spool" "${U[@]}" sh -c 'hostname "$0" && exec "$@"' hostA)
	B=(env -C "$T/B" RS_SPOOL="$T/B/spool" "${U[@]}" sh -c 'hostname "$0" && exec "$@"' hostB)
	mkdir -p "$T/A/spool/objects" "$T/B/spool"
	ln -s "$T/A/spool/objects" "$T/B/spool/objects"
	img a jpeg:32x24
}

teardown() {
	for p in ${KILL:-}; do kill "$p" 2>/dev/null || true; done
	[ -z "${OWNPG:-}" ] || "$BATS_TEST_DIRNAME/scale/pg-down" "$OWNPG" 2>/dev/null || true
}

# on A|B CMD [ARG ...]: run CMD as that host
on() { if [ "$1" = A ]; then shift; "${A[@]}" "$@"; else shift; "${B[@]}" "$@"; fi; }
account() { rs-credit user add "$1" >/dev/null && rs-credit grant "$1" "$2" --id "grant-$1" >/dev/null; }
balance() { rs-credit balance "$1" | jq -r '"\(.balance) \(.held)"'; }
captures() { rs-credit ledger "$1" --limit 100000 | jq '[.[] | select(.kind == "capture")] | length'; }
script() { printf '#!/bin/sh\n%s\n' "$2" >"$T/$1" && chmod +x "$T/$1"; }
# slow_job: alice's one job, run by host A in the background ($r) with a
# model that waits for $T/slow.go; returns once the model has started
slow_job() {
	account alice 1
	rs-upload -e -u alice "$T/a.jpeg" >/dev/null
	script slow 'touch "$0.started"; while [ ! -e "$0.go" ]; do sleep 0.05; done; cp "$1" "$2"'
	"${A[@]}" rs-run -b "exec:$T/slow" >"$T/out" 2>"$T/err" 3>&- &
	r=$!
	while [ ! -e "$T/slow.started" ]; do sleep 0.05; done
}
# own_pg: a PostgreSQL server of this test's own ($OWNPG, stopped by
# teardown) as RS_DATABASE (not yet exported), for a test that stops it
own_pg() {
	OWNPG=$(mktemp -d /tmp/queuepg.XXXXXX)
	rmdir "$OWNPG"
	RS_DATABASE=$("$BATS_TEST_DIRNAME/scale/pg-up" "$OWNPG" 2>/dev/null) || skip "tests/scale/pg-up failed"
}

@test "pg-queue: runners on two hosts share one database; each of 300 jobs runs once, charged once" {
	n=300
	account alice $n
	seq $n | xargs -P 2 -I{} rs-upload -e -u alice "$T/a.jpeg" >/dev/null
	[ "$(jobs_in new)" = $n ]
	[ "$(balance alice)" = "0 $n" ]
	"${A[@]}" rs-run --shared -j 2 -b none >"$T/ra" 2>"$T/ea" 3>&- &
	"${B[@]}" rs-run --shared -j 2 -b none >"$T/rb" 2>"$T/eb" 3>&- &
	wait
	[ -z "$(cat "$T/ea" "$T/eb")" ]
	[ "$(cat "$T/ra" "$T/rb" | jq -s 'map(.done) | add')" = $n ]
	[ "$(jobs_in done)" = $n ]
	[ "$(jobs_in new)$(jobs_in cur)$(jobs_in failed)" = 000 ]
	# nobody ran a job twice: one attempt each, nothing recovered
	[ "$(jobs_cat done | jq -s 'map(select(.attempts != 1 or .recovered)) | length')" = 0 ]
	# both hosts did work
	[ "$(jobs_cat done | jq -r .lease.host | sort -u | tr '\n' ' ')" = "hostA hostB " ]
	[ "$(balance alice)" = "0 0" ]
	[ "$(captures alice)" = $n ]
	[ "$(runners_n)" = 0 ]
	echo "# host A did $(jq .done "$T/ra"), host B $(jq .done "$T/rb")" >&3
}

@test "pg-queue: a runner SIGKILLed mid-job; another host takes the job over once the lease expires" {
	export RS_RUN_LEASE=2
	account alice 1
	rs-upload -e -u alice "$T/a.jpeg" >/dev/null
	script slow 'echo $$ >"$0.pid"; exec sleep 60'
	"${B[@]}" rs-run -b "exec:$T/slow" >/dev/null 2>&1 3>&- &
	runner=$!
	while [ ! -s "$T/slow.pid" ]; do sleep 0.05; done
	kill -9 "$runner" "$(cat "$T/slow.pid")"          # the runner and its model
	wait "$runner" || true
	killed=$EPOCHREALTIME
	[ "$(rs-run status | jq -c '[.queued, .running]')" = "[0,1]" ]
	# host A at once: the lease is still alive (B's heartbeat is younger than 2 s)
	run -0 on A rs-run -b none
	[ "$(jq -c '[.done, .recovered]' <<<"$output")" = "[0,0]" ]
	awk -v s="$killed" -v e="$EPOCHREALTIME" 'BEGIN { exit !(e - s < 2) }'
	[ "$(balance alice)" = "0 1" ]
	sleep 2.2
	run -0 on A rs-run -b none
	[ "$(jq -c '[.done, .recovered]' <<<"$output")" = "[1,1]" ]
	[ "$(jobs_cat done | jq -r '"\(.attempts) \(.recovered) \(.lease.host)"')" = "2 true hostA" ]
	[ "$(balance alice)" = "0 0" ]
	[ "$(captures alice)" = 1 ]
	# B's registration is gone once A swept it (silent past its lease: left to expire)
	[ "$(rs-run status | jq -c '[.running, .done, .runners]')" = "[0,1,0]" ]
}

@test "pg-queue: a runner whose job was taken over while it worked leaves it to the new holder, uncharged" {
	slow_job
	# as if A's lease had expired and host B had recovered the job
	id=$(jobs_ids cur)
	psql -qXAt -v ON_ERROR_STOP=1 "$RS_DATABASE" -c "UPDATE rs_jobs SET runner = 'b0b0b0b0b0b0b0b0' WHERE id = '$id'"
	touch "$T/slow.go"
	st=0
	wait "$r" || st=$?
	[ "$st" = 75 ] || { echo "status $st"; cat "$T/err"; false; }
	grep -q "no longer held" "$T/err"
	# still running, B's; nothing decided, nothing charged
	[ "$(psql -qXAt "$RS_DATABASE" -c "SELECT state, runner FROM rs_jobs WHERE id = '$id'")" = "1|b0b0b0b0b0b0b0b0" ]
	[ "$(balance alice)" = "0 1" ]
	[ "$(captures alice)" = 0 ]
}

@test "pg-queue: LISTEN/NOTIFY wakes rs-run --watch on another host within a second" {
	export RS_RUN_LEASE=600             # no periodic look for 300 s: only a notification wakes it
	"${B[@]}" rs-run --watch -b none >"$T/out" 2>"$T/err" 3>&- &
	KILL=$!
	while [ "$(runners_n)" = 0 ]; do sleep 0.05; done
	sleep 0.3                           # it listens, has looked, and sleeps
	for k in 1 2 3; do
		on A rs-upload -e -u alice "$T/a.jpeg" >/dev/null
		start=$EPOCHREALTIME
		while [ "$(jobs_in done)" -lt $k ]; do
			awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { exit !(e - s < 1) }'
			sleep 0.01
		done
		echo "# enqueue on A to done on B: $(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.3f s", e - s }')" >&3
		sleep 0.2
	done
	kill -TERM "$KILL"
	wait "$KILL"
	[ "$(jq -r .done "$T/out")" = 3 ]
	[ ! -s "$T/err" ]
}

@test "pg-queue: end to end: upload through rs-serve on host A, run on host B, status, result and SSE on A" {
	command -v tcpserver >/dev/null || skip "tcpserver (ucspi-tcp) is missing"
	(cd "$T/A" && exec tcpserver -1 -HRl0 127.0.0.1 0 rs-serve >"$T/port" 2>"$T/serve.log" 3>&-) &
	KILL=$!
	while [ ! -s "$T/port" ]; do kill -0 "$KILL" || false; sleep 0.02; done
	URL=http://127.0.0.1:$(cat "$T/port")
	tok=$(curl -sf -X POST "$URL/v1/session" | jq -r .token)
	user=$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/me" | jq -r .user)
	credits=$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/me" | jq -r .credits)
	id=$(curl -sf -H "Authorization: Bearer $tok" -F "image=@$T/a.jpeg" "$URL/v1/restorations" | jq -r .id)
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/restorations/$id" | jq -r .status)" = queued ]
	curl -sN -H "Authorization: Bearer $tok" "$URL/v1/restorations/$id/events" >"$T/sse" 2>&1 &
	c=$!
	while ! grep -q '^id: queued' "$T/sse"; do sleep 0.02; done
	# no runner on A (RS_KICK=none): host B's takes it
	run -0 on B rs-run -b none
	[ "$(jq -r .done <<<"$output")" = 1 ]
	t0=$EPOCHREALTIME
	while ! grep -q '^id: done' "$T/sse"; do
		awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN { exit !(e - s < 1) }' || { cat "$T/sse"; false; }
		sleep 0.02
	done
	wait "$c"
	grep '^data: ' "$T/sse" | tail -1 | cut -c7- | jq -e '.status == "done" and .output.object'
	[ "$(job_get done "$id" | jq -r .lease.host)" = hostB ]
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/restorations/$id" | jq -r .status)" = done ]
	curl -sf -H "Authorization: Bearer $tok" -o "$T/out" "$URL/v1/restorations/$id/result"
	cmp "$T/a.jpeg" "$T/out"            # backend none: the input is the output
	# charged once: one credit less, nothing held, one capture
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/me" | jq -r '"\(.credits) \(.held)"')" = "$((credits - 1)) 0" ]
	[ "$(captures "$user")" = 1 ]
	# B again: nothing left to do, nothing charged again
	run -0 on B rs-run -b none
	[ "$(jq -r .done <<<"$output")" = 0 ]
	[ "$(captures "$user")" = 1 ]
}

# pgctl DIR stop|start: stop or start the pg-up server in DIR, keeping its data
pgctl() {
	local bin data=$1/data
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$(stat -c %U "$data")" -- "$bin/pg_ctl" -D "$data" -l "$1/log/postgres.log" -m fast -w -s "$2"
	else
		"$bin/pg_ctl" -D "$data" -l "$1/log/postgres.log" -m fast -w -s "$2"
	fi
}

@test "pg-queue: the database stopped mid-job: the runner gives up (75), the job is retried later, charged once" {
	own_pg
	export RS_DATABASE
	slow_job
	pgctl "$OWNPG" stop
	touch "$T/slow.go"
	st=0
	wait "$r" || st=$?
	[ "$st" = 75 ] || { echo "status $st"; cat "$T/err"; false; }   # EX_TEMPFAIL: cron or systemd starts it again
	[ ! -s "$T/out" ]
	grep -q '^rs-run: ' "$T/err"
	pgctl "$OWNPG" start
	# nothing was decided nor charged while the database was away
	[ "$(balance alice)" = "0 1" ]
	[ "$(rs-run status | jq -c '[.queued, .running, .done]')" = "[0,1,0]" ]
	# the next run on the same host sees the dead runner and finishes the job
	run -0 on A rs-run -b "exec:$T/slow"
	[ "$(jq -c '[.done, .recovered]' <<<"$output")" = "[1,1]" ]
	[ "$(jobs_cat done | jq -r '"\(.status) \(.attempts)"')" = "done 2" ]
	[ "$(balance alice)" = "0 0" ]
	[ "$(captures alice)" = 1 ]
	o=$(jobs_cat done | jq -r .output.object)
	RS_SPOOL="$T/A/spool" obj_has "$o"                # the output is stored
}

@test "pg-queue: the database stopped while a browser follows a job: the stream waits, then reports done" {
	command -v tcpserver >/dev/null || skip "tcpserver (ucspi-tcp) is missing"
	own_pg
	export RS_DATABASE RS_SSE_POLL=0.1
	(cd "$T/A" && exec tcpserver -1 -HRl0 127.0.0.1 0 rs-serve >"$T/port" 2>"$T/serve.log" 3>&-) &
	KILL=$!
	while [ ! -s "$T/port" ]; do kill -0 "$KILL" || false; sleep 0.02; done
	URL=http://127.0.0.1:$(cat "$T/port")
	tok=$(curl -sf -X POST "$URL/v1/session" | jq -r .token)
	id=$(curl -sf -H "Authorization: Bearer $tok" -F "image=@$T/a.jpeg" "$URL/v1/restorations" | jq -r .id)
	curl -sN -H "Authorization: Bearer $tok" "$URL/v1/restorations/$id/events" >"$T/sse" 2>&1 &
	c=$!
	KILL="$KILL $c"
	while ! grep -q '^id: queued' "$T/sse"; do sleep 0.02; done
	pgctl "$OWNPG" stop
	sleep 1                                  # ten looks at a queue out of reach
	kill -0 "$c"                             # the stream is still open
	! grep -q '^event: gone' "$T/sse"
	pgctl "$OWNPG" start
	run -0 on A rs-run -b none
	[ "$(jq -r .done <<<"$output")" = 1 ]
	for _ in $(seq 100); do grep -q '^id: done' "$T/sse" && break; sleep 0.05; done
	grep -q '^id: done' "$T/sse" || { cat "$T/sse" "$T/serve.log"; false; }
	wait "$c"
	! grep -q '^event: gone' "$T/sse"
}

@test "pg-queue: a runner of this host name in another PID namespace (host networking) is not taken for dead" {
	account alice 1
	img p jpeg:64x48 noise=0.1
	rs-upload -e -u alice "$T/p.jpeg" >/dev/null
	id=$(jobs_ids new)
	# its runner: same host name, a pid this namespace cannot see, a fresh heartbeat
	job_put cur "$(job_get new "$id" | jq -c --arg h "$(hostname)" \
	  '.status = "running" | .attempts = 1 | .lease = {runner: "0123456789abcdef", host: $h, pid: 1, ttl: 60, expires: "2100-01-01T00:00:00.000Z"}')" 0123456789abcdef
	_qsql "INSERT INTO rs_runners (id, host, pid, started, ttl) VALUES ('0123456789abcdef', :'h', '999999', '', 60)" \
	  h="$(hostname)/pid:[1]" >/dev/null
	run -0 --separate-stderr rs-run -b none
	[ "$(jq -c '[.done, .recovered]' <<<"$output")" = "[0,0]" ]
	job_get cur "$id" >/dev/null                     # still the other runner's
	# a runner registers as its host name and PID namespace
	rs-run --watch -b none >/dev/null 2>&1 &
	w=$!
	for _ in $(seq 100); do [ "$(runners_n)" -ge 2 ] && break; sleep 0.05; done
	hosts=$(_qsql "SELECT host FROM rs_runners WHERE id <> '0123456789abcdef'")
	kill "$w"; wait "$w" 2>/dev/null || true
	[ "$hosts" = "$(hostname)/$(readlink /proc/self/ns/pid)" ]
}
