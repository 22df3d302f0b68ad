package parse

import (
	"bytes"

	"github.com/herd-ips/herd/internal/envelope"
)

// identity says which processes may speak for a program in the journal. A
// journal entry's SYSLOG_IDENTIFIER is chosen by whoever writes it (`logger
// -t sshd ...` from any local account), so it only names the rules to try;
// whether the entry is believed depends on the fields journald sets itself
// from the kernel's view of the sender: the process name (_COMM, or the
// base name of _EXE), the system unit (_SYSTEMD_UNIT) and the user id
// (_UID).
type identity struct {
	idents [][]byte // SYSLOG_IDENTIFIER globs this entry covers
	// comms are the process names accepted; nil means the identifier's
	// own last path element ("postfix/smtpd" → "smtpd").
	comms [][]byte
	units [][]byte // _SYSTEMD_UNIT globs of the service
}

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// identities is the table of docs/sources.md ("journald"). An entry is
// believed when its process name is one of the program's and either it
// runs in one of the program's system units or it runs as root. A program
// not listed here is believed when its process name is the identifier's
// last path element and it runs as root or in a unit named after it.
var identities = []identity{
	{idents: bs("sshd", "sshd-session", "sshd-auth"), comms: bs("sshd", "sshd-session", "sshd-auth"),
		units: bs("ssh.service", "sshd.service", "ssh@*.service", "sshd@*.service")},
	{idents: bs("postfix/*", "postfix-*/*", "postfix/*/*", "postfix-*/*/*"),
		units: bs("postfix.service", "postfix@*.service")},
	{idents: bs("dovecot", "dovecot-auth", "auth", "auth-worker", "auth(*)", "auth-worker(*)", "imap-login", "pop3-login", "submission-login", "managesieve-login", "imap", "pop3"),
		comms: bs("dovecot", "log", "auth", "auth-worker", "imap-login", "pop3-login", "submission-logi", "managesieve-log", "imap", "pop3"),
		units: bs("dovecot.service")},
	{idents: bs("vsftpd", "vsftpd(pam_unix)"), comms: bs("vsftpd"), units: bs("vsftpd.service")},
	{idents: bs("proftpd"), comms: bs("proftpd"), units: bs("proftpd.service")},
	{idents: bs("pure-ftpd"), comms: bs("pure-ftpd"), units: bs("pure-ftpd.service", "pure-ftpd-*.service")},
	{idents: bs("mysqld", "mariadbd", "mysql", "mariadb", "mysqld_safe"), comms: bs("mysqld", "mariadbd", "mysqld_safe"),
		units: bs("mysql.service", "mysqld.service", "mariadb.service", "mariadb@*.service")},
	{idents: bs("nginx"), comms: bs("nginx"), units: bs("nginx.service")},
	{idents: bs("apache2", "httpd", "httpd-*", "apache2-*", "httpd/*", "apache2/*"), comms: bs("apache2", "httpd"),
		units: bs("apache2.service", "apache2@*.service", "httpd.service", "httpd@*.service")},
	{idents: bs("php-fpm", "php", "php-cgi"), comms: bs("php-fpm", "php-fpm*", "php", "php-cgi", "php*"),
		units: bs("php-fpm.service", "php*-fpm.service")},
}

// commLen is the kernel's bound on a process name (TASK_COMM_LEN - 1).
const commLen = 15

// trusted reports whether journal entry j may speak for program prog (its
// identifier, or its _COMM when it has none). It does not allocate.
func trusted(j *envelope.JournalFields, prog []byte) bool {
	comm := j.Comm
	exe := j.Exe
	if k := bytes.LastIndexByte(exe, '/'); k >= 0 {
		exe = exe[k+1:]
	}
	root := string(j.UID) == "0"
	for i := range identities {
		id := &identities[i]
		if !anyGlob(id.idents, prog) {
			continue
		}
		names := id.comms
		if names == nil {
			base := prog
			if k := bytes.LastIndexByte(base, '/'); k >= 0 {
				base = base[k+1:]
			}
			if !sameComm(base, comm, exe) {
				return false
			}
		} else if !anyGlob(names, comm) && !anyGlob(names, exe) {
			return false
		}
		return root || anyGlob(id.units, j.Unit)
	}
	// Not in the table: the process must bear the program's name, and run
	// as root or in the program's own unit.
	base := prog
	if k := bytes.LastIndexByte(base, '/'); k >= 0 {
		base = base[k+1:]
	}
	if !sameComm(base, comm, exe) {
		return false
	}
	if root {
		return true
	}
	u := j.Unit
	u, ok := bytes.CutSuffix(u, []byte(".service"))
	if !ok {
		return false
	}
	if k := bytes.IndexByte(u, '@'); k >= 0 {
		u = u[:k]
	}
	return len(u) > 0 && bytes.Equal(u, base)
}

// sameComm reports whether a process called comm (at most commLen bytes)
// with executable base name exe is program name.
func sameComm(name, comm, exe []byte) bool {
	if len(name) == 0 {
		return false
	}
	if bytes.Equal(exe, name) {
		return true
	}
	if len(name) > commLen {
		name = name[:commLen]
	}
	return bytes.Equal(comm, name)
}

func anyGlob(globs [][]byte, name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, g := range globs {
		if globMatch(g, name) {
			return true
		}
	}
	return false
}
