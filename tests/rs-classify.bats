# tests/rs-classify.bats: rs-classify(1)
load helper

types='["noise","blur","jpeg","faded","color_cast","scratches","low_resolution"]'

# score TYPE FILE: the score of one degradation type
score() { rs-classify "$2" | jq -r --arg t "$1" '.degradations[] | select(.type == $t) | .score'; }

# rising TYPE FILE...: the scores of TYPE rise strictly along the files
rising() {
	local t=$1 prev=-1 s
	shift
	for f in "$@"; do
		s=$(score "$t" "$f")
		echo "$t $f $s"
		awk -v a="$prev" -v b="$s" 'BEGIN { exit !(b > a) }' || return 1
		prev=$s
	done
}

@test "rs-classify: one line per file, in order, with all seven types" {
	img a jpeg:96x64
	img b png:64x96 gray
	run --separate-stderr rs-classify "$T/a.jpeg" "$T/b.png" "$T/a.jpeg"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[ "$(jq -r .file <<<"${lines[0]}")" = "$T/a.jpeg" ]
	[ "$(jq -r .file <<<"${lines[1]}")" = "$T/b.png" ]
	[ "$(jq -r .mime <<<"${lines[1]}")" = image/png ]
	[ "$(jq -r '.width, .height' <<<"${lines[1]}" | tr '\n' ' ')" = "64 96 " ]
	for l in "${lines[@]}"; do
		jq -e --argjson t "$types" '[.degradations[].type] == $t and
		    all(.degradations[]; (.score | type == "number" and . >= 0 and . <= 1) and
		        (.detected | type == "boolean")) and
		    (.attributes | has("noise_sigma") and has("cast") and has("effective_resolution")) and
		    (.ops | type == "array")' <<<"$l"
	done
}

@test "rs-classify: the same bytes give the same output" {
	img a jpeg:640x480 noise=6
	a=$(rs-classify "$T/a.jpeg")
	b=$(rs-classify - <"$T/a.jpeg")
	[ "$a" = "$(rs-classify "$T/a.jpeg")" ]
	[ "$(jq -c 'del(.file)' <<<"$a")" = "$(jq -c 'del(.file)' <<<"$b")" ]
	[ "$(jq -r .file <<<"$b")" = stdin ]
}

@test "rs-classify: a whole decode (-F, as rs-restore does) gives the same result" {
	img a jpeg:1600x1200 noise=5 scratches=6
	img b png:300x200 blur=1.5
	[ "$(rs-classify "$T/a.jpeg" "$T/b.png")" = "$(rs-classify -F "$T/a.jpeg" "$T/b.png")" ]
}

@test "rs-classify: JPEG quality comes from the quantisation table" {
	img a jpeg:128x96 q=25
	img b jpeg:128x96 q=95
	[ "$(rs-classify "$T/a.jpeg" | jq .attributes.jpeg_quality)" -eq 25 ]
	[ "$(rs-classify "$T/b.jpeg" | jq .attributes.jpeg_quality)" -eq 95 ]
	rs-classify "$T/a.jpeg" | jq -e '.degradations[2].detected and .ops[0].op == "deblock"'
	rs-classify "$T/b.jpeg" | jq -e '.degradations[2].detected | not'
	img p png:128x96
	rs-classify "$T/p.png" | jq -e '.attributes.jpeg_quality == null'
}

@test "rs-classify: a JPEG saved as PNG has its quality measured on the pixels" {
	# texture hides the blocks from the blockiness measure, not from
	# the DCT coefficients, which sit on multiples of the table's steps
	img a jpeg:256x192 texture q=20
	img b jpeg:256x192 texture q=95
	imgcmp -d noise=0 "$T/a.jpeg" "$T/a.png"
	imgcmp -d noise=0 "$T/b.jpeg" "$T/b.png"
	rs-classify "$T/a.png" | jq -e '.attributes.jpeg_tables == "measured" and
	    (.attributes.jpeg_quality - 20 | fabs) <= 3 and
	    .degradations[2].detected and .ops[0].op == "deblock"'
	# once a good JPEG: measured, and not damage
	rs-classify "$T/b.png" | jq -e '.attributes.jpeg_quality >= 85 and
	    (.degradations[2].detected | not)'
	# never a JPEG: nothing measured
	img p png:256x192 texture
	rs-classify "$T/p.png" | jq -e '.attributes.jpeg_quality == null and .attributes.jpeg_tables == null'
	rs-classify "$T/a.jpeg" | jq -e '.attributes.jpeg_tables == "file"'
}

@test "rs-classify: a grayscale image and an alpha channel are reported" {
	img g png:64x64 gray
	img a png:64x64 alpha
	rs-classify "$T/g.png" | jq -e '.attributes.grayscale and (.attributes.alpha | not)'
	rs-classify "$T/a.png" | jq -e '.attributes.alpha'
}

@test "rs-classify: EXIF orientation swaps the reported size" {
	img r jpeg:64x48 orientation=6
	rs-classify "$T/r.jpeg" | jq -e '.width == 48 and .height == 64 and
	    .attributes.width == 48 and .attributes.height == 64'
}

@test "rs-classify: noise score rises with sigma" {
	for s in 0 4 8 16; do img n$s png:320x240 noise=$s; done
	rising noise "$T/n0.png" "$T/n4.png" "$T/n8.png" "$T/n16.png"
	rs-classify "$T/n16.png" | jq -e '.degradations[0].detected and
	    (.attributes.noise_sigma > 10) and any(.ops[]; .op == "denoise")'
}

@test "rs-classify: noise as even as added noise is found from a sigma of about 4" {
	img e5 png:320x240 noise=5
	rs-classify "$T/e5.png" | jq -e '.degradations[0].detected and
	    any(.ops[]; .op == "denoise")'
	img e3 png:320x240 noise=3
	rs-classify "$T/e3.png" | jq -e '(.degradations[0].detected | not) and
	    all(.ops[]; .op != "denoise")'
}

@test "rs-classify: colour blotches are noise: chroma_sigma and the score rise with them, the grain's sigma does not" {
	for s in 0 4 8 14; do img c$s png:320x240 cnoise=$s; done
	rising noise "$T/c0.png" "$T/c4.png" "$T/c8.png" "$T/c14.png"
	rs-classify "$T/c0.png" | jq -e '(.degradations[0].detected | not) and .attributes.chroma_sigma < 1'
	rs-classify "$T/c8.png" | jq -e '.degradations[0].detected and .attributes.noise_sigma < 2 and
	    .attributes.chroma_sigma > 4 and
	    any(.ops[]; .op == "denoise" and .chroma_sigma > 4 and (has("sigma") | not))'
	# white noise reads about alike in chroma_sigma but is grain, not blotches
	img w png:320x240 noise=3
	rs-classify "$T/w.png" | jq -e '(.degradations[0].detected | not) and .attributes.chroma_sigma > 1.5'
	img g png:320x240 gray
	rs-classify "$T/g.png" | jq -e '.attributes.chroma_sigma == 0'
}

