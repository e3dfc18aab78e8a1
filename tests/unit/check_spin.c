/*
 * Unit tests for spin.c: the polling window before the daemon sleeps
 * grows while requests come soon after it fell asleep, shrinks to none
 * while they come late, and never leaves 0 to the maximum.
 */

#include <check.h>
#include <stdint.h>

#include "ipcfs.h"
#include "check_run.h"

#define US	1000ULL

static struct spin	 s;

START_TEST(test_init)
{
	spin_init(&s, 50 * US);
	ck_assert_uint_eq(s.max, 50 * US);
	ck_assert_uint_eq(s.window, 50 * US);
	ck_assert_uint_eq(s.ready, 0);
	ck_assert_uint_eq(s.caught, 0);
	ck_assert_uint_eq(s.slept, 0);
}
END_TEST

/*
 * A request found by polling, or there before any wait, is counted as such
 * and changes nothing else.
 */
START_TEST(test_caught)
{
	spin_init(&s, 50 * US);
	s.window = 8 * US;
	spin_caught(&s);
	spin_caught(&s);
	spin_ready(&s);
	ck_assert_uint_eq(s.caught, 2);
	ck_assert_uint_eq(s.ready, 1);
	ck_assert_uint_eq(s.slept, 0);
	ck_assert_uint_eq(s.window, 8 * US);
}
END_TEST

/* Slept, woken within the maximum: the window doubles up to it. */
START_TEST(test_grow)
{
	spin_init(&s, 50 * US);
	s.window = 0;
	spin_woke(&s, 30 * US);
	ck_assert_uint_eq(s.window, SPIN_START_NS);
	spin_woke(&s, 50 * US);
	ck_assert_uint_eq(s.window, 2 * SPIN_START_NS);
	while (s.window < 50 * US)
		spin_woke(&s, 10 * US);
	ck_assert_uint_eq(s.window, 50 * US);
	spin_woke(&s, 1 * US);
	ck_assert_uint_eq(s.window, 50 * US);
	ck_assert_uint_eq(s.caught, 0);
	ck_assert_uint_gt(s.slept, 6);
}
END_TEST

/*
 * Slept, woken after more than the maximum: polling was for nothing, and
 * a quiet mount stops polling within a few requests.
 */
START_TEST(test_shrink)
{
	int	 i;

	spin_init(&s, 50 * US);
	spin_woke(&s, 50 * US + 1);
	ck_assert_uint_eq(s.window, 25 * US);
	for (i = 0; i < 6 && s.window > 0; i++)
		spin_woke(&s, 1000 * US);
	ck_assert_uint_eq(s.window, 0);
	spin_woke(&s, 1000 * US);
	ck_assert_uint_eq(s.window, 0);
	ck_assert_uint_eq(s.slept, (uint64_t)i + 2);
}
END_TEST

/* spin=0: never polls, whatever the waits. */
START_TEST(test_off)
{
	spin_init(&s, 0);
	ck_assert_uint_eq(s.window, 0);
	spin_woke(&s, 0);
	spin_woke(&s, 1 * US);
	ck_assert_uint_eq(s.window, 0);
	ck_assert_uint_eq(s.slept, 2);
}
END_TEST

/* A maximum below the first step is still never exceeded. */
START_TEST(test_tiny_max)
{
	spin_init(&s, SPIN_START_NS / 2);
	s.window = 0;
	spin_woke(&s, 1);
	ck_assert_uint_eq(s.window, SPIN_START_NS / 2);
	spin_woke(&s, SPIN_START_NS);
	ck_assert_uint_eq(s.window, 0);
}
END_TEST

static Suite *
spin_suite(void)
{
	Suite	*su;
	TCase	*tc;

	su = suite_create("spin");
	tc = tcase_create("window");
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_caught);
	tcase_add_test(tc, test_grow);
	tcase_add_test(tc, test_shrink);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_tiny_max);
	suite_add_tcase(su, tc);
	return (su);
}

int
main(void)
{
	return (check_run(spin_suite()));
}
