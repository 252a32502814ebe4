/* grid.c — grid files (parse, check), their expansion into point run dirs with a manifest,
 * and the per-point state read from status.json (grid.h). */
#include "pst/grid.h"
#include "pst/rundir.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers -------------------------------------------------------------------- */

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
  return s;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

void pst_grid_abspath(const char *dir, const char *path, char *out, size_t outsz) {
  if (path[0] == '/') {
    snprintf(out, outsz, "%s", path);
    return;
  }
  char d[PST_PATH_MAX];
  snprintf(d, sizeof d, "%s", dir);
  for (;;) {
    if (!strcmp(path, ".")) path += 1;
    else if (!strncmp(path, "./", 2)) path += 2;
    else if (!strcmp(path, "..") || !strncmp(path, "../", 3)) {
      char *slash = strrchr(d, '/');
      if (slash && slash != d) *slash = 0;
      else strcpy(d, "/");
      path += path[2] ? 3 : 2;
    } else break;
  }
  if (!path[0]) snprintf(out, outsz, "%s", d);
  else if (!strcmp(d, "/")) snprintf(out, outsz, "/%s", path);
  else snprintf(out, outsz, "%s/%s", d, path);
}

/* Absolute directory of a file (which must exist). */
static pst_err abs_dir_of(const char *file, char *abs_file, char *abs_dir) {
  char *r = realpath(file, NULL);
  if (!r) PST_ERR(PST_ERR_IO, "cannot open '%s': %s", file, strerror(errno));
  if (strlen(r) >= PST_PATH_MAX) {
    free(r);
    PST_ERR(PST_ERR_ARG, "path too long: %s", file);
  }
  strcpy(abs_file, r);
  free(r);
  strcpy(abs_dir, abs_file);
  char *slash = strrchr(abs_dir, '/');
  if (slash == abs_dir) abs_dir[1] = 0;
  else *slash = 0;
  return PST_OK;
}

/* Keys whose values are paths, and their field in pst_config. */
static const struct {
  const char *key;
  size_t offset;
} PATH_KEYS[] = {
    {"model.weights", offsetof(pst_config, weights)},   {"model.hf_dir", offsetof(pst_config, hf_dir)},
    {"data.train", offsetof(pst_config, train_path)},   {"data.dev", offsetof(pst_config, dev_path)},
    {"data.tokenizer", offsetof(pst_config, tokenizer)}, {"ckpt.dir", offsetof(pst_config, ckpt_dir)},
    {"ckpt.resume", offsetof(pst_config, ckpt_resume)},
};
#define NPATH_KEYS ((int)(sizeof PATH_KEYS / sizeof PATH_KEYS[0]))

static int is_path_key(const char *key) {
  for (int i = 0; i < NPATH_KEYS; i++)
    if (!strcmp(PATH_KEYS[i].key, key)) return 1;
  return 0;
}

/* A path value to resolve: non-empty, relative, and for ckpt.resume not none/auto. */
static int needs_resolving(const char *key, const char *value) {
  if (!value[0] || value[0] == '/') return 0;
  if (!strcmp(key, "ckpt.resume") && (!strcmp(value, "none") || !strcmp(value, "auto"))) return 0;
  return is_path_key(key);
}

/* Apply key=value to cfg; a relative path value resolves against dir. The message of a
 * failure is left in the error state (no file:line: the caller adds it). */
