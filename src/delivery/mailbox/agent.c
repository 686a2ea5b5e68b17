/*
 * postern-mailbox-agent: appends messages to one user's mailbox, running as
 * that user (uid, gid, no supplementary groups), started and fed by the root
 * broker (agent-pool.ts).  It serves requests one after the other until its
 * input ends or it is stopped; the protocol is described in agent-protocol.ts.
 *
 * Why C: the broker starts one agent per recipient uid.  A Node agent took
 * 30 to 50 ms to start on this two-core machine, and a queue run for twenty
 * users spent about a second with every runner lane waiting for one; this
 * program starts in about a millisecond.  Its work per message (checks,
 * locks, write, fsync) is the same as before, without the event loop.
 *
 * Writing as the recipient means the kernel, not this code, confines the
 * write to files the recipient may write, and disk quotas count against the
 * recipient.  The recipient can ptrace this process (same uid): it can then
 * only change delivery of its own mail, since the broker gives an agent
 * nothing but mail for the uid it runs as.
 *
 * It reports facts (what failed, errno's name), never the registry's codes:
 * the broker maps them to codes (agent-answer.ts), so the codes live in one
 * place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST_LINE (16 * 1024)
#define IO_SIZE (64 * 1024)
#define ABORT_FRAME 0xffffffffu
/* bytes of a line start enough to tell what it is ("Return-Path   :" included) */
#define DECIDE_LENGTH 64

static volatile sig_atomic_t busy;
static volatile sig_atomic_t stopped;

/* ---- input: request lines and message frames ---------------------------- */

static unsigned char in_buf[IO_SIZE + MAX_REQUEST_LINE];
static size_t in_start, in_end;
static int in_eof;
/* bytes left in the current frame; -1 when no message is being read */
static long long frame_left = -1;

/* Reads more input; 0 at end of file, -1 when stopped (SIGTERM interrupts the read). */
static int more_input(void) {
	ssize_t n;
	if (in_start > 0) {
		memmove(in_buf, in_buf + in_start, in_end - in_start);
		in_end -= in_start;
		in_start = 0;
	}
	if (in_end == sizeof in_buf) return 1;
	for (;;) {
		if (stopped) return -1;
		n = read(0, in_buf + in_end, sizeof in_buf - in_end);
		if (n > 0) {
			in_end += (size_t)n;
			return 1;
		}
		if (n == 0 || errno != EINTR) {
			in_eof = 1;
			return 0;
		}
	}
}

/* Result of reading the message: a piece, its end, or why it cannot be read whole. */
enum piece { PIECE_DATA, PIECE_END, PIECE_CUT_SHORT, PIECE_STOPPED };

static enum piece next_piece(const unsigned char **data, size_t *length) {
	while (frame_left == 0) {
		uint32_t len;
		while (in_end - in_start < 4) {
			int r = more_input();
			if (r <= 0) {
				frame_left = -1;
				return r < 0 ? PIECE_STOPPED : PIECE_CUT_SHORT;
			}
		}
		len = (uint32_t)in_buf[in_start] << 24 | (uint32_t)in_buf[in_start + 1] << 16 | (uint32_t)in_buf[in_start + 2] << 8 | in_buf[in_start + 3];
		in_start += 4;
		if (len == 0 || len == ABORT_FRAME) {
			frame_left = -1;
			return len == 0 ? PIECE_END : PIECE_CUT_SHORT;
		}
		frame_left = len;
	}
	if (frame_left < 0) return PIECE_END;
	if (in_end == in_start) {
		int r = more_input();
		if (r <= 0) {
			frame_left = -1;
			return r < 0 ? PIECE_STOPPED : PIECE_CUT_SHORT;
		}
	}
	*length = in_end - in_start;
	if ((long long)*length > frame_left) *length = (size_t)frame_left;
	*data = in_buf + in_start;
	in_start += *length;
	frame_left -= (long long)*length;
	return PIECE_DATA;
}

/* Reads what is left of the current message; 0 when it was cut short (out of step: stop serving). */
static int skip_message(void) {
	const unsigned char *data;
	size_t length;
	for (;;) {
		switch (next_piece(&data, &length)) {
		case PIECE_DATA: continue;
		case PIECE_END: return 1;
		default: return 0;
		}
	}
}

/* ---- output: progress and status lines ---------------------------------- */

static void say(const char *line, size_t length) {
	while (length > 0) {
		ssize_t n = write(1, line, length);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) _exit(0); /* the broker has gone: nothing to answer to */
		line += n;
		length -= (size_t)n;
	}
}

