load helper
load queue                  # jobs_in, jobs_ids, jobs_cat, job_get, job_put: either backend

# enqueue USER N [FILE]: queue N jobs of USER for one photo
enqueue() {
	local u=$1 n=${2:-1} f=${3:-$T/a.jpeg}
	[ -f "$f" ] || img a jpeg:64x48
	for ((i = 0; i < n; i++)); do
		rs-upload -e -u "$u" "$f" >/dev/null || return
	done
}
# account USER CREDITS [PLAN]
account() {
	rs-credit user add "$1" ${3:+--plan "$3"} >/dev/null &&
	rs-credit grant "$1" "$2" --id "grant-$1" >/dev/null
}
balance() { rs-credit balance "$1" | jq -r '"\(.balance) \(.held)"'; }
captures() { rs-credit ledger "$1" --limit 100000 | jq '[.[] | select(.kind == "capture")] | length'; }
only() { jobs_cat "$1" | jq -r "$2"; }   # only STATE FILTER: of the one job there
teardown() { [ -z "${FAKE:-}" ] || kill "$FAKE" 2>/dev/null || true; }
# script NAME BODY: an executable sh script $T/NAME
script() { printf '#!/bin/sh\n%s\n' "$2" >"$T/$1" && chmod +x "$T/$1"; }

@test "rs-run: drains the queue; status counts every state" {
	enqueue alice 3
	run -0 --separate-stderr rs-run status
	[ "$(jq -c '[.queued, .running, .done, .failed]' <<<"$output")" = "[3,0,0,0]" ]
	run -0 --separate-stderr rs-run -b none
	[ "$(jq -c '[.done, .failed, .retried]' <<<"$output")" = "[3,0,0]" ]
	[ -z "$stderr" ]
	run -0 --separate-stderr rs-run status
	[ "$(jq -c '[.queued, .running, .done, .failed]' <<<"$output")" = "[0,0,3,0]" ]
	[ "$(jobs_cat done | jq -r '"\(.status) \(.attempts) \(.output.object == .inputs[0].object)"' | sort -u)" = "done 1 true" ]
	[ -z "$(find "$RS_SPOOL/jobs" -name '.*')" ]
	# nothing left: a second run does nothing
	run -0 rs-run -b none
	[ "$(jq -r .done <<<"$output")" = 0 ]
}

@test "rs-run: the local engine classifies, restores and stores the output" {
	img a jpeg:160x120 noise=0.15
	enqueue alice 1 "$T/a.jpeg"
	run -0 --separate-stderr rs-run
	id=$(jobs_ids done)
	run -0 --separate-stderr rs-run status "$id"
	[ "$(jq -r '"\(.status) \(.classify.degradations | length) \(.restore.backend) \(.output.mime) \(.output.width)x\(.output.height)"' <<<"$output")" = \
	  "done 7 local image/png 160x120" ]
	obj=$(jq -r .output.object <<<"$output")
	obj_has "$obj"
	[ "$(jq -r '.restore.ops | type' <<<"$output")" = array ]
}

@test "rs-run: status ID follows a job from queued to done" {
	enqueue alice 1
	id=$(jobs_ids new)
	run -0 rs-run status "$id"
	[ "$(jq -r .status <<<"$output")" = queued ]
	rs-run -b none >/dev/null
	run -0 rs-run status "$id"
	[ "$(jq -r '"\(.status) \(.id)"' <<<"$output")" = "done $id" ]
	run --separate-stderr rs-run status 0123456789abcdef0123456789ab
	failed_with 66 rs-run
	run --separate-stderr rs-run status ../etc/passwd
	failed_with 64 rs-run
}

@test "rs-upload: --enqueue reserves the plan's cost; rs-run captures it when done" {
	account alice 3
	enqueue alice 2
	[ "$(balance alice)" = "1 2" ]
	[ "$(jq -r '"\(.cost) \(.plan) \(.priority)"' <(jobs_cat new) | sort -u)" = "1 free 0" ]
	run -0 rs-run -b none
	[ "$(balance alice)" = "1 0" ]
	[ "$(captures alice)" = 2 ]
}

@test "rs-upload: --enqueue without credits is refused and queues nothing" {
	account alice 1
	enqueue alice 1
	run --separate-stderr rs-upload -e -u alice "$T/a.jpeg"
	failed_with 65 rs-upload
	[[ "$stderr" == *"insufficient credits"* ]]
	[ "$(jobs_in new)" = 1 ]
	[ "$(balance alice)" = "0 1" ]
}