static pst_err apply(pst_config *cfg, const char *key, const char *value, const char *dir) {
  char resolved[PST_PATH_MAX], kv[PST_PATH_MAX + PST_GRID_KEY_MAX + 2];
  if (needs_resolving(key, value)) {
    pst_grid_abspath(dir, value, resolved, sizeof resolved);
    value = resolved;
  }
  if (snprintf(kv, sizeof kv, "%s=%s", key, value) >= (int)sizeof kv) PST_ERR(PST_ERR_CONFIG, "%s: value too long", key);
  return pst_config_set(cfg, kv);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static const char *kind_name(pst_grid_kind k) {
  return k == PST_GRID_SET ? "set" : k == PST_GRID_AXIS ? "axes" : k == PST_GRID_ZIP ? "zip" : "repeat";
}

void pst_grid_free(pst_grid *g) {
  for (int i = 0; i < g->nkeys; i++) {
    for (int j = 0; j < g->keys[i].n; j++) free(g->keys[i].values[j]);
    free(g->keys[i].values);
  }
  free(g->keys);
  free(g->dim_len);
  memset(g, 0, sizeof *g);
}

/* Split "v1, v2, ..." into k->values; empty items are an error. */
static pst_err split_values(pst_grid_key *k, char *value, const char *file, int line) {
  int cap = 1;
  for (const char *p = value; *p; p++) cap += *p == ',';
  k->values = calloc((size_t)cap, sizeof(char *));
  if (!k->values) PST_ERR(PST_ERR_MEM, "out of memory");
  for (char *item = value;;) {
    char *comma = strchr(item, ',');
    if (comma) *comma = 0;
    char *v = trim(item);
    if (!v[0]) PST_ERR(PST_ERR_CONFIG, "%s:%d: %s: empty value in the list (values are separated by commas)", file, line, k->key);
    if (!(k->values[k->n++] = strdup(v))) PST_ERR(PST_ERR_MEM, "out of memory");
    if (!comma) break;
    item = comma + 1;
  }
  return PST_OK;
}

static pst_err parse(pst_grid *g, FILE *f, const char *file, char *base_rel, int *base_line) {
  char *buf = NULL;
  size_t cap = 0;
  int line = 0;
  char section[32] = "";
  pst_err rc = PST_OK;
  int zip_dim = -1, zip_line = 0;
  int zip_first = -1; /* index into g->keys (which realloc moves) */
  for (ssize_t len; !rc && (len = getline(&buf, &cap, f)) >= 0;) {
    line++;
    char *s = trim(buf);
    if (!s[0] || s[0] == '#' || s[0] == ';') continue;
    /* inline comment: '#' or ';' after a blank */
    for (char *p = s + 1; *p; p++)
      if ((*p == '#' || *p == ';') && (p[-1] == ' ' || p[-1] == '\t')) {
        *p = 0;
        s = trim(s);
        break;
      }
    if (s[0] == '[') {
      char *end = strchr(s, ']');
      if (!end || end[1]) {
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: syntax error (expected [section])", file, line);
        break;
      }
      *end = 0;
      char *name = trim(s + 1);
      if (strcmp(name, "grid") && strcmp(name, "set") && strcmp(name, "axes") && strcmp(name, "zip") && strcmp(name, "repeat")) {
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                    "%s:%d: unknown section [%s] (sections: grid, set, axes, zip, repeat)", file, line, name);
        break;
      }
      snprintf(section, sizeof section, "%s", name);
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
      pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: syntax error (expected key = value)", file, line);
      break;
    }
    *eq = 0;
    char *key = trim(s), *value = trim(eq + 1);
    if (!section[0]) {
      pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: '%s' outside a section", file, line, key);
      break;
    }
    if (!strcmp(section, "grid")) {
      if (!strcmp(key, "base")) {
        snprintf(base_rel, PST_PATH_MAX, "%s", value);
        *base_line = line;
      } else if (!strcmp(key, "name")) {
        snprintf(g->name, sizeof g->name, "%s", value);
      } else {
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: unknown key '%s' in [grid] (keys: base, name)", file,
                    line, key);
      }
      continue;
    }
    /* a config override: section.key */
    if (strlen(key) >= PST_GRID_KEY_MAX || !strchr(key, '.')) {
      pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: '%s' is not a config key of the form section.key", file,
                  line, key);
      break;
    }
    for (int i = 0; i < g->nkeys; i++)
      if (!strcmp(g->keys[i].key, key)) {
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: %s is already given at line %d", file, line, key,
                    g->keys[i].line);
        break;
      }
    if (rc) break;
    if (!strcmp(key, "train.run_dir")) {
      pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                  "%s:%d: train.run_dir is set by pst grid (OUTDIR/points/NNNN); leave it out", file, line);
      break;
    }
    pst_grid_key *nk = realloc(g->keys, (size_t)(g->nkeys + 1) * sizeof *nk);
    if (!nk) {
      pst_err_set(rc = PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory");
      break;
    }
    g->keys = nk;
    pst_grid_key *k = &g->keys[g->nkeys++];
    memset(k, 0, sizeof *k);
    snprintf(k->key, sizeof k->key, "%s", key);
    k->line = line;
    k->kind = !strcmp(section, "set") ? PST_GRID_SET : !strcmp(section, "axes") ? PST_GRID_AXIS
              : !strcmp(section, "zip") ? PST_GRID_ZIP : PST_GRID_REPEAT;
    if (k->kind == PST_GRID_SET) {
      if (strchr(value, ',')) {
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                    "%s:%d: %s: [set] takes one value (lists of values go in [axes], [zip] or [repeat])", file, line, key);
        break;
      }
      if (!(k->values = calloc(1, sizeof(char *))) || !(k->values[0] = strdup(value))) {
        pst_err_set(rc = PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory");
        break;
      }
      k->n = 1;
      k->dim = -1;
    } else {
      if ((rc = split_values(k, value, file, line))) break;
      if (k->kind == PST_GRID_ZIP && zip_dim >= 0) {
        k->dim = zip_dim;
        if (k->n != g->dim_len[zip_dim]) {
          pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                      "%s:%d: [zip] %s has %d values but %s (line %d) has %d; zipped keys advance together and need "
                      "lists of the same length",
                      file, line, key, k->n, g->keys[zip_first].key, zip_line, g->dim_len[zip_dim]);
          break;
        }
      } else {
        int *nd = realloc(g->dim_len, (size_t)(g->ndims + 1) * sizeof *nd);
        if (!nd) {
          pst_err_set(rc = PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory");
          break;
        }
        g->dim_len = nd;
        k->dim = g->ndims;
        g->dim_len[g->ndims++] = k->n;
        if (k->kind == PST_GRID_ZIP) {
          zip_dim = k->dim;
          zip_first = g->nkeys - 1;
          zip_line = line;
        }
      }
    }
    /* every value on a default config: unknown keys and bad values fail here, with the line */
    for (int j = 0; j < k->n && !rc; j++) {
      pst_config probe;
      pst_config_defaults(&probe);
      if (apply(&probe, k->key, k->values[j], "/")) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", pst_err_message());
        pst_err_clear();
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s:%d: [%s] %s: %s", file, line, kind_name(k->kind), k->key,
                    msg);
      }
    }
  }
  free(buf);
  if (!rc && ferror(f)) pst_err_set(rc = PST_ERR_IO, __FILE__, __LINE__, __func__, "%s: read error", file);
  return rc;
}

