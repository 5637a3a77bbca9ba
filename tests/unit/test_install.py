"""make install and make uninstall with DESTDIR are symmetric: what the
build installs (the plugin modules, the coi-push service, the
configuration snippet) is all gone again after uninstall. Runs in the
tree ./test built (scripts/build), into a temporary DESTDIR."""

import os
import subprocess

import pytest

from test_configure import CONFIGURE

SRC = os.path.dirname(CONFIGURE)


def make(*args):
    # make runs shell scripts: not under ./test --sanitize's libasan
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    return subprocess.run(["make", "-s", *args], cwd=SRC, env=env,
                          capture_output=True, text=True, timeout=600)


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, names in os.walk(root) for f in names)


@pytest.mark.skipif(not os.path.exists(os.path.join(SRC, "Makefile")),
                    reason="the tree is configured by ./test's build")
def test_install_and_uninstall_are_symmetric(tmp_path):
    destdir = str(tmp_path / "root")
    res = make("install", "DESTDIR=" + destdir)
    assert res.returncode == 0, res.stderr
    installed = files_under(destdir)
    names = {os.path.basename(f) for f in installed}
    for module in ("lib20_coi_plugin.so", "lib30_imap_coi_plugin.so",
                   "lib95_coi_deliver_plugin.so",
                   "lib90_sieve_coi_plugin.so", "coi-push", "90-coi.conf",
                   "coi-client", "coiclient.py", "coicheck.py",
                   "coi-client.1"):
        assert module in names, installed
    assert not [f for f in installed if f.endswith(".la")], installed
    # the installed command finds its modules where make install put them
    # (here below DESTDIR, as a package's files are before installation)
    command = [f for f in installed if f.endswith("bin/coi-client")][0]
    modules = os.path.dirname([f for f in installed
                               if f.endswith("/coiclient.py")][0])
    with open(os.path.join(destdir, command)) as f:
        assert '"/%s"' % modules in f.read().replace(destdir, "")
    res = subprocess.run([os.path.join(destdir, command), "--version"],
                         env=dict(os.environ, PYTHONPATH=os.path.join(
                             destdir, modules)),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("coi-client "), \
        res.stderr
    res = make("uninstall", "DESTDIR=" + destdir)
    assert res.returncode == 0, res.stderr
    assert files_under(destdir) == []