@test "rs-classify: noise_levels rise with the level under shot noise, stay flat under grain" {
	img l png:320x240 lnoise=1.5
	img n png:320x240 noise=10
	rs-classify "$T/l.png" | jq -e '.attributes.noise_levels | length == 8 and
	    ([.[] | select(. != null)] | length >= 4 and
	     (. as $v | all(range(1; length); $v[.] > $v[. - 1])) and .[-1] > 1.5 * .[0])'
	rs-classify "$T/n.png" | jq -e '[.attributes.noise_levels[] | select(. != null)] |
	    length >= 4 and max < 1.25 * min'
}

@test "rs-classify: JPEG score rises as quality falls" {
	for q in 90 50 30 10; do img j$q jpeg:320x240 q=$q; done
	rising jpeg "$T/j90.jpeg" "$T/j50.jpeg" "$T/j30.jpeg" "$T/j10.jpeg"
}

@test "rs-classify: fade score rises with the lift of blacks and whites" {
	for s in 0 20 40 60; do img f$s png:320x240 fade=$s; done
	rising faded "$T/f0.png" "$T/f20.png" "$T/f40.png" "$T/f60.png"
	rs-classify "$T/f60.png" | jq -e '.degradations[3].detected and
	    any(.ops[]; .op == "levels" and .black > 40 and .white < 215)'
}

@test "rs-classify: colour cast score rises with the cast" {
	for s in 0 3 6 9; do img c$s png:320x240 desat=0.7 sepia=0.$s; done
	rising color_cast "$T/c0.png" "$T/c3.png" "$T/c6.png" "$T/c9.png"
	for s in 0 1 2 3; do img b$s png:320x240 desat=0.7 cast=0.$s; done
	rising color_cast "$T/b0.png" "$T/b1.png" "$T/b2.png" "$T/b3.png"
	rs-classify "$T/b3.png" | jq -e '.degradations[4].detected and .attributes.cast.b < 1 and
	    .attributes.cast.direction == "blue" and any(.ops[]; .op == "white_balance")'
}

@test "rs-classify: a ripple at 3/8 in a JPEG is its grid's, not an enlargement's" {
	# a clean photo at quality 90 whose ripple sits at 3/8, on the grid
	run rs-classify "$BATS_TEST_DIRNAME/data/chelsea-q90.jpg"
	[ "$status" -eq 0 ]
	echo "$output"
	jq -e '.attributes.jpeg_quality == 90 and ([.degradations[] | select(.detected)] | length) == 0' <<<"$output"
}

# tinted FILE R G B: a scene of soft coloured shapes (blurred noise)
# under channel gains R, G, B
tinted() {
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
rng = np.random.default_rng(3)
soft = lambda: scenes.soft(rng)
a = (20 + 210 * soft())[..., None] * (0.75 + 0.25 * np.stack([soft() for _ in range(3)], 2))
g = np.array([float(v) for v in sys.argv[2:5]])
Image.fromarray(np.uint8(np.clip(a * g + 0.5, 0, 255))).save(sys.argv[1])
PY
}

