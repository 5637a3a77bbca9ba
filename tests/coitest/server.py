"""The private Dovecot + Postfix used by the integration tests: the same
scripts/coi-server that ./run uses, on free ports in a temporary state
directory."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_SCRIPT = os.path.join(TOP, "scripts", "coi-server")
DOMAIN = "example.org"
PASSWORD = "pass"
# COI_DOVECOT=2.3|2.4, as for ./run and ./test
DOVECOT_SERIES = os.environ.get("COI_DOVECOT", "2.3")
DOVECOT_24 = DOVECOT_SERIES == "2.4"
_dovecot_prefix = None


def dovecot_prefix():
    """Where the Dovecot under test is installed: the system's (2.3), or
    the private build of scripts/build-dovecot-2.4."""
    global _dovecot_prefix
    if _dovecot_prefix is None:
        if DOVECOT_24:
            _dovecot_prefix = subprocess.run(
                [os.path.join(TOP, "scripts", "build-dovecot-2.4")],
                check=True, capture_output=True, text=True).stdout.strip()
        else:
            _dovecot_prefix = "/usr"
    return _dovecot_prefix


def dovecot_tool(name):
    """The path of a Dovecot or Pigeonhole program: doveadm, doveconf,
    sievec (bin) or dovecot-lda, lmtp (Dovecot's libexec)."""
    if name in ("dovecot-lda", "lmtp"):
        if DOVECOT_24:
            return os.path.join(dovecot_prefix(), "libexec", "dovecot", name)
        return os.path.join("/usr/lib/dovecot", name)
    return os.path.join(dovecot_prefix(), "bin", name)


def settings_conf(settings):
    """Dovecot configuration text setting COI (plugin) settings, e.g.
    {"coi_push_timeout": "5 secs"}: a plugin {} section on 2.3, top-level
    settings on 2.4."""
    lines = "".join("  %s = %s\n" % kv for kv in settings.items())
    if DOVECOT_24:
        return lines
    return "plugin {\n%s}\n" % lines


def sieve_before_fields(path):
    """userdb fields (without the userdb_ prefix) that run the Sieve
    script at path before the user's own: sieve_before on 2.3, a
    sieve_script of type before on 2.4."""
    if DOVECOT_24:
        return {
            "sieve_script/coibefore/sieve_script_type": "before",
            "sieve_script/coibefore/sieve_script_driver": "file",
            "sieve_script/coibefore/sieve_script_path": path,
            "sieve_script": "personal,coibefore",
        }
    return {"sieve_before": path}


def service_conf(name, settings):
    """A service {} section: settings with 2.3 names, e.g. service_count,
    renamed to 2.4's where they differ."""
    if DOVECOT_24:
        renamed = {"service_count": "restart_request_count"}
        settings = {renamed.get(k, k): ("unlimited"
                                       if k == "vsz_limit" and v == "0"
                                       else v)
                    for k, v in settings.items()}
    return "service %s {\n%s}\n" % (name, "".join(
        "  %s = %s\n" % kv for kv in settings.items()))


def free_ports(count):
    """count ports free for both TCP and UDP (coturn takes both)."""
    ports, socks = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)  # held, so never handed out twice
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(u)
            try:
                u.bind(("127.0.0.1", s.getsockname()[1]))
            except OSError:
                continue
            ports.append(s.getsockname()[1])
        return ports
    finally:
        for s in socks:
            s.close()


