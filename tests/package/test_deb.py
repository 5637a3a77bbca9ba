"""The Debian package, installed as an administrator installs it: into this
machine's system Dovecot with apt, enabled by editing its conffile, the
system's Dovecot started on its own configuration (with an overlay that
keeps it on loopback and its runtime files in a temporary directory),
COI checked over IMAP and LMTP with a push to a loopback notifier, then an
upgrade that must keep the user's state and the conffile change, then
dpkg --purge, after which nothing of the package may be left and the
system's configuration must be as before.

Run by tests/package/run (which builds the package first), never by
./test: it installs into the system. It refuses to run where dovecot-coi
is installed already, and puts everything back when a step fails."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from coitest.deltachat import register_devicetoken, new_devicetoken
from coitest.deltachat_notifier import Notifier
from coitest.imap import COI_ENABLED, COI_MAILBOX_ROOT, COI_MESSAGE_FILTER, \
    Imap
from coitest.mail import compose, lmtp_send, message_count, wait_for_count
from coitest.server import free_ports

DEB = os.environ.get("COI_PACKAGE_DEB", "")
CONFFILE = "/etc/dovecot/conf.d/90-coi.conf"
SNIPPET = "/usr/share/dovecot-coi/90-coi.conf"
SPOOL = "/var/spool/dovecot-coi"
STATE = "/var/lib/dovecot-coi"
INCLUDE = "!include_try %s" % SNIPPET
WEBPUSH_VAPID = "/private/vendor/vendor.dovecot/webpush/vapid"
USER = "pkg@example.org"
UID = 61234

pytestmark = pytest.mark.skipif(
    not DEB, reason="tests/package/run builds the package and runs this")


def run(*args, check=True, **kw):
    res = subprocess.run(args, capture_output=True, text=True, timeout=600,
                         **kw)
    if check and res.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (
            " ".join(args), res.returncode, res.stdout, res.stderr))
    return res


def package_status():
    res = run("dpkg-query", "-W", "-f=${Status} ${Version}", "dovecot-coi",
              check=False)
    return res.stdout if res.returncode == 0 else ""


def apt_install(deb):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", deb,
        env=env)


def tree_digest(root):
    """{path: (mode, uid, gid, sha256 or link target)} of everything
    below root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            if os.path.islink(p):
                what = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = "dir"
            out[p] = (st.st_mode, st.st_uid, st.st_gid, what)
    return out


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def previous_version(deb, workdir):
    """The package as its previous version: the same files under the
    version 0.0.0~previous, so that installing the built one upgrades."""
    root = os.path.join(workdir, "previous-root")
    run("dpkg-deb", "-R", deb, root)
    control = os.path.join(root, "DEBIAN", "control")
    with open(control) as f:
        lines = f.read().splitlines()
    lines = ["Version: 0.0.0~previous" if line.startswith("Version:")
             else line for line in lines]
    with open(control, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(workdir, "dovecot-coi_0.0.0~previous_amd64.deb")
    run("dpkg-deb", "--root-owner-group", "-b", root, out)
    return out


class SystemDovecot:
    """The system's Dovecot (/usr/sbin/dovecot) on the system's
    configuration (/etc/dovecot/dovecot.conf, included), with an overlay
    that an administrator's test instance would have: loopback ports, its
    own base and state directories and log, a passwd-file user."""

    def __init__(self, workdir, notifier):
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.imap_port, self.lmtp_port = free_ports(2)
        self.conf = os.path.join(workdir, "dovecot.conf")
        self.log = os.path.join(workdir, "dovecot.log")
        self.home = os.path.join(workdir, "home", "pkg")
        os.makedirs(self.home)
        os.chown(self.home, UID, UID)
        passwd = os.path.join(workdir, "users")
        with open(passwd, "w") as f:
            f.write("%s:{PLAIN}pass:%d:%d::%s::userdb_mail=maildir:~/Maildir\n"
                    % (USER, UID, UID, self.home))
        with open(self.conf, "w") as f:
            f.write("""\
!include /etc/dovecot/dovecot.conf
instance_name = coi-package-test
base_dir = {w}/run
state_dir = {w}/state
log_path = {log}
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = {w}/users
}}
userdb {{
  driver = passwd-file
  args = {w}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
plugin {{
  coi_deltachat_notify_url = {notify}
  coi_push_allow = 127.0.0.1
}}
""".format(w=workdir, log=self.log, imap=self.imap_port,
           lmtp=self.lmtp_port, notify=notifier.notify_url))
        os.makedirs(os.path.join(workdir, "state"))

    def start(self):
        # the master daemonizes and keeps its standard streams: a pipe
        # would never reach end-of-file
        out = os.path.join(self.workdir, "dovecot.stderr")
        with open(out, "w") as f:
            res = subprocess.run(["/usr/sbin/dovecot", "-c", self.conf],
                                 stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=f, timeout=60)
        if res.returncode != 0:
            with open(out) as f:
                raise AssertionError("dovecot: exit %d\n%s" % (
                    res.returncode, f.read()))
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                Imap(self.host, self.imap_port).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("Dovecot did not start:\n" + self.log_text())

    def reload(self):
        run("/usr/bin/doveadm", "-c", self.conf, "reload")

    def stop(self):
        pidfile = os.path.join(self.workdir, "run", "master.pid")
        if not os.path.exists(pidfile):
            return
        with open(pidfile) as f:
            pid = int(f.read().strip())
        run("/usr/bin/doveadm", "-c", self.conf, "stop", check=False)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise AssertionError("Dovecot (pid %d) did not stop" % pid)

    def doveadm(self, *args):
        return run("/usr/bin/doveadm", "-c", self.conf, *args)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def imap(self):
        imap = Imap(self.host, self.imap_port)
        imap.login(USER)
        return imap

    def deliver(self, subject, chat):
        msg = compose("Alice <alice@example.net>", USER, subject=subject,
                      chat=chat)
        replies = lmtp_send(self, "alice@example.net", [USER], msg)
        assert replies[USER][0] == 250, replies

    def mail_listing(self):
        return sorted(os.path.relpath(os.path.join(d, f), self.home)
                      for d, _, names in os.walk(
                          os.path.join(self.home, "Maildir"))
                      for f in names
                      if not f.startswith("dovecot") and "/tmp" not in d)


SYSTEM_CERT = "/etc/dovecot/private/dovecot.pem"
SYSTEM_KEY = "/etc/dovecot/private/dovecot.key"


def make_system_cert():
    """The certificate Debian's dovecot-core links to ssl-cert's snakeoil
    one at installation, when the machine has one: without it the system's
    configuration (10-ssl.conf reads the file) cannot start Dovecot. On a
    machine without it (containers) a self-signed pair stands in for the
    test. Returns the files made, for removal."""
    if os.path.exists(SYSTEM_CERT) or os.path.islink(SYSTEM_CERT):
        return []
    made = []
    if not os.path.isdir(os.path.dirname(SYSTEM_CERT)):
        os.mkdir(os.path.dirname(SYSTEM_CERT), 0o700)
        made.append(os.path.dirname(SYSTEM_CERT))
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
        "/CN=localhost", "-keyout", SYSTEM_KEY, "-out", SYSTEM_CERT)
    return [SYSTEM_CERT, SYSTEM_KEY] + made


