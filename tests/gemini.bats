load helper
# rs-restore --backend gemini against tests/fake-gemini, a strict local
# fake of generateContent. Every run is checked for the key.

eval "helper_$(declare -f setup)"
setup() {
	helper_setup
	KEY="sk-test-$RANDOM-NEVER-PRINT-ME"
	export GEMINI_API_KEY="$KEY" RS_GEMINI_BACKOFF=0.01 RS_GEMINI_TIMEOUT=20
	unset RS_GEMINI_ENDPOINT RS_GEMINI_MODEL RS_GEMINI_KEY_FILE RS_FIDELITY_MIN \
	    RS_GEMINI_ATTEMPTS RS_GEMINI_DEADLINE RS_GEMINI_MAX_IMAGE RS_GEMINI_MAX_RESPONSE \
	    RS_PROMPTS
	img in jpeg:640x480
	FAKE_PID=
}

teardown() {
	[ -z "${FAKE_PID:-}" ] || kill "$FAKE_PID" 2>/dev/null || true
	[ -n "${KEY:-}" ] || return 0          # skipped before setup was done
	# the key is in no file a test left (records, objects, the fake's log)
	# but the key file itself, nor in the last run's output
	local leaked
	leaked=$(grep -rlF --exclude=key -- "$KEY" "$T" || true)
	[ -z "$leaked" ] || { echo "the key is in $leaked" >&2; return 1; }
	no_key
}

# fake [-e FILE]... ANSWER...: start the fake and point rs at it
fake() {
	fake-gemini -p "$T/port" -l "$T/log" -k "$KEY" "$@" 3>&- &
	FAKE_PID=$!
	for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
	[ -s "$T/port" ]
	export RS_GEMINI_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
}

# the fake's log: requests, or a field of request N
requests() { wc -l <"$T/log"; }
logged() { sed -n "$1p" "$T/log" | jq -r "$2"; }
# no output of the last run holds the key
no_key() { [[ "$output$stderr" != *"$KEY"* ]]; }
# PSNR of B against A (integer dB)
psnr() { imgcmp "$1" "$2" | cut -d. -f1; }
# WxH of an image
size() { imgcmp -s "$1" | cut -d' ' -f1,2 | tr ' ' x; }

@test "gemini: one photo is restored at its own size from a ~1 MP answer" {
	gemini-fixture "$T/in.jpeg" 1184x864 "$T/ans.png" "$T/exp.png"
	fake -e "$T/in.jpeg" "image:$T/ans.png"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	[ -z "$output" ]
	[ -z "$stderr" ]
	no_key
	[ "$(size "$T/out.png")" = 640x480 ]
	[ "$(requests)" -eq 1 ]
	[ "$(logged 1 .key)" = true ]
	[ "$(logged 1 .aspect)" = "4:3" ]
	[ "$(logged 1 '.images | join(",")')" = image/jpeg ]
	[[ "$(logged 1 .text)" == "Restore this damaged old photograph."* ]]
	[ "$(psnr "$T/exp.png" "$T/out.png")" -ge 35 ]
}

@test "gemini: the record notes backend, model, attempts, latency, tokens, text, fidelity" {
	fake -e "$T/in.jpeg" "image+text:$T/in.jpeg"
	rs-upload "$T/in.jpeg" >"$T/job"
	run -0 --separate-stderr rs-restore --backend gemini <"$T/job"
	no_key
	r=$(jq -c .restore <<<"$output")
	[ "$(jq -r .backend <<<"$r")" = gemini ]
	[ "$(jq -r .model <<<"$r")" = gemini-3.1-flash-image ]
	[ "$(jq -r .attempts <<<"$r")" = 1 ]
	[ "$(jq -r '.latency_ms >= 0' <<<"$r")" = true ]
	[ "$(jq -r .usage.totalTokenCount <<<"$r")" = 2605 ]
	[ "$(jq -r .text <<<"$r")" = "Here is the restored photo." ]
	[ "$(jq -r '.fidelity > 0.95' <<<"$r")" = true ]
	[ "$(jq -r .finish_reason <<<"$r")" = STOP ]
	[[ "$(jq -r .prompt <<<"$r")" == "Restore this damaged"* ]]
	[ "$(jq -r '.output | "\(.width)x\(.height)"' <<<"$output")" = 640x480 ]
	[ "$(jq -r .id <<<"$output")" = "$(jq -r .id "$T/job")" ]
	obj=$(jq -r .output.object <<<"$output")
	[ -f "$RS_SPOOL/objects/${obj:0:2}/${obj:2}" ]
}

