# tests/s3.bats: the object store in S3 (RS_STORE=s3://BUCKET/PREFIX)
# against a real S3 server, Ceph RGW (tests/scale/s3-up), which checks
# SigV4 signatures and payload hashes. Objects are checked with an
# independent client (curl's own SigV4, tests/objects.bash) and b2sum.
#
# The server: $RS_TEST_S3_ENV (the env file of a running s3-up, as in the
# scale pass of tests/run), else one started here for the whole file
# (root installs its packages; ~15 s, ~30 s the first time). If it cannot
# start, every test fails. RS_NO_S3=1 skips them instead, and only then.
load helper
load queue                      # jobs_ids: either queue backend

setup_file() {
	[ -z "${RS_TEST_S3_ENV:-}" ] || return 0
	[ "${RS_NO_S3:-}" != 1 ] || return 0
	export S3_DIR="$BATS_FILE_TMPDIR/s3"
	if ! "$BATS_TEST_DIRNAME/scale/s3-up" "$S3_DIR" >/dev/null 2>"$BATS_FILE_TMPDIR/s3-up.log"; then
		tail -n 20 "$BATS_FILE_TMPDIR/s3-up.log" >&3
		echo "# tests/s3.bats: tests/scale/s3-up failed (RS_NO_S3=1 skips these tests)" >&3
		return 1
	fi
	export RS_TEST_S3_ENV="$S3_DIR/env" S3_STARTED=1
}

teardown_file() {
	[ -z "${S3_STARTED:-}" ] || "$BATS_TEST_DIRNAME/scale/s3-down" "$S3_DIR" >/dev/null 2>&1
}

setup() {
	if [ -z "${RS_TEST_S3_ENV:-}" ] && [ "${RS_NO_S3:-}" = 1 ]; then
		skip "RS_NO_S3=1: no S3 server"
	fi
	export RS_SPOOL="$BATS_TEST_TMPDIR/spool" RS_CONF=/dev/null
	unset RS_MAX_BYTES RS_MAX_PIXELS RS_MAX_SIDE RS_STORE_TIMEOUT RS_STORE_LIST_MAX
	T="$BATS_TEST_TMPDIR"
	scale_setup                     # RS_STORE=s3://rs-test/t-RANDOM/, AWS_*
	[ -n "${RS_STORE:-}" ]
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}

b2() { b2sum -l 256 <"$1" | cut -c1-64; }
key() { echo "/$(s3_bucket)/$(s3_prefix)${1:0:2}/${1:2}"; }
# cached ID: the local copy in the spool's cache
cached() { echo "$RS_SPOOL/s3cache/${1:0:2}/${1:2}"; }
# a job record for object ID, for rs-classify
job_for() { printf '{"id":"j1","inputs":[{"object":"%s"}]}\n' "$1"; }
# serve PROGRAM: a throwaway server on a free loopback port; sets PORT
serve() {
	python3 -c "$1" >"$T/port" 3>&- &
	PIDS+=($!)
	for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
	PORT=$(cat "$T/port")
	[ -n "$PORT" ]
}

@test "s3: rs-upload stores the photo whole in the bucket, nothing in the spool" {
	img a jpeg:640x480
	run -0 --separate-stderr rs-upload "$T/a.jpeg"
	[ -z "$stderr" ]
	obj=$(jq -r '.inputs[0].object' <<<"$output")
	[ "$obj" = "$(b2 "$T/a.jpeg")" ]
	# read back by another client: curl's own SigV4
	[ "$(S3_BODY="$T/got" s3curl GET "$(key "$obj")")" = 200 ]
	cmp "$T/a.jpeg" "$T/got"
	[ "$(b2 "$T/got")" = "$obj" ]
	[ "$(obj_ids)" = "$obj" ]
	[ ! -e "$RS_SPOOL/objects" ]
	[ ! -e "$RS_SPOOL/s3cache" ]
}

