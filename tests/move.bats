# tests/move.bats: moving an installation with rs-credit export | import.
# The source is always the embedded backends (SQLite and the spool in
# $T/a); the target is the backends of this pass: PostgreSQL and S3 in
# the scale pass (RS_DATABASE and RS_STORE from scale_setup), another
# spool otherwise. Then back again into a third, embedded, installation.
load helper

# embedded DIR CMD...: run CMD on the SQLite + spool installation in DIR
embedded() { local d=$1; shift; env -u RS_DATABASE -u RS_STORE RS_SPOOL="$d" "$@"; }
# target CMD...: run CMD on this pass's backends
target() { RS_SPOOL="$T/b" "$@"; }

# the source: two users, credits spent and held, a token, jobs in
# every state, photos and a restored output in the store
fill() {
	embedded "$T/a" rs-credit user add alice --plan free >/dev/null
	embedded "$T/a" rs-credit user add bob >/dev/null
	embedded "$T/a" rs-credit grant alice 7 --id g1 --note start >/dev/null
	embedded "$T/a" rs-credit grant bob 2 --id g2 >/dev/null
	img p1 jpeg:160x120 noise=0.1
	img p2 png:120x90 fade=40
	embedded "$T/a" rs-upload -e -u alice "$T/p1.jpeg" >/dev/null
	embedded "$T/a" rs-run >/dev/null             # restored (an output object), captured
	embedded "$T/a" rs-upload -e -u bob "$T/p2.png" >/dev/null      # queued, held
	embedded "$T/a" rs-credit token issue alice | jq -r .token >"$T/token"
}

# state DIR|-: what must survive a move: users with balances and holds,
# every ledger entry, the jobs by state, the objects' hashes
state() {
	local run=target
	[ "$1" = - ] || run="embedded $1"
	$run rs-credit user list | jq -c 'map({user, plan, balance, held}) | sort_by(.user)'
	for u in alice bob; do $run rs-credit ledger "$u" | jq -c '[.[] | del(.seq)]'; done
	$run rs-run status | jq -c '[.queued, .running, .done, .failed]'
	$run rs-credit export | jq -r 'select(.bytes) | .object' | sort
}

@test "move: export from SQLite and the spool, import, same balances, entries, jobs and objects; and back" {
	fill
	state "$T/a" >"$T/before"
	[ "$(sed -n 1p "$T/before" | jq -c 'map([.user, .balance, .held])')" = '[["alice",6,0],["bob",1,1]]' ]
	[ "$(tail -n +5 "$T/before" | wc -l)" -ge 3 ]        # two photos and an output
	embedded "$T/a" rs-credit export >"$T/dump"
	[ "$(tail -n 1 "$T/dump" | jq -c '[.end, .jobs]')" = '[true,2]' ]
	run -0 --separate-stderr target rs-credit import <"$T/dump"
	[ "$(jq -c '[.imported, .objects, .jobs, .check.ok]' <<<"$output")" = '[true,3,2,true]' ] ||
		{ echo "$output" >&2; false; }
	state - >"$T/moved"
	diff "$T/before" "$T/moved"
	# every object reads back byte for byte (its name is its hash)
	for id in $(tail -n +5 "$T/moved"); do
		[ "$(target rs-credit export | jq -r --arg id "$id" 'select(.object == $id and .data) | .data' |
		    base64 -d | b2sum -l 256 | cut -d' ' -f1)" = "$id" ]
	done
	# the token still signs alice in; the queued job runs there, once
	[ "$(target rs-credit token verify <"$T/token" | jq -r .user)" = alice ]
	target rs-run -b none >/dev/null
	[ "$(target rs-credit balance bob | jq -c '[.balance, .held]')" = '[1,0]' ]
	# and back into an embedded installation
	target rs-credit export >"$T/dump2"
	run -0 --separate-stderr embedded "$T/c" rs-credit import <"$T/dump2"
	[ "$(jq -r .check.ok <<<"$output")" = true ]
	diff <(state - ) <(state "$T/c")
}

@test "move: a cut stream imports nothing and says why" {
	fill
	embedded "$T/a" rs-credit export >"$T/dump"
	head -n -1 "$T/dump" >"$T/cut"
	run --separate-stderr target rs-credit import <"$T/cut"
	failed_with 65 rs-credit
	[[ "$stderr" == *"ends before its end record"* ]]
	[ "$(target rs-credit user list | jq length)" -eq 0 ]
	[ "$(target rs-run status | jq -c '[.queued, .running, .done, .failed]')" = '[0,0,0,0]' ]
	# a doctored object is caught by its hash
	jq -c 'if .data then .data = ("AAAA" + .data[4:]) else . end' "$T/dump" >"$T/bad"
	run --separate-stderr target rs-credit import <"$T/bad"
	failed_with 65 rs-credit
	[[ "$stderr" == *"do not match its name"* ]]
	[ "$(target rs-credit user list | jq length)" -eq 0 ]
	# not an export at all
	run --separate-stderr target rs-credit import <<<'{"hello":1}'
	failed_with 65 rs-credit
}

@test "move: importing into an installation that has users is refused" {
	fill
	embedded "$T/a" rs-credit export >"$T/dump"
	target rs-credit user add carol >/dev/null
	run --separate-stderr target rs-credit import <"$T/dump"
	failed_with 65 rs-credit
	[ "$(target rs-credit user list | jq -c 'map(.user)')" = '["carol"]' ]
}
