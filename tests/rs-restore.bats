load helper

# psnr A B: PSNR of B against A, as an integer (dB)
psnr() { imgcmp "$1" "$2" | cut -d. -f1; }

# descratch_errs S C M: descratch S into $T/r.png; print the mean error
# against C on mask M before and after, the pixels changed off M and
# the pixels off M
descratch_errs() {
	rs-restore --ops descratch -o "$T/r.png" "$1" || return
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$1" "$T/r.png" "$2" "$3" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
s, r, c = (scenes.load_grey(f) for f in sys.argv[1:4])
m = np.asarray(Image.open(sys.argv[4])) > 0
print(np.abs(s - c)[m].mean(), np.abs(r - c)[m].mean(), (r != s)[~m].sum(), (~m).sum())
PY
}

# stat FILE FIELD: field of imgcmp -s (1 w, 2 h, 3 ch, 4-6 means, 7 sigma)
stat() { imgcmp -s "$1" | cut -d' ' -f"$2"; }

@test "rs-restore: --backend local -o OUT.png IN writes a PNG of the same size" {
	img in jpeg:200x150 q=60
	run -0 --separate-stderr rs-restore --backend local -o "$T/out.png" "$T/in.jpeg"
	[ -z "$output" ]
	[ "$(head -c 8 "$T/out.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ]
	[ "$(stat "$T/out.png" 1) $(stat "$T/out.png" 2)" = "200 150" ]
}

@test "rs-restore: -o - writes the image on stdout; --quality makes a JPEG" {
	img in png:64x48
	rs-restore --ops denoise -o - "$T/in.png" >"$T/out.png"
	[ "$(stat "$T/out.png" 1)" = 64 ]
	rs-restore --ops denoise --quality 80 -o "$T/out.jpg" "$T/in.png"
	[ "$(head -c 2 "$T/out.jpg" | od -An -tx1 | tr -d ' ')" = ffd8 ]
	rs-restore --ops denoise -o "$T/out2.jpeg" "$T/in.png"
	[ "$(head -c 2 "$T/out2.jpeg" | od -An -tx1 | tr -d ' ')" = ffd8 ]
}

@test "rs-restore: -o a FIFO or device writes into it, never replaces it; -o a directory is status 73" {
	img in png:64x48
	mkfifo "$T/fifo"
	cat "$T/fifo" >"$T/got.png" &
	run -0 --separate-stderr rs-restore --ops denoise -o "$T/fifo" "$T/in.png"
	wait
	[ -p "$T/fifo" ]
	[ "$(stat "$T/got.png" 1)" = 64 ]
	mkdir "$T/dir"
	run -73 --separate-stderr rs-restore --ops denoise -o "$T/dir" "$T/in.png"
	[[ "$stderr" == "rs-restore: $T/dir: is a directory"* ]]
	[ -z "$(ls -A "$T/dir")" ]
}

@test "rs-restore: denoise lowers the noise and raises PSNR" {
	img c png:320x240
	imgcmp -d noise=20 "$T/c.png" "$T/n.png"
	rs-restore --ops denoise -o "$T/r.png" "$T/n.png"
	[ "$(stat "$T/r.png" 7 | cut -d. -f1)" -lt 6 ]
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/n.png") + 6))" ]
}

@test "rs-restore: colour blotches are found and removed by the default chain" {
	img c png:320x240
	img n png:320x240 cnoise=10
	run -0 --separate-stderr rs-restore --print-ops "$T/n.png"
	jq -e '.ops[0].op == "denoise" and .ops[0].chroma_sigma > 4' <<<"$output"
	rs-restore -o "$T/r.png" "$T/n.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/n.png") + 8))" ]
}

@test "rs-restore: denoise follows noise that grows with brightness" {
	img c png:320x240
	img n png:320x240 lnoise=2
	# the record tells the level function it used: variance a x + b, a near 2
	rs-upload "$T/n.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --ops denoise <"$T/job.json"
	jq -e '.restore.ops[0] | .noise_a > 1.2 and .noise_a < 3' <<<"$output"
	rs-restore --ops denoise -o "$T/r.png" "$T/n.png"
	# flat-noise means (before the level function) gave +13.6 dB here
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/n.png") + 15))" ]
}

@test "rs-restore: deblock improves a JPEG of quality 15 (by 1.5 dB with its own tables)" {
	img c png:320x240
	img j jpeg:320x240 q=15
	rs-restore --ops deblock -o "$T/r.png" "$T/j.jpeg"
	a=$(imgcmp "$T/c.png" "$T/j.jpeg") b=$(imgcmp "$T/c.png" "$T/r.png")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 1.5) }'
}

@test "rs-restore: deblock smooths a JPEG's textured blocks by the steps they kept" {
	# grass-like strokes: every block keeps many coefficients, so its
	# means are stronger (+0.39 dB here when every block was smoothed alike)
	img c png:320x240 texture
	img j jpeg:320x240 texture q=40
	rs-restore --ops deblock -o "$T/r.png" "$T/j.jpeg"
	a=$(imgcmp "$T/c.png" "$T/j.jpeg") b=$(imgcmp "$T/c.png" "$T/r.png")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 0.6) }'
}

@test "rs-restore: descratch restores scratched pixels" {
	img c0 png:320x240
	imgcmp -d blur=1.5 "$T/c0.png" "$T/c.png"      # no thin bars in the scene
	imgcmp -d scratches=3 "$T/c.png" "$T/s.png"
	rs-restore --ops descratch -o "$T/r.png" "$T/s.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/s.png") + 8))" ]
}

