/* meteor.c — METEOR 1.5 through the meteor-1.5.jar that pycocoevalcap ships, driven as
 * pycocoevalcap's Meteor class drives it: `java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en
 * -norm` run in the jar's folder (it finds data/paraphrase-en.gz there); on the COCO tokens
 * (ptb_tok.c) of every segment it writes "SCORE ||| ref 1 ||| ... ||| ref n ||| hyp" (the
 * hypothesis without "|||" and with "  " -> " ", as pycocoevalcap) and reads back one line of
 * statistics, then writes "EVAL ||| stats 1 ||| ... ||| stats N" and reads the N segment
 * scores and the corpus score, which is the result.
 * Nothing here invents a value: without java or the jar, or when the jar does not answer,
 * the result is "unavailable" with the reason. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nlg_internal.h"

#define REF_STACK_JAR ".ref/scores/pycocoevalcap/meteor/meteor-1.5.jar"

static int is_file(const char *p) { return p && *p && access(p, R_OK) == 0; }

/* The jar to run: the argument, $PST_METEOR_JAR, then the reference stack under the current
 * directory or under the running program's directory. */
static int find_jar(char *out, size_t cap, const char *jar) {
  if (jar && *jar) {
    snprintf(out, cap, "%s", jar);
    return is_file(out);
  }
  const char *env = getenv("PST_METEOR_JAR");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return is_file(out);
  }
  snprintf(out, cap, "%s", REF_STACK_JAR);
  if (is_file(out)) return 1;
  char exe[4096];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k > 0) {
    exe[k] = '\0';
    snprintf(out, cap, "%s/%s", dirname(exe), REF_STACK_JAR);
    if (is_file(out)) return 1;
  }
  out[0] = '\0';
  return 0;
}

static int java_on_path(void) {
  const char *path = getenv("PATH");
  if (!path) return 0;
  char dir[4096];
  for (const char *p = path; *p;) {
    size_t k = strcspn(p, ":");
    snprintf(dir, sizeof dir, "%.*s/java", (int)k, p);
    if (access(dir, X_OK) == 0) return 1;
    p += k;
    if (*p == ':') p++;
  }
  return 0;
}

/* The COCO tokens of every hypothesis and reference, in segment order, refs after hyp. */
static pst_err tokenize_all(char ***out, int *count, const char *const *hyps, int n,
                            const char *const *const *refs, const int *nrefs) {
  if (n < 1 || !hyps || !refs || !nrefs) PST_ERR(PST_ERR_ARG, "METEOR: need at least one segment");
  int total = 0;
  for (int i = 0; i < n; i++) {
    if (nrefs[i] < 1 || !refs[i]) PST_ERR(PST_ERR_ARG, "METEOR: segment %d has no reference", i + 1);
    if (total > 0x3fffffff - nrefs[i] - 1) PST_ERR(PST_ERR_ARG, "METEOR: too many references");
    total += nrefs[i] + 1;
  }
  char **t = calloc((size_t)total, sizeof *t);
  if (!t) PST_ERR(PST_ERR_MEM, "METEOR: out of memory for %d texts", total);
  *out = t;
  *count = total;
  int k = 0;
  for (int i = 0; i < n; i++)
    for (int r = -1; r < nrefs[i]; r++) {
      const char *s = r < 0 ? hyps[i] : refs[i][r];
      if (!s) PST_ERR(PST_ERR_ARG, "METEOR: segment %d: NULL text", i + 1);
      pst_err rc = pst_nlg_coco_tokenize(&t[k++], s);
      if (rc) PST_ERR(rc, "METEOR: segment %d: invalid UTF-8", i + 1);
    }
  return PST_OK;
}

/* The hypothesis as pycocoevalcap's _stat passes it: "|||" removed, then "  " -> " ". */
static void clean_hyp(nlg_buf *b, const char *h) {
  char *t = strdup(h);
  if (!t) return;
  char *w = t;
  for (const char *p = h; *p;) {
    if (!strncmp(p, "|||", 3)) p += 3;
    else *w++ = *p++;
  }
  *w = '\0';
  for (const char *p = t; *p;) {
    if (p[0] == ' ' && p[1] == ' ') {
      nlg_buf_putc(b, ' ');
      p += 2;
    } else {
      nlg_buf_putc(b, *p++);
    }
  }
  free(t);
}

