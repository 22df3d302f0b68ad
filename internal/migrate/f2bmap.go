package migrate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// jailScenarios maps fail2ban's jail (or filter) names to the herd
// scenarios that catch the same attacks. A jail with no row has no
// equivalent.
var jailScenarios = map[string][]string{
	"sshd":        {"ssh-bruteforce", "ssh-slow-bruteforce", "ssh-user-enum", "ssh-scanner"},
	"ssh":         {"ssh-bruteforce", "ssh-slow-bruteforce", "ssh-user-enum", "ssh-scanner"},
	"dropbear":    {"ssh-bruteforce", "ssh-slow-bruteforce", "ssh-user-enum"},
	"sshd-ddos":   {"ssh-scanner", "ssh-banner-grab"},
	"selinux-ssh": {"ssh-bruteforce", "ssh-slow-bruteforce"},

	"dovecot":         {"mail-auth-bruteforce", "mail-passdb-bruteforce", "mail-pam-bruteforce", "mail-user-enum"},
	"sieve":           {"mail-auth-bruteforce"},
	"courier-auth":    {"mail-auth-bruteforce"},
	"cyrus-imap":      {"mail-auth-bruteforce"},
	"uwimap-auth":     {"mail-auth-bruteforce"},
	"postfix":         {"postfix-relay-abuse"},
	"postfix-rbl":     {"postfix-rbl"},
	"postfix-sasl":    {"mail-auth-bruteforce", "postfix-auth-sessions"},
	"postfix-ddos":    {"mail-scanner"},
	"exim":            {"mail-auth-bruteforce", "mail-scanner"},
	"exim-spam":       {"mail-scanner"},
	"sendmail-auth":   {"mail-auth-bruteforce"},
	"sendmail-reject": {"smtp-probing"},

	"vsftpd":    {"ftp-bruteforce", "ftp-pam-bruteforce"},
	"proftpd":   {"ftp-bruteforce"},
	"pure-ftpd": {"ftp-bruteforce"},
	"wuftpd":    {"ftp-bruteforce", "ftp-pam-bruteforce"},

	"mysqld-auth":    {"mysql-bruteforce"},
	"mongodb-auth":   {"mongodb-bruteforce"},
	"named-refused":  {"dns-refused"},
	"asterisk":       {"sip-bruteforce", "sip-user-enum"},
	"openvpn":        {"openvpn-scanner", "openvpn-hmac-failures", "openvpn-port-share-flood", "remote-access-bruteforce"},
	"webmin-auth":    {"system-service-abuse"},
	"monit":          {"remote-access-bruteforce"},
	"portsentry":     {"portscan"},
	"proxmox":        {"proxmox-bruteforce"},
	"roundcube-auth": {"webapp-bruteforce"},
	"drupal-auth":    {"webapp-bruteforce"},
	"grafana":        {"webapp-bruteforce"},
	"nextcloud":      {"webapp-bruteforce"},
	"gitea":          {"webapp-bruteforce"},

	"nginx-http-auth":    {"http-auth-bruteforce", "http-basic-auth-bruteforce"},
	"apache-auth":        {"http-auth-bruteforce", "http-basic-auth-bruteforce"},
	"nginx-limit-req":    {"http-rate-limited"},
	"nginx-botsearch":    {"http-probing", "http-sensitive-files", "http-backdoor-probing"},
	"apache-botsearch":   {"http-probing", "http-sensitive-files", "http-backdoor-probing"},
	"apache-noscript":    {"http-probing", "http-backdoor-probing"},
	"apache-overflows":   {"http-bad-request"},
	"nginx-bad-request":  {"http-bad-request", "http-bad-request-flood"},
	"apache-badbots":     {"http-bad-user-agent"},
	"apache-nohome":      {"http-probing"},
	"apache-shellshock":  {"http-shellshock"},
	"apache-modsecurity": {"http-waf-blocked"},
	"wordpress":          {"http-wordpress-scan", "http-login-bruteforce", "http-wordpress-user-enum"},
	"wordpress-hard":     {"http-wordpress-scan", "http-login-bruteforce", "http-wordpress-user-enum"},
	"wordpress-soft":     {"http-login-bruteforce"},
	"php-url-fopen":      {"http-path-traversal"},
}

// jailNotes explain jails that map to no scenario but to something else
// of herd's.
var jailNotes = map[string]string{
	"recidive":    "herd's profiles escalate instead: escalate: true doubles a returning source's ban up to max_duration",
	"pam-generic": "no generic PAM scenario: herd's per-service scenarios count PAM failures of sshd, FTP and mail (ssh-*, ftp-pam-bruteforce, mail-pam-bruteforce)",
}

// Mapping is a jail and what herd does for it.
type Mapping struct {
	Jail      Jail
	Scenarios []string // herd scenarios; none when the jail has no equivalent
	Note      string   // why there is none, or what stands in instead
}

// MapJails maps each jail to herd's scenarios by its name, then its filter
// (options such as sshd[mode=aggressive] stripped). known, when not nil,
// keeps only scenarios it holds (the loaded rules).
func MapJails(jails []Jail, known func(string) bool) []Mapping {
	out := make([]Mapping, 0, len(jails))
	for _, j := range jails {
		m := Mapping{Jail: j}
		filter, _, _ := strings.Cut(j.Filter, "[")
		for _, k := range []string{j.Name, strings.TrimSpace(filter)} {
			if sc, ok := jailScenarios[k]; ok {
				m.Scenarios = sc
				break
			}
			if n, ok := jailNotes[k]; ok {
				m.Note = n
				break
			}
		}
		if known != nil {
			m.Scenarios = slices.DeleteFunc(slices.Clone(m.Scenarios), func(s string) bool { return !known(s) })
		}
		if len(m.Scenarios) == 0 && m.Note == "" {
			m.Note = fmt.Sprintf("no equivalent: herd has no scenario for fail2ban's %q filter; write one (docs/rules.md) or keep fail2ban for it", j.Filter)
		}
		out = append(out, m)
	}
	return out
}