@test "rs-restore: descratch removes dust on a ground that grows brighter across it" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# 3x3 specks, 45 levels off a ground that changes by 4.4 to 7 levels
	# a pixel under them (a defocused background, a sky at dusk): the
	# ring about each varies by 13 to 22 levels, by under 10 once its
	# slope is taken off (specks 47 levels off: 43 left before, 6 now)
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$T/s.png" "$T/c.png" "$T/m.png" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
h, w = 160, 160
yy, xx = np.mgrid[0:h, 0:w]
g = 128 + 100 * np.sin(2 * np.pi * (yy + 0.3 * xx) / 90)
a = g.copy(); m = np.zeros((h, w), bool)
rng = np.random.default_rng(3)
for k in range(24):
    while True:
        y0, x0 = rng.integers(8, h - 11), rng.integers(8, w - 11)
        if abs(g[y0 + 1, x0 + 1] - g[y0, x0 + 1]) >= 4:
            break
    a[y0:y0 + 3, x0:x0 + 3] += 45 if k % 2 else -45
    m[y0:y0 + 3, x0:x0 + 3] = True
scenes.save_grey(sys.argv[1], a)
scenes.save_grey(sys.argv[2], g)
Image.fromarray(np.uint8(m * 255)).save(sys.argv[3])
PY
	read -r before after off n < <(descratch_errs "$T/s.png" "$T/c.png" "$T/m.png")
	echo "$before $after $off $n"
	awk -v b="$before" -v a="$after" -v o="$off" -v n="$n" 'BEGIN { exit !(a < 0.4 * b && o <= 0.02 * n) }'
}

@test "rs-restore: descratch fills a scratch across, so that a thin line it crosses goes on through it" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# dark joints 2 pixels wide every 12 rows on a soft ground, crossed
	# by a bright vertical scratch: where they cross, the median of the
	# neighbours is the ground, 60 levels off the joint (the crossings
	# came back 59 levels off on average; now 3)
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$T/s.png" "$T/c.png" "$T/line.png" "$T/x.png" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
h, w = 160, 160
yy, xx = np.mgrid[0:h, 0:w]
c = 150 + 20 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
c[(yy % 12) < 2] -= 60
s = c.copy()
s[8:152, 79:81] = 235
line = np.zeros((h, w), bool)
line[8:152, 79:81] = True
scenes.save_grey(sys.argv[1], s)
scenes.save_grey(sys.argv[2], c)
Image.fromarray(np.uint8(line * 255)).save(sys.argv[3])
Image.fromarray(np.uint8((line & ((yy % 12) < 2)) * 255)).save(sys.argv[4])
PY
	read -r before after _ < <(descratch_errs "$T/s.png" "$T/c.png" "$T/line.png")
	read -r _ cross _ < <(descratch_errs "$T/s.png" "$T/c.png" "$T/x.png")
	echo "$before $after $cross"
	awk -v b="$before" -v a="$after" -v x="$cross" 'BEGIN { exit !(a < 0.2 * b && x < 15) }'
}

@test "rs-restore: scratches under grain are filled before the grain is smoothed, leaving no halo" {
	img c0 png:320x240
	imgcmp -d blur=1.5 "$T/c0.png" "$T/c.png"
	imgcmp -d scratches=3 "$T/c.png" "$T/s.png"
	imgcmp -d noise=20 "$T/s.png" "$T/n.png"
	# found on the denoised picture, filled there, as before...
	rs-restore --ops denoise -o "$T/d.png" "$T/n.png"
	rs-restore --ops descratch -o "$T/two.png" "$T/d.png"
	# ...and in the picture as it was, denoised again: the means had
	# spread each scratch's light about it (0.58 dB on this picture)
	rs-restore --ops denoise,descratch -o "$T/one.png" "$T/n.png"
	a=$(imgcmp "$T/c.png" "$T/two.png") b=$(imgcmp "$T/c.png" "$T/one.png")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 0.3) }'
	rs-upload "$T/n.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --ops denoise,descratch <"$T/job.json"
	jq -e '.restore.ops[1].denoised_again and (.restore.ops[0] | has("denoised_again") | not)' <<<"$output"
	run -0 --separate-stderr rs-restore --ops descratch <"$T/job.json"
	jq -e '.restore.ops[0] | has("denoised_again") | not' <<<"$output"
}

@test "rs-restore: descratch finds grey scratches in a JPEG that kept its chroma at half size" {
	# a toned print saved as 4:2:0: a 1-px line has the ground's chroma
	img c png:320x240 blur=1.5 sepia=0.6
	img s jpeg:320x240 blur=1.5 sepia=0.6 scratches=4 q=90
	rs-restore --ops descratch -o "$T/r.png" "$T/s.jpeg"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/s.jpeg") + 13))" ]   # was +11
}

@test "rs-restore: descratch reads a JPEG's chroma size from the chroma's sampling, not the luma's alone" {
	command -v cjpeg >/dev/null || skip "needs cjpeg (libjpeg-turbo-progs)"
	# the same 4:4:4 picture, its factors written 1x1 or 2x1 on every
	# component: both keep their chroma at full size
	img c png:320x240 scratches=4
	/usr/bin/python3 -c 'import PIL' 2>/dev/null || skip "needs /usr/bin/python3 with PIL"
	/usr/bin/python3 -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2])' "$T/c.png" "$T/c.ppm"
	cjpeg -quality 95 -sample 1x1,1x1,1x1 "$T/c.ppm" >"$T/a.jpg"
	cjpeg -quality 95 -sample 2x1,2x1,2x1 "$T/c.ppm" >"$T/b.jpg"
	rs-restore --ops descratch -o "$T/ra.png" "$T/a.jpg"
	rs-restore --ops descratch -o "$T/rb.png" "$T/b.jpg"
	cmp "$T/ra.png" "$T/rb.png"     # was different: 2x1 read as 4:2:2
}

