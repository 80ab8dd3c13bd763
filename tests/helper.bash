# tests/helper.bash: loaded by every tests/*.bats
bats_require_minimum_version 1.5.0
PATH="$BATS_TEST_DIRNAME/../bin:$BATS_TEST_DIRNAME:$PATH"
# never reach a real service from a test, whatever the machine has set
unset GEMINI_API_KEY RS_GEMINI_KEY_FILE RS_STRIPE_SECRET_KEY RS_STRIPE_SECRET_KEY_FILE
DATA="$BATS_TEST_DIRNAME/data"
. "$BATS_TEST_DIRNAME/objects.bash"    # obj_ids obj_has obj_file obj_age: either store

setup() {
	export RS_SPOOL="$BATS_TEST_TMPDIR/spool" RS_CONF=/dev/null
	unset RS_MAX_BYTES RS_MAX_PIXELS RS_MAX_SIDE
	T="$BATS_TEST_TMPDIR"
	scale_setup
}

# jq 1.6 exits 0 from -e when it reads no input at all, so a check of a
# program that printed nothing would pass: here -e (alone or with other
# short flags) also fails, with 4 (jq's "no valid result"), when jq
# printed nothing.
jq() {
	local a out rc
	for a; do
		if [[ "$a" =~ ^-[a-zA-Z]*e[a-zA-Z]*$ ]]; then
			out=$(command jq "$@") && rc=0 || rc=$?
			[ -z "$out" ] || printf '%s\n' "$out"
			[ "$rc" -eq 0 ] || return "$rc"
			[[ "$out" =~ [^[:space:]] ]] || { echo "jq -e: no result" >&2; return 4; }
			return 0
		fi
	done
	command jq "$@"
}

# img NAME SPEC [option ...]: write $T/NAME.jpeg or $T/NAME.png with mkimg
img() { local n=$1; shift; mkimg "$@" >"$T/$n.${1%%:*}"; }

# files under the spool (none when it does not exist)
spool_files() { [ -d "$RS_SPOOL" ] && find "$RS_SPOOL" -type f | wc -l || echo 0; }

# check a failed run: status, empty stdout, "prog: " prefix on stderr
failed_with() {	# failed_with STATUS PROG
	[ "$status" -eq "$1" ] || { echo "status $status, expected $1: $stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "stdout not empty: $output" >&2; return 1; }
	[[ "$stderr" == "$2: "* ]] || { echo "stderr: $stderr" >&2; return 1; }
}

# Scale-out backends: with RS_TEST_DATABASE (a postgresql:// URL, e.g.
# from tests/scale/pg-up) every test gets a schema of its own in that
# database as RS_DATABASE, so the same suites run on PostgreSQL. Every
# setup() calls this last.
scale_setup() {
	if [ -n "${RS_TEST_DATABASE:-}" ]; then
		local schema="t_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
		psql -qX "$RS_TEST_DATABASE" -c "CREATE SCHEMA $schema" >/dev/null
		case $RS_TEST_DATABASE in
		*\?*) RS_DATABASE="$RS_TEST_DATABASE&options=-csearch_path%3D$schema" ;;
		*) RS_DATABASE="$RS_TEST_DATABASE?options=-csearch_path%3D$schema" ;;
		esac
		export RS_DATABASE
	else
		unset RS_DATABASE
	fi
	# S3 (tests/s3.bats, tests/objects.bash): with RS_TEST_S3_ENV (the env
	# file of tests/scale/s3-up) every test keeps its objects under a
	# prefix of its own in the bucket rs-test, created by the first upload.
	if [ -n "${RS_TEST_S3_ENV:-}" ]; then
		set -a; . "$RS_TEST_S3_ENV"; set +a
		export RS_STORE="s3://rs-test/t-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')/"
	else
		unset RS_STORE
	fi
}

# db_query SQL: run SQL on the ledger's database, whichever it is: the
# spool's SQLite file, or RS_DATABASE's schema. Rows on lines, columns
# joined by |. Quote the column "user" (a keyword in PostgreSQL).
db_query() {
	if [ -n "${RS_DATABASE:-}" ]; then
		psql -qXAt -v ON_ERROR_STOP=1 "$RS_DATABASE" -c "$1"
	else
		sqlite3 "$RS_SPOOL/rs.db" "$1"
	fi
}

# db_dump: everything the database holds, as SQL text
db_dump() {
	if [ -n "${RS_DATABASE:-}" ]; then
		pg_dump -d "$RS_DATABASE" -n "${RS_DATABASE##*search_path%3D}"
	else
		sqlite3 "$RS_SPOOL/rs.db" .dump
	fi
}

# skip_unless_sqlite WHY: for a test about SQLite itself
skip_unless_sqlite() {
	[ -z "${RS_DATABASE:-}" ] || skip "SQLite only: $1"
}

# fade_scene C.png [U.png [W H]]: a scene with small shadows and
# highlights all over a smooth ground (as a photo has across its frame),
# 320x240 or W x H, and with U the same faded unevenly, black 20 -> 80
# and white 235 -> 195 from left to right. Needs /usr/bin/python3 with
# numpy and PIL (the caller skips).
fade_scene() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(3)
w, h = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (320, 240)
yy, xx = np.mgrid[0:h, 0:w]
base = 120 + 50 * np.sin(xx / (47.0 * w / 320)) * np.cos(yy / (61.0 * h / 240))
a = np.dstack([base * 1.05, base, base * 0.9])
oy, ox = np.mgrid[-6:7, -6:7]
for k in range(160 * w * h // 76800):
    cx, cy, r = int(rng.uniform(6, w - 6)), int(rng.uniform(6, h - 6)), rng.uniform(3, 6)
    v = rng.uniform(3, 8) if k % 2 == 0 else rng.uniform(240, 250)
    col = np.array([v, v * rng.uniform(0.9, 1.1), v * rng.uniform(0.85, 1.1)])
    m = ox ** 2 + oy ** 2 <= r * r
    a[cy - 6:cy + 7, cx - 6:cx + 7][m] = col
img = Image.fromarray(np.uint8(np.clip(a, 0, 255) + 0.5)).filter(ImageFilter.GaussianBlur(0.8))
img.save(sys.argv[1])
if len(sys.argv) > 2:
    a = np.asarray(img, float)
    t = np.linspace(0, 1, w)[None, :, None]
    lo, hi = 20 + 60 * t, 235 - 40 * t
    Image.fromarray(np.uint8(lo + a * (hi - lo) / 255 + 0.5)).save(sys.argv[2])
PY
}
