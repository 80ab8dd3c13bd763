# tests/scale.bats: rs on several hosts (the scale pass of tests/run only:
# it needs RS_TEST_DATABASE and RS_TEST_S3_ENV). contrib/scale/up starts
# what the README's "Beyond one machine" describes: PgBouncer in front of
# the PostgreSQL, two hosts A and B (each its own working directory,
# rs-serve under tcpserver and rs-run --watch) sharing the database and
# the bucket, and haproxy in front of both.
load helper

setup_file() {
	[ -n "${RS_TEST_DATABASE:-}" ] && [ -n "${RS_TEST_S3_ENV:-}" ] || return 0
	for p in pgbouncer haproxy tcpserver; do
		command -v $p >/dev/null || { echo "$p is missing: run contrib/install-deps" >&2; return 1; }
	done
	# PgBouncer runs as postgres when we are root: a directory it can enter
	local d
	d=$(mktemp -d /tmp/rs-scale-test.XXXXXX)
	echo "$d" >"$BATS_FILE_TMPDIR/hosts"
	"$BATS_TEST_DIRNAME/../contrib/scale/up" -d "$RS_TEST_DATABASE" -s "$RS_TEST_S3_ENV" "$d" \
	    >"$BATS_FILE_TMPDIR/env" 2>"$BATS_FILE_TMPDIR/up.log" ||
		{ cat "$BATS_FILE_TMPDIR/up.log" >&2; return 1; }
}

teardown_file() {
	[ ! -s "$BATS_FILE_TMPDIR/hosts" ] || "$BATS_TEST_DIRNAME/../contrib/scale/down" "$(cat "$BATS_FILE_TMPDIR/hosts")"
}

setup() {
	[ -n "${RS_TEST_DATABASE:-}" ] && [ -n "${RS_TEST_S3_ENV:-}" ] || skip "scale pass only (tests/run starts PostgreSQL and S3)"
	PATH="$BATS_TEST_DIRNAME/../bin:$BATS_TEST_DIRNAME:$PATH"
	T="$BATS_TEST_TMPDIR"
	set -a
	. "$BATS_FILE_TMPDIR/env"
	set +a
	H=$(cat "$BATS_FILE_TMPDIR/hosts")
}

session() { curl -sf -X POST "$1/v1/session" | jq -r .token; }
# wait_done URL TOKEN ID: poll until the job is done (or 60 s)
wait_done() {
	for _ in $(seq 600); do
		s=$(curl -sf -H "Authorization: Bearer $2" "$1/v1/restorations/$3" | jq -r .status)
		[ "$s" = done ] && return 0
		[ "$s" = failed ] && return 1
		sleep 0.1
	done
	return 1
}

@test "scale: uploaded through haproxy, restored on one host, read the same through both; charged once" {
	img p jpeg:200x150 noise=0.1
	tok=$(session "$RS_URL")
	[ -n "$tok" ]
	before=$(curl -sf -H "Authorization: Bearer $tok" "$RS_URL/v1/me" | jq .credits)
	id=$(curl -sf -H "Authorization: Bearer $tok" -F "image=@$T/p.jpeg" "$RS_URL/v1/restorations" | jq -r .id)
	[ -n "$id" ] && [ "$id" != null ]
	wait_done "$RS_URL_A" "$tok" "$id"
	curl -sf -H "Authorization: Bearer $tok" "$RS_URL_A/v1/restorations/$id/result" >"$T/a.png"
	curl -sf -H "Authorization: Bearer $tok" "$RS_URL_B/v1/restorations/$id/result" >"$T/b.png"
	[ -s "$T/a.png" ]
	cmp "$T/a.png" "$T/b.png"
	[ "$(file -b --mime-type "$T/a.png")" = image/png ]
	# the output lives in the bucket under its hash
	obj=$(curl -sf -H "Authorization: Bearer $tok" "$RS_URL_B/v1/restorations/$id" | jq -r .output.object)
	[ "$(b2sum -l 256 "$T/a.png" | cut -d' ' -f1)" = "$obj" ]
	after=$(curl -sf -H "Authorization: Bearer $tok" "$RS_URL_B/v1/me" | jq .credits)
	[ $((before - after)) -eq 1 ]
	# run once, by one runner
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$RS_URL/v1/restorations/$id" | jq .attempts)" -eq 1 ]
	# and the history is the same everywhere
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$RS_URL_A/v1/restorations" | jq -c '[.restorations[].id]')" = \
	  "$(curl -sf -H "Authorization: Bearer $tok" "$RS_URL_B/v1/restorations" | jq -c '[.restorations[].id]')" ]
}