@test "rs-upload: --enqueue for a user without an account charges nothing" {
	img a jpeg:64x48
	run -0 --separate-stderr rs-upload -e -u nobody "$T/a.jpeg"
	[ -z "$stderr" ]
	[ "$(jq -r '"\(.cost) \(.status)"' <<<"$output")" = "null queued" ]
	run -0 rs-run -b none
	[ "$(jobs_in done)" = 1 ]
}

@test "rs-run: a permanent failure fails at once and releases the credits" {
	account alice 1
	enqueue alice 1
	script bad 'echo "model: bad request" >&2; exit 2'
	run -0 --separate-stderr rs-run -b "exec:$T/bad"
	[ "$(jq -c '[.done, .failed]' <<<"$output")" = "[0,1]" ]
	[[ "$stderr" == *"model: bad request"* ]]
	[ "$(jobs_in failed)" = 1 ]
	[ "$(only failed '"\(.status) \(.attempts) \(.error.code) \(.restore.backend)"')" = \
	  "failed 1 failed exec:$T/bad" ]
	[ "$(only failed .error.message)" = "exec:$T/bad: exit 2: model: bad request" ]
	[ "$(balance alice)" = "1 0" ]
}

@test "rs-run: an exec backend whose output is not an image fails the job" {
	enqueue alice 1
	script junk 'echo junk >"$2"'
	run -0 rs-run -b "exec:$T/junk"
	[ "$(only failed .error.code)" = not_an_image ]
}

@test "rs-run: a temporary failure is retried with exponential backoff, then done" {
	account alice 1
	enqueue alice 1
	# exits 75 the first two times, logging when it ran
	script flaky 'n=$(cat "$0.n" 2>/dev/null || echo 0); echo $((n + 1)) >"$0.n"
date +%s.%N >>"$0.log"
[ "$n" -ge 2 ] || { echo "model: 503" >&2; exit 75; }
cp "$1" "$2"'
	RS_RUN_BACKOFF=0.3 run -0 --separate-stderr rs-run -b "exec:$T/flaky"
	[ "$(jq -c '[.done, .failed, .retried]' <<<"$output")" = "[1,0,2]" ]
	[ "$(only done '"\(.status) \(.attempts) \(.error)"')" = "done 3 null" ]
	# backoff 0.3 s then 0.6 s (each within 10 %)
	run awk 'NR > 1 { print $1 - p } { p = $1 }' "$T/flaky.log"
	[ "${#lines[@]}" -eq 2 ]
	awk -v a="${lines[0]}" -v b="${lines[1]}" 'BEGIN { exit !(a >= 0.27 && b >= 0.54 && b > a) }'
	[ "$(balance alice)" = "0 0" ]
	[ "$(captures alice)" = 1 ]
}

@test "rs-run: retries a model server answering 503, with backoff, until it answers" {
	img a jpeg:320x240
	account alice 1
	enqueue alice 1 "$T/a.jpeg"
	export GEMINI_API_KEY="sk-test-$RANDOM" RS_GEMINI_ATTEMPTS=1 RS_GEMINI_BACKOFF=0.01
	fake-gemini -p "$T/port" -l "$T/log" -k "$GEMINI_API_KEY" 503 503 "image:$T/a.jpeg" 3>&- &
	FAKE=$!
	for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
	export RS_GEMINI_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
	RS_RUN_BACKOFF=0.2 run -0 --separate-stderr rs-run -b gemini
	[ "$(jq -c '[.done, .retried]' <<<"$output")" = "[1,2]" ]
	[ "$(only done '"\(.attempts) \(.restore.backend) \(.error)"')" = "3 gemini null" ]
	[ "$(wc -l <"$T/log")" = 3 ]
	[[ "$stderr" != *"$GEMINI_API_KEY"* ]]
	[ "$(balance alice)" = "0 0" ]
}

@test "rs-run: a retry not due before --max-time waits in the queue for a later run" {
	enqueue alice 1
	script flaky 'n=$(cat "$0.n" 2>/dev/null || echo 0); echo $((n + 1)) >"$0.n"
[ "$n" -ge 1 ] || exit 75
cp "$1" "$2"'
	RS_RUN_BACKOFF=60 run -0 --separate-stderr rs-run -t 2 -b "exec:$T/flaky"
	[ "$(jq -c '[.done, .retried]' <<<"$output")" = "[0,1]" ]
	run -0 rs-run status
	[ "$(jq -c '[.queued, .waiting_retry]' <<<"$output")" = "[1,1]" ]
	[ "$(jq -r '"\(.status) \(.error.code) \(.next_attempt | type)"' <(jobs_cat new))" = \
	  "queued unavailable string" ]
}