@test "s3: the same bytes are stored once, and not sent again" {
	img a png:64x48
	cp "$T/a.png" "$T/b.png"
	run -0 rs-upload "$T/a.png"
	obj=$(jq -r '.inputs[0].object' <<<"$output")
	s3curl HEAD "$(key "$obj")" >/dev/null
	first=$(grep -i '^last-modified' "$T/.s3body")
	sleep 1.1
	run -0 rs-upload "$T/b.png"
	[ "$(jq -r '.inputs[0].object' <<<"$output")" = "$obj" ]
	[ "$(obj_count)" -eq 1 ]
	s3curl HEAD "$(key "$obj")" >/dev/null
	[ "$(grep -i '^last-modified' "$T/.s3body")" = "$first" ]      # not rewritten
}

@test "s3: rs-upload | rs-classify | rs-restore --backend local: input and result in the bucket" {
	img a jpeg:160x120 noise=0.15
	run -0 --separate-stderr sh -c 'rs-upload "$1" | rs-classify | rs-restore --backend local' sh "$T/a.jpeg"
	in=$(jq -r '.inputs[0].object' <<<"$output")
	out=$(jq -r '.output.object' <<<"$output")
	[ "$(jq -r '"\(.classify.degradations | length) \(.output.mime) \(.output.width)x\(.output.height)"' <<<"$output")" = \
	  "7 image/png 160x120" ]
	obj_has "$in"
	obj_has "$out"
	[ "$(b2 "$(obj_file "$out")")" = "$out" ]
	# the input came down once, into the cache, checked and read-only
	cmp "$T/a.jpeg" "$(cached "$in")"
	[ "$(stat -c %a "$(cached "$in")")" = 444 ]
	[ -z "$(find "$RS_SPOOL" -name '.*')" ]
	[ ! -e "$RS_SPOOL/objects" ]
}

@test "s3: a copy in the cache is used as it is: no request" {
	img a jpeg:64x48
	run -0 rs-upload "$T/a.jpeg"
	rec=$output
	run -0 rs-classify <<<"$rec"
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:1 run -0 --separate-stderr rs-classify <<<"$rec"
	[ -z "$stderr" ]
}

@test "s3: an object over 8 MiB goes up in parts and comes down whole" {
	mkimg png:2400x2000 noise=40 >"$T/big.png"
	[ "$(stat -c %s "$T/big.png")" -gt $((8 << 20)) ]
	run -0 --separate-stderr rs-upload "$T/big.png"
	obj=$(jq -r '.inputs[0].object' <<<"$output")
	[ "$(s3curl HEAD "$(key "$obj")")" = 200 ]
	grep -qi '^etag: "[0-9a-f]*-2"' "$T/.s3body"                      # two parts
	[ "$(b2 "$(obj_file "$obj")")" = "$obj" ]
	# no unfinished upload left behind
	[ "$(s3curl GET "/$(s3_bucket)?prefix=$(s3_prefix | sed 's|/|%2F|g')&uploads=")" = 200 ]
	! grep -q '<Upload>' "$T/.s3body"
	# streamed down into the cache, checked
	run -0 --separate-stderr rs-classify <<<"$(job_for "$obj")"
	cmp "$T/big.png" "$(cached "$obj")"
}

@test "s3: a missing bucket is created by the first upload" {
	export RS_STORE="s3://rs-new-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')/photos"
	[ "$(s3curl HEAD "/$(s3_bucket)")" = 404 ]
	img a jpeg:64x48
	# reading does not create it: nothing is there
	run --separate-stderr rs-classify <<<"$(job_for "$(b2 "$T/a.jpeg")")"
	failed_with 66 rs-classify
	[[ "$stderr" == *"NoSuchBucket"* ]]
	run -0 rs-upload "$T/a.jpeg"
	[ "$(s3curl HEAD "/$(s3_bucket)")" = 200 ]
	obj_has "$(b2 "$T/a.jpeg")"
	[ "$(s3_prefix)" = photos/ ]
}