pst_err pst_grid_load(pst_grid *g, const char *path) {
  memset(g, 0, sizeof *g);
  FILE *f = fopen(path, "r");
  if (!f) PST_ERR(PST_ERR_IO, "cannot open grid file '%s': %s", path, strerror(errno));
  char base_rel[PST_PATH_MAX] = "";
  int base_line = 0;
  pst_err rc = parse(g, f, path, base_rel, &base_line);
  fclose(f);
  if (rc) {
    pst_grid_free(g);
    return rc;
  }
  if ((rc = abs_dir_of(path, g->path, g->dir))) {
    pst_grid_free(g);
    return rc;
  }
  if (!base_rel[0]) {
    pst_grid_free(g);
    PST_ERR(PST_ERR_CONFIG, "%s: [grid] base is missing (base = the config every point starts from, relative to the grid file)", path);
  }
  char base[PST_PATH_MAX];
  pst_grid_abspath(g->dir, base_rel, base, sizeof base);
  if (!exists(base)) {
    pst_grid_free(g);
    PST_ERR(PST_ERR_CONFIG, "%s:%d: [grid] base = %s: %s does not exist", path, base_line, base_rel, base);
  }
  {
    char dummy[PST_PATH_MAX];
    if ((rc = abs_dir_of(base, g->base, dummy))) {
      pst_grid_free(g);
      return rc;
    }
  }
  if (!g->name[0]) { /* default name: the file name without .grid */
    const char *slash = strrchr(g->path, '/');
    const char *fname = slash ? slash + 1 : g->path;
    size_t len = strlen(fname) < sizeof g->name - 1 ? strlen(fname) : sizeof g->name - 1;
    memcpy(g->name, fname, len);
    g->name[len] = 0;
    char *dot = strrchr(g->name, '.');
    if (dot && dot != g->name) *dot = 0;
  }
  g->npoints = 1;
  for (int d = 0; d < g->ndims; d++) {
    if (g->npoints * g->dim_len[d] > PST_GRID_MAX_POINTS) {
      pst_grid_free(g);
      PST_ERR(PST_ERR_CONFIG, "%s: more than %d points", path, PST_GRID_MAX_POINTS);
    }
    g->npoints *= g->dim_len[d];
  }
  /* the base must load, and every point must make a valid config */
  for (long i = 0; i < g->npoints; i++) {
    pst_config cfg;
    if ((rc = pst_grid_point_config(g, i, "/nonexistent/point", &cfg))) {
      pst_grid_free(g);
      return rc;
    }
  }
  return PST_OK;
}