@test "rs-run: dead-letters a job after RS_RUN_ATTEMPTS temporary failures" {
	account alice 1
	enqueue alice 1
	script down 'echo "model: 503 unavailable" >&2; exit 75'
	RS_RUN_ATTEMPTS=3 RS_RUN_BACKOFF=0.05 run -0 --separate-stderr rs-run -b "exec:$T/down"
	[ "$(jq -c '[.done, .failed, .retried]' <<<"$output")" = "[0,1,2]" ]
	[ "$(only failed '"\(.attempts) \(.error.code) \(.error.message)"')" = \
	  "3 unavailable exec:$T/down: exit 75: model: 503 unavailable" ]
	[ "$(balance alice)" = "1 0" ]
}

@test "rs-run: SIGKILL at each step; the next run finishes every job exactly once" {
	steps="claim classify restore store decide charge finish" k=0
	account alice 7
	for step in $steps; do
		enqueue alice 1
		RS_CRASH_AT=$step run rs-run
		[ "$status" -eq 137 ] || { echo "$step: status $status" >&2; return 1; }
		run -0 rs-run
		[ "$(jobs_in done)" -eq $((++k)) ] || { echo "$step: $(jobs_in done) done" >&2; return 1; }
	done
	[ "$(jobs_in done)" = 7 ]
	[ "$(jobs_in new)$(jobs_in cur)$(jobs_in failed)" = 000 ]
	[ "$(balance alice)" = "0 0" ]
	[ "$(captures alice)" = 7 ]
	# no runner left registered, no temporary file left behind
	[ "$(runners_n)" = 0 ]
	[ -z "$(find "$RS_SPOOL" -name '.*')" ]
}

@test "rs-run: SIGKILL while failing a job; it is failed and released exactly once" {
	account alice 3
	script bad 'exit 2'
	for step in decide charge finish; do
		enqueue alice 1
		RS_CRASH_AT=$step run rs-run -b "exec:$T/bad"
		[ "$status" -eq 137 ]
		run -0 rs-run -b "exec:$T/bad"
	done
	[ "$(jobs_in failed)" = 3 ]
	[ "$(jobs_in done)$(jobs_in cur)" = 00 ]
	[ "$(balance alice)" = "3 0" ]
	[ "$(captures alice)" = 0 ]
}

@test "rs-run: SIGKILL between writing a retry and requeueing it" {
	enqueue alice 1
	script flaky 'n=$(cat "$0.n" 2>/dev/null || echo 0); echo $((n + 1)) >"$0.n"
[ "$n" -ge 1 ] || exit 75
cp "$1" "$2"'
	RS_CRASH_AT=requeue RS_RUN_BACKOFF=0.2 run rs-run -b "exec:$T/flaky"
	[ "$status" -eq 137 ]
	[ "$(jobs_in cur)" = 1 ]
	RS_RUN_BACKOFF=0.2 run -0 rs-run -b "exec:$T/flaky"
	[ "$(only done '"\(.status) \(.attempts)"')" = "done 2" ]
}

@test "rs-run: SIGKILL at random moments over 200 jobs; each ends once, charged once" {
	n=200
	export RS_RUN_ATTEMPTS=1000        # a job killed again and again is not given up
	account alice $n
	img a jpeg:32x24
	seq $n | xargs -P 2 -I{} rs-upload -e -u alice "$T/a.jpeg" >/dev/null
	[ "$(jobs_in new)" = $n ]
	for ((k = 0; k < 100; k++)); do
		# the runner and its workers in a process group of their own, all
		# killed at once; wait until every one of them is gone
		setsid rs-run -j 2 -b none >/dev/null 2>&1 3>&- &
		pid=$!
		sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
		kill -9 -- -$pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		while kill -0 -- -$pid 2>/dev/null; do sleep 0.01; done
		[ "$(jobs_in new)$(jobs_in cur)" != 00 ] || break
	done
	run -0 rs-run -b none         # whatever the kills left
	[ "$(jobs_in done)" = $n ] || { echo "$output"; rs-run status; false; } >&2
	[ "$(jobs_in new)$(jobs_in cur)$(jobs_in failed)" = 000 ]
	[ "$(balance alice)" = "0 0" ]
	[ "$(captures alice)" = $n ]
	echo "# $k kills" >&3
}