// RenderFail2banAllow writes the herd.yaml fragment of a fail2ban
// configuration: its ignoreip addresses and prefixes as herd's allowlist,
// and a comment for each entry that has no equivalent.
func RenderFail2banAllow(b *strings.Builder, files []string, allow []netip.Prefix, ignored []string) {
	fmt.Fprintf(b, "# herd.yaml fragment generated by herd import fail2ban from %s:\n", strings.Join(files, ", "))
	b.WriteString("# fail2ban's ignoreip (of [DEFAULT] and of every enabled jail) as herd's\n" +
		"# allowlist, which applies to every scenario.\n")
	if len(allow) == 0 {
		b.WriteString("# (no ignoreip address to carry over)\n")
	} else {
		b.WriteString("allow:\n")
		for _, p := range allow {
			fmt.Fprintf(b, "  - %s\n", p)
		}
	}
	for _, s := range ignored {
		fmt.Fprintf(b, "# ignoreip %q has no equivalent: herd's allowlist takes addresses and prefixes, not host names or commands\n", s)
	}
}

// RenderFail2banRules writes a herd rules file of profiles giving each
// jail's scenarios its bantime, every difference said in a comment.
// Profiles are tried in order and herd's default-ban (every scenario)
// comes first, so the first jail's profile takes its name and place, and a
// catch-all default-ban-rest keeps herd's default for the other scenarios.
func RenderFail2banRules(b *strings.Builder, files []string, ms []Mapping) {
	fmt.Fprintf(b, "# herd rules file generated by herd import fail2ban from %s:\n", strings.Join(files, ", "))
	b.WriteString("# one profile per jail; put it in herd's rules directory (rules_dir).\n")
	// A scenario in two jails' profiles would be decided by the first
	// alone: it stays with the first jail, and the later one says so.
	ms = slices.Clone(ms)
	owner := map[string]string{}
	for i := range ms {
		m := &ms[i]
		var kept, taken []string
		for _, s := range m.Scenarios {
			if o, ok := owner[s]; ok {
				taken = append(taken, s+" (jail "+o+")")
				continue
			}
			owner[s] = m.Jail.Name
			kept = append(kept, s)
		}
		if len(taken) > 0 {
			m.Scenarios = kept
			n := "already in an earlier jail's profile, which decides for them: " + strings.Join(taken, ", ")
			if m.Note != "" {
				n = m.Note + "; " + n
			}
			m.Note = n
		}
	}
	var withScen []Mapping
	for _, m := range ms {
		if len(m.Scenarios) > 0 {
			withScen = append(withScen, m)
		}
	}
	b.WriteString("#\n# Jails:\n")
	for _, m := range ms {
		j := m.Jail
		fmt.Fprintf(b, "#   [%s] maxretry %d, findtime %s, bantime %s", j.Name, j.MaxRetry, fmtDur(j.FindTime), fmtBan(j))
		if len(m.Scenarios) > 0 {
			fmt.Fprintf(b, " -> %s\n", strings.Join(m.Scenarios, ", "))
		} else {
			fmt.Fprintf(b, " -> %s\n", m.Note)
			continue
		}
		if m.Note != "" {
			fmt.Fprintf(b, "#       %s\n", m.Note)
		}
		if j.Permanent {
			fmt.Fprintf(b, "#       bantime %s (for ever) has no equivalent: herd's bans end; %s is used\n", "-1", fmtDur(PermanentBan))
		}
		for _, u := range j.Unsupported {
			fmt.Fprintf(b, "#       %s has no equivalent\n", u)
		}
	}
	b.WriteString("#\n# maxretry/findtime are not copied: each herd scenario has its own thresholds\n" +
		"# (herd rules show NAME), a fast one for bursts and a slow one for paced\n" +
		"# guessing, where a jail has one count over findtime. Override a scenario in\n" +
		"# the rules directory to change them.\n")
	if len(withScen) == 0 {
		b.WriteString("# No jail maps to a herd scenario: herd's default profile applies.\n")
		return
	}
	b.WriteString("profiles:\n")
	for i, m := range withScen {
		j := m.Jail
		name := "fail2ban-" + j.Name
		if i == 0 {
			name = "default-ban"
			fmt.Fprintf(b, "  # jail %s: named default-ban to take the place of herd's default profile, tried first\n", j.Name)
		}
		fmt.Fprintf(b, "  - name: %s\n    scenarios: [%s]\n    type: ban\n    duration: %s\n", name, strings.Join(m.Scenarios, ", "), fmtDur(j.BanTime))
		if j.Increment {
			b.WriteString("    escalate: true\n")
			if j.MaxTime > 0 {
				fmt.Fprintf(b, "    max_duration: %s\n", fmtDur(max(j.MaxTime, j.BanTime)))
			}
		}
	}
	b.WriteString("  # every other scenario: herd's default\n" +
		"  - name: default-ban-rest\n    type: ban\n    duration: 4h\n    escalate: true\n    max_duration: 168h\n")
}

func fmtBan(j Jail) string {
	if j.Permanent {
		return "-1 (for ever)"
	}
	s := fmtDur(j.BanTime)
	if j.Increment {
		s += " (increment"
		if j.MaxTime > 0 {
			s += ", maxtime " + fmtDur(j.MaxTime)
		}
		s += ")"
	}
	return s
}

// fmtDur writes d as a Go duration without zero units: 10m, 1h30m, 168h.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