@test "gemini: full-resolution transfer keeps the original's detail (PSNR vs plain resize)" {
	img big png:1600x1200 noise=4 seed=3
	gemini-fixture "$T/big.png" 1184x864 "$T/ans.png" "$T/exp.png" plain="$T/plain.png"
	fake "image:$T/ans.png"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/big.png"
	[ "$(size "$T/out.png")" = 1600x1200 ]
	t=$(psnr "$T/exp.png" "$T/out.png") p=$(psnr "$T/exp.png" "$T/plain.png")
	echo "transfer $t dB, plain resize $p dB" >&3
	[ "$t" -ge 38 ]
	[ "$t" -ge $((p + 5)) ]
}

@test "gemini: a shifted answer is aligned before the transfer" {
	img big png:1600x1200 noise=4 seed=3
	gemini-fixture "$T/big.png" 1184x864 "$T/ans.png" "$T/exp.png" shift=7,-4
	fake "image:$T/ans.png"
	rs-upload "$T/big.png" >"$T/job"
	run -0 --separate-stderr rs-restore --backend gemini <"$T/job"
	# 7,-4 answer pixels are about 7,-4 work pixels (1168x876); +-1 allowed
	[ "$(jq '.restore.transfer.shift | .[0] >= 6 and .[0] <= 8 and .[1] >= -5 and .[1] <= -3' <<<"$output")" = true ]
	[ "$(jq -r '.restore.fidelity > 0.95' <<<"$output")" = true ]
}

@test "gemini: thought images are skipped; the final image is taken" {
	img other png:640x480 seed=9
	fake "thought:$T/in.jpeg:$T/other.png"
	rs-upload "$T/in.jpeg" >"$T/job"
	run -0 --separate-stderr rs-restore --backend gemini <"$T/job"
	[ "$(jq -r '.restore.fidelity > 0.95' <<<"$output")" = true ]
}

@test "gemini: a grey photo stays grey unless --colourise; alpha is kept" {
	img g png:640x480 gray
	fake "image:$T/in.jpeg"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/g.png"
	[ "$(imgcmp -s "$T/out.png" | cut -d' ' -f3)" = 1 ]
	[[ "$(logged 1 .text)" != *Colourise* ]]
	run -0 --separate-stderr rs-restore --backend gemini --colourise -o "$T/out.png" "$T/g.png"
	[ "$(imgcmp -s "$T/out.png" | cut -d' ' -f3)" = 3 ]
	[[ "$(logged 2 .text)" == *"Colourise the photo"* ]]
	img a png:640x480 alpha
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/a.png"
	[ "$(imgcmp -s "$T/out.png" | cut -d' ' -f3)" = 4 ]
}

@test "gemini: 2 or 3 photos are fused; the output has the first one's size" {
	img b jpeg:320x240 seed=1
	img c png:800x600 seed=1
	fake -e "$T/in.jpeg" -e "$T/b.jpeg" -e "$T/c.png" "image:$T/in.jpeg"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.jpg" \
	    "$T/in.jpeg" "$T/b.jpeg" "$T/c.png"
	[ "$(size "$T/out.jpg")" = 640x480 ]
	[ "$(logged 1 '.images | join(",")')" = image/jpeg,image/jpeg,image/png ]
	[[ "$(logged 1 .text)" == "These 3 photos show the same scene"* ]]
	run -64 --separate-stderr rs-restore --backend gemini -o "$T/out.jpg" \
	    "$T/in.jpeg" "$T/b.jpeg" "$T/c.png" "$T/in.jpeg"
	failed_with 64 rs-restore
	[ "$(requests)" -eq 1 ]
}

@test "gemini: a fusion job from rs-upload; the local engine refuses to fuse" {
	img b png:640x480 seed=1 noise=6
	fake -e "$T/in.jpeg" -e "$T/b.png" "image:$T/in.jpeg"
	rs-upload "$T/in.jpeg" "$T/b.png" | jq -c '.colourise = true' >"$T/job"
	run -0 --separate-stderr rs-restore --backend gemini <"$T/job"
	[ "$(jq -r .mode <<<"$output")" = fusion ]
	[ "$(jq -r '.output | "\(.width)x\(.height)"' <<<"$output")" = 640x480 ]
	[[ "$(logged 1 .text)" == "These 2 photos"*"Colourise the photo"* ]]
	run --separate-stderr rs-restore --backend local -o "$T/out.png" "$T/in.jpeg" "$T/b.png"
	failed_with 64 rs-restore
	[[ "$stderr" == *"fusion of 2 photos needs a model backend"* ]]
	[ "$(requests)" -eq 1 ]
}

