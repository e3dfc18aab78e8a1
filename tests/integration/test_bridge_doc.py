"""docs/bridge.md's example, docs/examples/bridge.sh, run on two daemons
bridged to a nats-server of the test's own: it must print exactly the
block docs/bridge.md shows after it, and leave both mounts empty."""

import os
import re
import subprocess
import unittest

import natstest
from ipcfs_test import TOP

DOC = os.path.join(TOP, "docs", "bridge.md")
EXAMPLE = os.path.join(TOP, "docs", "examples", "bridge.sh")


def shown_output():
    """The block docs/bridge.md marks as bridge.sh's output."""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"<!-- not-run: [^>]*test_bridge_doc\.py[^>]*-->\n"
                  r"```\n(.*?)```\n", text, re.S)
    if m is None:
        raise AssertionError("docs/bridge.md shows no output of bridge.sh")
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


if __name__ == "__main__":
    unittest.main()
