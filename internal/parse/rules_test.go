package parse

import "github.com/herd-ips/herd/internal/rules"

// The rule set the tests and benchmarks run: about fifteen sshd rules in the
// shape of the default rule files and twenty rules for other services, so
// that dispatch and prefilters do realistic work. Written for these tests.

var sshdProgs = []string{"sshd", "sshd-session", "sshd-auth"}

func sshd(name, kind, reason string, pre []string, pats ...string) rules.ParserSpec {
	return rules.ParserSpec{
		Pos: rules.Pos{File: "test-sshd.yaml", Line: 1}, Name: name, Programs: sshdProgs,
		Service: "ssh", Kind: kind, Reason: reason, Prefilter: pre, Patterns: pats,
	}
}

func other(name string, progs []string, service, kind string, pats ...string) rules.ParserSpec {
	return rules.ParserSpec{
		Pos: rules.Pos{File: "test-other.yaml", Line: 1}, Name: name, Programs: progs,
		Service: service, Kind: kind, Patterns: pats,
	}
}

func testRules() []rules.ParserSpec {
	rs := []rules.ParserSpec{
		sshd("sshd-failed-invalid-user", "auth_failure", "invalid_user", []string{"for invalid user "},
			"Failed %{_} for invalid user %{user} from %{source} port %{_} ssh2",
			"Failed %{_} for invalid user %{user} from %{source} port %{_} ssh2: %{_} %{_}",
			"Failed %{_} for invalid user %{user} from %{source} port %{_}"),
		sshd("sshd-failed-password", "auth_failure", "failed_password", []string{"Failed "},
			"Failed %{_} for %{user} from %{source} port %{_} ssh2",
			"Failed %{_} for %{user} from %{source} port %{_} ssh1",
			"Failed %{_} for %{user} from %{source} port %{_}"),
		sshd("sshd-invalid-user", "auth_failure", "invalid_user", []string{"Invalid user "},
			"Invalid user %{user} from %{source} port %{_}",
			"Invalid user %{user} from %{source}"),
		sshd("sshd-too-many", "auth_failure", "too_many_failures", []string{"maximum authentication attempts exceeded", "Too many authentication failures"},
			"error: maximum authentication attempts exceeded for invalid user %{user} from %{source} port %{_} ssh2 [preauth]",
			"error: maximum authentication attempts exceeded for %{user} from %{source} port %{_} ssh2 [preauth]",
			"Disconnecting invalid user %{user} %{source} port %{_}: Too many authentication failures [preauth]",
			"Disconnecting authenticating user %{user} %{source} port %{_}: Too many authentication failures [preauth]",
			"Disconnecting: Too many authentication failures for %{user} [preauth]"),
		sshd("sshd-not-allowed", "auth_failure", "not_allowed", []string{" not allowed because "},
			"User %{user} from %{source} not allowed because %{*}"),
		sshd("sshd-root-refused", "auth_failure", "root_refused", nil,
			"ROOT LOGIN REFUSED FROM %{source} port %{_} [preauth]",
			"ROOT LOGIN REFUSED FROM %{source} port %{_}",
			"ROOT LOGIN REFUSED FROM %{source}"),
		sshd("sshd-preauth-user-close", "auth_failure", "preauth_close", []string{" user "},
			"Connection closed by authenticating user %{user} %{source} port %{_} [preauth]",
			"Connection closed by invalid user %{user} %{source} port %{_} [preauth]",
			"Disconnected from invalid user %{user} %{source} port %{_} [preauth]"),
		sshd("sshd-pam-failure", "auth_failure", "pam_failure", nil,
			"error: PAM: %{*} for illegal user %{user} from %{source}",
			"error: PAM: %{*} for %{user} from %{source}",
			"pam_unix(sshd:auth): authentication failure; logname=%{*} rhost=%{source}  user=%{user}",
			"pam_unix(sshd:auth): authentication failure; logname=%{*} rhost=%{source}"),
		sshd("sshd-negotiation", "scan", "kex_error", nil,
			"Unable to negotiate with %{source} port %{_}: %{*}"),
		sshd("sshd-bad-protocol", "scan", "bad_protocol", nil,
			"Bad protocol version identification '%{*}' from %{source} port %{_}",
			"Bad protocol version identification '%{*}' from %{source}"),
		sshd("sshd-no-identification", "scan", "no_identification", nil,
			"Did not receive identification string from %{source} port %{_}",
			"Did not receive identification string from %{source}"),
		sshd("sshd-timeout", "scan", "timeout", nil,
			"fatal: Timeout before authentication for %{source} port %{_}"),
		sshd("sshd-preauth-disconnect", "scan", "preauth_disconnect", []string{"[preauth]"},
			"Connection closed by %{source} port %{_} [preauth]",
			"Received disconnect from %{source} port %{_}:%{*} [preauth]"),
		sshd("sshd-accepted", "auth_success", "", []string{"Accepted "},
			"Accepted %{_} for %{user} from %{source} port %{_} ssh2",
			"Accepted %{_} for %{user} from %{source} port %{_} ssh2: %{_} %{_}"),
		sshd("sshd-connection", "none", "", []string{"Connection from "},
			"Connection from %{source} port %{_} on %{_} port %{port}%{*}"),
	}
	rs[3].Session = "pid"
	rs[14].Session = "pid"
	rs[1].Session = "pid"
	rs[0].Session = "pid"

	rs = append(rs,
		other("postfix-sasl", []string{"postfix/*"}, "smtp", "auth_failure",
			"warning: %{_}[%{source}]: SASL %{_} authentication failed: %{*}"),
		other("postfix-reject", []string{"postfix/smtpd"}, "smtp", "abuse",
			"NOQUEUE: reject: RCPT from %{_}[%{source}]: %{*}"),
		other("postfix-lost", []string{"postfix/smtpd"}, "smtp", "scan",
			"lost connection after AUTH from %{_}[%{source}]"),
		other("dovecot-auth", []string{"dovecot"}, "imap", "auth_failure",
			"%{_}: Disconnected (auth failed, %{_} attempts in %{_} secs): user=<%{user}>, method=%{_}, rip=%{source}, lip=%{_}%{*}",
			"auth: pam(%{user},%{source},%{*}): pam_authenticate() failed: %{*}"),
		other("vsftpd", []string{"vsftpd"}, "ftp", "auth_failure",
			"pam_unix(vsftpd:auth): authentication failure; logname=%{*} rhost=%{source}  user=%{user}"),
		other("proftpd", []string{"proftpd"}, "ftp", "auth_failure",
			"%{_} (%{_}[%{source}]) - USER %{user}: no such user found from %{*}"),
		other("pure-ftpd", []string{"pure-ftpd"}, "ftp", "auth_failure",
			"(?@%{source}) [WARNING] Authentication failed for user [%{user}]"),
		other("named-refused", []string{"named"}, "dns", "abuse",
			"client %{_} %{source}#%{_} (%{_}): query (cache) '%{*}' denied"),
		other("exim-auth", []string{"exim"}, "smtp", "auth_failure",
			"%{_} authenticator failed for %{*} [%{source}]:%{_}: 535 Incorrect authentication data%{*}"),
		other("courier", []string{"courier*"}, "imap", "auth_failure",
			"LOGIN FAILED, user=%{user}, ip=[%{source}]"),
		other("sudo", []string{"sudo"}, "local", "none", "%{user} : %{*}"),
		other("cron", []string{"CRON"}, "local", "none", "(%{user}) CMD (%{*})"),
		other("mysqld-auth", []string{"mysqld"}, "mysql", "auth_failure",
			"%{_} [Warning] Access denied for user '%{user}'@'%{source}' (using password: %{_})"),
		other("asterisk", []string{"asterisk"}, "sip", "auth_failure",
			"NOTICE[%{_}]: %{_} in %{_}: Registration from '%{*}' failed for '%{source}:%{_}' - %{*}"),
		other("openvpn", []string{"openvpn"}, "vpn", "auth_failure",
			"%{source}:%{port} TLS Error: TLS handshake failed"),
		other("haproxy", []string{"haproxy"}, "http", "http_request",
			"%{source}:%{_} [%{time:clf}] %{_} %{_} %{_} %{status} %{bytes} %{*}"),
		other("nginx-error-auth", []string{"nginx"}, "http", "auth_failure",
			"%{time:nginx} [error] %{_} %{_} user \"%{user}\" was not found in \"%{*}\", client: %{source}, server: %{host}, request: \"%{request}\", host: \"%{*}\""),
	)
	raw := []rules.ParserSpec{
		{Pos: rules.Pos{File: "test-http.yaml", Line: 1}, Name: "nginx-error-raw", Raw: true, Service: "http", Kind: "auth_failure", Reason: "no_user",
			Patterns: []string{"%{time:nginx} [error] %{_} %{_} user \"%{user}\" was not found in \"%{*}\", client: %{source}, server: %{host}, request: \"%{request}\", host: \"%{*}\""}},
		{Pos: rules.Pos{File: "test-http.yaml", Line: 2}, Name: "mysql-raw", Raw: true, Service: "mysql", Kind: "auth_failure",
			Patterns: []string{"%{time:iso8601} %{_} [Warning] %{*}Access denied for user '%{user}'@'%{source}' (using password: %{_})"}},
		{Pos: rules.Pos{File: "test-http.yaml", Line: 3}, Name: "http-access", Raw: true, Service: "http", Kind: "http_request", Format: "clf"},
		{Pos: rules.Pos{File: "test-http.yaml", Line: 4}, Name: "http-json", Raw: true, Service: "http", Kind: "http_request", Format: "json-access"},
	}
	return append(rs, raw...)
}