@test "rs-restore: descratch leaves a thin highlight on a dark bar and removes scratches beside it" {
	img b png:320x240
	img h png:320x240 highlights         # 4 bars with a 1-px lighter line, 39 rows each
	rs-restore --ops descratch -o "$T/rb.png" "$T/b.png"
	rs-restore --ops descratch -o "$T/rh.png" "$T/h.png"
	# the bars' corners may be touched in both; the highlights (156
	# pixels, a line whose ground bends down on both sides) are not
	[ "$(imgcmp -n "$T/h.png" "$T/rh.png")" -le "$(($(imgcmp -n "$T/b.png" "$T/rb.png") + 40))" ]
	imgcmp -d scratches=3 "$T/h.png" "$T/s.png"
	rs-restore --ops descratch -o "$T/r.png" "$T/s.png"
	[ "$(psnr "$T/h.png" "$T/r.png")" -ge "$(($(psnr "$T/h.png" "$T/s.png") + 4))" ]
}

@test "rs-restore: descratch leaves a regular series of like thin lines and removes scratches across it" {
	img c png:320x240 stripes noise=3     # bright 2-px lines every 24 px: joints, slats
	rs-restore --ops descratch -o "$T/rc.png" "$T/c.png"
	[ "$(imgcmp -n "$T/c.png" "$T/rc.png")" -le 50 ]
	imgcmp -d scratches=3 "$T/c.png" "$T/s.png"
	rs-restore --ops descratch -o "$T/r.png" "$T/s.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/s.png") + 3))" ]
}

@test "rs-restore: descratch leaves a drawing's outlines and removes scratches over it" {
	img c png:160x160 outlines noise=3    # ellipses with 4-px black outlines
	rs-restore --ops descratch -o "$T/rc.png" "$T/c.png"
	[ "$(imgcmp -n "$T/c.png" "$T/rc.png")" -le 100 ]      # was 192
	imgcmp -d scratches=3 "$T/c.png" "$T/s.png"
	rs-restore --ops descratch -o "$T/r.png" "$T/s.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/s.png") + 3))" ]   # was +0.25 dB
}

@test "rs-restore: descratch removes scratches that cross one another" {
	img c0 png:320x240
	imgcmp -d blur=1.5 "$T/c0.png" "$T/c.png"
	imgcmp -d crossing=2 "$T/c.png" "$T/x.png"    # a # of four 2-px lines: one component
	rs-restore --ops descratch -o "$T/r.png" "$T/x.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/x.png") + 20))" ]
}

@test "rs-restore: levels repairs fading" {
	img c0 png:320x240
	rs-restore --ops levels -o "$T/c.png" "$T/c0.png"       # full range first
	imgcmp -d fade=70:190 "$T/c.png" "$T/f.png"
	rs-restore --ops levels -o "$T/r.png" "$T/f.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/f.png") + 5))" ]
}

@test "rs-restore: levels follows a fade that grows across the frame" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	fade_scene "$T/c.png" "$T/u.png"
	# black 20 -> 80 and white 235 -> 195 from left to right: one
	# stretch for the frame gained 4 dB, the planes 19
	rs-restore -o "$T/r.png" "$T/u.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/u.png") + 12))" ]
	rs-upload "$T/u.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --ops levels <"$T/job.json"
	jq -e '.restore.ops[0] | (.black_tilt[1] | . > 45 and . < 70) and
	    (.black_tilt[2] | fabs < 10) and (.white_tilt[1] | . > -50 and . < -25)' <<<"$output"
	# faded evenly: one stretch, no planes
	imgcmp -d fade=50:215 "$T/c.png" "$T/f.png"
	rs-upload "$T/f.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --ops levels <"$T/job.json"
	jq -e '.restore.ops[0] | has("black_tilt") or has("white_tilt") | not' <<<"$output"
}

@test "rs-restore: a levels span stretches to a narrower range about mid-grey" {
	img c0 png:320x240
	imgcmp -d fade=70:190 "$T/c0.png" "$T/f.png"
	rs-restore --ops levels -o "$T/full.png" "$T/f.png"
	rs-upload "$T/f.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "levels", "strength": 1, "span": 180}]}}' >"$T/job.json"
	run -0 --separate-stderr rs-restore <"$T/job.json"
	[ "$(jq -r '.restore.ops[0].span' <<<"$output")" = 180 ]
	cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$T/span.png"
	# each channel's mean as far from mid-grey as the full stretch's,
	# times 180/255 (a linear map about mid-grey)
	for k in 4 5 6; do
		awk -v a="$(stat "$T/full.png" $k)" -v b="$(stat "$T/span.png" $k)" \
		    'BEGIN { e = 127.5 + (a - 127.5) * 180 / 255; exit !(b > e - 1 && b < e + 1) }'
	done
}

@test "rs-restore: white_balance removes a blue cast" {
	img c png:320x240
	imgcmp -d cast=0.8:0.95:1.25 "$T/c.png" "$T/b.png"
	rs-restore --ops white_balance -o "$T/r.png" "$T/b.png"
	# the blue-red gap shrinks
	d0=$(imgcmp -s "$T/b.png" | awk '{ print int($6 - $4) }')
	d1=$(imgcmp -s "$T/r.png" | awk '{ print int($6 - $4) }')
	[ "$d1" -lt $((d0 / 2)) ]
}

