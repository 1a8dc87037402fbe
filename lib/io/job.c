/* The lifecycle of a long job: one object for every command that builds an
 * output over minutes or days and may be stopped and resumed.
 *
 * io_job_begin(comm, spec, &job): collective. Rank 0 alone touches the file
 *   system before the work (checks, locks, the decision how to start);
 *   every rank gets its decision or its error.
 * io_job_read / io_job_read_first: collective; rank 0 reads, all receive.
 * io_job_poll: collective; one MPI_Allreduce of (stop requested, due).
 * io_job_checkpoint / io_job_publish: collective; rank 0 writes, all agree.
 * io_job_end: local.
 *
 * Why one object: the sequence lock -> decide -> agreed checkpoints ->
 * publish was written once per command before, and the copies drifted
 * (which outputs lost their stale temporaries, how a refusal read). Here
 * every command gets the same refusals, in the same words:
 *   - -resume with -force;
 *   - an output that is an input, or two outputs that are one file;
 *   - a finished STAGED output without -force (and under -resume);
 *   - a checkpoint without -resume or -force (it would be lost);
 *   - a partial file no checkpoint describes, without -force;
 *   - -resume with no checkpoint, or a checkpoint of another identity
 *     (the option that differs is named: the identity text is the
 *     checkpoint's first section);
 *   - companions (further outputs, a metrics file) that exist, without
 *     -force or -resume.
 * A fresh -force run removes the old checkpoint and partial file before
 * the work (unlinked, not truncated: a symlink is replaced, not followed),
 * except an IN_PLACE output, which is the previous run's model and stays
 * until this run's first checkpoint replaces it atomically. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eloss/io.h"

struct io_job {
  MPI_Comm comm;
  int rank;
  io_job_spec spec;
  char identity[IO_JOB_IDENTITY_BYTES];
  uint32_t key;
  int resuming;
  io_lock lock, companion_lock[IO_JOB_FILES_MAX];
  char partial[4200], ckpt[4200];
  double last_checkpoint;
  int announced;      /* a poll has seen (and said) the stop */
  int64_t saved_step; /* the step of the last save through io_job_step_end; -1: none */
};

void io_remove_stale_temporaries(const char *path) {
  char dir_buf[4096], base_buf[4096];
  snprintf(dir_buf, sizeof dir_buf, "%s", path);
  snprintf(base_buf, sizeof base_buf, "%s", path);
  const char *dir = dirname(dir_buf), *base = basename(base_buf);
  char prefix[4200];
  const int len = snprintf(prefix, sizeof prefix, "%s.tmp.", base);
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, prefix, (size_t)len) != 0 || !e->d_name[len]) continue;
    if (strspn(e->d_name + len, "0123456789") != strlen(e->d_name + len)) continue;
    char full[8400];
    snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    unlink(full);
  }
  closedir(d);
}

static const char *out_option(const io_job_spec *s) { return s->out_option ? s->out_option : "-out"; }

static int exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