# soft FILE SIGMA: a soft picture all of texture (noise blurred by a
# Gaussian of 0.8, its detail growing at half scale), warm, with
# Gaussian noise of SIGMA drawn in each channel alone
soft() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(5)
t = Image.fromarray(np.uint8(np.clip(128 + 50 * rng.normal(0, 1, (240, 320)), 0, 255)))
a = np.asarray(t.filter(ImageFilter.GaussianBlur(0.8)), dtype=float)
a = 128 + (a - a.mean()) * 60 / a.std()
rgb = a[..., None] * np.array([1.0, 0.9, 0.75]) + 20
rgb = rgb + float(sys.argv[2]) * rng.normal(0, 1, rgb.shape)
Image.fromarray(np.uint8(np.clip(rgb + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: noise in each channel alone is found where the scale comparison fails" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	soft "$T/clean.png" 0
	soft "$T/noisy.png" 6
	run rs-classify "$T/clean.png" "$T/noisy.png"
	[ "$status" -eq 0 ]
	echo "$output"
	sed -n 1p <<<"$output" | jq -e '.degradations[0].detected == false and .attributes.noise_sigma < 1'
	sed -n 2p <<<"$output" | jq -e '.degradations[0].detected and .attributes.noise_sigma > 5 and .attributes.noise_sigma < 7.5'
	sed -n 2p <<<"$output" | jq -e '.ops[] | select(.op == "denoise") | .sigma > 5'
}

# strands FILE C: coarse strands of two colours, dark brown and light
# grey-blue, whose colour changes with their luma (as fur's does), and a
# smooth strip down the left edge (a twentieth of the picture); with C
# > 0, colour blotches: Cb and Cr noise blurred by a sigma of 1,
# rescaled to sigma C
strands() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(11)
h, w = 240, 320
def blur(a, s):
    im = Image.fromarray(np.uint8(np.clip(128 + 40 * a, 0, 255)))
    return (np.asarray(im.filter(ImageFilter.GaussianBlur(s)), dtype=float) - 128) / 40
t = blur(rng.normal(0, 1, (h, w)), 2.0)
t = (t - t.mean()) / t.std()
x = np.where((t > 0)[..., None], [[[90, 60, 35]]], [[[170, 180, 200]]]) * (1 + 0.25 * t)[..., None]
x[:, : w // 16] = np.linspace(90, 170, h)[:, None, None] * np.array([1.0, 0.95, 0.9])
c = float(sys.argv[2])
if c > 0:
    n = np.stack([blur(rng.normal(0, 1, (h, w)), 1.0) for _ in range(2)], 2)
    n = n / n.std() * c
    x = x + n[..., 0:1] * np.array([0, -0.344136, 1.772]) + n[..., 1:2] * np.array([1.402, -0.714136, 0])
Image.fromarray(np.uint8(np.clip(x + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: colour detail that comes with luma detail is not colour noise, blotches on it are" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# the blotches are read on the blocks flattest in luma: the strip
	strands "$T/fur.png" 0
	strands "$T/blotched.png" 8
	run rs-classify "$T/fur.png" "$T/blotched.png"
	[ "$status" -eq 0 ]
	echo "$output"
	sed -n 1p <<<"$output" | jq -e '.degradations[0].detected == false and .attributes.chroma_sigma < 1'   # was 4.8, detected
	sed -n 2p <<<"$output" | jq -e '.degradations[0].detected and .attributes.chroma_sigma > 4'
}

@test "rs-classify: chroma whose blocks are flat to rounding reads chroma_sigma 0, not null" {
	# at quality 10 the chroma of most blocks is a plane, and its sum of
	# squares about the plane rounds a hair below 0
	img j jpeg:256x256 seed=7 q=10
	rs-classify "$T/j.jpeg" | jq -e '.attributes.chroma_sigma == 0'    # was null
}

@test "rs-classify: a faint cool tint is a cast, a magenta one as faint is not" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# about the same distance from grey (log chroma 0.08): blue and cyan
	# are rarely a scene's own, a magenta (skin, flowers) often is
	tinted "$T/cool.png" 0.95 1 1.055
	tinted "$T/magenta.png" 1.06 1 1.09
	run rs-classify "$T/cool.png" "$T/magenta.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[4].detected')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[4].detected')" = false ]
}

@test "rs-classify: a sepia print is a cast with direction sepia" {
	img s png:320x240 sepia=1
	rs-classify "$T/s.png" | jq -e '.degradations[4].detected and
	    .attributes.cast.direction == "sepia" and .attributes.toned == "sepia"'
}

@test "rs-classify: a lightly toned print is a cast too" {
	img s png:320x240 desat=1 sepia=0.25
	rs-classify "$T/s.png" | jq -e '.degradations[4].detected and .attributes.toned == "sepia"'
}

# foliage FILE R G B: yellow-green leaves over the whole tonal range and,
# in the lower third, a grey pot in shade (neutral, never among the
# brightest pixels), under channel gains R, G, B
foliage() {
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
rng = np.random.default_rng(5)
soft = lambda: scenes.soft(rng)
lum = 25 + 215 * soft()
a = lum[..., None] * np.stack([0.80 + 0.1 * soft(), np.ones((240, 320)), 0.45 + 0.1 * soft()], 2)
pot = np.zeros((240, 320), bool)
pot[150:, 60:200] = True
a[pot] = (20 + 110 * soft()[pot])[:, None] * np.ones(3)
g = np.array([float(v) for v in sys.argv[2:5]])
Image.fromarray(np.uint8(np.clip(a * g + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: a scene of one colour with neutral shadows is no cast; the same under warm light is" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# the brightest pixels, and their less coloured half, are all leaves:
	# only the grey pot, in shade, tells that the light is white
	foliage "$T/leaves.png" 1 1 1
	foliage "$T/warm.png" 1.1 1 0.85
	run rs-classify "$T/leaves.png" "$T/warm.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[4].detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[4].detected')" = true ]
}

# patchwork FILE GAMMA: a 4x4 patchwork of sixteen hues, evenly spread
# round the circle (saturation 0.3) over soft light, then each channel
# raised to GAMMA (2.2: a low-key tone curve)
patchwork() {
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
rng = np.random.default_rng(3)
soft = lambda: scenes.soft(rng)
lum = 30 + 210 * soft()
hue = np.kron((rng.permutation(16) * 2 * np.pi / 16).reshape(4, 4), np.ones((60, 80)))
a = lum[..., None] * np.stack([1 + 0.3 * np.cos(hue + k * 2.094) for k in (0, -1, 1)], 2)
a = 255 * (np.clip(a, 0, 255) / 255) ** float(sys.argv[2])
Image.fromarray(np.uint8(np.clip(a + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: a colourful scene is no cast, nor is it through a low-key curve" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# the curve multiplies every log chroma by 2.2: the scene's chroma
	# spreads, and the faint lean its bright and least coloured pixels
	# have by chance grows with it
	patchwork "$T/p.png" 1
	patchwork "$T/lk.png" 2.2
	run rs-classify "$T/p.png" "$T/lk.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[4].detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[4].detected')" = false ]
}

@test "rs-classify: scratch score rises with the number of scratches" {
	for n in 0 1 3 8; do img s$n png:320x240 scratches=$n; done
	rising scratches "$T/s0.png" "$T/s1.png" "$T/s3.png" "$T/s8.png"
}

@test "rs-classify: under heavy grain, scratch score still rises with the number of scratches" {
	for n in 0 2 4 8; do img s$n png:320x240 noise=15 scratches=$n; done
	rising scratches "$T/s0.png" "$T/s2.png" "$T/s4.png" "$T/s8.png"
}

@test "rs-classify: blur score rises with sigma" {
	for s in 0 1 2 3; do img b$s png:320x240 blur=$s; done
	rising blur "$T/b0.png" "$T/b1.png" "$T/b2.png" "$T/b3.png"
}

@test "rs-classify: a streak of camera shake is blur, its length and angle read and planned" {
	img c png:320x240
	img t png:320x240 strokes=6
	for f in c t; do
		imgcmp -d motion=9:30 "$T/$f.png" "$T/${f}m.png"
		imgcmp -d motion=14:120 "$T/$f.png" "$T/${f}n.png"
		run -0 rs-classify "$T/$f.png" "$T/${f}m.png" "$T/${f}n.png"
		jq -se '.[0].attributes.motion == null and
		    ([.[0].ops[] | select(.op == "deblur")] | length) == 0' <<<"$output"
		jq -se '.[1] | (.degradations[] | select(.type == "blur") | .detected) and
		    (.attributes.motion.length - 9 | fabs) < 0.5 and (.attributes.motion.angle - 30 | fabs) < 3 and
		    (.ops[] | select(.op == "deblur") | (.length - 9 | fabs) < 0.5 and has("sigma") == false)' <<<"$output"
		jq -se '.[2] | (.degradations[] | select(.type == "blur") | .detected) and
		    (.attributes.motion.length - 14 | fabs) < 0.5 and (.attributes.motion.angle - 120 | fabs) < 3' <<<"$output"
	done
	# a Gaussian blur has no streak, nor a disk's ring
	img g png:320x240 blur=2
	run -0 rs-classify "$T/g.png"
	jq -e '.attributes.motion == null and .attributes.defocus == null and
	    (.ops[] | select(.op == "deblur") | has("sigma"))' <<<"$output"
}

@test "rs-classify: a defocus disk is blur, its radius read and planned" {
	img c png:320x240
	img t png:320x240 strokes=6
	for f in c t; do
		for r in 2 3 4; do
			imgcmp -d disk=$r "$T/$f.png" "$T/$f$r.png"
			run -0 rs-classify "$T/$f$r.png"
			jq -e --argjson r $r '(.degradations[] | select(.type == "blur") | .detected) and
			    .attributes.motion == null and (.attributes.defocus.radius - $r | fabs) < 0.3 and
			    (.ops[] | select(.op == "deblur") | (.radius - $r | fabs) < 0.3)' <<<"$output"
		done
		run -0 rs-classify "$T/$f.png"
		jq -e '.attributes.defocus == null' <<<"$output"
	done
}

@test "rs-classify: a defocused background is not a blurred photo" {
	img all png:320x240 texture blur=3
	img part png:320x240 texture blur=3 focus=0.6    # the centre in focus
	run rs-classify "$T/all.png" "$T/part.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '[.ops[].op] | index("deblur")')" = null ]
}

# defocus FILE SUB: a scene of natural statistics (power falling as
# 1/f^2.9) whose centre, an ellipse of SUB times the half width and
# height, keeps its detail before the rest defocused by a disk of
# radius 6; SUB 0: the whole frame defocused
defocus() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
out, sub = sys.argv[1], float(sys.argv[2])
rng = np.random.default_rng(3)
h, w = 240, 320
fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
f2 = fx ** 2 + fy ** 2
gauss = lambda a, s: np.real(np.fft.ifft2(np.fft.fft2(a) * np.exp(-2 * np.pi ** 2 * s * s * f2)))
spec = (rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))) / np.maximum(f2, 1e-6) ** 0.725
s = gauss(np.real(np.fft.ifft2(spec)), 0.1)
y, x = np.mgrid[0:h, 0:w]
disk = (np.minimum(x, w - x) ** 2 + np.minimum(y, h - y) ** 2 <= 36).astype(float)
b = np.real(np.fft.ifft2(np.fft.fft2(s) * np.fft.fft2(disk / disk.sum())))
m = 0 if sub == 0 else gauss((((x - 160) / (160 * sub)) ** 2 + ((y - 120) / (120 * sub)) ** 2 < 1).astype(float), 3)
a = m * s + (1 - m) * b
a = 30 + 190 * (a - a.min()) / (a.max() - a.min())
Image.fromarray(np.uint8(a + 0.5)).convert("RGB").save(out)
PY
}

@test "rs-classify: a blur far more uneven across scales than one blur makes is a defocused background, though the part in focus holds few sharp edges" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	defocus "$T/part.png" 0.4
	defocus "$T/all.png" 0
	run env RS_CLASSIFY_RAW=1 rs-classify "$T/part.png" "$T/all.png"
	[ "$status" -eq 0 ]
	echo "$output"
	# no sharp part and its detail spread: only the unevenness tells
	[ "$(sed -n 1p <<<"$output" | jq '.attributes._raw.uneven >= 4 and .attributes._raw.conc < 5 and .attributes._raw.sharp_part < 0.02')" = true ]
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = false ]
	[ "$(sed -n 1p <<<"$output" | jq '[.ops[].op] | index("deblur")')" = null ]
	[ "$(sed -n 2p <<<"$output" | jq '.attributes._raw.uneven < 1')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = true ]
}

@test "rs-classify: a blur of the whole frame saved as JPEG is called, though the blocks' edges read it uneven" {
	# the block edges put energy back into the fine octave alone: the
	# blur reads uneven 2.5 to 4.6 with its detail spread, as a subject
	# in focus before a background blurred far more can
	img a jpeg:320x240 blur=3 q=50
	img b jpeg:320x240 blur=3 q=75
	run rs-classify "$T/a.jpeg" "$T/b.jpeg"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(jq -s '[.[] | .degradations[] | select(.type == "blur") | .detected] | all' <<<"$output")" = true ]
}

@test "rs-classify: a blur uneven across scales is still called where the fine detail is spread over the frame" {
	# the soft ellipse keeps more of the fine octave than the background
	# (the blur reads uneven), but the scene's fine detail is not held
	# in one part of it, as a subject in focus holds it
	img all png:320x240 soft=0.7 blur=3
	img part png:320x240 soft=0.7 blur=3 focus=0.4
	run env RS_CLASSIFY_RAW=1 rs-classify "$T/all.png" "$T/part.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.attributes._raw.uneven >= 0.65 and .attributes._raw.conc < 5')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '[.ops[].op] | index("deblur") != null')" = true ]
}

@test "rs-classify: under grain, real thin detail counts as sharpness and hides no blur" {
	img sharp png:320x240 highlights rims grain=15
	img soft png:320x240 highlights rims blur=1.5 grain=15
	img tex png:320x240 texture blur=1.5 grain=12
	run rs-classify "$T/sharp.png" "$T/soft.png" "$T/tex.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq -c '[.degradations[] | select(.detected) | .type]')" = '["noise"]' ]
	[ "$(sed -n 2p <<<"$output" | jq '[.degradations[] | select(.type == "blur" or .type == "scratches") | .detected]')" = "$(jq -n '[true, false]')" ]
	[ "$(sed -n 3p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = true ]
}

# grain NAME SIGMA: add monochrome Gaussian grain to $T/NAME.png (as the
# grain of an old print comes after its blur, which mkimg cannot do)
grain() {
	/usr/bin/python3 - "$T/$1.png" "$2" <<'PY'
import sys
import numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert("RGB"), np.float32)
n = np.random.default_rng(1).standard_normal(a.shape[:2])[..., None] * float(sys.argv[2])
Image.fromarray(np.clip(np.rint(a + n), 0, 255).astype(np.uint8)).save(sys.argv[1])
PY
}

