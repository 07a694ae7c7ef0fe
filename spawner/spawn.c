#include "spawner/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under ASan, a child that runs on born_stack is on a stack ASan does not
 * know: its calls to noreturn functions (_exit) would print a warning into
 * the script's stderr, and the frames it leaves (it never returns) would stay
 * poisoned for the next child. The child's own code goes uninstrumented, and
 * the stack is cleared before each child. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_STACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_STACK 1
#endif
#endif
#ifdef ASAN_STACK
#include <sanitizer/asan_interface.h>
#define CHILD_CODE __attribute__((no_sanitize_address))
#else
#define CHILD_CODE
#endif

/* clone3 as vfork does it (CLONE_VM | CLONE_VFORK), with the child on a stack
 * of its own running fn(arg), which execs or exits: a C caller cannot share
 * its stack with a child the way glibc's vfork does, and glibc 2.36 has no
 * clone3 that takes a cgroup. Returns the pid or -errno in the parent. */
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP) && \
        (defined(__x86_64__) || defined(__aarch64__))
#define HAVE_CLONE3_RUN 1
long gw_clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
        ".globl gw_clone3_run\n"
        ".hidden gw_clone3_run\n"
        ".type gw_clone3_run, @function\n"
        "gw_clone3_run:\n"
        "	mov %rdx, %r8\n" /* fn and arg survive the syscall in r8, r9 */
        "	mov %rcx, %r9\n"
        "	mov $435, %eax\n" /* __NR_clone3 */
        "	syscall\n"
        "	test %rax, %rax\n"
        "	jnz 1f\n"
        "	xor %ebp, %ebp\n" /* the child, on its stack (16-aligned) */
        "	mov %r9, %rdi\n"
        "	call *%r8\n"
        "	mov %eax, %edi\n"
        "	mov $60, %eax\n" /* __NR_exit */
        "	syscall\n"
        "	hlt\n"
        "1:	ret\n"
        ".size gw_clone3_run, .-gw_clone3_run\n"
        ".popsection\n");
#else
__asm__(".pushsection .text\n"
        ".globl gw_clone3_run\n"
        ".hidden gw_clone3_run\n"
        ".type gw_clone3_run, %function\n"
        "gw_clone3_run:\n"
        "	mov x8, #435\n"
        "	svc #0\n"
        "	cbnz x0, 1f\n"
        "	mov x29, xzr\n"
        "	mov x0, x3\n"
        "	blr x2\n"
        "	mov x8, #93\n"
        "	svc #0\n"
        "1:	ret\n"
        ".size gw_clone3_run, .-gw_clone3_run\n"
        ".popsection\n");
#endif
#endif

/* See spawn_boost_priority. */
static struct {
	bool on;
	int nice; /* what children get back */
} boost;

int spawn_boost_priority(int by)
{
	errno = 0;
	int was = getpriority(PRIO_PROCESS, 0);
	if (was == -1 && errno)
		return -errno;
	int want = was - by < -20 ? -20 : was - by;
	if (setpriority(PRIO_PROCESS, 0, want) < 0)
		return -errno;
	boost.on = true;
	boost.nice = was;
	return 0;
}

int spawn_signal_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return -EINVAL;
	if (kill(-pgid, sig) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

int spawn_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	int fl = fcntl(fds[parent_end], F_GETFL);
	if (fl < 0 || fcntl(fds[parent_end], F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	return 0;
}

int spawn_reserve_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd) {
			close(nfd);
			return -EBADF;
		}
	}
	return 0;
}

/* The child half of spawn_process, between vfork and exec: only system calls,
 * no allocation, no stdio. Reports an errno through the pipe and exits. */