@pytest.fixture
def machine():
    """The state of the machine the test must leave as it found it, and
    the cleanup that restores it, whether the test passed or failed
    halfway; then the check that it did."""
    assert package_status() == "", \
        "dovecot-coi is installed here already: not touching it"
    for path in (CONFFILE, SNIPPET, SPOOL, STATE):
        assert not os.path.exists(path), path
    etc_before = tree_digest("/etc/dovecot")
    # not pytest's tmp_path: its parents are private to root, and
    # Dovecot's auth and mail processes read below this directory
    workdir = tempfile.mkdtemp(prefix="coi-package-test-", dir="/var/tmp")
    os.chmod(workdir, 0o755)
    state = {"dovecot": None}
    made = make_system_cert()
    try:
        yield workdir, state
    finally:
        if state["dovecot"] is not None:
            state["dovecot"].stop()
        if package_status():
            run("dpkg", "--purge", "dovecot-coi", check=False)
        for path in made + [CONFFILE]:
            if os.path.isdir(path):
                os.rmdir(path)
            elif os.path.exists(path):
                os.unlink(path)
        for path in (SPOOL, STATE, os.path.dirname(SNIPPET), workdir):
            shutil.rmtree(path, ignore_errors=True)
    assert tree_digest("/etc/dovecot") == etc_before


def enable_in_conffile():
    """What the conffile tells the administrator to do: uncomment the
    include and the push settings (the Dovecot 2.3 syntax)."""
    with open(CONFFILE) as f:
        text = f.read()
    assert "#" + INCLUDE + "\n" in text
    text = text.replace("#" + INCLUDE + "\n", INCLUDE + "\n")
    for line in ("plugin {", "  coi_webpush_vapid_key = %s/vapid.pem" % STATE,
                 "  coi_deltachat_push = yes", "}"):
        assert "\n#%s\n" % line in text, line
        text = text.replace("\n#%s\n" % line, "\n%s\n" % line, 1)
    with open(CONFFILE, "w") as f:
        f.write(text)
    return text


