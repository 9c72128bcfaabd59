/*
 * burrowd — the BurrowDB server. Reads its settings (flags, --config FILE),
 * opens the database in the data directory, starts the network threads and
 * runs the data thread on the main thread until SIGTERM, SIGINT or
 * SHUTDOWN; then it finishes the requests that have arrived, commits,
 * closes the file and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "server/server.h"

static server *the_server;

static void on_signal(int sig)
{
    (void)sig;
    if (the_server) server_request_shutdown(the_server); /* uv_async_send: async-signal-safe */
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char ch = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            tmp[i] = ch;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    server_config cfg;
    config_defaults(&cfg);
    char err[512] = "";
    int r = config_from_args(&cfg, argc, argv, err, sizeof err);
    if (r) {
        if (r < 0) fprintf(stderr, "burrowd: %s\n", err);
        config_free(&cfg);
        return r < 0 ? 1 : 0;
    }
    if (mkdir_p(cfg.dir)) {
        fprintf(stderr, "burrowd: cannot create the data directory %s: %s\n", cfg.dir, strerror(errno));
        config_free(&cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    server *s;
    if (server_create(&cfg, &s, err, sizeof err)) {
        fprintf(stderr, "burrowd: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    net *n;
    if (net_start(s, &cfg, &n, err, sizeof err)) {
        fprintf(stderr, "burrowd: %s\n", err);
        /* threads that started are waiting on their loops; exiting is the
         * only clean way out at this point */
        server_destroy(s);
        config_free(&cfg);
        _exit(1);
    }
    the_server = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    static const char *const dur[] = {"always", "everysec", "no"};
    printf("burrowd ready: listening on %s:%d, database %s/%s, durability %s, %d network threads\n", cfg.bind,
           net_port(n), cfg.dir, cfg.dbfilename, dur[cfg.durability], cfg.threads);
    fflush(stdout);
    int rc = server_run(s);
    net_join(n);
    the_server = NULL;
    server_destroy(s);
    printf("burrowd: stopped, database closed\n");
    config_free(&cfg);
    return rc ? 1 : 0;
}
