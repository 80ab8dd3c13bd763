load helper
# rs-restore --backend exec:PROGRAM with tests/exec-model as the model.

eval "helper_$(declare -f setup)"
setup() {
	helper_setup
	unset EXEC_MODEL EXEC_LOG RS_EXEC_TIMEOUT RS_FIDELITY_MIN
	export GEMINI_API_KEY=sk-exec-NEVER-PASS-ON
	M="$BATS_TEST_DIRNAME/exec-model"
	img in jpeg:320x240
}

size() { imgcmp -s "$1" | cut -d' ' -f1,2 | tr ' ' x; }

@test "exec: the program gets IN OUT as arguments and the job on stdin" {
	export EXEC_LOG="$T/log"
	run -0 --separate-stderr rs-restore --backend "exec:$M" --prompt 'make it "nice"' \
	    -o "$T/out.png" "$T/in.jpeg"
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(size "$T/out.png")" = 320x240 ]
	[ "$(grep -c '^arg:' "$T/log")" -eq 2 ]
	[ "$(sed -n 1p "$T/log")" = "arg:$T/in.jpeg" ]
	[[ "$(sed -n 2p "$T/log")" == arg:/*/out.png ]]
	job=$(sed -n 's/^stdin://p' "$T/log")
	[ "$(jq -r .prompt <<<"$job")" = 'make it "nice"' ]
	[ "$(jq -r .restore.backend <<<"$job")" = "exec:$M" ]
	[[ "$(jq -r .restore.prompt <<<"$job")" == *"make it 'nice'"* ]]
	[ "$(jq -r '.inputs[0].path' <<<"$job")" = "$T/in.jpeg" ]
	[ -z "$(grep '^env:GEMINI_API_KEY' "$T/log")" ]
}

@test "exec: no shell: odd file names reach the program untouched" {
	export EXEC_LOG="$T/log"
	f="$T/a b;\$(touch pwned)'.jpeg"
	cp "$T/in.jpeg" "$f"
	cd "$T"
	run -0 rs-restore --backend "exec:$M" -o "$T/out.png" "$f"
	[ "$(sed -n 1p "$T/log")" = "arg:$f" ]
	[ ! -e "$T/pwned" ]
}

@test "exec: a job record gets the backend's record and the output" {
	export EXEC_LOG="$T/log"
	rs-upload "$T/in.jpeg" >"$T/job"
	run -0 --separate-stderr rs-restore --backend "exec:$M" <"$T/job"
	# a stored object is handed over under a name with its extension
	[[ "$(sed -n 1p "$T/log")" == arg:/*/in1.jpg ]]
	[ "$(jq -r '.inputs[0].path | endswith("/in1.jpg")' <<<"$(sed -n 's/^stdin://p' "$T/log")")" = true ]
	[ "$(jq -r .id <<<"$(sed -n 's/^stdin://p' "$T/log")")" = "$(jq -r .id "$T/job")" ]
	[ "$(jq -r .restore.backend <<<"$output")" = "exec:$M" ]
	[ "$(jq -r '.restore.fidelity' <<<"$output")" = 1 ]
	[ "$(jq -r '.output | "\(.width)x\(.height)"' <<<"$output")" = 320x240 ]
}

@test "exec: a program found through PATH" {
	PATH="$BATS_TEST_DIRNAME:$PATH" run -0 rs-restore --backend exec:exec-model \
	    -o "$T/out.png" "$T/in.jpeg"
	run --separate-stderr rs-restore --backend exec:no-such-model -o "$T/out.png" "$T/in.jpeg"
	failed_with 64 rs-restore
	[[ "$stderr" == *"no executable no-such-model in PATH"* ]]
}

@test "exec: a failing program's stderr is in the error; exit 69" {
	EXEC_MODEL=fail run --separate-stderr rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"exec:$M: exit 1: exec-model: CUDA out of memory"* ]]
	[ ! -e "$T/out.png" ]
}

@test "exec: exit 75 is temporary" {
	EXEC_MODEL=busy run --separate-stderr rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	failed_with 75 rs-restore
	[[ "$stderr" == *"GPU busy"* ]]
}

@test "exec: a program over RS_EXEC_TIMEOUT is killed; 75" {
	export RS_EXEC_TIMEOUT=0.5
	EXEC_MODEL=hang run --separate-stderr rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	failed_with 75 rs-restore
	[[ "$stderr" == *"no answer within RS_EXEC_TIMEOUT (0.5 s): exec-model: thinking"* ]]
	[ -z "$(pgrep -f "exec-model.*$T")" ]
}

@test "exec: an output that is not an image, or none, is a failure" {
	EXEC_MODEL=garbage run --separate-stderr rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"not an image"* ]]
	EXEC_MODEL=none run --separate-stderr rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"no image"*"exec-model: done"* ]]
}

@test "exec: a different photo trips the fidelity guard" {
	img other png:320x240 seed=6
	EXEC_MODEL=other EXEC_OTHER="$T/other.png" run --separate-stderr \
	    rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"the model changed the photo's content"* ]]
}

@test "exec: fusion passes every input, then OUT" {
	export EXEC_LOG="$T/log"
	img b png:160x120
	run -0 rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg" "$T/b.png"
	[ "$(grep -c '^arg:' "$T/log")" -eq 3 ]
	[ "$(sed -n 2p "$T/log")" = "arg:$T/b.png" ]
	[ "$(jq -r '.inputs | length' <<<"$(sed -n 's/^stdin://p' "$T/log")")" = 2 ]
}

@test "exec: no temporary files are left behind" {
	mkdir "$T/tmp"
	TMPDIR="$T/tmp" run -0 rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	EXEC_MODEL=fail TMPDIR="$T/tmp" run -69 rs-restore --backend "exec:$M" -o "$T/out.png" "$T/in.jpeg"
	[ -z "$(ls -A "$T/tmp")" ]
}

@test "exec: contrib/gfpgan-wrapper follows the contract (GFPGAN stubbed)" {
	W="$BATS_TEST_DIRNAME/../contrib/gfpgan-wrapper"
	mkdir -p "$T/g"
	touch "$T/g/inference_gfpgan.py"
	# a stand-in for GFPGAN's python: copies -i to -o/restored_imgs/NAME.png
	cat >"$T/py" <<-'STUB'
	#!/bin/sh
	while [ $# -gt 0 ]; do case $1 in -i) i=$2; shift ;; -o) o=$2; shift ;; esac; shift; done
	[ -z "${STUB_FAIL:-}" ] || { echo "RuntimeError: CUDA out of memory" >&2; exit 1; }
	mkdir -p "$o/restored_imgs"; n=$(basename "$i"); cp "$i" "$o/restored_imgs/${n%.*}.png"
	STUB
	chmod +x "$T/py"
	export GFPGAN_DIR="$T/g" GFPGAN_PYTHON="$T/py"
	run -0 --separate-stderr rs-restore --backend "exec:$W" -o "$T/out.png" "$T/in.jpeg"
	[ "$(size "$T/out.png")" = 320x240 ]
	STUB_FAIL=1 run --separate-stderr rs-restore --backend "exec:$W" -o "$T/out.png" "$T/in.jpeg"
	failed_with 75 rs-restore
	[[ "$stderr" == *"CUDA out of memory"* ]]
	run --separate-stderr rs-restore --backend "exec:$W" -o "$T/out.png" "$T/in.jpeg" "$T/in.jpeg"
	failed_with 69 rs-restore
	[[ "$stderr" == *"fusion of 2 is not supported"* ]]
}