/* "status KIND ERRNO TEXT": KIND says what happened, ERRNO is errno's name or "-". */
static void answer(const char *kind, int err, const char *fmt, ...) {
	char line[2048];
	const char *name = err ? strerrorname_np(err) : NULL;
	int n = snprintf(line, sizeof line, "status %s %s ", kind, name != NULL ? name : err ? "EIO" : "-");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
	line[n++] = '\n';
	say(line, (size_t)n);
}

/* ---- requests ----------------------------------------------------------- */

struct request {
	int append; /* else cut-back */
	unsigned long long lock_timeout_ms;
	long long now_ms;
	unsigned long long uid, gid;
	char spool[PATH_MAX], name[NAME_MAX + 1], sender[4096];
	unsigned long long at_size, at_dev, at_ino;
	char path[PATH_MAX + NAME_MAX + 2];
};

static int unhex(const char *hex, char *out, size_t room) {
	size_t n = strlen(hex);
	if (n % 2 != 0 || n / 2 >= room) return 0;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int byte;
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) return 0;
		out[i] = (char)byte;
		if (byte == 0) return 0;
	}
	out[n / 2] = '\0';
	return 1;
}

static int number(const char *word, unsigned long long *out) {
	char *end;
	if (word == NULL || *word < '0' || *word > '9') return 0;
	errno = 0;
	*out = strtoull(word, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A user name usable as a file name in the spool: no path, nothing hidden (append.ts said the same). */
static int plain_name(const char *name) {
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL && strchr(name, '\n') == NULL;
}

/* 1: a request in *r; 0: end of input between requests; -1: out of step (reason answered). */
static int next_request(struct request *r) {
	char line[MAX_REQUEST_LINE + 1];
	unsigned char *nl;
	char *word[12];
	int words = 0;
	unsigned long long now;
	while ((nl = memchr(in_buf + in_start, '\n', in_end - in_start)) == NULL) {
		if (in_end - in_start > MAX_REQUEST_LINE) {
			answer("protocol", 0, "request line too long");
			return -1;
		}
		if (more_input() <= 0) {
			if (in_end == in_start && in_eof) return 0;
			if (!stopped) answer("protocol", 0, "request line cut short");
			return -1;
		}
	}
	size_t length = (size_t)(nl - (in_buf + in_start));
	if (length > MAX_REQUEST_LINE) {
		answer("protocol", 0, "request line too long");
		return -1;
	}
	memcpy(line, in_buf + in_start, length);
	line[length] = '\0';
	in_start += length + 1;
	for (char *save = NULL, *w = strtok_r(line, " ", &save); w != NULL && words < 12; w = strtok_r(NULL, " ", &save))
		word[words++] = w;
	memset(r, 0, sizeof *r);
	if (words == 9 && strcmp(word[0], "P3") == 0 && strcmp(word[1], "append") == 0 && number(word[2], &r->lock_timeout_ms) && number(word[3], &now) &&
	    number(word[4], &r->uid) && number(word[5], &r->gid) && unhex(word[6], r->spool, sizeof r->spool) && unhex(word[7], r->name, sizeof r->name) &&
	    (strcmp(word[8], "-") == 0 || unhex(word[8], r->sender, sizeof r->sender))) {
		r->append = 1;
		r->now_ms = (long long)now;
		frame_left = 0;
	} else if (words == 10 && strcmp(word[0], "P3") == 0 && strcmp(word[1], "cut-back") == 0 && number(word[2], &r->lock_timeout_ms) &&
		   number(word[3], &r->uid) && number(word[4], &r->gid) && unhex(word[5], r->spool, sizeof r->spool) &&
		   unhex(word[6], r->name, sizeof r->name) && number(word[7], &r->at_size) && number(word[8], &r->at_dev) && number(word[9], &r->at_ino)) {
		r->append = 0;
	} else {
		answer("protocol", 0, "malformed request");
		return -1;
	}
	if (!plain_name(r->name)) {
		answer("protocol", 0, "malformed request: bad user name");
		return -1;
	}
	snprintf(r->path, sizeof r->path, "%s/%s", r->spool, r->name);
	return 1;
}

/* ---- the mailbox: open with checks, lock -------------------------------- */

/* Refusals that mail.local answers with 550 5.2.0 (mailbox-file.ts's unsafeReason). */
static const char *unsafe_reason(const struct stat *st, uid_t owner, char *buf, size_t room) {
	if (S_ISLNK(st->st_mode)) return "is a symbolic link";
	if (!S_ISREG(st->st_mode)) return "irregular file";
	if (st->st_nlink != 1) return "too many links";
	if (st->st_uid != owner) {
		snprintf(buf, room, "wrong ownership (%lu)", (unsigned long)st->st_uid);
		return buf;
	}
	return NULL;
}

/*
 * O_NOFOLLOW: a link planted between lstat and open is not followed at all;
 * O_NONBLOCK: a FIFO swapped in must fail to open rather than hang.  Group or
 * world write permission is not refused: the writer is the owner, and
 * Debian's tools make mailboxes 0660 group mail.  Returns the descriptor, or
 * -1 with the reason answered.
 */
static int open_mailbox(const struct request *r, struct stat *after) {
	struct stat before;
	char why[64];
	const char *unsafe;
	int fd;
	if (lstat(r->path, &before) != 0) {
		/* the broker made it a moment ago: someone removed it, worth another try later */
		answer("changed", errno, "%s: lstat: %s", r->path, strerror(errno));
		return -1;
	}
	if ((unsafe = unsafe_reason(&before, (uid_t)r->uid, why, sizeof why)) != NULL) {
		answer("unsafe", 0, "%s: %s", r->path, unsafe);
		return -1;
	}
	fd = open(r->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP || e == ENXIO || e == ENOENT)
			answer("changed", e, "%s: changed before open (open: %s)", r->path, strerror(e));
		else
			answer("cannot-open", e, "%s: open: %s", r->path, strerror(e));
		return -1;
	}
	if (fstat(fd, after) != 0) {
		int e = errno;
		close(fd);
		answer("cannot-open", e, "%s: fstat: %s", r->path, strerror(e));
		return -1;
	}
	if (after->st_dev != before.st_dev || after->st_ino != before.st_ino || unsafe_reason(after, (uid_t)r->uid, why, sizeof why) != NULL) {
		close(fd);
		/* a race with whoever can write the spool directory; mail.local marks it temporary too */
		answer("changed", 0, "%s: file changed after open", r->path);
		return -1;
	}
	return fd;
}

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * An fcntl write lock on the whole file (what mutt, s-nail, dovecot, procmail
 * and Postfix take on Linux) and a flock lock (what sendmail's mail.local
 * takes; on Linux they are independent).  Both tried without blocking and
 * retried, 20 ms doubling to 250 ms, so the delivery can give up; neither is
 * held while waiting for the other, so a reader taking them in the other
 * order cannot deadlock with us.  Closing the file releases both.
 * 1: locked; 0: timed out or stopped (answered); -1: a lock call failed (answered).
 */
static int lock_mailbox(int fd, const struct request *r) {
	long long deadline = now_ms() + (long long)r->lock_timeout_ms;
	long long pause = 20;
	struct flock whole = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	for (;;) {
		if (stopped) {
			answer("lock-timeout", 0, "%s: delivery stopped (timed out)", r->path);
			return 0;
		}
		whole.l_type = F_WRLCK;
		if (fcntl(fd, F_SETLK, &whole) == 0) {
			if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 1;
			if (errno != EWOULDBLOCK) {
				answer("cannot-open", errno, "%s: flock: %s", r->path, strerror(errno));
				return -1;
			}
			whole.l_type = F_UNLCK;
			fcntl(fd, F_SETLK, &whole);
		} else if (errno != EACCES && errno != EAGAIN) {
			answer("cannot-open", errno, "%s: fcntl: %s", r->path, strerror(errno));
			return -1;
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			answer("lock-timeout", 0, "%s: locked by another process for too long", r->path);
			return 0;
		}
		long long wait = pause < left ? pause : left;
		struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
		nanosleep(&ts, NULL); /* SIGTERM cuts it short; the loop then sees `stopped` */
		pause = pause * 2 < 250 ? pause * 2 : 250;
	}
}

/* ---- the mbox entry (mbox-format.ts writes the same form for /file targets) ---- */

static unsigned char out_buf[IO_SIZE];
static size_t out_len;
static int out_fd;
static int out_errno;
static unsigned char last_byte;

static void flush_out(void) {
	size_t done = 0;
	while (done < out_len && out_errno == 0) {
		ssize_t n = write(out_fd, out_buf + done, out_len - done);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) out_errno = errno;
		else done += (size_t)n;
	}
	out_len = 0;
}

