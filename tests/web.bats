# tests/web.bats: the web app (web/, issue 13). The first tests read its
# files; the rest drive headless Chromium (Debian's chromium through
# playwright-core, tests/web/e2e.mjs) against a real rs-serve under
# tcpserver on a free loopback port, with rs-run --watch and the local
# engine on a spool of this file's own, and tests/fake-stripe standing in
# for Stripe (the upgrade button). About a minute. Screenshots land in
# tests/web/screenshots/. The browser tests skip, saying why, when
# rs-serve, chromium, tcpserver or the npm packages (contrib/install-deps)
# are missing, and in the sanitizer build (make check SANITIZE=1).
load helper

WEB="$BATS_TEST_DIRNAME/../web"

setup_file() {
	local top=$BATS_TEST_DIRNAME/.. d=$BATS_FILE_TMPDIR i
	export WEB_SKIP="" WEB_BASE="" RS_CONF=/dev/null RS_SPOOL=$d/spool
	unset RS_MAX_BYTES RS_MAX_PIXELS RS_MAX_SIDE
	[ -x "$top/bin/rs-serve" ] || WEB_SKIP="bin/rs-serve not built (issue 11)"
	# The browser scenarios wait on the UI with deadlines made for the plain
	# build; under ASan the engine behind them is several times slower. The
	# sanitizer pass covers rs-serve's C through tests/rs-serve.bats; these
	# run in the plain pass (CI runs both).
	[ "${RS_SANITIZE:-}" != 1 ] || WEB_SKIP="browser scenarios run in the plain build, not under ASan"
	[ -n "$WEB_SKIP" ] || [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || WEB_SKIP="no chromium (contrib/install-deps)"
	[ -n "$WEB_SKIP" ] || command -v tcpserver >/dev/null || WEB_SKIP="no tcpserver (ucspi-tcp; contrib/install-deps)"
	[ -n "$WEB_SKIP" ] || [ -d "$top/tests/js/node_modules/playwright-core" ] ||
		WEB_SKIP="no playwright-core in tests/js (contrib/install-deps)"
	[ -z "$WEB_SKIP" ] || return 0
	rm -f "$top"/tests/web/screenshots/*.png	# only this run's, for a person to look at
	# Stripe's stand-in, for the upgrade button
	"$top/tests/fake-stripe" "$d/stripe.port" "$d/stripe.log" 3>&- &
	echo $! >"$d/stripe.pid"
	for ((i = 0; i < 400; i++)); do [ -s "$d/stripe.port" ] && break; sleep 0.05; done
	export RS_STRIPE_API="http://127.0.0.1:$(cat "$d/stripe.port")" RS_STRIPE_SECRET_KEY=sk_test_51fake
	export RS_PUBLIC_URL=https://rs.example
	# tcpserver -1 writes the port it bound to; rs-serve finds the app in web/
	RS_WEB="$top/web" tcpserver -1 -q -c 60 127.0.0.1 0 "$top/bin/rs-serve" \
	    >"$d/port" 2>"$d/serve.log" 3>&- &
	echo $! >"$d/serve.pid"
	"$top/bin/rs-run" -w >"$d/run.log" 2>&1 3>&- &
	echo $! >"$d/run.pid"
	for ((i = 0; i < 400; i++)); do		# up to 20 s on a busy machine
		[ -s "$d/port" ] && curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$d/port")/healthz" && break
		sleep 0.05
	done
	[ -s "$d/port" ] || { echo "tcpserver did not start: $(cat "$d/serve.log")" >&2; return 1; }
	export WEB_BASE="http://127.0.0.1:$(cat "$d/port")"
}

teardown_file() {
	local f
	for f in "$BATS_FILE_TMPDIR"/{serve,run,stripe}.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	wait 2>/dev/null
	return 0
}

setup() {
	T="$BATS_TEST_TMPDIR"
}

browser() {	# browser SCENARIO: run one scenario of tests/web/e2e.mjs
	[ -z "$WEB_SKIP" ] || skip "$WEB_SKIP"
	run --separate-stderr timeout 120 node "$BATS_TEST_DIRNAME/web/e2e.mjs" --base "$WEB_BASE" \
	    --profile "$BATS_FILE_TMPDIR/profile" --shots "$BATS_TEST_DIRNAME/web/screenshots" "$1"
	echo "$output"
	[ -z "$stderr" ] || echo "$stderr"
	if [ "$status" -ne 0 ]; then
		echo "# rs-serve's log:"; tail -n 20 "$BATS_FILE_TMPDIR/serve.log"
		echo "# rs-run's log:"; tail -n 20 "$BATS_FILE_TMPDIR/run.log"
		return 1
	fi
}

# ---- the files ----

@test "web: the manifest names the app, its start URL, display and 192/512 px icons" {
	m=$WEB/manifest.webmanifest
	run -0 jq -r '[.name, .short_name, .start_url, .display, .theme_color, .background_color] | map(tostring) | join(" ")' "$m"
	[[ "$output" != *null* ]]
	[[ "$output" == *" standalone "* ]]
	run -0 jq -r '.icons[] | "\(.src) \(.sizes) \(.type) \(.purpose // "any")"' "$m"
	[[ "$output" == *"192x192 image/png any"* ]]
	[[ "$output" == *"512x512 image/png any"* ]]
	[[ "$output" == *"512x512 image/png maskable"* ]]
	while read -r src sizes type purpose; do
		run -0 file -b "$WEB/$src"
		[[ "$output" == "PNG image data, ${sizes/x/ x },"* ]]
	done < <(jq -r '.icons[] | "\(.src) \(.sizes) \(.type) \(.purpose)"' "$m")
}

@test "web: index.html links the manifest, style and app module; nothing inline for the CSP" {
	h=$WEB/index.html
	grep -q '<link rel="manifest" href="manifest.webmanifest">' "$h"
	grep -q '<script type="module" src="js/app.js"></script>' "$h"
	grep -q '<meta name="viewport" content="width=device-width' "$h"
	grep -q 'accept="image/jpeg,image/png" capture=' "$h"
	# no inline script, style or handler: rs-serve's Content-Security-Policy forbids them
	! grep -Eq '<script>|<script [^>]*>[^<]|<style|style="| on[a-z]+="' "$h"
	grep -q "serviceWorker.register('sw.js')" "$WEB/js/app.js"
}

@test "web: the service worker's shell lists only files that exist, and never the API" {
	run -0 node -e '
		const src = require("fs").readFileSync(process.argv[1], "utf8");
		const m = /const SHELL = \[([^\]]*)\]/.exec(src);
		for (const s of m[1].match(/'"'"'[^'"'"']*'"'"'/g)) console.log(s.slice(1, -1));
	' "$WEB/sw.js"
	[ "${#lines[@]}" -ge 8 ]
	for f in "${lines[@]}"; do
		[[ "$f" != *v1/* ]]
		[ "$f" = ./ ] || [ -f "$WEB/$f" ] || { echo "missing: $f"; return 1; }
	done
	# the fetch handler leaves everything outside the shell to the network
	grep -q 'if (!nav && !shell.has(url.pathname)) return;' "$WEB/sw.js"
}

@test "web: the app's modules and the test script parse" {
	for f in "$WEB"/js/*.js "$WEB/sw.js"; do
		cp "$f" "$T/$(basename "$f" .js).mjs"
		run -0 node --check "$T/$(basename "$f" .js).mjs"
	done
	run -0 node --check "$BATS_TEST_DIRNAME/web/e2e.mjs"
}

@test "web: rs-serve serves the app at / with the right types and its security headers" {
	[ -z "$WEB_SKIP" ] || skip "$WEB_SKIP"
	run -0 curl -fsS -D "$T/h" "$WEB_BASE/"
	grep -q '<link rel="manifest" href="manifest.webmanifest">' <<<"$output"
	grep -qi '^content-type: text/html' "$T/h"
	grep -qi '^content-security-policy: .*img-src[^;]*blob:' "$T/h"	# the before/after images
	for f in manifest.webmanifest:application/manifest+json sw.js:text/javascript js/app.js:text/javascript \
	    app.css:text/css icons/icon-192.png:image/png icons/maskable-512.png:image/png; do
		run -0 curl -fsS -o /dev/null -w '%{content_type}' "$WEB_BASE/${f%%:*}"
		[[ "$output" == "${f#*:}"* ]] || { echo "${f%%:*}: $output"; return 1; }
	done
	run -0 curl -fsS "$WEB_BASE/manifest.webmanifest"
	[ "$(jq -r '.start_url' <<<"$output")" = ./ ]
}

# ---- in the browser, in this order: one visitor's profile carries over ----

@test "web: a first visit on a 360 px phone gets an account and shows its credits; axe finds nothing serious" {
	browser first-visit
}

@test "web: restore the sample photo by keyboard alone: progress, before/after slider, a download that decodes, history" {
	browser restore
}

@test "web: installable: no installability errors, the service worker controls the page" {
	browser install
}

@test "web: offline the app opens from the cache, says so and shows the history it has seen" {
	browser offline
}

@test "web: an email and password keep the photos: a second device signs in and sees them; delete removes them" {
	browser devices
}

@test "web: a refused or failed restoration, a rate limit, a busy server, offline: each in plain words with a next step" {
	browser job-errors
}

@test "web: a fusion plan takes two photos, refuses a third, sends both; the failed fusion costs nothing" {
	browser fusion
}

@test "web: out of credits says so in plain words; Upgrade goes to Stripe Checkout" {
	browser out-of-credits
	# the Checkout Session rs-serve asked (the fake) Stripe for
	req=$(grep '"/v1/checkout/sessions"' "$BATS_FILE_TMPDIR/stripe.log" | tail -n 1)
	[ "$(jq -r '"\(.form.mode) \(.form["line_items[0][price]"])"' <<<"$req")" = "subscription price_rs_pro_monthly" ]
}

@test "web: a photo too large for the plan, or not a photo, is refused before sending" {
	browser bad-files
}

@test "web: on a desktop the app is one centred column without the camera button" {
	browser desktop
}
