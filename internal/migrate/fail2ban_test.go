package migrate

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/rules"
)

func TestParseFail2banTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"600": 10 * time.Minute, "10m": 10 * time.Minute, "1h": time.Hour, "1h30m": 90 * time.Minute,
		"2d": 48 * time.Hour, "1w": 168 * time.Hour, "2 hours": 2 * time.Hour, "1.5h": 90 * time.Minute,
		"-1": -time.Second, " 5 minutes ": 5 * time.Minute, "1y": 365*24*time.Hour + 6*time.Hour,
	} {
		got, err := ParseFail2banTime(in)
		if err != nil || got != want {
			t.Errorf("ParseFail2banTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "h", "10q", "1e99", "ten minutes", "--1"} {
		if d, err := ParseFail2banTime(bad); err == nil {
			t.Errorf("ParseFail2banTime(%q) = %v, want an error", bad, d)
		}
	}
}

func readTestJails(t *testing.T) ([]Jail, []netip.Prefix, []string, []string) {
	t.Helper()
	ini, files, err := ReadFail2banDir("testdata/fail2ban")
	if err != nil {
		t.Fatal(err)
	}
	jails, allow, ignored, err := Jails(ini)
	if err != nil {
		t.Fatal(err)
	}
	return jails, allow, ignored, files
}

func TestFail2banJails(t *testing.T) {
	jails, allow, ignored, files := readTestJails(t)
	wantFiles := []string{"jail.conf", "jail.d/10-web.conf", "jail.local", "jail.d/20-off.local"}
	for i, f := range wantFiles {
		if i >= len(files) || files[i] != filepath.Join("testdata/fail2ban", f) {
			t.Fatalf("files read %v, want %v in that order", files, wantFiles)
		}
	}
	byName := map[string]Jail{}
	var names []string
	for _, j := range jails {
		byName[j.Name] = j
		names = append(names, j.Name)
	}
	if strings.Join(names, " ") != "sshd dovecot recidive squid nginx-http-auth" {
		t.Fatalf("enabled jails %v", names)
	}
	ssh := byName["sshd"]
	if ssh.MaxRetry != 3 || ssh.FindTime != 10*time.Minute || ssh.BanTime != time.Hour || !ssh.Increment ||
		ssh.MaxTime != 5*168*time.Hour || ssh.Backend != "systemd" || ssh.LogPath != "/var/log/auth.log" {
		t.Errorf("sshd = %+v", ssh)
	}
	if len(ssh.Unsupported) != 1 || ssh.Unsupported[0] != "bantime.factor = 2" {
		t.Errorf("sshd unsupported = %v", ssh.Unsupported)
	}
	if d := byName["dovecot"]; !d.Permanent || d.BanTime != PermanentBan || d.MaxRetry != 5 {
		t.Errorf("dovecot = %+v", d)
	}
	if r := byName["recidive"]; r.BanTime != 168*time.Hour || r.FindTime != 24*time.Hour {
		t.Errorf("recidive = %+v", r)
	}
	if n := byName["nginx-http-auth"]; n.MaxRetry != 4 || n.FindTime != 90*time.Minute || n.BanTime != 2*time.Hour {
		t.Errorf("nginx-http-auth = %+v", n)
	}
	var got []string
	for _, p := range allow {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "127.0.0.0/8 ::1/128 192.0.2.0/24 2001:db8::1/128 198.51.100.7/32" {
		t.Errorf("allow %v", got)
	}
	if len(ignored) != 1 || ignored[0] != "gateway.example.net" {
		t.Errorf("ignored %v", ignored)
	}
}

// The rendered configuration loads as herd rules, and herd's profiles then
// ban each jail's scenarios for the jail's bantime, escalate where the jail
// had bantime.increment, and keep herd's default for other scenarios.
func TestRenderFail2banLoadsAndDecides(t *testing.T) {
	jails, allow, ignored, files := readTestJails(t)
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, s := range set.Scenarios {
		known[s.Name] = true
	}
	ms := MapJails(jails, func(s string) bool { return known[s] })
	for _, m := range ms {
		for _, s := range jailScenarios[m.Jail.Name] {
			if !known[s] {
				t.Errorf("jail %s maps to %s, which herd's rules do not define", m.Jail.Name, s)
			}
		}
	}
	var a, b strings.Builder
	RenderFail2banAllow(&a, files, allow, ignored)
	RenderFail2banRules(&b, files, ms)
	out := b.String()
	checkAllowFragment(t, a.String())
	for _, want := range []string{
		"[squid] maxretry 5, findtime 10m, bantime 1h -> no equivalent",
		"[recidive] maxretry 5, findtime 24h, bantime 168h -> herd's profiles escalate instead",
		"bantime.factor = 2 has no equivalent", "bantime -1 (for ever) has no equivalent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "50-fail2ban.yaml")
	if err := os.WriteFile(rulesFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := rules.Load(dir)
	if err != nil {
		t.Fatalf("the rendered file does not load as rules: %v\n%s", err, out)
	}
	p, err := profile.Compile(loaded.Profiles, profile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	decide := func(scenario, src string, at time.Time) time.Duration {
		a := event.Alert{Scenario: scenario, Source: netip.MustParseAddr(src), Remedy: true, First: at, Last: at}
		d, v := p.Decide(&a)
		if v != profile.Decided {
			t.Fatalf("%s from %s: verdict %v", scenario, src, v)
		}
		return d.Duration
	}
	if d := decide("ssh-bruteforce", "198.51.100.1", t0); d != time.Hour {
		t.Errorf("ssh-bruteforce banned for %v, want sshd's bantime 1h", d)
	}
	if d := decide("ssh-bruteforce", "198.51.100.1", t0.Add(90*time.Minute)); d != 2*time.Hour {
		t.Errorf("a returning ssh attacker banned for %v, want 2h (bantime.increment)", d)
	}
	if d := decide("mail-auth-bruteforce", "198.51.100.2", t0); d != PermanentBan {
		t.Errorf("mail-auth-bruteforce banned for %v, want %v (dovecot's bantime -1)", d, PermanentBan)
	}
	if d := decide("http-auth-bruteforce", "198.51.100.3", t0); d != 2*time.Hour {
		t.Errorf("http-auth-bruteforce banned for %v, want 2h", d)
	}
	if d := decide("portscan", "198.51.100.4", t0); d != 4*time.Hour {
		t.Errorf("portscan banned for %v, want herd's default 4h", d)
	}
}

func checkAllowFragment(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{"allow:\n  - 127.0.0.0/8\n", "  - 192.0.2.0/24\n", `ignoreip "gateway.example.net" has no equivalent`} {
		if !strings.Contains(out, want) {
			t.Errorf("herd.yaml fragment lacks %q:\n%s", want, out)
		}
	}
}

// A fail2ban configuration in ../shared/data/fail2ban, if one is there, is
// read without error.
func TestFail2banSharedConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "fail2ban")
	for _, d := range []string{dir, filepath.Join(dir, "config")} {
		if _, err := os.Stat(filepath.Join(d, "jail.conf")); err != nil {
			continue
		}
		ini, _, err := ReadFail2banDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := Jails(ini); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Skipf("no fail2ban jail.conf under %s (its README: the data set holds fail2ban's sample logs only)", dir)
}

// Two jails on the same scenarios: the first keeps them, the second says
// so, and no profile is dead.
func TestRenderFail2banSharedScenarios(t *testing.T) {
	ms := MapJails([]Jail{{Name: "sshd", Filter: "sshd", BanTime: time.Hour}, {Name: "dropbear", Filter: "dropbear", BanTime: 2 * time.Hour}}, nil)
	var b strings.Builder
	RenderFail2banRules(&b, []string{"jail.local"}, ms)
	out := b.String()
	if strings.Contains(out, "fail2ban-dropbear") ||
		!strings.Contains(out, "already in an earlier jail's profile, which decides for them: ssh-bruteforce (jail sshd), ssh-slow-bruteforce (jail sshd), ssh-user-enum (jail sshd)") {
		t.Errorf("output:\n%s", out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Load(dir); err != nil {
		t.Error(err)
	}
}

func FuzzParseINI(f *testing.F) {
	for _, name := range []string{"jail.conf", "jail.local", "jail.d/10-web.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata/fail2ban", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[a]\nenabled=true\nbantime=%(bantime)s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ini := &INI{}
		if err := ParseINI(ini, "fuzz", strings.NewReader(string(b))); err != nil {
			return
		}
		_, _, _, _ = Jails(ini)
	})
}
