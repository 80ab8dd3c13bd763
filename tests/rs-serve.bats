load helper
load queue

# Real HTTP over loopback: tcpserver on a port the kernel picks (-1
# prints it), curl as the client, socat for raw bytes.

setup() {
	export RS_SPOOL="$BATS_TEST_TMPDIR/spool" RS_CONF=/dev/null RS_KICK=none
	unset RS_MAX_BYTES RS_MAX_PIXELS RS_MAX_SIDE RS_CORS_ORIGINS RS_WEB_ROOT RS_HSTS
	unset RS_STRIPE_WEBHOOK_SECRET RS_STRIPE_SECRET_KEY RS_STRIPE_API RS_FREE_ALLOWANCE
	T="$BATS_TEST_TMPDIR"
	scale_setup
	command -v tcpserver >/dev/null || skip "tcpserver (ucspi-tcp) is missing: run contrib/install-deps"
}

teardown() {
	[ -z "${SERVER:-}" ] || kill "$SERVER" 2>/dev/null || true
}

# serve: start rs-serve under tcpserver; sets URL, HOSTPORT
serve() {
	rm -f "$T/port"
	tcpserver -1 -HRl0 127.0.0.1 0 rs-serve >"$T/port" 2>"$T/serve.log" 3>&- &
	SERVER=$!
	while [ ! -s "$T/port" ]; do kill -0 "$SERVER" || return 1; sleep 0.02; done
	HOSTPORT=127.0.0.1:$(cat "$T/port")
	URL=http://$HOSTPORT
}

session() { curl -sf -X POST "$URL/v1/session" | jq -r .token; }
user_of() { curl -sf -H "Authorization: Bearer $1" "$URL/v1/me" | jq -r .user; }

# req METHOD PATH [TOKEN] [curl args ...]: $code, $body (file $T/body), headers $T/hdr
req() {
	local m=$1 p=$2 tok=${3:-}
	shift 3 || shift $#
	rm -f "$T/body" "$T/hdr"
	code=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" \
	    ${tok:+-H "Authorization: Bearer $tok"} "$@" "$URL$p") || true
	body=$(cat "$T/body" 2>/dev/null || true)
}
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# upload TOKEN [curl args]: POST one photo; sets $code, $body, $id
upload() {
	local tok=$1
	shift
	[ -f "$T/a.jpeg" ] || img a jpeg:64x48 noise=0.2
	req POST /v1/restorations "$tok" -F "image=@$T/a.jpeg" "$@"
	id=$(jq -r '.id // empty' <<<"$body")
}

# raw BYTES: send bytes on one connection (printf format); $output is the answer
raw() { printf "$1" | socat -t 3 - "TCP:$HOSTPORT"; }

@test "rs-serve: the acceptance flow: session, upload, status, another user gets 404" {
	serve
	tok=$(session)
	[ -n "$tok" ]
	upload "$tok"
	[ "$code" = 202 ]
	[ -n "$id" ]
	[ "$(hdr Location)" = "/v1/restorations/$id" ]
	req GET "/v1/restorations/$id" "$tok"
	[ "$code" = 200 ]
	[ "$(jq -r .status <<<"$body")" = queued ]
	other=$(session)
	req GET "/v1/restorations/$id" "$other"
	[ "$code" = 404 ]
	[ "$(jq -r .error.code <<<"$body")" = not_found ]
}

@test "rs-serve: a new session is a free account with this month's allowance, once" {
	serve
	run -0 curl -s -D "$T/hdr" -X POST "$URL/v1/session"
	grep -q '^HTTP/1.1 201' "$T/hdr"
	[ "$(jq -r '"\(.plan) \(.credits)"' <<<"$output")" = "free 5" ]
	tok=$(jq -r .token <<<"$output")
	u=$(jq -r .user <<<"$output")
	req GET /v1/me "$tok"
	[ "$code" = 200 ]
	[ "$(jq -r '"\(.user) \(.plan) \(.credits) \(.has_password) \(.email) \(.limits.images_per_request)"' <<<"$body")" = "$u free 5 false null 1" ]
	req GET /v1/me "$tok"
	[ "$(jq -r .credits <<<"$body")" = 5 ]
	run -0 rs-credit check
}