class DevServer:
    def __init__(self, extra_conf=None):
        self.state_dir = tempfile.mkdtemp(prefix="coi-test-", dir="/var/tmp")
        os.chmod(self.state_dir, 0o755)
        (self.imap_port, self.smtp_port, self.lmtp_port,
         self.sieve_port, self.imaps_port, self.smtps_port,
         self.turn_port, self.pgsql_port) = free_ports(8)
        self.extra_conf = extra_conf
        self.host = "127.0.0.1"
        # COI_MAIL_FORMAT=maildir|sdbox|mdbox, as for ./run
        self.mail_format = os.environ.get("COI_MAIL_FORMAT", "sdbox")
        # COI_ATTRIBUTE_DICT=file|pgsql, as for ./run
        self.attribute_dict = os.environ.get("COI_ATTRIBUTE_DICT", "file")
        # every user made, in order: the resync check looks at the ones
        # a test made
        self.users = []

    @property
    def env(self):
        env = dict(os.environ)
        env.update({
            "COI_STATE_DIR": self.state_dir,
            "COI_IMAP_PORT": str(self.imap_port),
            "COI_SMTP_PORT": str(self.smtp_port),
            "COI_LMTP_PORT": str(self.lmtp_port),
            "COI_SIEVE_PORT": str(self.sieve_port),
            "COI_IMAPS_PORT": str(self.imaps_port),
            "COI_SMTPS_PORT": str(self.smtps_port),
            "COI_TURN_PORT": str(self.turn_port),
            "COI_PGSQL_PORT": str(self.pgsql_port),
        })
        if self.extra_conf:
            path = os.path.join(self.state_dir, "extra-input.conf")
            with open(path, "w") as f:
                f.write(self.extra_conf)
            env["COI_EXTRA_CONF"] = path
        return env

    @property
    def tls_cafile(self):
        """The self-signed certificate of the TLS ports."""
        return os.path.join(self.state_dir, "tls", "cert.pem")

    def script(self, *args, check=True):
        return subprocess.run([SERVER_SCRIPT, *args], env=self.env,
                              capture_output=True, text=True, check=check)

    def start(self):
        res = self.script("start", check=False)
        if res.returncode != 0:
            raise RuntimeError("coi-server start failed:\n%s%s\n%s" % (
                res.stdout, res.stderr, self.log_tail()))

    def stop(self):
        self.script("stop", check=False)

    def restart(self):
        """Stops and starts again on the same ports and state (as ./run
        stop and ./run would)."""
        self.stop()
        self.start()

    def cleanup(self):
        self.stop()
        # COI_KEEP_STATE=1 keeps logs and mail for a post-mortem
        if os.environ.get("COI_KEEP_STATE") != "1":
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- users ---------------------------------------------------------
    def new_user(self, prefix="u"):
        user = "%s%s@%s" % (prefix, uuid.uuid4().hex[:12], DOMAIN)
        self.users.append(user)
        return user

    def home(self, user):
        local, domain = user.split("@")
        return os.path.join(self.state_dir, "mail", domain, local)

    def forget_attributes(self, user):
        """Removes the user's mail attributes behind Dovecot's back: the
        dict file, or the user's rows in the PostgreSQL dict."""
        if self.attribute_dict == "pgsql":
            self.psql("DELETE FROM mail_attribute_private "
                      "WHERE username = '%s'" % user.replace("'", "''"))
        else:
            os.unlink(os.path.join(self.home(user), "dovecot-attributes"))

    def psql(self, sql):
        """Runs sql in the private PostgreSQL of COI_ATTRIBUTE_DICT=pgsql
        as the database's owner; returns the rows, unaligned."""
        with open(os.path.join(self.state_dir, "pgsql", "password")) as f:
            password = f.read().strip()
        bindir = sorted(
            (d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()),
            key=int)[-1]
        res = subprocess.run(
            [os.path.join("/usr/lib/postgresql", bindir, "bin", "psql"),
             "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.pgsql_port), "-U", "coi", "-d", "coi",
             "-c", sql],
            env=dict(os.environ, PGPASSWORD=password),
            capture_output=True, text=True, check=True)
        return res.stdout

    def mailbox_dir(self, user, box):
        """The directory of a mailbox ("INBOX", "COI/Chats") in the
        server's mail format: making it unreadable makes it fail."""
        if self.mail_format == "maildir":
            if box == "INBOX":
                return os.path.join(self.home(user), "Maildir")
            return os.path.join(self.home(user), "Maildir",
                                "." + box.replace("/", "."))
        return os.path.join(self.home(user), "mail", "mailboxes",
                            *box.split("/"))

    def mailbox_index_dir(self, user, box):
        """Where Dovecot keeps the mailbox's index files."""
        if self.mail_format == "maildir":
            return self.mailbox_dir(user, box)
        return os.path.join(self.mailbox_dir(user, box), "dbox-Mails")

    def mail_snapshot(self, user):
        """Every message of every mailbox of the user: (mailbox, uid,
        guid, flags), sorted."""
        res = self.doveadm("-f", "tab", "fetch", "-u", user,
                           "mailbox uid guid flags", "ALL")
        rows = [tuple(line.split("\t"))
                for line in res.stdout.splitlines()[1:] if line]
        return sorted(rows)

    def resync_changes(self, user):
        """What an index rebuild (doveadm force-resync of every mailbox)
        changes in the user's mail: (before, after), equal when nothing
        changed. Moves and expunges that reached only the index, not the
        mail files, come back here."""
        before = self.mail_snapshot(user)
        self.doveadm("force-resync", "-u", user, "*")
        return before, self.mail_snapshot(user)

    def _add_userdb_line(self, filename, *lines):
        path = os.path.join(self.state_dir, "dovecot", filename)
        with open(path) as f:
            content = f.read()
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(content + "".join(line + "\n" for line in lines))
        os.rename(tmp, path)
        # passwd-file notices changes by mtime with one-second resolution
        time.sleep(1.05)

    def new_vanilla_user(self):
        """A user for whom no COI plugin is loaded (plain Dovecot)."""
        user = self.new_user("vanilla")
        self._add_userdb_line("users-without-coi", user + "::::::")
        return user

    def new_custom_user(self, fields):
        """A user with extra userdb fields, e.g. {"coi_mailbox_root": "X"}."""
        return self.new_custom_users([fields])[0]

    def new_custom_users(self, fields_list, prefix="custom"):
        """Several users with extra userdb fields, added in one go."""
        users = [self.new_user(prefix) for _ in fields_list]
        self._add_userdb_line("users-custom", *[
            user + ":::::::" + " ".join(
                "userdb_%s=%s" % kv for kv in fields.items())
            for user, fields in zip(users, fields_list)])
        return users

    # -- quota ---------------------------------------------------------
    QUOTA_PROTOCOLS = ("imap", "lmtp", "lda", "doveadm")

    def mail_plugins(self, protocol=None):
        """The configured mail_plugins (for a protocol) as a list."""
        args = ["-h", "mail_plugins"]
        if protocol is not None:
            args = ["-f", "protocol=" + protocol] + args
        res = subprocess.run([dovecot_tool("doveconf"), "-c",
                              self.conf_path] + args,
                             capture_output=True, text=True, check=True)
        return res.stdout.split()

    def quota_user_fields(self, storage, coi=True, fields=None):
        """userdb fields for a user with the quota plugin and a storage
        limit: the plugins everybody gets (with COI, or those of the users
        without it) plus quota, chosen per protocol."""
        if DOVECOT_24:
            return self.quota_user_fields_24(storage, coi, fields)

        def plugins(protocol):
            if coi:
                names = self.mail_plugins(protocol)
            else:
                names = ["sieve"] if protocol in ("lmtp", "lda") else []
            return ",".join(names + ["quota"])

        expr = plugins(None)
        for protocol in self.QUOTA_PROTOCOLS:
            expr = "%%{if;%%s;eq;%s;%s;%s}" % (protocol, plugins(protocol),
                                               expr)
        out = {"mail_plugins": expr, "quota_rule": "*:storage=" + storage}
        out.update(fields or {})
        return out

    @staticmethod
    def quota_user_fields_24(storage, coi, fields):
        """Dovecot 2.4: quota added to the configured plugins, or, for a
        user without COI, the plugins of the users without COI and quota
        (no spaces: passwd-file splits its fields at them)."""
        if coi:
            out = {"mail_plugins/quota": "yes"}
        else:
            out = {"mail_plugins": "%{protocol|if('~','^(lmtp|lda)$',"
                                   "'sieve,quota','quota')}"}
        out["quota_storage_size"] = storage
        out.update(fields or {})
        return out

    def new_quota_user(self, storage, coi=True, fields=None):
        """A user with a quota: the quota plugin loaded and a storage limit
        (e.g. "20K"); coi=False for one without any COI plugin."""
        return self.new_custom_users(
            [self.quota_user_fields(storage, coi, fields)], "quota")[0]

    # -- tools ---------------------------------------------------------
    @property
    def conf_path(self):
        return os.path.join(self.state_dir, "dovecot", "dovecot.conf")

    def doveadm(self, *args, check=True):
        return subprocess.run([dovecot_tool("doveadm"), "-c",
                               self.conf_path, *args],
                              capture_output=True, text=True, check=check)

    def log_path(self, name="dovecot.log"):
        return os.path.join(self.state_dir, "log", name)

    def log_tail(self, name="dovecot.log", lines=40):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def log_size(self, name="dovecot.log"):
        try:
            return os.path.getsize(self.log_path(name))
        except OSError:
            return 0

    def log_since(self, offset, name="dovecot.log"):
        with open(self.log_path(name), errors="replace") as f:
            f.seek(offset)
            return f.read()

    def wait_for_log(self, offset, text, timeout=10, name="dovecot.log"):
        """True once text appears in the log after offset. Dovecot's log
        process writes lines some time after the reply that caused them."""
        deadline = time.time() + timeout
        while True:
            if text in self.log_since(offset, name):
                return True
            if time.time() >= deadline:
                return False
            time.sleep(0.05)
