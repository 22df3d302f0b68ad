package main

import (
	"io"
	"math/rand/v2"
)

// The nginx generator simulates a single-page web application behind nginx: browsers load a page
// and its assets and call the API, crawlers read pages, a monitoring probe polls a health endpoint,
// and attackers sweep for admin panels, leaked .env and .git files, flood wp-login.php, run sqlmap
// and try path traversal. As for auth.log, a small pool of clients interleave, one line at a time.

type nginxKind uint8

const (
	kindSPA       nginxKind = iota // browser loading the app: page, every asset, API calls
	kindReader                     // browser reading blog pages, assets mostly cached
	kindAPI                        // mobile app calling the API
	kindCrawler                    // search engine or SEO crawler
	kindSweep                      // scanner: 404s on many distinct paths
	kindSecrets                    // .env / .git / credentials probes
	kindWPFlood                    // POST flood on wp-login.php and xmlrpc.php
	kindSQLMap                     // sqlmap against a query parameter
	kindTraversal                  // path traversal and file inclusion attempts
	kindGarbage                    // TLS or SSH on port 80, empty requests, proxy probes
	kindMonitor                    // health probe, driven by the clock rather than the pool
)

// nginxSession is one client and how far it has got.
type nginxSession struct {
	kind   nginxKind
	left   int // requests still to write
	step   int
	sub    int // reader: subrequests left for the current page
	page   int // index into pages, or into the kind's own path list
	cached bool
	addr   []byte
	ua     string
	ref    string
}

// asset is a static file of the app.
type asset struct {
	path string
	size int
}

type nginxGen struct {
	cfg       config
	r         *rand.Rand
	clk       clock
	visitors  addrPool
	crawlers  addrPool
	attackers addrPool
	site      string   // "https://host.example.org"
	refs      []string // site + pages[i]
	assets    []asset
	live      []nginxSession
	probeTick int64
	buf       []byte
	path      []byte // scratch for built request paths

	kind, status picker
}

func newNginxGen(cfg config) *nginxGen {
	r := rand.New(rand.NewPCG(cfg.seed, 0x6e67696e78206c67))
	g := &nginxGen{
		cfg:       cfg,
		r:         r,
		clk:       newClock(cfg, "02/Jan/2006:15:04:05 -0700"),
		attackers: newAttackerPool(r, cfg.attackers, 5),
		crawlers:  newAttackerPool(r, 64, 0),
		visitors:  newAttackerPool(r, 5*cfg.attackers, 0),
		site:      "https://" + cfg.host + ".example.org",
		probeTick: -1,
		buf:       make([]byte, 0, flushEvery+4096),
		// session starts per kind, in nginxKind order (kindMonitor is clock-driven)
		kind: newPicker(120, 80, 32, 24, 6, 20, 2, 1, 6, 12),
	}
	hashed := func(name, ext string, size int) asset {
		b := append([]byte("/assets/"), name...)
		b = append(b, '-')
		b = appendB64url(b, r, 8)
		b = append(b, ext...)
		return asset{string(b), size/2 + r.IntN(size)}
	}
	g.assets = []asset{
		hashed("index", ".js", 180_000),
		hashed("vendor", ".js", 420_000),
		hashed("index", ".css", 40_000),
		hashed("charts", ".js", 90_000),
		hashed("inter-var", ".woff2", 110_000),
		hashed("inter-italic", ".woff2", 100_000),
		hashed("logo", ".svg", 4_000),
		hashed("hero", ".webp", 60_000),
		{"/favicon.ico", 15_086},
		{"/manifest.webmanifest", 512},
		{"/apple-touch-icon.png", 9_000},
	}
	for _, p := range pages {
		g.refs = append(g.refs, g.site+p)
	}
	for range liveSessions {
		g.live = append(g.live, g.plan())
	}
	return g
}

// appendB64url appends n random characters of the URL-safe base64 alphabet, as bundlers name files.
func appendB64url(b []byte, r *rand.Rand, n int) []byte {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := r.Uint64()
	for i := range n {
		if i%10 == 9 {
			v = r.Uint64()
		}
		b = append(b, digits[v&63])
		v >>= 6
	}
	return b
}