@test "scale: Server-Sent Events on host A see host B's runner finish the job" {
	# only B's runner works now
	kill -STOP "$(cat "$H/a/run.pid")"
	img q jpeg:160x120 fade=40
	tok=$(session "$RS_URL_A")
	curl -sN -H "Authorization: Bearer $tok" -F "image=@$T/q.jpeg" "$RS_URL_A/v1/restorations" >"$T/up.json"
	id=$(jq -r .id "$T/up.json")
	timeout 60 curl -sN -H "Authorization: Bearer $tok" "$RS_URL_A/v1/restorations/$id/events" >"$T/sse" &
	c=$!
	for _ in $(seq 600); do grep -q '^id: done' "$T/sse" && break; sleep 0.1; done
	kill -CONT "$(cat "$H/a/run.pid")"
	kill "$c" 2>/dev/null || true
	grep -q '^id: done' "$T/sse" || { cat "$T/sse" >&2; false; }
}

@test "scale: the store unreachable mid-job: the job waits and is retried, no charge, nothing lost" {
	command -v socat >/dev/null || { echo "socat is missing: run contrib/install-deps" >&2; false; }
	export RS_SPOOL="$T/spool" RS_CONF=/dev/null RS_RUN_BACKOFF=2
	scale_setup
	# the host reaches S3 through a proxy this test can cut
	rgw=${AWS_ENDPOINT_URL_S3#http://}
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	proxy() { socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "TCP:$rgw" & P=$!; sleep 0.3; }
	proxy
	export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port
	rs-credit user add alice >/dev/null
	rs-credit grant alice 2 --id g >/dev/null
	img p jpeg:120x90 noise=0.1
	rs-upload -e -u alice "$T/p.jpeg" >"$T/job.json"
	id=$(jq -r .id "$T/job.json")
	kill "$P"; wait "$P" 2>/dev/null || true
	run --separate-stderr rs-run -t 1 -b none
	[ "$(jq -c '[.done, .failed, .retried]' <<<"$output")" = "[0,0,1]" ] || { echo "$output $stderr" >&2; false; }
	[[ "$stderr" == *"s3://"* ]]
	[ "$(rs-credit balance alice | jq -c '[.balance, .held]')" = "[1,1]" ]
	[ "$(rs-run status "$id" | jq -r .status)" = queued ]
	# the store is back: done, charged once
	proxy
	sleep 2
	run -0 --separate-stderr rs-run -b none
	kill "$P" 2>/dev/null || true
	[ "$(jq -c '[.done, .failed]' <<<"$output")" = "[1,0]" ]
	[ "$(rs-credit balance alice | jq -c '[.balance, .held]')" = "[1,0]" ]
	[ "$(rs-credit ledger alice | jq '[.[] | select(.kind == "capture")] | length')" -eq 1 ]
}

@test "scale: straight to PostgreSQL, Server-Sent Events wake on NOTIFY, not on their slow look" {
	export RS_SPOOL="$T/a" RS_CONF=/dev/null RS_KICK=none RS_SSE_POLL=30
	scale_setup
	tcpserver -1 -HRl0 127.0.0.1 0 rs-serve >"$T/port" 2>"$T/serve.log" 3>&- &
	server=$!
	while [ ! -s "$T/port" ]; do kill -0 "$server"; sleep 0.02; done
	url=http://127.0.0.1:$(cat "$T/port")
	tok=$(session "$url")
	img p jpeg:96x64 noise=0.1
	id=$(curl -sf -H "Authorization: Bearer $tok" -F "image=@$T/p.jpeg" "$url/v1/restorations" | jq -r .id)
	curl -sN -H "Authorization: Bearer $tok" "$url/v1/restorations/$id/events" >"$T/sse" &
	c=$!
	while ! grep -q '^id: queued' "$T/sse"; do sleep 0.02; done
	# another host's runner (its own working directory) does the job
	RS_SPOOL="$T/b" rs-run -b none >/dev/null
	t0=$(date +%s%N)
	while ! grep -q '^id: done' "$T/sse"; do
		[ $(( $(date +%s%N) - t0 )) -lt 3000000000 ] || { kill "$c" "$server"; cat "$T/sse" >&2; false; }
		sleep 0.02
	done
	kill "$c" "$server" 2>/dev/null || true
}