static void emit(const void *bytes, size_t length) {
	const unsigned char *p = bytes;
	if (length == 0) return;
	last_byte = p[length - 1];
	while (length > 0) {
		size_t room = sizeof out_buf - out_len;
		size_t take = length < room ? length : room;
		memcpy(out_buf + out_len, p, take);
		out_len += take;
		p += take;
		length -= take;
		if (out_len == sizeof out_buf) flush_out();
	}
}

/*
 * Line-start filter: holds the first bytes of each line until it can tell
 * whether it is a "From " line (escaped ">From ") or part of a Return-Path
 * or Content-Length field in the header section (dropped: only the delivery
 * knows their value, and mutt trusts a Content-Length), then lets the rest of
 * the line through.  No line is held whole.
 */
struct encoder {
	int in_headers, in_dropped_field, drop_line, deciding;
	unsigned char held[DECIDE_LENGTH];
	size_t held_length;
};

static int dropped_field(const unsigned char *s, size_t n) {
	static const char *const names[] = {"return-path", "content-length"};
	for (size_t k = 0; k < 2; k++) {
		size_t len = strlen(names[k]), i;
		if (n < len || strncasecmp((const char *)s, names[k], len) != 0) continue;
		for (i = len; i < n && (s[i] == ' ' || s[i] == '\t'); i++);
		if (i < n && s[i] == ':') return 1;
	}
	return 0;
}

