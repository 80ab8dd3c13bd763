/* gemini.c: generateContent over libcurl.
 *
 * Request: POST {endpoint}/v1beta/models/{model}:generateContent with
 * header x-goog-api-key, body
 *   {"contents":[{"role":"user","parts":[{"inlineData":{...}}..., {"text":...}]}],
 *    "generationConfig":{"responseModalities":["TEXT","IMAGE"],
 *      "imageConfig":{"aspectRatio":"4:3"},"candidateCount":1}}
 * camelCase as the SDKs send it; no systemInstruction, no thinkingConfig
 * (refs/gemini.md: image models reject both). The body is built by hand
 * around the base64 so a large image is not copied through jv twice.
 *
 * Answer: the last non-thought inlineData part of the first candidate is
 * the image; text parts are kept for the record. A blocked prompt
 * (promptFeedback.blockReason), a safety finish reason, no image, or a
 * part that is not JPEG/PNG is a permanent failure (69): the same
 * request would fail the same way.
 *
 * Retries: 408, 429, 500, 502, 503, 504, connection failures and
 * timeouts are retried with exponential backoff (RS_GEMINI_BACKOFF
 * doubling, capped at 60 s, with "equal jitter": half fixed, half
 * random), waiting at least what the server asks (RetryInfo.retryDelay
 * in the error body, or Retry-After), within RS_GEMINI_ATTEMPTS and the
 * RS_GEMINI_DEADLINE counted from the first attempt. When the server
 * asks for more time than the deadline leaves, we give up at once with
 * 75 and record the delay it asked for (retry_after) for the runner.
 * Redirects are not followed (they would carry the key elsewhere). */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "gemini.h"
#include "util.h"

#define KEY_MAX 512

struct gemini {
	char endpoint[512], model[128];
	char key[KEY_MAX];
	double timeout, connect_timeout, deadline, backoff;
	unsigned long long attempts, max_response;
};

struct buf {
	unsigned char *p;
	size_t len, cap, max;
	int over;                 /* the answer exceeded max */
};