const char *pst_grid_value(const pst_grid *g, long point, int k) {
  const pst_grid_key *key = &g->keys[k];
  if (key->kind == PST_GRID_SET) return key->values[0];
  long idx = point;
  for (int d = g->ndims - 1; d > key->dim; d--) idx /= g->dim_len[d];
  return key->values[idx % g->dim_len[key->dim]];
}

/* "k=v k=v ..." of point i (its varying keys). */
static void describe_point(const pst_grid *g, long point, char *out, size_t outsz) {
  size_t off = 0;
  out[0] = 0;
  for (int k = 0; k < g->nkeys && off < outsz; k++) {
    if (g->keys[k].kind == PST_GRID_SET) continue;
    int n = snprintf(out + off, outsz - off, "%s%s=%s", off ? " " : "", g->keys[k].key, pst_grid_value(g, point, k));
    if (n < 0) break;
    off += (size_t)n;
  }
}

pst_err pst_grid_point_config(const pst_grid *g, long point, const char *run_dir, pst_config *cfg) {
  pst_config_defaults(cfg);
  PST_CHECK(pst_config_load(cfg, g->base));
  /* the base's relative paths resolve against its folder: make them absolute */
  for (int i = 0; i < NPATH_KEYS; i++) {
    const char *v = (const char *)cfg + PATH_KEYS[i].offset;
    if (!needs_resolving(PATH_KEYS[i].key, v)) continue;
    char value[PST_PATH_MAX];
    snprintf(value, sizeof value, "%s", v);
    if (apply(cfg, PATH_KEYS[i].key, value, cfg->base_dir)) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s", pst_err_message());
      pst_err_clear();
      PST_ERR(PST_ERR_CONFIG, "%s: %s made absolute: %s", g->base, PATH_KEYS[i].key, msg);
    }
  }
  int resume_given = 0;
  for (int k = 0; k < g->nkeys; k++) {
    resume_given |= !strcmp(g->keys[k].key, "ckpt.resume");
    if (apply(cfg, g->keys[k].key, pst_grid_value(g, point, k), g->dir)) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s", pst_err_message());
      pst_err_clear();
      PST_ERR(PST_ERR_CONFIG, "%s:%d: %s (point %ld): %s", g->path, g->keys[k].line, g->keys[k].key, point, msg);
    }
  }
  /* a re-submitted or requeued point continues from its newest checkpoint */
  if (!resume_given && !strcmp(cfg->ckpt_resume, "none")) strcpy(cfg->ckpt_resume, "auto");
  if (apply(cfg, "train.run_dir", run_dir, "/")) {
    char msg[1200];
    snprintf(msg, sizeof msg, "%s", pst_err_message());
    pst_err_clear();
    PST_ERR(PST_ERR_CONFIG, "point %ld: train.run_dir: %s (choose a shorter OUTDIR)", point, msg);
  }
  snprintf(cfg->base_dir, sizeof cfg->base_dir, "%s", run_dir);
  pst_config check = *cfg;
  if (pst_config_finalize(&check)) {
    char msg[1200], desc[1024];
    snprintf(msg, sizeof msg, "%s", pst_err_message());
    pst_err_clear();
    describe_point(g, point, desc, sizeof desc);
    PST_ERR(PST_ERR_CONFIG, "%s: point %ld (%s) on base %s: %s", g->path, point, desc[0] ? desc : "no overrides", g->base, msg);
  }
  return PST_OK;
}