@test "rs-classify: under heavy grain, a blurred picture is blur and a sharp one is not" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	img sharp png:320x240
	img soft png:320x240 blur=1.5
	grain sharp 15
	grain soft 15
	run rs-classify "$T/sharp.png" "$T/soft.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "noise") | .detected')" = true ]
}

@test "rs-classify: under grain that clips its tails, a faded picture is faded and a clean one is not" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	img faded png:320x240 fade=30
	img clean png:320x240
	grain faded 30
	grain clean 30
	run rs-classify "$T/faded.png" "$T/clean.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]
}

# texture FILE LO HI: a fine texture filling a 320x240 picture (blurred
# Gaussian noise), its 1st and 99th percentiles at LO and HI
texture() {
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
a = scenes.fine(np.random.default_rng(7))
lo, hi = np.percentile(a, 1), np.percentile(a, 99)
a = float(sys.argv[2]) + (a - lo) * ((float(sys.argv[3]) - float(sys.argv[2])) / (hi - lo))
Image.fromarray(np.uint8(np.clip(a + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: a texture low in contrast by nature is not faded, a scene with the same levels is" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# a fine texture filling the picture, its 1st and 99th percentiles at
	# 60 and 195; mkimg's scene faded to about the same levels
	texture "$T/tex.png" 60 195
	img scene png:320x240 fade=40
	run rs-classify "$T/tex.png" "$T/scene.png"
	[ "$status" -eq 0 ]
	echo "$output"
	sed -n 1p <<<"$output" | jq -e '.attributes.black_level > 50 and .attributes.white_level < 205'
	sed -n 2p <<<"$output" | jq -e '.attributes.black_level > 50 and .attributes.white_level < 205'
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
}

@test "rs-classify: blacks lifted alone are a fade; a bright scene whose darkest tones merely thin out is not" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# whites kept, blacks lifted to 80: no two-sided lift to read
	img s png:320x240 strokes=6
	imgcmp -d fade=80:255 "$T/s.png" "$T/l.png"
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/l.png"
	jq -e '.attributes._raw.lift_y < 39.5 and .attributes._raw.wall_y <= 20 and
	    (.degradations[] | select(.type == "faded") | .detected) and
	    (.ops[] | select(.op == "levels") | .black > 70)' <<<"$output"
	# a bright scene of natural statistics with no black (luma 170 +- 35):
	# as lifted by the blacks' side, but its histogram starts gently
	/usr/bin/python3 - "$T/p.png" <<'PY'
import sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(5)
h, w = 240, 320
f2 = np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2
spec = (rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))) / np.maximum(f2, 1e-6) ** 0.725
s = np.real(np.fft.ifft2(spec))
a = np.clip(170 + 35 * (s - s.mean()) / s.std(), 0, 255)
Image.fromarray(np.uint8(a + 0.5)).save(sys.argv[1])
PY
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/p.png"
	jq -e '.attributes._raw.lift_b - 10 > 39.5 and .attributes._raw.wall_y > 20 and
	    (.degradations[] | select(.type == "faded") | .detected | not) and
	    ([.ops[].op] | index("levels") == null)' <<<"$output"
	# the same scene faded further: now its blacks pile up, a fade
	imgcmp -d fade=60:255 "$T/p.png" "$T/pf.png"
	run -0 rs-classify "$T/pf.png"
	jq -e '.degradations[] | select(.type == "faded") | .detected' <<<"$output"
	# a lifted scene with a true black in it after all (a black square of
	# 6 to 20 pixels, in the darkest or the sharpest blocks): no fade
	img c png:320x240
	imgcmp -d fade=80:255 "$T/c.png" "$T/cl.png"
	for n in 6 8 16 20; do
		/usr/bin/python3 -c 'import sys; import numpy as np; from PIL import Image
a = np.array(Image.open(sys.argv[1])); n = int(sys.argv[3]); a[100:100 + n, 100:100 + n] = 0
Image.fromarray(a).save(sys.argv[2])' "$T/cl.png" "$T/sq.png" $n
		run -0 rs-classify "$T/sq.png"
		jq -e '.degradations[] | select(.type == "faded") | .detected | not' <<<"$output"
	done
}