@test "rs-restore: white_balance keeps a warm cast unless --neutralise-sepia" {
	img c png:320x240
	imgcmp -d cast=1.2:1.0:0.8 "$T/c.png" "$T/w.png"
	rs-restore --ops white_balance -o "$T/r.png" "$T/w.png"
	[ "$(psnr "$T/w.png" "$T/r.png")" -ge 60 ]
	rs-restore --ops white_balance --neutralise-sepia -o "$T/n.png" "$T/w.png"
	d0=$(imgcmp -s "$T/w.png" | awk '{ print int($4 - $6) }')
	d1=$(imgcmp -s "$T/n.png" | awk '{ print int($4 - $6) }')
	[ "$d1" -lt $((d0 / 2)) ]
}

@test "rs-restore: --neutralise-sepia gives back the colour a sepia blend took" {
	img c png:320x240
	img s png:320x240 sepia=0.6
	# kept by default
	rs-restore --ops white_balance -o "$T/k.png" "$T/s.png"
	[ "$(psnr "$T/s.png" "$T/k.png")" -ge 60 ]
	# gains leave the colour at 40 % (+1.7 dB): the blend is undone (+7)
	rs-restore --ops white_balance --neutralise-sepia -o "$T/n.png" "$T/s.png"
	[ "$(psnr "$T/c.png" "$T/n.png")" -ge "$(($(psnr "$T/c.png" "$T/s.png") + 5))" ]
	rs-upload "$T/s.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "white_balance", "strength": 1}]}}' >"$T/s.json"
	run -0 --separate-stderr rs-restore --neutralise-sepia <"$T/s.json"
	jq -e '.restore.ops[0] | .unblend > 0.45 and .unblend < 0.75 and .r == 1 and .b == 1' <<<"$output"
}

@test "rs-restore: --neutralise-sepia undoes the sepia blend of a grainy old colour print in levels" {
	img c png:320x240
	img s png:320x240 sepia=0.6 grain=10
	plan='{"classify": {"ops": [{"op": "denoise", "strength": 1},
	    {"op": "levels", "strength": 1, "black": 0, "white": 255},
	    {"op": "white_balance", "strength": 1}]}}'
	rs-upload "$T/s.png" | jq -c ". + $plan" >"$T/s.json"
	run -0 --separate-stderr rs-restore --neutralise-sepia <"$T/s.json"
	jq -e '.restore.ops[1] | .untone and .unblend > 0.45 and .unblend < 0.75' <<<"$output"
	jq -e '.restore.ops[2] | .untoned_by_levels and .r == 1 and .b == 1' <<<"$output"
	cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$T/r.png"
	# dividing each channel by its tone gained 2 dB, undoing the blend 4
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/s.png") + 3))" ]
}

# deblurs SPEC DB: c.png damaged by imgcmp's SPEC comes more than DB dB
# closer to it through --ops deblur
deblurs() {
	imgcmp -d "$1" "$T/c.png" "$T/b.png"
	rs-restore --ops deblur -o "$T/r.png" "$T/b.png"
	local a b
	a=$(imgcmp "$T/c.png" "$T/b.png") b=$(imgcmp "$T/c.png" "$T/r.png")
	awk -v a="$a" -v b="$b" -v d="$2" 'BEGIN { exit !(b > a + d) }'
}

# planned FILE OP OUT: FILE restored in a job by the plan [OP]; the record
# in $output, the picture in OUT
planned() {
	rs-upload "$1" | jq -c --argjson o "$2" '. + {"classify": {"ops": [$o]}}' >"$T/j.json"
	run -0 --separate-stderr rs-restore <"$T/j.json"
	cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$3"
}

@test "rs-restore: deblur sharpens a blurred photo, in full and halved (sigma 2 or more)" {
	img c png:320x240
	for s in 1.5 3; do deblurs blur=$s 0.5; done
}

@test "rs-restore: deblur undoes a motion blur under its streak, read from the cepstrum" {
	img c png:320x240
	for spec in motion=9:30 motion=6:0 motion=14:120; do deblurs $spec 2; done
	# the record says which streak; a Gaussian's deblur comes nowhere near
	imgcmp -d motion=9:30 "$T/c.png" "$T/b.png"
	planned "$T/b.png" '{"op": "deblur"}' "$T/m.png"
	jq -e '.restore.ops[0] | .kernel == "motion" and (.length - 9 | fabs) < 0.5 and
	    (.angle - 30 | fabs) < 3 and .iterations == 16 and has("sigma") == false' <<<"$output"
	planned "$T/b.png" '{"op": "deblur", "sigma": 2}' "$T/g.png"
	a=$(imgcmp "$T/c.png" "$T/g.png") b=$(imgcmp "$T/c.png" "$T/m.png")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 1.5) }'
	# a sharp photo shows no streak: --ops deblur stays Gaussian
	planned "$T/c.png" '{"op": "deblur"}' "$T/s.png"
	jq -e '.restore.ops[0] | has("kernel") == false and has("sigma")' <<<"$output"
}