/* ---- expansion ------------------------------------------------------------------------------ */

static json_t *build_manifest(const pst_grid *g, const char *outdir) {
  json_t *m = json_object(), *set = json_object(), *keys = json_array(), *points = json_array();
  if (!m || !set || !keys || !points) {
    json_decref(m), json_decref(set), json_decref(keys), json_decref(points);
    return NULL;
  }
  json_object_set_new(m, "name", json_string(g->name));
  json_object_set_new(m, "grid", json_string(g->path));
  json_object_set_new(m, "base", json_string(g->base));
  json_object_set_new(m, "outdir", json_string(outdir));
  for (int k = 0; k < g->nkeys; k++) {
    if (g->keys[k].kind == PST_GRID_SET) json_object_set_new(set, g->keys[k].key, json_string(g->keys[k].values[0]));
    else
      json_array_append_new(keys, json_pack("{s:s, s:s, s:i}", "key", g->keys[k].key, "kind", kind_name(g->keys[k].kind),
                                            "dimension", g->keys[k].dim));
  }
  json_object_set_new(m, "set", set);
  json_object_set_new(m, "keys", keys);
  for (long i = 0; i < g->npoints; i++) {
    char dir[PST_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/points/%04ld", outdir, i);
    json_t *ov = json_object();
    for (int k = 0; k < g->nkeys; k++)
      if (g->keys[k].kind != PST_GRID_SET) json_object_set_new(ov, g->keys[k].key, json_string(pst_grid_value(g, i, k)));
    json_array_append_new(points, json_pack("{s:I, s:s, s:o}", "index", (json_int_t)i, "dir", dir, "overrides", ov));
  }
  json_object_set_new(m, "points", points);
  return m;
}

/* Atomic write: path.tmp then rename. */
static pst_err write_text_file(const char *path, void (*body)(FILE *, const void *), const void *arg) {
  char tmp[PST_PATH_MAX + 160];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) PST_ERR(PST_ERR_ARG, "path too long: %s", path);
  FILE *f = fopen(tmp, "w");
  if (!f) PST_ERR(PST_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
  body(f, arg);
  int bad = ferror(f);
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path)) {
    remove(tmp);
    PST_ERR(PST_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  }
  return PST_OK;
}

typedef struct {
  const pst_grid *g;
  long point;
  const pst_config *cfg;
} point_file;

static void write_point(FILE *f, const void *arg) {
  const point_file *p = arg;
  char desc[2048];
  describe_point(p->g, p->point, desc, sizeof desc);
  fprintf(f,
          "# written by `pst grid expand`: point %ld of %ld of grid '%s'\n"
          "#   grid: %s\n#   base: %s\n#   overrides: %s\n"
          "# Paths are absolute. Change the grid and expand again rather than this file.\n\n",
          p->point, p->g->npoints, p->g->name, p->g->path, p->g->base, desc[0] ? desc : "(none)");
  pst_config_write(p->cfg, f);
}