static void decide(struct encoder *e) {
	const unsigned char *s = e->held;
	size_t n = e->held_length;
	e->deciding = 0;
	e->held_length = 0;
	e->drop_line = 0;
	if (e->in_headers) {
		if ((n == 1 && s[0] == '\n') || (n == 2 && s[0] == '\r' && s[1] == '\n'))
			e->in_headers = 0;
		else if (s[0] == ' ' || s[0] == '\t')
			e->drop_line = e->in_dropped_field; /* a continuation belongs to the field above */
		else
			e->drop_line = e->in_dropped_field = dropped_field(s, n);
	}
	if (e->drop_line) return;
	if (n >= 5 && memcmp(s, "From ", 5) == 0) emit(">", 1);
	emit(s, n);
}

static void encode(struct encoder *e, const unsigned char *p, size_t n) {
	size_t i = 0;
	while (i < n) {
		const unsigned char *nl = memchr(p + i, '\n', n - i);
		size_t end = nl == NULL ? n : (size_t)(nl - p) + 1;
		if (e->deciding) {
			size_t take = end - i;
			if (take > DECIDE_LENGTH - e->held_length) take = DECIDE_LENGTH - e->held_length;
			memcpy(e->held + e->held_length, p + i, take);
			e->held_length += take;
			i += take;
			int line_ended = nl != NULL && i == end;
			if (!line_ended && e->held_length < DECIDE_LENGTH) break; /* need more bytes */
			decide(e);
			if (line_ended) e->deciding = 1;
			continue;
		}
		if (!e->drop_line) emit(p + i, end - i);
		i = end;
		if (nl != NULL) e->deciding = 1;
	}
}

static void encode_end(struct encoder *e) {
	if (e->deciding && e->held_length > 0) decide(e);
	if (last_byte != '\n') emit("\n", 1);
	emit("\n", 1);
}

/* "From SENDER DATE" and "Return-Path: <SENDER>"; control characters become "?", and spaces "_" in the From_ line. */
static void preamble(const struct request *r) {
	char sender[sizeof r->sender], from[sizeof r->sender], date[64];
	size_t n = strlen(r->sender);
	time_t seconds = (time_t)(r->now_ms / 1000);
	struct tm tm;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)r->sender[i];
		sender[i] = c != '\0' && (c < 0x20 || c == 0x7f) ? '?' : (char)c;
		from[i] = sender[i] == ' ' ? '_' : sender[i];
	}
	localtime_r(&seconds, &tm);
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
	emit("From ", 5);
	if (n == 0) emit("MAILER-DAEMON", 13);
	else emit(from, n);
	emit(" ", 1);
	emit(date, strlen(date));
	emit("\nReturn-Path: <", 15);
	emit(sender, n);
	emit(">\n", 2);
}

/* ---- the two requests --------------------------------------------------- */

static int cut_back(int fd, off_t size) {
	return ftruncate(fd, size) == 0 && fsync(fd) == 0;
}

