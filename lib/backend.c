/* backend.c: the backends and the one call in front of them.
 *
 * gemini: each input is sent as its own bytes when it is a JPEG or PNG
 * without EXIF rotation and within RS_GEMINI_MAX_IMAGE (default 6M;
 * Vertex documents 7 MB per inline image); otherwise it is re-encoded as
 * a JPEG (quality 90), halving its pixels until it fits. The aspect ratio
 * asked for is the supported one nearest the first input's. The answer
 * must decode; it is aligned with the first input, its fidelity measured
 * (below RS_FIDELITY_MIN: "the model changed the photo's content") and
 * its correction carried to the first input's full size (transfer.h).
 *
 * exec: PROG runs with argv PROG IN... OUT, in its own process group,
 * stdin the job record (a file, so a program that never reads it cannot
 * block us), stdout and stderr into one pipe whose last 2 KB are kept for
 * the error message, and the environment minus the Gemini key. After
 * RS_EXEC_TIMEOUT (default 600 s) the group is killed. Exit 0 and a
 * decodable OUT is success (any size: an upscaler may enlarge); exit 75
 * or a timeout is temporary (75); anything else is a failure (69). The
 * output passes the same fidelity guard. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "classify.h"
#include "gemini.h"
#include "json.h"
#include "prompt.h"
#include "transfer.h"
#include "util.h"

extern char **environ;

enum kind { LOCAL, GEMINI, EXEC };

struct backend {
	enum kind kind;
	char name[PATH_MAX + 8];      /* "exec:PROG" as given */
	char prog[PATH_MAX];          /* exec: the resolved path */
	struct conf *conf;            /* borrowed */
	struct gemini *g;
	struct prompt *prompts;
	double fidelity_min, exec_timeout;
	unsigned long long max_image;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
number(struct conf *c, const char *key, double def, double lo, double hi, double *v)
{
	const char *s = conf_str(c, key, NULL);
	char *end;

	*v = def;
	if (s == NULL)
		return 0;
	errno = 0;
	*v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(*v >= lo && *v <= hi)) {
		warnx("%s=%s: expected a number from %g to %g", key, s, lo, hi);
		return EX_CONFIG;
	}
	return 0;
}

/* PROG as a path: as given when it has a slash, else the first
 * executable PROG in PATH. */
