/* profile.c: the profile across a thin line (see profile.h). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "profile.h"

static float
clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* pr[0..2r] = y sampled at -r..r along (nx, ny) from (cx, cy), bilinear,
 * clamped to the picture */
static void
sample(const float *y, int w, int h, int cx, int cy, float nx, float ny, int r, float *pr)
{
	for (int d = -r; d <= r; d++) {
		float fx = clampf(cx + d * nx, 0, (float)(w - 1));
		float fy = clampf(cy + d * ny, 0, (float)(h - 1));
		int x0 = (int)fx, y0 = (int)fy;
		int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
		float ax = fx - x0, ay = fy - y0;
		const float *r0 = y + (size_t)y0 * w, *r1 = y + (size_t)y1 * w;
		pr[d + r] = (1 - ay) * ((1 - ax) * r0[x0] + ax * r0[x1]) +
		    ay * ((1 - ax) * r1[x0] + ax * r1[x1]);
	}
}

void
pf_sample(const float *y, int w, int h, int cx, int cy, float nx, float ny, float *pr)
{
	sample(y, w, h, cx, cy, nx, ny, PF_D, pr);
}

void
pf_sample_long(const float *y, int w, int h, int cx, int cy, float nx, float ny, float *pr)
{
	sample(y, w, h, cx, cy, nx, ny, PF_LD, pr);
}

/* The height of lp's ridge at k over the lower ground at 2..6 on
 * either side, the lesser of the two, and its width at half that height
 * (0 when k is not a local maximum within 3). */
static float
ridge_at(const float *lp, int k, float *width)
{
	float lo[2] = { 1e30f, 1e30f }, half, e[2];

	*width = 0;
	for (int d = -3; d <= 3; d++)
		if (k + d >= 0 && k + d < PF_LL && lp[k + d] > lp[k])
			return 0;
	for (int s = 0; s < 2; s++)
		for (int d = 2; d <= 6; d++) {
			int j = k + (s ? d : -d);
			if (j >= 0 && j < PF_LL && lp[j] < lo[s])
				lo[s] = lp[j];
		}
	if (lo[0] > 1e29f || lo[1] > 1e29f || lp[k] <= fmaxf(lo[0], lo[1]))
		return 0;
	float hgt = lp[k] - fmaxf(lo[0], lo[1]);
	half = lp[k] - 0.5f * hgt;
	for (int s = 0; s < 2; s++) {
		int st = s ? 1 : -1, j = k;
		while (j + st >= 0 && j + st < PF_LL && abs(j + st - k) <= 6 && lp[j + st] > half)
			j += st;
		float a = lp[j], b = j + st >= 0 && j + st < PF_LL ? lp[j + st] : a;
		e[s] = abs(j - k) + (a > b ? (a - half) / (a - b) : 0);
	}
	*width = e[0] + e[1];
	return hgt;
}

int
pf_repeats(const float *lp)
{
	int pk[PF_LL], np = 0, c = -1;
	float g = 0, wd = 0, gk, wk;

	for (int d = -1; d <= 1; d++) {      /* the line itself */
		gk = ridge_at(lp, PF_LD + d, &wk);
		if (gk > g) {
			g = gk;
			wd = wk;
			c = PF_LD + d;
		}
	}
	if (c < 0)
		return 0;
	for (int k = 0; k < PF_LL; k++) {
		if (k == c) {
			pk[np++] = k;
			continue;
		}
		if (abs(k - c) < PF_GAP)
			continue;
		gk = ridge_at(lp, k, &wk);
		if (gk >= PF_REP * g && gk * PF_REP <= g && fabsf(wk - wd) <= PF_WIDTH * fmaxf(wd, 1))
			pk[np++] = k;
	}
	for (int t = 0; t + 2 < np; t++) {
		if (pk[t] != c && pk[t + 1] != c && pk[t + 2] != c)
			continue;
		int g1 = pk[t + 1] - pk[t], g2 = pk[t + 2] - pk[t + 1];
		if (g1 >= PF_GAP && g2 >= PF_GAP && fmaxf(g1, g2) <= PF_REG * fminf(g1, g2))
			return 1;
	}
	return 0;
}

void
pf_measures(const float *mp, float *asym, float *rough)
{
	float g = mp[PF_D] - fmaxf(mp[PF_D - 2], mp[PF_D + 2]), as = 0;
	double st = 0, stt = 0, sv = 0, stv = 0, e2 = 0;
	int ns = 0;

	g = g > 1 ? g : 1;
	for (int d = 1; d <= 3; d++)
		as += mp[PF_D + d] - mp[PF_D - d];
	*asym = fabsf(as / 3) / g;
	for (int d = -PF_D; d <= PF_D; d++)
		if (d <= -3 || d >= 3) {
			st += d; stt += d * d; sv += mp[d + PF_D]; stv += d * mp[d + PF_D];
			ns++;
		}
	double sl = (ns * stv - st * sv) / (ns * stt - st * st), ic = (sv - sl * st) / ns;
	for (int d = -PF_D; d <= PF_D; d++)
		if (d <= -3 || d >= 3) {
			double e = mp[d + PF_D] - (ic + sl * d);
			e2 += e * e;
		}
	*rough = (float)sqrt(e2 / ns) / g;
}

float
pf_pixel_asym(const float *pr, float sg)
{
	float g = sg * pr[PF_D] - fmaxf(sg * pr[PF_D - 2], sg * pr[PF_D + 2]), as = 0;

	for (int d = 1; d <= 3; d++)
		as += pr[PF_D + d] - pr[PF_D - d];
	return fabsf(as / 3) / fmaxf(g, 1);
}

int
pf_scene(float asym, float rough)
{
	return asym > PF_ASYM || rough > PF_ROUGH;
}