func (g *nginxGen) plan() nginxSession {
	r := g.r
	s := nginxSession{kind: nginxKind(g.kind.pick(r))}
	switch s.kind {
	case kindSPA:
		s.addr = g.visitors.text[r.IntN(len(g.visitors.text))]
		s.ua = browserUAs[r.IntN(len(browserUAs))]
		s.ref = externalRefs[r.IntN(len(externalRefs))]
		s.cached = r.IntN(3) == 0
		s.page = r.IntN(3) // "/", "/app", "/login"
		s.left = 1 + len(g.assets) + 2 + r.IntN(8)
	case kindReader:
		s.addr = g.visitors.text[r.IntN(len(g.visitors.text))]
		s.ua = browserUAs[r.IntN(len(browserUAs))]
		s.ref = externalRefs[r.IntN(len(externalRefs))]
		s.cached = r.IntN(2) == 0
		s.page = 3 + r.IntN(len(pages)-3)
		s.left = 3 + r.IntN(12)
		s.sub = -1
	case kindAPI:
		s.addr = g.visitors.text[r.IntN(len(g.visitors.text))]
		s.ua = appUAs[r.IntN(len(appUAs))]
		s.left = 2 + r.IntN(8)
	case kindCrawler:
		s.addr = g.crawlers.text[r.IntN(len(g.crawlers.text))]
		s.ua = crawlerUAs[r.IntN(len(crawlerUAs))]
		s.left = 1 + r.IntN(8)
	case kindSweep:
		ai := g.attackers.hot(r)
		s.addr = g.attackers.text[ai]
		s.ua = scannerUAs[r.IntN(len(scannerUAs))]
		s.left = 20 + r.IntN(60)
		if ai < g.attackers.heavy {
			s.left *= 4
		}
		s.page = r.IntN(len(sweepWords))
	case kindSecrets:
		s.addr = g.attackers.text[g.attackers.hot(r)]
		s.ua = scannerUAs[r.IntN(len(scannerUAs))]
		s.left = 1 + r.IntN(10)
		s.page = r.IntN(len(secretPaths))
	case kindWPFlood:
		ai := g.attackers.hot(r)
		s.addr = g.attackers.text[ai]
		s.ua = browserUAs[r.IntN(len(browserUAs))]
		s.left = 30 + r.IntN(120)
		if ai < g.attackers.heavy {
			s.left *= 3
		}
	case kindSQLMap:
		s.addr = g.attackers.text[g.attackers.hot(r)]
		s.ua = sqlmapUAs[r.IntN(len(sqlmapUAs))]
		s.left = 40 + r.IntN(160)
		s.page = r.IntN(len(sqlTargets))
	case kindTraversal:
		s.addr = g.attackers.text[g.attackers.hot(r)]
		s.ua = scannerUAs[r.IntN(len(scannerUAs))]
		s.left = 3 + r.IntN(15)
	case kindGarbage:
		s.addr = g.attackers.text[g.attackers.hot(r)]
		s.left = 1
	}
	return s
}