@test "rs-restore: deblur undoes a defocus disk under the disk, read from the spectrum" {
	img c png:320x240
	for r in 2 4; do deblurs disk=$r 1.5; done
	# the record says which disk; the best Gaussian (sigma 2 here) on a busy
	# scene comes 0.7 dB short
	img t png:320x240 strokes=6
	imgcmp -d disk=3 "$T/t.png" "$T/b.png"
	planned "$T/b.png" '{"op": "deblur"}' "$T/d.png"
	jq -e '.restore.ops[0] | .kernel == "disk" and (.radius - 3 | fabs) < 0.3 and has("sigma") == false' \
	    <<<"$output"
	planned "$T/b.png" '{"op": "deblur", "sigma": 2}' "$T/g.png"
	a=$(imgcmp "$T/t.png" "$T/g.png") b=$(imgcmp "$T/t.png" "$T/d.png")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 0.4) }'
}

@test "rs-restore: a plan's streak or disk out of range is 65, nothing stored" {
	img c png:64x48
	for op in '{"op": "deblur", "length": 0.5, "angle": 0}' '{"op": "deblur", "length": 25}' \
	    '{"op": "deblur", "length": 1e300}' '{"op": "deblur", "length": true}'; do
		rs-upload "$T/c.png" | jq -c --argjson o "$op" '. + {"classify": {"ops": [$o]}}' >"$T/j.json"
		n=$(find "$RS_SPOOL/objects" -type f | wc -l)
		run -65 --separate-stderr rs-restore <"$T/j.json"
		[ -z "$output" ]
		[ "$(find "$RS_SPOOL/objects" -type f | wc -l)" = "$n" ]
		[[ $stderr == "rs-restore: "*"deblur: length "*": must be "* ]]
	done
	for op in '{"op": "deblur", "radius": 0.2}' '{"op": "deblur", "radius": 9}' \
	    '{"op": "deblur", "radius": 1e300}'; do
		rs-upload "$T/c.png" | jq -c --argjson o "$op" '. + {"classify": {"ops": [$o]}}' >"$T/j.json"
		run -65 --separate-stderr rs-restore <"$T/j.json"
		[ -z "$output" ]
		[[ $stderr == "rs-restore: "*"deblur: radius "*": must be "* ]]
	done
	# an angle of any size is taken modulo 180
	rs-upload "$T/c.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "deblur", "length": 5, "angle": -30, "iterations": 1}]}}' >"$T/j.json"
	run -0 --separate-stderr rs-restore <"$T/j.json"
	[ "$(jq '.restore.ops[0].angle' <<<"$output")" = 150 ]
	rs-upload "$T/c.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "deblur", "length": 5, "angle": 1e300, "iterations": 1}]}}' >"$T/j.json"
	run -0 --separate-stderr rs-restore <"$T/j.json"
	jq -e '.restore.ops[0].angle | . >= 0 and . <= 180' <<<"$output"
}

@test "rs-restore: a sure blur gets more iterations than a doubtful one, and comes closer" {
	img c png:320x240
	imgcmp -d blur=2 "$T/c.png" "$T/b.png"
	for s in 1 0.925 0.8; do
		rs-upload "$T/b.png" | jq -c --argjson s "$s" \
		    '. + {"classify": {"ops": [{"op": "deblur", "strength": $s, "sigma": 2}]}}' >"$T/j$s.json"
		run -0 --separate-stderr rs-restore <"$T/j$s.json"
		jq -r '.restore.ops[0].iterations' <<<"$output" >"$T/it$s"
		cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$T/r$s.png"
	done
	[ "$(cat "$T/it1") $(cat "$T/it0.925") $(cat "$T/it0.8")" = "16 11 5" ]
	a=$(imgcmp "$T/c.png" "$T/r0.8.png") b=$(imgcmp "$T/c.png" "$T/r1.png")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 0.3) }'
	# the plan's own count is kept
	rs-upload "$T/b.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "deblur", "sigma": 2, "iterations": 3}]}}' >"$T/j.json"
	run -0 --separate-stderr rs-restore <"$T/j.json"
	[ "$(jq '.restore.ops[0].iterations' <<<"$output")" = 3 ]
}

@test "rs-restore: a doubtful blur call is mended by less than its score; a photo soft by nature comes back close to itself" {
	# a scene blurred by 0.85 reads a doubtful blur (score about 0.77),
	# by 1.2 a sure one (about 0.97)
	img s png:320x240 blur=0.85
	img b png:320x240 blur=1.2
	run -0 rs-classify "$T/s.png" "$T/b.png"
	echo "$output"
	sed -n 1p <<<"$output" | jq -e '(.degradations[] | select(.type == "blur")) as $d |
	    $d.detected and $d.score < 0.9 and
	    (.ops[] | select(.op == "deblur") | .strength < 0.7 * $d.score)'
	sed -n 2p <<<"$output" | jq -e '(.degradations[] | select(.type == "blur")) as $d |
	    $d.score >= 0.9 and (.ops[] | select(.op == "deblur") | .strength == ($d.score * 100 | round / 100))'
	# taken as it is, the soft photo changes little (44.8 dB when
	# mended by its score)
	rs-restore -o "$T/r.png" "$T/s.png"
	[ "$(psnr "$T/s.png" "$T/r.png")" -ge 47 ]
}

@test "rs-restore: a plan's deblur iterations out of range are 65, nothing stored" {
	img c png:64x48
	for op in '{"op": "deblur", "iterations": -1}' '{"op": "deblur", "iterations": 1e300}' \
	    '{"op": "deblur", "iterations": 101}'; do
		rs-upload "$T/c.png" | jq -c --argjson o "$op" '. + {"classify": {"ops": [$o]}}' >"$T/j.json"
		run -65 --separate-stderr rs-restore <"$T/j.json"
		[ -z "$output" ]
		[[ $stderr == "rs-restore: "*": must be "* ]]
	done
	# a sigma far out of range is held to 4, not undefined
	rs-upload "$T/c.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "deblur", "sigma": 1e300, "iterations": 1}]}}' >"$T/j.json"
	run -0 --separate-stderr rs-restore <"$T/j.json"
	[ "$(jq '.restore.ops[0].sigma' <<<"$output")" = 4 ]
}

