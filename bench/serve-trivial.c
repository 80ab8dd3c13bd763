/* serve-trivial: the anchor for bench/serve. Under tcpserver, read one
 * request head from standard input, answer a fixed JSON body, exit: the
 * least a process-per-connection server can do. */
#include <string.h>
#include <unistd.h>

int
main(void)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 12\r\nConnection: close\r\n\r\n{\"ok\":true}\n";
	char buf[16384];
	size_t n = 0;
	ssize_t k;

	while (n < sizeof buf - 1 && (k = read(0, buf + n, sizeof buf - 1 - n)) > 0) {
		n += (size_t)k;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	return write(1, resp, sizeof resp - 1) == (ssize_t)(sizeof resp - 1) ? 0 : 1;
}