@test "rs-serve: every route of a job answers 404 to another user, a guessed id and a malformed one" {
	serve
	tok=$(session)
	upload "$tok"
	other=$(session)
	guess=0123456789abcdef0123456789ab
	for path in "" /events /result /input/0; do
		for who in "$id:$other" "$guess:$tok" "..%2f..%2fetc:$tok" "ZZZ:$tok" "$id/../$id:$other"; do
			req GET "/v1/restorations/${who%%:*}$path" "${who#*:}"
			[ "$code" = 404 ] || { echo "GET ${who%%:*}$path: $code $body"; false; }
			[ "$(jq -r .error.code <<<"$body")" = not_found ]
		done
	done
	req DELETE "/v1/restorations/$id" "$other"
	[ "$code" = 404 ]
	req DELETE "/v1/restorations/$guess" "$tok"
	[ "$code" = 404 ]
	# the owner still has it, untouched
	req GET "/v1/restorations/$id" "$tok"
	[ "$code" = 200 ]
	req GET /v1/restorations "$other"
	[ "$(jq '.restorations | length' <<<"$body")" = 0 ]
}

@test "rs-serve: no token, a bad token and a revoked token are 401 with WWW-Authenticate" {
	serve
	for p in /v1/me /v1/restorations /v1/restorations/0123456789abcdef0123456789ab; do
		req GET "$p" ""
		[ "$code" = 401 ]
		[ "$(jq -r .error.code <<<"$body")" = unauthorized ]
		[[ "$(hdr WWW-Authenticate)" == Bearer* ]]
	done
	req GET /v1/me rs1.not-a-real-token
	[ "$code" = 401 ]
	req GET /v1/me garbage
	[ "$code" = 401 ]
	tok=$(session)
	req POST /v1/logout "$tok"
	[ "$code" = 204 ]
	req GET /v1/me "$tok"
	[ "$code" = 401 ]
	upload "$tok"
	[ "$code" = 401 ]
}

@test "rs-serve: an account across two devices keeps history and credits; logout revokes" {
	serve
	phone=$(session)
	u=$(user_of "$phone")
	upload "$phone"
	[ "$code" = 202 ]
	req POST /v1/account "$phone" -H 'Content-Type: application/json' \
	    -d '{"email":"Ann@Example.org","password":"correct horse battery"}'
	[ "$code" = 200 ]
	[ "$(jq -r '"\(.email) \(.has_password)"' <<<"$body")" = "ann@example.org true" ]
	# the other device signs in
	req POST /v1/login "" -d '{"email":"ann@example.org","password":"correct horse battery"}'
	[ "$code" = 200 ]
	laptop=$(jq -r .token <<<"$body")
	[ "$laptop" != "$phone" ]
	[ "$(user_of "$laptop")" = "$u" ]
	req GET /v1/restorations "$laptop"
	[ "$(jq -r '.restorations[0].id' <<<"$body")" = "$id" ]
	req GET /v1/me "$laptop"
	[ "$(jq -r '"\(.credits) \(.held)"' <<<"$body")" = "4 1" ]
	# logging out on the phone leaves the laptop signed in
	req POST /v1/logout "$phone"
	[ "$code" = 204 ]
	req GET /v1/me "$phone"
	[ "$code" = 401 ]
	req GET /v1/me "$laptop"
	[ "$code" = 200 ]
	# changing the password needs the current one
	req POST /v1/account "$laptop" -d '{"email":"ann@example.org","password":"another long one"}'
	[ "$code" = 403 ]
	req POST /v1/account "$laptop" -d '{"email":"ann@example.org","password":"another long one","current_password":"correct horse battery"}'
	[ "$code" = 200 ]
	# no password ever reaches the log, nor a token
	! grep -q 'correct horse\|another long\|rs1\.' "$T/serve.log"
}

