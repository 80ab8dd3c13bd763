load helper

SECRET=whsec_test_4eC39HqLyjWDarjtT1zdp7dc

setup() {
	export RS_SPOOL="$BATS_TEST_TMPDIR/spool" RS_CONF=/dev/null
	export RS_STRIPE_WEBHOOK_SECRET=$SECRET
	unset RS_STRIPE_WEBHOOK_SECRET_OLD RS_STRIPE_SECRET_KEY RS_STRIPE_API
	T="$BATS_TEST_TMPDIR"
	scale_setup
	[ -d "$BATS_TEST_DIRNAME/js/node_modules/stripe" ] ||
		skip "the stripe npm package is missing: run contrib/install-deps"
}

# event ID TYPE OBJECT-JSON [CREATED]: write $T/ID.json
event() {
	jq -n --arg id "$1" --arg type "$2" --argjson obj "$3" --argjson t "${4:-1764028800}" \
	    '{id: $id, object: "event", api_version: "2026-07-29.dahlia", created: $t,
	      type: $type, livemode: false, pending_webhooks: 1, data: {object: $obj}}' >"$T/$1.json"
}
# deliver ID [SECRET]: sign $T/ID.json with the stripe package, run rs-webhook
deliver() {
	local sig
	sig=$(stripe-sign "${2:-$SECRET}" <"$T/$1.json")
	run --separate-stderr rs-webhook --signature "$sig" <"$T/$1.json"
}
bal() { rs-credit balance "$1" | jq -r .balance; }

checkout_sub() {	# checkout_sub EVENT USER CUSTOMER SUB
	event "$1" checkout.session.completed "$(jq -n --arg u "$2" --arg c "$3" --arg s "$4" \
	    '{id: ("cs_" + $s), object: "checkout.session", mode: "subscription", status: "complete",
	      payment_status: "paid", client_reference_id: $u, customer: $c, subscription: $s,
	      metadata: {user: $u, plan: "pro"}}')"
}
invoice_paid() {	# invoice_paid EVENT INVOICE CUSTOMER SUB [PRICE]
	event "$1" invoice.paid "$(jq -n --arg i "$2" --arg c "$3" --arg s "$4" --arg p "${5:-price_rs_pro_monthly}" \
	    '{id: $i, object: "invoice", customer: $c, status: "paid", billing_reason: "subscription_cycle",
	      parent: {type: "subscription_details", subscription_details: {subscription: $s, metadata: {}}},
	      lines: {object: "list", data: [{id: "il_1", pricing: {price_details: {price: $p}}}]}}')"
}
subscription() {	# subscription EVENT TYPE CUSTOMER SUB STATUS CREATED [PRICE]
	event "$1" "$2" "$(jq -n --arg c "$3" --arg s "$4" --arg st "$5" --arg p "${7:-price_rs_pro_monthly}" \
	    '{id: $s, object: "subscription", customer: $c, status: $st, cancel_at_period_end: false,
	      items: {object: "list", data: [{price: {id: $p}, current_period_end: 1766620800}]}}')" "$6"
}

@test "rs-webhook: a signed event from the stripe package is verified and applied once" {
	rs-credit user add alice >/dev/null
	checkout_sub e1 alice cus_A sub_A
	event e1 checkout.session.completed "$(jq .data.object "$T/e1.json")" "$(date +%s)"
	deliver e1
	[ "$status" -eq 0 ]
	[ "$(jq -r .result <<<"$output")" = applied ]
	[ "$(rs-credit user show alice | jq -r '"\(.plan) \(.billing.customer) \(.billing.subscription)"')" = "pro cus_A sub_A" ]
	deliver e1
	[ "$status" -eq 0 ]
	[ "$(jq -r .result <<<"$output")" = replayed ]
}

@test "rs-webhook: invoice.paid grants the plan's monthly credits exactly once" {
	rs-credit user add bob >/dev/null
	now=$(date +%s)
	checkout_sub c1 bob cus_B sub_B; event c1 checkout.session.completed "$(jq .data.object "$T/c1.json")" "$now"
	invoice_paid i1 in_B1 cus_B sub_B; event i1 invoice.paid "$(jq .data.object "$T/i1.json")" "$now"
	deliver c1; [ "$status" -eq 0 ]
	deliver i1; [ "$status" -eq 0 ]
	[ "$(bal bob)" = 100 ]
	deliver i1; [ "$status" -eq 0 ]
	deliver c1; [ "$status" -eq 0 ]
	[ "$(bal bob)" = 100 ]
	# the same invoice under a new event id (Stripe resends invoice.payment_succeeded-like twins)
	invoice_paid i2 in_B1 cus_B sub_B; event i2 invoice.paid "$(jq .data.object "$T/i2.json")" "$now"
	deliver i2; [ "$status" -eq 0 ]
	[ "$(bal bob)" = 100 ]
	run -0 rs-credit check
}

