load helper
load queue

@test "rs-upload: a JPEG is stored whole and described" {
	img a jpeg:640x480
	run --separate-stderr rs-upload "$T/a.jpeg"
	[ "$status" -eq 0 ]
	obj=$(jq -r '.inputs[0].object' <<<"$output")
	[ "$(jq -r '.inputs[0] | "\(.mime) \(.width) \(.height) \(.bytes)"' <<<"$output")" = \
	  "image/jpeg 640 480 $(stat -c %s "$T/a.jpeg")" ]
	[ "$(jq -r '.mode' <<<"$output")" = restore ]
	[[ "$(jq -r .id <<<"$output")" =~ ^[0-9a-f]{28}$ ]]
	cmp "$T/a.jpeg" "$(obj_file "$obj")"
	[ "$(b2sum -l 256 <"$T/a.jpeg" | cut -c1-64)" = "$obj" ]
	[ -z "$stderr" ]
}

@test "rs-upload: the same bytes are stored once" {
	img a png:64x48
	cp "$T/a.png" "$T/b.png"
	run -0 rs-upload "$T/a.png"
	run -0 rs-upload "$T/b.png"
	[ "$(obj_count)" -eq 1 ]
	[ -z "$(find "$RS_SPOOL" -name '.*')" ]
}

@test "rs-upload: PNG variants decode: gray, palette, 16-bit alpha, interlaced" {
	img g png:33x17 gray
	img p png:33x17 palette
	img d png:33x17 depth=16 alpha icc exif
	img i png:33x17 interlace alpha
	for f in g p d i; do
		run -0 rs-upload "$T/$f.png"
		[ "$(jq -r '.inputs[0] | "\(.width)x\(.height)"' <<<"$output")" = 33x17 ]
	done
}

@test "rs-upload: JPEG variants decode: gray, progressive, CMYK" {
	img g jpeg:40x30 gray
	img p jpeg:40x30 progressive
	img c jpeg:40x30 cmyk
	for f in g p c; do
		run -0 rs-upload "$T/$f.jpeg"
		[ "$(jq -r '.inputs[0].width' <<<"$output")" = 40 ]
	done
}

@test "rs-upload: EXIF orientation 6 and 8 swap width and height" {
	for o in 6 8; do
		img r jpeg:40x30 orientation=$o
		run -0 rs-upload "$T/r.jpeg"
		[ "$(jq -r '.inputs[0] | "\(.width)x\(.height)"' <<<"$output")" = 30x40 ]
	done
	img r png:40x30 orientation=3
	run -0 rs-upload "$T/r.png"
	[ "$(jq -r '.inputs[0] | "\(.width)x\(.height)"' <<<"$output")" = 40x30 ]
}

@test "rs-upload: reads one image from standard input" {
	img a jpeg:64x48
	run -0 --separate-stderr rs-upload <"$T/a.jpeg"
	[ "$(jq -r '.inputs[0].name' <<<"$output")" = stdin ]
	run -0 --separate-stderr rs-upload - <"$T/a.jpeg"
	[ "$(jq -r '.inputs[0].width' <<<"$output")" = 64 ]
}

@test "rs-upload: names with spaces and non-ASCII" {
	img a jpeg:64x48
	mv "$T/a.jpeg" "$T/Grand-mère à Noël 1952.jpg"
	run -0 --separate-stderr rs-upload "$T/Grand-mère à Noël 1952.jpg"
	[ "$(jq -r '.inputs[0].name' <<<"$output")" = "Grand-mère à Noël 1952.jpg" ]
}

@test "rs-upload: two or three files make one fusion job; four is a usage error" {
	img a jpeg:64x48 seed=1
	img b jpeg:64x48 seed=2
	img c png:64x48 seed=3
	run -0 rs-upload "$T/a.jpeg" "$T/b.jpeg" "$T/c.png"
	[ "$(jq -r '"\(.mode) \(.inputs | length)"' <<<"$output")" = "fusion 3" ]
	rm -rf "$RS_SPOOL"
	run --separate-stderr rs-upload "$T/a.jpeg" "$T/b.jpeg" "$T/c.png" "$T/a.jpeg"
	failed_with 64 rs-upload
	[ "$(spool_files)" -eq 0 ]
}