def test_install_enable_upgrade_purge(machine):
    workdir, state = machine
    previous = previous_version(DEB, workdir)

    # -- install (the previous version): files, directories, keys -------
    apt_install(previous)
    assert package_status() == "install ok installed 0.0.0~previous"
    files = [line for line in run("dpkg", "-L", "dovecot-coi")
             .stdout.splitlines() if line not in ("/.",)]
    for path in ("/usr/lib/dovecot/modules/lib20_coi_plugin.so",
                 "/usr/lib/dovecot/modules/sieve/lib90_sieve_coi_plugin.so",
                 "/usr/lib/dovecot/coi-push", "/usr/bin/coi-client",
                 "/usr/share/man/man1/coi-client.1.gz", SNIPPET, CONFFILE):
        assert path in files, path
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}",
                    "dovecot-coi").stdout
    assert CONFFILE in conffiles
    st = os.stat(SPOOL)
    assert (st.st_mode & 0o7777, st.st_uid) == (
        0o711, _uid("dovecot")), "spool owned by Dovecot's internal user"
    for path, mode in ((STATE, 0o750), (STATE + "/vapid.pem", 0o640),
                       (STATE + "/vapid.pem.secret", 0o640)):
        st = os.stat(path)
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (
            mode, 0, _gid("dovecot")), path
    assert run("/usr/bin/coi-client", "--version").stdout.startswith(
        "coi-client ")
    # installed but not enabled: the system's configuration is unchanged
    assert "coi" not in run("doveconf", "-h", "-c", "/etc/dovecot/dovecot.conf",
                            "mail_plugins").stdout

    # -- enable, start the system's Dovecot, check COI ------------------
    conffile_text = enable_in_conffile()
    key_digest = file_digest(STATE + "/vapid.pem")
    with Notifier() as notifier:
        dovecot = SystemDovecot(workdir, notifier)
        state["dovecot"] = dovecot
        dovecot.start()
        token = new_devicetoken()
        with dovecot.imap() as imap:
            caps = imap.capabilities()
            for cap in ("COI", "WEBPUSH", "XDELTAPUSH", "METADATA"):
                assert cap in caps, (cap, caps)
            assert imap.setmetadata("", COI_ENABLED, "yes").status == "OK"
            assert imap.setmetadata("", COI_MESSAGE_FILTER,
                                    "active").status == "OK"
            cfg = imap.getmetadata("", COI_MAILBOX_ROOT, WEBPUSH_VAPID)
            assert cfg[COI_MAILBOX_ROOT] == b"COI", cfg
            # the key the package made, readable by the mail processes
            assert cfg[WEBPUSH_VAPID] and len(cfg[WEBPUSH_VAPID]) > 40, cfg
            assert register_devicetoken(imap, token).status == "OK"
            dovecot.deliver("chat one", chat=True)
            dovecot.deliver("mail one", chat=False)
            assert wait_for_count(imap, "INBOX", 1) == 1
            chats = _chats_mailbox(imap)
            assert wait_for_count(imap, chats, 1) == 1
            assert message_count(imap, chats) == 1
        # each delivery wakes the device: through the packaged coi-push
        # service and its spool
        reqs = notifier.wait_for_requests(token, 2, timeout=20)
        assert all(r.ok and r.status == 200 for r in reqs), reqs
        _resync_changes_nothing(dovecot)

        # -- upgrade, Dovecot running: state and conffile change kept ----
        attributes = file_digest(os.path.join(dovecot.home,
                                              "dovecot-attributes"))
        apt_install(DEB)
        assert package_status().startswith("install ok installed 0.1")
        with open(CONFFILE) as f:
            assert f.read() == conffile_text, "the conffile change was lost"
        assert file_digest(STATE + "/vapid.pem") == key_digest
        assert file_digest(os.path.join(
            dovecot.home, "dovecot-attributes")) == attributes
        assert os.stat(SPOOL).st_uid == _uid("dovecot")
        dovecot.reload()
        with dovecot.imap() as imap:
            dovecot.deliver("chat two", chat=True)
            assert wait_for_count(imap, chats, 2) == 2
            assert message_count(imap, "INBOX") == 1
            cfg = imap.getmetadata("", COI_ENABLED, WEBPUSH_VAPID)
            assert cfg[COI_ENABLED] == b"yes"
        reqs = notifier.wait_for_requests(token, 3, timeout=20)
        assert all(r.ok for r in reqs), reqs
        _resync_changes_nothing(dovecot)
        errors = [line for line in dovecot.log_text().splitlines()
                  if "Error:" in line or "Fatal:" in line or
                  "Panic:" in line]
        assert not errors, "\n".join(errors)
        dovecot.stop()
        state["dovecot"] = None

    # -- purge: nothing of the package is left --------------------------
    run("dpkg", "--purge", "dovecot-coi")
    assert package_status() == ""
    left = [p for p in files if os.path.exists(p) and not os.path.isdir(p)]
    assert not left, left
    for path in (CONFFILE, SPOOL, STATE, os.path.dirname(SNIPPET),
                 "/usr/share/doc/dovecot-coi"):
        assert not os.path.exists(path), path
    # the system's configuration still parses (the fixture then checks
    # that /etc/dovecot is exactly as before)
    run("doveconf", "-n", "-c", "/etc/dovecot/dovecot.conf")


def _uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


def _gid(name):
    import grp
    return grp.getgrnam(name).gr_gid


def _chats_mailbox(imap):
    """<root>/Chats with the namespace's separator (maildir: '.')."""
    boxes = imap.list("COI*")
    chats = [b for b in boxes if b.endswith("Chats") and b != "COI"]
    assert len(chats) == 1, boxes
    return chats[0]


def _resync_changes_nothing(dovecot):
    before = dovecot.mail_listing()
    dovecot.doveadm("force-resync", "-u", USER, "*")
    assert dovecot.mail_listing() == before
