package rules_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
)

// The web scenarios' promises: probes, scanners and exploit attempts alert,
// ordinary visitors, monitoring and successful logins never do.

func httpAbuse(reason, path string) event.Event {
	return event.Event{Service: "http", Kind: event.KindAbuse, Reason: reason, Path: []byte(path), Bytes: -1}
}

func TestHTTPScenarioThresholds(t *testing.T) {
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	seq := func(n int, step time.Duration, f func(i int) event.Event) []timed {
		out := make([]timed, n)
		for i := range out {
			out[i] = timed{time.Duration(i) * step, f(i)}
		}
		return out
	}
	// A WordPress visitor meets a page whose images and stylesheets were
	// removed: many 404s under wp-content, all static.
	missingAssets := seq(30, 100*time.Millisecond, func(i int) event.Event {
		ext := []string{".jpg", ".png", ".css", ".js", ".woff2"}[i%5]
		return httpReq("GET", "/wp-content/uploads/2026/11/img-"+strconv.Itoa(i)+ext, 404, browser)
	})
	cases := []struct {
		name string
		evs  []timed
		want []string
	}{
		{"successful wp-login redirects", every(20, 2*time.Second, httpReq("POST", "/wp-login.php", 302, browser)), nil},
		{"failed wp-login pages", every(6, 2*time.Second, httpReq("POST", "/wp-login.php", 200, browser)), []string{"http-login-bruteforce"}},
		{"typo3 login guessing", every(6, 2*time.Second, httpReq("POST", "/typo3/?loginProvider=1433416747", 200, browser)), []string{"http-login-bruteforce"}},
		{"a monitoring probe every 10s for an hour", every(360, 10*time.Second, httpReq("GET", "/health", 200, "kube-probe/1.30")), nil},
		{"a missing favicon, many times", every(50, time.Second, httpReq("GET", "/favicon.ico", 404, browser)), nil},
		{"a missing favicon in the error log", every(50, time.Second, httpAbuse("not_found", "/usr/share/nginx/html/favicon.ico")), nil},
		{"missing WordPress assets", missingAssets, nil},
		{"robots.txt and security.txt missing", seq(12, time.Second, func(i int) event.Event {
			return httpReq("GET", []string{"/robots.txt", "/.well-known/security.txt", "/ads.txt"}[i%3], 404, browser)
		}), nil},
		{"wordpress plugin fingerprinting", seq(4, 500*time.Millisecond, func(i int) event.Event {
			return httpReq("HEAD", "/wp-content/plugins/p"+strconv.Itoa(i)+"/readme.txt", 404, browser)
		}), []string{"http-wordpress-scan"}},
		{"admin panel hunting", seq(3, 300*time.Millisecond, func(i int) event.Event {
			return httpReq("GET", []string{"/phpmyadmin2017/index.php", "/administrator/db/index.php", "/+CSCOE+/"}[i], 404, browser)
		}), []string{"http-admin-interface-probing"}},
		{"wordpress author enumeration", seq(6, 200*time.Millisecond, func(i int) event.Event {
			return httpReq("GET", "/?author="+strconv.Itoa(i+1), 200, browser)
		}), []string{"http-wordpress-user-enum"}},
		{"a reader reloading one author page", every(10, 2*time.Second, httpReq("GET", "/?author=1", 200, browser)), nil},
		{"one admin panel 404", []timed{{0, httpReq("GET", "/phpmyadmin/", 404, browser)}}, nil},
		{"an owner reloading the panel restricted to the office", every(10, 5*time.Second, httpReq("GET", "/phpmyadmin/", 403, browser)), nil},
		{"web shell hunting", seq(2, time.Second, func(i int) event.Event {
			return httpReq("GET", []string{"/Worse_Linux_Shell.php", "/wso.php"}[i], 404, "curl/8.5.0")
		}), []string{"http-backdoor-probing"}},
		{"shellshock", []timed{{0, httpAbuse("shellshock", "")}}, []string{"http-shellshock"}},
		{"11 missing scripts in the error log", seq(11, 200*time.Millisecond, func(i int) event.Event {
			return httpAbuse("not_found", "/var/www/cgi-bin/x"+strconv.Itoa(i))
		}), []string{"http-probing-errorlog"}},
		{"11 distinct garbage requests", seq(11, 100*time.Millisecond, func(i int) event.Event {
			return httpReq("", `\x16\x03\x01\x0`+strconv.Itoa(i), 400, "")
		}), []string{"http-probing"}},
		{"6 malformed requests", every(6, time.Second, httpAbuse("bad_request", "")), []string{"http-bad-request"}},
		{"5 malformed requests stay below", every(5, time.Second, httpAbuse("bad_request", "")), nil},
		{"a browser's few TLS hiccups", every(5, 10*time.Second, event.Event{Service: "http", Kind: event.KindScan, Reason: "tls_error", Bytes: -1}), nil},
		{"an application serving its own .sql migrations", seq(20, 50*time.Millisecond, func(i int) event.Event {
			return httpReq("GET", "/data/migrations/"+strconv.Itoa(i)+"_init.sql", 200, browser)
		}), nil},
		{"dotfile hunting", seq(3, time.Second, func(i int) event.Event {
			return httpReq("GET", []string{"/.bash_history", "/.svn", "/.mysql_history"}[i], 404, browser)
		}), []string{"http-sensitive-files"}},
		{"shellshock in the user agent", every(2, time.Second, httpReq("GET", "/cgi-bin/status", 404, "() { :; }; /bin/bash -c 'id'")), []string{"http-bad-user-agent"}},
		{"trackback spam", every(2, time.Minute/2, httpReq("POST", "/post/trackback/", 301, "TrackBack/1.02")), []string{"http-bad-user-agent"}},
		{"a single-page application whose session expired", seq(30, 50*time.Millisecond, func(i int) event.Event {
			return httpReq("GET", "/api/v1/resource-"+strconv.Itoa(i), 403, browser)
		}), nil},
		{"webmail hunting", seq(3, time.Second, func(i int) event.Event {
			return httpReq("GET", []string{"/roundcube/", "/webmail/", "/squirrelmail/"}[i], 403, browser)
		}), []string{"http-admin-interface-probing"}},
		{"a WAF false positive on a visitor", every(3, 20*time.Second, httpAbuse("waf_block", "")), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := pourDefaults(t, c.evs); !slices.Equal(got, c.want) {
				t.Errorf("alerts from %v, want %v", got, c.want)
			}
		})
	}
}