@test "rs-upload: --enqueue writes the job atomically into the queue" {
	img a jpeg:64x48
	run -0 --separate-stderr rs-upload --enqueue --user alice --prompt "fix the sky" "$T/a.jpeg"
	id=$(jq -r .id <<<"$output")
	[ -n "${RS_DATABASE:-}" ] || [ -f "$RS_SPOOL/jobs/new/$id" ]     # the spool: jobs/new/ID
	[ "$(job_get new "$id")" = "$(jq -c . <<<"$output")" ]
	[ "$(job_get new "$id" | jq -r '"\(.user) \(.status) \(.prompt)"')" = "alice queued fix the sky" ]
	[ -z "$(find "$RS_SPOOL" -name '.*')" ]
}

@test "rs-upload: --enqueue without --user is a usage error" {
	img a jpeg:64x48
	run --separate-stderr rs-upload --enqueue "$T/a.jpeg"
	failed_with 64 rs-upload
	[ "$(spool_files)" -eq 0 ]
}

@test "rs-upload: --help and --version go to stdout; a bad option is a usage error" {
	run -0 rs-upload --help
	[[ "$output" == usage:* ]]
	run -0 rs-upload --version
	[[ "$output" == "rs-upload "[0-9]* ]]
	run --separate-stderr rs-upload --bogus
	[ "$status" -eq 64 ]
	[ -z "$output" ]
}

# Every rejection: its status, nothing on stdout, "rs-upload: FILE: why" on
# stderr, and nothing added under the spool.
reject() {	# reject STATUS FILE PATTERN
	run --separate-stderr rs-upload "$2"
	failed_with "$1" rs-upload
	[[ "$stderr" == *$3* ]] || { echo "stderr: $stderr" >&2; return 1; }
	[ "$(spool_files)" -eq 0 ]
	[ ! -e "$RS_SPOOL" ]
}

@test "rs-upload: an empty file is a data error" {
	: >"$T/empty.jpg"
	reject 65 "$T/empty.jpg" "empty"
}

@test "rs-upload: a text file is not an image" {
	echo "hello, world" >"$T/a.jpg"
	reject 65 "$T/a.jpg" "not an image"
}

@test "rs-upload: GIF, WebP and HEIC are unsupported formats" {
	printf 'GIF89a\001\000\001\000\000\000\000;' >"$T/a.gif"
	reject 65 "$T/a.gif" "unsupported format GIF"
	printf 'RIFF\044\000\000\000WEBPVP8 ' >"$T/a.webp"
	reject 65 "$T/a.webp" "unsupported format WebP"
	printf '\000\000\000\030ftypheic\000\000\000\000mif1heic' >"$T/a.heic"
	reject 65 "$T/a.heic" "unsupported format HEIC"
}

@test "rs-upload: the type comes from the bytes, not the name" {
	img a png:64x48
	mv "$T/a.png" "$T/a.jpg"
	run -0 rs-upload "$T/a.jpg"
	[ "$(jq -r '.inputs[0].mime' <<<"$output")" = image/png ]
}

@test "rs-upload: a truncated JPEG is a data error" {
	img t jpeg:640x480
	truncate -s 5000 "$T/t.jpeg"
	reject 65 "$T/t.jpeg" "$T/t.jpeg: JPEG: "
}

@test "rs-upload: a truncated progressive JPEG is a data error" {
	img t jpeg:640x480 progressive
	truncate -s 9000 "$T/t.jpeg"
	reject 65 "$T/t.jpeg" "JPEG: "
}

@test "rs-upload: a truncated PNG is a data error" {
	img t png:640x480
	truncate -s $(( $(stat -c %s "$T/t.png") - 100 )) "$T/t.png"
	reject 65 "$T/t.png" "$T/t.png: PNG: "
}

@test "rs-upload: a PNG without IEND is a data error" {
	img t png:64x48
	truncate -s $(( $(stat -c %s "$T/t.png") - 12 )) "$T/t.png"
	reject 65 "$T/t.png" "PNG: "
}

@test "rs-upload: a PNG with a bad CRC is a data error" {
	img c png:64x48
	# flip one byte of the IHDR chunk's CRC (bytes 29-32)
	printf '\377' | dd of="$T/c.png" bs=1 seek=30 conv=notrunc status=none
	reject 65 "$T/c.png" "CRC"
	img d png:64x48
	# flip a byte in the middle of IDAT's data
	printf '\125' | dd of="$T/d.png" bs=1 seek=60 conv=notrunc status=none
	reject 65 "$T/d.png" "PNG: "
}