@test "rs-classify: a fade that grows across the frame is read where it is strongest; a dusk sky is not a fade" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	fade_scene "$T/c.png" "$T/u.png"
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/c.png"
	jq -e '(.degradations[] | select(.type == "faded") | .detected | not) and
	    (.attributes._raw | has("tilt_c") | not)' <<<"$output"
	# black 20 -> 80 across: its left side looks unfaded (scored 0.13
	# before the tilt was read)
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/u.png"
	jq -e '(.degradations[] | select(.type == "faded") | .score > 0.9) and
	    (.attributes._raw.tilt_px | . > 45 and . < 70) and
	    (.attributes._raw.tilt_py | fabs < 10)' <<<"$output"
	# over 1 MP rs-classify reads bands of rows, some cells none: the
	# plane from those read (was unread: not called)
	fade_scene "$T/bc.png" "$T/bu.png" 2000 1500
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/bu.png"
	jq -e '(.degradations[] | select(.type == "faded") | .detected) and
	    (.attributes._raw.tilt_px | . > 45 and . < 70)' <<<"$output"
	run -0 rs-classify "$T/bc.png"
	jq -e '.degradations[] | select(.type == "faded") | .detected | not' <<<"$output"
	# the same scene faded evenly: a fade, no tilt
	imgcmp -d fade=50:215 "$T/c.png" "$T/f.png"
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/f.png"
	jq -e '(.degradations[] | select(.type == "faded") | .detected) and
	    (.attributes._raw | has("tilt_c") | not)' <<<"$output"
	# a dusk sky filling the frame: every cell's black on a plane that
	# rises 60 levels, but the cells are flat (was called faded)
	/usr/bin/python3 - "$T/sky.png" <<'PY'
import sys
import numpy as np
from PIL import Image
y = np.linspace(0, 1, 240)[:, None] * np.ones((1, 320))
r = 30 + 60 * y
a = np.dstack([r, r + 20, r + 80]) + np.random.default_rng(1).normal(0, 2, (240, 320, 3))
Image.fromarray(np.uint8(np.clip(a, 0, 255) + 0.5)).save(sys.argv[1])
PY
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/sky.png"
	jq -e '(.degradations[] | select(.type == "faded") | .detected | not) and
	    (.attributes._raw | has("tilt_c") | not)' <<<"$output"
}

@test "rs-classify: a defocused background does not make a picture faded, a fade still is" {
	# the scene's levels at 36 (sharp), its background blurred by 6 px:
	# the blur takes the background's extremes (the whole reads 49), the
	# part in focus keeps them; the same scene faded by 35 reads 57 there
	img bokeh png:320x240 fade=8 blur=6 focus=0.5
	img faded png:320x240 fade=35 blur=6 focus=0.5
	run env RS_CLASSIFY_RAW=1 rs-classify "$T/bokeh.png" "$T/faded.png"
	[ "$status" -eq 0 ]
	echo "$output"
	sed -n 1p <<<"$output" | jq -e '.attributes._raw.lift_y > 45 and .attributes._raw.lift_focus < 40'
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]
	sed -n 1p <<<"$output" | jq -e 'all(.ops[]; .op != "levels")'
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
}

