/* notify.c: signed job callbacks over libcurl (see notify.h).
 * The key is read when the first callback is due, so a runner whose jobs
 * have no callback needs none; it is never printed. The body is the job
 * record as one line of JSON, exactly the bytes that were signed. */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>

#include "conf.h"
#include "json.h"
#include "notify.h"
#include "util.h"

#define KEY_MAX 512

struct notify {
	struct conf *conf;        /* borrowed */
	CURL *curl;
	char key[KEY_MAX];
	int have_key;
	unsigned long long attempts;
	double backoff, timeout;
};

static double
conf_num(struct conf *c, const char *key, double def)
{
	const char *s = conf_str(c, key, NULL);
	char *end;
	double v;

	if (s == NULL)
		return def;
	v = strtod(s, &end);
	return end != s && *end == '\0' && v >= 0 ? v : -1;
}

int
notify_open(struct conf *c, struct notify **np)
{
	struct notify *n;
	int rc;

	*np = NULL;
	if ((n = calloc(1, sizeof *n)) == NULL) {
		warn("notify");
		return EX_OSERR;
	}
	n->conf = c;
	if ((rc = conf_size(c, "RS_CALLBACK_ATTEMPTS", 3, &n->attempts)) != 0) {
		free(n);
		return rc;
	}
	if ((n->backoff = conf_num(c, "RS_CALLBACK_BACKOFF", 1)) < 0 ||
	    (n->timeout = conf_num(c, "RS_CALLBACK_TIMEOUT", 10)) <= 0) {
		warnx("RS_CALLBACK_BACKOFF, RS_CALLBACK_TIMEOUT: not a number of seconds");
		free(n);
		return EX_CONFIG;
	}
	if (n->attempts < 1)
		n->attempts = 1;
	*np = n;
	return 0;
}

void
notify_close(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->curl != NULL)
		curl_easy_cleanup(n->curl);
	sodium_memzero(n->key, sizeof n->key);
	free(n);
}

static int
load_key(struct notify *n)
{
	const char *env = conf_str(n->conf, "RS_CALLBACK_KEY", NULL);
	const char *path = conf_str(n->conf, "RS_CALLBACK_KEY_FILE", NULL);
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	if (n->have_key)
		return 0;
	if (env != NULL)
		len = strlen(env);
	else if (path != NULL) {
		if ((rc = util_slurp(path, KEY_MAX - 1, &buf, &len)) != 0)
			return rc == EX_NOPERM ? rc : EX_CONFIG;
		env = (const char *)buf;
		len = strcspn(env, "\r\n");
	} else {
		warnx("callback: no key: set RS_CALLBACK_KEY or RS_CALLBACK_KEY_FILE");
		return EX_CONFIG;
	}
	if (len == 0 || len >= KEY_MAX) {
		warnx("callback: the key must be 1 to %d bytes", KEY_MAX - 1);
		rc = EX_CONFIG;
	} else {
		memcpy(n->key, env, len);
		n->key[len] = '\0';
		n->have_key = 1;
		rc = 0;
	}
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return rc;
}

void
notify_sign(const char *key, long long t, const void *body, size_t len, char *out, size_t size)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char ts[32], hex[2 * sizeof mac + 1];

	snprintf(ts, sizeof ts, "%lld", t);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	util_hex(mac, sizeof mac, hex);
	snprintf(out, size, "t=%s,v1=%s", ts, hex);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One POST: 0 delivered, 75 worth another try, 69 refused. */
static int
post(struct notify *n, const char *id, const char *url, const char *body, size_t len)
{
	struct curl_slist *h = NULL;
	char sig[128], hdr[160];
	long code = 0;
	CURLcode e;

	notify_sign(n->key, (long long)time(NULL), body, len, sig, sizeof sig);
	snprintf(hdr, sizeof hdr, "RS-Signature: %s", sig);
	if (n->curl == NULL && (n->curl = curl_easy_init()) == NULL) {
		warnx("job %s: callback: cannot start libcurl", id);
		return EX_TEMPFAIL;
	}
	curl_easy_reset(n->curl);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, hdr);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(n->curl, CURLOPT_URL, url);
	curl_easy_setopt(n->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(n->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(n->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(n->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(n->curl, CURLOPT_TIMEOUT_MS, (long)(n->timeout * 1000));
	curl_easy_setopt(n->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(n->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(n->curl, CURLOPT_USERAGENT, "rs-run/" RS_VERSION);
	e = curl_easy_perform(n->curl);
	curl_slist_free_all(h);
	if (e != CURLE_OK) {
		warnx("job %s: callback: %s", id, curl_easy_strerror(e));
		return EX_TEMPFAIL;
	}
	curl_easy_getinfo(n->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300)
		return 0;
	warnx("job %s: callback: HTTP %ld", id, code);
	return code == 408 || code == 429 || code >= 500 ? EX_TEMPFAIL : EX_UNAVAILABLE;
}

int
notify_job(struct notify *n, jv job)
{
	const char *url = json_str(job, "callback"), *id = json_str(job, "id");
	double delay = n->backoff;
	jv text;
	int rc;

	if (url == NULL)
		return 0;
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		warnx("job %s: callback: not an http or https URL", id);
		return EX_DATAERR;
	}
	if ((rc = load_key(n)) != 0)
		return rc;
	text = jv_dump_string(jv_copy(job), 0);
	for (unsigned long long i = 0; i < n->attempts; i++) {
		if (i > 0) {
			struct timespec ts = { (time_t)delay, (long)((delay - (time_t)delay) * 1e9) };
			nanosleep(&ts, NULL);
			delay *= 2;
		}
		if ((rc = post(n, id, url, jv_string_value(text),
		    (size_t)jv_string_length_bytes(jv_copy(text)))) != EX_TEMPFAIL)
			break;
	}
	jv_free(text);
	return rc;
}
