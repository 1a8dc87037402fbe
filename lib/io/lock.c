/* Output locks: one writer per output file.
 *
 * io_lock_acquire(path, &lock): local. Creates "<path>.lock", takes an
 *   exclusive non-blocking flock on it and writes "host pid time" into it;
 *   if another process holds it, fails with CORE_ERR_IO and a message that
 *   quotes what the holder wrote.
 * io_lock_check(&lock): local; fails if the lock file is no longer the one
 *   held (removed by hand), so a run stops before it publishes anything.
 * io_lock_release(&lock): local; removes the file if it is still the one
 *   held, then drops the lock.
 *
 * flock locks belong to the open file, so a killed holder releases its lock
 * with its last descriptor; a stale lock file without a holder is simply
 * taken over. Removing the file on release is safe because a taker checks,
 * after locking, that the file it locked is still the one at the path; if a
 * releasing holder unlinked it in between, the taker starts over with a new
 * file. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eloss/io.h"

core_status io_lock_acquire(const char *path, io_lock *lock) {
  lock->fd = -1;
  CORE_CHECK(strlen(path) + 6 < sizeof lock->path, CORE_ERR_ARG, "output path is too long: %s", path);
  snprintf(lock->path, sizeof lock->path, "%s.lock", path);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) CORE_CALL(io_output_check(path)); /* names the missing directory */
    CORE_CHECK(fd >= 0, CORE_ERR_IO, "%s: cannot create the lock file: %s", lock->path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char holder[256] = "";
      ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
      close(fd);
      holder[got > 0 ? got : 0] = '\0';
      holder[strcspn(holder, "\n")] = '\0';
      if (err == EWOULDBLOCK)
        return CORE_ERROR(CORE_ERR_IO, "%s is being written by another run (%s, lock %s); wait for it to end or "
                                       "choose another output file", path, holder[0] ? holder : "holder unknown", lock->path);
      return CORE_ERROR(CORE_ERR_IO, "%s: cannot lock: %s", lock->path, strerror(err));
    }
    struct stat held, now;
    if (fstat(fd, &held) == 0 && stat(lock->path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
      char host[128] = "?", text[256];
      gethostname(host, sizeof host - 1);
      host[sizeof host - 1] = '\0';
      time_t t = time(NULL);
      char when[64] = "";
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
      int len = snprintf(text, sizeof text, "host %s pid %ld since %s\n", host, (long)getpid(), when);
      if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
        /* The lock itself holds; only the holder's description is missing. */
      }
      lock->fd = fd;
      return CORE_OK;
    }
    close(fd); /* the file was removed by a releasing holder: take the new one */
  }
  return CORE_ERROR(CORE_ERR_IO, "%s: the lock file keeps being replaced; is another run starting?", lock->path);
}

/* 1 if the lock file at the path is still the file this lock holds. */
static int still_held(const io_lock *lock) {
  struct stat held, now;
  return lock->fd >= 0 && fstat(lock->fd, &held) == 0 && stat(lock->path, &now) == 0 && held.st_ino == now.st_ino &&
         held.st_dev == now.st_dev;
}

core_status io_lock_check(const io_lock *lock) {
  CORE_CHECK(still_held(lock), CORE_ERR_IO, "%s was removed or replaced while this run held it; another run may be "
             "writing the same output: stopping", lock->path);
  return CORE_OK;
}

void io_lock_release(io_lock *lock) {
  if (lock->fd < 0) return;
  /* A lock file removed by hand may have been replaced by another run's:
   * only our own is removed. */
  if (still_held(lock)) unlink(lock->path);
  close(lock->fd);
  lock->fd = -1;
}
