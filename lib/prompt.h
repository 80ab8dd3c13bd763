/* prompt.h: the instruction sent to an image model (meta-prompting).
 * Built from templates (RS_PROMPTS, a file in the format of
 * etc/prompts.conf; the same text is compiled in as the default), the
 * classification of the photo, the number of photos, whether to
 * colourise, and the user's optional wish, which is cleaned (control
 * characters and quotes replaced, whitespace collapsed, at most
 * PROMPT_USER_MAX bytes on a UTF-8 boundary) and framed inside rs's own
 * instruction, never in place of it.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_PROMPT_H
#define RS_PROMPT_H

#include <jv.h>

#include "conf.h"

#define PROMPT_USER_MAX 1000

struct prompt;                                     /* opaque: the templates */
int  prompt_load(struct conf *c, struct prompt **pp);  /* RS_PROMPTS or built-in */
void prompt_free(struct prompt *p);                /* NULL is fine */
/* The prompt text (*text malloc'd). cls: the classify object (borrowed;
 * null or missing fields are fine); n: 1..3 photos; user may be NULL. */
int  prompt_build(const struct prompt *p, jv cls, int n, int colourise,
         const char *user, char **text);
/* user cleaned as above into out (size >= PROMPT_USER_MAX + 1). */
void prompt_clean_user(const char *user, char *out);

#endif
