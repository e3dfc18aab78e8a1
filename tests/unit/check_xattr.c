/*
 * Unit tests for xattr.c: the user.* attributes a node keeps.  Values are
 * checked byte for byte, the limits at their edges, and the memory every
 * stored byte takes from the pool comes back.
 */

#include <sys/xattr.h>

#include <check.h>
#include <errno.h>
#include <string.h>

#include "ipcfs.h"
#include "check_run.h"

static const struct chan_cbs	 cbs;
static struct chan_pool		 pool;
static struct xattrs		 xs;

static void
setup(void)
{
	chan_pool_init(&pool, &cbs, CAPACITY_DEFAULT, MAX_MEMORY_DEFAULT);
	TAILQ_INIT(&xs);
}

static void
teardown(void)
{
	xattr_free_all(&xs, &pool.budget);
	ck_assert_uint_eq(pool.budget.xattr_used, 0);
}

static void
ck_value(const char *name, const char *want)
{
	const struct xattr	*x;

	x = xattr_get(&xs, name);
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(x->len, strlen(want));
	ck_assert_mem_eq(x->value, want, x->len);
}

START_TEST(test_set_get_replace)
{
	ck_assert_ptr_null(xattr_get(&xs, "user.dtype"));
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.dtype", "float32", 7, 0),
	    0);
	ck_value("user.dtype", "float32");
	ck_assert_uint_eq(pool.budget.xattr_used, strlen("user.dtype") + 1 + 7);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.dtype", "u8", 2, 0), 0);
	ck_value("user.dtype", "u8");
	ck_assert_uint_eq(pool.budget.xattr_used, strlen("user.dtype") + 1 + 2);
	/* An empty value is a value. */
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.empty", "", 0, 0), 0);
	ck_value("user.empty", "");
}
END_TEST

START_TEST(test_flags)
{
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.a", "1", 1,
	    XATTR_REPLACE), ENODATA);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.a", "1", 1,
	    XATTR_CREATE), 0);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.a", "2", 1,
	    XATTR_CREATE), EEXIST);
	ck_value("user.a", "1");
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.a", "3", 1,
	    XATTR_REPLACE), 0);
	ck_value("user.a", "3");
}
END_TEST

START_TEST(test_limits)
{
	static char	 big[XATTR_NODE_MAX + 1];

	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.v", big,
	    XATTR_VALUE_MAX + 1, 0), E2BIG);
	/* One node's names and values: XATTR_NODE_MAX in all. */
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.v", big,
	    XATTR_NODE_MAX - strlen("user.v") - 1, 0), 0);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.w", "x", 1, 0), ENOSPC);
	/* Replacing counts the new value, not both. */
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.v", big, 10, 0), 0);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.w", "x", 1, 0), 0);
	ck_assert_ptr_null(xattr_get(&xs, "user.nothing"));
}
END_TEST

START_TEST(test_max_memory)
{
	xattr_free_all(&xs, &pool.budget);
	chan_pool_init(&pool, &cbs, CAPACITY_DEFAULT, 100);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.a", "0123456789", 10, 0),
	    0);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.b", "0123456789" \
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789", 90, 0), ENOSPC);
	ck_assert_uint_eq(budget_left(&pool.budget), 100 - 17);
}
END_TEST

START_TEST(test_remove_list)
{
	char	 buf[64];

	ck_assert_int_eq(xattr_remove(&xs, &pool.budget, "user.a"), ENODATA);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.a", "1", 1, 0), 0);
	ck_assert_int_eq(xattr_set(&xs, &pool.budget, "user.bb", "2", 1, 0), 0);
	ck_assert_uint_eq(xattr_list(&xs, NULL), 7 + 8);
	ck_assert_uint_eq(xattr_list(&xs, buf), 7 + 8);
	ck_assert_mem_eq(buf, "user.a\0user.bb\0", 15);
	ck_assert_int_eq(xattr_remove(&xs, &pool.budget, "user.a"), 0);
	ck_assert_ptr_null(xattr_get(&xs, "user.a"));
	ck_assert_uint_eq(xattr_list(&xs, buf), 8);
	ck_assert_uint_eq(pool.budget.xattr_used, 8 + 1);
}
END_TEST

static Suite *
xattr_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("xattr");
	tc = tcase_create("xattr");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_set_get_replace);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_max_memory);
	tcase_add_test(tc, test_remove_list);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(xattr_suite()));
}