/* The refusals that need no lock: names, directories, inputs. */
static core_status check_outputs(const io_job *job) {
  const io_job_spec *s = &job->spec;
  CORE_CHECK(!(s->resume && s->force), CORE_ERR_ARG, "-resume and -force contradict each other: -resume continues "
             "the run of %s, -force starts it over; give one", s->out);
  CORE_CHECK(!(s->resume && s->no_checkpoint), CORE_ERR_ARG, "-resume: %s keeps no checkpoint (a short job): run it "
             "again without -resume", s->command);
  CORE_CALL(io_output_check(s->out));
  for (int c = 0; c < IO_JOB_FILES_MAX && s->companions[c]; ++c) CORE_CALL(io_output_check(s->companions[c]));
  for (int k = 0; k < s->n_inputs; ++k) {
    if (!s->inputs[k]) continue;
    CORE_CHECK(!io_same_file(s->out, s->inputs[k]), CORE_ERR_ARG, "%s is an input of the run (%s): choose another "
               "output", s->out, s->inputs[k]);
    for (int c = 0; c < IO_JOB_FILES_MAX && s->companions[c]; ++c)
      CORE_CHECK(!io_same_file(s->companions[c], s->inputs[k]), CORE_ERR_ARG, "%s is an input of the run (%s): "
                 "choose another output", s->companions[c], s->inputs[k]);
  }
  for (int c = 0; c < IO_JOB_FILES_MAX && s->companions[c]; ++c) {
    const char *own[2] = {job->ckpt, job->partial};
    for (int k = 0; k < 2; ++k)
      CORE_CHECK(!io_same_file(s->companions[c], own[k]), CORE_ERR_ARG, "%s is one of the run's own files (%s): "
                 "choose another name", s->companions[c], own[k]);
    CORE_CHECK(!io_same_file(s->companions[c], s->out), CORE_ERR_ARG, "%s is also the output %s: choose another file",
               s->companions[c], s->out);
    for (int d = 0; d < c; ++d)
      CORE_CHECK(!io_same_file(s->companions[c], s->companions[d]), CORE_ERR_ARG, "%s is given for two outputs: "
                 "choose another file", s->companions[c]);
  }
  return CORE_OK;
}

/* The checkpoint's identity against this run's: "" when they match, else
 * why not (a damaged checkpoint is an error). Rank 0. */
static core_status check_identity(io_job *job) {
  char stored[IO_JOB_IDENTITY_BYTES];
  uint32_t crc = 0;
  io_ckpt_section run = {"run", stored, sizeof stored};
  core_status st = io_ckpt_read_first(job->ckpt, job->spec.kind, &crc, 1, &run);
  if (st) {
    char why[1024];
    snprintf(why, sizeof why, "%s", core_error_message());
    return CORE_ERROR(st, "%s; start over with -force", why);
  }
  stored[sizeof stored - 1] = '\0';
  if (crc == job->key && strcmp(stored, job->identity) == 0) return CORE_OK;
  char what[600];
  if (!core_options_difference(stored, job->identity, what, sizeof what)) snprintf(what, sizeof what, "another run");
  return CORE_ERROR(CORE_ERR_ARG, "-resume: %s was written with other options or data: %s; rerun with them, or pass "
                    "-force (without -resume) to start over", job->ckpt, what);
}