struct call {                     /* one HTTP exchange */
	long status;
	struct buf body;
	double retry_after;       /* Retry-After header, seconds; -1 none */
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
nap(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A setting in seconds: a decimal number > 0 (fractions for tests). */
static int
seconds(struct conf *c, const char *key, double def, double *v)
{
	const char *s = conf_str(c, key, NULL);
	char *end;

	*v = def;
	if (s == NULL)
		return 0;
	errno = 0;
	*v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(*v > 0 && *v <= 86400)) {
		warnx("%s=%s: expected seconds (a number above 0)", key, s);
		return EX_CONFIG;
	}
	return 0;
}

static int
key_char_ok(int ch)
{
	return ch > 0x20 && ch < 0x7f;
}

/* The key from GEMINI_API_KEY or the file RS_GEMINI_KEY_FILE names;
 * never printed. */
static int
load_key(struct conf *c, char key[KEY_MAX])
{
	const char *env = conf_str(c, "GEMINI_API_KEY", NULL);
	const char *path = conf_str(c, "RS_GEMINI_KEY_FILE", NULL);
	unsigned char *buf = NULL;
	size_t len = 0, n;
	int rc;

	if (env != NULL) {
		while (isspace((unsigned char)*env))
			env++;
		n = strlen(env);
		while (n > 0 && isspace((unsigned char)env[n - 1]))
			n--;
		if (n >= KEY_MAX) {
			warnx("GEMINI_API_KEY: longer than %d bytes", KEY_MAX - 1);
			return EX_CONFIG;
		}
		memcpy(key, env, n);
		key[n] = '\0';
	} else if (path != NULL) {
		if ((rc = util_slurp(path, KEY_MAX - 1, &buf, &len)) != 0)
			return rc == EX_NOPERM ? rc : EX_CONFIG;
		while (len > 0 && isspace(buf[len - 1]))
			len--;
		memcpy(key, buf, len);
		key[len] = '\0';
		sodium_memzero(buf, len);
		free(buf);
	} else {
		warnx("gemini: no API key: set GEMINI_API_KEY or RS_GEMINI_KEY_FILE");
		return EX_CONFIG;
	}
	if (key[0] == '\0') {
		warnx("gemini: the API key is empty");
		return EX_CONFIG;
	}
	for (const char *s = key; *s; s++)
		if (!key_char_ok((unsigned char)*s)) {
			sodium_memzero(key, KEY_MAX);
			warnx("gemini: the API key holds a character that cannot go in a header");
			return EX_CONFIG;
		}
	return 0;
}

int
gemini_configured(struct conf *c)
{
	return conf_str(c, "GEMINI_API_KEY", NULL) != NULL ||
	    conf_str(c, "RS_GEMINI_KEY_FILE", NULL) != NULL;
}

static int
valid_model(const char *m)
{
	if (*m == '\0' || strlen(m) >= 128)
		return 0;
	for (; *m; m++)
		if (!isalnum((unsigned char)*m) && *m != '-' && *m != '.' && *m != '_')
			return 0;
	return 1;
}

int
gemini_open(struct conf *c, struct gemini **gp)
{
	const char *ep = conf_str(c, "RS_GEMINI_ENDPOINT", GEMINI_DEFAULT_ENDPOINT);
	const char *model = conf_str(c, "RS_GEMINI_MODEL", GEMINI_DEFAULT_MODEL);
	struct gemini *g;
	size_t n;
	int rc;

	*gp = NULL;
	if (sodium_init() < 0) {
		warnx("gemini: libsodium failed to initialise");
		return EX_SOFTWARE;
	}
	if ((g = calloc(1, sizeof *g)) == NULL) {
		warn("gemini");
		return EX_OSERR;
	}
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	if ((strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) ||
	    n >= sizeof g->endpoint || strpbrk(ep, " \t\r\n?#") != NULL) {
		warnx("RS_GEMINI_ENDPOINT=%s: expected http(s)://host[:port]", ep);
		rc = EX_CONFIG;
		goto fail;
	}
	memcpy(g->endpoint, ep, n);
	g->endpoint[n] = '\0';
	if (!valid_model(model)) {
		warnx("RS_GEMINI_MODEL=%s: not a model id", model);
		rc = EX_CONFIG;
		goto fail;
	}
	snprintf(g->model, sizeof g->model, "%s", model);
	if ((rc = seconds(c, "RS_GEMINI_TIMEOUT", 120, &g->timeout)) != 0 ||
	    (rc = seconds(c, "RS_GEMINI_CONNECT_TIMEOUT", 15, &g->connect_timeout)) != 0 ||
	    (rc = seconds(c, "RS_GEMINI_DEADLINE", 300, &g->deadline)) != 0 ||
	    (rc = seconds(c, "RS_GEMINI_BACKOFF", 1, &g->backoff)) != 0 ||
	    (rc = conf_size(c, "RS_GEMINI_ATTEMPTS", 4, &g->attempts)) != 0 ||
	    (rc = conf_size(c, "RS_GEMINI_MAX_RESPONSE", 64ULL << 20, &g->max_response)) != 0)
		goto fail;
	if (g->attempts < 1 || g->attempts > 20) {
		warnx("RS_GEMINI_ATTEMPTS: 1 to 20");
		rc = EX_CONFIG;
		goto fail;
	}
	if ((rc = load_key(c, g->key)) != 0)
		goto fail;
	*gp = g;
	return 0;
fail:
	gemini_close(g);
	return rc;
}

void
gemini_close(struct gemini *g)
{
	if (g == NULL)
		return;
	sodium_memzero(g->key, sizeof g->key);
	free(g);
}

const char *
gemini_model(const struct gemini *g)
{
	return g->model;
}

const char *
gemini_aspect(int w, int h)
{
	static const char *const name[] = { "1:1", "2:3", "3:2", "3:4", "4:3", "4:5",
		"5:4", "9:16", "16:9", "21:9" };
	static const double r[] = { 1, 2.0 / 3, 1.5, 0.75, 4.0 / 3, 0.8, 1.25,
		9.0 / 16, 16.0 / 9, 21.0 / 9 };
	double want = log((double)w / h), best = INFINITY;
	int b = 0;

	for (int i = 0; i < 10; i++)
		if (fabs(log(r[i]) - want) < best) {
			best = fabs(log(r[i]) - want);
			b = i;
		}
	return name[b];
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > b->max) {
		b->over = 1;
		return 0;                 /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		unsigned char *q;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	size_t n = size * nmemb;
	char line[128];

	if (n < sizeof line && strncasecmp(p, "Retry-After:", 12) == 0) {
		char *end;
		double v;
		memcpy(line, p + 12, n - 12);
		line[n - 12] = '\0';
		v = strtod(line, &end);
		if (end != line && v >= 0)
			c->retry_after = v;   /* the HTTP-date form is ignored */
	}
	return n;
}

/* Printable text for messages and records: controls become spaces, at
 * most max bytes. */
static void
tidy(const char *s, char *out, size_t max)
{
	size_t o = 0;

	for (; *s != '\0' && o + 1 < max; s++)
		out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
	out[o] = '\0';
	if (*s != '\0' && max > 4)
		memcpy(out + max - 4, "...", 4);
}

/* The request body (malloc'd). */
static int
body(const char *name, const struct gemini_image *in, int n, const char *aspect,
    const char *prompt, char **out, size_t *outlen)
{
	char *buf = NULL, *b64 = NULL;
	size_t len = 0;
	FILE *f;
	jv t;

	if ((f = open_memstream(&buf, &len)) == NULL)
		goto oom;
	fputs("{\"contents\":[{\"role\":\"user\",\"parts\":[", f);
	for (int i = 0; i < n; i++) {
		size_t bl = sodium_base64_encoded_len(in[i].len, sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(bl)) == NULL)
			goto oom;
		sodium_bin2base64(b64, bl, in[i].buf, in[i].len, sodium_base64_VARIANT_ORIGINAL);
		fprintf(f, "{\"inlineData\":{\"mimeType\":\"%s\",\"data\":\"", in[i].mime);
		fwrite(b64, 1, bl - 1, f);
		fputs("\"}},", f);
		free(b64);
		b64 = NULL;
	}
	t = jv_dump_string(jv_string(prompt), 0);
	fprintf(f, "{\"text\":%s}]}],\"generationConfig\":{"
	    "\"responseModalities\":[\"TEXT\",\"IMAGE\"],", jv_string_value(t));
	jv_free(t);
	if (aspect != NULL)
		fprintf(f, "\"imageConfig\":{\"aspectRatio\":\"%s\"},", aspect);
	fputs("\"candidateCount\":1}}", f);
	if (fclose(f) != 0) {
		f = NULL;
		goto oom;
	}
	*out = buf;
	*outlen = len;
	return 0;
oom:
	warn("%s: request", name);
	if (f != NULL)
		fclose(f);
	free(buf);
	free(b64);
	return EX_OSERR;
}

