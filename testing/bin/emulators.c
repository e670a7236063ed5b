/*
 * Compiled test emulators of the board's `devmem` and `pixeldump`, reading a
 * memory image instead of physical memory: the same arguments, output,
 * messages and exit codes as the shell emulators beside this file
 * (testing/bin/devmem, testing/bin/pixeldump), at the cost of a compiled
 * tool as on a board (about a millisecond) instead of a shell script's
 * (15-20 ms: wc, od, tr and dd processes). One program, named by argv[0]
 * as busybox is: build it once, link it as `devmem` and `pixeldump`
 * (testing/emulators.ts). Test and bench tool only; not part of ringdump.
 *
 *   devmem ADDR [WIDTH]            prints the value, 0x%0*X (WIDTH 8/16/32/64)
 *   pixeldump -a ADDR - WIDTH HEIGHT 1   writes WIDTH*HEIGHT raw bytes
 *
 * The image: $RINGDUMP_IMAGE, standing for physical memory from
 * $RINGDUMP_IMAGE_ORIGIN (default 0). Writes are refused.
 *
 * Valid C and C++ (built with the C++ compiler the tests already need).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* A number as the shell emulators accept it: 0x and hex digits, or decimal digits. */
static int parse_num(const char *s, uint64_t *out) {
  int hex = s[0] == '0' && s[1] == 'x';
  const char *d = hex ? s + 2 : s;
  if (*d == '\0') return 0;
  uint64_t v = 0;
  for (; *d; d++) {
    int c = (unsigned char)*d, n;
    if (c >= '0' && c <= '9') n = c - '0';
    else if (hex && c >= 'a' && c <= 'f') n = c - 'a' + 10;
    else if (hex && c >= 'A' && c <= 'F') n = c - 'A' + 10;
    else return 0;
    v = v * (hex ? 16 : 10) + (uint64_t)n;
  }
  *out = v;
  return 1;
}

/* The image, its origin and size; exits as the shell emulators do when unusable. */
static int open_image(const char *tool, const char *what, uint64_t *origin, uint64_t *size) {
  const char *image = getenv("RINGDUMP_IMAGE");
  if (!image || !*image) {
    fprintf(stderr, "%s emulator: set RINGDUMP_IMAGE to the memory image\n", tool);
    exit(2);
  }
  const char *org = getenv("RINGDUMP_IMAGE_ORIGIN");
  *origin = 0;
  if (org && *org && !parse_num(org, origin)) {
    fprintf(stderr, "%s: '%s' is not a number\n", tool, org);
    exit(2);
  }
  int fd = open(image, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (strcmp(what, "devmem") == 0) fprintf(stderr, "devmem: %s: No such file or directory\n", image);
    else fprintf(stderr, "pixeldump: cannot open %s: no such memory\n", image);
    exit(1);
  }
  *size = (uint64_t)st.st_size;
  return fd;
}

/* Reads exactly len bytes at off, or exits 1 (the image shrank under the read). */
static void pread_exact(const char *tool, int fd, void *buf, size_t len, uint64_t off) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "%s: short read at offset %" PRIu64 " of the image\n", tool, off + got);
      exit(1);
    }
    got += (size_t)n;
  }
}

static int devmem_main(int argc, char **argv) {
  uint64_t addr, width = 32;
  if (argc < 2 || argc > 3 || !parse_num(argv[1], &addr) ||
      (argc == 3 && (!parse_num(argv[2], &width) || argv[2][0] == '0'))) goto usage;
  if (width != 8 && width != 16 && width != 32 && width != 64) goto usage;
  {
    uint64_t origin, size;
    int fd = open_image("devmem", "devmem", &origin, &size);
    uint64_t bytes = width / 8;
    if (addr < origin || addr - origin + bytes > size) {
      fprintf(stderr, "devmem: 0x%" PRIx64 " is outside memory\n", addr);
      return 1;
    }
    unsigned char b[8];
    pread_exact("devmem", fd, b, (size_t)bytes, addr - origin);
    uint64_t v = 0;
    for (uint64_t i = bytes; i-- > 0;) v = v << 8 | b[i]; /* little-endian */
    printf("0x%0*" PRIX64 "\n", (int)(width / 4), v);
    return fflush(stdout) == 0 ? 0 : 1;
  }
usage:
  fprintf(stderr, "usage: devmem ADDRESS [WIDTH]   (emulator: reads only; WIDTH 8, 16, 32, 64)\n");
  return 2;
}

static int not_number(const char *s) {
  fprintf(stderr, "pixeldump: '%s' is not a number\n", s);
  return 2;
}

static int pixeldump_main(int argc, char **argv) {
  const char *usage = "usage: pixeldump -a ADDR - WIDTH HEIGHT 1   (emulator: only raw dumps to stdout)\n";
  if (argc != 7 || strcmp(argv[1], "-a") != 0 || strcmp(argv[3], "-") != 0 ||
      strcmp(argv[6], "1") != 0) {
    fputs(usage, stderr);
    return 2;
  }
  uint64_t addr, width, height;
  if (!parse_num(argv[2], &addr)) return not_number(argv[2]);
  if (!parse_num(argv[4], &width)) return not_number(argv[4]);
  if (!parse_num(argv[5], &height)) return not_number(argv[5]);
  if (width == 0 || height == 0) {
    fputs(usage, stderr);
    return 2;
  }
  uint64_t origin, size;
  int fd = open_image("pixeldump", "pixeldump", &origin, &size);
  uint64_t len = width * height;
  if (addr < origin || addr - origin + len > size) {
    fprintf(stderr, "pixeldump: 0x%" PRIx64 "+%" PRIu64 " is outside memory (0x%" PRIx64 "..0x%" PRIx64 ")\n",
            addr, len, origin, origin + size);
    return 1;
  }
  static char buf[1 << 20];
  uint64_t off = addr - origin, done = 0;
  while (done < len) {
    size_t n = (size_t)(len - done < sizeof buf ? len - done : sizeof buf);
    pread_exact("pixeldump", fd, buf, n, off + done);
    for (size_t w = 0; w < n;) {
      ssize_t k = write(1, buf + w, n - w);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        fprintf(stderr, "pixeldump: writing stdout: %s\n", strerror(errno));
        return 1;
      }
      w += (size_t)k;
    }
    done += n;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *name = base_name(argv[0]);
  if (strcmp(name, "devmem") == 0) return devmem_main(argc, argv);
  if (strcmp(name, "pixeldump") == 0) return pixeldump_main(argc, argv);
  fprintf(stderr, "%s: run me as devmem or pixeldump (a link named so)\n", name);
  return 2;
}
