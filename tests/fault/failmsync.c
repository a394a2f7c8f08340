/* An LD_PRELOAD shim for fault tests: msync (and fsync, fdatasync) fail
 * with EIO (or $FAIL_ERRNO) while the file named by $FAIL_SYNC_FLAG exists.
 * The test creates the file to start the failure and removes it to end it,
 * so it needs no count of the gateway's start-up syncs. memmap2 calls
 * libc's msync, std's File::sync_all calls fsync: both come through here.
 * Build: cc -O2 -shared -fPIC -o failmsync.so failmsync.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int failing(void) {
    const char *flag = getenv("FAIL_SYNC_FLAG");
    struct stat st;
    if (!flag || stat(flag, &st) != 0) return 0;
    const char *e = getenv("FAIL_ERRNO");
    errno = e ? atoi(e) : EIO;
    return 1;
}

int msync(void *addr, size_t len, int flags) {
    static int (*real)(void *, size_t, int);
    if (!real) real = dlsym(RTLD_NEXT, "msync");
    if (failing()) return -1;
    return real(addr, len, flags);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    if (failing()) return -1;
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    if (failing()) return -1;
    return real(fd);
}
