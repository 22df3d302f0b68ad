package main

import (
	"io"
	"math/rand/v2"
)

// The auth generator simulates a small pool of concurrent sshd connections. Each connection is
// planned up front as a short program of line ops (authOp); every output line advances one randomly
// chosen connection by one op, so connections interleave as they do in a real auth.log.

// authOp is one kind of auth.log line.
type authOp uint8

const (
	// sshd, attacker side
	opInvalidUser      authOp = iota // Invalid user X from A port P
	opPamCheckPass                   // pam_unix(sshd:auth): check pass; user unknown
	opPamAuthFail                    // pam_unix(sshd:auth): authentication failure; ... rhost=A [ user=X]
	opFailedPw                       // Failed password for [invalid user ]X from A port P ssh2
	opRecvBye                        // Received disconnect from A port P:11: Bye Bye [preauth]
	opDisconnected                   // Disconnected from {authenticating|invalid} user X A port P [preauth]
	opClosedUser                     // Connection closed by {authenticating|invalid} user X A port P [preauth]
	opResetUser                      // Connection reset by {authenticating|invalid} user X A port P [preauth]
	opMaxAttempts                    // error: maximum authentication attempts exceeded for ...
	opTooMany                        // Disconnecting ... user X A port P: Too many authentication failures [preauth]
	opPamMore                        // PAM n more authentication failures; ...
	opKexClosed                      // error: kex_exchange_identification: Connection closed by remote host
	opKexReset                       // error: kex_exchange_identification: read: Connection reset by peer
	opKexHTTP                        // error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"
	opKexBanner                      // error: kex_exchange_identification: banner line contains invalid characters
	opBannerInvalid                  // banner exchange: Connection from A port P: invalid format
	opClosedAddr                     // Connection closed by A port P
	opClosedAddrPre                  // Connection closed by A port P [preauth]
	opResetAddr                      // Connection reset by A port P
	opResetAddrPre                   // Connection reset by A port P [preauth]
	opNoKex                          // Unable to negotiate with A port P: no matching key exchange method found...
	opNoHostKey                      // Unable to negotiate with A port P: no matching host key type found...
	opRecvEmpty                      // Received disconnect from A port P:11:  [preauth]
	opDisconnectedAddr               // Disconnected from A port P [preauth]
	// sshd, legitimate side
	opAcceptedKey  // Accepted publickey for U from A port P ssh2: ED25519 SHA256:...
	opAcceptedPw   // Accepted password for U from A port P ssh2
	opSessOpen     // pam_unix(sshd:session): session opened for user U(uid=N) by (uid=0)
	opRecvUser     // Received disconnect from A port P:11: disconnected by user
	opDiscUser     // Disconnected from user U A port P
	opSessClose    // pam_unix(sshd:session): session closed for user U
	opLogindNew    // systemd-logind[N]: New session S of user U.
	opLogindOut    // systemd-logind[N]: Session S logged out. Waiting for processes to exit.
	opLogindRemove // systemd-logind[N]: Removed session S.
	opSudoCmd      // sudo[N]:    U : TTY=pts/0 ; PWD=/home/U ; USER=root ; COMMAND=...
	opSudoOpen     // sudo[N]: pam_unix(sudo:session): session opened for user root(uid=0) by U(uid=N)
	opSudoClose    // sudo[N]: pam_unix(sudo:session): session closed for user root
	// cron
	opCronOpen  // CRON[N]: pam_unix(cron:session): session opened for user U(uid=N) by (uid=0)
	opCronClose // CRON[N]: pam_unix(cron:session): session closed for user U
)

const maxOps = 24

// authSession is one planned connection (or cron job) and how far it has got.
type authSession struct {
	ops     [maxOps]authOp
	n, i    uint8
	invalid bool // the user does not exist: "invalid user X"
	slow    bool // a human session: advances at a fraction of the pace of bots
	cron    bool // removed from the pool when done instead of replaced
	pid     int
	subPID  int // sudo's pid
	port    int
	sess    int // systemd-logind session number
	more    int // failures counted by the "PAM n more" line
	uid     int
	addr    []byte
	user    string
	cmd     string
	keyFP   string
}