/* Rank 0, holding the locks (none in a dry run): fresh or resumed. */
static core_status decide_start(io_job *job) {
  const io_job_spec *s = &job->spec;
  const int staged = s->mode == IO_JOB_STAGED;
  const int finished = (staged || s->no_checkpoint) && exists(s->out);
  const int found = !s->no_checkpoint && exists(job->ckpt);
  struct stat sb;
  if (found)
    CORE_CHECK(stat(job->ckpt, &sb) == 0 && S_ISREG(sb.st_mode), CORE_ERR_ARG, "%s exists and is not a regular file: "
               "it is in the way of the checkpoint of %s; remove it or choose another %s", job->ckpt, s->out,
               out_option(s));
  if (s->resume) {
    CORE_CHECK(!finished, CORE_ERR_ARG, "%s already exists (a finished output): nothing to resume; pass -force "
               "(without -resume) to make it again", s->out);
    CORE_CHECK(found, CORE_ERR_ARG, "-resume: nothing to resume: no %s (is -out the same as in the interrupted "
               "run?); run without -resume to start", job->ckpt);
    CORE_CALL(check_identity(job));
    job->resuming = 1;
    return CORE_OK;
  }
  CORE_CHECK(!finished || s->force, CORE_ERR_ARG, "%s already exists; pass -force to replace it, or choose another "
             "%s", s->out, out_option(s));
  if (staged)
    CORE_CHECK(!found || s->force, CORE_ERR_ARG, "%s: an interrupted run of %s can be continued: pass -resume to "
               "continue it, or -force to start over", job->ckpt, s->out);
  else
    CORE_CHECK(!found || s->force, CORE_ERR_ARG, "%s exists: pass -resume to continue its run, or -force to start "
               "over and replace it", s->out);
  for (int c = 0; c < IO_JOB_FILES_MAX && s->companions[c]; ++c)
    CORE_CHECK(s->force || !exists(s->companions[c]), CORE_ERR_ARG, "%s exists: pass -force to replace it, or "
               "choose another file", s->companions[c]);
  if (staged) {
    const int partial = lstat(job->partial, &sb) == 0;
    CORE_CHECK(!partial || !S_ISDIR(sb.st_mode), CORE_ERR_ARG, "%s is a directory, in the way of the partial output "
               "of %s; remove it or choose another %s", job->partial, s->out, out_option(s));
    CORE_CHECK(!partial || s->force || found || s->no_checkpoint, CORE_ERR_ARG, "%s exists but no checkpoint "
               "describes it; pass -force to replace it, or choose another %s", job->partial, out_option(s));
  }
  if (s->dry_run) return CORE_OK;
  /* Starting over: the old checkpoint must not survive to describe the new
   * output, and the old partial file is unlinked, not truncated, so that a
   * symlink is replaced instead of followed and a process still writing
   * the old file (its lock removed by hand) cannot publish the new rows. */
  if (staged && !s->no_checkpoint)
    CORE_CHECK(remove(job->ckpt) == 0 || errno == ENOENT, CORE_ERR_IO, "%s: cannot remove the old checkpoint: %s",
               job->ckpt, strerror(errno));
  if (staged)
    CORE_CHECK(unlink(job->partial) == 0 || errno == ENOENT, CORE_ERR_IO, "%s: cannot remove the old partial "
               "output: %s", job->partial, strerror(errno));
  return CORE_OK;
}

static core_status begin_rank0(io_job *job) {
  const io_job_spec *s = &job->spec;
  CORE_CALL(check_outputs(job));
  if (!s->dry_run) {
    CORE_CALL(io_lock_acquire(s->out, &job->lock));
    for (int c = 0; c < IO_JOB_FILES_MAX && s->companions[c]; ++c)
      CORE_CALL(io_lock_acquire(s->companions[c], &job->companion_lock[c]));
    /* Held locks: no live writer of these outputs owns a temporary. */
    io_remove_stale_temporaries(s->out);
    if (s->mode == IO_JOB_STAGED) io_remove_stale_temporaries(job->ckpt);
    for (int c = 0; c < IO_JOB_FILES_MAX && s->companions[c]; ++c) io_remove_stale_temporaries(s->companions[c]);
  }
  return decide_start(job);
}

