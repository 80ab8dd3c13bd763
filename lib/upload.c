/* upload.c: accepting photos (see upload.h). A photo is proven before it
 * is stored: sniffed by its magic bytes, its header checked against the
 * limits before any pixel memory is allocated, every row decoded. A file
 * is mapped rather than read, so rs-serve accepts a 50 MB upload without
 * holding it in its heap. */
#include <sys/mman.h>
#include <sys/stat.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "json.h"
#include "ledger.h"
#include "spool.h"
#include "upload.h"
#include "util.h"

int
upload_check(const char *name, const unsigned char *buf, size_t len,
    const struct img_limits *lim, struct upload_input *in)
{
	struct img im;
	int rc;

	memset(&im, 0, sizeof im);
	if ((rc = img_decode(name, buf, len, lim, IMG_VALIDATE, 1, &im)) != 0)
		return rc;
	in->type = im.type;
	in->w = im.w;
	in->h = im.h;
	in->bytes = len;
	img_free(&im);
	return 0;
}

int
upload_check_fd(struct store *st, const char *name, int fd, const struct img_limits *lim,
    struct upload_input *in)
{
	struct stat sb;
	void *map;
	int rc;

	if (fstat(fd, &sb) < 0) {
		rc = util_ex_errno(errno);
		warn("%s", name);
		return rc;
	}
	if ((unsigned long long)sb.st_size > lim->max_bytes) {
		warnx("%s: %lld bytes exceeds limit %llu", name, (long long)sb.st_size,
		    lim->max_bytes);
		return EX_DATAERR;
	}
	if (sb.st_size == 0) {
		warnx("%s: empty", name);
		return EX_DATAERR;
	}
	if ((map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		rc = util_ex_errno(errno);
		warn("%s: mmap", name);
		return rc;
	}
	rc = upload_check(name, map, (size_t)sb.st_size, lim, in);
	if (rc == 0)
		rc = store_put(st, map, (size_t)sb.st_size, in->object);
	munmap(map, (size_t)sb.st_size);
	return rc;
}

jv
upload_record(const struct upload_input *in, int n, const char *user, const char *prompt,
    int queued)
{
	char id[SPOOL_ID_LEN + 1], now[32];
	jv inputs = jv_array(), job;

	spool_new_id(id);
	util_rfc3339(now);
	for (int i = 0; i < n; i++)
		inputs = jv_array_append(inputs, JV_OBJECT(
		    jv_string("object"), jv_string(in[i].object),
		    jv_string("mime"), jv_string(img_mime(in[i].type)),
		    jv_string("width"), jv_number(in[i].w),
		    jv_string("height"), jv_number(in[i].h),
		    jv_string("bytes"), jv_number((double)in[i].bytes),
		    jv_string("name"), jv_string(in[i].name)));
	job = JV_OBJECT(jv_string("id"), jv_string(id), jv_string("created"), jv_string(now),
	    jv_string("mode"), jv_string(n == 1 ? "restore" : "fusion"));
	if (user != NULL)
		job = jv_object_set(job, jv_string("user"), jv_string(user));
	if (prompt != NULL)
		job = jv_object_set(job, jv_string("prompt"), jv_string(prompt));
	job = jv_object_set(job, jv_string("inputs"), inputs);
	if (queued)
		job = jv_object_set(job, jv_string("status"), jv_string("queued"));
	return job;
}

int
upload_cost(struct ledger *lg, const char *plan, const char *mode)
{
	jv settings = json_get(ledger_plans(lg), plan != NULL ? plan : "");
	jv costs = json_get(settings, "cost"), cost = json_get(costs, mode);
	int n = jv_get_kind(cost) == JV_KIND_NUMBER ? (int)jv_number_value(cost) :
	    strcmp(mode, "fusion") == 0 ? 2 : 1;

	jv_free(cost);
	jv_free(costs);
	jv_free(settings);
	return n;
}

/* The plan gives the cost of the job's mode and the priority; the credits
 * are held under the job id until rs-run captures or releases them. */
int
upload_charge(struct ledger *lg, jv user, jv *job)
{
	const char *id = json_str(*job, "id"), *mode = json_str(*job, "mode"),
	    *plan = json_str(user, "plan"), *who = json_str(user, "user");
	jv settings = json_get(ledger_plans(lg), plan != NULL ? plan : "");
	jv prio = json_get(settings, "priority"), hold = jv_invalid();
	int cost = upload_cost(lg, plan, mode != NULL ? mode : "restore"), rc;

	if ((rc = ledger_reserve(lg, who, cost, id, &hold)) == 0) {
		*job = jv_object_set(*job, jv_string("plan"), jv_string(plan != NULL ? plan : ""));
		*job = jv_object_set(*job, jv_string("cost"), jv_number(cost));
		if (jv_get_kind(prio) == JV_KIND_NUMBER)
			*job = jv_object_set(*job, jv_string("priority"), jv_copy(prio));
	}
	jv_free(hold);
	jv_free(prio);
	jv_free(settings);
	return rc;
}

int
upload_printable(const char *s, int nl)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && !(nl && (*s == '\n' || *s == '\t')))
			return 0;
	return 1;
}
