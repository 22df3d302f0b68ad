package app_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/herd-ips/herd/internal/app"
	"github.com/herd-ips/herd/internal/config"
	"github.com/herd-ips/herd/internal/herdtest"
)

// chromiumPath is Debian's Chromium (apt-get install chromium), which runs
// headless; scripts/test.sh installs it.
const chromiumPath = "/usr/bin/chromium"

// hostileUA is a User-Agent an attacker writes to run script in a
// console that would insert log lines as HTML.
const hostileUA = `<img src=x onerror=alert(1)>`

// browser is a headless Chromium driven by chromedp for one test. Every
// uncaught exception, console.error or console.assert call and browser log
// entry of level error (a refused Content-Security-Policy, a script that
// failed to load) on any page is collected, and fails the test at its end.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
	mu    sync.Mutex
	errs  []string
	// closed is set by finish: the connections the agent's stop breaks
	// are not the page's fault (network entries only are ignored then).
	closed bool
	// allowNetwork, while set, accepts network-level error entries for
	// URLs with this suffix (the 401 of a refused login).
	allowNetwork string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found; install Debian's chromium to include the console's browser test", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	b.shots = os.Getenv("HERD_TEST_ARTIFACTS")
	if b.shots == "" {
		b.shots = filepath.Join(os.TempDir(), "herd-console-screenshots")
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// The first action starts the browser, on a context without a timeout.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("1")); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Skipf("chromium does not start here: %v", err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleException, "assert":
			default:
				continue
			}
			b.mu.Lock()
			allowed := m.Source == "network" && (b.closed || b.allowNetwork != "" && strings.HasSuffix(m.URL, b.allowNetwork))
			if !allowed {
				b.errs = append(b.errs, fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line))
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			t.Errorf("JavaScript or console error: %s", e)
		}
	})
	t.Logf("screenshots in %s", b.shots)
	return b
}