@test "rs-webhook: events in reverse order and twice: credits granted once, plan right" {
	rs-credit user add carol >/dev/null
	now=$(date +%s)
	checkout_sub c1 carol cus_C sub_C; event c1 checkout.session.completed "$(jq .data.object "$T/c1.json")" "$now"
	invoice_paid i1 in_C1 cus_C sub_C; event i1 invoice.paid "$(jq .data.object "$T/i1.json")" "$now"
	# invoice first: the customer is not linked yet, so it is refused, not
	# recorded, and Stripe's retry applies it
	deliver i1
	[ "$status" -eq 66 ]
	deliver c1; [ "$status" -eq 0 ]
	deliver c1; [ "$status" -eq 0 ]
	deliver i1; [ "$status" -eq 0 ]
	deliver i1; [ "$status" -eq 0 ]
	[ "$(bal carol)" = 100 ]
	# then a restoration is accepted: a reserve succeeds
	run -0 rs-credit reserve carol 1 --job j1
}

@test "rs-webhook: invoice.paid finds the user by subscription metadata when not linked" {
	rs-credit user add dave --plan pro >/dev/null
	event i1 invoice.paid '{"id":"in_D1","object":"invoice","customer":"cus_D","status":"paid",
	  "parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_D","metadata":{"user":"dave"}}},
	  "lines":{"object":"list","data":[]}}' "$(date +%s)"
	deliver i1
	[ "$status" -eq 0 ]
	[ "$(bal dave)" = 100 ]
	[ "$(rs-credit user show dave | jq -r .billing.customer)" = cus_D ]
}

@test "rs-webhook: an older subscription state never overwrites a newer one" {
	rs-credit user add erin >/dev/null
	now=$(date +%s)
	checkout_sub c1 erin cus_E sub_E; event c1 checkout.session.completed "$(jq .data.object "$T/c1.json")" "$((now - 100))"
	deliver c1
	subscription s2 customer.subscription.deleted cus_E sub_E canceled "$now"
	subscription s1 customer.subscription.updated cus_E sub_E active "$((now - 50))" price_rs_premium_monthly
	deliver s2; [ "$status" -eq 0 ]
	[ "$(rs-credit user show erin | jq -r .plan)" = free ]
	deliver s1; [ "$status" -eq 0 ]
	[ "$(jq -r .result <<<"$output")" = stale ]
	[ "$(rs-credit user show erin | jq -r '"\(.plan) \(.billing.status)"')" = "free canceled" ]
}

@test "rs-webhook: subscription updates move the plan; deleted goes back to free limits" {
	rs-credit user add fay >/dev/null
	now=$(date +%s)
	checkout_sub c1 fay cus_F sub_F; event c1 checkout.session.completed "$(jq .data.object "$T/c1.json")" "$((now - 10))"
	deliver c1
	subscription s1 customer.subscription.updated cus_F sub_F active "$now" price_rs_premium_monthly
	deliver s1
	[ "$(rs-credit user show fay | jq -r '"\(.plan) \(.billing.period_end)"')" = "premium 1766620800" ]
	[ "$(rs-credit plan show premium | jq -r .images_per_request)" = 3 ]
	subscription s2 customer.subscription.deleted cus_F sub_F canceled "$((now + 1))" price_rs_premium_monthly
	deliver s2
	[ "$(rs-credit user show fay | jq -r .plan)" = free ]
	# the free plan's rate limit applies: 5 tokens
	for i in 1 2 3 4 5; do rs-credit limit fay >/dev/null; done
	run rs-credit limit fay
	[ "$status" -eq 1 ]
}