static void write_manifest(FILE *f, const void *arg) {
  json_dumpf((const json_t *)arg, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  fputc('\n', f);
}

pst_err pst_grid_manifest_load(const char *outdir, json_t **manifest) {
  char path[PST_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/manifest.json", outdir);
  json_error_t jerr;
  json_t *m = json_load_file(path, 0, &jerr);
  if (!m) {
    if (!exists(path)) PST_ERR(PST_ERR_IO, "%s: no manifest.json (expand a grid there first: pst grid expand GRID %s)", outdir, outdir);
    PST_ERR(PST_ERR_FORMAT, "%s:%d: %s", path, jerr.line, jerr.text);
  }
  json_t *points = json_object_get(m, "points");
  if (!json_is_array(points) || !json_is_string(json_object_get(m, "name"))) {
    json_decref(m);
    PST_ERR(PST_ERR_FORMAT, "%s: not a pst grid manifest (no name or points)", path);
  }
  for (size_t i = 0; i < json_array_size(points); i++) {
    json_t *p = json_array_get(points, i);
    if (!json_is_string(json_object_get(p, "dir")) || !json_is_object(json_object_get(p, "overrides"))) {
      json_decref(m);
      PST_ERR(PST_ERR_FORMAT, "%s: point %zu has no dir or overrides", path, i);
    }
  }
  *manifest = m;
  return PST_OK;
}

pst_err pst_grid_expand(const pst_grid *g, const char *outdir_arg, int max_parallel, int *written, int *kept) {
  *written = *kept = 0;
  PST_CHECK(pst_make_dirs(outdir_arg));
  char outdir[PST_PATH_MAX];
  {
    char *r = realpath(outdir_arg, NULL);
    if (!r) PST_ERR(PST_ERR_IO, "cannot resolve '%s': %s", outdir_arg, strerror(errno));
    if (strlen(r) > 160) { /* run_dir = OUTDIR/points/NNNN must fit an INI line of the config */
      free(r);
      PST_ERR(PST_ERR_ARG, "OUTDIR '%s' is too long as an absolute path (at most 160 characters)", outdir_arg);
    }
    snprintf(outdir, sizeof outdir, "%s", r);
    free(r);
  }
  json_t *m = build_manifest(g, outdir);
  if (!m) PST_ERR(PST_ERR_MEM, "out of memory building the manifest");
  char path[PST_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/manifest.json", outdir);
  if (exists(path)) { /* the same grid again is fine; another one is refused */
    json_t *old = NULL;
    pst_err rc = pst_grid_manifest_load(outdir, &old);
    if (rc) {
      json_decref(m);
      return rc;
    }
    json_object_del(old, "max_parallel");
    int same = json_equal(old, m);
    if (!same) {
      char msg[3 * PST_PATH_MAX];
      snprintf(msg, sizeof msg, "%s already holds grid '%s' (%s, %zu points); this is grid '%s' (%s, %ld points)%s", outdir,
               json_string_value(json_object_get(old, "name")), json_string_value(json_object_get(old, "grid"))
                   ? json_string_value(json_object_get(old, "grid")) : "?",
               json_array_size(json_object_get(old, "points")), g->name, g->path, g->npoints,
               json_equal(json_object_get(old, "points"), json_object_get(m, "points")) ? "" : " with other points");
      json_decref(old);
      json_decref(m);
      PST_ERR(PST_ERR_ARG, "%s: expand into another directory (or remove this one)", msg);
    }
    json_decref(old);
  } else {
    char pts[PST_PATH_MAX + 16];
    snprintf(pts, sizeof pts, "%s/points", outdir);
    if (exists(pts)) {
      json_decref(m);
      PST_ERR(PST_ERR_ARG, "%s has points/ but no manifest.json: not expanding over it; use another directory", outdir);
    }
  }
  /* every point's config is checked before anything is written */
  pst_config *a = NULL, *b = NULL;
  pst_err rc = pst_calloc((void **)&a, 2, sizeof(pst_config), "grid point configs");
  if (rc) {
    json_decref(m);
    return rc;
  }
  b = a + 1;
  for (long i = 0; !rc && i < g->npoints; i++) {
    char dir[PST_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/points/%04ld", outdir, i);
    rc = pst_grid_point_config(g, i, dir, a);
    /* a non-empty ckpt.dir shared by two points would mix their checkpoints */
    for (long j = 0; !rc && a->ckpt_dir[0] && j < i; j++) {
      snprintf(dir, sizeof dir, "%s/points/%04ld", outdir, j);
      rc = pst_grid_point_config(g, j, dir, b);
      if (!rc && !strcmp(a->ckpt_dir, b->ckpt_dir))
        pst_err_set(rc = PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                    "%s: points %ld and %ld share ckpt.dir = %s; leave ckpt.dir empty (each point's run_dir/checkpoints)",
                    g->path, j, i, a->ckpt_dir);
    }
  }
  json_object_set_new(m, "max_parallel", json_integer(max_parallel));
  if (!rc) rc = write_text_file(path, write_manifest, m);
  for (long i = 0; !rc && i < g->npoints; i++) {
    char dir[PST_PATH_MAX + 32], file[PST_PATH_MAX + 64], st[PST_PATH_MAX + 64], mj[PST_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/points/%04ld", outdir, i);
    if ((rc = pst_make_dirs(dir))) break;
    snprintf(st, sizeof st, "%s/status.json", dir);
    snprintf(mj, sizeof mj, "%s/metrics.jsonl", dir);
    if (exists(st) || exists(mj)) { /* started: its config.ini is now the run's resolved one */
      (*kept)++;
      continue;
    }
    if ((rc = pst_grid_point_config(g, i, dir, a))) break;
    snprintf(file, sizeof file, "%s/config.ini", dir);
    point_file pf = {g, i, a};
    if ((rc = write_text_file(file, write_point, &pf))) break;
    (*written)++;
  }
  pst_free(a);
  json_decref(m);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- point state -------------------------------------------------------------------------- */

void pst_grid_point_state(const char *dir, pst_grid_state *st) {
  memset(st, 0, sizeof *st);
  st->age_s = -1;
  char path[PST_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/status.json", dir);
  if (!exists(path)) {
    strcpy(st->state, "not started");
    return;
  }
  json_error_t jerr;
  json_t *o = json_load_file(path, 0, &jerr);
  const char *state = o ? json_string_value(json_object_get(o, "state")) : NULL;
  if (!state) {
    strcpy(st->state, "unknown");
    snprintf(st->error, sizeof st->error, "status.json unreadable: %s", o ? "no state" : jerr.text);
    json_decref(o);
    return;
  }
  snprintf(st->state, sizeof st->state, "%s", state);
  st->step = (long)json_integer_value(json_object_get(o, "step"));
  st->total = (long)json_integer_value(json_object_get(o, "total_steps"));
  const char *s;
  if ((s = json_string_value(json_object_get(o, "host")))) snprintf(st->host, sizeof st->host, "%s", s);
  if ((s = json_string_value(json_object_get(o, "slurm_job")))) snprintf(st->slurm_job, sizeof st->slurm_job, "%s", s);
  if ((s = json_string_value(json_object_get(o, "error")))) snprintf(st->error, sizeof st->error, "%s", s);
  if ((s = json_string_value(json_object_get(o, "updated")))) {
    snprintf(st->updated, sizeof st->updated, "%s", s);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end && (*end == 'Z' || !*end)) {
      st->age_s = (long)(time(NULL) - timegm(&tm));
      if (st->age_s < 0) st->age_s = 0;
    }
  }
  st->stale = !strcmp(st->state, "running") && st->age_s > 600;
  json_decref(o);
}

void pst_grid_tail(FILE *out, const char *path, int n, const char *prefix) {
  FILE *f = fopen(path, "rb");
  if (!f) return;
  static char buf[65537];
  long size = 0;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  long from = size > 65536 ? size - 65536 : 0;
  fseek(f, from, SEEK_SET);
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  while (len && buf[len - 1] == '\n') buf[--len] = 0;
  const char *start = buf;
  int lines = 0;
  for (size_t i = len; i-- > 0;)
    if (buf[i] == '\n' && ++lines == n) {
      start = buf + i + 1;
      break;
    }
  for (const char *p = start; *p;) {
    const char *nl = strchr(p, '\n');
    size_t l = nl ? (size_t)(nl - p) : strlen(p);
    fprintf(out, "%s%.*s\n", prefix, (int)l, p);
    p += l + (nl ? 1 : 0);
  }
}