func (s *authSession) add(ops ...authOp) {
	for _, op := range ops {
		if int(s.n) < maxOps {
			s.ops[s.n] = op
			s.n++
		}
	}
}

// legitUser is an account that logs in for real.
type legitUser struct {
	name  string
	uid   int
	addrs [][]byte
	keyFP string
	cmds  []string // commands run under sudo; none for a service account
}

type authGen struct {
	cfg       config
	r         *rand.Rand
	clk       clock
	attackers addrPool
	users     []legitUser
	live      []authSession
	pid       int
	logindPID int
	session   int
	minute    int64
	buf       []byte

	kind, rootEnd, invalidEnd, probe picker
}

// liveSessions is the number of concurrent connections interleaved in the output.
const liveSessions = 8

func newAuthGen(cfg config) *authGen {
	r := rand.New(rand.NewPCG(cfg.seed, 0x6175746820676e65))
	g := &authGen{
		cfg:       cfg,
		r:         r,
		clk:       newClock(cfg, "Jan _2 15:04:05"),
		attackers: newAttackerPool(r, cfg.attackers, 5),
		pid:       20000 + r.IntN(100000),
		logindPID: 400 + r.IntN(400),
		session:   1 + r.IntN(2000),
		minute:    -1,
		buf:       make([]byte, 0, flushEvery+4096),
		// attack kinds: guessing an existing account, guessing invalid users, banner/kex probes
		kind: newPicker(30, 45, 25),
		// endings of a root guess: bye, closed, max attempts, key-only server (no password prompt)
		rootEnd: newPicker(45, 25, 10, 20),
		// endings of an invalid-user guess: bye, closed, no password tried, max attempts, reset
		invalidEnd: newPicker(50, 20, 20, 5, 5),
		probe:      newPicker(25, 15, 8, 4, 12, 6, 15, 10, 5),
	}
	fp := func() string { return string(appendB64(nil, r, 43)) }
	office := []byte(randPublicV4(r).String())
	home := []byte(randPublicV6(r).String())
	ci := []byte(randPublicV4(r).String())
	g.users = []legitUser{
		{name: "admin", uid: 1000, addrs: [][]byte{office, home, []byte("10.8.0.2")}, keyFP: fp(),
			cmds: []string{"/usr/bin/systemctl restart nginx", "/usr/bin/journalctl -u nginx --since today",
				"/usr/bin/apt-get update", "/usr/bin/tail -n 200 /var/log/auth.log", "/usr/sbin/nft list ruleset"}},
		{name: "alice", uid: 1001, addrs: [][]byte{office, []byte("10.8.0.6")}, keyFP: fp(),
			cmds: []string{"/usr/bin/systemctl status postgresql", "/usr/bin/du -sh /var/lib/postgresql"}},
		{name: "deploy", uid: 1002, addrs: [][]byte{ci}, keyFP: fp()},
	}
	for range liveSessions {
		g.live = append(g.live, g.plan())
	}
	return g
}

func (g *authGen) nextPID() int {
	g.pid += 1 + g.r.IntN(12)
	if g.pid >= 4194304 {
		g.pid = 1000 + g.pid%4194304
	}
	return g.pid
}