@test "rs-webhook: a credit pack grants once" {
	rs-credit user add gus >/dev/null
	event p1 checkout.session.completed '{"id":"cs_pack1","object":"checkout.session","mode":"payment",
	  "status":"complete","payment_status":"paid","client_reference_id":"gus","customer":"cus_G",
	  "metadata":{"user":"gus","pack":"small"}}' "$(date +%s)"
	deliver p1; [ "$status" -eq 0 ]
	[ "$(jq -r .granted <<<"$output")" = 50 ]
	deliver p1
	cp "$T/p1.json" "$T/p2.json"; jq '.id = "evt_other"' "$T/p1.json" >"$T/p2.json"
	deliver p2; [ "$status" -eq 0 ]
	[ "$(bal gus)" = 50 ]
	# unpaid (delayed payment method): nothing yet
	event p3 checkout.session.completed '{"id":"cs_pack3","object":"checkout.session","mode":"payment",
	  "payment_status":"unpaid","client_reference_id":"gus","metadata":{"pack":"small"}}' "$(date +%s)"
	deliver p3; [ "$status" -eq 0 ]
	[ "$(bal gus)" = 50 ]
}

@test "rs-webhook: deliveries at once: one event applied once, distinct events each once" {
	rs-credit user add ivy >/dev/null
	pack() {	# pack EVENT SESSION
		event "$1" checkout.session.completed "$(jq -n --arg s "$2" '{id: $s, object: "checkout.session",
		  mode: "payment", status: "complete", payment_status: "paid", client_reference_id: "ivy",
		  customer: "cus_I", metadata: {user: "ivy", pack: "small"}}')" "$(date +%s)"
	}
	pack same cs_same
	for i in 1 2 3 4 5 6; do pack "d$i" "cs_d$i"; done
	for i in 1 2 3 4 5 6; do
		( sig=$(stripe-sign "$SECRET" <"$T/same.json")
		  rs-webhook --signature "$sig" <"$T/same.json" >"$T/same.$i" 2>"$T/same.err.$i"
		  echo $? >"$T/same.rc.$i" ) &
		( sig=$(stripe-sign "$SECRET" <"$T/d$i.json")
		  rs-webhook --signature "$sig" <"$T/d$i.json" >"$T/d.$i" 2>"$T/d.err.$i"
		  echo $? >"$T/d.rc.$i" ) &
	done
	wait
	for i in 1 2 3 4 5 6; do
		[ "$(cat "$T/same.rc.$i")" = 0 ] || { cat "$T/same.err.$i" >&2; false; }
		[ "$(cat "$T/d.rc.$i")" = 0 ] || { cat "$T/d.err.$i" >&2; false; }
		[ "$(jq -r .result "$T/d.$i")" = applied ]
	done
	[ "$(cat "$T"/same.[1-6] | jq -r .result | sort | uniq -c | awk '{ print $1 $2 }' | paste -sd ' ')" = \
	    "1applied 5replayed" ]
	[ "$(bal ivy)" = $((7 * 50)) ]
	run -0 rs-credit check
}

@test "rs-webhook: payment_failed marks the account past due; invoice.paid clears it" {
	rs-credit user add hal >/dev/null
	now=$(date +%s)
	checkout_sub c1 hal cus_H sub_H; event c1 checkout.session.completed "$(jq .data.object "$T/c1.json")" "$now"
	deliver c1
	event f1 invoice.payment_failed '{"id":"in_H2","object":"invoice","customer":"cus_H","status":"open"}' "$now"
	deliver f1; [ "$status" -eq 0 ]
	[ "$(rs-credit user show hal | jq -r .billing.past_due)" = true ]
	invoice_paid i2 in_H2 cus_H sub_H; event i2 invoice.paid "$(jq .data.object "$T/i2.json")" "$now"
	deliver i2
	[ "$(rs-credit user show hal | jq -r .billing.past_due)" = false ]
}

@test "rs-webhook: unknown event types are acknowledged, logged, recorded" {
	event u1 customer.created '{"id":"cus_X","object":"customer"}' "$(date +%s)"
	deliver u1
	[ "$status" -eq 0 ]
	[ "$(jq -r .result <<<"$output")" = ignored ]
	[[ "$stderr" == "rs-webhook: "*"customer.created"* ]]
}

@test "rs-webhook: a tampered body, a wrong secret: 13, nothing applied" {
	rs-credit user add ivy >/dev/null
	event p1 checkout.session.completed '{"id":"cs_t","object":"checkout.session","mode":"payment",
	  "payment_status":"paid","client_reference_id":"ivy","metadata":{"pack":"large"}}' "$(date +%s)"
	sig=$(stripe-sign "$SECRET" <"$T/p1.json")
	sed 's/"large"/"small"/' "$T/p1.json" >"$T/tampered.json"
	run --separate-stderr rs-webhook --signature "$sig" <"$T/tampered.json"
	failed_with 13 rs-webhook
	[[ "$stderr" == *"no signatures found matching"* ]]
	deliver p1 whsec_wrong
	failed_with 13 rs-webhook
	[ "$(bal ivy)" = 0 ]
}

