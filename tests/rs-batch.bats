# tests/rs-batch.bats: restoring a tree (issue 9). Each test builds a
# small archive of generated photos in $T/in: damaged and clean, JPEG and
# PNG, a non-image, a truncated JPEG where a test wants one, and nested
# directories whose names have spaces and non-ASCII letters.
load helper

# tree: the archive; $T/in/bad/cut.jpg (truncated) only with "tree bad"
tree() {
	mkdir -p "$T/in/a b/ünï" "$T/in/sub"
	mkimg jpeg:200x150 noise=12 >"$T/in/noisy.jpg"
	mkimg jpeg:200x150 gray exif icc >"$T/in/clean.jpg"
	mkimg png:160x120 fade=50 >"$T/in/sub/faded.png"
	mkimg jpeg:180x120 scratches=4 seed=3 >"$T/in/a b/ünï/photo 1.jpg"
	mkimg jpeg:120x90 noise=20 exif icc >"$T/in/a b/ünï/photo 1.png.jpg"
	mkimg png:100x80 >"$T/in/a b/x.png"
	echo "not a photo" >"$T/in/sub/notes.txt"
	mkimg jpeg:64x48 >"$T/in/sub/looks-like.png"      # a JPEG by its bytes
	if [ "${1-}" = bad ]; then
		mkdir -p "$T/in/bad"
		mkimg jpeg:64x48 >"$T/in/bad/cut.jpg"
		truncate -s 200 "$T/in/bad/cut.jpg"
	fi
}

# outputs DIR: the files of the mirrored tree, sorted, without .rs-batch
outputs() { (cd "$1" && find . -path ./.rs-batch -prune -o -type f -print | sort); }
# snap DIR: inode and mtime of every output
snap() { (cd "$1" && find . -path ./.rs-batch -prune -o -type f -printf '%i %T@ %p\n' | sort -k3); }
log() { cat "$T/out/.rs-batch/log.jsonl"; }

@test "rs-batch: IN_DIR OUT_DIR restores into a mirrored tree and copies what needs nothing" {
	tree
	run -0 --separate-stderr rs-batch -j 2 "$T/in" "$T/out"
	[ "$(echo "$output" | jq -c '[.files, .restored + .copied, .ignored, .failed, .status]')" = "[8,7,1,0,0]" ]
	[ "$(echo "$output" | jq .copied)" -ge 1 ]
	outputs "$T/out" >"$T/list"
	grep -qx './noisy.png' "$T/list"
	grep -qx './clean.jpg' "$T/list"
	grep -qx './sub/faded.png' "$T/list"
	grep -qx './a b/ünï/photo 1.png' "$T/list"
	grep -qx './a b/ünï/photo 1.png.png' "$T/list"
	grep -qx './sub/looks-like.png' "$T/list"
	! grep -q notes.txt "$T/list"
	cmp "$T/in/clean.jpg" "$T/out/clean.jpg"          # copied byte for byte
	[ "$(head -c 8 "$T/out/noisy.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ]
	[ "$(log | jq -r 'select(.path == "clean.jpg") | .outcome')" = copied ]
	[ "$(log | jq -r 'select(.path == "noisy.jpg") | .outcome + " " + .output')" = "restored noisy.png" ]
	[ "$(log | jq -r 'select(.path == "sub/notes.txt") | .outcome')" = ignored ]
	[ "$(log | wc -l)" -eq 8 ]
	[ -z "$(ls -A "$T/out/.rs-batch/tmp")" ]
}

@test "rs-batch: outputs keep the EXIF and ICC blocks and the input's mtime" {
	tree
	touch -d '2001-02-03 04:05:06' "$T/in/a b/ünï/photo 1.png.jpg"
	rs-batch "$T/in" "$T/out" >/dev/null
	f="$T/out/a b/ünï/photo 1.png.png"
	grep -q eXIf "$f"                  # PNG chunks carrying the JPEG's blocks
	grep -q iCCP "$f"
	[ "$(date -r "$f" +%Y)" = 2001 ]
}