@test "gemini: a text-only answer is a permanent failure naming no image" {
	fake text
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	no_key
	[[ "$stderr" == *"no image in the answer"*"the model said: I cannot restore"* ]]
	[ ! -e "$T/out.png" ]
	[ "$(requests)" -eq 1 ]
}

@test "gemini: a safety block and a blocked prompt are permanent failures" {
	fake safety
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	no_key
	[[ "$stderr" == *"safety block"*"IMAGE_SAFETY"* ]]
	kill "$FAKE_PID"; rm "$T/port" "$T/log"
	fake blocked
	rs-upload "$T/in.jpeg" >"$T/job"
	run --separate-stderr rs-restore --backend gemini <"$T/job"
	failed_with 69 rs-restore
	[[ "$stderr" == *"safety block: the request was blocked (blockReason SAFETY)"* ]]
	[ "$(requests)" -eq 1 ]
}

@test "gemini: 429 with RetryInfo is retried after the delay it asks for" {
	fake 429:0.4s "image:$T/in.jpeg"
	rs-upload "$T/in.jpeg" >"$T/job"
	run -0 --separate-stderr rs-restore --backend gemini <"$T/job"
	[ "$(requests)" -eq 2 ]
	no_key
	[ "$(jq -r .restore.attempts <<<"$output")" = 2 ]
	[ "$(jq -n "$(logged 2 .t) - $(logged 1 .t) >= 0.4")" = true ]
}

@test "gemini: a Retry-After header is honoured too" {
	fake 429h:1 "image:$T/in.jpeg"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	[ "$(requests)" -eq 2 ]
	[ "$(jq -n "$(logged 2 .t) - $(logged 1 .t) >= 1")" = true ]
}

@test "gemini: 503 then success" {
	fake 503 "image:$T/in.jpeg"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	[ "$(requests)" -eq 2 ]
}

@test "gemini: transient failures give up with 75 after RS_GEMINI_ATTEMPTS" {
	export RS_GEMINI_ATTEMPTS=3
	fake 429
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 75 rs-restore
	no_key
	[[ "$stderr" == *"HTTP 429 RESOURCE_EXHAUSTED"*"gave up after 3 attempts"* ]]
	[ "$(requests)" -eq 3 ]
}

@test "gemini: a retry delay beyond the deadline gives up at once" {
	export RS_GEMINI_DEADLINE=5
	fake 429:3600s
	rs-upload "$T/in.jpeg" >"$T/job"
	run --separate-stderr rs-restore --backend gemini <"$T/job"
	failed_with 75 rs-restore
	[ "$(requests)" -eq 1 ]
	[[ "$stderr" == *"the deadline is near"* ]]
}

@test "gemini: an answer slower than the timeout is retried, then 75" {
	export RS_GEMINI_TIMEOUT=0.5 RS_GEMINI_ATTEMPTS=2
	fake "slow:5:$T/in.jpeg"
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 75 rs-restore
	[[ "$stderr" == *"network: Operation timed out after"*"gave up after 2 attempts"* ]]
	[ "$(requests)" -eq 2 ]
}

@test "gemini: an unreachable endpoint is temporary; a bad one is a setting error" {
	# a port that was just free: nothing listens there
	fake text; kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=
	export RS_GEMINI_ATTEMPTS=2
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 75 rs-restore
	[[ "$stderr" == *"network: "*"gave up after 2 attempts"* ]]
	RS_GEMINI_ENDPOINT=ftp://example.org run --separate-stderr rs-restore --backend gemini \
	    -o "$T/out.png" "$T/in.jpeg"
	failed_with 78 rs-restore
	[[ "$stderr" == "rs-restore: RS_GEMINI_ENDPOINT=ftp://example.org: expected http(s)://host[:port]" ]]
}

@test "gemini: malformed JSON is a permanent failure, not retried" {
	fake malformed
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"not the API's JSON"* ]]
	[ "$(requests)" -eq 1 ]
}

