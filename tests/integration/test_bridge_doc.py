"""docs/bridge.md's examples, docs/examples/bridge.sh and
bridge-owners.sh, run on two daemons bridged to a nats-server of the
test's own: each must print exactly the block docs/bridge.md shows after
it, and leave both mounts empty."""

import os
import re
import subprocess
import unittest

import natstest
from ipcfs_test import TOP

DOC = os.path.join(TOP, "docs", "bridge.md")
EXAMPLE = os.path.join(TOP, "docs", "examples", "bridge.sh")
OWNERS = os.path.join(TOP, "docs", "examples", "bridge-owners.sh")


def shown_output(example="bridge.sh"):
    """The block docs/bridge.md marks as example's output."""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"<!-- not-run: [^>]*test_bridge_doc\.py runs %s[^>]*-->"
                  r"\n```\n(.*?)```\n" % re.escape(example), text, re.S)
    if m is None:
        raise AssertionError("docs/bridge.md shows no output of " + example)
    return m.group(1)


class BridgeDocTest(unittest.TestCase):

    def test_example_prints_what_the_doc_shows(self):
        natstest.skip_unless_nats()
        with natstest.NatsServer("doc") as srv, \
                natstest.Host(srv.url) as a, natstest.Host(srv.url) as b:
            out = subprocess.run(["sh", EXAMPLE, a.path, b.path],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stderr, "")
            self.assertEqual(out.stdout, shown_output())
            self.assertEqual(os.listdir(a.path), [])
            self.assertEqual(os.listdir(b.path), [])

    @unittest.skipUnless(os.geteuid() == 0, "setpriv needs root")
    def test_owners_example_prints_what_the_doc_shows(self):
        natstest.skip_unless_nats()
        with natstest.NatsServer("doc") as srv, \
                natstest.Host(srv.url, "-o", "allow_other") as a, \
                natstest.Host(srv.url, "-o", "allow_other") as b:
            out = subprocess.run(["sh", OWNERS, a.path, b.path],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stderr, "")
            self.assertEqual(out.stdout, shown_output("bridge-owners.sh"))
            self.assertEqual(os.listdir(a.path), [])
            self.assertEqual(os.listdir(b.path), [])
            self.assertIsNone(a.trouble())
            self.assertIsNone(b.trouble())


if __name__ == "__main__":
    unittest.main()