@test "s3: a wrong secret is status 78 naming the setting, and nothing is stored" {
	rs-credit user add alice >/dev/null
	rs-credit grant alice 3 --id g1 >/dev/null
	img a jpeg:64x48
	AWS_SECRET_ACCESS_KEY="wrong$AWS_SECRET_ACCESS_KEY" run --separate-stderr rs-upload -e -u alice "$T/a.jpeg"
	failed_with 78 rs-upload
	[ "$stderr" = "rs-upload: ${RS_STORE%/}: 403 SignatureDoesNotMatch: check AWS_SECRET_ACCESS_KEY" ]
	[ "$(obj_count)" -eq 0 ]
	[ "$(rs-credit balance alice | jq -r '"\(.balance) \(.held)"')" = "3 0" ]
	run -0 rs-run status
	[ "$(jq -r .queued <<<"$output")" = 0 ]
	# an unknown key id names its own setting
	AWS_ACCESS_KEY_ID=NOSUCHKEY0000000000 run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
	[[ "$stderr" == *": 403 InvalidAccessKeyId: check AWS_ACCESS_KEY_ID" ]]
}

@test "s3: an endpoint that is down is status 75 (retry later)" {
	img a jpeg:64x48
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:1 run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 75 rs-upload
	[[ "$stderr" == *"cannot reach AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"* ]]
	# AWS_ENDPOINT_URL is the fallback
	unset AWS_ENDPOINT_URL_S3
	AWS_ENDPOINT_URL=http://127.0.0.1:1 run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 75 rs-upload
	[[ "$stderr" == *"AWS_ENDPOINT_URL=http://127.0.0.1:1"* ]]
}

@test "s3: an endpoint that accepts and never answers times out: 75, no hang" {
	serve 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True: held.append(s.accept())'
	img a jpeg:64x48
	start=$(date +%s)
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT RS_STORE_TIMEOUT=2 run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 75 rs-upload
	[ $(($(date +%s) - start)) -lt 10 ]
	[[ "$stderr" == *"try again later"* ]]
}

@test "s3: 5xx answers are retried, then status 75" {
	serve 'import http.server
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        global n; n += 1
        open("'"$T"'/hits", "w").write(str(n))
        self.send_response(503); self.send_header("Content-Length", "0"); self.end_headers()
    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = answer
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()'
	img a jpeg:64x48
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 75 rs-upload
	[[ "$stderr" == *": 503"*"try again later" ]]
	[ "$(cat "$T/hits")" = 3 ]                     # HEAD, tried three times
}

@test "s3: the store down while rs-run works: the job is tried again later, charged once" {
	rs-credit user add alice >/dev/null
	rs-credit grant alice 3 --id g1 >/dev/null
	img a jpeg:64x48
	rs-upload -e -u alice "$T/a.jpeg" >/dev/null
	for b in none local; do
		[ $b = none ] || sleep 1.2               # the retry comes due
		AWS_ENDPOINT_URL_S3=http://127.0.0.1:1 RS_RUN_BACKOFF=1s \
		    run -0 --separate-stderr rs-run -b $b -t 0.5
		[ "$(jq -c '[.done, .failed, .retried]' <<<"$output")" = "[0,0,1]" ]
		[[ "$stderr" == *"cannot reach AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"* ]]
	done
	sleep 1.2
	RS_RUN_BACKOFF=1s run -0 --separate-stderr rs-run -b local
	[ "$(jq -c '[.done, .failed, .retried]' <<<"$output")" = "[1,0,0]" ]
	[ "$(rs-credit balance alice | jq -r '"\(.balance) \(.held)"')" = "2 0" ]
	out=$(rs-run status "$(jobs_ids done)" | jq -r .output.object)
	obj_has "$out"
	[ "$(b2 "$(obj_file "$out")")" = "$out" ]
}

@test "s3: a missing object is status 66; bytes that do not match their name are refused" {
	img a jpeg:64x48
	id=$(b2 "$T/a.jpeg")
	run --separate-stderr rs-classify <<<"$(job_for "$id")"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"object $id: 404 NoSuchKey"* ]]
	# someone else's bytes under that name: not trusted, not cached
	img b jpeg:64x48 seed=9
	run -0 rs-upload "$T/b.jpeg"                  # makes the bucket
	[ "$(S3_PAYLOAD="$T/b.jpeg" s3curl PUT "$(key "$id")" --data-binary "@$T/b.jpeg")" = 200 ]
	run --separate-stderr rs-classify <<<"$(job_for "$id")"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"object $id: the bytes received hash to $(b2 "$T/b.jpeg")"* ]]
	[ ! -e "$(cached "$id")" ]
	[ -z "$(find "$RS_SPOOL" -name '.*')" ]
}