core_status io_job_begin(MPI_Comm comm, const io_job_spec *spec, io_job **out) {
  *out = NULL;
  io_job *job = calloc(1, sizeof *job);
  core_status st = job ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate a job");
  if (!st) {
    job->comm = comm, job->spec = *spec, job->lock.fd = -1;
    MPI_Comm_rank(comm, &job->rank);
    for (int c = 0; c < IO_JOB_FILES_MAX; ++c) job->companion_lock[c].fd = -1;
    if (!spec->out || !spec->kind || !spec->command || !spec->identity ||
        strlen(spec->identity) >= IO_JOB_IDENTITY_BYTES)
      st = CORE_ERROR(CORE_ERR_ARG, "io_job_begin: need a command, an output, a kind and an identity shorter than "
                      "%d bytes", (int)IO_JOB_IDENTITY_BYTES);
  }
  if (!st) {
    snprintf(job->identity, sizeof job->identity, "%s", spec->identity);
    job->key = io_crc32(0, job->identity, strlen(job->identity));
    snprintf(job->partial, sizeof job->partial, "%s.partial", spec->out);
    snprintf(job->ckpt, sizeof job->ckpt, spec->mode == IO_JOB_STAGED ? "%s.ckpt" : "%s", spec->out);
    if (job->rank == 0) st = begin_rank0(job);
  }
  st = core_agree(comm, st);
  int resuming = job ? job->resuming : 0;
  if (!st && MPI_Bcast(&resuming, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the start failed");
  if (st) {
    io_job_end(&job);
    return st;
  }
  job->resuming = resuming;
  job->last_checkpoint = core_time();
  job->saved_step = -1;
  *out = job;
  return CORE_OK;
}

int io_job_resuming(const io_job *job) { return job->resuming; }
const char *io_job_partial(const io_job *job) { return job->partial; }
const char *io_job_checkpoint_path(const io_job *job) { return job->ckpt; }

/* The sections of the checkpoint, "run" first: rank 0 reads `count` of
 * them (all of the file's if whole), then each is broadcast. */
static core_status read_sections(io_job *job, int count, const io_ckpt_section *sections, int whole) {
  enum { MAX = 16 };
  core_status st = count >= 0 && count < MAX ? CORE_OK
                                             : CORE_ERROR(CORE_ERR_ARG, "io_job_read: at most %d sections", MAX - 1);
  if (!st && job->rank == 0) {
    char stored[IO_JOB_IDENTITY_BYTES];
    io_ckpt_section all[MAX] = {{"run", stored, sizeof stored}};
    memcpy(all + 1, sections, sizeof *sections * (size_t)count);
    uint32_t crc;
    int found = 1;
    st = whole ? io_ckpt_read(job->ckpt, job->spec.kind, &crc, count + 1, all, &found)
               : io_ckpt_read_first(job->ckpt, job->spec.kind, &crc, count + 1, all);
    if (!st && !found) st = CORE_ERROR(CORE_ERR_IO, "%s: the checkpoint disappeared", job->ckpt);
    if (!st && crc != job->key)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: the checkpoint changed since the start", job->ckpt);
    if (st) {
      char why[1024];
      snprintf(why, sizeof why, "%s", core_error_message());
      st = CORE_ERROR(st, "%s; start over with -force", why);
    }
  }
  st = core_agree(job->comm, st);
  for (int k = 0; !st && k < count; ++k)
    for (uint64_t at = 0; !st && at < sections[k].size;) {
      /* MPI counts are ints: a section of several GB goes in pieces. */
      const uint64_t piece = sections[k].size - at < (1u << 30) ? sections[k].size - at : (1u << 30);
      if (MPI_Bcast((char *)sections[k].data + at, (int)piece, MPI_BYTE, 0, job->comm) != MPI_SUCCESS)
        st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the checkpoint failed");
      at += piece;
    }
  return st;
}

core_status io_job_read(io_job *job, int count, const io_ckpt_section *sections) {
  return read_sections(job, count, sections, 1);
}

core_status io_job_read_first(io_job *job, int count, const io_ckpt_section *sections) {
  return read_sections(job, count, sections, 0);
}

/* io_job_poll; `last`: this poll ends the job's last step, so a stop
 * request changes nothing (the job completes) and is said as such. */
static core_status poll_flags(io_job *job, int64_t step, int last, volatile sig_atomic_t *stop, int *stop_now,
                              int *due) {
  const io_job_spec *s = &job->spec;
  int flags[2] = {stop && *stop ? 1 : 0, 0};
  if (job->rank == 0)
    flags[1] = (s->checkpoint_every > 0 && step % s->checkpoint_every == 0) ||
               core_time() - job->last_checkpoint >= s->checkpoint_seconds;
  CORE_CHECK(MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT, MPI_MAX, job->comm) == MPI_SUCCESS, CORE_ERR_MPI,
             "MPI_Allreduce of the stop flags failed");
  *stop_now = flags[0], *due = flags[1];
  if (last) {
    if (flags[0] && job->rank == 0 && s->progress) {
      fprintf(s->progress, "eloss %s: stop requested as the last step ended; finishing %s\n", s->command, s->out);
      fflush(s->progress);
    }
    return CORE_OK;
  }
  job->announced |= flags[0];
  /* Said now, before the checkpoint is written: under mpirun the ranks are
   * killed about a second after the signal is forwarded, and a large
   * checkpoint can take longer than that. */
  if (flags[0] && job->rank == 0 && s->progress) {
    fprintf(s->progress, "eloss %s: stopping on request; writing the checkpoint of %s. To continue, run the same "
            "command with -resume\n", s->command, s->out);
    fflush(s->progress);
  }
  return CORE_OK;
}

core_status io_job_poll(io_job *job, int64_t step, volatile sig_atomic_t *stop, int *stop_now, int *due) {
  return poll_flags(job, step, 0, stop, stop_now, due);
}

core_status io_job_step_end(io_job *job, int64_t step, int64_t total, volatile sig_atomic_t *stop,
                            core_status (*save)(void *ctx), void *ctx) {
  int stop_now = 0, due = 0;
  CORE_CALL(poll_flags(job, step, step == total, stop, &stop_now, &due));
  if (stop_now || due || step == total) {
    CORE_CALL(save(ctx));
    job->saved_step = step;
  }
  return stop_now && step < total ? CORE_ERR_STOPPED : CORE_OK;
}

core_status io_job_stopped_inside(io_job *job, int64_t step, volatile sig_atomic_t *stop,
                                  core_status (*save)(void *ctx), void *ctx) {
  int stop_now, due;
  if (!job->announced) CORE_CALL(io_job_poll(job, step, stop, &stop_now, &due));
  if (job->saved_step != step) {
    CORE_CALL(save(ctx));
    job->saved_step = step;
  }
  return CORE_OK;
}

core_status io_job_checkpoint(io_job *job, int count, const io_ckpt_section *sections) {
  enum { MAX = 16 };
  const io_job_spec *s = &job->spec;
  core_status st = CORE_OK;
  if (s->no_checkpoint) return CORE_OK;
  if (job->rank == 0) {
    if (count < 0 || count >= MAX) st = CORE_ERROR(CORE_ERR_ARG, "io_job_checkpoint: at most %d sections", MAX - 1);
    if (!st) st = io_lock_check(&job->lock);
    if (!st && s->fault_site && core_fault(s->fault_site))
      st = CORE_ERROR(CORE_ERR_IO, "%s: cannot write the checkpoint: injected fault (test)", job->ckpt);
    if (!st) {
      io_ckpt_section all[MAX] = {{"run", job->identity, sizeof job->identity}};
      memcpy(all + 1, sections, sizeof *sections * (size_t)count);
      st = io_ckpt_write(job->ckpt, s->kind, job->key, count + 1, all);
    }
  }
  st = core_agree(job->comm, st);
  if (!st) job->last_checkpoint = core_time();
  return st;
}

core_status io_job_publish(io_job *job) {
  const io_job_spec *s = &job->spec;
  core_status st = CORE_OK;
  if (job->rank == 0) {
    st = io_lock_check(&job->lock);
    if (!st && s->mode == IO_JOB_STAGED && rename(job->partial, s->out) != 0)
      st = CORE_ERROR(CORE_ERR_IO, "%s: cannot rename the finished output into place: %s", s->out, strerror(errno));
    if (!st && s->mode == IO_JOB_STAGED && !s->no_checkpoint) remove(job->ckpt);
  }
  return core_agree(job->comm, st);
}

void io_job_end(io_job **job) {
  if (!job || !*job) return;
  io_lock_release(&(*job)->lock);
  for (int c = 0; c < IO_JOB_FILES_MAX; ++c) io_lock_release(&(*job)->companion_lock[c]);
  free(*job);
  *job = NULL;
}