# seeds FILE LO HI: a close-up of soft shapes between 60 and 190 with a
# few small deep details (dark seeds, bright glints: 0.5 % of it), its
# levels then squeezed into LO..HI
seeds() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(5)
im = Image.fromarray(np.uint8(np.clip(128 + 60 * rng.normal(0, 1, (240, 320)), 0, 255)))
a = np.asarray(im.filter(ImageFilter.GaussianBlur(6)), dtype=float)
a = 60 + 130 * (a - a.min()) / (a.max() - a.min())
yy, xx = np.mgrid[0:240, 0:320]
for k in range(12):
    cy, cx = rng.uniform(10, 230), rng.uniform(10, 310)
    a = np.where(((yy - cy) / 2.5) ** 2 + ((xx - cx) / 4) ** 2 < 1, 15 if k % 2 else 240, a)
a = np.asarray(Image.fromarray(np.uint8(a + 0.5)).filter(ImageFilter.GaussianBlur(0.7)), float)
lo, hi = (float(v) for v in sys.argv[2:4])
Image.fromarray(np.uint8(np.clip(lo + a * (hi - lo) / 255 + 0.5, 0, 255))).save(sys.argv[1])
PY
}

# blocky FILE K: a soft scene whose 8x8 blocks are offset a little each
# (the grid a JPEG leaves, its tables gone), then, for K > 1, shrunk by
# K and enlarged back
blocky() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(2)
im = Image.fromarray(np.uint8(np.clip(128 + 60 * rng.normal(0, 1, (240, 320)), 0, 255)))
a = np.asarray(im.filter(ImageFilter.GaussianBlur(1.5)), float)
a = 40 + 170 * (a - a.min()) / (a.max() - a.min())
a = a + np.kron(rng.normal(0, 3, (30, 40)), np.ones((8, 8)))
im = Image.fromarray(np.uint8(np.clip(a + 0.5, 0, 255)))
k = int(sys.argv[2])
if k > 1:
    im = im.resize((320 // k, 240 // k), Image.BOX).resize((320, 240), Image.BICUBIC)
im.save(sys.argv[1])
PY
}

@test "rs-classify: a JPEG grid's ripple at 1/4 is no enlargement, an enlargement by 4 is one" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# both ripple at 1/4; the grid's comes with one at 1/8 and edges
	# sharper than an enlargement by 4 leaves
	blocky "$T/grid.png" 1
	blocky "$T/x4.png" 4
	run env RS_CLASSIFY_RAW=1 rs-classify "$T/grid.png" "$T/x4.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.attributes._raw.pfreq > 0.24 and .attributes._raw.pfreq < 0.26')" = true ]
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "low_resolution") | .detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "low_resolution") | .detected')" = true ]
}

# bokeh_jpeg FILE: a subject of fine texture in focus before a background
# defocused by a Gaussian of sigma 5, saved as a JPEG at quality 90 and
# that JPEG as PNG (its grid's ripple at 1/4 left, its tables gone)
bokeh_jpeg() {
	/usr/bin/python3 - "$@" <<'PY'
import io, sys
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(2)
im = Image.fromarray(np.uint8(np.clip(128 + 60 * rng.normal(0, 1, (240, 320)), 0, 255)))
s = np.asarray(im.filter(ImageFilter.GaussianBlur(1.0)), float)
b = np.asarray(im.filter(ImageFilter.GaussianBlur(5.0)), float)
b = 128 + (b - b.mean()) * s.std() / b.std()
y, x = np.mgrid[0:240, 0:320]
a = np.where(((x - 160) / 80) ** 2 + ((y - 120) / 60) ** 2 < 1, s, b)
a = 40 + 170 * (a - a.min()) / (a.max() - a.min())
buf = io.BytesIO()
Image.fromarray(np.uint8(a + 0.5)).convert("RGB").save(buf, "JPEG", quality=90)
Image.open(buf).save(sys.argv[1])
PY
}

@test "rs-classify: a JPEG of a subject in focus before a defocused background is no enlargement" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# the grid's ripple at 1/4 and most edges (the background's) as soft
	# as an enlargement by 4 leaves them; the subject's are not
	bokeh_jpeg "$T/bokeh.png"
	run env RS_CLASSIFY_RAW=1 rs-classify "$T/bokeh.png"
	[ "$status" -eq 0 ]
	echo "$output"
	jq -e '.attributes._raw.pfreq > 0.24 and .attributes._raw.pfreq < 0.26 and .attributes.effective_resolution < 0.35' <<<"$output"
	jq -e '.degradations[] | select(.type == "low_resolution") | .detected | not' <<<"$output"
}

# deep_not_faded SIGMA: $T/close.png (luma's noise over SIGMA) reads
# no black or white in bulk but deep small details and is not faded;
# $T/faded.png is
deep_not_faded() {
	run env RS_CLASSIFY_RAW=1 rs-classify "$T/close.png" "$T/faded.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq --argjson s "$1" '.attributes._raw.sigma_y >= $s and .attributes._raw.lift_y > 60 and .attributes._raw.lift_deep < 30')" = true ]
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
}

@test "rs-classify: a scene without black or white in bulk but deep small details is not faded, its fade is" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# its 1st and 99th percentiles of luma lie 88 levels in, as far as
	# a fade's; a fade lifts the seeds and glints too (to 53 levels
	# in), the scene keeps them deep (19)
	seeds "$T/close.png" 0 255
	seeds "$T/faded.png" 40 215
	deep_not_faded 0
}

@test "rs-classify: under grain, a scene with deep small details is still not faded, its fade still is" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# the scene above and its fade under grain of sigma 7: the blocks'
	# extremes are the grain's, the medians of 4x4 cells keep the seeds
	# deep (about 22 levels in) and the fade's lifted (about 54)
	seeds "$T/close.png" 0 255
	seeds "$T/faded.png" 40 215
	grain close 7
	grain faded 7
	deep_not_faded 5
}