@test "s3: rs-run --gc lists the bucket page by page, removes what expired, keeps what is referenced" {
	rs-credit user add alice >/dev/null
	rs-credit grant alice 5 --id g1 >/dev/null
	for s in 1 2 3 4 5; do img "u$s" jpeg:32x24 seed=$s; rs-upload "$T/u$s.jpeg" >/dev/null; done
	img q jpeg:32x24 seed=9
	rs-upload -e -u alice "$T/q.jpeg" >/dev/null          # queued: referenced
	[ "$(obj_count)" -eq 6 ]
	obj_age '10 days ago'
	RS_STORE_LIST_MAX=2 run -0 --separate-stderr rs-run --gc
	[ "$(jq -c '[.objects_removed, .objects_kept]' <<<"$output")" = "[5,1]" ]
	[ "$(obj_ids)" = "$(b2 "$T/q.jpeg")" ]
	[ "$(find "$RS_SPOOL/s3cache" -type f | wc -l)" -eq 1 ]   # copies go with their objects
	# a fresh unreferenced object is kept: its job may be about to be queued;
	# its age comes from a HEAD, nothing is downloaded to learn it
	rm -rf "$RS_SPOOL/s3cache"
	rs-upload "$T/u1.jpeg" >/dev/null
	run -0 rs-run --gc
	obj_has "$(b2 "$T/u1.jpeg")"
	[ "$(find "$RS_SPOOL/s3cache" -type f 2>/dev/null | wc -l)" -eq 0 ]
}

@test "s3: a prefix with spaces, '+', '=', '&' and UTF-8 is encoded as SigV4 wants" {
	export RS_STORE="${RS_STORE%/}/a b+c/q=1&r/é"
	img a jpeg:64x48
	id=$(b2 "$T/a.jpeg")
	run -0 --separate-stderr rs-upload "$T/a.jpeg"
	run -0 --separate-stderr rs-classify <<<"$(job_for "$id")"       # GET
	cmp "$T/a.jpeg" "$(cached "$id")"
	run -0 --separate-stderr rs-run --gc                             # ListObjectsV2
	[ "$(jq -c '[.objects_removed, .objects_kept]' <<<"$output")" = "[0,1]" ]
	touch -d '10 days ago' "$(cached "$id")"
	run -0 --separate-stderr rs-run --gc                             # DELETE
	[ "$(jq -c '[.objects_removed, .objects_kept]' <<<"$output")" = "[1,0]" ]
	run -0 --separate-stderr rs-run --gc
	[ "$(jq -c '[.objects_removed, .objects_kept]' <<<"$output")" = "[0,0]" ]
}

@test "s3: settings: the AWS keys from rs.conf; malformed settings are status 78" {
	img a jpeg:64x48
	{
		echo "RS_STORE=$RS_STORE"
		for k in AWS_ENDPOINT_URL_S3 AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
			echo "$k=${!k}"
		done
	} >"$T/rs.conf"
	env -u RS_STORE -u AWS_ENDPOINT_URL_S3 -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	    RS_CONF="$T/rs.conf" rs-upload "$T/a.jpeg" >/dev/null
	obj_has "$(b2 "$T/a.jpeg")"
	RS_STORE=s3://No_Such/x run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
	[[ "$stderr" == *"RS_STORE=s3://No_Such/x: the bucket name"* ]]
	RS_STORE=file:///tmp/x run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
	RS_STORE=s3://rs-test/a//b run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
	run --separate-stderr env -u AWS_ACCESS_KEY_ID rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
	[[ "$stderr" == *"AWS_ACCESS_KEY_ID is not set"* ]]
	AWS_ENDPOINT_URL_S3=ftp://127.0.0.1 run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
	RS_STORE_TIMEOUT=soon run --separate-stderr rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
}