static int
find_prog(const char *prog, char out[PATH_MAX])
{
	const char *path = getenv("PATH");

	if (*prog == '\0')
		return -1;
	if (strchr(prog, '/') != NULL) {
		if ((size_t)snprintf(out, PATH_MAX, "%s", prog) >= PATH_MAX)
			return -1;
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	for (const char *p = path != NULL ? path : "/usr/bin:/bin"; ; ) {
		const char *e = strchr(p, ':');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		struct stat st;
		if ((size_t)snprintf(out, PATH_MAX, "%.*s/%s", (int)n, n ? p : ".", prog) < PATH_MAX &&
		    access(out, X_OK) == 0 && stat(out, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
		if (e == NULL)
			return -1;
		p = e + 1;
	}
}

int
backend_open(const char *spec, struct conf *c, struct backend **bp)
{
	struct backend *b;
	int rc = 0;

	*bp = NULL;
	if ((b = calloc(1, sizeof *b)) == NULL) {
		warn("backend");
		return EX_OSERR;
	}
	b->conf = c;
	if (strcmp(spec, "auto") == 0)
		spec = gemini_configured(c) ? "gemini" : "local";
	snprintf(b->name, sizeof b->name, "%s", spec);
	if (strcmp(spec, "local") == 0)
		b->kind = LOCAL;
	else if (strcmp(spec, "gemini") == 0)
		b->kind = GEMINI;
	else if (strncmp(spec, "exec:", 5) == 0) {
		b->kind = EXEC;
		if (find_prog(spec + 5, b->prog) < 0) {
			warnx("--backend %s: no executable %s%s", spec, spec + 5,
			    strchr(spec + 5, '/') ? "" : " in PATH");
			rc = EX_USAGE;
			goto out;
		}
	} else {
		warnx("--backend %s: unknown (auto, local, gemini or exec:PROGRAM)", spec);
		rc = EX_USAGE;
		goto out;
	}
	if ((rc = number(c, "RS_FIDELITY_MIN", BACKEND_FIDELITY_MIN, -1, 1, &b->fidelity_min)) != 0 ||
	    (rc = number(c, "RS_EXEC_TIMEOUT", 600, 0.001, 86400, &b->exec_timeout)) != 0 ||
	    (rc = conf_size(c, "RS_GEMINI_MAX_IMAGE", 6ULL << 20, &b->max_image)) != 0)
		goto out;
	if (b->kind != LOCAL && (rc = prompt_load(c, &b->prompts)) != 0)
		goto out;
	if (b->kind == GEMINI)
		rc = gemini_open(c, &b->g);
out:
	if (rc != 0)
		backend_close(b);
	else
		*bp = b;
	return rc;
}

void
backend_close(struct backend *b)
{
	if (b == NULL)
		return;
	gemini_close(b->g);
	prompt_free(b->prompts);
	free(b);
}

const char *
backend_name(const struct backend *b)
{
	return b->name;
}

int
backend_is_local(const struct backend *b)
{
	return b->kind == LOCAL;
}

int
backend_prompt(struct backend *b, const struct backend_req *r, char **text)
{
	jv cls = jv_copy(r->classify);
	int rc;

	if (b->prompts == NULL && (rc = prompt_load(b->conf, &b->prompts)) != 0)
		return rc;
	/* no classification at hand: make one (a prompt names the damage) */
	if (jv_get_kind(cls) != JV_KIND_OBJECT && r->n > 0 && r->in[0].im != NULL) {
		jv_free(cls);
		cls = jv_null();
		if ((rc = classify_image(r->in[0].name, r->in[0].im, &cls)) != 0) {
			jv_free(cls);
			return rc;
		}
	}
	rc = prompt_build(b->prompts, cls, r->n, r->colourise, r->prompt, text);
	jv_free(cls);
	return rc;
}

static jv
error_obj(const char *code, const char *msg)
{
	return JV_OBJECT(jv_string("code"), jv_string(code), jv_string("message"), jv_string(msg));
}

/* Fail with a diagnostic and an error in the record. */
static int
refuse(jv *rec, int rc, const char *name, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int
refuse(jv *rec, int rc, const char *name, const char *code, const char *fmt, ...)
{
	char msg[2600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warnx("%s: %s", name, msg);
	*rec = jv_object_set(*rec, jv_string("error"), error_obj(code, msg));
	return rc;
}

static int
img_dup(const struct img *src, struct img *dst)
{
	int rc;

	struct img m = *src;       /* type, orientation, JPEG tables… */

	if ((rc = img_alloc(dst, src->w, src->h, src->ch)) != 0)
		return rc;
	m.px = dst->px;
	m.exif = m.icc = NULL;
	m.exif_len = m.icc_len = 0;
	*dst = m;
	memcpy(dst->px, src->px, (size_t)src->w * src->h * src->ch);
	if ((rc = img_copy_meta(dst, src)) != 0)
		img_free(dst);
	return rc;
}

static int
run_local(const struct backend_req *r, struct img *out, jv *rec)
{
	jv used = jv_invalid();
	int rc;

	if ((rc = img_dup(r->in[0].im, out)) != 0)
		return rc;
	if ((rc = restore_run(r->in[0].name, out, r->plan, r->ro, &used)) != 0) {
		img_free(out);
		jv_free(used);
		return rc;
	}
	*rec = jv_object_set(*rec, jv_string("ops"), used);
	return 0;
}

/* The fidelity guard; also records the score. */
static int
guard(struct backend *b, const char *name, const struct transfer_info *ti, jv *rec)
{
	*rec = jv_object_set(*rec, jv_string("fidelity"),
	    jv_number(round(ti->fidelity * 1000) / 1000));
	if (ti->fidelity < b->fidelity_min)
		return refuse(rec, EX_UNAVAILABLE, name, "content_changed",
		    "the model changed the photo's content (fidelity %.3f, below "
		    "RS_FIDELITY_MIN %.3f)", ti->fidelity, b->fidelity_min);
	return 0;
}

/* The bytes to send for one input: the file itself when it will do,
 * else a JPEG of the oriented pixels, small enough. */
static int
send_form(struct backend *b, const struct backend_input *in, struct gemini_image *gi,
    unsigned char **owned)
{
	struct img flat = { 0 }, small = { 0 };
	enum img_type t = img_sniff(in->buf, in->len);
	double scale;
	size_t len = 0;
	int rc;

	*owned = NULL;
	if ((t == IMG_JPEG || t == IMG_PNG) && in->im->orientation <= 1 && in->len <= b->max_image) {
		gi->mime = img_mime(t);
		gi->buf = in->buf;
		gi->len = in->len;
		return 0;
	}
	/* JPEG has no alpha: drop it */
	if ((rc = img_alloc(&flat, in->im->w, in->im->h, in->im->ch >= 3 ? 3 : 1)) != 0)
		return rc;
	for (size_t i = 0; i < (size_t)flat.w * flat.h; i++)
		memcpy(flat.px + i * flat.ch, in->im->px + i * in->im->ch, (size_t)flat.ch);
	scale = fmin(1, sqrt(16e6 / ((double)flat.w * flat.h)));
	for (;;) {
		int w = (int)lround(flat.w * scale), h = (int)lround(flat.h * scale);
		free(*owned);
		*owned = NULL;
		img_free(&small);
		if (w < 64 || h < 64) {
			warnx("%s: cannot fit under RS_GEMINI_MAX_IMAGE (%llu bytes)", in->name,
			    b->max_image);
			rc = EX_DATAERR;
			break;
		}
		if ((rc = transfer_resize(in->name, &flat, w, h, &small)) != 0 ||
		    (rc = img_encode(in->name, &small, IMG_JPEG, 90, 1, owned, &len)) != 0)
			break;
		if (len <= b->max_image)
			break;
		scale *= M_SQRT1_2;
	}
	img_free(&flat);
	img_free(&small);
	if (rc != 0) {
		free(*owned);
		*owned = NULL;
		return rc;
	}
	gi->mime = "image/jpeg";
	gi->buf = *owned;
	gi->len = len;
	return 0;
}

static int
run_gemini(struct backend *b, const struct backend_req *r, struct img *out, jv *rec)
{
	const char *name = r->in[0].name;
	struct gemini_image gi[BACKEND_MAX_INPUTS];
	unsigned char *owned[BACKEND_MAX_INPUTS] = { NULL };
	struct gemini_answer ans = { .info = jv_invalid() };
	struct transfer_info ti;
	struct img a = { 0 };
	const char *aspect = gemini_aspect(r->in[0].im->w, r->in[0].im->h);
	char *prompt = NULL;
	int rc;

	if ((rc = backend_prompt(b, r, &prompt)) != 0)
		goto out;
	for (int i = 0; i < r->n; i++)
		if ((rc = send_form(b, &r->in[i], &gi[i], &owned[i])) != 0)
			goto out;
	*rec = jv_object_set(*rec, jv_string("prompt"), jv_string(prompt));
	*rec = jv_object_set(*rec, jv_string("aspect_ratio"), jv_string(aspect));
	rc = gemini_generate(b->g, name, gi, r->n, aspect, prompt, &ans);
	jv_object_foreach(ans.info, k, v)             /* model, attempts, usage, error ... */
		*rec = jv_object_set(*rec, k, v);
	if (rc != 0)
		goto out;
	*rec = jv_object_set(*rec, jv_string("answer"), JV_OBJECT(jv_string("mime"),
	    jv_string(ans.mime), jv_string("bytes"), jv_number((double)ans.len)));
	if (img_decode("answer", ans.buf, ans.len, r->lim, 0, 1, &a) != 0) {
		rc = refuse(rec, EX_UNAVAILABLE, name, "not_an_image",
		    "gemini: not an image: the answer's %s part does not decode", ans.mime);
		goto out;
	}
	*rec = jv_object_set(*rec, jv_string("answer"), JV_OBJECT(jv_string("mime"),
	    jv_string(img_mime(a.type)), jv_string("bytes"), jv_number((double)ans.len),
	    jv_string("width"), jv_number(a.w), jv_string("height"), jv_number(a.h)));
	if ((rc = transfer_apply(name, r->in[0].im, &a, r->colourise, out, &ti)) != 0)
		goto out;
	*rec = jv_object_set(*rec, jv_string("transfer"), JV_OBJECT(
	    jv_string("method"), jv_string("guided"),
	    jv_string("work"), JV_ARRAY(jv_number(ti.work_w), jv_number(ti.work_h)),
	    jv_string("shift"), JV_ARRAY(jv_number(ti.dx), jv_number(ti.dy))));
	if ((rc = guard(b, name, &ti, rec)) != 0)
		img_free(out);
out:
	for (int i = 0; i < r->n; i++)
		free(owned[i]);
	free(prompt);
	img_free(&a);
	gemini_answer_free(&ans);
	return rc;
}

/* exec */

static int
write_file(const char *dir, const char *name, const void *buf, size_t len, char *path)
{
	int rc;

	if ((size_t)snprintf(path, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
		warnx("%s/%s: path too long", dir, name);
		return EX_CANTCREAT;
	}
	if ((rc = util_write_file(path, buf, len, 0600)) != 0)
		return rc;
	return 0;
}

/* The environment without secrets. */
static char **
clean_env(void)
{
	size_t n = 0, k = 0;
	char **e;

	while (environ[n] != NULL)
		n++;
	if ((e = calloc(n + 1, sizeof *e)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "GEMINI_API_KEY=", 15) != 0)
			e[k++] = environ[i];
	return e;
}

/* Printable tail of the captured output, for the message. */
static void
tail_text(const char *cap, size_t len, char *out, size_t max)
{
	size_t s = len > max - 1 ? len - (max - 1) : 0, o = 0;

	while (len > 0 && (cap[len - 1] == '\n' || cap[len - 1] == ' '))
		len--;
	for (size_t i = s; i < len && o + 1 < max; i++)
		out[o++] = (unsigned char)cap[i] < 0x20 || cap[i] == 0x7f ? ' ' : cap[i];
	out[o] = '\0';
}

static int
run_exec(struct backend *b, const struct backend_req *r, struct img *out, jv *rec)
{
	const char *name = r->in[0].name;
	char dir[1024], inpath[BACKEND_MAX_INPUTS][PATH_MAX], outpath[PATH_MAX];
	char jobpath[PATH_MAX], cap[2048], said[2048], *prompt = NULL;
	const char *tmp = getenv("TMPDIR");
	char *argv[BACKEND_MAX_INPUTS + 3], **envp = NULL;
	size_t caplen = 0;
	int pfd[2] = { -1, -1 }, jfd = -1, rc, status = 0, timed_out = 0, made = 0;
	double t0 = now();
	pid_t pid = -1;
	jv job = jv_invalid();
	struct transfer_info ti;

	memset(out, 0, sizeof *out);
	if ((size_t)snprintf(dir, sizeof dir, "%s/rs-exec.XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/tmp") >= sizeof dir || mkdtemp(dir) == NULL) {
		rc = util_ex_errno(errno);
		warn("%s: temporary directory", name);
		return rc == EX_IOERR ? EX_CANTCREAT : rc;
	}
	made = 1;
	if ((rc = backend_prompt(b, r, &prompt)) != 0)
		goto out;
	for (int i = 0; i < r->n; i++) {
		char f[32];
		enum img_type t = img_sniff(r->in[i].buf, r->in[i].len);
		const char *ext = t == IMG_JPEG ? "jpg" : "png";
		snprintf(f, sizeof f, "in%d.%s", i + 1, ext);
		if (r->in[i].path != NULL && strcmp(r->in[i].path, "-") != 0) {
			const char *dot = strrchr(r->in[i].path, '.');
			if (dot != NULL && strchr(dot, '/') == NULL && (strcasecmp(dot + 1, ext) == 0 ||
			    (t == IMG_JPEG && strcasecmp(dot + 1, "jpeg") == 0))) {
				snprintf(inpath[i], PATH_MAX, "%s", r->in[i].path);
				continue;
			}
			/* a store object has no extension; many tools go by it */
			snprintf(inpath[i], PATH_MAX, "%s/%s", dir, f);
			if (symlink(r->in[i].path, inpath[i]) == 0)
				continue;
		}
		if ((rc = write_file(dir, f, r->in[i].buf, r->in[i].len, inpath[i])) != 0)
			goto out;
	}
	snprintf(outpath, sizeof outpath, "%s/out.png", dir);
	job = jv_get_kind(r->job) == JV_KIND_OBJECT ? jv_copy(r->job) : jv_object();
	if (jv_get_kind(r->job) == JV_KIND_OBJECT) {       /* each input gets its path */
		jv ins = json_get(job, "inputs");
		for (int i = 0; i < r->n && jv_get_kind(ins) == JV_KIND_ARRAY; i++) {
			jv x = jv_array_get(jv_copy(ins), i);
			if (jv_get_kind(x) == JV_KIND_OBJECT)
				ins = jv_array_set(ins, i, jv_object_set(x, jv_string("path"),
				    jv_string(inpath[i])));
			else
				jv_free(x);
		}
		if (jv_get_kind(ins) == JV_KIND_ARRAY)
			job = jv_object_set(job, jv_string("inputs"), ins);
		else
			jv_free(ins);
	} else {
		jv ins = jv_array();
		for (int i = 0; i < r->n; i++)
			ins = jv_array_append(ins, JV_OBJECT(jv_string("path"), jv_string(inpath[i]),
			    jv_string("width"), jv_number(r->in[i].im->w),
			    jv_string("height"), jv_number(r->in[i].im->h)));
		job = jv_object_set(job, jv_string("inputs"), ins);
		if (r->prompt != NULL)
			job = jv_object_set(job, jv_string("prompt"), jv_string(r->prompt));
		if (jv_get_kind(r->classify) == JV_KIND_OBJECT)
			job = jv_object_set(job, jv_string("classify"), jv_copy(r->classify));
	}
	job = jv_object_set(job, jv_string("restore"), JV_OBJECT(jv_string("backend"),
	    jv_string(b->name), jv_string("prompt"), jv_string(prompt),
	    jv_string("colourise"), jv_bool(r->colourise)));
	{
		jv s = jv_dump_string(job, 0);
		job = jv_invalid();
		rc = write_file(dir, "job.json", jv_string_value(s),
		    (size_t)jv_string_length_bytes(jv_copy(s)), jobpath);
		jv_free(s);
		if (rc != 0)
			goto out;
	}
	argv[0] = b->prog;
	for (int i = 0; i < r->n; i++)
		argv[i + 1] = inpath[i];
	argv[r->n + 1] = outpath;
	argv[r->n + 2] = NULL;
	if ((envp = clean_env()) == NULL || pipe(pfd) < 0 ||
	    fcntl(pfd[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(pfd[1], F_SETFD, FD_CLOEXEC) < 0 ||
	    (jfd = open(jobpath, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = EX_OSERR;
		warn("%s: %s", name, b->name);
		goto out;
	}
	if ((pid = fork()) < 0) {
		rc = EX_OSERR;
		warn("%s: %s: fork", name, b->name);
		goto out;
	}
	if (pid == 0) {
		static const char msg[] = "cannot execute the program\n";
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(jfd, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		execve(b->prog, argv, envp);
		if (write(2, msg, sizeof msg - 1) < 0)
			_exit(127);
		_exit(127);
	}
	setpgid(pid, pid);                /* either of us may win the race */
	close(pfd[1]);
	pfd[1] = -1;
	for (;;) {                        /* read until EOF or the timeout */
		double left = b->exec_timeout - (now() - t0);
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char chunk[4096];
		ssize_t n;
		int pr;
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if ((pr = poll(&p, 1, (int)ceil(left * 1000))) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pr == 0)
			continue;
		if ((n = read(pfd[0], chunk, sizeof chunk)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0)
			break;
		/* keep the last sizeof cap bytes */
		if ((size_t)n >= sizeof cap) {
			memcpy(cap, chunk + n - sizeof cap, sizeof cap);
			caplen = sizeof cap;
		} else {
			if (caplen + n > sizeof cap) {
				size_t drop = caplen + n - sizeof cap;
				memmove(cap, cap + drop, caplen - drop);
				caplen -= drop;
			}
			memcpy(cap + caplen, chunk, (size_t)n);
			caplen += (size_t)n;
		}
	}
	if (timed_out)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!timed_out)
		kill(-pid, SIGKILL);      /* no stray grandchildren */
	pid = -1;
	*rec = jv_object_set(*rec, jv_string("latency_ms"), jv_number(round((now() - t0) * 1000)));
	tail_text(cap, caplen, said, sizeof said);
	if (timed_out) {
		rc = refuse(rec, EX_TEMPFAIL, name, "timeout", "%s: no answer within "
		    "RS_EXEC_TIMEOUT (%g s)%s%s", b->name, b->exec_timeout, *said ? ": " : "", said);
		goto out;
	}
	if (WIFSIGNALED(status)) {
		rc = refuse(rec, EX_UNAVAILABLE, name, "failed", "%s: killed by signal %d%s%s",
		    b->name, WTERMSIG(status), *said ? ": " : "", said);
		goto out;
	}
	if (WEXITSTATUS(status) != 0) {
		rc = refuse(rec, WEXITSTATUS(status) == EX_TEMPFAIL ? EX_TEMPFAIL : EX_UNAVAILABLE,
		    name, WEXITSTATUS(status) == EX_TEMPFAIL ? "unavailable" : "failed",
		    "%s: exit %d%s%s", b->name, WEXITSTATUS(status), *said ? ": " : "", said);
		goto out;
	}
	if (access(outpath, F_OK) < 0) {
		rc = refuse(rec, EX_UNAVAILABLE, name, "no_image", "%s: no image: it exited 0 "
		    "without writing its output%s%s", b->name, *said ? ": " : "", said);
		goto out;
	}
	if (img_load(outpath, r->lim, 0, 1, out) != 0) {
		rc = refuse(rec, EX_UNAVAILABLE, name, "not_an_image",
		    "%s: not an image: its output does not decode", b->name);
		goto out;
	}
	*rec = jv_object_set(*rec, jv_string("answer"), JV_OBJECT(jv_string("mime"),
	    jv_string(img_mime(out->type)), jv_string("width"), jv_number(out->w),
	    jv_string("height"), jv_number(out->h)));
	if ((rc = transfer_fidelity(name, r->in[0].im, out, &ti)) == 0)
		rc = guard(b, name, &ti, rec);
	if (rc != 0)
		img_free(out);
out:
	if (pid > 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	if (pfd[0] >= 0) close(pfd[0]);
	if (pfd[1] >= 0) close(pfd[1]);
	if (jfd >= 0) close(jfd);
	free(envp);
	free(prompt);
	jv_free(job);
	if (made) {                       /* our temporary files only */
		char p[PATH_MAX];
		for (int i = 0; i < r->n; i++) {
			snprintf(p, sizeof p, "%s/in%d.jpg", dir, i + 1);
			unlink(p);
			snprintf(p, sizeof p, "%s/in%d.png", dir, i + 1);
			unlink(p);
		}
		snprintf(p, sizeof p, "%s/job.json", dir);
		unlink(p);
		unlink(outpath);
		if (rmdir(dir) < 0 && errno != ENOENT)
			warn("%s: %s: left behind", name, dir);
	}
	return rc;
}

int
backend_run(struct backend *b, const struct backend_req *r, struct img *out, jv *record)
{
	int rc;

	memset(out, 0, sizeof *out);
	*record = jv_invalid();
	if (r->n < 1 || r->n > BACKEND_MAX_INPUTS) {
		warnx("%s: %d photos: a job takes 1 to %d", r->n > 0 ? r->in[0].name : "backend",
		    r->n, BACKEND_MAX_INPUTS);
		return EX_USAGE;
	}
	if (r->n > 1 && b->kind == LOCAL) {
		warnx("%s: fusion of %d photos needs a model backend (gemini or exec:)",
		    r->in[0].name, r->n);
		return EX_USAGE;
	}
	*record = JV_OBJECT(jv_string("backend"), jv_string(b->name));
	switch (b->kind) {
	case LOCAL:  rc = run_local(r, out, record); break;
	case GEMINI: rc = run_gemini(b, r, out, record); break;
	default:     rc = run_exec(b, r, out, record); break;
	}
	return rc;
}
