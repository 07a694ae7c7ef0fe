/* gatewayd/sd_notify.c: $NOTIFY_SOCKET values to addresses (a path, an
 * abstract name, and what is refused), and a message through a real socket. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/core/sd_notify.h"

static const struct {
	const char *value;
	int rc;
	size_t path_len; /* of sun_path used, NUL included for a path */
} cases[] = {
	{"/run/systemd/notify", 0, 20},
	{"@/org/freedesktop/systemd1/notify/123", 0, 37},
	{"@a", 0, 2},
	{"", -EINVAL, 0},
	{"@", -EINVAL, 0},
	{"/", -EINVAL, 0},
	{"run/notify", -EINVAL, 0},
	{"vsock:2:1234", -EINVAL, 0},
	/* 107 bytes and a NUL fill sun_path; an abstract name may take all 108. */
	{"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	 0, 108},
	{"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	 -ENAMETOOLONG, 0},
	{"@xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	 0, 108},
	{"@xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	 -ENAMETOOLONG, 0},
};

Test(sd_notify, addresses)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_un sa;
		socklen_t len = 0;
		int rc = sd_notify_address(cases[i].value, &sa, &len);
		cr_expect_eq(rc, cases[i].rc, "\"%s\": %d, not %d", cases[i].value, rc, cases[i].rc);
		if (rc != 0)
			continue;
		cr_expect_eq(sa.sun_family, AF_UNIX);
		cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + cases[i].path_len, "\"%s\"",
		             cases[i].value);
		if (cases[i].value[0] == '@')
			cr_expect(sa.sun_path[0] == '\0' &&
			          memcmp(sa.sun_path + 1, cases[i].value + 1, cases[i].path_len - 1) == 0);
		else
			cr_expect_str_eq(sa.sun_path, cases[i].value);
	}
}

/* A datagram socket at an abstract name, and $NOTIFY_SOCKET naming it. */
static int listen_abstract(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "gwtest-sd-notify-%d", (int)getpid());
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sa,
	               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0);
	char value[128];
	snprintf(value, sizeof value, "@%s", sa.sun_path + 1);
	setenv("NOTIFY_SOCKET", value, 1);
	return fd;
}

Test(sd_notify, one_message_is_one_datagram_and_the_variable_is_gone)
{
	char err[256] = "", buf[256];
	int fd = listen_abstract();
	cr_assert_eq(sd_notify_open(err, sizeof err), 0, "%s", err);
	cr_expect_null(getenv("NOTIFY_SOCKET"), "a child would see NOTIFY_SOCKET");
	cr_assert(sd_notify_enabled());
	cr_assert_eq(sd_notify_send("READY=1\nSTATUS=up"), 0);
	cr_assert_eq(sd_notify_send("WATCHDOG=1"), 0);
	ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	cr_assert_eq(n, 17);
	cr_expect(memcmp(buf, "READY=1\nSTATUS=up", 17) == 0);
	n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	cr_assert_eq(n, 10);
	cr_expect(memcmp(buf, "WATCHDOG=1", 10) == 0);
	sd_notify_close();
	cr_expect_not(sd_notify_enabled());
	cr_expect_eq(sd_notify_send("READY=1"), 0, "nothing to notify is no error");
	close(fd);
}

Test(sd_notify, no_socket_no_error_and_a_bad_one_is_named)
{
	char err[256] = "";
	unsetenv("NOTIFY_SOCKET");
	cr_assert_eq(sd_notify_open(err, sizeof err), 0);
	cr_expect_not(sd_notify_enabled());
	setenv("NOTIFY_SOCKET", "notify", 1);
	cr_assert_eq(sd_notify_open(err, sizeof err), -1);
	cr_expect_str_eq(err, "NOTIFY_SOCKET=\"notify\": not an absolute path or @abstract name");
	cr_expect_null(getenv("NOTIFY_SOCKET"));
}

Test(sd_notify, a_peer_gone_is_an_error_returned)
{
	char err[256] = "";
	int fd = listen_abstract();
	cr_assert_eq(sd_notify_open(err, sizeof err), 0, "%s", err);
	close(fd);
	cr_expect_eq(sd_notify_send("READY=1"), -ECONNREFUSED);
	sd_notify_close();
}
