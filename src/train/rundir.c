/* rundir.c — run directory lock, status.json and train.log (rundir.h). */
#include "pst/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

pst_err pst_make_dirs(const char *path) {
  char buf[PST_PATH_MAX];
  if (strlen(path) >= sizeof buf) PST_ERR(PST_ERR_ARG, "path too long: %s", path);
  strcpy(buf, path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) && errno != EEXIST) PST_ERR(PST_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
  return PST_OK;
}

pst_err pst_rundir_open(pst_rundir *r, const char *dir) {
  memset(r, 0, sizeof *r);
  r->lock_fd = -1;
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  PST_CHECK(pst_make_dirs(dir));
  char path[PST_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/.lock", dir);
  r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (r->lock_fd < 0) PST_ERR(PST_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
  if (flock(r->lock_fd, LOCK_EX | LOCK_NB)) {
    char holder[256] = "?";
    ssize_t n = pread(r->lock_fd, holder, sizeof holder - 1, 0);
    holder[n > 0 ? n : 1] = 0;
    close(r->lock_fd);
    r->lock_fd = -1;
    PST_ERR(PST_ERR_IO, "run dir %s is in use by another pst run (%s); two runs must not share a run dir", dir,
            holder[0] ? holder : "holder unknown");
  }
  char host[128] = "";
  gethostname(host, sizeof host - 1);
  char who[256];
  int len = snprintf(who, sizeof who, "host %s, pid %d", host, (int)getpid());
  if (ftruncate(r->lock_fd, 0) == 0 && pwrite(r->lock_fd, who, (size_t)len, 0) < 0) { /* informative only */ }
  snprintf(path, sizeof path, "%s/train.log", dir);
  if (!(r->log = fopen(path, "a"))) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  return PST_OK;
}

void pst_rundir_status(const pst_rundir *r, const char *state, long step, long total, const char *error) {
  char host[128] = "", when[32], path[PST_PATH_MAX + 32], tmp[PST_PATH_MAX + 48], job[64] = "";
  gethostname(host, sizeof host - 1);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const char *jid = getenv("SLURM_JOB_ID"), *aid = getenv("SLURM_ARRAY_JOB_ID"), *tid = getenv("SLURM_ARRAY_TASK_ID");
  if (aid && tid) snprintf(job, sizeof job, "%s_%s", aid, tid);
  else if (jid) snprintf(job, sizeof job, "%s", jid);
  json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:i, s:s, s:s}", "state", state, "step", (json_int_t)step, "total_steps",
                        (json_int_t)total, "host", host, "pid", (int)getpid(), "updated", when, "slurm_job", job);
  if (!o) return;
  if (error) json_object_set_new(o, "error", json_string(error));
  snprintf(path, sizeof path, "%s/status.json", r->dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (json_dump_file(o, tmp, JSON_INDENT(1)) == 0) rename(tmp, path);
  json_decref(o);
}

void pst_rundir_close(pst_rundir *r) {
  if (r->log) fclose(r->log);
  r->log = NULL;
  if (r->lock_fd >= 0) close(r->lock_fd); /* releases the flock */
  r->lock_fd = -1;
}