// plan starts a new connection: mostly attacks, now and then a legitimate login.
func (g *authGen) plan() authSession {
	r := g.r
	if r.IntN(300) == 0 {
		return g.planLegit()
	}
	s := authSession{pid: g.nextPID(), port: ephemeralPort(r)}
	ai := g.attackers.hot(r)
	s.addr = g.attackers.text[ai]
	heavy := ai < g.attackers.heavy
	tries := 1 + r.IntN(3)
	if heavy {
		tries = 3 + r.IntN(4)
	}
	switch g.kind.pick(r) {
	case 0: // an existing account
		switch n := r.IntN(100); {
		case n < 88:
			s.user = "root"
		case n < 95:
			s.user = "admin"
		default:
			s.user = "deploy"
		}
		end := g.rootEnd.pick(r)
		if end == 3 {
			s.add(opClosedUser)
			break
		}
		if end == 2 {
			tries = 6
		}
		s.add(opPamAuthFail)
		for range tries {
			s.add(opFailedPw)
		}
		g.finishGuess(&s, end, tries)
	case 1: // an account that does not exist
		s.invalid = true
		s.user = attackUsers[r.IntN(len(attackUsers))]
		s.add(opInvalidUser)
		end := g.invalidEnd.pick(r)
		switch end {
		case 2:
			s.add(opClosedUser)
			return s
		case 3:
			tries = 6
		case 4:
			tries = 1
		}
		s.add(opPamCheckPass, opPamAuthFail)
		for range tries {
			s.add(opFailedPw)
		}
		switch end {
		case 0:
			g.finishGuess(&s, 0, tries)
		case 1:
			g.finishGuess(&s, 1, tries)
		case 3:
			g.finishGuess(&s, 2, tries)
		case 4:
			s.add(opResetUser)
		}
	default: // scanners that never get to authentication
		switch g.probe.pick(r) {
		case 0:
			s.add(opKexClosed, opClosedAddr)
		case 1:
			s.add(opKexReset, opResetAddr)
		case 2:
			s.add(opKexHTTP, opBannerInvalid)
		case 3:
			s.add(opKexBanner, opBannerInvalid)
		case 4:
			s.add(opNoKex)
		case 5:
			s.add(opNoHostKey)
		case 6:
			s.add(opClosedAddrPre)
		case 7:
			s.add(opRecvEmpty, opDisconnectedAddr)
		default:
			s.add(opResetAddrPre)
		}
	}
	return s
}

// finishGuess appends the end of a password-guessing connection: 0 client said bye, 1 client
// closed, 2 MaxAuthTries reached.
func (g *authGen) finishGuess(s *authSession, end, tries int) {
	switch end {
	case 0:
		s.add(opRecvBye, opDisconnected)
	case 1:
		s.add(opClosedUser)
	case 2:
		s.add(opMaxAttempts, opTooMany)
	}
	if tries > 1 {
		s.more = tries - 1
		s.add(opPamMore)
	}
}

func (g *authGen) planLegit() authSession {
	r := g.r
	u := &g.users[r.IntN(len(g.users))]
	g.session++
	s := authSession{pid: g.nextPID(), port: ephemeralPort(r), slow: true, user: u.name, uid: u.uid,
		addr: u.addrs[r.IntN(len(u.addrs))], keyFP: u.keyFP, sess: g.session}
	if u.cmds != nil && r.IntN(12) == 0 {
		// a mistyped password before the right one
		s.add(opPamAuthFail, opFailedPw, opAcceptedPw)
	} else {
		s.add(opAcceptedKey)
	}
	s.add(opSessOpen, opLogindNew)
	if u.cmds != nil {
		for n := r.IntN(3); n > 0; n-- {
			s.add(opSudoCmd, opSudoOpen, opSudoClose)
		}
		s.cmd = u.cmds[r.IntN(len(u.cmds))]
		s.subPID = g.nextPID()
	}
	s.add(opRecvUser, opDiscUser, opSessClose, opLogindOut, opLogindRemove)
	return s
}

// cronJob is a crontab entry run as user at minutes m where m%every == at.
type cronJob struct {
	user      string
	uid       int
	every, at int64
}

var cronJobs = []cronJob{
	{"root", 0, 60, 17}, // run-parts /etc/cron.hourly
	{"root", 0, 10, 5},  // sysstat
	{"root", 0, 30, 9},  // php sessionclean
	{"deploy", 1002, 15, 0},
	{"root", 0, 1, 0}, // a monitoring agent's every-minute job
}