// finish leaves the console (closing its live stream) before the agent's
// stop, which follows, breaks connections the browser would log.
func (b *browser) finish() {
	b.run("leave the console", chromedp.Navigate("about:blank"))
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

func (b *browser) allow(suffix string) {
	b.mu.Lock()
	b.allowNetwork = suffix
	b.mu.Unlock()
}

func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page.
func (b *browser) waitJS(what, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.shot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("%s: not true after %s: %s (last error: %v)", what, timeout, expr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noFlashError fails the test when the page shows an error message (an
// API call that failed, an exception the page caught).
func (b *browser) noFlashError(where string) {
	b.t.Helper()
	if msg := eval[string](b, `document.getElementById("flash").className === "error" ? document.getElementById("flash").textContent : ""`); msg != "" {
		b.shot("error-" + where)
		b.t.Errorf("%s: the page shows an error: %s", where, msg)
	}
}

// shot saves a full-page screenshot as NAME.png (quality 100 is PNG).
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", p)
}

// nginxLine is a combined-format access log line stamped now (UTC).
func nginxLine(src netip.Addr, path, ua string) string {
	return fmt.Sprintf("%s - - [%s] \"GET %s HTTP/1.1\" 404 162 \"-\" \"%s\"\n",
		src, time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"), path, ua)
}

// TestConsoleInBrowser drives the console in headless Chromium against a
// live agent whose nftables table is in a namespace of the test's: log in
// (a wrong password refused first), see an attack appear on the timeline
// without a reload, find its ban by search and lift it with one click (and
// see it leave nftables), ban from the page (and see it arrive), open an
// alert and its lines and find a hostile User-Agent shown as text, and
// visit every page; any JavaScript or console error fails the test.
func TestConsoleInBrowser(t *testing.T) {
	herdtest.Skip(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not found; install nftables to include this test")
	}
	b := newBrowser(t)
	_, fd := herdtest.NewNetns(t)
	view := kernelView(t, fd)

	dir := t.TempDir()
	authLog := filepath.Join(dir, "auth.log")
	accessLog := filepath.Join(dir, "access.log")
	appendLine(t, authLog, "")
	appendLine(t, accessLog, "")
	cfg := testConfig(dir, authLog)
	cfg.Sources = append(cfg.Sources, config.Source{Files: []string{accessLog}, Program: "nginx"})
	cfg.Console = config.Console{Enabled: true, PasswordFile: filepath.Join(dir, "console.password")}
	const password = "a long console password"
	if err := app.SetConsolePassword(cfg, password); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, app.AgentOptions{Config: cfg, NetNS: fd, FromStart: true, ConsoleListener: ln})
	if strings.Contains(r.logs.String(), "dry-run") {
		t.Fatalf("the agent runs dry:\n%s", r.logs)
	}
	base := "http://" + ln.Addr().String()

	// Log in: a wrong password is refused, the right one opens the console.
	b.allow("/login")
	b.run("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("password")))
	if url := eval[string](b, "document.location.toString()"); !strings.HasSuffix(url, "/login") {
		t.Fatalf("without a session the console sent the browser to %s, want /login", url)
	}
	b.run("wrong password", chromedp.SendKeys(chromedp.ID("password"), "not the password"), chromedp.Click(chromedp.ID("login-button")))
	b.waitJS("the refusal", `document.getElementById("login-error").textContent.length > 0`, 30*time.Second)
	if msg := eval[string](b, `document.getElementById("login-error").textContent`); !strings.Contains(msg, "wrong password") {
		t.Errorf("refusal says %q", msg)
	}
	b.shot("01-login-refused")
	eval[string](b, `document.getElementById("password").value = ""`)
	b.run("right password", chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-button")), chromedp.WaitVisible(chromedp.ID("timeline")))
	b.allow("")
	b.waitJS("the live stream", `document.getElementById("live").className === "live on"`, 10*time.Second)
	b.shot("02-overview-empty")

	// An attack appears on the timeline without a reload: a marker set in
	// the page survives.
	eval[int](b, `window.herdNoReload = 42`)
	attacker := netip.MustParseAddr("192.0.2.77")
	banned := netip.PrefixFrom(attacker, 32)
	for i := range 6 {
		appendLine(t, authLog, sshdLine(attacker, 40000+i))
	}
	b.waitJS("the attack on the timeline", `[...document.querySelectorAll("#timeline li")].some(li => li.textContent.includes("192.0.2.77"))`, 15*time.Second)
	if marker := eval[int](b, `window.herdNoReload || 0`); marker != 42 {
		t.Error("the page was reloaded to show the attack")
	}
	waitFor(t, "the ban in nftables", 10*time.Second, func() bool { return holds(t, view, banned) })
	b.waitJS("the chart", `document.querySelector("#chart .uplot") !== null`, 10*time.Second)
	b.shot("03-overview-attack")

	// Search the decision and unban it with one click: it leaves nftables.
	b.run("decisions page", chromedp.Navigate(base+"/#decisions"), chromedp.WaitVisible(chromedp.ID("decision-search")),
		chromedp.SendKeys(chromedp.ID("decision-search"), "192.0.2.77"))
	row := `#decisions tr[data-scope="192.0.2.77/32"]`
	b.waitJS("the decision found", `document.querySelector('`+row+`') !== null && document.querySelectorAll("#decisions tbody tr").length === 1`, 10*time.Second)
	b.shot("04-decision-found")
	b.run("unban", chromedp.Click(chromedp.CSS(row+` button.unban`)))
	waitFor(t, "the ban gone from nftables", 10*time.Second, func() bool { return !holds(t, view, banned) })
	b.waitJS("the row gone", `document.querySelector('`+row+`') === null`, 10*time.Second)
	b.shot("05-unbanned")
	b.noFlashError("decisions")

	// Ban from the page: it reaches nftables.
	manual := netip.MustParsePrefix("198.51.100.7/32")
	b.run("ban", chromedp.SendKeys(chromedp.ID("ban-scope"), "198.51.100.7"), chromedp.SendKeys(chromedp.ID("ban-duration"), "2h"),
		chromedp.Click(chromedp.CSS(`#ban-form button[type="submit"]`)))
	waitFor(t, "the console's ban in nftables", 10*time.Second, func() bool { return holds(t, view, manual) })

	// A hostile User-Agent reaches the alert's page as text, never as an
	// element.
	prober := netip.MustParseAddr("203.0.113.66")
	appendLine(t, accessLog, nginxLine(prober, "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", hostileUA))
	b.run("overview", chromedp.Navigate(base+"/#overview"), chromedp.WaitVisible(chromedp.ID("timeline")))
	probe := `[...document.querySelectorAll("#timeline li")].find(li => li.textContent.includes("203.0.113.66"))`
	b.waitJS("the probe on the timeline", probe, 15*time.Second)
	href := eval[string](b, probe+`.querySelector("a.scenario").getAttribute("href")`)
	b.run("open the alert", chromedp.Click(chromedp.CSS(`#timeline li a[href="`+href+`"]`)))
	b.waitJS("the alert's lines", `document.querySelectorAll("#alert-lines li code").length > 0`, 10*time.Second)
	lines := eval[string](b, `[...document.querySelectorAll("#alert-lines li code")].map(c => c.textContent).join("\n")`)
	if !strings.Contains(lines, hostileUA) {
		t.Errorf("the alert's lines do not show the User-Agent as text:\n%s", lines)
	}
	if n := eval[int](b, `document.querySelectorAll("img").length + document.querySelectorAll("[onerror]").length`); n != 0 {
		t.Errorf("the hostile User-Agent became %d element(s) in the page", n)
	}
	b.shot("06-alert-lines")

	// Every other page renders without error.
	for _, p := range []struct{ hash, ready string }{
		{"alerts", `document.querySelectorAll("#alerts tbody tr").length >= 2`},
		{"community", `document.querySelectorAll("#community-facts dt").length > 0`},
		{"health", `document.querySelectorAll("#health-sources tbody tr").length > 0 && document.querySelectorAll("#firewall-facts dd").length > 0`},
		{"overview", `document.querySelector("#map svg path") !== null`},
	} {
		b.run("page "+p.hash, chromedp.Navigate(base+"/#"+p.hash))
		b.waitJS("page "+p.hash, p.ready, 10*time.Second)
		b.shot("07-" + p.hash)
		b.noFlashError(p.hash)
	}
	b.run("health page", chromedp.Navigate(base+"/#health"))
	b.waitJS("firewall state", `document.querySelectorAll("#firewall-facts dd").length > 0`, 10*time.Second)
	if fw := eval[string](b, `[...document.querySelectorAll("#firewall-facts dd")].map(d => d.textContent).join(" ")`); !strings.Contains(fw, "nftables") {
		t.Errorf("the health page's firewall says %q, want the nftables backend", fw)
	}
	b.finish()
}
