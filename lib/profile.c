/* profile.c: the profile across a thin line (see profile.h). */
#include <math.h>
#include <stddef.h>

#include "profile.h"

static float
clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void
pf_sample(const float *y, int w, int h, int cx, int cy, float nx, float ny, float *pr)
{
	for (int d = -PF_D; d <= PF_D; d++) {
		float fx = clampf(cx + d * nx, 0, (float)(w - 1));
		float fy = clampf(cy + d * ny, 0, (float)(h - 1));
		int x0 = (int)fx, y0 = (int)fy;
		int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
		float ax = fx - x0, ay = fy - y0;
		const float *r0 = y + (size_t)y0 * w, *r1 = y + (size_t)y1 * w;
		pr[d + PF_D] = (1 - ay) * ((1 - ax) * r0[x0] + ax * r0[x1]) +
		    ay * ((1 - ax) * r1[x0] + ax * r1[x1]);
	}
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

int
pf_scene(float asym, float rough)
{
	return asym > PF_ASYM || rough > PF_ROUGH;
}