@test "rs-restore: --scale 2 doubles the size" {
	img c png:80x60
	rs-restore --scale 2 --ops upscale -o "$T/r.png" "$T/c.png"
	[ "$(stat "$T/r.png" 1) $(stat "$T/r.png" 2)" = "160 120" ]
}

@test "rs-restore: repair operations leave a clean photo unchanged (PSNR >= 40)" {
	img c0 png:320x240
	imgcmp -d blur=1 "$T/c0.png" "$T/c.png"
	for op in deblock denoise descratch deblur; do
		rs-restore --ops $op -o "$T/r.png" "$T/c.png"
		[ "$(psnr "$T/c.png" "$T/r.png")" -ge 40 ] || { echo "$op" >&2; false; }
	done
}

@test "rs-restore: output does not depend on the thread count" {
	img c png:200x300
	imgcmp -d noise=15 "$T/c.png" "$T/n.png"
	rs-restore -j 1 --ops denoise,descratch,deblur -o "$T/a.png" "$T/n.png"
	rs-restore -j 2 --ops denoise,descratch,deblur -o "$T/b.png" "$T/n.png"
	rs-restore -j 2 --ops denoise,descratch,deblur -o "$T/c2.png" "$T/n.png"
	cmp "$T/a.png" "$T/b.png"
	cmp "$T/b.png" "$T/c2.png"
	img j jpeg:320x400 q=20     # deblock: three strips of 160 rows
	rs-restore -j 1 --ops deblock -o "$T/a.png" "$T/j.jpeg"
	rs-restore -j 2 --ops deblock -o "$T/b.png" "$T/j.jpeg"
	cmp "$T/a.png" "$T/b.png"
}

@test "rs-restore: a PNG deflated in strips decodes whole, the same bytes on any thread count" {
	img c png:1600x1200         # 5.8 MB of rows: two strips
	imgcmp -d noise=10 "$T/c.png" "$T/n.png"
	imgcmp -d noise=0 "$T/n.png" "$T/r.png"
	[ "$(imgcmp -n "$T/n.png" "$T/r.png")" = 0 ]
	rs-restore -j 1 --ops levels -o "$T/a.png" "$T/n.png"
	rs-restore -j 2 --ops levels -o "$T/b.png" "$T/n.png"
	cmp "$T/a.png" "$T/b.png"
	command -v python3 >/dev/null || skip "needs python3 for an independent inflate"
	# zlib, not libpng: every chunk's CRC, the strips as one stream, its Adler-32
	python3 -c '
import struct, sys, zlib
d = open(sys.argv[1], "rb").read(); i = 8; z = b""; n = 0
while i < len(d):
    k, = struct.unpack(">I", d[i:i + 4]); t = d[i + 4:i + 8]
    assert struct.unpack(">I", d[i + 8 + k:i + 12 + k])[0] == zlib.crc32(d[i + 4:i + 8 + k])
    if t == b"IDAT": z += d[i + 8:i + 8 + k]; n += 1
    i += 12 + k
assert n >= 2 and len(zlib.decompress(z)) == 1200 * (1 + 1600 * 3), n' "$T/a.png"
}

@test "rs-restore: EXIF and ICC are carried over" {
	img c jpeg:64x48 exif icc
	rs-restore --ops denoise -o "$T/r.png" "$T/c.jpeg"
	grep -aq eXIf "$T/r.png"
	grep -aq iCCP "$T/r.png"
}

@test "rs-restore: --print-ops prints the plan in the fixed order" {
	img c png:64x48
	run -0 --separate-stderr rs-restore --print-ops --ops deblur,denoise "$T/c.png"
	[ "$(jq -c '[.ops[].op]' <<<"$output")" = '["denoise","deblur"]' ]
	[ "$(jq -r .backend <<<"$output")" = local ]
}

@test "rs-restore: a job record gets restore and output, and keeps its keys" {
	img c png:96x64
	imgcmp -d noise=10 "$T/c.png" "$T/n.png"
	rs-upload "$T/n.png" | jq -c '. + {"extra": {"keep": [1, 2]}}' >"$T/job.json"
	run -0 --separate-stderr rs-restore --ops denoise <"$T/job.json"
	[ "$(jq -c .extra <<<"$output")" = '{"keep":[1,2]}' ]
	[ "$(jq -r .restore.backend <<<"$output")" = local ]
	[ "$(jq -r '.restore.ops[0].op' <<<"$output")" = denoise ]
	[ "$(jq -r '.output.mime' <<<"$output")" = image/png ]
	[ "$(jq -r '.output.width' <<<"$output")" = 96 ]
	obj=$(jq -r .output.object <<<"$output")
	f="$RS_SPOOL/objects/${obj:0:2}/${obj:2}"
	[ -f "$f" ]
	[ "$(stat "$f" 1)" = 96 ]
	[ "$(jq -r .id <<<"$output")" = "$(jq -r .id "$T/job.json")" ]
}

@test "rs-restore: a job uses the record's classification ops" {
	img c png:96x64
	rs-upload "$T/c.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "levels", "strength": 0.5}]}}' >"$T/job.json"
	run -0 --separate-stderr rs-restore <"$T/job.json"
	[ "$(jq -c '[.restore.ops[].op]' <<<"$output")" = '["levels"]' ]
	[ "$(jq -r '.restore.ops[0].strength' <<<"$output")" = 0.5 ]
}