// startCron adds the cron jobs due in minute m to the pool.
func (g *authGen) startCron(m int64) {
	for _, j := range cronJobs {
		if m%j.every == j.at {
			s := authSession{pid: g.nextPID(), cron: true, user: j.user, uid: j.uid}
			s.add(opCronOpen, opCronClose)
			g.live = append(g.live, s)
		}
	}
}

func (g *authGen) write(w io.Writer) error {
	r := g.r
	for n := 0; n < g.cfg.lines; n++ {
		g.clk.tick(r)
		if m := g.clk.unix() / 60; m != g.minute {
			if g.minute >= 0 {
				g.startCron(m)
			}
			g.minute = m
		}
		i := r.IntN(len(g.live))
		for g.live[i].slow && r.IntN(16) != 0 {
			i = r.IntN(len(g.live))
		}
		s := &g.live[i]
		g.buf = g.line(g.buf, s, s.ops[s.i])
		s.i++
		if s.i == s.n {
			if s.cron {
				last := len(g.live) - 1
				g.live[i] = g.live[last]
				g.live = g.live[:last]
			} else {
				g.live[i] = g.plan()
			}
		}
		if len(g.buf) >= flushEvery {
			if _, err := w.Write(g.buf); err != nil {
				return err
			}
			g.buf = g.buf[:0]
		}
	}
	_, err := w.Write(g.buf)
	g.buf = g.buf[:0]
	return err
}

// header appends "Mmm dd hh:mm:ss host prog[pid]: ".
func (g *authGen) header(b []byte, prog string, pid int) []byte {
	b = append(b, g.clk.format()...)
	b = append(b, ' ')
	b = append(b, g.cfg.host...)
	b = append(b, ' ')
	b = append(b, prog...)
	b = append(b, '[')
	b = appendInt(b, pid)
	return append(b, "]: "...)
}

// addrPort appends "A port P".
func addrPort(b []byte, s *authSession) []byte {
	b = append(b, s.addr...)
	b = append(b, " port "...)
	return appendInt(b, s.port)
}

// who appends "authenticating user X" or "invalid user X".
func who(b []byte, s *authSession) []byte {
	if s.invalid {
		b = append(b, "invalid user "...)
	} else {
		b = append(b, "authenticating user "...)
	}
	return append(b, s.user...)
}