CHILD_CODE static void child(const struct spawn_spec *spec, pid_t parent, int report, bool born)
{
	sigset_t none;
	int err = 0;

	if (report < 3) {
		/* report is close-on-exec: a successful exec closes it unwritten. */
		report = fcntl(report, F_DUPFD_CLOEXEC, 3);
		if (report < 0)
			_exit(127);
	}
	/* Not born in its cgroup (the kernel could not): move in, first thing. */
	if (spec->cgroup_fd > 2 && !born) {
		int procs = openat(spec->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (procs < 0 || write(procs, "0", 1) != 1)
			goto fail;
		close(procs);
	}

	/* exec resets caught signals but keeps ignored ones (the daemon ignores
	 * SIGPIPE, the spawner more): every disposition back to the default. */
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (spec->new_process_group && setpgid(0, 0) < 0)
		goto fail;
	int null = -1;
	for (int i = 0; i < 3; i++) {
		if (spec->fd[i] < 0 && null < 0 && (null = open("/dev/null", O_RDWR)) < 0)
			goto fail;
		if (dup2(spec->fd[i] >= 0 ? spec->fd[i] : null, i) < 0)
			goto fail;
	}
	if (spec->cwd && chdir(spec->cwd) < 0)
		goto fail;
	if (spec->in_child && (err = -spec->in_child(spec->in_child_arg)) != 0)
		goto report;
	if (spec->set_ids &&
	    (setgroups(1, &spec->gid) < 0 || setgid(spec->gid) < 0 || setuid(spec->uid) < 0))
		goto fail;
	/* Die with the spawner; if it is already gone, go now. After the user
	 * change: the kernel clears a parent-death signal set before one. */
	if (spec->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(127);
	/* Last before exec (raising one's own nice value needs no privilege). */
	if (boost.on && setpriority(PRIO_PROCESS, 0, boost.nice) < 0)
		goto fail;
	/* A policy gatewayd was started with (idle, real-time) is the user's
	 * choice, and stays. */
	if (spec->batch && sched_getscheduler(0) == SCHED_OTHER &&
	    sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 }) < 0)
		goto fail;
	if (report > 3)
		close_range(3, (unsigned)report - 1, 0);
	close_range((unsigned)report + 1, ~0U, 0);
	execve(spec->path, spec->argv, spec->envp);
fail:
	err = errno;
report:
	if (write(report, &err, sizeof err) < 0)
		_exit(126);
	_exit(127);
}

#ifdef HAVE_CLONE3_RUN
static struct {
	const struct spawn_spec *spec;
	pid_t parent;
	int report;
} born;

CHILD_CODE static int born_child(void *arg)
{
	(void)arg;
	child(born.spec, born.parent, born.report, true);
	return 127;
}

/* The child's stack while the caller waits (CLONE_VFORK). */
static char born_stack[64 * 1024] __attribute__((aligned(64)));
#ifdef ASAN_STACK
#define born_stack_clear() ASAN_UNPOISON_MEMORY_REGION(born_stack, sizeof born_stack)
#else
#define born_stack_clear() ((void)0)
#endif
#endif

/* vfork, or its clone3 twin that starts the child in spec->cgroup_fd. */
static pid_t start_child(const struct spawn_spec *spec, pid_t parent, int report[2])
{
#ifdef HAVE_CLONE3_RUN
	/* Once refused (a container's filter, a cgroup the kernel will not start
	 * a child in), children move in by cgroup.procs as before. */
	static bool refused;
	if (spec->cgroup_fd > 2 && !refused) {
		born.spec = spec;
		born.parent = parent;
		born.report = report[1];
		born_stack_clear();
		struct clone_args a = { .flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP,
			                .exit_signal = SIGCHLD,
			                .stack = (uint64_t)(uintptr_t)born_stack,
			                .stack_size = sizeof born_stack,
			                .cgroup = (uint64_t)spec->cgroup_fd };
		long pid = gw_clone3_run(&a, sizeof a, born_child, NULL);
		if (pid >= 0)
			return (pid_t)pid;
		if (pid == -EAGAIN || pid == -ENOMEM) {
			errno = (int)-pid;
			return -1;
		}
		refused = true;
	}
#endif
	pid_t pid = vfork();
	if (pid == 0) {
		close(report[0]);
		child(spec, parent, report[1], false);
	}
	return pid;
}

pid_t spawn_process(const struct spawn_spec *spec)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return -errno;
	pid_t parent = getpid();
	sigset_t all, old_mask;
	/* No handler of the daemon may run in the child, which shares its memory
	 * until exec: block everything across vfork; the child resets and unblocks. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old_mask);
	pid_t pid = start_child(spec, parent, report);
	int err = errno;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	close(report[1]);
	if (pid < 0) {
		close(report[0]);
		return -err;
	}
	int child_err = 0;
	ssize_t n;
	do
		n = read(report[0], &child_err, sizeof child_err);
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n == sizeof child_err) {
		waitpid(pid, NULL, 0);
		return -child_err;
	}
	return pid;
}
