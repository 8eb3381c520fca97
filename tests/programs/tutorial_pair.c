/* The socket tutorials' server and client in C, for tcpladder's trace
 * tests: the parent listens on 127.0.0.1:PORT and forks the client; the
 * server accept()s, read()s the request, write()s a reply and read()s
 * until 0 (the client's FIN), then close()s. Plain blocking calls, as the
 * tutorials write them.
 *
 * Build: cc -O2 -o tutorial_pair tutorial_pair.c; run: tutorial_pair PORT
 * [noclose]; with noclose the client returns from main without close():
 * its exit closes the socket and sends the FIN.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tutorial_pair PORT [noclose]\n");
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) die("socket");
    int one = 1;
    if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(ls, 5) < 0) die("listen");

    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(ls);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) die("socket");
        if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
        if (write(s, "hello", 5) != 5) die("write");
        char buf[100];
        if (read(s, buf, sizeof buf) <= 0) die("read");
        if (argc < 3 || strcmp(argv[2], "noclose") != 0) close(s);
        return 0;
    }
    int c = accept(ls, NULL, NULL);
    if (c < 0) die("accept");
    char buf[100];
    ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0) die("read");
    if (write(c, buf, (size_t)n) != n) die("write");
    while ((n = read(c, buf, sizeof buf)) > 0) {
    }
    close(c);
    close(ls);
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
