/* gemini.h: a client for the Gemini API's generateContent method
 * (libcurl, libjq, libsodium), for image restoration and fusion. One
 * call sends 1 to 3 images and a text part (no systemInstruction: image
 * models reject it) and returns the answer's image, with retries of
 * transient failures (429, 5xx, network, timeouts) under a total
 * deadline. Settings (conf.h): GEMINI_API_KEY (environment only) or
 * RS_GEMINI_KEY_FILE; RS_GEMINI_ENDPOINT, RS_GEMINI_MODEL,
 * RS_GEMINI_TIMEOUT, RS_GEMINI_CONNECT_TIMEOUT, RS_GEMINI_ATTEMPTS,
 * RS_GEMINI_DEADLINE, RS_GEMINI_BACKOFF, RS_GEMINI_MAX_RESPONSE. The key
 * goes in one request header and nowhere else: not in URLs, messages or
 * records.
 * Functions return 0 or an EX_* status, having printed one diagnostic:
 * 75 (EX_TEMPFAIL) when retrying later may succeed, 69 (EX_UNAVAILABLE)
 * when the service refused or failed for good, 78 (EX_CONFIG) for bad
 * settings. */
#ifndef RS_GEMINI_H
#define RS_GEMINI_H

#include <stddef.h>
#include <jv.h>

#include "conf.h"

#define GEMINI_DEFAULT_ENDPOINT "https://generativelanguage.googleapis.com"
#define GEMINI_DEFAULT_MODEL    "gemini-3.1-flash-image"

struct gemini;                                     /* opaque: settings and key */
int  gemini_configured(struct conf *c);            /* 1 if a key is set up */
int  gemini_open(struct conf *c, struct gemini **gp);
void gemini_close(struct gemini *g);               /* NULL is fine; wipes the key */
const char *gemini_model(const struct gemini *g);  /* borrowed */

struct gemini_image {                              /* one input, borrowed */
	const char *mime;                          /* image/jpeg or image/png */
	const unsigned char *buf;
	size_t len;
};

struct gemini_answer {
	unsigned char *buf;       /* the answer's image bytes (malloc'd), or NULL */
	size_t len;
	char mime[64];
	/* Owned record object: model, attempts, latency_ms, usage,
	 * finish_reason, model_version, text (the model's words), and on
	 * failure error {code, message}. Valid after every call. */
	jv info;
};

/* aspect: the requested ratio ("4:3"), or NULL. name is for messages. */
int  gemini_generate(struct gemini *g, const char *name, const struct gemini_image *in,
         int n, const char *aspect, const char *prompt, struct gemini_answer *ans);
void gemini_answer_free(struct gemini_answer *ans);
/* The supported aspect ratio nearest to w:h. */
const char *gemini_aspect(int w, int h);

#endif