/* One HTTP exchange. Returns 0 when an HTTP status arrived (c->status),
 * else the CURLcode (and errbuf). */
static CURLcode
exchange(struct gemini *g, const char *url, const char *req, size_t reqlen,
    double timeout, struct call *c, char errbuf[CURL_ERROR_SIZE])
{
	char hdr[KEY_MAX + 32];
	struct curl_slist *h = NULL, *t;
	CURL *e;
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	memset(c, 0, sizeof *c);
	c->retry_after = -1;
	c->body.max = g->max_response;
	errbuf[0] = '\0';
	if ((e = curl_easy_init()) == NULL)
		return cc;
	snprintf(hdr, sizeof hdr, "x-goog-api-key: %s", g->key);
	if ((t = curl_slist_append(h, "Content-Type: application/json")) == NULL ||
	    (h = t, t = curl_slist_append(h, "Expect:")) == NULL ||
	    (h = t, t = curl_slist_append(h, hdr)) == NULL)
		goto out;
	h = t;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)reqlen);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "rs/" RS_VERSION);
	/* 0 would mean no timeout at all */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout * 1000 >= 1 ? (long)(timeout * 1000) : 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(g->connect_timeout * 1000));
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)g->max_response);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->body);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	if ((cc = curl_easy_perform(e)) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
	else if (cc == CURLE_FILESIZE_EXCEEDED)
		c->body.over = 1;
out:
	sodium_memzero(hdr, sizeof hdr);
	for (t = h; t != NULL; t = t->next)        /* the key's copy */
		sodium_memzero(t->data, strlen(t->data));
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return cc;
}

/* error.details[].retryDelay ("42s", "1.5s"), or -1. */
static double
retry_delay(jv err)
{
	double d = -1;
	jv det = jv_get_kind(err) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(err), jv_string("details")) : jv_invalid();

	if (jv_get_kind(det) == JV_KIND_ARRAY)
		jv_array_foreach(det, i, x) {
			jv rd = jv_get_kind(x) == JV_KIND_OBJECT ?
			    jv_object_get(jv_copy(x), jv_string("retryDelay")) : jv_invalid();
			if (jv_get_kind(rd) == JV_KIND_STRING) {
				char *end;
				double v = strtod(jv_string_value(rd), &end);
				if (end != jv_string_value(rd) && strcmp(end, "s") == 0 && v >= 0)
					d = v;
			}
			jv_free(rd);
			jv_free(x);
		}
	jv_free(det);
	return d;
}