@test "rs-batch: --quality writes JPEG outputs named .jpg" {
	tree
	rs-batch -q 85 "$T/in" "$T/out" >/dev/null
	[ -f "$T/out/noisy.jpg" ]
	[ "$(head -c 2 "$T/out/noisy.jpg" | od -An -tx1 | tr -d ' ')" = ffd8 ]
	[ -f "$T/out/sub/faded.jpg" ]
}

@test "rs-batch: a second run skips what is done, leaving the outputs untouched" {
	tree
	rs-batch "$T/in" "$T/out" >/dev/null
	snap "$T/out" >"$T/before"
	run -0 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq -c '[.skipped, .restored, .copied, .ignored]')" = "[7,0,0,1]" ]
	snap "$T/out" >"$T/after"
	diff "$T/before" "$T/after"
}

@test "rs-batch: a changed input or a deleted output is done again" {
	tree
	rs-batch "$T/in" "$T/out" >/dev/null
	mkimg jpeg:200x150 noise=14 seed=9 >"$T/in/noisy.jpg"
	rm "$T/out/sub/faded.png"
	run -0 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq -c '[.skipped, .restored + .copied]')" = "[5,2]" ]
	[ -f "$T/out/sub/faded.png" ]
}

@test "rs-batch: a bad file is reported, the rest are done, and the next run retries it" {
	tree bad
	run -65 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq -c '[.failed, .restored + .copied, .status]')" = "[1,7,65]" ]
	[[ "$stderr" == *"rs-batch: $T/in/bad/cut.jpg: "* ]]
	[ "$(log | jq -r 'select(.path == "bad/cut.jpg") | .outcome + " " + (.error.status|tostring)')" = "failed 65" ]
	[ ! -e "$T/out/bad/cut.png" ]
	mkimg jpeg:64x48 noise=15 >"$T/in/bad/cut.jpg"          # repaired
	run -0 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq -c '[.failed, .skipped, .restored + .copied]')" = "[0,7,1]" ]
	[ -e "$T/out/bad/cut.png" ] || [ -e "$T/out/bad/cut.jpg" ]
}

@test "rs-batch: an unreadable file makes the status non-zero without stopping the rest" {
	[ "$(id -u)" -ne 0 ] || skip "root reads everything"
	tree
	chmod 000 "$T/in/noisy.jpg"
	run -77 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq .failed)" -eq 1 ]
}

@test "rs-batch: --triage lists by severity, most damaged first, and writes nothing" {
	tree bad
	run -65 --separate-stderr rs-batch --triage "$T/in"
	[ "$(echo "$output" | wc -l)" -eq 7 ]
	echo "$output" | jq -s -e 'map(.severity) as $s | $s == ($s | sort | reverse)'
	echo "$output" | jq -s -e 'all(.[]; .degradations | length == 7)'
	[ "$(echo "$output" | jq -r 'select(.file | endswith("clean.jpg")) | .ops | length')" -eq 0 ]
	[[ "$stderr" == "rs-batch: $T/in/bad/cut.jpg: "* ]]
	[ ! -e "$T/out" ]
	[ -z "$(find "$T/in" -name '.rs-batch')" ]
}

@test "rs-batch: --triage on a terminal prints a table" {
	command -v script >/dev/null || skip "no script(1)"
	tree
	script -qc "rs-batch --triage '$T/in' 2>/dev/null" /dev/null >"$T/tty"
	grep -q 'SEVERITY' "$T/tty"
	grep -q 'noisy.jpg' "$T/tty"
}

