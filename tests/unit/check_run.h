/*
 * The main() every unit suite shares: run one suite, exit non-zero if any
 * check failed.
 */

#ifndef CHECK_RUN_H
#define CHECK_RUN_H

#include <check.h>

static int
check_run(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}

#endif /* CHECK_RUN_H */