static int
safety_reason(const char *r)
{
	static const char *const s[] = { "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT",
		"IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION",
		"IMAGE_RECITATION", NULL };

	for (int i = 0; s[i] != NULL; i++)
		if (strcmp(r, s[i]) == 0)
			return 1;
	return 0;
}

static jv
str_or_null(jv obj, const char *key)
{
	jv v = jv_get_kind(obj) == JV_KIND_OBJECT ? jv_object_get(jv_copy(obj), jv_string(key)) :
	    jv_invalid();

	if (jv_get_kind(v) == JV_KIND_STRING)
		return v;
	jv_free(v);
	return jv_null();
}

/* Fail permanently with code and a message (also the diagnostic). */
static int
fail(struct gemini_answer *a, const char *name, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int
fail(struct gemini_answer *a, const char *name, int rc, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warnx("%s: gemini: %s", name, msg);
	a->info = jv_object_set(a->info, jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string(code), jv_string("message"), jv_string(msg)));
	return rc;
}

/* A 200 answer: find the image. */
static int
answer(struct gemini_answer *a, const char *name, jv r)
{
	jv cands, cand = jv_invalid(), content = jv_invalid(), parts = jv_invalid(), img = jv_invalid();
	jv pf, usage, text = jv_string("");
	char said[300], fin[64] = "", tmp[300];
	int rc = 0, ntext = 0;

	usage = jv_object_get(jv_copy(r), jv_string("usageMetadata"));
	if (jv_get_kind(usage) == JV_KIND_OBJECT)
		a->info = jv_object_set(a->info, jv_string("usage"), usage);
	else
		jv_free(usage);
	a->info = jv_object_set(a->info, jv_string("model_version"), str_or_null(r, "modelVersion"));
	a->info = jv_object_set(a->info, jv_string("response_id"), str_or_null(r, "responseId"));
	jv ms = jv_object_get(jv_copy(r), jv_string("modelStatus"));
	if (jv_get_kind(ms) == JV_KIND_OBJECT)
		a->info = jv_object_set(a->info, jv_string("model_status"), ms);
	else
		jv_free(ms);
	pf = jv_object_get(jv_copy(r), jv_string("promptFeedback"));
	cands = jv_object_get(jv_copy(r), jv_string("candidates"));
	if (jv_get_kind(pf) == JV_KIND_OBJECT) {
		jv br = str_or_null(pf, "blockReason"), bm = str_or_null(pf, "blockReasonMessage");
		if (jv_get_kind(br) == JV_KIND_STRING) {
			tidy(jv_get_kind(bm) == JV_KIND_STRING ? jv_string_value(bm) : "", tmp, 200);
			rc = fail(a, name, EX_UNAVAILABLE, "prompt_blocked",
			    "safety block: the request was blocked (blockReason %s)%s%s",
			    jv_string_value(br), *tmp ? ": " : "", tmp);
		}
		jv_free(br);
		jv_free(bm);
		if (rc != 0)
			goto out;
	}
	if (jv_get_kind(cands) != JV_KIND_ARRAY || jv_array_length(jv_copy(cands)) == 0) {
		rc = fail(a, name, EX_UNAVAILABLE, "no_image", "no image: the answer has no candidates");
		goto out;
	}
	cand = jv_array_get(jv_copy(cands), 0);
	if (jv_get_kind(cand) == JV_KIND_OBJECT) {
		jv fr = str_or_null(cand, "finishReason");
		if (jv_get_kind(fr) == JV_KIND_STRING) {
			tidy(jv_string_value(fr), fin, sizeof fin);
			a->info = jv_object_set(a->info, jv_string("finish_reason"), jv_string(fin));
		}
		jv_free(fr);
		content = jv_object_get(jv_copy(cand), jv_string("content"));
	}
	if (jv_get_kind(content) == JV_KIND_OBJECT)
		parts = jv_object_get(jv_copy(content), jv_string("parts"));
	if (jv_get_kind(parts) == JV_KIND_ARRAY)
		jv_array_foreach(parts, i, p) {
			jv th = jv_invalid(), t = jv_invalid(), d = jv_invalid();
			if (jv_get_kind(p) == JV_KIND_OBJECT) {
				th = jv_object_get(jv_copy(p), jv_string("thought"));
				t = jv_object_get(jv_copy(p), jv_string("text"));
				d = jv_object_get(jv_copy(p), jv_string("inlineData"));
				if (jv_get_kind(d) != JV_KIND_OBJECT) {
					jv_free(d);
					d = jv_object_get(jv_copy(p), jv_string("inline_data"));
				}
			}
			if (jv_get_kind(th) != JV_KIND_TRUE) {
				if (jv_get_kind(t) == JV_KIND_STRING) {
					if (ntext++ > 0)
						text = jv_string_concat(text, jv_string("\n"));
					text = jv_string_concat(text, jv_copy(t));
				}
				if (jv_get_kind(d) == JV_KIND_OBJECT) {
					jv_free(img);
					img = jv_copy(d);
				}
			}
			jv_free(th);
			jv_free(t);
			jv_free(d);
			jv_free(p);
		}
	tidy(jv_string_value(text), said, 200);
	if (ntext > 0)
		a->info = jv_object_set(a->info, jv_string("text"), jv_copy(text));
	if (*fin != '\0' && safety_reason(fin)) {
		rc = fail(a, name, EX_UNAVAILABLE, "safety_block",
		    "safety block: the model stopped (finishReason %s)", fin);
		goto out;
	}
	if (jv_get_kind(img) != JV_KIND_OBJECT) {
		rc = fail(a, name, EX_UNAVAILABLE, "no_image", "no image in the answer%s%s%s%s%s",
		    *fin ? " (finishReason " : "", fin, *fin ? ")" : "",
		    ntext ? "; the model said: " : "", ntext ? said : "");
		goto out;
	}
	{
		jv mime = str_or_null(img, "mimeType"), data = str_or_null(img, "data");
		size_t dl, max;
		if (jv_get_kind(mime) != JV_KIND_STRING) {
			jv_free(mime);
			mime = str_or_null(img, "mime_type");
		}
		if (jv_get_kind(mime) != JV_KIND_STRING || jv_get_kind(data) != JV_KIND_STRING ||
		    strncmp(jv_string_value(mime), "image/", 6) != 0) {
			tidy(jv_get_kind(mime) == JV_KIND_STRING ? jv_string_value(mime) : "none",
			    tmp, 64);
			rc = fail(a, name, EX_UNAVAILABLE, "not_an_image",
			    "not an image: the answer's part has mimeType %s", tmp);
		} else {
			dl = (size_t)jv_string_length_bytes(jv_copy(data));
			max = dl / 4 * 3 + 3;
			tidy(jv_string_value(mime), a->mime, sizeof a->mime);
			if ((a->buf = malloc(max + 1)) == NULL) {
				warn("%s: answer", name);
				rc = EX_OSERR;
			} else if (sodium_base642bin(a->buf, max, jv_string_value(data), dl,
			    " \r\n", &a->len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
				rc = fail(a, name, EX_UNAVAILABLE, "not_an_image",
				    "not an image: the answer's image data is not base64");
			}
		}
		jv_free(mime);
		jv_free(data);
	}
out:
	if (rc != 0) {
		free(a->buf);
		a->buf = NULL;
		a->len = 0;
	}
	jv_free(text);
	jv_free(pf);
	jv_free(cands);
	jv_free(cand);
	jv_free(content);
	jv_free(parts);
	jv_free(img);
	return rc;
}

static int
transient(long status)
{
	return status == 408 || status == 429 || status == 500 || status == 502 ||
	    status == 503 || status == 504;
}

int
gemini_generate(struct gemini *g, const char *name, const struct gemini_image *in,
    int n, const char *aspect, const char *prompt, struct gemini_answer *a)
{
	char url[1024], errbuf[CURL_ERROR_SIZE], why[400] = "";
	char *req = NULL;
	size_t reqlen = 0;
	double t0 = now(), asked = -1;
	struct call c = { 0 };
	unsigned attempt = 0;
	int rc;

	memset(a, 0, sizeof *a);
	a->info = JV_OBJECT(jv_string("model"), jv_string(g->model));
	if ((size_t)snprintf(url, sizeof url, "%s/v1beta/models/%s:generateContent",
	    g->endpoint, g->model) >= sizeof url) {
		warnx("%s: gemini: URL too long", name);
		return EX_CONFIG;
	}
	if ((rc = body(name, in, n, aspect, prompt, &req, &reqlen)) != 0)
		return rc;
	for (;;) {
		double left = g->deadline - (now() - t0), delay;
		CURLcode cc;
		jv r = jv_invalid(), err = jv_invalid();

		attempt++;
		free(c.body.p);
		cc = exchange(g, url, req, reqlen, left < g->timeout ? left : g->timeout, &c, errbuf);
		a->info = jv_object_set(a->info, jv_string("attempts"), jv_number(attempt));
		a->info = jv_object_set(a->info, jv_string("latency_ms"),
		    jv_number(round((now() - t0) * 1000)));
		if (c.body.over) {
			rc = fail(a, name, EX_UNAVAILABLE, "oversized",
			    "the answer is larger than RS_GEMINI_MAX_RESPONSE (%llu bytes)",
			    g->max_response);
			break;
		}
		if (cc == CURLE_OUT_OF_MEMORY) {
			warnx("%s: gemini: out of memory", name);
			rc = EX_OSERR;
			break;
		}
		if (cc != CURLE_OK) {
			snprintf(why, sizeof why, "network: ");
			tidy(*errbuf ? errbuf : curl_easy_strerror(cc), why + 9, 200);
			asked = -1;
			if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
				rc = fail(a, name, EX_CONFIG, "config", "RS_GEMINI_ENDPOINT: %s", why);
				break;
			}
		} else {
			r = jv_parse_sized((const char *)(c.body.p ? (char *)c.body.p : ""),
			    (int)c.body.len);
			if (jv_get_kind(r) == JV_KIND_OBJECT)
				err = jv_object_get(jv_copy(r), jv_string("error"));
			if (c.status == 200) {
				if (jv_get_kind(r) != JV_KIND_OBJECT)
					rc = fail(a, name, EX_UNAVAILABLE, "malformed",
					    "the answer is not the API's JSON (HTTP 200, %zu bytes)",
					    c.body.len);
				else
					rc = answer(a, name, r);
				jv_free(r);
				jv_free(err);
				break;
			}
			{
				jv m = str_or_null(err, "message"), s = str_or_null(err, "status");
				char mt[300];
				tidy(jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "", mt, 240);
				snprintf(why, sizeof why, "HTTP %ld%s%s%s%s", c.status,
				    jv_get_kind(s) == JV_KIND_STRING ? " " : "",
				    jv_get_kind(s) == JV_KIND_STRING ? jv_string_value(s) : "",
				    *mt ? ": " : "", mt);
				jv_free(m);
				jv_free(s);
			}
			asked = retry_delay(err);
			if (asked < 0)
				asked = c.retry_after;
			jv_free(r);
			jv_free(err);
			if (!transient(c.status)) {
				if (c.status == 404)
					rc = fail(a, name, EX_UNAVAILABLE, "model_not_found",
					    "model %s not found (retired?): set RS_GEMINI_MODEL to a "
					    "current image model (%s)", g->model, why);
				else if (c.status == 401 || c.status == 403)
					rc = fail(a, name, EX_UNAVAILABLE, "denied",
					    "the API key was refused (%s)", why);
				else
					rc = fail(a, name, EX_UNAVAILABLE, "refused", "%s", why);
				break;
			}
		}
		/* transient: wait and retry, or give up */
		delay = g->backoff * pow(2, attempt - 1);
		if (delay > 60)
			delay = 60;
		delay = delay / 2 + delay / 2 * (randombytes_uniform(1000001) / 1e6);
		if (asked > delay)
			delay = asked;
		left = g->deadline - (now() - t0);
		if (attempt >= g->attempts || delay >= left) {
			if (asked >= 0)
				a->info = jv_object_set(a->info, jv_string("retry_after"),
				    jv_number(asked));
			rc = fail(a, name, EX_TEMPFAIL, "unavailable", "%s (gave up after %u "
			    "attempt%s%s)", why, attempt, attempt == 1 ? "" : "s",
			    attempt >= g->attempts ? "" : ": the deadline is near");
			break;
		}
		nap(delay);
	}
	free(c.body.p);
	free(req);
	return rc;
}

void
gemini_answer_free(struct gemini_answer *a)
{
	free(a->buf);
	a->buf = NULL;
	jv_free(a->info);
	a->info = jv_invalid();
}