@test "rs-batch: --dry-run says what it would do and writes nothing" {
	tree
	run -0 --separate-stderr rs-batch -n "$T/in" "$T/out"
	[ ! -e "$T/out" ]
	[ "$(echo "$output" | tail -1 | jq -c '[.dry_run, .restore + .copy, .ignored]')" = "[true,7,1]" ]
	[ "$(echo "$output" | jq -r 'select(.path == "noisy.jpg") | .outcome + " " + .output')" = "restore noisy.png" ]
	[ "$(echo "$output" | jq -r 'select(.path == "clean.jpg") | .outcome')" = copy ]
	rs-batch "$T/in" "$T/out" >/dev/null
	snap "$T/out" >"$T/before"
	run -0 --separate-stderr rs-batch --dry-run "$T/in" "$T/out"
	[ "$(echo "$output" | tail -1 | jq .skipped)" -eq 7 ]
	snap "$T/out" >"$T/after"
	diff "$T/before" "$T/after"
}

@test "rs-batch: -j 2 writes the same bytes as -j 1" {
	tree
	for i in 1 2 3 4; do mkimg jpeg:160x120 noise=$((8 + i)) seed=$i >"$T/in/sub/n$i.jpg"; done
	rs-batch -j 1 "$T/in" "$T/o1" >/dev/null
	rs-batch -j 2 "$T/in" "$T/o2" >/dev/null
	(cd "$T/o1" && find . -path ./.rs-batch -prune -o -type f -exec md5sum {} + | sort -k2) >"$T/s1"
	(cd "$T/o2" && find . -path ./.rs-batch -prune -o -type f -exec md5sum {} + | sort -k2) >"$T/s2"
	[ "$(wc -l <"$T/s1")" -eq 11 ]
	diff "$T/s1" "$T/s2"
}

@test "rs-batch: killed while writing leaves no partial output; the next run finishes" {
	tree
	run -137 env RS_CRASH_AT=batch-rename rs-batch -j 1 "$T/in" "$T/out"
	[ -z "$(outputs "$T/out")" ]                       # the partial is in tmp/ only
	[ -n "$(ls -A "$T/out/.rs-batch/tmp")" ]
	run -0 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq '.restored + .copied')" -eq 7 ]
	[ -z "$(ls -A "$T/out/.rs-batch/tmp")" ]
	[ "$(outputs "$T/out" | wc -l)" -eq 7 ]
}

@test "rs-batch: SIGKILL mid-run, then a rerun completes with every output whole" {
	tree
	for i in 1 2 3 4 5 6; do mkimg jpeg:400x300 noise=12 seed=$i >"$T/in/sub/k$i.jpg"; done
	rs-batch -j 1 "$T/in" "$T/out" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 600; i++)); do               # until a few files are done
		[ "$(cat "$T/out/.rs-batch/log.jsonl" 2>/dev/null | wc -l)" -ge 3 ] && break
		sleep 0.02
	done
	kill -9 "$pid"
	wait "$pid" || true
	outputs "$T/out" | while read -r f; do rs-classify "$T/out/$f" >/dev/null; done
	run -0 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(echo "$output" | jq '.skipped + .restored + .copied')" -eq 13 ]
	[ "$(outputs "$T/out" | wc -l)" -eq 13 ]
	[ -z "$(ls -A "$T/out/.rs-batch/tmp")" ]
	outputs "$T/out" | while read -r f; do rs-classify "$T/out/$f" >/dev/null; done
}

@test "rs-batch: a second run on the same output tree is refused while the first holds it" {
	tree
	mkdir -p "$T/out/.rs-batch"
	run -75 --separate-stderr flock "$T/out/.rs-batch/lock" rs-batch "$T/in" "$T/out"
	failed_with 75 rs-batch
	[[ "$stderr" == "rs-batch: $T/out: another rs-batch"* ]]
	[ -z "$(outputs "$T/out")" ]
}

@test "rs-batch: a concurrent run is refused and names the running one's pid" {
	tree
	for i in 1 2 3 4 5 6; do mkimg jpeg:600x400 noise=12 seed=$i >"$T/in/sub/k$i.jpg"; done
	rs-batch -j 1 "$T/in" "$T/out" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$T/out/.rs-batch/lock" ] && break
		sleep 0.02
	done
	run --separate-stderr rs-batch "$T/in" "$T/out"
	wait "$pid"
	failed_with 75 rs-batch
	[[ "$stderr" == *"(pid $pid)"* ]]
}