@test "rs-upload: a header claiming 100000x100000 is refused before allocating" {
	mkimg png:64x48 claim=100000x100000 >"$T/bomb.png"
	reject 65 "$T/bomb.png" "100000x100000"
	mkimg jpeg:64x48 claim=65000x65000 >"$T/bomb.jpg"
	reject 65 "$T/bomb.jpg" "65000x65000"
	# within the side limit, over the pixel limit
	mkimg png:64x48 claim=20000x20000 >"$T/bomb2.png"
	reject 65 "$T/bomb2.png" "exceeds limit 100000000"
	# peak memory stays small (ASan adds its own, hence the margin)
	/usr/bin/time -f %M -o "$T/rss" rs-upload "$T/bomb.png" 2>/dev/null || true
	[ "$(tail -n 1 "$T/rss")" -lt 65536 ]
}

@test "rs-upload: a header that lies about its size is a data error, in little memory" {
	mkimg png:64x48 claim=8000x8000 >"$T/lie.png"
	reject 65 "$T/lie.png" "PNG: "
	mkimg jpeg:64x48 claim=8000x8000 >"$T/lie.jpg"
	reject 65 "$T/lie.jpg" "JPEG: "
	/usr/bin/time -f %M -o "$T/rss" rs-upload "$T/lie.jpg" 2>/dev/null || true
	[ "$(tail -n 1 "$T/rss")" -lt 65536 ]
}

@test "rs-upload: over the byte limit is a data error" {
	img a jpeg:640x480
	RS_MAX_BYTES=1000 reject 65 "$T/a.jpeg" "exceeds limit 1000"
	# the same limit on standard input, where the size is not known up front
	run --separate-stderr env RS_MAX_BYTES=1K rs-upload <"$T/a.jpeg"
	failed_with 65 rs-upload
	[ "$(spool_files)" -eq 0 ]
}

@test "rs-upload: pixel and side limits come from the configuration file" {
	img a jpeg:640x480
	echo "RS_MAX_PIXELS=10000" >"$T/rs.conf"
	RS_CONF="$T/rs.conf" reject 65 "$T/a.jpeg" "exceeds limit 10000"
	echo "RS_MAX_SIDE=500" >"$T/rs.conf"
	RS_CONF="$T/rs.conf" reject 65 "$T/a.jpeg" "side exceeds limit 500"
	echo "RS_MAX_SIDE=many" >"$T/rs.conf"
	run --separate-stderr env RS_CONF="$T/rs.conf" rs-upload "$T/a.jpeg"
	failed_with 78 rs-upload
}

@test "rs-upload: a missing file or a directory cannot be read" {
	reject 66 "$T/nonexistent.jpg" "No such file"
	mkdir "$T/dir.jpg"
	reject 66 "$T/dir.jpg" "directory"
}

@test "rs-upload: an unreadable file cannot be read" {
	[ "$(id -u)" -ne 0 ] || skip "root reads every file"
	img a jpeg:64x48
	chmod 000 "$T/a.jpeg"
	reject 66 "$T/a.jpeg" "Permission denied"
}

@test "rs-upload: an unwritable spool cannot be created" {
	img a jpeg:64x48
	: >"$T/file"
	RS_SPOOL="$T/file/spool" run --separate-stderr rs-upload "$T/a.jpeg"
	if [ -n "${RS_STORE:-}" ]; then          # S3: a plain upload needs no spool
		[ "$status" -eq 0 ]
		return
	fi
	failed_with 73 rs-upload
	if [ "$(id -u)" -ne 0 ]; then
		mkdir -p "$T/ro" && chmod 555 "$T/ro"
		RS_SPOOL="$T/ro/spool" run --separate-stderr rs-upload "$T/a.jpeg"
		failed_with 77 rs-upload
	fi
}

@test "rs-upload: one bad file among several stores nothing" {
	img a jpeg:64x48
	echo junk >"$T/b.jpg"
	reject 65 "$T/b.jpg" "not an image"
	run --separate-stderr rs-upload "$T/a.jpeg" "$T/b.jpg"
	failed_with 65 rs-upload
	[ ! -e "$RS_SPOOL" ]
}