# saturated FILE LO HI: soft patches of four saturated colours (orange,
# teal, purple, yellow-green: each has a channel near 0 and one near
# 250, their luma 65 to 187), levels squeezed into LO..HI
saturated() {
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
rng = np.random.default_rng(7)
pal = np.array([[250, 120, 5], [5, 150, 160], [120, 10, 200], [170, 230, 10]], float)
lab = np.argmax(np.stack([scenes.soft(rng) for _ in range(4)], 2), 2)
a = pal[lab] * (0.85 + 0.15 * scenes.soft(rng))[..., None]
lo, hi = (float(v) for v in sys.argv[2:4])
Image.fromarray(np.uint8(np.clip(lo + a * (hi - lo) / 255 + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: saturated colours that keep luma off black and white are not faded, their fade is" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# luma's lift is about 60 either way; the channels' blacks reach 5
	# in the scene, 54 in its fade
	saturated "$T/scene.png" 0 255
	saturated "$T/faded.png" 50 205
	run rs-classify "$T/scene.png" "$T/faded.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '.attributes.black_level < 10')" = true ]
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]   # was true
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
}

# brick_wall FILE CURVE: a texture whose darkest 5 % pile up at one tone
# (bricks' mortar), at 80 to 195; CURVE is none, highkey (a bright
# rendering, 1 - (1 - x)^2.2) or lift (blacks lifted to 90, whites kept)
brick_wall() {
	PYTHONPATH="$BATS_TEST_DIRNAME" /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
from PIL import Image
import scenes
a = scenes.fine(np.random.default_rng(7))
lo, hi = np.percentile(a, 5), np.percentile(a, 99)
a = 80 + (np.maximum(a, lo) - lo) * (115 / (hi - lo))
if sys.argv[2] == "highkey":
    a = 255 - 255 * (1 - np.clip(a, 0, 255) / 255) ** 2.2
elif sys.argv[2] == "lift":
    a = 90 + a * (165 / 255)
Image.fromarray(np.uint8(np.clip(a + 0.5, 0, 255))).save(sys.argv[1])
PY
}

@test "rs-classify: a texture's blacks lifted alone are a fade; the same texture rendered high-key is not" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# both start at a wall near 140 (the mortar); the high-key one's
	# whites reach 245, the lifted one's stay near 216
	brick_wall "$T/c.png" none
	brick_wall "$T/h.png" highkey
	brick_wall "$T/l.png" lift
	run -0 env RS_CLASSIFY_RAW=1 rs-classify "$T/c.png" "$T/h.png" "$T/l.png"
	echo "$output"
	sed -n 2p <<<"$output" | jq -e '.attributes._raw.lift_b > 130 and .attributes._raw.wall_y <= 20'
	sed -n 3p <<<"$output" | jq -e '.attributes._raw.lift_b > 130 and .attributes._raw.wall_y <= 20'
	[ "$(sed -n 1p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]   # was true
	[ "$(sed -n 3p <<<"$output" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
}

@test "rs-classify: a faded texture is stretched to a narrower range than a faded scene" {
	/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null || skip "needs /usr/bin/python3 with numpy and PIL"
	# the texture above, faded to 1st and 99th percentiles at 110 and 150
	texture "$T/tex.png" 110 150
	img scene png:320x240 fade=60
	run rs-classify "$T/tex.png" "$T/scene.png"
	[ "$status" -eq 0 ]
	echo "$output"
	sed -n 1p <<<"$output" | jq -e 'any(.ops[]; .op == "levels" and .span < 255)'
	sed -n 2p <<<"$output" | jq -e 'any(.ops[]; .op == "levels" and has("span") | not)'
}

@test "rs-classify: scratches do not hide a blur, nor make a sharp picture blurred" {
	img soft png:320x240 blur=2 scratches=8
	img sharp png:320x240 scratches=8
	run rs-classify "$T/soft.png" "$T/sharp.png"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(sed -n 1p <<<"$output" | jq '[.degradations[] | select(.detected) | .type] | index("blur") != null and index("scratches") != null')" = true ]
	[ "$(sed -n 2p <<<"$output" | jq '.degradations[] | select(.type == "blur") | .detected')" = false ]
}

@test "rs-classify: low resolution score rises with the upscale factor" {
	for s in 1 3 4; do img u$s png:320x240 noise=20 upscale=$s; done
	rising low_resolution "$T/u1.png" "$T/u3.png" "$T/u4.png"
	rs-classify "$T/u4.png" | jq -e '.attributes.effective_resolution < 0.6 and
	    any(.ops[]; .op == "upscale")'
}

@test "rs-classify: a 2x enlargement is low resolution, its original is not" {
	img u1 png:320x240 noise=20 upscale=1
	img u2 png:320x240 noise=20 upscale=2
	rs-classify "$T/u1.png" | jq -e '.degradations[6].detected | not'
	rs-classify "$T/u2.png" | jq -e '.degradations[6].detected and .attributes.effective_resolution <= 0.5'
}

@test "rs-classify: a JPEG's own 8x8 grid is not an enlargement" {
	img j jpeg:640x480 q=90 noise=6
	rs-classify "$T/j.jpeg" | jq -e '.degradations[6].detected | not'
}

@test "rs-classify: a missing file is status 66" {
	run --separate-stderr rs-classify "$T/none.jpeg"
	failed_with 66 rs-classify
	[[ "$stderr" == "rs-classify: $T/none.jpeg: "* ]]
}

@test "rs-classify: an empty file is a data error" {
	: >"$T/e.jpeg"
	run --separate-stderr rs-classify "$T/e.jpeg"
	failed_with 65 rs-classify
	[[ "$stderr" == "rs-classify: $T/e.jpeg: "* ]]
}

@test "rs-classify: a file that is not an image is a data error" {
	echo "hello, world" >"$T/t.jpeg"
	run --separate-stderr rs-classify "$T/t.jpeg"
	failed_with 65 rs-classify
	[[ "$stderr" == "rs-classify: $T/t.jpeg: not an image"* ]]
}

@test "rs-classify: a truncated JPEG is a data error" {
	img t jpeg:640x480 && truncate -s 3000 "$T/t.jpeg"
	run --separate-stderr rs-classify "$T/t.jpeg"
	failed_with 65 rs-classify
	[[ "$stderr" == "rs-classify: $T/t.jpeg: "* ]]
}

@test "rs-classify: a truncated large JPEG is caught in skipped rows too" {
	img t jpeg:1600x1200 && truncate -s 20000 "$T/t.jpeg"
	run --separate-stderr rs-classify "$T/t.jpeg"
	failed_with 65 rs-classify
}

@test "rs-classify: a truncated PNG is a data error" {
	img t png:320x240 && truncate -s 2000 "$T/t.png"
	run --separate-stderr rs-classify "$T/t.png"
	failed_with 65 rs-classify
}

@test "rs-classify: a progressive JPEG too large to decode in memory is refused" {
	img p jpeg:5000x4000 progressive
	run --separate-stderr rs-classify "$T/p.jpeg"
	failed_with 65 rs-classify
	[[ "$stderr" == "rs-classify: $T/p.jpeg: progressive JPEG"* ]]
	img q jpeg:640x480 progressive
	rs-classify "$T/q.jpeg" | jq -e '.width == 640'
}

@test "rs-classify: a bad file is reported and the others still printed" {
	img a jpeg:64x48
	: >"$T/e.png"
	run --separate-stderr rs-classify "$T/a.jpeg" "$T/e.png" "$T/none.png" "$T/a.jpeg"
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(grep -c '^rs-classify: ' <<<"$stderr")" -eq 2 ]
}

@test "rs-classify: over the pixel limit is a data error" {
	img a jpeg:200x200
	RS_MAX_PIXELS=10000 run --separate-stderr rs-classify "$T/a.jpeg"
	failed_with 65 rs-classify
}

@test "rs-classify: over the byte limit is a data error, before decoding" {
	img a jpeg:200x200
	RS_MAX_BYTES=1000 run --separate-stderr rs-classify "$T/a.jpeg"
	failed_with 65 rs-classify
	[[ "$stderr" == *"exceeds limit 1000"* ]]
}

@test "rs-classify: a directory is status 66, another format status 65" {
	run --separate-stderr rs-classify "$T"
	failed_with 66 rs-classify
	printf 'GIF89a\1\0\1\0\0\0\0;' >"$T/x.gif"
	run --separate-stderr rs-classify "$T/x.gif"
	failed_with 65 rs-classify
	[[ "$stderr" == "rs-classify: $T/x.gif: unsupported format GIF"* ]]
}

@test "rs-classify: a bad option is a usage error" {
	run --separate-stderr rs-classify --bogus
	[ "$status" -eq 64 ]
	[ -z "$output" ]
}

@test "rs-classify: a job record gains classify and keeps its other keys" {
	img a jpeg:160x120 q=20
	img b png:120x160
	rs-upload "$T/a.jpeg" "$T/b.png" | jq -c '. + {"extra": {"keep": [1, 2]}}' >"$T/job"
	run --separate-stderr rs-classify <"$T/job"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	jq -e --slurpfile j "$T/job" '
	    (del(.classify, .inputs[].classify)) == $j[0] and
	    .extra.keep == [1, 2] and
	    (.inputs | length) == 2 and
	    .inputs[0].classify.attributes.jpeg_quality == 20 and
	    .inputs[1].classify.attributes.width == 120 and
	    .classify == .inputs[0].classify' <<<"$output"
}

@test "rs-classify: a job with a missing object is status 66" {
	img a jpeg:64x48
	rs-upload "$T/a.jpeg" | jq -c '.inputs[0].object = ("0" * 64)' >"$T/job"
	run --separate-stderr rs-classify <"$T/job"
	failed_with 66 rs-classify
}

@test "rs-classify: bad JSON on stdin is a data error" {
	run --separate-stderr rs-classify <<<'{"id": '
	failed_with 65 rs-classify
}

@test "rs-classify: one long scratch on a clean scene is called; thin real lines along dark bars are not" {
	# highlights: a lighter line down each bar (ground bending on both
	# sides); rims: a bright line along each bar's edge (one side darker)
	img c png:320x240 highlights rims
	img s png:320x240 highlights rims seed=4 scratches=1       # one line of about 100 px
	run --separate-stderr rs-classify "$T/c.png" "$T/s.png"
	[ "$status" -eq 0 ]
	[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"${lines[0]}")" = false ]
	[ "$(jq '[.ops[].op] | index("descratch")' <<<"${lines[0]}")" = null ]
	[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"${lines[1]}")" = true ]
	[ "$(jq '[.ops[].op] | index("descratch") != null' <<<"${lines[1]}")" = true ]
}

@test "rs-classify: a regular series of like thin lines is not scratches; scratches across it are" {
	img c png:320x240 stripes noise=3     # bright 2-px lines every 24 px: joints, slats
	imgcmp -d scratches=3 "$T/c.png" "$T/s.png"
	run --separate-stderr rs-classify "$T/c.png" "$T/s.png"
	[ "$status" -eq 0 ]
	[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"${lines[0]}")" = false ]
	[ "$(jq '[.ops[].op] | index("descratch")' <<<"${lines[0]}")" = null ]
	[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"${lines[1]}")" = true ]
}

@test "rs-classify: scratches on a ground of fine texture are found, the texture alone is not scratched" {
	# the ground's own strokes crowd every window of the plain line test
	img t png:320x240 texture
	img ts png:320x240 texture scratches=6
	[ "$(score scratches "$T/t.png" | awk '{ print ($1 < 0.5) }')" = 1 ]
	run rs-classify "$T/ts.png"
	[ "$status" -eq 0 ]
	[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"$output")" = true ]
	[ "$(jq '[.ops[].op] | index("descratch") != null' <<<"$output")" = true ]
}

@test "rs-classify: scratches across a busy scene (strokes over shapes, not all texture) are found, the scene alone is not scratched" {
	# fur, foliage, a grid of windows: the scene's thin detail crowds
	# the plain line test's window, yet the picture is not all fine
	# texture; hairlines found by oriented runs count there
	for s in 1 3; do
		img c$s png:320x240 strokes=40 seed=$s
		img s$s png:320x240 strokes=40 seed=$s scratches=3
	done
	run --separate-stderr rs-classify "$T/c1.png" "$T/c3.png" "$T/s1.png" "$T/s3.png"
	[ "$status" -eq 0 ]
	for i in 0 1; do
		[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"${lines[$i]}")" = false ]
		[ "$(jq '[.ops[].op] | index("descratch")' <<<"${lines[$i]}")" = null ]
	done
	for i in 2 3; do
		[ "$(jq '.degradations[] | select(.type == "scratches") | .detected' <<<"${lines[$i]}")" = true ]
		[ "$(jq '[.ops[].op] | index("descratch") != null' <<<"${lines[$i]}")" = true ]
	done
}

@test "rs-classify: a cast, a toning or scratches do not hide a fade" {
	# the channels' ends move apart under a cast, and damage reaches
	# the extremes: the fade is read on luma, the damage found left out
	img c png:320x240 fade=30 cast=0.3
	img s png:320x240 fade=30 sepia=1 scratches=20
	img clean png:320x240 sepia=1 scratches=20
	for f in c s; do
		[ "$(rs-classify "$T/$f.png" | jq '.degradations[] | select(.type == "faded") | .detected')" = true ]
	done
	[ "$(rs-classify "$T/clean.png" | jq '.degradations[] | select(.type == "faded") | .detected')" = false ]
}