@test "rs-batch: files from find -print0 with -0, and file arguments with -o and -C" {
	tree
	(cd "$T" && find in -type f -print0 | rs-batch -0 in out >/dev/null)
	[ -f "$T/out/a b/ünï/photo 1.png" ]
	[ "$(log | wc -l)" -eq 8 ]
	(cd "$T" && find in/sub -type f -print0 | xargs -0 rs-batch -o out2 -C in >"$T/sum")
	[ "$(jq .files "$T/sum")" -eq 3 ]
	[ -f "$T/out2/sub/faded.png" ]
	[ -f "$T/out2/sub/looks-like.png" ]
	rs-batch -o "$T/out3" -C "$T/in" "$T/in/noisy.jpg" "$T/in/a b" >/dev/null
	[ -f "$T/out3/noisy.png" ]
	[ -f "$T/out3/a b/x.png" ]
	[ ! -e "$T/out3/sub" ]
}

@test "rs-batch: an output tree inside the input tree is not walked" {
	tree
	rs-batch "$T/in" "$T/in/restored" >/dev/null
	run -0 --separate-stderr rs-batch "$T/in" "$T/in/restored"
	[ "$(echo "$output" | jq -c '[.files, .skipped]')" = "[8,7]" ]
}

@test "rs-batch: the HTML report is one self-contained file with before and after pictures" {
	tree bad
	run -65 --separate-stderr rs-batch "$T/in" "$T/out"
	r=$(echo "$output" | jq -r .report)
	[ "$r" = "$T/out/.rs-batch/report.html" ]
	grep -q '<!DOCTYPE html>' "$r"
	[ "$(grep -o '<img src="data:image/jpeg;base64,' "$r" | wc -l)" -ge 11 ]
	! grep -Eq '(src|href)="(https?:|//|file:|[a-z./])' "$r"    # nothing outside the file
	grep -q 'photo 1.png.jpg' "$r"
	grep -q 'cut.jpg' "$r"
	grep -q 'notes.txt' "$r"
	rs-batch --report "$T/r.html" "$T/in" "$T/out" >/dev/null || true
	[ -s "$T/r.html" ]
	[ "$(grep -o '<img src="data:' "$T/r.html" | wc -l)" -ge 11 ]      # pictures of earlier runs
}

@test "rs-batch: the report opens in headless Chromium without errors" {
	top=$BATS_TEST_DIRNAME/..
	[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || skip "no chromium (contrib/install-deps)"
	[ -d "$top/tests/js/node_modules/playwright-core" ] || skip "no playwright-core in tests/js"
	tree bad
	rs-batch "$T/in" "$T/out" >/dev/null 2>&1 || true
	run -0 --separate-stderr timeout 120 node "$BATS_TEST_DIRNAME/batch-report.mjs" \
	    "$T/out/.rs-batch/report.html"
	[ "$(echo "$output" | jq .rows)" -eq 8 ]
	[ "$(echo "$output" | jq .images)" -ge 11 ]
}

@test "rs-batch: --log - also writes the log on stdout before the summary" {
	tree
	run -0 --separate-stderr rs-batch --log - "$T/in" "$T/out"
	[ "$(echo "$output" | wc -l)" -eq 9 ]
	[ "$(echo "$output" | tail -1 | jq .files)" -eq 8 ]
}

@test "rs-batch: a missing input directory is an error" {
	run --separate-stderr rs-batch "$T/nope" "$T/out"
	failed_with 66 rs-batch
	[[ "$stderr" == "rs-batch: $T/nope: "* ]]
	[ ! -e "$T/out" ]
}

@test "rs-batch: an output tree that cannot be created is an error" {
	tree
	touch "$T/file"
	run --separate-stderr rs-batch "$T/in" "$T/file/out"
	failed_with 73 rs-batch
}

@test "rs-batch: the output tree cannot be the input tree" {
	tree
	run --separate-stderr rs-batch "$T/in" "$T/in"
	failed_with 64 rs-batch
}

@test "rs-batch: bad options and arguments are usage errors" {
	run --separate-stderr rs-batch "$T/in"
	failed_with 64 rs-batch
	run --separate-stderr rs-batch -j 0 "$T/in" "$T/out"
	failed_with 64 rs-batch
	run --separate-stderr rs-batch --quality 101 "$T/in" "$T/out"
	failed_with 64 rs-batch
	run --separate-stderr rs-batch --triage -o "$T/out" "$T/in"
	failed_with 64 rs-batch
	tree
	run --separate-stderr rs-batch --backend nonesuch "$T/in" "$T/out"
	failed_with 64 rs-batch
	[ ! -e "$T/out" ]
}

@test "rs-batch: a file outside the root is reported; the others are done" {
	tree
	mkimg jpeg:64x48 noise=10 >"$T/elsewhere.jpg"
	run -64 --separate-stderr rs-batch -o "$T/out" -C "$T/in" "$T/in/noisy.jpg" "$T/elsewhere.jpg"
	[[ "$stderr" == "rs-batch: $T/elsewhere.jpg: not under $T/in"* ]]
	[ -f "$T/out/noisy.png" ]
}

@test "rs-batch: --backend exec:PROGRAM restores through an external program" {
	tree
	run -0 --separate-stderr rs-batch -b "exec:$BATS_TEST_DIRNAME/exec-model" "$T/in" "$T/out"
	[ "$(log | jq -r 'select(.path == "noisy.jpg") | .restore.backend')" = "exec:$BATS_TEST_DIRNAME/exec-model" ]
	[ -f "$T/out/noisy.png" ]
}

@test "rs-batch: SIGTERM lets the photos started finish, then stops with 75; a rerun finishes" {
	tree
	for i in 1 2 3 4 5 6; do mkimg jpeg:600x400 noise=12 seed=$i >"$T/in/sub/k$i.jpg"; done
	rs-batch -j 1 "$T/in" "$T/out" >"$T/sum" 2>"$T/err" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		[ "$(cat "$T/out/.rs-batch/log.jsonl" 2>/dev/null | wc -l)" -ge 1 ] && break
		sleep 0.02
	done
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 75 ]
	[ "$(jq .interrupted "$T/sum")" = true ]
	grep -q "rs-batch: stopped after" "$T/err"
	[ -z "$(ls -A "$T/out/.rs-batch/tmp")" ]
	run -0 --separate-stderr rs-batch "$T/in" "$T/out"
	[ "$(outputs "$T/out" | wc -l)" -eq 13 ]
}

@test "rs-batch: --backend gemini with --rate spaces the requests of all workers" {
	KEY="sk-test-$RANDOM-NEVER-PRINT-ME"
	export GEMINI_API_KEY="$KEY" RS_GEMINI_BACKOFF=0.01 RS_GEMINI_TIMEOUT=20
	unset RS_GEMINI_ENDPOINT RS_GEMINI_MODEL RS_GEMINI_KEY_FILE RS_FIDELITY_MIN RS_PROMPTS
	mkdir -p "$T/in/a" "$T/in/b" "$T/in/c"
	mkimg jpeg:640x480 noise=12 >"$T/in/a/p.jpg"
	gemini-fixture "$T/in/a/p.jpg" 1184x864 "$T/ans.png" "$T/exp.png"
	cp "$T/in/a/p.jpg" "$T/in/b/"
	cp "$T/in/a/p.jpg" "$T/in/c/"
	fake-gemini -p "$T/port" -l "$T/log" -k "$KEY" "image:$T/ans.png" 3>&- &
	fpid=$!
	for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
	export RS_GEMINI_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
	run -0 --separate-stderr rs-batch -j 3 -b gemini --rate 120 "$T/in" "$T/out"
	kill "$fpid"
	[ "$(echo "$output" | jq .restored)" -eq 3 ]
	[ "$(wc -l <"$T/log")" -eq 3 ]
	# 120 a minute: the three requests start at least 0.5 s apart, so the
	# third cannot start before 1 s (the fake's own times are taken when
	# it has read a request, which a loaded machine may delay)
	echo "$output" | jq -e '.seconds >= 1'
	[ "$(jq -r .restore.backend "$T/out/.rs-batch/log.jsonl" | sort -u)" = gemini ]
	! grep -rqF -- "$KEY" "$T/out"
}

# Several machines: GNU parallel with tests/fake-ssh as ssh, each "host"
# a directory of its own ($FAKE_HOSTS/HOST), as the manual and
# contrib/batch-parallel describe.
machines() {
	command -v parallel >/dev/null || skip "GNU parallel is missing: run contrib/install-deps"
	export FAKE_HOSTS="$T/hosts" PARALLEL_SSH="$BATS_TEST_DIRNAME/fake-ssh"
	export PARALLEL_HOME="$T/parallel"
	mkdir -p "$FAKE_HOSTS"
	tree
}

@test "rs-batch: shards of a find list on two machines into a shared output tree, rerun skips all" {
	machines
	(cd "$T/in" && find . -mindepth 1 -maxdepth 1 -type d -printf '%P\0' |
		parallel -0 -j 1 --sshlogin h1,h2 rs-batch "$T/in/{}" "$T/out/{}" ">/dev/null")
	[ "$(sort -u "$FAKE_HOSTS/log" | tr '\n' ' ')" = "h1 h2 " ]
	# every photo of every directory has its output, whichever host did it
	for f in "sub/faded.png" "sub/looks-like.png" "a b/ünï/photo 1.png" "a b/ünï/photo 1.png.png" "a b/x.png"; do
		[ -s "$T/out/$f" ] || { echo "missing $f" >&2; return 1; }
	done
	[ "$(cat "$T"/out/*/.rs-batch/log.jsonl | jq -s '[.[] | select(.outcome == "failed")] | length')" -eq 0 ]
	shards() { (cd "$T/out" && find . -name .rs-batch -prune -o -type f -printf '%i %T@ %p\n' | sort -k3); }
	shards >"$T/before"
	: >"$FAKE_HOSTS/log"
	(cd "$T/in" && find . -mindepth 1 -maxdepth 1 -type d -printf '%P\0' |
		parallel -0 -j 1 --sshlogin h1,h2 rs-batch "$T/in/{}" "$T/out/{}") >"$T/second"
	[ "$(jq -s 'map(.restored + .copied) | add' "$T/second")" -eq 0 ]
	[ "$(jq -s 'map(.skipped) | add' "$T/second")" -eq 5 ]
	shards >"$T/after"
	diff "$T/before" "$T/after"
}

@test "rs-batch: contrib/batch-parallel sends each directory to a host and brings the output back" {
	machines
	command -v rsync >/dev/null || skip "rsync is missing: run contrib/install-deps"
	run -0 "$BATS_TEST_DIRNAME/../contrib/batch-parallel" "$T/in" "$T/out" h1,h2
	[ "$(sort -u "$FAKE_HOSTS/log" | tr '\n' ' ')" = "h1 h2 " ]
	outputs "$T/out" >"$T/list"
	for f in "./noisy.png" "./clean.jpg" "./sub/faded.png" "./a b/ünï/photo 1.png" "./a b/x.png"; do
		grep -qxF "$f" "$T/list" || { echo "missing $f" >&2; return 1; }
	done
	cmp "$T/in/clean.jpg" "$T/out/clean.jpg"
	# the hosts were cleaned up, the input left as it was
	[ -z "$(find "$FAKE_HOSTS" -name '*.png' -o -name '*.jpg')" ]
	[ ! -e "$T/in/rs-out" ]
}