@test "rs-serve: login: a wrong password or unknown email is 401; attempts are rate limited" {
	serve
	tok=$(session)
	req POST /v1/account "$tok" -d '{"email":"bo@example.org","password":"secret password"}'
	[ "$code" = 200 ]
	req POST /v1/login "" -d '{"email":"bo@example.org","password":"wrong password"}'
	[ "$code" = 401 ]
	[ "$(jq -r .error.code <<<"$body")" = bad_credentials ]
	req POST /v1/login "" -d '{"email":"nobody@example.org","password":"wrong password"}'
	[ "$code" = 401 ]
	[ "$(jq -r .error.code <<<"$body")" = bad_credentials ]
	for i in 1 2 3 4 5; do
		req POST /v1/login "" -d '{"email":"bo@example.org","password":"wrong password"}'
	done
	[ "$code" = 429 ]
	[ "$(hdr Retry-After)" -ge 1 ]
	# another account's email cannot be taken; a bad email is refused
	t2=$(session)
	req POST /v1/account "$t2" -d '{"email":"bo@example.org","password":"secret password"}'
	[ "$code" = 422 ]
	[ "$(jq -r .error.code <<<"$body")" = email_taken ]
	req POST /v1/account "$t2" -d '{"email":"no-at-sign","password":"secret password"}'
	[ "$code" = 422 ]
	req POST /v1/account "$t2" -d '{"email":"c@example.org","password":"short"}'
	[ "$code" = 422 ]
	req POST /v1/account "$t2" -d 'not json'
	[ "$code" = 400 ]
}

@test "rs-serve: sessions are rate limited per client address" {
	RS_SESSION_BURST=3 RS_SESSION_PER_MINUTE=1 serve
	for i in 1 2 3; do
		req POST /v1/session ""
		[ "$code" = 201 ]
	done
	req POST /v1/session ""
	[ "$code" = 429 ]
	[ "$(hdr Retry-After)" -ge 1 ]
	[ "$(jq -r .error.code <<<"$body")" = rate_limited ]
}

@test "rs-serve: history is newest first and paginated" {
	serve
	tok=$(session)
	rs-credit user plan "$(user_of "$tok")" premium >/dev/null
	for i in 1 2 3; do
		img p$i jpeg:40x30 seed=$i
		req POST /v1/restorations "$tok" -F "image=@$T/p$i.jpeg"
		[ "$code" = 202 ]
		ids[$i]=$(jq -r .id <<<"$body")
	done
	req GET "/v1/restorations?limit=2" "$tok"
	[ "$code" = 200 ]
	[ "$(jq -r '[.restorations[].id] | join(" ")' <<<"$body")" = "${ids[3]} ${ids[2]}" ]
	next=$(jq -r .next <<<"$body")
	[ "$next" = "${ids[2]}" ]
	req GET "/v1/restorations?limit=2&before=$next" "$tok"
	[ "$(jq -r '[.restorations[].id] | join(" ")' <<<"$body")" = "${ids[1]}" ]
	[ "$(jq -r .next <<<"$body")" = null ]
	req GET "/v1/restorations?limit=0" "$tok"
	[ "$code" = 400 ]
	req GET "/v1/restorations?before=../x" "$tok"
	[ "$code" = 400 ]
}