@test "gemini: a part that is not an image fails with 'not an image'" {
	for a in notimage badimage; do
		rm -f "$T/port" "$T/log"
		fake "$a"
		run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
		failed_with 69 rs-restore
		[[ "$stderr" == *"not an image"* ]]
		kill "$FAKE_PID"
	done
	FAKE_PID=
}

@test "gemini: a different photo fails: the model changed the photo's content" {
	img other png:1184x864 seed=5
	fake "image:$T/other.png"
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == "rs-restore: $T/in.jpeg: the model changed the photo's content (fidelity 0."* ]]
	[ ! -e "$T/out.png" ]
	RS_FIDELITY_MIN=-1 run -0 rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
}

@test "gemini: odd answer shapes are refused cleanly" {
	nb=0
	for body in '[]' '{}' '{"candidates":{}}' '{"candidates":[1]}' \
	    '{"candidates":[{"content":{"parts":"x"}}]}' \
	    '{"candidates":[{"content":{"parts":[7,{"text":5},{"inlineData":3}]}}]}' \
	    '{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":5,"data":"x"}}]}}]}' \
	    '{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}}]}' \
	    '{"candidates":[{"finishReason":"NO_IMAGE","content":{"parts":[{"thought":true,"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}' \
	    '{"promptFeedback":{"blockReason":7},"candidates":[]}'; do
		nb=$((nb + 1))
		printf '%s' "$body" >"$T/b$nb"
		set -- "$@" "raw:$T/b$nb"
	done
	fake "$@"
	for _ in $(seq "$nb"); do
		run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
		failed_with 69 rs-restore
	done
	[ "$(requests)" -eq "$nb" ]
}

@test "gemini: an oversized answer is refused" {
	export RS_GEMINI_MAX_RESPONSE=100K
	fake oversized:300000
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"larger than RS_GEMINI_MAX_RESPONSE"* ]]
}

@test "gemini: a retired model id names RS_GEMINI_MODEL" {
	export RS_GEMINI_MODEL=gemini-2.5-flash-image-preview
	fake "image:$T/in.jpeg"
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"model gemini-2.5-flash-image-preview not found"*"set RS_GEMINI_MODEL"* ]]
	[ "$(requests)" -eq 1 ]
}

@test "gemini: a wrong key is refused and never printed" {
	fake "image:$T/in.jpeg"
	KEY=sk-wrong-key-NEVER-PRINT GEMINI_API_KEY=sk-wrong-key-NEVER-PRINT \
	    run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"API key not valid"* ]]
	[[ "$stderr" != *NEVER-PRINT* ]]
	[ "$(logged 1 .key)" = false ]
}

@test "gemini: the key may come from the file RS_GEMINI_KEY_FILE names" {
	fake "image:$T/in.jpeg"
	printf '%s\n' "$KEY" >"$T/key"
	printf 'RS_GEMINI_KEY_FILE=%s\nRS_GEMINI_ENDPOINT=%s\n' "$T/key" "$RS_GEMINI_ENDPOINT" >"$T/rs.conf"
	unset GEMINI_API_KEY RS_GEMINI_ENDPOINT
	RS_CONF="$T/rs.conf" run -0 --separate-stderr rs-restore -o "$T/out.png" "$T/in.jpeg"
	[ "$(logged 1 .key)" = true ]
	no_key
}

@test "gemini: without a key, --backend gemini is a configuration error; auto is local" {
	unset GEMINI_API_KEY
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/in.jpeg"
	failed_with 78 rs-restore
	[[ "$stderr" == *"no API key: set GEMINI_API_KEY or RS_GEMINI_KEY_FILE"* ]]
	rs-upload "$T/in.jpeg" >"$T/job"
	run -0 --separate-stderr rs-restore <"$T/job"
	[ "$(jq -r .restore.backend <<<"$output")" = local ]
}

@test "gemini: auto with a key uses gemini, and a failure is not handed to local" {
	fake text
	rs-upload "$T/in.jpeg" >"$T/job"
	run --separate-stderr rs-restore <"$T/job"
	failed_with 69 rs-restore
	[ "$(requests)" -eq 1 ]
}