@test "rs-webhook: old and future timestamps are refused (14); tolerance is configurable" {
	rs-credit user add jo >/dev/null
	event p1 checkout.session.completed '{"id":"cs_j","object":"checkout.session","mode":"payment",
	  "payment_status":"paid","client_reference_id":"jo","metadata":{"pack":"small"}}'
	now=$(date +%s)
	for t in $((now - 301)) $((now + 330)); do   # +30: node and rs run across a second or two
		sig=$(stripe-sign "$SECRET" "$t" <"$T/p1.json")
		run --separate-stderr rs-webhook --signature "$sig" <"$T/p1.json"
		failed_with 14 rs-webhook
		[[ "$stderr" == *"outside the tolerance zone"* ]]
	done
	sig=$(stripe-sign "$SECRET" $((now - 600)) <"$T/p1.json")
	RS_STRIPE_TOLERANCE=900 run -0 rs-webhook --signature "$sig" <"$T/p1.json"
	[ "$(bal jo)" = 50 ]
}

@test "rs-webhook: several v1 values and a rotated secret" {
	rs-credit user add kim >/dev/null
	event p1 checkout.session.completed '{"id":"cs_k","object":"checkout.session","mode":"payment",
	  "payment_status":"paid","client_reference_id":"kim","metadata":{"pack":"small"}}' "$(date +%s)"
	t=$(date +%s)
	good=$(stripe-sign "$SECRET" "$t" <"$T/p1.json")
	other=$(stripe-sign whsec_other "$t" <"$T/p1.json")
	# two v1 values (Stripe sends one per active secret) plus a v0: ours is the second
	hdr="${other},v1=${good##*v1=},v0=deadbeef"
	run -0 rs-webhook --signature "$hdr" <"$T/p1.json"
	# rotation: the event signed with the old secret verifies while both are configured
	jq '.id = "evt_k2" | .data.object.id = "cs_k2"' "$T/p1.json" >"$T/p2.json"
	sig=$(stripe-sign whsec_old_secret <"$T/p2.json")
	RS_STRIPE_WEBHOOK_SECRET_OLD=whsec_old_secret run -0 rs-webhook --signature "$sig" <"$T/p2.json"
	[ "$(bal kim)" = 100 ]
	# a v0 alone (the downgrade) is refused
	run --separate-stderr rs-webhook --signature "t=$t,v0=${good##*v1=}" <"$T/p1.json"
	failed_with 12 rs-webhook
}

@test "rs-webhook: missing or malformed header, body not JSON: distinct statuses" {
	echo '{}' >"$T/e.json"
	run --separate-stderr rs-webhook <"$T/e.json"
	failed_with 10 rs-webhook
	run --separate-stderr rs-webhook --signature "v1=abc" <"$T/e.json"
	failed_with 11 rs-webhook
	run --separate-stderr rs-webhook --signature "t=notanumber,v1=abc" <"$T/e.json"
	failed_with 11 rs-webhook
	run --separate-stderr rs-webhook --signature "t=$(date +%s)" <"$T/e.json"
	failed_with 12 rs-webhook
	echo 'not json {' >"$T/bad.json"
	sig=$(stripe-sign "$SECRET" <"$T/bad.json")
	run --separate-stderr rs-webhook --signature "$sig" <"$T/bad.json"
	failed_with 65 rs-webhook
	unset RS_STRIPE_WEBHOOK_SECRET
	sig=$(stripe-sign "$SECRET" <"$T/e.json")
	run --separate-stderr rs-webhook --signature "$sig" <"$T/e.json"
	failed_with 78 rs-webhook
}

@test "rs-webhook: the secret may come from a file" {
	echo "$SECRET" >"$T/secret"
	unset RS_STRIPE_WEBHOOK_SECRET
	rs-credit user add lou >/dev/null
	event p1 checkout.session.completed '{"id":"cs_l","object":"checkout.session","mode":"payment",
	  "payment_status":"paid","client_reference_id":"lou","metadata":{"pack":"small"}}' "$(date +%s)"
	sig=$(stripe-sign "$SECRET" <"$T/p1.json")
	RS_STRIPE_WEBHOOK_SECRET_FILE="$T/secret" run -0 rs-webhook --signature "$sig" <"$T/p1.json"
}