@test "rs-serve: result and inputs: images with ETag, 304 on If-None-Match, private caching" {
	serve
	tok=$(session)
	upload "$tok"
	req GET "/v1/restorations/$id/result" "$tok"
	[ "$code" = 404 ]                 # not done yet
	rs-run -b local 2>/dev/null
	req GET "/v1/restorations/$id" "$tok"
	[ "$(jq -r .status <<<"$body")" = done ]
	curl -sf -H "Authorization: Bearer $tok" -D "$T/hdr" -o "$T/out" "$URL/v1/restorations/$id/result"
	[[ "$(hdr Content-Type)" == image/* ]]
	[[ "$(hdr Cache-Control)" == private* ]]
	etag=$(hdr ETag)
	[ "$etag" = "\"$(jq -r .output.object <<<"$body")\"" ]
	file "$T/out" | grep -q 'image data'
	req GET "/v1/restorations/$id/result" "$tok" -H "If-None-Match: $etag"
	[ "$code" = 304 ]
	[ -z "$body" ]
	req GET "/v1/restorations/$id/input/0" "$tok"
	[ "$code" = 200 ]
	cmp "$T/body" "$T/a.jpeg"
	req GET "/v1/restorations/$id/input/1" "$tok"
	[ "$code" = 404 ]
	req GET "/v1/restorations/$id/input/x" "$tok"
	[ "$code" = 404 ]
	# the web app's <img> cannot send headers: ?access_token= works for GET
	req GET "/v1/restorations/$id/result?access_token=$tok" ""
	[ "$code" = 200 ]
	run -0 rs-credit check
}

@test "rs-serve: DELETE removes the record and images for good; queued credits come back" {
	serve
	tok=$(session)
	upload "$tok"
	obj=$(jq -r '.inputs[0].object' <<<"$body")
	obj_has "$obj"
	req DELETE "/v1/restorations/$id" "$tok"
	[ "$code" = 204 ]
	req GET "/v1/restorations/$id" "$tok"
	[ "$code" = 404 ]
	! obj_has "$obj"
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/me" | jq -r '"\(.credits) \(.held)"')" = "5 0" ]
	req GET /v1/restorations "$tok"
	[ "$(jq '.restorations | length' <<<"$body")" = 0 ]
	# an image another job still uses stays
	other=$(session)
	upload "$tok"; id1=$id
	upload "$other"
	rs-run -b local 2>/dev/null
	req DELETE "/v1/restorations/$id1" "$tok"
	[ "$code" = 204 ]
	req GET "/v1/restorations/$id/input/0" "$other"
	[ "$code" = 200 ]
	req GET "/v1/restorations/$id/result" "$other"
	[ "$code" = 200 ]
	run -0 rs-credit check
}

@test "rs-serve: events: SSE delivers done within a second of the job finishing" {
	serve
	tok=$(session)
	upload "$tok"
	curl -sN -H "Authorization: Bearer $tok" "$URL/v1/restorations/$id/events" >"$T/sse" 2>&1 &
	c=$!
	while ! grep -q 'id: queued' "$T/sse"; do sleep 0.02; done
	rs-run -b local 2>/dev/null
	t0=$(date +%s%N)
	while ! grep -q '^id: done' "$T/sse"; do
		[ $(( $(date +%s%N) - t0 )) -lt 1000000000 ] || { cat "$T/sse"; false; }
		sleep 0.02
	done
	wait "$c"                          # the stream ends after done
	grep -q '^event: status' "$T/sse"
	grep '^data: ' "$T/sse" | tail -1 | cut -c7- | jq -e '.status == "done" and .output.object'
	# resuming after done: 204 tells EventSource to stop
	last=$(grep '^id: ' "$T/sse" | tail -1 | cut -c5-)
	req GET "/v1/restorations/$id/events" "$tok" -H "Last-Event-ID: $last"
	[ "$code" = 204 ]
}

@test "rs-serve: events: keep-alive comments while waiting; Last-Event-ID skips what was seen" {
	RS_SSE_PING=0.2 serve
	tok=$(session)
	upload "$tok"
	timeout 1 curl -sN -H "Authorization: Bearer $tok" -H "Last-Event-ID: queued.0" \
	    "$URL/v1/restorations/$id/events" >"$T/sse" || true
	grep -q '^: keep-alive' "$T/sse"
	! grep -q '^id: queued' "$T/sse"
	grep -q '^retry: ' "$T/sse"
}

@test "rs-serve: the runner is kicked after a restoration is queued" {
	RS_KICK=rs-run serve
	tok=$(session)
	upload "$tok"
	for i in $(seq 200); do
		req GET "/v1/restorations/$id" "$tok"
		[ "$(jq -r .status <<<"$body")" = done ] && break
		sleep 0.05
	done
	[ "$(jq -r .status <<<"$body")" = done ]
}

@test "rs-serve: limits: 413 beyond the plan, too many images, 415, 422, 411, 402, 429" {
	RS_MAX_BYTES=2000 serve
	tok=$(session)
	rs-credit user plan "$(user_of "$tok")" pro >/dev/null     # a bigger bucket
	img big jpeg:400x300 noise=20
	req POST /v1/restorations "$tok" -F "image=@$T/big.jpeg"
	[ "$code" = 413 ]
	[ "$(jq -r .error.code <<<"$body")" = too_large ]
	kill "$SERVER"; serve
	# a declared length beyond the plan is refused before the body is read
	req POST /v1/restorations "$tok" -H 'Content-Type: image/jpeg' -H 'Content-Length: 999999999' --data-binary @"$T/big.jpeg"
	[ "$code" = 413 ] || [ "$code" = 000 ]
	img b jpeg:40x30 seed=2
	req POST /v1/restorations "$tok" -F "image=@$T/b.jpeg" -F "image=@$T/b.jpeg" -F "image=@$T/b.jpeg"
	[ "$code" = 413 ] || { echo "3 images: $code $body"; tail -3 "$T/serve.log"; false; }
	[[ "$(jq -r .error.message <<<"$body")" == *"at most 2 images"* ]]
	printf 'GIF89a\1\0\1\0\0\0\0;' >"$T/x.gif"
	req POST /v1/restorations "$tok" -F "image=@$T/x.gif"
	[ "$code" = 415 ]
	req POST /v1/restorations "$tok" -H 'Content-Type: text/plain' -d hello
	[ "$code" = 415 ]
	cp "$T/big.jpeg" "$T/t.jpeg" && truncate -s 500 "$T/t.jpeg"
	req POST /v1/restorations "$tok" -F "image=@$T/t.jpeg"
	[ "$code" = 422 ]
	[ "$(jq -r .error.code <<<"$body")" = invalid_image ]
	req POST /v1/restorations "$tok" -F "prompt=hello"
	[ "$code" = 422 ]
	[ "$(jq -r .error.code <<<"$body")" = no_image ]
	run raw 'POST /v1/restorations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '"$tok"'\r\nContent-Type: image/jpeg\r\n\r\n'
	[[ "$output" == "HTTP/1.1 411 "* ]]
	# a raw image body is a restoration too
	req POST /v1/restorations "$tok" -H 'Content-Type: image/jpeg' --data-binary @"$T/b.jpeg"
	[ "$code" = 202 ]
	# nothing was charged or stored for the refusals
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/me" | jq -r '"\(.credits) \(.held)"')" = "4 1" ]
	[ "$(jobs_in new)" = 1 ]
	[ -z "$(ls -A "$RS_SPOOL/uploads")" ]
}

@test "rs-serve: out of credits is 402; the bucket empties into 429 with Retry-After" {
	RS_FREE_ALLOWANCE=0 serve
	tok=$(session)
	upload "$tok"
	[ "$code" = 402 ]
	[ "$(jq -r .error.code <<<"$body")" = insufficient_credits ]
	kill "$SERVER"; serve
	tok=$(session)
	rs-credit grant "$(user_of "$tok")" 50 --id g1 >/dev/null
	for i in 1 2 3 4 5; do
		upload "$tok"
		[ "$code" = 202 ] || { echo "upload $i: $code $body"; tail -3 "$T/serve.log"; false; }
	done
	upload "$tok"
	[ "$code" = 429 ]
	[ "$(hdr Retry-After)" -ge 1 ]
	run -0 rs-credit check
}

@test "rs-serve: a 431 for a huge head, 405 with Allow, 404 for unknown paths" {
	serve
	req GET /healthz "" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)"
	[ "$code" = 431 ]
	req PUT /v1/restorations ""
	[ "$code" = 405 ]
	[ "$(hdr Allow)" = "GET, HEAD, POST" ]
	req GET /v1/session ""
	[ "$code" = 405 ]
	req GET /v1/nothing ""
	[ "$code" = 404 ]
	[ "$(jq -r .error.code <<<"$body")" = not_found ]
}

@test "rs-serve: smuggling: duplicate or conflicting lengths, odd codings and line ends are refused" {
	serve
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
	[[ "$output" == "HTTP/1.1 501 "* ]]
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'GET /healthz HTTP/1.1\nHost: x\n\n'
	[ -z "$output" ] || [[ "$output" == "HTTP/1.1 400 "* ]] || [[ "$output" == "HTTP/1.1 408 "* ]]
	run raw 'GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'GET /healthz HTTP/1.1\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	run raw 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n'
	[[ "$output" == "HTTP/1.1 505 "* ]]
	run raw 'GET http://evil/healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
	# a refused request ends the connection: what follows is never run
	run raw 'POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	[ "$(grep -c '^HTTP/1.1' <<<"$output")" = 1 ]
}

@test "rs-serve: keep-alive, pipelining in order, HTTP/1.0, chunked bodies and 100-continue" {
	serve
	run raw 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	[ "$(grep '^HTTP/1.1' <<<"$output" | cut -c10-12 | tr '\n' ' ')" = "200 404 200 " ]
	run raw 'GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n'
	[ "$(grep -c '^HTTP/1.0 200' <<<"$output")" = 1 ]
	run raw 'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n'
	[ "$(grep -c '^HTTP/1.0 200' <<<"$output")" = 2 ]
	grep -qi '^Connection: keep-alive' <<<"$output"
	# curl reuses one connection for several URLs
	curl -sf "$URL/healthz" "$URL/healthz" "$URL/healthz" >/dev/null
	[ "$(grep -c '"path":"/healthz"' "$T/serve.log")" -ge 5 ]
	tok=$(session)
	img c jpeg:64x48 seed=3
	req POST /v1/restorations "$tok" -H 'Transfer-Encoding: chunked' -F "image=@$T/c.jpeg"
	[ "$code" = 202 ] || { echo "chunked: $code $body"; cat "$T/serve.log"; false; }
	req POST /v1/restorations "$tok" -H 'Expect: 100-continue' -F "image=@$T/c.jpeg"
	[ "$code" = 202 ] || { echo "expect: $code $body"; false; }
	run raw 'POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ema\r\nZ\r\n'
	[[ "$output" == "HTTP/1.1 400 "* ]]
}

@test "rs-serve: slow clients: an unfinished head gets 408, a stalled body is cut off" {
	RS_HEAD_TIMEOUT=0.5 RS_READ_TIMEOUT=0.5 RS_IDLE_TIMEOUT=1 serve
	# the client keeps the connection open 3 s: a 408 proves the deadline
	run bash -c "(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n'; sleep 3) | socat -t 5 - TCP:$HOSTPORT"
	[[ "$output" == "HTTP/1.1 408 "* ]]
	tok=$(session)
	run bash -c "(printf 'POST /v1/restorations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $tok\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\nabc'; sleep 3) | socat -t 5 - TCP:$HOSTPORT"
	[[ "$output" == "HTTP/1.1 408 "* ]]
	# an idle keep-alive connection is closed without a word
	t0=$(date +%s)
	run bash -c "sleep 3 | socat -t 5 - TCP:$HOSTPORT"
	[ -z "$output" ]
	[ $(( $(date +%s) - t0 )) -le 4 ]
}

@test "rs-serve: security headers on every response; CORS only for configured origins" {
	RS_CORS_ORIGINS="https://app.example https://other.example" RS_HSTS=1 serve
	for p in /healthz /v1/me /v1/nothing /v1/openapi.json; do
		req GET "$p" "" -H 'Origin: https://evil.example'
		grep -qi "^Content-Security-Policy: .*frame-ancestors 'none'" "$T/hdr"
		grep -qi '^X-Content-Type-Options: nosniff' "$T/hdr"
		grep -qi '^Referrer-Policy: no-referrer' "$T/hdr"
		grep -qi '^Strict-Transport-Security: max-age=' "$T/hdr"
		! grep -qi '^Access-Control-Allow-Origin' "$T/hdr"
	done
	req GET /healthz "" -H 'Origin: https://app.example'
	[ "$(hdr Access-Control-Allow-Origin)" = https://app.example ]
	req OPTIONS /v1/restorations "" -H 'Origin: https://other.example' \
	    -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization'
	[ "$code" = 204 ]
	[ "$(hdr Access-Control-Allow-Origin)" = https://other.example ]
	[[ "$(hdr Access-Control-Allow-Headers)" == *Authorization* ]]
	[[ "$(hdr Access-Control-Allow-Methods)" == *POST* ]]
}

@test "rs-serve: static files from the web root; nothing outside it" {
	mkdir -p "$T/web/css" "$T/web/.git"
	echo '<!doctype html><title>rs</title>' >"$T/web/index.html"
	echo 'body{}' >"$T/web/css/app.css"
	echo secret >"$T/web/.git/config"
	echo secret >"$T/outside"
	RS_WEB_ROOT="$T/web" serve
	req GET / ""
	[ "$code" = 200 ]
	[[ "$(hdr Content-Type)" == text/html* ]]
	[[ "$body" == *"<title>rs</title>"* ]]
	etag=$(hdr ETag)
	req GET / "" -H "If-None-Match: $etag"
	[ "$code" = 304 ]
	req GET /css/app.css ""
	[[ "$(hdr Content-Type)" == text/css* ]]
	req HEAD /css/app.css "" -I
	[ "$code" = 200 ]
	[ "$(hdr Content-Length)" = 7 ]
	for p in /.git/config /../outside /%2e%2e/outside /css/..%2f..%2foutside /nothing.html /css/%00; do
		req GET "$p" "" --path-as-is
		[ "$code" = 404 ] || { echo "$p: $code"; false; }
	done
	req POST /index.html ""
	[ "$code" = 405 ]
}

@test "rs-serve: healthz, the OpenAPI document, one JSON log line per request without secrets" {
	serve
	req GET /healthz ""
	[ "$code" = 200 ]
	[ "$(jq -r .ok <<<"$body")" = true ]
	req GET /v1/openapi.json ""
	[ "$code" = 200 ]
	[ "$(jq -r .openapi <<<"$body")" = 3.0.3 ]
	for p in /v1/session /v1/login /v1/logout /v1/account /v1/me /v1/restorations \
	    '/v1/restorations/{id}' '/v1/restorations/{id}/events' '/v1/restorations/{id}/result' \
	    '/v1/restorations/{id}/input/{n}' /v1/billing/checkout /v1/billing/portal \
	    /v1/stripe/webhook /healthz; do
		jq -e --arg p "$p" '.paths[$p]' <<<"$body" >/dev/null || { echo "missing $p"; false; }
	done
	tok=$(session)
	req GET "/v1/me?access_token=$tok" "$tok"
	grep -v '^rs-serve: ' "$T/serve.log" | jq -e -s 'length >= 4 and all(.time and .peer and .method and .path and .status)' >/dev/null
	! grep -q "$tok" "$T/serve.log"
}

@test "rs-serve: the Date header, log lines and record times are UTC whatever TZ says" {
	TZ=Pacific/Kiritimati serve         # UTC+14: a local time would show
	tok=$(session)
	before=$(date -u +%s)
	upload "$tok"
	[ "$code" = 202 ]
	after=$(date -u +%s)
	d=$(hdr Date)
	[[ "$d" =~ ^(Mon|Tue|Wed|Thu|Fri|Sat|Sun),\ [0-3][0-9]\ [A-Z][a-z][a-z]\ 20[0-9][0-9]\ [0-2][0-9]:[0-5][0-9]:[0-6][0-9]\ GMT$ ]]
	t=$(date -u -d "$d" +%s)
	[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
	[ "$(date -u -d "@$t" '+%a, %d %b %Y %H:%M:%S GMT')" = "$d" ]
	c=$(jq -r .created <<<"$body")
	[[ "$c" =~ Z$ ]]
	t=$(date -u -d "$c" +%s)
	[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
	t=$(grep -v '^rs-serve: ' "$T/serve.log" | tail -1 | jq -r .time)
	t=$(date -u -d "$t" +%s)
	[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
}

@test "rs-serve: the Stripe webhook gets the raw body; a bad signature is 400" {
	[ -d "$BATS_TEST_DIRNAME/js/node_modules/stripe" ] || skip "the stripe npm package is missing"
	export RS_STRIPE_WEBHOOK_SECRET=whsec_test_serve
	serve
	tok=$(session)
	u=$(user_of "$tok")
	jq -n --arg u "$u" --argjson t "$(date +%s)" '{id: "evt_1", object: "event", api_version: "2026-07-29.dahlia",
	    created: $t, type: "checkout.session.completed", livemode: false, pending_webhooks: 1,
	    data: {object: {id: "cs_1", object: "checkout.session", mode: "subscription", status: "complete",
	    payment_status: "paid", client_reference_id: $u, customer: "cus_1", subscription: "sub_1",
	    metadata: {user: $u, plan: "pro"}}}}' >"$T/ev.json"
	sig=$(stripe-sign whsec_test_serve <"$T/ev.json")
	req POST /v1/stripe/webhook "" -H "Stripe-Signature: $sig" -H 'Content-Type: application/json' --data-binary @"$T/ev.json"
	[ "$code" = 200 ]
	[ "$(curl -sf -H "Authorization: Bearer $tok" "$URL/v1/me" | jq -r .plan)" = pro ]
	req POST /v1/stripe/webhook "" -H "Stripe-Signature: $sig" -H 'Content-Type: application/json' --data-binary "$(jq -c . "$T/ev.json")"
	[ "$code" = 400 ]
	[ "$(jq -r .error.code <<<"$body")" = bad_signature ]
}

@test "rs-serve: billing: checkout and portal sessions come back as Stripe URLs" {
	command -v python3 >/dev/null || skip "python3 is missing"
	fake-stripe "$T/sport" "$T/slog" 0 3>&- &
	fs=$!
	while [ ! -s "$T/sport" ]; do sleep 0.02; done
	export RS_STRIPE_API="http://127.0.0.1:$(cat "$T/sport")" RS_STRIPE_SECRET_KEY=sk_test_51fake
	serve
	tok=$(session)
	req POST /v1/billing/checkout "$tok" -d '{"plan":"pro"}'
	[ "$code" = 200 ] || { echo "$body"; kill $fs; false; }
	[[ "$(jq -r .url <<<"$body")" == http* ]]
	req POST /v1/billing/checkout "$tok" -d '{"plan":"nope"}'
	[ "$code" = 422 ]
	req POST /v1/billing/checkout "$tok" -d '{}'
	[ "$code" = 422 ]
	req POST /v1/billing/portal "$tok" -d '{}'
	[ "$code" != 500 ]
	kill $fs
}

@test "rs-serve: runs under systemd-socket-activate (Accept=yes) and socat" {
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is missing"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	systemd-socket-activate -l 127.0.0.1:$port --inetd -a rs-serve 2>"$T/sd.log" 3>&- &
	SERVER=$!
	for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >"$T/h" && break; sleep 0.05; done
	[ "$(jq -r .ok "$T/h")" = true ]
	kill "$SERVER"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork EXEC:rs-serve 2>"$T/socat.log" 3>&- &
	SERVER=$!
	for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >"$T/h" && break; sleep 0.05; done
	[ "$(jq -r .ok "$T/h")" = true ]
}

@test "rs-serve: contrib/rs-serve.xinetd works as shipped (port, path, user and spool replaced)" {
	command -v xinetd >/dev/null || skip "xinetd is missing"
	[ "$(id -u)" = 0 ] || skip "xinetd needs root"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	sed -e "s|= 8080|= $port|; s|/usr/local/bin/rs-serve|$(cd "$BATS_TEST_DIRNAME/.." && pwd)/bin/rs-serve|" \
	    -e "s|= rs$|= root|; s|RS_SPOOL=/var/spool/rs|RS_SPOOL=$RS_SPOOL RS_CONF=/dev/null|; s|/var/log/rs/serve.log|$T/access.log|" \
	    "$BATS_TEST_DIRNAME/../contrib/rs-serve.xinetd" >"$T/xinetd.conf"
	xinetd -dontfork -f "$T/xinetd.conf" -pidfile "$T/xinetd.pid" 2>"$T/xinetd.log" 3>&- &
	SERVER=$!
	for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >"$T/h" && break; sleep 0.05; done
	[ "$(jq -r .ok "$T/h")" = true ]
	tok=$(curl -sf -X POST "http://127.0.0.1:$port/v1/session" | jq -r .token)
	[ -n "$tok" ]
	# the log went to RS_LOG, not into the responses
	grep -q '"path":"/v1/session"' "$T/access.log"
}

@test "rs-serve: the fuzzers' crash inputs (tests/data/http) get an answer, not a crash" {
	serve
	tok=$(session)
	for f in "$DATA"/http/head-*; do
		run -0 --separate-stderr rs-serve <"$f"
		[[ "$output" == HTTP/1.* ]]
	done
	for f in "$DATA"/http/mp-*; do
		ct=$(head -1 "$f")
		tail -n +2 "$f" >"$T/body"
		req POST /v1/restorations "$tok" -H "Content-Type: $ct" --data-binary @"$T/body"
		[[ "$code" == 4?? ]] || { echo "$f: $code"; false; }
	done
	! grep -q 'AddressSanitizer\|runtime error' "$T/serve.log"
}

@test "rs-serve: --help, --version, usage errors" {
	run -0 rs-serve --help
	[[ "$output" == usage:* ]]
	run -0 rs-serve --version
	[[ "$output" == "rs-serve "* ]]
	run -64 --separate-stderr rs-serve --bogus
	[ -z "$output" ]
	[[ "$stderr" == "rs-serve: "* ]]
	run -64 --separate-stderr rs-serve extra
	[ -z "$output" ]
	[[ "$stderr" == "rs-serve: extra: "* ]]
}