func (g *authGen) line(b []byte, s *authSession, op authOp) []byte {
	switch op {
	case opLogindNew, opLogindOut, opLogindRemove:
		b = g.header(b, "systemd-logind", g.logindPID)
	case opSudoCmd, opSudoOpen, opSudoClose:
		b = g.header(b, "sudo", s.subPID)
	case opCronOpen, opCronClose:
		b = g.header(b, "CRON", s.pid)
	default:
		b = g.header(b, "sshd", s.pid)
	}
	switch op {
	case opInvalidUser:
		b = append(b, "Invalid user "...)
		b = append(b, s.user...)
		b = append(b, " from "...)
		b = addrPort(b, s)
	case opPamCheckPass:
		b = append(b, "pam_unix(sshd:auth): check pass; user unknown"...)
	case opPamAuthFail:
		b = append(b, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost="...)
		b = append(b, s.addr...)
		if !s.invalid {
			b = append(b, "  user="...)
			b = append(b, s.user...)
		}
	case opFailedPw:
		b = append(b, "Failed password for "...)
		if s.invalid {
			b = append(b, "invalid user "...)
		}
		b = append(b, s.user...)
		b = append(b, " from "...)
		b = addrPort(b, s)
		b = append(b, " ssh2"...)
	case opRecvBye:
		b = append(b, "Received disconnect from "...)
		b = addrPort(b, s)
		b = append(b, ":11: Bye Bye [preauth]"...)
	case opDisconnected:
		b = append(b, "Disconnected from "...)
		b = who(b, s)
		b = append(b, ' ')
		b = addrPort(b, s)
		b = append(b, " [preauth]"...)
	case opClosedUser:
		b = append(b, "Connection closed by "...)
		b = who(b, s)
		b = append(b, ' ')
		b = addrPort(b, s)
		b = append(b, " [preauth]"...)
	case opResetUser:
		b = append(b, "Connection reset by "...)
		b = who(b, s)
		b = append(b, ' ')
		b = addrPort(b, s)
		b = append(b, " [preauth]"...)
	case opMaxAttempts:
		b = append(b, "error: maximum authentication attempts exceeded for "...)
		if s.invalid {
			b = append(b, "invalid user "...)
		}
		b = append(b, s.user...)
		b = append(b, " from "...)
		b = addrPort(b, s)
		b = append(b, " ssh2 [preauth]"...)
	case opTooMany:
		b = append(b, "Disconnecting "...)
		b = who(b, s)
		b = append(b, ' ')
		b = addrPort(b, s)
		b = append(b, ": Too many authentication failures [preauth]"...)
	case opPamMore:
		b = append(b, "PAM "...)
		b = appendInt(b, s.more)
		if s.more == 1 {
			b = append(b, " more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost="...)
		} else {
			b = append(b, " more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost="...)
		}
		b = append(b, s.addr...)
		if !s.invalid {
			b = append(b, "  user="...)
			b = append(b, s.user...)
		}
	case opKexClosed:
		b = append(b, "error: kex_exchange_identification: Connection closed by remote host"...)
	case opKexReset:
		b = append(b, "error: kex_exchange_identification: read: Connection reset by peer"...)
	case opKexHTTP:
		b = append(b, `error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"`...)
	case opKexBanner:
		b = append(b, "error: kex_exchange_identification: banner line contains invalid characters"...)
	case opBannerInvalid:
		b = append(b, "banner exchange: Connection from "...)
		b = addrPort(b, s)
		b = append(b, ": invalid format"...)
	case opClosedAddr:
		b = append(b, "Connection closed by "...)
		b = addrPort(b, s)
	case opClosedAddrPre:
		b = append(b, "Connection closed by "...)
		b = addrPort(b, s)
		b = append(b, " [preauth]"...)
	case opResetAddr:
		b = append(b, "Connection reset by "...)
		b = addrPort(b, s)
	case opResetAddrPre:
		b = append(b, "Connection reset by "...)
		b = addrPort(b, s)
		b = append(b, " [preauth]"...)
	case opNoKex:
		b = append(b, "Unable to negotiate with "...)
		b = addrPort(b, s)
		b = append(b, ": no matching key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1 [preauth]"...)
	case opNoHostKey:
		b = append(b, "Unable to negotiate with "...)
		b = addrPort(b, s)
		b = append(b, ": no matching host key type found. Their offer: ssh-rsa,ssh-dss [preauth]"...)
	case opRecvEmpty:
		b = append(b, "Received disconnect from "...)
		b = addrPort(b, s)
		b = append(b, ":11:  [preauth]"...)
	case opDisconnectedAddr:
		b = append(b, "Disconnected from "...)
		b = addrPort(b, s)
		b = append(b, " [preauth]"...)
	case opAcceptedKey:
		b = append(b, "Accepted publickey for "...)
		b = append(b, s.user...)
		b = append(b, " from "...)
		b = addrPort(b, s)
		b = append(b, " ssh2: ED25519 SHA256:"...)
		b = append(b, s.keyFP...)
	case opAcceptedPw:
		b = append(b, "Accepted password for "...)
		b = append(b, s.user...)
		b = append(b, " from "...)
		b = addrPort(b, s)
		b = append(b, " ssh2"...)
	case opSessOpen:
		b = append(b, "pam_unix(sshd:session): session opened for user "...)
		b = append(b, s.user...)
		b = append(b, "(uid="...)
		b = appendInt(b, s.uid)
		b = append(b, ") by (uid=0)"...)
	case opRecvUser:
		b = append(b, "Received disconnect from "...)
		b = addrPort(b, s)
		b = append(b, ":11: disconnected by user"...)
	case opDiscUser:
		b = append(b, "Disconnected from user "...)
		b = append(b, s.user...)
		b = append(b, ' ')
		b = addrPort(b, s)
	case opSessClose:
		b = append(b, "pam_unix(sshd:session): session closed for user "...)
		b = append(b, s.user...)
	case opLogindNew:
		b = append(b, "New session "...)
		b = appendInt(b, s.sess)
		b = append(b, " of user "...)
		b = append(b, s.user...)
		b = append(b, '.')
	case opLogindOut:
		b = append(b, "Session "...)
		b = appendInt(b, s.sess)
		b = append(b, " logged out. Waiting for processes to exit."...)
	case opLogindRemove:
		b = append(b, "Removed session "...)
		b = appendInt(b, s.sess)
		b = append(b, '.')
	case opSudoCmd:
		b = append(b, "   "...)
		b = append(b, s.user...)
		b = append(b, " : TTY=pts/0 ; PWD=/home/"...)
		b = append(b, s.user...)
		b = append(b, " ; USER=root ; COMMAND="...)
		b = append(b, s.cmd...)
	case opSudoOpen:
		b = append(b, "pam_unix(sudo:session): session opened for user root(uid=0) by "...)
		b = append(b, s.user...)
		b = append(b, "(uid="...)
		b = appendInt(b, s.uid)
		b = append(b, ')')
	case opSudoClose:
		b = append(b, "pam_unix(sudo:session): session closed for user root"...)
	case opCronOpen:
		b = append(b, "pam_unix(cron:session): session opened for user "...)
		b = append(b, s.user...)
		b = append(b, "(uid="...)
		b = appendInt(b, s.uid)
		b = append(b, ") by (uid=0)"...)
	case opCronClose:
		b = append(b, "pam_unix(cron:session): session closed for user "...)
		b = append(b, s.user...)
	}
	return append(b, '\n')
}

// attackUsers are user names that password guessers try and that do not exist on the host.
var attackUsers = []string{
	"admin1", "user", "test", "test1", "testuser", "ubuntu", "debian", "centos", "oracle", "postgres",
	"mysql", "git", "gitlab", "jenkins", "ftpuser", "ftp", "guest", "pi", "support", "hadoop", "spark",
	"kafka", "elastic", "es", "minecraft", "steam", "nagios", "zabbix", "tomcat", "www", "www-data",
	"web", "webadmin", "webmaster", "dev", "developer", "devops", "ansible", "vagrant", "docker",
	"k8s", "kube", "ec2-user", "azureuser", "administrator", "Administrator", "sysadmin", "operator",
	"backup", "bkp", "db", "dbadmin", "sql", "mssql", "redis", "mongo", "mongodb", "rabbitmq",
	"odoo", "erp", "sap", "user1", "user2", "user01", "demo", "temp", "tmp", "student", "teacher",
	"info", "sales", "office", "hr", "mail", "postfix", "email", "test2", "testing", "qa", "prod",
	"server", "service", "svc", "monitor", "nginx", "apache", "httpd", "php", "wordpress", "wp",
	"cpanel", "plesk", "vps", "vpn", "openvpn", "router", "ubnt", "cisco", "mikrotik", "huawei",
	"default", "super", "superuser", "manager", "master", "adm", "alex", "anna", "david", "john",
	"michael", "sam", "user3", "jboss", "weblogic", "solr", "nexus", "sonar", "svn", "gpadmin",
	"hive", "flink", "ts3", "teamspeak", "csgo", "factorio", "terraria", "validator", "sol", "node",
	"eth", "bitcoin", "miner", "trader", "deployer", "runner", "gitlab-runner", "frappe", "rocky",
}
