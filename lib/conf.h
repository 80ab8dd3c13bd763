/* conf.h: configuration. Each setting is a key such as RS_SPOOL; the
 * environment variable of that name wins over the line "RS_SPOOL=..." in
 * the configuration file ($RS_CONF, else SYSCONFDIR/rs.conf; a missing
 * default file is fine, a missing $RS_CONF is an error).
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_CONF_H
#define RS_CONF_H

#include <stdint.h>

struct conf;                                       /* opaque */
int         conf_load(struct conf **cp);           /* reads the file once a process */
void        conf_free(struct conf *c);             /* NULL is fine */
/* The value of key, or def when unset. Borrowed: lives as long as c. */
const char *conf_str(const struct conf *c, const char *key, const char *def);
/* A size ("50M") or count; EX_CONFIG with a message when malformed. */
int         conf_size(const struct conf *c, const char *key,
                unsigned long long def, unsigned long long *v);
/* A duration: "90", "1.5", "10s", "5m", "2h", "7d" in seconds, or def
 * when unset; EX_CONFIG with a message when malformed. */
int         conf_seconds(const struct conf *c, const char *key, double def, double *v);
double      conf_parse_seconds(const char *s);     /* the same for a string; -1 if bad */
/* The spool directory: RS_SPOOL, else $XDG_DATA_HOME/rs, else
 * ~/.local/share/rs. Borrowed from c. */
const char *conf_spool(struct conf *c);

#endif