func (g *nginxGen) write(w io.Writer) error {
	r := g.r
	for n := 0; n < g.cfg.lines; n++ {
		g.clk.tick(r)
		if t := g.clk.unix() / 15; t != g.probeTick && g.probeTick >= 0 {
			g.probeTick = t
			g.live = append(g.live, nginxSession{kind: kindMonitor, left: 1})
		} else if g.probeTick < 0 {
			g.probeTick = t
		}
		i := r.IntN(len(g.live))
		if g.live[len(g.live)-1].kind == kindMonitor {
			i = len(g.live) - 1 // the probe fires on time
		}
		s := &g.live[i]
		g.buf = g.next(g.buf, s)
		s.step++
		s.left--
		if s.left <= 0 {
			if s.kind == kindMonitor {
				g.live = g.live[:len(g.live)-1]
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

// entry appends one combined-format line; the request path is g.path.
func (g *nginxGen) entry(b []byte, addr []byte, method string, status, size int, ref, ua string) []byte {
	b = append(b, addr...)
	b = append(b, " - - ["...)
	b = append(b, g.clk.format()...)
	b = append(b, `] "`...)
	if method != "" {
		b = append(b, method...)
		b = append(b, ' ')
		b = append(b, g.path...)
		b = append(b, " HTTP/1.1"...)
	} else {
		b = append(b, g.path...) // a raw, unparsable request line, already escaped as nginx does
	}
	b = append(b, `" `...)
	b = appendInt(b, status)
	b = append(b, ' ')
	b = appendInt(b, size)
	b = append(b, ` "`...)
	b = append(b, ref...)
	b = append(b, `" "`...)
	b = append(b, ua...)
	return append(b, "\"\n"...)
}

// setPath sets the scratch path to the concatenation of parts.
func (g *nginxGen) setPath(parts ...string) {
	g.path = g.path[:0]
	for _, p := range parts {
		g.path = append(g.path, p...)
	}
}

// pageRef returns the site URL of page p, the referer of the page's subrequests.
func (g *nginxGen) pageRef(p int) string { return g.refs[p] }

const notFound = 153 // bytes of nginx's default 404 page

func (g *nginxGen) next(b []byte, s *nginxSession) []byte {
	r := g.r
	switch s.kind {
	case kindSPA:
		switch {
		case s.step == 0:
			g.setPath(pages[s.page])
			return g.entry(b, s.addr, "GET", 200, 2200+r.IntN(900), s.ref, s.ua)
		case s.step <= len(g.assets):
			a := g.assets[s.step-1]
			g.setPath(a.path)
			if s.cached {
				return g.entry(b, s.addr, "GET", 304, 0, g.pageRef(s.page), s.ua)
			}
			return g.entry(b, s.addr, "GET", 200, a.size, g.pageRef(s.page), s.ua)
		default:
			return g.apiCall(b, s, g.pageRef(s.page))
		}
	case kindReader:
		if s.sub <= 0 {
			ref := s.ref
			if s.sub == 0 {
				ref = g.pageRef(s.page)
				s.page = 3 + r.IntN(len(pages)-3)
			}
			s.sub = 2 + r.IntN(4)
			g.setPath(pages[s.page])
			if r.IntN(40) == 0 {
				g.setPath(pages[s.page], "/")
				return g.entry(b, s.addr, "GET", 301, 169, ref, s.ua)
			}
			return g.entry(b, s.addr, "GET", 200, 9000+r.IntN(30000), ref, s.ua)
		}
		s.sub--
		ref := g.pageRef(s.page)
		if s.sub < 2 {
			a := g.assets[2*s.sub] // index js, index css
			g.setPath(a.path)
			if s.cached {
				return g.entry(b, s.addr, "GET", 304, 0, ref, s.ua)
			}
			return g.entry(b, s.addr, "GET", 200, a.size, ref, s.ua)
		}
		b2 := append(g.path[:0], "/img"...)
		b2 = append(b2, pages[s.page]...)
		b2 = append(b2, '-')
		b2 = appendInt(b2, s.sub)
		g.path = append(b2, ".webp"...)
		return g.entry(b, s.addr, "GET", 200, 20000+r.IntN(140000), ref, s.ua)
	case kindAPI:
		return g.apiCall(b, s, "-")
	case kindCrawler:
		if s.step == 0 && r.IntN(2) == 0 {
			g.setPath("/robots.txt")
			return g.entry(b, s.addr, "GET", 200, 112, "-", s.ua)
		}
		if r.IntN(10) == 0 {
			g.setPath("/sitemap.xml")
			return g.entry(b, s.addr, "GET", 200, 4800, "-", s.ua)
		}
		p := 3 + r.IntN(len(pages)-3)
		g.setPath(pages[p])
		if r.IntN(25) == 0 {
			g.setPath(pages[p], "/amp")
			return g.entry(b, s.addr, "GET", 404, notFound, "-", s.ua)
		}
		return g.entry(b, s.addr, "GET", 200, 9000+r.IntN(30000), "-", s.ua)
	case kindSweep:
		s.page = (s.page + 1 + r.IntN(3)) % len(sweepWords)
		w := sweepWords[s.page]
		method := "GET"
		if r.IntN(8) == 0 {
			method = "HEAD"
		}
		switch r.IntN(4) {
		case 0:
			g.setPath(w, sweepExts[r.IntN(len(sweepExts))])
		case 1:
			g.setPath(sweepDirs[r.IntN(len(sweepDirs))], w)
		default:
			g.setPath(w)
		}
		return g.entry(b, s.addr, method, 404, notFound, "-", s.ua)
	case kindSecrets:
		s.page = (s.page + 1) % len(secretPaths)
		g.setPath(secretPaths[s.page])
		status, size := 404, notFound
		if g.path[1] == '.' && g.path[2] == 'g' { // /.git/...: denied by a location rule
			status, size = 403, 153
		}
		return g.entry(b, s.addr, "GET", status, size, "-", s.ua)
	case kindWPFlood:
		if s.step == 0 {
			g.setPath("/wp-login.php")
			return g.entry(b, s.addr, "GET", 404, notFound, "-", s.ua)
		}
		if r.IntN(5) == 0 {
			g.setPath("/xmlrpc.php")
		} else {
			g.setPath("/wp-login.php")
		}
		return g.entry(b, s.addr, "POST", 404, notFound, g.site+"/wp-login.php", s.ua)
	case kindSQLMap:
		t := sqlTargets[s.page]
		g.path = append(g.path[:0], t...)
		g.path = g.sqlPayload(g.path)
		status, size := 200, 300+r.IntN(4000)
		switch r.IntN(6) {
		case 0:
			status, size = 500, 177
		case 1:
			status, size = 400, 157
		}
		return g.entry(b, s.addr, "GET", status, size, "-", s.ua)
	case kindTraversal:
		t := traversals[r.IntN(len(traversals))]
		g.setPath(t.path)
		return g.entry(b, s.addr, t.method, t.status, t.size, "-", s.ua)
	case kindGarbage:
		g.setPath(garbage[r.IntN(len(garbage))])
		switch g.path[0] {
		case 'C', 'G': // proxy probes: CONNECT, absolute URI
			return g.entry(b, s.addr, "", 400, 157, "-", browserUAs[0])
		case '-': // connection closed before a request line
			return g.entry(b, s.addr, "", 400, 0, "-", "-")
		}
		return g.entry(b, s.addr, "", 400, 157, "-", "-")
	case kindMonitor:
		g.setPath("/healthz")
		return g.entry(b, []byte("10.0.0.5"), "GET", 200, 2, "-", "Blackbox Exporter/0.25.0")
	}
	return b
}

// apiCall appends a request from the app's API.
func (g *nginxGen) apiCall(b []byte, s *nginxSession, ref string) []byte {
	r := g.r
	switch n := r.IntN(10); {
	case n == 0:
		g.setPath("/api/v1/telemetry")
		return g.entry(b, s.addr, "POST", 204, 0, ref, s.ua)
	case n == 1 && s.step < 3:
		g.setPath("/api/v1/login")
		if r.IntN(6) == 0 {
			return g.entry(b, s.addr, "POST", 401, 61, ref, s.ua)
		}
		return g.entry(b, s.addr, "POST", 200, 412, ref, s.ua)
	case n < 4:
		g.setPath("/api/v1/me")
		return g.entry(b, s.addr, "GET", 200, 640+r.IntN(100), ref, s.ua)
	case n < 7:
		g.path = append(g.path[:0], "/api/v1/projects?page="...)
		g.path = appendInt(g.path, 1+r.IntN(4))
		return g.entry(b, s.addr, "GET", 200, 3000+r.IntN(12000), ref, s.ua)
	default:
		g.path = append(g.path[:0], "/api/v1/projects/"...)
		g.path = appendInt(g.path, 1000+r.IntN(9000))
		g.path = append(g.path, "/events?limit=50"...)
		return g.entry(b, s.addr, "GET", 200, 1000+r.IntN(40000), ref, s.ua)
	}
}

// sqlPayload appends one URL-encoded sqlmap-style probe value.
func (g *nginxGen) sqlPayload(b []byte) []byte {
	r := g.r
	n1, n2 := 1000+r.IntN(9000), 1000+r.IntN(9000)
	switch r.IntN(7) {
	case 0:
		return append(b, "1%27"...)
	case 1:
		b = append(b, "1%20AND%20"...)
		b = appendInt(b, n1)
		b = append(b, "%3D"...)
		return appendInt(b, n2)
	case 2:
		b = append(b, "1%29%20AND%20SLEEP%285%29%20AND%20%28"...)
		b = appendInt(b, n1)
		b = append(b, "%3D"...)
		b = appendInt(b, n1)
		return append(b, "%29"...)
	case 3:
		b = append(b, "1%20UNION%20ALL%20SELECT%20NULL"...)
		for k := r.IntN(8); k > 0; k-- {
			b = append(b, "%2CNULL"...)
		}
		return append(b, "--%20-"...)
	case 4:
		b = append(b, "1%27%20OR%20NOT%20"...)
		b = appendInt(b, n1)
		b = append(b, "%3D"...)
		b = appendInt(b, n2)
		return append(b, "--%20"...)
	case 5:
		b = append(b, "-"...)
		b = appendInt(b, n1)
		return append(b, "%27%20OR%201%3D1%23"...)
	default:
		b = append(b, "1%3BSELECT%20PG_SLEEP%285%29--"...)
		return b
	}
}

// pages are the site's HTML routes; the first three are the app's entry points.
var pages = []string{"/", "/app", "/login",
	"/pricing", "/about", "/docs/getting-started", "/docs/configuration", "/docs/api", "/changelog",
	"/blog/why-we-rewrote-the-scheduler", "/blog/postgres-vacuum-in-practice", "/blog/shipping-on-fridays",
	"/blog/a-year-of-on-call", "/blog/zero-downtime-migrations", "/blog/our-incident-review-template",
	"/blog/tracing-without-tears", "/blog/cutting-cloud-costs", "/blog/the-boring-stack",
	"/blog/release-notes-3-12", "/blog/release-notes-3-13", "/blog/hiring-our-first-sre"}

var externalRefs = []string{"-", "-", "-", "https://www.google.com/", "https://www.google.com/",
	"https://duckduckgo.com/", "https://www.bing.com/", "https://news.ycombinator.com/",
	"https://t.co/", "https://www.reddit.com/", "https://github.com/", "android-app://com.slack/"}

var browserUAs = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
	"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
}

var appUAs = []string{
	"ExampleApp/3.13.0 (iPhone; iOS 18.1; Scale/3.00)",
	"ExampleApp/3.12.4 (iPhone; iOS 17.6.1; Scale/3.00)",
	"ExampleApp/3.13.0 (Android 14; Pixel 8)",
	"okhttp/4.12.0",
}

var crawlerUAs = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
	"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	"Mozilla/5.0 (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)",
}

var scannerUAs = []string{
	"-",
	"Mozilla/5.0 zgrab/0.x",
	"python-requests/2.32.3",
	"Go-http-client/1.1",
	"curl/7.88.1",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36",
	"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
	"Fuzz Faster U Fool v2.1.0-dev",
	"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:40.0) Gecko/20100101 Firefox/40.1",
	"Mozilla/5.0 (l9scan/2.0.; +https://leakix.net)",
	"Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
}

var sqlmapUAs = []string{
	"sqlmap/1.8.4#stable (https://sqlmap.org)",
	"sqlmap/1.7.2#stable (https://sqlmap.org)",
}

var sqlTargets = []string{"/api/v1/projects?page=", "/search?q=", "/blog?tag=", "/api/v1/projects/1042/events?limit="}

// sweepWords are paths directory scanners try; several fall under fail2ban's botsearch filters.
var sweepWords = []string{
	"/admin", "/administrator", "/phpmyadmin/", "/phpMyAdmin/index.php", "/pma/", "/myadmin/",
	"/mysqladmin/", "/admin/pma/", "/typo3/phpmyadmin/", "/xampp/phpmyadmin/", "/dbadmin", "/sql",
	"/webmail/", "/roundcube/", "/mail/", "/horde/", "/cgi-bin/test-cgi", "/cgi-bin/luci/",
	"/cgi-bin/php", "/wp-admin/setup-config.php", "/wp-login.php", "/wp-signup.php",
	"/wp-content/plugins/wp-file-manager/readme.txt", "/wp-includes/wlwmanifest.xml", "/xmlrpc.php",
	"/backup", "/backup.zip", "/backup.tar.gz", "/site.zip", "/db.sql", "/dump.sql", "/database.sql",
	"/old", "/new", "/test", "/tmp", "/temp", "/dev", "/staging", "/api", "/api/v2", "/v1", "/graphql",
	"/console", "/manager/html", "/solr/admin/info/system", "/actuator", "/actuator/health",
	"/jenkins/login", "/login.action", "/user/login", "/owa/auth/logon.aspx", "/remote/login",
	"/vpn/index.html", "/global-protect/login.esp", "/boaform/admin/formLogin", "/HNAP1/",
	"/setup.cgi", "/shell", "/cmd", "/upload", "/uploads", "/files", "/filemanager", "/elfinder",
	"/laravel", "/storage/logs/laravel.log", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
	"/telescope/requests", "/_profiler/phpinfo", "/debug/default/view", "/server-status",
	"/server-info", "/status", "/metrics", "/config", "/conf", "/settings", "/install", "/setup",
	"/index.php/admin", "/portal", "/dashboard", "/panel", "/cpanel", "/webadmin", "/sitemap.xml.gz",
}

var sweepExts = []string{".php", ".bak", ".old", ".zip", ".txt", ".json", ".asp", ".jsp", "~"}

var sweepDirs = []string{"/blog", "/wordpress", "/wp", "/old", "/new", "/site", "/cms", "/admin"}

// secretPaths are files that leak credentials when a deploy forgets them.
var secretPaths = []string{
	"/.env", "/.env.local", "/.env.production", "/.env.backup", "/api/.env", "/app/.env",
	"/backend/.env", "/laravel/.env", "/core/.env", "/.git/config", "/.git/HEAD", "/.git/index",
	"/.aws/credentials", "/.aws/config", "/config.json", "/config.yml", "/.DS_Store",
	"/.vscode/sftp.json", "/sftp-config.json", "/phpinfo.php", "/info.php", "/.npmrc",
	"/.docker/config.json", "/docker-compose.yml", "/wp-config.php.bak", "/.htpasswd",
	"/.ssh/id_rsa", "/id_rsa", "/secrets.json", "/credentials.json", "/.svn/entries",
}

type traversal struct {
	method, path string
	status, size int
}

var traversals = []traversal{
	{"GET", "/static/..%2f..%2f..%2f..%2fetc%2fpasswd", 400, 157},
	{"GET", "/assets/..%252f..%252f..%252f..%252fetc/passwd", 404, notFound},
	{"GET", "/../../../../etc/passwd", 400, 157},
	{"GET", "/.%2e/.%2e/.%2e/.%2e/etc/hosts", 400, 157},
	{"POST", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", 400, 157},
	{"GET", "/cgi-bin/.%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 400, 157},
	{"GET", "/icons/.%%32%65/.%%32%65/.%%32%65/.%%32%65/etc/passwd", 400, 157},
	{"GET", "/index.php?page=../../../../../../etc/passwd", 404, notFound},
	{"GET", "/download?file=....//....//....//....//etc/passwd", 404, notFound},
	{"GET", "/?file=php://filter/convert.base64-encode/resource=index.php", 200, 2611},
	{"GET", "/api/v1/projects/..%2f..%2f..%2fadmin", 404, 61},
	{"GET", "/lang?locale=../../../../../../windows/win.ini", 404, notFound},
	{"GET", "/..;/..;/..;/WEB-INF/web.xml", 400, 157},
	{"GET", "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", 400, 157},
}

// garbage are request lines nginx logs for clients that do not speak HTTP/1.x, escaped as nginx
// escapes them.
var garbage = []string{
	`\x16\x03\x01\x00\xEE\x01\x00\x00\xEA\x03\x03`,
	`\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\x9Bb\xD3`,
	`SSH-2.0-Go`,
	`-`,
	`-`,
	`\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`,
	`CONNECT www.example.net:443 HTTP/1.1`,
	`GET http://azenv.example.net/ HTTP/1.1`,
	`MGLNDD_0.0.0.0_80`,
	`t3 12.2.1`,
}