@test "rs-run: three runners on one spool; each of 500 jobs is done exactly once" {
	n=500
	img a jpeg:32x24
	seq $n | xargs -P 2 -I{} sh -c 'rs-upload -e -u "u$(({} % 7))" "$0" >/dev/null' "$T/a.jpeg"
	[ "$(jobs_in new)" = $n ]
	for r in 1 2 3; do
		rs-run --shared -b none >"$T/r$r" 2>"$T/e$r" 3>&- &
	done
	wait
	[ "$(cat "$T"/r1 "$T"/r2 "$T"/r3 | jq -s 'map(.done) | add')" = $n ]
	[ "$(jobs_in done)" = $n ]
	[ "$(jobs_cat done | jq -s 'map(select(.attempts != 1 or .recovered)) | length')" = 0 ]
	[ -z "$(cat "$T"/e1 "$T"/e2 "$T"/e3)" ]
	echo "# runners did $(cat "$T"/r1 "$T"/r2 "$T"/r3 | jq -s -c 'map(.done)')" >&3
}

# callback: start tests/fake-callback answering CODE...; $URL is its address
callback() {
	fake-callback -p "$T/cbport" -l "$T/cblog" -k "$CBKEY" "$@" 3>&- &
	FAKE=$!
	for _ in $(seq 200); do [ -s "$T/cbport" ] && break; sleep 0.05; done
	URL="http://127.0.0.1:$(cat "$T/cbport")/hook"
}
# with_callback URL: give every queued job a callback (as the web API will)
with_callback() {
	for id in $(jobs_ids new); do
		job_put new "$(job_get new "$id" | jq -c --arg u "$1" '.callback = $u')"
	done
}
CBKEY="cb-secret-$RANDOM"

@test "rs-run: a job's callback gets its final record, signed; a 503 is retried" {
	enqueue alice 1
	callback 503 200
	with_callback "$URL"
	enqueue alice 1                              # no callback
	RS_CALLBACK_KEY=$CBKEY RS_CALLBACK_BACKOFF=0.1 run -0 --separate-stderr rs-run -b none
	[ "$(jq -r .done <<<"$output")" = 2 ]
	[ "$(jq -c '[.n, .status, .valid, .path, .job.status]' "$T/cblog")" = \
	  "$(printf '%s\n' '[1,503,true,"/hook","done"]' '[2,200,true,"/hook","done"]')" ]
	id=$(jq -r .job.id "$T/cblog" | sort -u)
	job_get done "$id" >/dev/null
	[[ "$stderr" == *"job $id: callback: HTTP 503"* ]]
	[[ "$stderr" != *"$CBKEY"* ]]
}

@test "rs-run: a job is done even when its callback fails; at least once after a crash" {
	enqueue alice 1
	callback 404
	with_callback "$URL"
	RS_CALLBACK_KEY=$CBKEY run -0 --separate-stderr rs-run -b none
	[ "$(jobs_in done)" = 1 ]
	[[ "$stderr" == *"callback: HTTP 404"* ]]
	# without a key nothing is sent
	enqueue alice 1
	with_callback "$URL"
	run -0 --separate-stderr rs-run -b none
	[ "$(jobs_in done)" = 2 ]
	[[ "$stderr" == *"callback: no key"* ]]
	[ "$(wc -l <"$T/cblog")" = 1 ]
	# killed once the callback is delivered: the next run sends it again
	kill "$FAKE"
	rm "$T/cbport"
	callback 200
	enqueue alice 1
	with_callback "$URL"
	RS_CALLBACK_KEY=$CBKEY RS_CRASH_AT=notify run rs-run -b none
	[ "$status" -eq 137 ]
	RS_CALLBACK_KEY=$CBKEY run -0 rs-run -b none
	[ "$(jobs_in done)" = 3 ]
	[ "$(tail -n 2 "$T/cblog" | jq -r '"\(.valid) \(.job.id)"' | uniq -c | awk '{ print $1, $2 }')" = "2 true" ]
}

# lease ID HOST RUNNER EXPIRES: move a queued job into cur/ as if claimed
# (in PostgreSQL a lease lives as long as its runner's heartbeat: a lease
# expiring in the future is a runner registered now, pid 1)
lease() {
	job_put cur "$(job_get new "$1" | jq -c --arg h "$2" --arg r "$3" --arg e "$4" \
	  '.status = "running" | .attempts = 1 | .lease = {runner: $r, host: $h, pid: 1, ttl: 60, expires: $e}')" "$3"
	[[ "$4" < "$(date -u +%FT%T)" ]] || runner_put "$3" "$2" 1
}

