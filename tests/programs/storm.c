/* A connection storm for tcpladder's live-capture tests and benchmark.
 *
 * storm PORT SECONDS [CLIENTS]: a server on 127.0.0.1:PORT that accepts,
 * reads to EOF and closes, and CLIENTS threads (default 2) that, for
 * SECONDS, each connect from their own 127.x.y.z source address, send 16
 * bytes and close, one connection after another. Prints the number of
 * connections made (accepted and completed) on stdout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static double seconds;
static atomic_long made;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *serve(void *arg) {
    int ls = *(int *)arg;
    char buf[256];
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        while (read(c, buf, sizeof buf) > 0) {
        }
        close(c);
    }
    return NULL;
}

static void *client(void *arg) {
    long id = (long)arg;
    unsigned n = 0;
    double end = now() + seconds;
    char msg[16];
    memset(msg, 'x', sizeof msg);
    while (now() < end) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0)
            continue;
        /* A source address of its own for every connection: no port runs
         * out while the closed ones sit in TIME-WAIT. */
        struct sockaddr_in src = {.sin_family = AF_INET};
        unsigned host = n++ % 65534 + 1;
        src.sin_addr.s_addr = htonl((127u << 24) | ((unsigned)(id + 1) << 16) | host);
        bind(s, (struct sockaddr *)&src, sizeof src);
        struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
        dst.sin_addr.s_addr = htonl(0x7f000001);
        if (connect(s, (struct sockaddr *)&dst, sizeof dst) == 0 &&
            write(s, msg, sizeof msg) == sizeof msg) {
            shutdown(s, SHUT_WR);
            char b[16];
            while (read(s, b, sizeof b) > 0) {
            }
            atomic_fetch_add(&made, 1);
        }
        close(s);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: storm PORT SECONDS [CLIENTS]\n");
        return 2;
    }
    port = atoi(argv[1]);
    seconds = atof(argv[2]);
    int clients = argc > 3 ? atoi(argv[3]) : 2;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) {
        perror("listen");
        return 1;
    }
    pthread_t srv;
    pthread_create(&srv, NULL, serve, &ls);
    pthread_t t[64];
    if (clients > 64)
        clients = 64;
    for (long i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, client, (void *)i);
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    printf("%ld\n", atomic_load(&made));
    return 0;
}
