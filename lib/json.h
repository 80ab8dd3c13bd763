/* json.h: job records through libjq's jv API. Every function follows jv's
 * rule: it consumes the jv arguments it is given unless it says it
 * borrows, and returns an owned value.
 * Functions returning int give 0 or an EX_* status after one diagnostic. */
#ifndef RS_JSON_H
#define RS_JSON_H

#include <stdio.h>
#include <jv.h>

struct json_reader;                      /* a stream of JSON values */
int  json_reader_open(FILE *f, const char *name, struct json_reader **r);
void json_reader_close(struct json_reader *r);     /* NULL is fine */
/* Next value into *v. 0 with *v valid; 0 with *v invalid at end of
 * input; EX_DATAERR on bad JSON; EX_IOERR on a read error. */
int  json_next(struct json_reader *r, jv *v);

jv   json_get(jv obj, const char *key);  /* borrows obj; invalid if absent */
const char *json_str(jv obj, const char *key); /* borrows; NULL unless string */
int  json_write(FILE *f, jv v);          /* consumes v; one line; 0 or EX_IOERR */

#endif
