# tests/objects.bash: the object store as a test sees it, on either
# backend: the spool's objects/ or, when RS_STORE=s3://BUCKET/PREFIX is
# set (helper.bash's scale_setup does that with RS_TEST_S3_ENV), the
# bucket, read with an independent client: curl's own SigV4 signing, as
# in tests/scale/s3-check. Loaded by helper.bash.

# s3curl METHOD PATH [curl args…]: a signed request to the S3 endpoint;
# prints the HTTP code, the body goes to $S3_BODY (default $T/.s3body).
# curl 7.88 neither sorts nor encodes the query: write it sorted and encoded.
s3curl() {
	local method=$1 path=$2 hash=UNSIGNED-PAYLOAD m=(-X "$1")
	shift 2
	[ "$method" = HEAD ] && m=(-I)
	[ "$method" != PUT ] || hash=$(sha256sum "${S3_PAYLOAD:-/dev/null}" | cut -c1-64)
	curl -sS -o "${S3_BODY:-$T/.s3body}" -w '%{http_code}' --max-time 30 "${m[@]}" \
	    --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
	    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "x-amz-content-sha256: $hash" "$@" "${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}$path"
}

# the bucket and "PREFIX/" of RS_STORE
s3_bucket() { local u=${RS_STORE#s3://}; echo "${u%%/*}"; }
s3_prefix() { local u=${RS_STORE#s3://} p; p=${u#*/}; [ "$p" != "$u" ] && p=${p%/} && echo "$p/"; }

# obj_ids: every object's id, one a line
obj_ids() {
	if [ -z "${RS_STORE:-}" ]; then
		[ -d "$RS_SPOOL/objects" ] || return 0
		find "$RS_SPOOL/objects" -type f ! -name '.*' | sed 's|.*/\(..\)/\([^/]*\)$|\1\2|'
		return
	fi
	local p; p=$(s3_prefix)
	local code; code=$(S3_BODY="$T/.s3list" s3curl GET "/$(s3_bucket)?list-type=2&prefix=${p//\//%2F}")
	case $code in 200) ;; 404) return 0 ;; *) echo "list: $code" >&2; return 1 ;; esac
	grep -o '<Key>[^<]*</Key>' "$T/.s3list" | sed "s|<Key>$p\(..\)/\([^<]*\)</Key>|\1\2|"
}
obj_count() { obj_ids | wc -l; }

# obj_has ID: the object is stored
obj_has() {
	if [ -z "${RS_STORE:-}" ]; then
		[ -f "$RS_SPOOL/objects/${1:0:2}/${1:2}" ]
	else
		[ "$(s3curl HEAD "/$(s3_bucket)/$(s3_prefix)${1:0:2}/${1:2}")" = 200 ]
	fi
}

# obj_file ID: prints the name of a file with the object's bytes
obj_file() {
	if [ -z "${RS_STORE:-}" ]; then
		echo "$RS_SPOOL/objects/${1:0:2}/${1:2}"
	else
		S3_BODY="$T/.obj-$1" s3curl GET "/$(s3_bucket)/$(s3_prefix)${1:0:2}/${1:2}" >/dev/null
		echo "$T/.obj-$1"
	fi
}

# obj_age DATE: make every object look as old as DATE (touch -d) to the
# expiry of rs-run --gc. S3 objects cannot be backdated: gc reads an
# object's age from its copy in $RS_SPOOL/s3cache, so fetch that copy
# (as store_path would) and backdate it.
obj_age() {
	local id
	if [ -z "${RS_STORE:-}" ]; then
		[ ! -d "$RS_SPOOL/objects" ] || find "$RS_SPOOL/objects" -type f -exec touch -d "$1" {} +
		return
	fi
	for id in $(obj_ids); do
		local f="$RS_SPOOL/s3cache/${id:0:2}/${id:2}"
		mkdir -p "${f%/*}"
		[ -f "$f" ] || cp "$(obj_file "$id")" "$f"
		touch -d "$1" "$f"
	done
}