/* Talk to a running jar; 0 on success, else a note. */
static int converse(FILE *to, FILE *from, char **tok, int n, const int *nrefs, double *score, char *note,
                    size_t cap) {
  nlg_buf line = {0}, eval = {0};
  char *got = NULL;
  size_t gcap = 0;
  int fail = 0, k = 0;
  nlg_buf_put(&eval, "EVAL", 4);
  for (int i = 0; i < n && !fail; i++) {
    line.len = 0;
    nlg_buf_put(&line, "SCORE", 5);
    for (int r = 0; r < nrefs[i]; r++) {
      nlg_buf_put(&line, " ||| ", 5);
      nlg_buf_put(&line, tok[k + 1 + r], strlen(tok[k + 1 + r]));
    }
    nlg_buf_put(&line, " ||| ", 5);
    clean_hyp(&line, tok[k]);
    k += nrefs[i] + 1;
    if (!line.s || fprintf(to, "%s\n", line.s) < 0 || fflush(to) || getline(&got, &gcap, from) <= 0) {
      fail = 1;
      break;
    }
    got[strcspn(got, "\r\n")] = '\0';
    nlg_buf_put(&eval, " ||| ", 5);
    nlg_buf_put(&eval, got, strlen(got));
  }
  if (!fail && (!eval.s || fprintf(to, "%s\n", eval.s) < 0 || fflush(to))) fail = 1;
  for (int i = 0; i <= n && !fail; i++)
    if (getline(&got, &gcap, from) <= 0) fail = 1;
  char *end = NULL;
  if (!fail) {
    *score = strtod(got, &end);
    if (end == got) fail = 1;
  }
  if (fail) snprintf(note, cap, "meteor-1.5.jar gave no score (did java start? is data/paraphrase-en.gz beside the jar?)");
  free(line.s);
  free(eval.s);
  free(got);
  return fail;
}

/* Start java on the jar and score; 0 on success, else a note. */
static int run_jar(const char *jar, char **tok, int n, const int *nrefs, double *score, char *note, size_t cap) {
  int in[2], out[2];
  if (pipe(in)) {
    snprintf(note, cap, "pipe: %s", strerror(errno));
    return 1;
  }
  if (pipe(out)) {
    snprintf(note, cap, "pipe: %s", strerror(errno));
    close(in[0]);
    close(in[1]);
    return 1;
  }
  char *dircopy = strdup(jar), *basecopy = strdup(jar);
  pid_t pid = (dircopy && basecopy) ? fork() : -1;
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    if (chdir(dirname(dircopy)) == 0)
      execlp("java", "java", "-jar", "-Xmx2G", basename(basecopy), "-", "-", "-stdio", "-l", "en", "-norm",
             (char *)NULL);
    _exit(127);
  }
  free(dircopy);
  free(basecopy);
  close(in[0]);
  close(out[1]);
  if (pid < 0) {
    snprintf(note, cap, "fork: %s", strerror(errno));
    close(in[1]);
    close(out[0]);
    return 1;
  }
  struct sigaction ign = {0}, old;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old); /* a jar that exits early must not kill us */
  FILE *to = fdopen(in[1], "w"), *from = fdopen(out[0], "r");
  int fail = (!to || !from) ? (snprintf(note, cap, "fdopen failed"), 1)
                            : converse(to, from, tok, n, nrefs, score, note, cap);
  if (to) fclose(to);
  else close(in[1]);
  if (from) fclose(from);
  else close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  sigaction(SIGPIPE, &old, NULL);
  if (fail && WIFEXITED(status) && WEXITSTATUS(status) == 127)
    snprintf(note, cap, "could not start java -jar %s", jar);
  return fail;
}

pst_err pst_nlg_meteor(double *out, int *ok, char *note, size_t note_cap, const char *const *hyps, int n,
                       const char *const *const *refs, const int *nrefs, const char *jar) {
  char **tok = NULL, path[4096];
  int count = 0;
  *ok = 0;
  if (note_cap) note[0] = '\0';
  pst_err rc = tokenize_all(&tok, &count, hyps, n, refs, nrefs);
  if (!rc) {
    if (!find_jar(path, sizeof path, jar))
      snprintf(note, note_cap, "%s%s", path[0] ? "cannot read " : "no meteor-1.5.jar (give --meteor-jar, set "
                                                 "PST_METEOR_JAR or run scripts/ref-scores)", path);
    else if (!java_on_path())
      snprintf(note, note_cap, "java not found on PATH (Debian: apt-get install default-jre-headless)");
    else
      *ok = !run_jar(path, tok, n, nrefs, out, note, note_cap);
  }
  for (int i = 0; i < count; i++) free(tok[i]);
  free(tok);
  PST_CHECK(rc);
  return PST_OK;
}