@test "rs-restore: a stretch the classifier asked for through noise runs only if the cleaned picture is still faded" {
	img c png:320x240
	imgcmp -d noise=20 "$T/c.png" "$T/n.png"
	imgcmp -d fade=70:190 "$T/c.png" "$T/f0.png"
	imgcmp -d noise=20 "$T/f0.png" "$T/f.png"
	plan='{"classify": {"ops": [{"op": "denoise", "strength": 1},
	    {"op": "levels", "strength": 1, "black": 60, "white": 200}]}}'
	for x in n f; do
		rs-upload "$T/$x.png" | jq -c ". + $plan" >"$T/$x.json"
		run -0 --separate-stderr rs-restore <"$T/$x.json"
		jq -c '.restore.ops[1]' <<<"$output" >"$T/$x.levels"
	done
	# not faded: the noise made the reading, the stretch is dropped
	jq -e '.op == "levels" and .strength == 0 and .faded_once_cleaned < 0.8' "$T/n.levels"
	# faded: still faded once cleaned, stretched
	jq -e '.op == "levels" and .strength == 1 and .faded_once_cleaned >= 0.8' "$T/f.levels"
	# the user's own --ops levels is not second-guessed
	run -0 --separate-stderr rs-restore --ops denoise,levels <"$T/n.json"
	[ "$(jq -r '.restore.ops[1] | has("faded_once_cleaned")' <<<"$output")" = false ]
}

@test "rs-restore: a fade read through grain is undone about mid-grey, as far as the nearer end allows" {
	img c0 png:320x240
	rs-restore --ops levels -o "$T/c.png" "$T/c0.png"       # full range first
	imgcmp -d fade=60:195 "$T/c.png" "$T/f0.png"
	imgcmp -d noise=12 "$T/f0.png" "$T/f.png"
	rs-upload "$T/f.png" >"$T/f.json"
	run -0 --separate-stderr rs-restore --ops denoise,levels <"$T/f.json"
	# black and white about mid-grey: a stretch of 1.5 to 2
	jq -e '.restore.ops[1] | .black + .white == 255 and .black > 40 and .black <= 64' <<<"$output"
	cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$T/r.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/f.png") + 4))" ]
	# a dark picture (blacks at black, no white) is not stretched
	imgcmp -d fade=0:150 "$T/c.png" "$T/d0.png"
	imgcmp -d noise=12 "$T/d0.png" "$T/d.png"
	rs-upload "$T/d.png" >"$T/d.json"
	run -0 --separate-stderr rs-restore --ops denoise,levels <"$T/d.json"
	jq -e '.restore.ops[1] | .white - .black >= 240' <<<"$output"
}

@test "rs-restore: a warm-toned old print keeps the fade stretch and loses its tone whole" {
	img c0 png:320x240
	rs-restore --ops levels -o "$T/c.png" "$T/c0.png"
	imgcmp -d fade=60:195 "$T/c.png" "$T/f0.png"
	imgcmp -d cast=1.15:1.0:0.75 "$T/f0.png" "$T/f1.png"
	imgcmp -d noise=12 "$T/f1.png" "$T/f.png"
	plan='{"classify": {"ops": [{"op": "denoise", "strength": 1},
	    {"op": "levels", "strength": 1, "black": 60, "white": 200},
	    {"op": "white_balance", "strength": 1}]}}'
	rs-upload "$T/f.png" | jq -c ". + $plan" >"$T/f.json"
	run -0 --separate-stderr rs-restore --neutralise-sepia <"$T/f.json"
	jq -e '.restore.ops[1] | .strength == 1 and .toned and .untone and .tone[0] > .tone[2]' <<<"$output"
	# levels took the tone off: white_balance leaves the colours alone
	jq -e '.restore.ops[2] | .untoned_by_levels and .r == 1 and .b == 1' <<<"$output"
	cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$T/r.png"
	[ "$(psnr "$T/c.png" "$T/r.png")" -ge "$(($(psnr "$T/c.png" "$T/f.png") + 5))" ]
	# kept by default: the tone stays, shadows as warm as the lights
	run -0 --separate-stderr rs-restore <"$T/f.json"
	jq -e '.restore.ops[1] | .toned and (has("untone") | not)' <<<"$output"
	jq -e '.restore.ops[2] | .keep_tone' <<<"$output"
	cp "$(obj_file "$(jq -r .output.object <<<"$output")")" "$T/k.png"
	imgcmp -s "$T/k.png" | awk '{ exit !($4 > $6 + 20) }'
}

@test "rs-restore: a classified upscale without --scale sharpens at the same size" {
	img c png:96x64
	rs-upload "$T/c.png" |
	    jq -c '. + {"classify": {"ops": [{"op": "upscale", "strength": 1, "scale": 4}]}}' >"$T/job.json"
	run -0 --separate-stderr rs-restore <"$T/job.json"
	[ "$(jq -c '[.restore.ops[].op]' <<<"$output")" = '["deblur"]' ]
	[ "$(jq '.restore.ops[0].iterations' <<<"$output")" = 5 ]   # gently
	[ "$(jq -r '.output.width' <<<"$output")" = 96 ]
	run -0 --separate-stderr rs-restore --scale 2 <"$T/job.json"
	[ "$(jq -c '[.restore.ops[].op]' <<<"$output")" = '["upscale"]' ]
	[ "$(jq -r '.output.width' <<<"$output")" = 192 ]
}