@test "rs-run: a lease from another host is taken over only once it has expired" {
	enqueue alice 2
	set -- $(jobs_ids new)
	lease "$1" elsewhere 0123456789abcdef 2000-01-01T00:00:00.000Z
	lease "$2" elsewhere fedcba9876543210 2100-01-01T00:00:00.000Z
	run -0 rs-run -b none
	[ "$(jq -c '[.done, .recovered]' <<<"$output")" = "[1,1]" ]
	job_get cur "$2" >/dev/null
	[ "$(job_get done "$1" | jq -r '"\(.attempts) \(.recovered)"')" = "2 true" ]
}

@test "rs-run: a job of a dead runner on this host is taken over at once" {
	enqueue alice 1
	lease "$(jobs_ids new)" "$(hostname)" 0123456789abcdef 2100-01-01T00:00:00.000Z
	run -0 rs-run -b none
	[ "$(jq -c '[.done, .recovered]' <<<"$output")" = "[1,1]" ]
}

@test "rs-run: a second cron start exits at once while one runs; --shared does not wait" {
	enqueue alice 1
	mkdir -p "$RS_SPOOL/jobs"          # the lock is a local file with either backend
	flock "$RS_SPOOL/jobs/cron.lock" sleep 30 3>&- &
	holder=$!
	while flock -n "$RS_SPOOL/jobs/cron.lock" true; do sleep 0.05; done
	SECONDS=0
	run -0 --separate-stderr rs-run -b none
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$SECONDS" -le 1 ]
	[ "$(jobs_in new)" = 1 ]
	run -0 --separate-stderr rs-run -v -b none
	[[ "$stderr" == "rs-run: another rs-run holds "* ]]
	run -0 rs-run --shared -b none
	[ "$(jq -r .done <<<"$output")" = 1 ]
	kill $holder
}

@test "rs-run: priority first, then round robin between users" {
	account carol 1 premium
	img a jpeg:32x24
	enqueue alice 4
	enqueue bob 1
	enqueue carol 1
	script log 'jq -r .id >>"$0.order"; cp "$1" "$2"'
	run -0 rs-run -b "exec:$T/log"
	users=$(while read -r id; do job_get done "$id"; done <"$T/log.order" | jq -r .user)
	[ "$(echo $users)" = "carol alice bob alice alice alice" ]
}

@test "rs-run: a user's single photo is not held up by another user's running batch" {
	img a jpeg:32x24
	enqueue alice 20
	script slow 'sleep 0.1; jq -r .id >>"$0.order"; cp "$1" "$2"'
	rs-run -b "exec:$T/slow" >/dev/null 2>&1 3>&- &
	pid=$!
	while [ "$(jobs_in done)" -lt 3 ]; do sleep 0.02; done
	enqueue bob 1
	wait $pid
	[ "$(jobs_in done)" = 21 ]
	pos=$(while read -r id; do job_get done "$id"; done <"$T/slow.order" | jq -r .user | grep -n bob | cut -d: -f1)
	echo "# bob's photo queued after alice's 3rd, ran $pos-th of 21" >&3
	[ "$pos" -le 12 ]
}

@test "rs-run: exec gets every input of a fusion job; the local engine refuses fusion" {
	img a jpeg:32x24 seed=1
	img b jpeg:32x24 seed=2
	rs-upload -e -u alice "$T/a.jpeg" "$T/b.jpeg" >/dev/null
	script fuse 'echo $# >"$0.n"; cp "$1" "$3"'
	run -0 rs-run -b "exec:$T/fuse"
	[ "$(cat "$T/fuse.n")" = 3 ]
	[ "$(jobs_in done)" = 1 ]
	rs-upload -e -u alice "$T/a.jpeg" "$T/b.jpeg" >/dev/null
	run -0 rs-run
	[ "$(only failed .error.code)" = unsupported ]
	[[ "$(only failed .error.message)" == *"fusion of 2 photos needs a model backend"* ]]
}

