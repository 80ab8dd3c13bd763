# tests/demo.bats: the README's main job, contrib/demo, end to end: the
# sample photo through the command line and through the web API.
load helper

@test "contrib/demo: the sample is restored by rs-run and again through rs-serve, to the same bytes" {
	[ "${RS_SANITIZE:-}" != 1 ] || skip "the demo builds and runs the plain programs"
	cd "$BATS_TEST_DIRNAME/.."
	run -0 --separate-stderr contrib/demo
	[ "$(jq -r .status demo/job.json)" = done ]
	[ "$(jq -r '.restore.backend' demo/job.json)" = local ]
	[ "$(head -c 8 demo/restored.png | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ]
	cmp demo/restored.png demo/restored-web.png
	[[ "$stderr" == *'{"status":"done"}'* ]]
	[[ "$stderr" == *"the same bytes as demo/restored.png"* ]]
	# the CLI's account: 3 credits granted, 1 captured
	[[ "$output" == *'"balance":2,"held":0'* ]]
}
