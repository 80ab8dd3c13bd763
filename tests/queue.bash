# tests/queue.bash: the queue's jobs by state, whichever backend holds
# them: the spool's directories ($RS_SPOOL/jobs/STATE/ID), or with
# RS_DATABASE the rs_jobs table in PostgreSQL (lib/spool_pg.c). For tests
# that look at or arrange jobs behind the programs' backs. STATE is new,
# cur, done or failed.

_qstate() { case $1 in new) echo 0 ;; cur) echo 1 ;; done) echo 2 ;; failed) echo 3 ;; *) return 1 ;; esac; }
# _qsql SQL [NAME=VALUE ...]: run SQL in the test's schema; :'NAME' quotes VALUE
_qsql() {
	local sql=$1 a=()
	shift
	for v in "$@"; do a+=(-v "$v"); done
	psql -qAtX -v ON_ERROR_STOP=1 "${a[@]}" "$RS_DATABASE" <<<"$sql"
}

# jobs_in STATE: how many jobs are in STATE
jobs_in() {
	if [ -n "${RS_DATABASE:-}" ]; then
		_qsql "SELECT count(*) FROM rs_jobs WHERE state = $(_qstate "$1")"
	else
		find "$RS_SPOOL/jobs/$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l
	fi
}
# jobs_ids STATE: their ids, sorted
jobs_ids() {
	if [ -n "${RS_DATABASE:-}" ]; then
		_qsql "SELECT id FROM rs_jobs WHERE state = $(_qstate "$1") ORDER BY id"
	else
		ls "$RS_SPOOL/jobs/$1"
	fi
}
# jobs_cat STATE: their records, one a line, by id
jobs_cat() {
	local id
	for id in $(jobs_ids "$1"); do job_get "$1" "$id" || return; done
}
# job_get STATE ID: the record of job ID in STATE (fails if it is not there)
job_get() {
	if [ -n "${RS_DATABASE:-}" ]; then
		local r
		r=$(_qsql "SELECT record FROM rs_jobs WHERE id = :'id' AND state = $(_qstate "$1")" id="$2") &&
		[ -n "$r" ] && printf '%s\n' "$r"
	else
		[ -f "$RS_SPOOL/jobs/$1/$2" ] && jq -c . "$RS_SPOOL/jobs/$1/$2"
	fi
}
# job_put STATE RECORD [RUNNER]: write the record (by its id) into STATE,
# wherever the job was; RUNNER: the runner holding it (cur)
job_put() {
	local id
	id=$(jq -r .id <<<"$2") || return
	if [ -n "${RS_DATABASE:-}" ]; then
		_qsql "INSERT INTO rs_jobs (id, state, usr, priority, next_attempt, runner, updated, record)
		  SELECT :'id', $(_qstate "$1"), coalesce(r->>'user', ''), coalesce((r->>'priority')::int, 0),
		    extract(epoch FROM (r->>'next_attempt')::timestamptz), nullif(:'runner', ''),
		    extract(epoch FROM clock_timestamp()), :'rec' FROM (SELECT :'rec'::json AS r) x
		  ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, usr = EXCLUDED.usr,
		    priority = EXCLUDED.priority, next_attempt = EXCLUDED.next_attempt,
		    runner = EXCLUDED.runner, updated = EXCLUDED.updated, record = EXCLUDED.record" \
		  id="$id" rec="$2" runner="${3:-}" >/dev/null
	else
		local s
		for s in new cur done failed; do rm -f "$RS_SPOOL/jobs/$s/$id"; done
		printf '%s\n' "$2" >"$RS_SPOOL/jobs/$1/.$id.tmp" && mv "$RS_SPOOL/jobs/$1/.$id.tmp" "$RS_SPOOL/jobs/$1/$id"
	fi
}
# job_age STATE ID WHEN: as if last written at WHEN ("10 days ago")
job_age() {
	if [ -n "${RS_DATABASE:-}" ]; then
		_qsql "UPDATE rs_jobs SET updated = $(date -d "$3" +%s) WHERE id = :'id'" id="$2" >/dev/null
	else
		touch -d "$3" "$RS_SPOOL/jobs/$1/$2"
	fi
}
# runners_n: how many runners are registered
runners_n() {
	if [ -n "${RS_DATABASE:-}" ]; then
		_qsql "SELECT count(*) FROM rs_runners" 2>/dev/null || echo 0
	else
		find "$RS_SPOOL/jobs/run" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l
	fi
}
# runner_put RUNNER HOST PID: a live runner's registration, heartbeat now
runner_put() {
	if [ -n "${RS_DATABASE:-}" ]; then
		# a runner of this host is known by its host name and PID namespace
		local h=$2
		[ "$h" != "$(hostname)" ] || h="$h/$(readlink /proc/self/ns/pid)"
		_qsql "INSERT INTO rs_runners (id, host, pid, started, ttl) VALUES (:'r', :'h', :'p', '', 60)" \
		  r="$1" h="$h" p="$3" >/dev/null
	fi
}