@test "rs-webhook: a crash while applying leaves nothing; redelivery applies once" {
	rs-credit user add max >/dev/null
	event p1 checkout.session.completed '{"id":"cs_m","object":"checkout.session","mode":"payment",
	  "payment_status":"paid","client_reference_id":"max","metadata":{"pack":"small"}}' "$(date +%s)"
	sig=$(stripe-sign "$SECRET" <"$T/p1.json")
	RS_CRASH_AT=stripe-apply run rs-webhook --signature "$sig" <"$T/p1.json"
	[ "$status" -eq 137 ]
	[ "$(bal max)" = 0 ]
	run -0 rs-webhook --signature "$sig" <"$T/p1.json"
	run -0 rs-webhook --signature "$sig" <"$T/p1.json"
	[ "$(bal max)" = 50 ]
}

start_fake() {	# start_fake [FAIL]
	fake-stripe "$T/port" "$T/log" "${1:-0}" 3>&- &
	FAKE=$!
	while [ ! -s "$T/port" ]; do sleep 0.05; done
	export RS_STRIPE_API="http://127.0.0.1:$(cat "$T/port")" RS_STRIPE_SECRET_KEY=sk_test_51fake
	export RS_PUBLIC_URL=https://rs.example
}
teardown() { [ -z "${FAKE:-}" ] || kill "$FAKE" 2>/dev/null || true; }

@test "rs-webhook: checkout creates a Checkout Session with Stripe's form fields" {
	start_fake
	rs-credit user add nia >/dev/null
	run -0 --separate-stderr rs-webhook checkout nia --plan pro
	[[ "$(jq -r .url <<<"$output")" == https://checkout.stripe.com/* ]]
	req=$(tail -n 1 "$T/log")
	[ "$(jq -r '.form.mode' <<<"$req")" = subscription ]
	[ "$(jq -r '.form["line_items[0][price]"]' <<<"$req")" = price_rs_pro_monthly ]
	[ "$(jq -r '.form.client_reference_id' <<<"$req")" = nia ]
	[ "$(jq -r '.form["subscription_data[metadata][user]"]' <<<"$req")" = nia ]
	[ "$(jq -r '.form.success_url' <<<"$req")" = "https://rs.example/#/billing?session={CHECKOUT_SESSION_ID}" ]
	[ "$(jq -r .version <<<"$req")" = 2026-07-29.dahlia ]
	[[ "$(jq -r .idempotency_key <<<"$req")" == rs-* ]]
	run -0 rs-webhook checkout nia --pack small
	[ "$(tail -n 1 "$T/log" | jq -r '"\(.form.mode) \(.form["metadata[pack]"])"')" = "payment small" ]
	# no secret key on any output
	! grep -q sk_test_51fake <<<"$output$stderr"
}

@test "rs-webhook: transient Stripe errors are retried with the same idempotency key" {
	start_fake 2
	rs-credit user add ola >/dev/null
	run -0 rs-webhook checkout ola --plan premium
	[ "$(wc -l <"$T/log")" -eq 3 ]
	[ "$(jq -r .idempotency_key "$T/log" | sort -u | wc -l)" -eq 1 ]
}

@test "rs-webhook: 429 is not retried; errors carry Stripe's message" {
	start_fake 429
	rs-credit user add pia >/dev/null
	run --separate-stderr rs-webhook checkout pia --plan pro
	failed_with 75 rs-webhook
	[[ "$stderr" == *"Too many requests"* ]]
	[ "$(wc -l <"$T/log")" -eq 1 ]
}

@test "rs-webhook: portal needs a linked customer; unknown plan or user" {
	start_fake
	rs-credit user add quinn >/dev/null
	run --separate-stderr rs-webhook portal quinn
	failed_with 66 rs-webhook
	rs-credit user add rex >/dev/null
	checkout_sub c1 rex cus_R sub_R; event c1 checkout.session.completed "$(jq .data.object "$T/c1.json")" "$(date +%s)"
	deliver c1
	run -0 rs-webhook portal rex
	[[ "$(jq -r .url <<<"$output")" == https://billing.stripe.com/* ]]
	[ "$(tail -n 1 "$T/log" | jq -r .form.customer)" = cus_R ]
	run --separate-stderr rs-webhook checkout rex --plan gold
	failed_with 65 rs-webhook
	run --separate-stderr rs-webhook checkout nobody --plan pro
	failed_with 66 rs-webhook
	run --separate-stderr rs-webhook checkout rex
	failed_with 64 rs-webhook
	unset RS_STRIPE_SECRET_KEY
	run --separate-stderr rs-webhook checkout rex --plan pro
	failed_with 78 rs-webhook
}