/* Appends one message; 1 when the input is still in step afterwards. */
static int append(const struct request *r) {
	struct stat st;
	struct encoder enc = {.in_headers = 1, .deciding = 1};
	const unsigned char *data;
	size_t length;
	enum piece piece;
	char progress[128];
	int fd = open_mailbox(r, &st);
	if (fd < 0) return skip_message();
	if (lock_mailbox(fd, r) <= 0) {
		close(fd);
		return stopped ? 0 : skip_message();
	}
	/* with both locks held no cooperating writer appends meanwhile: our entry starts here */
	if (fstat(fd, &st) != 0) {
		answer("cannot-open", errno, "%s: fstat: %s", r->path, strerror(errno));
		close(fd);
		return skip_message();
	}
	/* a pipe write is atomic at this size: the broker has this line before the mailbox has a byte */
	say(progress, (size_t)snprintf(progress, sizeof progress, "appending %llu %llu %llu\n", (unsigned long long)st.st_size,
				       (unsigned long long)st.st_dev, (unsigned long long)st.st_ino));
	out_fd = fd;
	out_len = 0;
	out_errno = 0;
	last_byte = '\n';
	preamble(r);
	while ((piece = next_piece(&data, &length)) == PIECE_DATA && out_errno == 0 && !stopped)
		encode(&enc, data, length);
	if (piece == PIECE_END) {
		encode_end(&enc);
		flush_out();
		/* delayed allocation may report ENOSPC or EIO only here */
		if (out_errno == 0 && fsync(fd) != 0) out_errno = errno;
	}
	int in_step = 1;
	if (piece == PIECE_END && out_errno == 0 && !stopped) {
		answer("sent", 0, "Sent");
	} else {
		const char *undo = cut_back(fd, st.st_size) ? "" : " (and could not be cut back)";
		if (stopped || piece == PIECE_STOPPED) {
			answer("write-failed", 0, "%s: delivery stopped%s", r->path, undo);
			in_step = 0;
		} else if (out_errno != 0) {
			answer("write-failed", out_errno, "%s: write: %s%s", r->path, strerror(out_errno), undo);
			in_step = piece == PIECE_END || skip_message();
		} else {
			answer("cut-short", 0, "%s: message cut short by the broker%s", r->path, undo);
			in_step = !in_eof; /* after the broker's abort mark the next request follows */
		}
	}
	close(fd); /* also drops the fcntl and flock locks */
	return in_step;
}

/*
 * Undoes an append whose writer died before it said how it ended: truncates
 * the mailbox to where that entry began, if it is still the same file and no
 * shorter.  The broker still holds the dotlock, so no cooperating writer has
 * appended since.
 */
static void cut_back_request(const struct request *r) {
	struct stat st;
	int fd = open_mailbox(r, &st);
	if (fd < 0) return;
	if (lock_mailbox(fd, r) > 0) {
		if (fstat(fd, &st) != 0)
			answer("write-failed", errno, "%s: fstat: %s", r->path, strerror(errno));
		else if ((unsigned long long)st.st_dev != r->at_dev || (unsigned long long)st.st_ino != r->at_ino)
			answer("changed", 0, "%s: not the file the interrupted delivery wrote to", r->path);
		else if ((unsigned long long)st.st_size < r->at_size)
			answer("changed", 0, "%s: shorter than before the interrupted delivery", r->path);
		else if (!cut_back(fd, (off_t)r->at_size))
			answer("write-failed", errno, "%s: ftruncate: %s", r->path, strerror(errno));
		else
			answer("sent", 0, "Sent");
	}
	close(fd);
}

static void on_term(int sig) {
	(void)sig;
	if (!busy) _exit(0);
	stopped = 1;
}

int main(void) {
	struct request r;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term; /* no SA_RESTART: a read or sleep under way returns, and the loop sees `stopped` */
	sigaction(SIGTERM, &sa, NULL);
	/* exceeding RLIMIT_FSIZE must fail the write (EFBIG, then cut back), not kill us mid-append */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); /* hardening only: nothing here gains privileges */
	for (;;) {
		int got = next_request(&r);
		if (got <= 0) break;
		busy = 1;
		/* refuse to write as anyone but the recipient: that would defeat the reason for the agent */
		if (getuid() != r.uid || geteuid() != r.uid || getgid() != r.gid || getegid() != r.gid) {
			answer("identity", 0, "agent runs as uid %lu, not as %s (%llu)", (unsigned long)geteuid(), r.name, r.uid);
			if (r.append && !skip_message()) break;
		} else if (r.append) {
			if (!append(&r)) break;
		} else {
			cut_back_request(&r);
		}
		busy = 0;
		if (stopped) break;
	}
	return 0;
}
