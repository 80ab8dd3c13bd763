/* rs-serve: the HTTP API of rs for one connection on standard input and
 * output, as tcpserver, socat, inetd, xinetd or systemd (Accept=yes)
 * hand it over. Requests are answered in order until the client closes,
 * stays idle, or a response ends the connection. The routes are
 * lib/api*.c, HTTP itself lib/http.c; see rs-serve(8). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "util.h"

#define USAGE "usage: rs-serve [-hV]\n"

static void
help(void)
{
	fputs(USAGE
	    "Serve the rs HTTP API on one connection: standard input and output.\n"
	    "Run it under tcpserver, socat, inetd, xinetd or systemd (Accept=yes):\n"
	    "  RS_SPOOL=DIR tcpserver 127.0.0.1 8080 rs-serve\n"
	    "  -h, --help      show this help\n"
	    "  -V, --version   show the version\n"
	    "Settings: RS_SPOOL, RS_WEB_ROOT, RS_CORS_ORIGINS, RS_HSTS, RS_KICK and\n"
	    "more; see rs-serve(8). The access log is JSON lines on standard error.\n",
	    stdout);
}

/* The client's address: the socket's peer, else what the super-server
 * put in the environment (tcpserver, socat, xinetd). */
static void
peer(char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	const char *e;

	if (getpeername(0, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET &&
		    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size))
			return;
		if (ss.ss_family == AF_INET6 &&
		    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)size))
			return;
		if (ss.ss_family == AF_UNIX) {
			snprintf(out, size, "local");
			return;
		}
	}
	if ((e = getenv("TCPREMOTEIP")) != NULL || (e = getenv("SOCAT_PEERADDR")) != NULL ||
	    (e = getenv("REMOTE_HOST")) != NULL)
		snprintf(out, size, "%s", e);
	else
		snprintf(out, size, "unknown");
}

/* inetd and xinetd hand the socket over as standard error too: the log
 * must not go to the client. It goes to $RS_LOG then, else nowhere. */
static void
log_away_from_socket(void)
{
	struct stat s0, s2;
	const char *path = getenv("RS_LOG");
	int fd;

	if (path != NULL && *path != '\0')
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	else if (fstat(0, &s0) == 0 && fstat(2, &s2) == 0 && S_ISSOCK(s2.st_mode) &&
	    s0.st_dev == s2.st_dev && s0.st_ino == s2.st_ino)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	else
		return;
	if (fd >= 0 && fd != 2) {
		dup2(fd, 2);
		close(fd);
	}
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	struct http_conn *c = NULL;
	struct http_req r;
	struct api *a = NULL;
	char addr[64];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "hV", lo, NULL)) != -1)
		switch (ch) {
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-serve " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if (optind != argc) {
		warnx("%s: no arguments: the connection is standard input and output", argv[optind]);
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	log_away_from_socket();
	signal(SIGPIPE, SIG_IGN);         /* a vanished client is a write error */
	signal(SIGCHLD, SIG_DFL);
	peer(addr, sizeof addr);
	if ((rc = api_open(addr, argv[0], &a)) != 0 || (rc = api_conn(a, 0, 1, &c)) != 0) {
		api_close(a);
		return rc;
	}
	for (;;) {
		if ((rc = http_read_request(c, &r)) < 0)
			break;                    /* closed or idle: nothing to say */
		if (rc > 0) {
			api_refuse(a, c, rc);
			break;
		}
		api_handle(a, c, &r);
		if (!http_keep(c))
			break;
	}
	/* the database is let go before the client sees the end of the last
	 * response: its next connection's process must not wait on our close */
	api_close(a);
	http_linger(c);
	http_conn_free(c);
	return 0;
}