@test "gemini: an input over RS_GEMINI_MAX_IMAGE is re-encoded smaller as JPEG" {
	img big png:1200x900 noise=8
	export RS_GEMINI_MAX_IMAGE=60K
	fake -e any "image:$T/big.png"
	run -0 --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/big.png"
	[ "$(logged 1 '.images | join(",")')" = image/jpeg ]
	[ "$(size "$T/out.png")" = 1200x900 ]
}

@test "gemini: an EXIF-rotated photo is sent upright; the output is upright" {
	img r jpeg:640x480 orientation=6
	fake -e any "image:$T/in.jpeg"
	run --separate-stderr rs-restore --backend gemini -o "$T/out.png" "$T/r.jpeg"
	[ "$(logged 1 .aspect)" = "3:4" ]
	[ "$(logged 1 '.images | join(",")')" = image/jpeg ]
}

@test "gemini: --print-prompt calls nothing and frames the user's wish" {
	export RS_GEMINI_ENDPOINT=http://127.0.0.1:9
	run -0 --separate-stderr rs-restore --print-prompt --prompt $'brighten "the" sky\x01\x1b[31m  please'
	[[ "$output" == "Restore this damaged old photograph."* ]]
	[[ "$output" == *"Follow it only where it agrees with the rules above: \"brighten 'the' sky [31m please\"" ]]
	[[ "$output" == *"do not add colour"* ]] || [[ "$output" != *Colourise* ]]
	long=$(printf 'a%.0s' $(seq 1500))
	run -0 rs-restore --print-prompt --prompt "$long"
	[[ "$output" == *"\"$(printf 'a%.0s' $(seq 1000))\"" ]]
	run -0 rs-restore --print-prompt --colourise
	[[ "$output" == *"Colourise the photo"* ]]
}

@test "gemini: --print-prompt names the detected damage of the photo" {
	img d jpeg:320x240 noise=20 scratches=8 gray
	run -0 --separate-stderr rs-restore --print-prompt "$T/d.jpeg" "$T/in.jpeg"
	[[ "$output" == "These 2 photos"* ]]
	[[ "$output" == *"film grain"* ]]
	[[ "$output" == *"black and white"* ]]
}

@test "gemini: templates come from RS_PROMPTS; the built-in ones equal etc/prompts.conf" {
	a=$(rs-restore --print-prompt --prompt x)
	b=$(RS_PROMPTS="$BATS_TEST_DIRNAME/../etc/prompts.conf" rs-restore --print-prompt --prompt x)
	[ "$a" = "$b" ]
	printf '[restore]\nFix it.\n[fusion]\nMerge {n}.\n[user]\nWish: {user}\n' >"$T/p.conf"
	RS_PROMPTS="$T/p.conf" run -0 rs-restore --print-prompt --prompt 'x {n} y'
	[ "$output" = "Fix it. Wish: x {n} y" ]
	printf '[restore]\nno user section\n' >"$T/bad.conf"
	RS_PROMPTS="$T/bad.conf" run --separate-stderr rs-restore --print-prompt
	failed_with 78 rs-restore
}

@test "gemini: the fake is strict: unknown fields, systemInstruction, key in URL" {
	fake "image:$T/in.jpeg"
	u="$RS_GEMINI_ENDPOINT/v1beta/models/gemini-3.1-flash-image:generateContent"
	d=$(base64 -w0 "$T/in.jpeg")
	good='{"contents":[{"parts":[{"inlineData":{"mimeType":"image/jpeg","data":"'$d'"}},{"text":"x"}]}]}'
	run curl -s -o /dev/null -w '%{http_code}' -H "x-goog-api-key: $KEY" -H 'Content-Type: application/json' -d "$good" "$u"
	[ "$output" = 200 ]
	for bad in '{"contents":[{"parts":[{"text":"x"}]}],"bogus":1}' \
	    '{"systemInstruction":{"parts":[{"text":"x"}]},"contents":[{"parts":[{"text":"x"}]}]}' \
	    '{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"'$d'"}}]}]}'; do
		run curl -s -o /dev/null -w '%{http_code}' -H "x-goog-api-key: $KEY" -H 'Content-Type: application/json' -d "$bad" "$u"
		[ "$output" = 400 ]
	done
	run curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$good" "$u?key=$KEY"
	[ "$output" = 400 ]
	[ "$(logged 2 .error)" = 'Invalid JSON payload received. Unknown name "bogus" at '"'"'request'"'"': Cannot find field.' ]
}