@test "rs-run: --watch starts a new job within a second and stops on SIGTERM" {
	mkdir -p "$RS_SPOOL"
	rs-run --watch -b none >"$T/out" 2>"$T/err" 3>&- &
	pid=$!
	while [ "$(runners_n)" = 0 ]; do sleep 0.05; done
	img a jpeg:32x24
	start=$EPOCHREALTIME
	enqueue alice 1
	while [ "$(jobs_in done)" = 0 ]; do
		awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { exit !(e - s < 2) }'
		sleep 0.02
	done
	echo "# upload to done: $(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.3f s", e - s }')" >&3
	kill -TERM $pid
	wait $pid
	[ "$(jq -r .done "$T/out")" = 1 ]
	[ "$(runners_n)" = 0 ]
	# with workers: the signal reaches every one of them
	rs-run --watch -j 2 -b none >"$T/out" 2>"$T/err" 3>&- &
	pid=$!
	while [ "$(runners_n)" -lt 2 ]; do sleep 0.05; done
	enqueue alice 3
	while [ "$(jobs_in done)" -lt 4 ]; do sleep 0.05; done
	kill -TERM $pid
	wait $pid
	[ "$(jq -r .done "$T/out")" = 3 ]
	[ "$(runners_n)" = 0 ]
	[ ! -s "$T/err" ]
}

@test "rs-run: --gc releases the credits of an upload that died before queueing its job" {
	account alice 5
	enqueue alice 1                                # a live job keeps its hold
	rs-credit reserve alice 1 --job orphan >/dev/null   # as rs-upload does, then it died
	[ "$(balance alice)" = "3 2" ]
	run -0 rs-run --gc                             # too young: kept
	[ "$(jq -r .holds_released <<<"$output")" = 0 ]
	if [ -n "${RS_DATABASE:-}" ]; then          # the ledger is in PostgreSQL too
		psql -qX "$RS_DATABASE" -c "UPDATE holds SET at = at - 7200"
	else
		sqlite3 "$RS_SPOOL/rs.db" "UPDATE holds SET at = at - 7200"
	fi
	run -0 rs-run --gc
	[ "$(jq -r .holds_released <<<"$output")" = 1 ]
	[ "$(balance alice)" = "4 1" ]
	run -0 rs-credit capture --job "$(jobs_ids new)"   # the live job's hold is intact
	run -0 rs-credit check
}

@test "rs-run: --gc removes expired jobs and unreferenced objects, keeps what is referenced" {
	img a jpeg:32x24 seed=1
	img b jpeg:32x24 seed=2
	img c jpeg:32x24 seed=3
	img d jpeg:32x24 seed=4
	enqueue alice 1 "$T/a.jpeg"
	rs-run -b none >/dev/null                    # a: done, will expire
	a=$(jobs_ids done)
	enqueue alice 1 "$T/d.jpeg"
	rs-run -b none >/dev/null                    # d: done, stays
	enqueue alice 1 "$T/b.jpeg"                  # b: queued
	rs-upload "$T/c.jpeg" >/dev/null             # c: no job at all
	job_age done "$a" '10 days ago'
	obj_age '10 days ago'
	run -0 --separate-stderr rs-run --gc
	[ "$(jq -c '[.jobs_removed, .objects_removed, .objects_kept, .holds_released]' <<<"$output")" = "[1,2,2,0]" ]
	[ "$(jobs_in done)" = 1 ]
	[ "$(jobs_in new)" = 1 ]
	for f in b d; do
		o=$(b2sum -l 256 <"$T/$f.jpeg" | cut -c1-64)
		obj_has "$o"
	done
	# a fresh unreferenced object is kept: its job may be about to be queued
	rs-upload "$T/c.jpeg" >/dev/null
	o=$(b2sum -l 256 <"$T/c.jpeg" | cut -c1-64)
	run -0 rs-run --gc
	obj_has "$o"
}

@test "rs-run: bad options, arguments and settings" {
	run --separate-stderr rs-run -j 0
	failed_with 64 rs-run
	run --separate-stderr rs-run --backend gemini-pro
	failed_with 64 rs-run
	run --separate-stderr rs-run frobnicate
	failed_with 64 rs-run
	run --separate-stderr rs-run -t never
	failed_with 64 rs-run
	RS_RUN_BACKOFF=soon run --separate-stderr rs-run
	failed_with 78 rs-run
	run -0 rs-run --help
	[[ "$output" == usage:* ]]
	for o in backend jobs max-time watch shared verbose version; do   # every option, as the man page
		[[ "$output" == *"--$o"* ]] || { echo "--help lacks --$o" >&2; false; }
	done
	run -0 rs-run --version
	[[ "$output" == "rs-run "[0-9]* ]]
}
