#ifndef SQUINT_CNCURSES_SHIM_H
#define SQUINT_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <ncursesw/curses.h>
#include <locale.h>
#include <langinfo.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

/* Macros and globals that Swift cannot import (or cannot import safely under strict concurrency),
   as static inline functions. Only CursesDriver imports this module. */

static inline WINDOW *sq_stdscr(void) { return stdscr; }
static inline int sq_cols(void) { return COLS; }
static inline int sq_lines(void) { return LINES; }
static inline int sq_colors(void) { return COLORS; }
static inline int sq_color_pairs(void) { return COLOR_PAIRS; }
static inline int sq_err(void) { return ERR; }
/* init_extended_pair takes int colours: 24-bit values when the terminal has direct colour (COLORS is
   2^24, e.g. TERM=xterm-direct), palette indices otherwise; -1 is the default colour. */
static inline int sq_init_pair(int pair, int fg, int bg) { return init_extended_pair(pair, fg, bg); }
static inline void sq_getmaxyx(WINDOW *w, int *y, int *x) { int yy, xx; getmaxyx(w, yy, xx); *y = yy; *x = xx; }

/* Attribute bits as TerminalUI.Attributes spells them: 1 bold, 2 dim, 4 underline, 8 reverse, 16 italic. */
static inline attr_t sq_attrs(unsigned flags) {
    attr_t a = A_NORMAL;
    if (flags & 1) a |= A_BOLD;
    if (flags & 2) a |= A_DIM;
    if (flags & 4) a |= A_UNDERLINE;
    if (flags & 8) a |= A_REVERSE;
#ifdef A_ITALIC
    if (flags & 16) a |= A_ITALIC;
#endif
    return a;
}

/* Draws one cell: a spacing character plus up to four combining ones, at (y, x). */
static inline int sq_put_cell(int y, int x, const wchar_t *wcs, int count, unsigned flags, int pair) {
    wchar_t buf[CCHARW_MAX + 1];
    int n = count < CCHARW_MAX ? count : CCHARW_MAX;
    for (int i = 0; i < n; i++) buf[i] = wcs[i];
    buf[n] = 0;
    cchar_t cc;
    /* ncurses 6.1+: a non-NULL opts carries the pair as an int, so pairs above 32767 work too. */
    int extended = pair;
    if (setcchar(&cc, buf, sq_attrs(flags), (short)(pair < 32767 ? pair : 0), &extended) == ERR) return ERR;
    return mvwadd_wch(stdscr, y, x, &cc);
}

/* The terminal's size from the kernel (after SIGWINCH), or -1. */
static inline int sq_winsize(int fd, int *rows, int *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

/* Whether LC_CTYPE is UTF-8 after setlocale(LC_ALL, ""); if not, tries C.UTF-8 (ncursesw needs a
   UTF-8 locale to place wide characters). Returns 1 when the final locale is UTF-8. */
static inline int sq_setup_locale(void) {
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    if (cs && strcmp(cs, "UTF-8") == 0) return 1;
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) return 0;
    cs = nl_langinfo(CODESET);
    return cs && strcmp(cs, "UTF-8") == 0;
}

/* Crash handling: restore the terminal, put stderr back, show what was captured, then die by the same
   signal (so a core dump and the exit status stay right). Only async-signal-safe calls besides endwin,
   which is what htop does too (CRT_handleSIGSEGV): a usable shell matters more than purity here. */
static int sq_saved_stderr = -1;
static int sq_capture_fd = -1;
static volatile sig_atomic_t sq_curses_active = 0;

static inline void sq_write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void sq_fatal_handler(int sig) {
    int had_ui = sq_curses_active || sq_saved_stderr >= 0;
    if (sq_curses_active) {
        sq_curses_active = 0;
        endwin();
        sq_write_all(1, "\033[?2004l", 8);
    }
    if (sq_saved_stderr >= 0) {
        dup2(sq_saved_stderr, 2);
        if (sq_capture_fd >= 0 && lseek(sq_capture_fd, 0, SEEK_SET) == 0) {
            char buf[4096];
            ssize_t n;
            while ((n = read(sq_capture_fd, buf, sizeof buf)) > 0) sq_write_all(2, buf, (size_t)n);
        }
    }
    if (had_ui) {
        const char *msg = "squint: crashed; the terminal was restored\n";
        sq_write_all(2, msg, strlen(msg));
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void sq_set_curses_active(int active) { sq_curses_active = active; }

static inline void sq_set_stderr_fds(int saved, int capture) {
    sq_saved_stderr = saved;
    sq_capture_fd = capture;
}

static inline void sq_install_fatal_handlers(void) {
    int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = sq_fatal_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}

// Whether terminfo knows $TERM. ncurses' initscr() exits the process when it does not (and stderr may be
// captured then, so the message would be lost); setupterm with an error pointer reports it instead.
extern int setupterm(const char *term, int filedes, int *errret);
static inline int sq_terminal_known(void) {
    int err = 0;
    return setupterm(NULL, 1, &err) == 0 ? 1 : 0;
}

#endif
