#include "spawner/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef FILTER_ARCH

#define DENY(nr)                                         \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

/* clang-format off */
static struct sock_filter deny_filter[] = {
	/* Another architecture's numbers mean other calls: kill, never guess. */
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
	/* The x32 ABI's calls carry this bit: none are ours. */
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
#endif
	DENY(__NR_ptrace), DENY(__NR_process_vm_readv), DENY(__NR_process_vm_writev),
	DENY(__NR_mount), DENY(__NR_umount2), DENY(__NR_pivot_root), DENY(__NR_chroot),
	DENY(__NR_unshare), DENY(__NR_setns), DENY(__NR_init_module), DENY(__NR_finit_module),
	DENY(__NR_delete_module), DENY(__NR_kexec_load), DENY(__NR_kexec_file_load),
	DENY(__NR_reboot), DENY(__NR_swapon), DENY(__NR_swapoff), DENY(__NR_bpf),
	DENY(__NR_perf_event_open), DENY(__NR_keyctl), DENY(__NR_add_key), DENY(__NR_request_key),
	DENY(__NR_userfaultfd), DENY(__NR_open_by_handle_at), DENY(__NR_name_to_handle_at),
	DENY(__NR_acct), DENY(__NR_quotactl), DENY(__NR_syslog), DENY(__NR_settimeofday),
	DENY(__NR_clock_settime), DENY(__NR_adjtimex), DENY(__NR_clock_adjtime),
	DENY(__NR_fsopen), DENY(__NR_fsmount), DENY(__NR_move_mount), DENY(__NR_open_tree),
#ifdef __NR_iopl
	DENY(__NR_iopl), DENY(__NR_ioperm),
#endif
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
/* clang-format on */

bool seccomp_deny_available(void)
{
	return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
}

int seccomp_deny_enter(void)
{
	struct sock_fprog prog = { .len = sizeof deny_filter / sizeof deny_filter[0],
		                   .filter = deny_filter };
	/* Without no_new_privs only a privileged process may install a filter;
	 * the spawner's child still is one here (before its setuid). */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return errno == EINVAL ? -ENOSYS : -errno;
	return 0;
}

#else

bool seccomp_deny_available(void)
{
	return false;
}

int seccomp_deny_enter(void)
{
	return -ENOSYS;
}

#endif