@test "rs-restore: the record gives the parameters used" {
	img c png:96x64
	imgcmp -d noise=12 "$T/c.png" "$T/n.png"
	rs-upload "$T/n.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --ops denoise,descratch,levels,white_balance <"$T/job.json"
	jq -e '.restore.ops[0].sigma > 8 and .restore.ops[0].sigma < 16' <<<"$output"
	jq -e '.restore.ops[1].flagged >= 0' <<<"$output"
	jq -e '.restore.ops[2] | has("black") and has("white") and has("saturation")' <<<"$output"
	jq -e '.restore.ops[3] | has("r") and has("g") and has("b") and has("keep_tone")' <<<"$output"
}

@test "rs-restore: deblock reads a JPEG's own quantisation tables" {
	img j jpeg:96x64 q=20
	rs-upload "$T/j.jpeg" >"$T/job.json"
	run -0 --separate-stderr rs-restore --backend local --ops deblock <"$T/job.json"
	jq -e '.restore.ops[0].tables == "file" and .restore.ops[0].quality == 20' <<<"$output"
	run -0 --separate-stderr rs-restore --backend local --ops deblock -o "$T/out.png" "$T/j.jpeg"
	[ -z "$output" ]           # a file restored: the image, no record
	[ -s "$T/out.png" ]
}

@test "rs-restore: deblock measures the table of a JPEG saved as PNG" {
	img c png:320x240
	img j jpeg:320x240 q=20
	imgcmp -d noise=0 "$T/j.jpeg" "$T/j.png"       # the decoded pixels, no tables
	rs-upload "$T/j.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --backend local --ops deblock <"$T/job.json"
	jq -e '.restore.ops[0].tables == "measured" and
	    (.restore.ops[0].quality | . >= 18 and . <= 22)' <<<"$output"
	rs-restore --ops deblock -o "$T/r.png" "$T/j.png"
	a=$(imgcmp "$T/c.png" "$T/j.png") b=$(imgcmp "$T/c.png" "$T/r.png")
	# +2.2 dB with the table guessed from the boundary steps, +3.8
	# with the file's own
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > a + 3.3) }'
	# a picture that never was a JPEG has no table to measure
	rs-upload "$T/c.png" >"$T/job.json"
	run -0 --separate-stderr rs-restore --backend local --ops deblock <"$T/job.json"
	jq -e '.restore.ops[0].tables == "estimated"' <<<"$output"
}

@test "rs-restore: a job whose object is missing fails with 66" {
	echo '{"id":"x","inputs":[{"object":"'"$(printf '%064d' 0)"'"}]}' >"$T/job.json"
	run -66 --separate-stderr rs-restore <"$T/job.json"
	failed_with 66 rs-restore
}

@test "rs-restore: a record without inputs is a data error" {
	run -65 --separate-stderr rs-restore <<<'{"id":"x"}'
	failed_with 65 rs-restore
}

@test "rs-restore: bad JSON on stdin is a data error" {
	run -65 --separate-stderr rs-restore <<<'{"id":'
	failed_with 65 rs-restore
}

@test "rs-restore: unknown backends are refused (gemini and exec: in gemini.bats, exec.bats)" {
	img c png:32x32
	run -64 --separate-stderr rs-restore --backend nope -o "$T/r.png" "$T/c.png"
	failed_with 64 rs-restore
	[[ "$stderr" == *"--backend nope: unknown (auto, local, gemini or exec:PROGRAM)"* ]]
	run -64 --separate-stderr rs-restore --backend exec:/no/such/model -o "$T/r.png" "$T/c.png"
	failed_with 64 rs-restore
	[ ! -e "$T/r.png" ]
}

@test "rs-restore: bad options are usage errors" {
	img c png:32x32
	for a in "--ops sharpen" "--ops ," "--strength 2" "--strength x" "--scale 3" "--quality 0" "-j 0" "--nope"; do
		run -64 --separate-stderr rs-restore $a -o "$T/r.png" "$T/c.png"
		failed_with 64 rs-restore || [ "$a" = --nope ]
	done
	run -64 --separate-stderr rs-restore "$T/c.png"
	failed_with 64 rs-restore
	run -64 --separate-stderr rs-restore -o "$T/r.png" "$T/c.png" "$T/c.png"
	failed_with 64 rs-restore
	[ ! -e "$T/r.png" ]
}

@test "rs-restore: a missing file is 66, a non-image 65, nothing written" {
	run -66 --separate-stderr rs-restore -o "$T/r.png" "$T/none.png"
	failed_with 66 rs-restore
	echo "not an image" >"$T/x.png"
	run -65 --separate-stderr rs-restore -o "$T/r.png" "$T/x.png"
	failed_with 65 rs-restore
	img t jpeg:64x48 && truncate -s 200 "$T/t.jpeg"
	run -65 --separate-stderr rs-restore -o "$T/r.png" "$T/t.jpeg"
	failed_with 65 rs-restore
	[ ! -e "$T/r.png" ]
}

@test "rs-restore: an unwritable output is 73 or 66-77, stdout empty" {
	img c png:32x32
	run --separate-stderr rs-restore --ops levels -o "$T/no/such/dir/r.png" "$T/c.png"
	[ "$status" -ne 0 ]
	failed_with "$status" rs-restore
}

@test "rs-restore: --help and --version" {
	run -0 rs-restore --help
	[[ "$output" == usage:* ]]
	run -0 rs-restore --version
	[[ "$output" == "rs-restore "* ]]
}
